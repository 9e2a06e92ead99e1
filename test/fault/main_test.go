// Package fault is the fault matrix (#15): each TestFault... breaks one real part under a running Infrastructor
// (the Temporal server, the worker process, a device's link, a device's sshd) and asserts what is kept (samples,
// schedules of other devices, exactly one effect of an operation) and what is lost (the failed polls, marked as
// such). Everything is real: PostgreSQL, the Temporal dev server, OpenSSH, the Docker engine, network namespaces.
package fault

import (
	"context"
	"flag"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests here spend their minutes waiting for timeouts, timers and retries, not computing: run them all at
	// once rather than GOMAXPROCS at a time, unless -parallel was given.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "12")
	}
	testenv.Main(m)
}

// pollInterval is the devices' poll interval: the API's minimum, so the tests see several polls quickly.
const pollInterval = 5 * time.Second

// stackOptions shape one running Infrastructor.
type stackOptions struct {
	// Temporal is the frontend's address; empty means the test binary's shared dev server.
	Temporal string
	Signers  []ssh.Signer
	// NoWorker leaves the worker out, for tests that run it as a process of its own.
	NoWorker bool
	// CommandTimeout bounds each SSH command (default 4 s, a poll's deadline).
	CommandTimeout time.Duration
}

// stack is one running Infrastructor: the API, and unless NoWorker the worker, in this process against real
// servers.
type stack struct {
	*teststack.Stack
	t *testing.T
}

func startStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	o := []teststack.Option{teststack.WithSigners(opts.Signers...), teststack.WithSSHTimeouts(3*time.Second, opts.CommandTimeout),
		teststack.WithLogLevel(slog.LevelError), teststack.WithTokenPrefix("fault")}
	if opts.Temporal != "" {
		o = append(o, teststack.WithTemporal(opts.Temporal))
	}
	if opts.NoWorker {
		o = append(o, teststack.WithoutWorker())
	}
	return &stack{Stack: teststack.Start(t, o...), t: t}
}

// do sends a request with the stack's admin token and decodes a JSON answer into out (when non-nil).
func (s *stack) do(method, path string, body any, out any) int {
	s.t.Helper()
	return s.Do(s.t, method, path, body, out)
}

type deviceView struct {
	ID           uuid.UUID `json:"id"`
	Name         string    `json:"name"`
	Status       string    `json:"status"`
	StatusReason string    `json:"status_reason"`
}

// createDevice adds a device through the API (which starts its poll loop), trusting its host key on first use.
func (s *stack) createDevice(name, host string, port int, user string) deviceView {
	s.t.Helper()
	var d deviceView
	code := s.do("POST", "/api/v1/devices", map[string]any{"name": name, "host": host, "port": port, "user": user,
		"poll_interval": pollInterval.String(), "host_key_policy": "trust_first_use"}, &d)
	require.Equal(s.t, 201, code)
	return d
}

func (s *stack) device(id uuid.UUID) deviceView {
	s.t.Helper()
	var d deviceView
	require.Equal(s.t, 200, s.do("GET", "/api/v1/devices/"+id.String(), nil, &d))
	return d
}

func (s *stack) waitStatus(id uuid.UUID, status string, within time.Duration) deviceView {
	s.t.Helper()
	var d deviceView
	require.EventuallyWithT(s.t, func(c *assert.CollectT) {
		d = s.device(id)
		assert.Equal(c, status, d.Status, "reason: %s", d.StatusReason)
	}, within, 200*time.Millisecond)
	return d
}

// samples counts the device's system_metrics rows: one per committed poll.
func (s *stack) samples(id uuid.UUID) int {
	s.t.Helper()
	var n int
	require.NoError(s.t, s.DB.QueryRow(context.Background(), `SELECT count(*) FROM system_metrics WHERE device_id = $1`, id).Scan(&n))
	return n
}

func (s *stack) waitSamples(id uuid.UUID, atLeast int, within time.Duration) {
	s.t.Helper()
	require.EventuallyWithT(s.t, func(c *assert.CollectT) {
		assert.GreaterOrEqual(c, s.samples(id), atLeast)
	}, within, 200*time.Millisecond)
}

// sampleTimes are the times of the device's samples since `since`, oldest first.
func (s *stack) sampleTimes(id uuid.UUID, since time.Time) []time.Time {
	s.t.Helper()
	rows, err := s.DB.Query(context.Background(), `SELECT time FROM system_metrics WHERE device_id = $1 AND time >= $2 ORDER BY time`, id, since)
	require.NoError(s.t, err)
	var out []time.Time
	for rows.Next() {
		var at time.Time
		require.NoError(s.t, rows.Scan(&at))
		out = append(out, at)
	}
	require.NoError(s.t, rows.Err())
	return out
}

// gaps are the durations between consecutive times.
func gaps(times []time.Time) (minGap, maxGap time.Duration) {
	for i := 1; i < len(times); i++ {
		g := times[i].Sub(times[i-1])
		if i == 1 || g < minGap {
			minGap = g
		}
		maxGap = max(maxGap, g)
	}
	return minGap, maxGap
}

func (s *stack) eventKinds(id uuid.UUID) []string {
	s.t.Helper()
	var out struct {
		Items []struct {
			Kind string `json:"kind"`
		} `json:"items"`
	}
	require.Equal(s.t, 200, s.do("GET", "/api/v1/events?device_id="+id.String(), nil, &out))
	kinds := make([]string, 0, len(out.Items))
	for _, e := range out.Items {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

// pollCommits counts the device's committed polls.
func (s *stack) pollCommits(id uuid.UUID) int {
	s.t.Helper()
	var n int
	require.NoError(s.t, s.DB.QueryRow(context.Background(), `SELECT count(*) FROM teststack_poll_commits WHERE device_id = $1`, id).Scan(&n))
	return n
}

// dockerEvents lists the engine's events of one kind for a container since `since` (a Unix time string).
func dockerEvents(t *testing.T, e *testenv.DockerEngine, name, event, since string) []string {
	t.Helper()
	out := e.Docker(t, "events", "--since", since, "--until", strconv.FormatInt(time.Now().Unix(), 10),
		"--filter", "container="+name, "--filter", "event="+event, "--format", "{{.Status}}")
	return strings.Fields(out)
}
