// Package teststack runs one whole Infrastructor for a test: a migrated PostgreSQL database, a task queue on the
// test binary's Temporal dev server, the worker (built by worker.New, as the product builds it) and the HTTP API
// (api.New) on a loopback listener, and a token of every scope. Options cover what tests vary: SSH keys and
// timeouts, no worker (for tests that run it as a process of their own), a read-only MCP replica, another
// Temporal server or database.
//
// The package using it declares TestMain with testenv.Main.
package teststack

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/notify"
	"github.com/infrastructor/infrastructor/internal/secret"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/migrations"
	"github.com/infrastructor/infrastructor/worker"
	"github.com/infrastructor/infrastructor/workflows"
)

// Stack is one running Infrastructor. Everything it started ends with the test.
type Stack struct {
	// URL is the API's base URL (http://127.0.0.1:port).
	URL string
	// ReadOnlyURL is the base URL of a second API on the same database with INFRA_MCP_READONLY=true; empty
	// without WithReadOnlyMCP.
	ReadOnlyURL string
	// Token, OperateToken and ReadToken are token secrets with the admin, operate and read scope.
	Token        string
	OperateToken string
	ReadToken    string
	DB           *pgxpool.Pool
	// DBURL is the URL of the database, for a worker process of the test's own.
	DBURL string
	// SSH is the worker's pool; nil WithoutWorker.
	SSH    *sshpool.Pool
	Poller *workflows.Client
	TC     client.Client
	// Temporal is the Temporal frontend's address and TaskQueue the queue this stack's worker polls.
	Temporal  string
	TaskQueue string
	// Secrets is the key the API and the worker share for notification credentials.
	Secrets *secret.Box
}

type options struct {
	signers        []ssh.Signer
	connectTimeout time.Duration
	commandTimeout time.Duration
	noWorker       bool
	readOnlyMCP    bool
	temporal       string
	dbURL          string
	logLevel       slog.Level
	tokenPrefix    string
	configure      []func(*config.Config)
	notifyRoots    *x509.CertPool
	collectors     []activities.InventoryCollector
	opKinds        []activities.OpKind
}

// Option changes how Start builds the stack.
type Option func(*options)

// WithSigners sets the SSH client keys the worker logs in to devices with.
func WithSigners(signers ...ssh.Signer) Option {
	return func(o *options) { o.signers = append(o.signers, signers...) }
}

// WithSSHTimeouts sets the SSH pool's connect and per-command timeouts (default 3 s and 4 s, a poll's deadline);
// zero keeps the default.
func WithSSHTimeouts(connect, command time.Duration) Option {
	return func(o *options) {
		if connect > 0 {
			o.connectTimeout = connect
		}
		if command > 0 {
			o.commandTimeout = command
		}
	}
}

// WithoutWorker leaves the worker out, for tests that run it as a process of their own (Stack.DBURL,
// Stack.Temporal, Stack.TaskQueue).
func WithoutWorker() Option { return func(o *options) { o.noWorker = true } }

// WithCollectors replaces the product's inventory collectors in the worker.
func WithCollectors(c ...activities.InventoryCollector) Option {
	return func(o *options) { o.collectors = c }
}

// WithOpKinds replaces the product's device operation kinds in the worker and the API.
func WithOpKinds(k ...activities.OpKind) Option { return func(o *options) { o.opKinds = k } }

// WithReadOnlyMCP also starts a read-only API replica (INFRA_MCP_READONLY=true) at Stack.ReadOnlyURL.
func WithReadOnlyMCP() Option { return func(o *options) { o.readOnlyMCP = true } }

// WithTemporal uses the Temporal frontend at addr instead of the test binary's dev server.
func WithTemporal(addr string) Option { return func(o *options) { o.temporal = addr } }

// WithDatabase migrates the (empty) database at url and uses it, with a pool built as the product builds it (a
// connect timeout, room for the worker and the API), instead of a copy of the test binary's migrated template.
func WithDatabase(url string) Option { return func(o *options) { o.dbURL = url } }

// WithLogLevel sets the level of the stack's log on stderr (default warn).
func WithLogLevel(l slog.Level) Option { return func(o *options) { o.logLevel = l } }

// WithTokenPrefix names the stack's tokens prefix-admin, prefix-operate and prefix-read (default "test"), the
// actors audit records name.
func WithTokenPrefix(prefix string) Option { return func(o *options) { o.tokenPrefix = prefix } }

// WithNotifyRootCAs makes the worker's notification sender trust these authorities (a test SMTP server's
// self-signed certificate).
func WithNotifyRootCAs(roots *x509.CertPool) Option {
	return func(o *options) { o.notifyRoots = roots }
}

// WithConfig changes the API's configuration (loaded from defaults) before the API is built.
func WithConfig(f func(*config.Config)) Option {
	return func(o *options) { o.configure = append(o.configure, f) }
}

// Pool settings of WithDatabase, as cmd/infrastructor sizes them for one process with both roles.
const (
	poolConns      = 40
	connectTimeout = 5 * time.Second
)

// Start builds and starts a stack; it fails the test when any part does not come up.
func Start(tb testing.TB, opts ...Option) *Stack {
	tb.Helper()
	o := options{connectTimeout: 3 * time.Second, commandTimeout: 4 * time.Second, logLevel: slog.LevelWarn,
		tokenPrefix: "test"}
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: o.logLevel}))
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatalf("teststack: %v", err)
		}
	}

	s := &Stack{}
	if o.dbURL == "" {
		s.DBURL = testdb.URL(tb)
		db, err := pgxpool.New(ctx, s.DBURL)
		must(err)
		s.DB = db
	} else {
		s.DBURL = o.dbURL
		pcfg, err := pgxpool.ParseConfig(o.dbURL)
		must(err)
		pcfg.MaxConns = poolConns
		pcfg.ConnConfig.ConnectTimeout = connectTimeout
		db, err := pgxpool.NewWithConfig(ctx, pcfg)
		must(err)
		s.DB = db
	}
	tb.Cleanup(s.DB.Close)
	if o.dbURL != "" {
		_, err := migrations.Up(ctx, s.DB, log)
		must(err)
	}

	s.Temporal = o.temporal
	if s.Temporal == "" {
		s.Temporal = testenv.TemporalAddress(tb)
	}
	// The product's default connection (INFRA_TEMPORAL_COMPRESSION=none), as cmd/infrastructor dials it.
	conn, err := workflows.ConnectionOptions("none")
	must(err)
	tc, err := client.Dial(client.Options{HostPort: s.Temporal, Logger: tlog.NewStructuredLogger(log), ConnectionOptions: conn})
	must(err)
	tb.Cleanup(tc.Close)
	s.TC = tc
	s.TaskQueue = testenv.TaskQueue(tb)
	s.Poller = &workflows.Client{Client: tc, TaskQueue: s.TaskQueue}

	// The API and the worker share one key, as they do through the data directory in production; test receivers
	// listen on 127.0.0.1, which only INFRA_NOTIFY_ALLOW_LOOPBACK admits.
	s.Secrets, err = secret.New(bytes.Repeat([]byte{0x5a}, secret.KeySize))
	must(err)

	if !o.noWorker {
		w, err := worker.New(worker.Deps{Temporal: tc, TaskQueue: s.TaskQueue, DB: s.DB, Log: log,
			SSH: sshpool.Config{Signers: o.signers, ConnectTimeout: o.connectTimeout, CommandTimeout: o.commandTimeout,
				KeepAliveInterval: 2 * time.Second},
			Secrets: s.Secrets, Notify: &notify.Sender{Targets: notify.Targets{AllowLoopback: true}, RootCAs: o.notifyRoots},
			Collectors: o.collectors, OpKinds: o.opKinds})
		must(err)
		tb.Cleanup(w.Stop)
		must(w.Start())
		s.SSH = w.SSH()
	}
	tb.Cleanup(func() {
		if !tb.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		devs, _, _ := store.ListDevices(ctx, s.DB, store.DeviceFilter{})
		for _, d := range devs {
			var n int
			_ = s.DB.QueryRow(ctx, `SELECT count(*) FROM system_metrics WHERE device_id = $1`, d.ID).Scan(&n)
			tb.Logf("device %s (%s): %s %q, %d samples", d.Name, d.ID, d.Status, d.StatusReason, n)
		}
	})
	tb.Cleanup(func() {
		// End every poll loop this test started, so the Temporal server does not keep scheduling them; the worker
		// stops after this.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		devs, _, _ := store.ListDevices(ctx, s.DB, store.DeviceFilter{})
		for _, d := range devs {
			_ = s.Poller.StopPolling(ctx, d.ID)
		}
	})

	s.URL = s.serve(tb, o, log, false)
	if o.readOnlyMCP {
		s.ReadOnlyURL = s.serve(tb, o, log, true)
	}

	for _, t := range []struct {
		dst   *string
		scope string
	}{{&s.Token, store.ScopeAdmin}, {&s.OperateToken, store.ScopeOperate}, {&s.ReadToken, store.ScopeRead}} {
		sec, err := store.NewSecret()
		must(err)
		_, err = store.CreateToken(ctx, s.DB, o.tokenPrefix+"-"+t.scope, []string{t.scope}, nil, sec)
		must(err)
		*t.dst = sec
	}
	return s
}

