package faultdb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// envelope is the API's error shape.
type envelope struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type operation struct {
	ID    uuid.UUID `json:"id"`
	State string    `json:"state"`
	Error string    `json:"error"`
}

type containerView struct {
	Name  string `json:"name"`
	State string `json:"state"`
	PID   int    `json:"pid"`
}

// TestFaultPostgresRestartDuringPollsAndOperation restarts PostgreSQL while 20 devices poll and a container restart
// runs.
//
// Kept: every poll committed before the restart; the poll loops (they resume without a worker restart); the
// operation, which completes once (the container restarted exactly once). Every poll is committed at most once
// and whole. Lost: the polls whose time fell in the outage may be missing (they are retried, not queued forever).
// During the outage the API answers 503 with Retry-After, never 500 and never a hang.
func TestFaultPostgresRestartDuringPollsAndOperation(t *testing.T) {
	pg := testenv.StartPGCluster(t, testenv.PGClusterOptions{})
	s := startStack(t, pg, 20)
	s.waitPolled(nil, 3*time.Minute)

	dev := s.Devices[0]
	// The simulator hands out PIDs per device in steps of 37: after one start the container has the device's
	// highest PID so far plus 37, after two starts plus 74.
	var before containerView
	var maxPID int
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		before = s.container(c, dev, "cache")
		require.Equal(c, "running", before.State)
		var page struct {
			Items []containerView `json:"items"`
		}
		code, raw := s.do("GET", "/api/v1/devices/"+dev.String()+"/containers", nil, &page)
		require.Equal(c, http.StatusOK, code, "%s", raw)
		maxPID = 0
		for _, ct := range page.Items {
			maxPID = max(maxPID, ct.PID)
		}
		require.NotZero(c, before.PID)
	}, time.Minute, 250*time.Millisecond, "the polls never recorded the container")

	var op operation
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, raw := s.do("POST", "/api/v1/devices/"+dev.String()+"/containers/cache/actions", map[string]any{"action": "restart", "timeout": 1}, &op)
		if code == http.StatusServiceUnavailable { // Temporal slow on a loaded machine: nothing started, retry
			require.Fail(c, "retry", "%s", raw)
			return
		}
		require.Equal(t, http.StatusAccepted, code, "%s", raw)
	}, 2*time.Minute, time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	committed, err := s.sampleCounts(ctx)
	cancel()
	require.NoError(t, err)

	pg.Stop()
	down := time.Now()
	// Hold the outage for more than a poll interval, so every device's loop meets it, checking meanwhile that the
	// API degrades to 503 with Retry-After.
	for time.Since(down) < pollInterval+2*time.Second {
		start := time.Now()
		code, raw := s.do("GET", "/api/v1/devices", nil, nil)
		require.Equal(t, http.StatusServiceUnavailable, code, "with PostgreSQL down: %s", raw)
		require.Less(t, time.Since(start), 15*time.Second, "a request hung on the stopped database")
		var e envelope
		require.NoError(t, jsonUnmarshal(raw, &e))
		require.Equal(t, "unavailable", e.Error.Code)
		time.Sleep(500 * time.Millisecond) // pacing of the probe, not a synchronisation
	}
	pg.Start()

	// Polls resume on every device, with the same worker and the same pool.
	after := s.waitPolled(committed, 3*time.Minute)
	for _, id := range s.Devices {
		require.GreaterOrEqual(t, after[id], committed[id], "device %s lost committed polls", id)
	}
	lost := 0
	for _, id := range s.Devices {
		// Polls expected over the run minus polls committed: what the outage cost (logged, not asserted: timing).
		lost += max(0, int(time.Since(down)/pollInterval)-(after[id]-committed[id]))
	}
	t.Logf("polls missing after the restart across %d devices: about %d", len(s.Devices), lost)

	// The operation completes, once.
	var final operation
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		final = operation{}
		code, raw := s.do("GET", "/api/v1/operations/"+op.ID.String(), nil, &final)
		require.Equal(c, http.StatusOK, code, "%s", raw)
		require.True(c, store.OpFinal(final.State), "operation still %s", final.State)
	}, 3*time.Minute, 250*time.Millisecond)
	require.Equal(t, store.OpSucceeded, final.State, "operation error: %s", final.Error)
	var ops int
	require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT count(*) FROM operations WHERE device_id = $1`, dev).Scan(&ops))
	require.Equal(t, 1, ops, "one operation record")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		cur := s.container(c, dev, "cache")
		require.Equal(c, "running", cur.State)
		require.Equal(c, maxPID+37, cur.PID, "the container was started %d times", (cur.PID-maxPID)/37)
	}, time.Minute, 250*time.Millisecond)

	s.requireEveryPollOnceAndWhole()
}

// TestFaultPostgresDiskFull fills the disk under PostgreSQL's data files (a small tmpfs; the WAL lives elsewhere,
// as on servers with a separate WAL volume).
//
// Kept: everything committed before; the API, which keeps answering reads; the poll loops, which resume once
// space returns. Lost: writes while the disk is full. They fail loudly (503 naming the cause) and leave nothing
// half-written: a refused device does not exist afterwards, and every committed poll is whole.
func TestFaultPostgresDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("mounting the small tmpfs for PostgreSQL needs root")
	}
	// Not t.TempDir: PostgreSQL runs as its own user and must reach the directories below.
	base, err := os.MkdirTemp("", "faultdb-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(base, 0o755))
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	disk := filepath.Join(base, "disk")
	require.NoError(t, os.MkdirAll(disk, 0o755))
	var out []byte
	out, err = exec.Command("mount", "-t", "tmpfs", "-o", "size=96m,mode=0755", "tmpfs", disk).CombinedOutput()
	require.NoError(t, err, "mount tmpfs: %s", out)
	// Registered before the cluster, so it runs after the cluster has stopped.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", disk).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", disk, err, out)
		}
	})
	pg := testenv.StartPGCluster(t, testenv.PGClusterOptions{DataDir: filepath.Join(disk, "data"), WALDir: filepath.Join(base, "wal")})
	s := startStack(t, pg, 5)
	s.waitPolled(nil, 3*time.Minute)

	filler := filepath.Join(disk, "filler")
	fill(t, filler)

	// Writes fail loudly: new devices are refused with 503 naming the cause once the tables cannot grow.
	var refused []string
	var created int
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		name := fmt.Sprintf("extra-%03d", created+len(refused))
		code, raw := s.do("POST", "/api/v1/devices", map[string]any{"name": name, "host": "192.0.2.10", "user": "root",
			"description": strings.Repeat("d", 900), "enabled": false}, nil)
		switch code {
		case http.StatusCreated:
			created++
		case http.StatusServiceUnavailable:
			refused = append(refused, name)
			var e envelope
			require.NoError(c, jsonUnmarshal(raw, &e))
			require.Contains(c, e.Error.Message, "cannot store more data")
		default:
			require.Fail(c, "unexpected answer", "%d %s", code, raw)
		}
		require.NotEmpty(c, refused, "writes still succeed (%d created)", created)
	}, 2*time.Minute, 10*time.Millisecond)
	t.Logf("devices created before the disk was full: %d", created)

	// Reads still work.
	for _, path := range []string{"/api/v1/devices", "/api/v1/devices/" + s.Devices[0].String(), "/api/v1/fleet/summary"} {
		code, raw := s.do("GET", path, nil, nil)
		require.Equal(t, http.StatusOK, code, "GET %s with the disk full: %s", path, raw)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	committed, err := s.sampleCounts(ctx)
	cancel()
	require.NoError(t, err)

	// Space returns: writes and polls recover without a restart.
	require.NoError(t, os.Remove(filler))
	s.waitPolled(committed, 3*time.Minute)
	code, raw := s.do("POST", "/api/v1/devices", map[string]any{"name": "after-recovery", "host": "192.0.2.11", "user": "root", "enabled": false}, nil)
	require.Equal(t, http.StatusCreated, code, "%s", raw)

	// Nothing half-written.
	for _, name := range refused {
		var n int
		require.NoError(t, s.DB.QueryRow(context.Background(), `SELECT count(*) FROM devices WHERE name = $1`, name).Scan(&n))
		require.Zero(t, n, "refused device %s exists", name)
	}
	s.requireEveryPollOnceAndWhole()
}

// fill writes path until the filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.True(t, errors.Is(err, syscall.ENOSPC), "fill %s: %v", path, err)
			break
		}
	}
	// The last partial chunk may leave a few pages free: fill them too.
	for {
		if _, err := f.Write(chunk[:4096]); err != nil {
			require.True(t, errors.Is(err, syscall.ENOSPC), "fill %s: %v", path, err)
			return
		}
	}
}

// container reads a container as the polls recorded it.
func (s *stack) container(c *assert.CollectT, dev uuid.UUID, name string) containerView {
	var out struct {
		Container containerView `json:"container"`
	}
	code, raw := s.do("GET", "/api/v1/devices/"+dev.String()+"/containers/"+name, nil, &out)
	require.Equal(c, http.StatusOK, code, "%s", raw)
	return out.Container
}
