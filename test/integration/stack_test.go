// Package integration runs Infrastructor's real parts together: PostgreSQL, a Temporal dev server, the worker
// and the HTTP API in this process, and devices that are real OpenSSH servers (on loopback and in network
// namespaces).
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

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
	"github.com/infrastructor/infrastructor/worker"
	"github.com/infrastructor/infrastructor/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// stack is one running Infrastructor: worker and API in this process against real servers.
type stack struct {
	t      *testing.T
	URL    string
	Token  string
	DB     *pgxpool.Pool
	SSH    *sshpool.Pool
	Poller *workflows.Client
	TC     client.Client
}

func startStack(t *testing.T, signers []ssh.Signer) *stack {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	db := testdb.Pool(t)

	tc, err := client.Dial(client.Options{HostPort: testenv.TemporalAddress(t), Logger: tlog.NewStructuredLogger(log)})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	queue := testenv.TaskQueue(t)

	pool, err := sshpool.New(sshpool.Config{
		Signers:           signers,
		HostKeys:          &activities.HostKeys{DB: db},
		ConnectTimeout:    3 * time.Second,
		CommandTimeout:    4 * time.Second,
		KeepAliveInterval: 2 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })

	// The API and the worker share one key, as they do through the data directory in production; the test
	// receivers listen on 127.0.0.1, which only INFRA_NOTIFY_ALLOW_LOOPBACK admits.
	secrets, err := secret.New(bytes.Repeat([]byte{0x5a}, secret.KeySize))
	require.NoError(t, err)
	w := worker.New(tc, queue, &activities.Activities{DB: db, SSH: pool, Log: log, Secrets: secrets,
		Notify: &notify.Sender{Targets: notify.Targets{AllowLoopback: true}}})
	require.NoError(t, w.Start())
	poller := &workflows.Client{Client: tc, TaskQueue: queue}
	t.Cleanup(func() {
		// End every poll loop this test started, so the shared dev server does not keep scheduling them.
		devs, _, _ := store.ListDevices(context.Background(), db, store.DeviceFilter{})
		for _, d := range devs {
			_ = poller.StopPolling(context.Background(), d.ID)
		}
		w.Stop()
	})

	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	cfg.NotifyAllowLoopback = true
	srv := api.New(api.Deps{Config: cfg, Pool: db, Workflows: poller, Temporal: healthOf{tc}, Log: log, Secrets: secrets})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.App().Listener(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	secret, err := store.NewSecret()
	require.NoError(t, err)
	_, err = store.CreateToken(ctx, db, "integration", []string{store.ScopeAdmin}, nil, secret)
	require.NoError(t, err)
	return &stack{t: t, URL: "http://" + ln.Addr().String(), Token: secret, DB: db, SSH: pool, Poller: poller, TC: tc}
}

type healthOf struct{ c client.Client }

func (h healthOf) CheckHealth(ctx context.Context) error {
	_, err := h.c.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

// do sends a request with the stack's admin token and decodes a JSON answer into out (when non-nil).
func (s *stack) do(method, path string, body any, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(s.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	if out != nil && len(raw) > 0 {
		require.NoError(s.t, json.Unmarshal(raw, out), "body: %s", raw)
	}
	return resp.StatusCode
}