// serve starts an API on a loopback listener and returns its base URL.
func (s *Stack) serve(tb testing.TB, o options, log *slog.Logger, readOnlyMCP bool) string {
	tb.Helper()
	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	if err != nil {
		tb.Fatalf("teststack: %v", err)
	}
	cfg.DataDir = tb.TempDir()
	cfg.NotifyAllowLoopback = true
	for _, f := range o.configure {
		f(cfg)
	}
	cfg.MCPReadOnly = readOnlyMCP
	srv := api.New(api.Deps{Config: cfg, Pool: s.DB, Workflows: s.Poller, Temporal: api.TemporalHealth{Client: s.TC}, Log: log,
		Secrets: s.Secrets, OpKinds: o.opKinds})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("teststack: %v", err)
	}
	go func() { _ = srv.App().Listener(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String()
}

// Request sends a request to the API with the admin token (and a JSON body when body is non-nil) within 60 s and
// returns the status and the raw answer; a transport error is returned, not failed on, so that callers can poll
// through an outage.
func (s *Stack) Request(tb testing.TB, method, path string, body any) (int, []byte, error) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(tb, err)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	require.NoError(tb, err)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// Do is Request for a test that expects an answer: it fails on a transport error, decodes a JSON answer into out
// (when non-nil and the body is not empty) and returns the status.
func (s *Stack) Do(tb testing.TB, method, path string, body, out any) int {
	tb.Helper()
	code, raw, err := s.Request(tb, method, path, body)
	require.NoError(tb, err)
	if out != nil && len(raw) > 0 {
		require.NoError(tb, json.Unmarshal(raw, out), "body: %s", raw)
	}
	return code
}

// RecordPollCommits installs a trigger that logs the poll key of every committed poll (each write of a device's
// last_poll_key; the container part of a poll updates other columns of the row), so that a test can count commits
// per key: a poll committed twice shows its key twice. Sample tables cannot show that, since their natural keys
// refuse a second copy of a sample.
func (s *Stack) RecordPollCommits(tb testing.TB) {
	tb.Helper()
	_, err := s.DB.Exec(context.Background(), `
		CREATE TABLE teststack_poll_commits (device_id uuid NOT NULL, poll_key text NOT NULL, at timestamptz NOT NULL);
		CREATE FUNCTION teststack_log_poll() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO teststack_poll_commits VALUES (NEW.device_id, NEW.last_poll_key, NEW.updated_at);
			RETURN NEW;
		END $$;
		CREATE TRIGGER teststack_log_poll AFTER INSERT OR UPDATE OF last_poll_key ON device_poll_state
			FOR EACH ROW EXECUTE FUNCTION teststack_log_poll();`)
	require.NoError(tb, err)
}

// DuplicatePollCommits lists the poll keys committed more than once since RecordPollCommits.
func (s *Stack) DuplicatePollCommits(tb testing.TB) []string {
	tb.Helper()
	rows, err := s.DB.Query(context.Background(), `SELECT device_id::text || ' ' || poll_key || ' x' || count(*)
		FROM teststack_poll_commits GROUP BY device_id, poll_key HAVING count(*) > 1`)
	require.NoError(tb, err)
	dups, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(tb, err)
	return dups
}
