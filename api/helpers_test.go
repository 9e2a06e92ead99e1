package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/infrastructor/infrastructor/api"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/secret"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testMaxBody is the body limit of test servers: small, so the 413 test needs no large buffers.
const testMaxBody = 8192

var quiet = slog.New(slog.DiscardHandler)

var (
	temporalOnce   sync.Once
	temporalClient client.Client
	temporalErr    error
)

// temporal returns one Temporal client for the whole test binary; each test isolates itself with its own task
// queue and device IDs.
func temporal(t *testing.T) client.Client {
	t.Helper()
	addr := testenv.TemporalAddress(t)
	temporalOnce.Do(func() {
		temporalClient, temporalErr = client.Dial(client.Options{HostPort: addr, Logger: tlog.NewStructuredLogger(quiet)})
	})
	require.NoError(t, temporalErr)
	return temporalClient
}

// clock is an adjustable time source for the server, so token expiry is tested without waiting.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// health is a HealthChecker whose answer the test sets.
type health struct {
	mu  sync.Mutex
	err error
}

func (h *health) CheckHealth(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

func (h *health) set(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.err = err
}

// testServer is an API server on a fresh, migrated database of its own, with a real poller against the shared
// Temporal dev server, and one token per scope.
type testServer struct {
	t       *testing.T
	srv     *api.Server
	app     *fiber.App
	pool    *pgxpool.Pool
	cfg     *config.Config
	tc      client.Client
	clock   *clock
	health  *health
	admin   string
	operate string
	read    string
	tokens  map[string]*store.Token // by secret
	box     *secret.Box             // encrypts channel credentials
}

func newServer(t *testing.T) *testServer {
	t.Helper()
	pool := testdb.Pool(t)

	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	cfg.MaxBodyBytes = testMaxBody
	cfg.DataDir = t.TempDir()
	cfg.TaskQueue = testenv.TaskQueue(t)

	box, err := secret.Load("", cfg.DataDir)
	require.NoError(t, err)

	tc := temporal(t)
	poller := &workflows.Client{Client: tc, TaskQueue: cfg.TaskQueue}
	ts := &testServer{t: t, pool: pool, cfg: cfg, tc: tc, clock: &clock{now: time.Now()}, health: &health{},
		tokens: map[string]*store.Token{}, box: box}
	ts.srv = api.New(api.Deps{Config: cfg, Pool: pool, Workflows: poller, Temporal: ts.health, Log: quiet, Now: ts.clock.Now,
		Secrets: box})
	ts.app = ts.srv.App()
	ts.admin = ts.token("admin", store.ScopeAdmin, nil)
	ts.operate = ts.token("operator", store.ScopeOperate, nil)
	ts.read = ts.token("reader", store.ScopeRead, nil)

	// End the poll loops this test started, so the shared dev server does not keep them.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		devs, _, err := store.ListDevices(ctx, pool, store.DeviceFilter{})
		if err != nil {
			return // the test closed the pool or dropped tables on purpose
		}
		for _, d := range devs {
			_ = poller.StopPolling(ctx, d.ID)
		}
	})
	return ts
}

// token stores a token with one scope directly in the database and returns its secret.
// open decrypts a stored channel credential.
func (ts *testServer) open(sealed string) string {
	ts.t.Helper()
	plain, err := ts.box.Open(sealed)
	require.NoError(ts.t, err)
	return plain
}

