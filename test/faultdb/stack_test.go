// Package faultdb runs the whole system (worker and API in this process, a Temporal dev server, simulated devices
// over real SSH) against a PostgreSQL cluster of its own, and breaks that database: restarts it mid-poll and
// mid-operation, fills its disk. Each test says what is kept and what is lost.
package faultdb

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/devicesim"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// pollInterval is the shortest the API accepts, so a fault window spans several polls of every device.
const pollInterval = 5 * time.Second

// stack is one Infrastructor (worker and API in this process) on a dedicated PostgreSQL cluster, with a simulated
// fleet whose devices are registered and polled.
type stack struct {
	*teststack.Stack
	t       *testing.T
	pg      *testenv.PGCluster
	Sim     *devicesim.Sim
	Devices []uuid.UUID
}

func startStack(t *testing.T, pg *testenv.PGCluster, devices int) *stack {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	sim, err := devicesim.New(devicesim.Config{Devices: devices, Seed: t.Name(), AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()},
		Containers: 6})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })

	// The pool as the binary builds it (a connect timeout, so a dead server fails fast), on the cluster this test
	// breaks.
	st := teststack.Start(t, teststack.WithDatabase(pg.CreateDatabase("infrastructor")), teststack.WithSigners(signer),
		teststack.WithSSHTimeouts(5*time.Second, 20*time.Second), teststack.WithLogLevel(slog.LevelError),
		teststack.WithTokenPrefix("faultdb"), teststack.WithConfig(func(c *config.Config) { c.RequestTimeout = 5 * time.Second }))
	s := &stack{Stack: st, t: t, pg: pg, Sim: sim}
	s.RecordPollCommits(t) // before the devices exist, so every poll commit is logged

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

// do sends a request with the admin token; it decodes a JSON answer into out (when non-nil) and returns the status
// and the raw body. A transport error is status 0, so callers can poll through an outage.
func (s *stack) do(method, path string, body any, out any) (int, []byte) {
	s.t.Helper()
	code, raw, err := s.Request(s.t, method, path, body)
	if err != nil {
		return 0, []byte(err.Error())
	}
	if out != nil && code < 300 && len(raw) > 0 {
		require.NoError(s.t, json.Unmarshal(raw, out), "body: %s", raw)
	}
	return code, raw
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

// requireEveryPollOnceAndWhole: every committed poll is committed once (a retried poll writes nothing the second time),
// and every poll is whole: its system row comes with the filesystem rows written in the same transaction.
func (s *stack) requireEveryPollOnceAndWhole() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.Empty(s.t, s.DuplicatePollCommits(s.t), "a poll was committed twice")
	var partial int
	require.NoError(s.t, s.DB.QueryRow(ctx, `SELECT count(*) FROM system_metrics s WHERE NOT EXISTS
		(SELECT 1 FROM filesystem_metrics f WHERE f.device_id = s.device_id AND f.time = s.time)`).Scan(&partial))
	require.Zero(s.t, partial, "polls committed without their filesystem samples")
}

func jsonUnmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }
