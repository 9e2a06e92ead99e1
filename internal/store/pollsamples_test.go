package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

// samplesPoll is a poll whose figures do not survive the tables exactly (float32 columns, percentages the
// collector computed differently from the stored bytes) and whose lists are not in the tables' order.
func samplesPoll(d *store.Device, key string, at time.Time) *store.PollWrite {
	pct := 12.345678901
	return &store.PollWrite{DeviceID: d.ID, PollKey: key, Time: at, Metrics: collector.Metrics{
		Time: at,
		CPU: &collector.CPUMetrics{UsagePercent: 80.00000123, Cores: []collector.CoreMetrics{{Core: 0, UsagePercent: 79.99999},
			{Core: 1, UsagePercent: 80.1234567}}},
		Memory: &collector.MemoryMetrics{TotalBytes: 3 << 30, UsedBytes: 1<<30 + 12345, UsedPercent: 33.3, AvailableBytes: 2 << 30,
			SwapTotalBytes: 7 << 20, SwapUsedBytes: 1 << 20, SwapUsedPercent: 14},
		Load: &collector.LoadAvg{Load1: 1.23456789, Load5: 0.987654321, Load15: 0.1},
		Filesystems: []collector.FilesystemMetrics{
			{Mount: "/var", Source: "/dev/sdb1", FSType: "xfs", SizeBytes: 3000, UsedBytes: 2000, AvailBytes: 777, UsedPercent: 66.7,
				InodesTotal: 3000, InodesUsed: 1234, InodesUsedPercent: &pct},
			{Mount: "/", Source: "/dev/sda1", FSType: "ext4", SizeBytes: 100, UsedBytes: 60, AvailBytes: 33, UsedPercent: 60},
			{Mount: "/boot", Source: "/dev/sda2", FSType: "vfat", SizeBytes: 0, UsedBytes: 0, AvailBytes: 0}},
		Temperatures: []collector.Temperature{{Sensor: "nvme/Composite", Celsius: 45.123456789}, {Sensor: "coretemp/Core 0", Celsius: 81.7}},
	}, Containers: &store.ContainerWrite{Docker: docker.Availability{State: docker.Available}, List: []docker.Container{
		{ID: "b2", Name: "web", Image: "nginx", State: docker.StateRunning, Health: docker.HealthUnhealthy, RestartCount: 3,
			Created: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), Started: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)},
		{ID: "a1", Name: "db", Image: "postgres", State: docker.StateExited, ExitCode: 137,
			Created: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)},
	}}}
}

// TestPollWriteSamplesMatchReadBack checks that what a poll hands the alert evaluator from memory is exactly what
// the evaluator read back from the tables before (#17), for every combination of needs: the evaluation must decide
// the same either way. A change to how samples are stored that is not mirrored in Samples fails here.
func TestPollWriteSamplesMatchReadBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "in-memory-samples")
	at := time.Now().UTC().Truncate(time.Millisecond)
	w := samplesPoll(d, "k1", at)
	_, err := store.WritePoll(ctx, db, w)
	require.NoError(t, err)

	for _, need := range []alert.Needs{
		{}, {System: true}, {Filesystems: true}, {Temperatures: true}, {Containers: true},
		{System: true, Filesystems: true, Temperatures: true, Containers: true},
	} {
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			wantM, wantC, err := store.LoadPollSamples(ctx, tx, d.ID, at, need)
			require.NoError(t, err)
			gotM, gotC, err := w.Samples(ctx, tx, need)
			require.NoError(t, err)
			require.Equal(t, wantM, gotM, "%+v", need)
			require.Equal(t, wantC, gotC, "%+v", need)
			return nil
		})
		require.NoError(t, err)
	}

	// A poll that could not list containers leaves the stored inventory, which Samples reads.
	w2 := samplesPoll(d, "k2", at.Add(time.Minute))
	w2.Containers = &store.ContainerWrite{Docker: docker.Availability{State: docker.DaemonDown}}
	_, err = store.WritePoll(ctx, db, w2)
	require.NoError(t, err)
	need := alert.Needs{Containers: true}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, wantC, err := store.LoadPollSamples(ctx, tx, d.ID, w2.Time, need)
		require.NoError(t, err)
		require.Len(t, wantC, 2)
		_, gotC, err := w2.Samples(ctx, tx, need)
		require.NoError(t, err)
		require.Equal(t, wantC, gotC)
		return nil
	})
	require.NoError(t, err)
}

// TestWritePollWithin checks the hook's contract: it runs in the poll's transaction (it sees the poll's rows), its
// error rolls the poll back, and a duplicate poll does not run it.
func TestWritePollWithin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t)
	d := makeDevice(t, db, "within")
	at := time.Now().UTC().Truncate(time.Millisecond)
	countAt := func(q store.DBTX, tm time.Time) int {
		var n int
		require.NoError(t, q.QueryRow(ctx, `SELECT count(*) FROM system_metrics WHERE device_id = $1 AND time = $2`, d.ID, tm).Scan(&n))
		return n
	}

	// A failing hook: nothing of the poll is committed.
	boom := errors.New("boom")
	w := samplesPoll(d, "k1", at)
	w.Within = func(ctx context.Context, tx pgx.Tx) error {
		require.Equal(t, 1, countAt(tx, at), "the hook sees the poll's samples")
		return boom
	}
	_, err := store.WritePoll(ctx, db, w)
	require.ErrorIs(t, err, boom)
	require.Zero(t, countAt(db, at), "rolled back with the hook")

	// The same poll again with a working hook commits, runs the hook once, and a retry of it runs nothing.
	runs := 0
	w.Within = func(context.Context, pgx.Tx) error { runs++; return nil }
	out, err := store.WritePoll(ctx, db, w)
	require.NoError(t, err)
	require.False(t, out.Duplicate)
	require.Equal(t, 1, runs)
	require.Equal(t, 1, countAt(db, at))
	out, err = store.WritePoll(ctx, db, w)
	require.NoError(t, err)
	require.True(t, out.Duplicate)
	require.Equal(t, 1, runs, "a duplicate poll was evaluated with its first commit")

	// The hook runs after an online device's poll too (no status change on this path).
	w3 := samplesPoll(d, "k3", at.Add(time.Minute))
	w3.Within = func(context.Context, pgx.Tx) error { runs++; return nil }
	_, err = store.WritePoll(ctx, db, w3)
	require.NoError(t, err)
	require.Equal(t, 2, runs)
}