func (ts *testServer) token(name, scope string, expires *time.Time) string {
	ts.t.Helper()
	secret, err := store.NewSecret()
	require.NoError(ts.t, err)
	tok, err := store.CreateToken(context.Background(), ts.pool, name, []string{scope}, expires, secret)
	require.NoError(ts.t, err)
	ts.tokens[secret] = tok
	return secret
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// raw is a request body sent as is (no JSON encoding).
type raw string

// req sends one request through Fiber's in-memory transport. body is nil, a raw string (sent with content type
// ctype) or a value encoded as JSON. Every error response is checked for the envelope.
func (ts *testServer) req(method, path, token string, body any, headers ...string) *response {
	ts.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case raw:
		rd, ctype = strings.NewReader(string(b)), "application/json"
	default:
		enc, err := json.Marshal(b)
		require.NoError(ts.t, err)
		rd, ctype = bytes.NewReader(enc), "application/json"
	}
	r := httptest.NewRequest(method, path, rd)
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
		} else {
			r.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := ts.app.Test(r, -1)
	require.NoError(ts.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(ts.t, err)
	out := &response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	// /readyz answers 503 with its checks, for load balancers; everything else uses the envelope.
	if out.Status >= 400 && path != "/readyz" {
		requireEnvelope(ts.t, out)
	}
	return out
}

// envelope is the error shape of every endpoint.
type envelope struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// requireEnvelope checks that an error response is the JSON envelope and leaks no internals.
func requireEnvelope(t *testing.T, r *response) envelope {
	t.Helper()
	var e envelope
	require.NoError(t, json.Unmarshal(r.Body, &e), "error body is not the JSON envelope: %s", r.Body)
	require.NotEmpty(t, e.Error.Code, "envelope without code: %s", r.Body)
	require.NotEmpty(t, e.Error.Message, "envelope without message: %s", r.Body)
	for _, leak := range []string{"SQLSTATE", "goroutine ", ".go:", "pgx", "panic"} {
		require.NotContains(t, string(r.Body), leak, "error body leaks internals")
	}
	return e
}

func (r *response) envelope(t *testing.T) envelope {
	t.Helper()
	return requireEnvelope(t, r)
}

// into decodes the body into v.
func (r *response) into(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "body: %s", r.Body)
}

// requireStatus fails with the body in the message, which names the problem.
func (r *response) requireStatus(t *testing.T, want int) *response {
	t.Helper()
	require.Equal(t, want, r.Status, "body: %s", r.Body)
	return r
}

// device is a device as the API returns it.
type device struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Host          string   `json:"host"`
	Port          int      `json:"port"`
	User          string   `json:"user"`
	Description   string   `json:"description"`
	DeviceType    string   `json:"device_type"`
	Tags          []string `json:"tags"`
	PollInterval  string   `json:"poll_interval"`
	Enabled       bool     `json:"enabled"`
	JumpHost      *string  `json:"jump_host"`
	HostKeyPolicy string   `json:"host_key_policy"`
	Status        string   `json:"status"`
}

type devicePage struct {
	Items      []device `json:"items"`
	NextCursor *string  `json:"next_cursor"`
}

// createDevice creates a device with the admin token and returns it; fields override the defaults.
func (ts *testServer) createDevice(name string, fields map[string]any) device {
	ts.t.Helper()
	body := map[string]any{"name": name, "host": "192.0.2.10", "user": "root"}
	for k, v := range fields {
		body[k] = v
	}
	var d device
	ts.req("POST", "/api/v1/devices", ts.admin, body).requireStatus(ts.t, http.StatusCreated).into(ts.t, &d)
	return d
}

// workflowStatus returns the status of the device's poll loop in Temporal, or UNSPECIFIED when it never ran.
func (ts *testServer) workflowStatus(id string) enumspb.WorkflowExecutionStatus {
	ts.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	desc, err := ts.tc.DescribeWorkflowExecution(ctx, workflows.DevicePollWorkflowID(id), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED
	}
	require.NoError(ts.t, err)
	return desc.GetWorkflowExecutionInfo().GetStatus()
}

// auditRecords returns every audit record, newest first, straight from the database.
func (ts *testServer) auditRecords() []*store.AuditRecord {
	ts.t.Helper()
	recs, _, err := store.ListAudit(context.Background(), ts.pool, store.AuditFilter{Limit: 10000})
	require.NoError(ts.t, err)
	return recs
}

func newID() string { return uuid.NewString() }

// listen serves the app on a loopback port for the cases Fiber's in-memory transport cannot show (fasthttp
// rejects an oversized body before the app sees it, and app.Test then returns an error instead of the response).
func (ts *testServer) listen() string {
	ts.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(ts.t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ts.app.Listener(ln)
	}()
	ts.t.Cleanup(func() {
		_ = ts.app.ShutdownWithTimeout(5 * time.Second)
		<-done
	})
	return "http://" + ln.Addr().String()
}

// httpReq sends one request over a real connection to base (from listen).
func (ts *testServer) httpReq(base, method, path, token, ctype string, body []byte) *response {
	ts.t.Helper()
	r, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	require.NoError(ts.t, err)
	r.Header.Set("Content-Type", ctype)
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(r)
	require.NoError(ts.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(ts.t, err)
	out := &response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	if out.Status >= 400 {
		requireEnvelope(ts.t, out)
	}
	return out
}
