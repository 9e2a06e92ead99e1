// Package faultdb runs the whole system (worker and API in this process, a Temporal dev server, simulated devices
// over real SSH) against a PostgreSQL cluster of its own, and breaks that database: restarts it mid-poll and
// mid-operation, fills its disk. Each test says what is kept and what is lost.
package faultdb

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/devicesim"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/migrations"
	"github.com/infrastructor/infrastructor/worker"
	"github.com/infrastructor/infrastructor/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// pollInterval is the shortest the API accepts, so a fault window spans several polls of every device.
const pollInterval = 5 * time.Second

// stack is one Infrastructor (worker and API in this process) on a dedicated PostgreSQL cluster, with a simulated
// fleet whose devices are registered and polled.
type stack struct {
	t       *testing.T
	pg      *testenv.PGCluster
	URL     string
	Token   string
	DB      *pgxpool.Pool
	Sim     *devicesim.Sim
	Devices []uuid.UUID
}

func startStack(t *testing.T, pg *testenv.PGCluster, devices int) *stack {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	dbURL := pg.CreateDatabase("infrastructor")

	// The pool as the binary builds it (cmd/infrastructor): a connect timeout, so a dead server fails fast, and
	// room for the worker's concurrent writers and the API.
	pcfg, err := pgxpool.ParseConfig(dbURL)
	require.NoError(t, err)
	pcfg.MaxConns = 40
	pcfg.ConnConfig.ConnectTimeout = 5 * time.Second
	db, err := pgxpool.NewWithConfig(ctx, pcfg)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	_, err = migrations.Up(ctx, db, log)
	require.NoError(t, err)

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	sim, err := devicesim.New(devicesim.Config{Devices: devices, Seed: t.Name(), AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()},
		Containers: 6})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })

	tc, err := client.Dial(client.Options{HostPort: testenv.TemporalAddress(t), Logger: tlog.NewStructuredLogger(log)})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	queue := testenv.TaskQueue(t)
	sshPool, err := sshpool.New(sshpool.Config{Signers: []ssh.Signer{signer}, HostKeys: &activities.HostKeys{DB: db},
		ConnectTimeout: 5 * time.Second, CommandTimeout: 20 * time.Second, KeepAliveInterval: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sshPool.Close() })
	w := worker.New(tc, queue, &activities.Activities{DB: db, SSH: sshPool, Log: log})
	require.NoError(t, w.Start())
	poller := &workflows.Client{Client: tc, TaskQueue: queue}
	s := &stack{t: t, pg: pg, DB: db, Sim: sim}
	t.Cleanup(func() {
		// End the poll loops, so the shared dev server does not keep scheduling them, then stop the worker.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, id := range s.Devices {
			_ = poller.StopPolling(ctx, id)
		}
		w.Stop()
	})

	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	cfg.RequestTimeout = 5 * time.Second
	srv := api.New(api.Deps{Config: cfg, Pool: db, Workflows: poller, Temporal: healthOf{tc}, Log: log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.App().Listener(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	s.URL = "http://" + ln.Addr().String()

	secret, err := store.NewSecret()
	require.NoError(t, err)
	_, err = store.CreateToken(ctx, db, "faultdb", []string{store.ScopeAdmin}, nil, secret)
	require.NoError(t, err)
	s.Token = secret

	for _, d := range sim.Devices() {
		var out struct {
			ID uuid.UUID `json:"id"`
		}
		// 503 says nothing was changed and to retry (Temporal is slow to start the poll loop on a loaded machine).
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			code, raw := s.do("POST", "/api/v1/devices", map[string]any{"name": fmt.Sprintf("sim-%02d", d.Index()), "host": "127.0.0.1",
				"port": d.Port(), "user": "root", "poll_interval": pollInterval.String(), "host_key_policy": "trust_first_use"}, &out)
			if code == http.StatusServiceUnavailable {
				require.Fail(c, "retry", "%s", raw)
				return
			}
			require.Equal(t, http.StatusCreated, code, "%s", raw)
		}, 2*time.Minute, time.Second)
		s.Devices = append(s.Devices, out.ID)
	}
	return s
}

type healthOf struct{ c client.Client }

func (h healthOf) CheckHealth(ctx context.Context) error {
	_, err := h.c.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

// do sends a request with the admin token; it decodes a JSON answer into out (when non-nil) and returns the status
// and the raw body. A transport error is status 0, so callers can poll through an outage.
func (s *stack) do(method, path string, body any, out any) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(s.t, err)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	if out != nil && resp.StatusCode < 300 && len(raw) > 0 {
		require.NoError(s.t, json.Unmarshal(raw, out), "body: %s", raw)
	}
	return resp.StatusCode, raw
}

// sampleCounts is the number of committed polls (system_metrics rows) per device.
func (s *stack) sampleCounts(ctx context.Context) (map[uuid.UUID]int, error) {
	rows, err := s.DB.Query(ctx, `SELECT device_id, count(*) FROM system_metrics GROUP BY device_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uuid.UUID]int{}
	for rows.Next() {
		var id uuid.UUID
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// waitPolled waits until every device has committed more polls than in since (all of them at least one).
func (s *stack) waitPolled(since map[uuid.UUID]int, within time.Duration) map[uuid.UUID]int {
	s.t.Helper()
	var counts map[uuid.UUID]int
	require.EventuallyWithT(s.t, func(c *assert.CollectT) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		counts, err = s.sampleCounts(ctx)
		require.NoError(c, err)
		for i, id := range s.Devices {
			require.Greater(c, counts[id], since[id], "device %d has no new poll", i)
		}
	}, within, 500*time.Millisecond, "polls did not resume on every device")
	return counts
}

// requireNoDuplicatePolls: every committed poll is committed once (a retried poll writes nothing the second time),
// and every poll is whole: its system row comes with the filesystem rows written in the same transaction.
func (s *stack) requireEveryPollOnceAndWhole() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var dups int
	require.NoError(s.t, s.DB.QueryRow(ctx, `SELECT count(*) FROM (SELECT device_id, time FROM system_metrics
		GROUP BY device_id, time HAVING count(*) > 1) d`).Scan(&dups))
	require.Zero(s.t, dups, "a poll was committed twice")
	var partial int
	require.NoError(s.t, s.DB.QueryRow(ctx, `SELECT count(*) FROM system_metrics s WHERE NOT EXISTS
		(SELECT 1 FROM filesystem_metrics f WHERE f.device_id = s.device_id AND f.time = s.time)`).Scan(&partial))
	require.Zero(s.t, partial, "polls committed without their filesystem samples")
}

func jsonUnmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }
