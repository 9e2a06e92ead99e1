package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func migratedDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return testdb.Pool(t)
}

func newDevice(t *testing.T, db *pgxpool.Pool, name string) uuid.UUID {
	t.Helper()
	d, err := store.CreateDevice(context.Background(), db, &store.Device{Name: name, Host: "192.0.2.1", Port: 22,
		User: "u", DeviceType: "linux", PollInterval: 30 * time.Second, Enabled: true, HostKeyPolicy: store.PolicyTrustFirstUse})
	require.NoError(t, err)
	return d.ID
}

func insertCPU(t *testing.T, db *pgxpool.Pool, id uuid.UUID, at time.Time, pct float64) {
	t.Helper()
	ctx := context.Background()
	_, err := store.EnsurePartitions(ctx, db, at, 1)
	require.NoError(t, err)
	_, err = db.Exec(ctx, `INSERT INTO system_metrics (device_id, time, cpu_pct, mem_total, mem_used) VALUES ($1, $2, $3, 100, 50)`, id, at, pct)
	require.NoError(t, err)
}

func TestRetentionDropsOldPartitionsOnly(t *testing.T) {
	t.Parallel()
	db := migratedDB(t)
	ctx := context.Background()
	id := newDevice(t, db, "old-and-new")
	now := time.Now().UTC()
	old := now.AddDate(0, 0, -40)
	insertCPU(t, db, id, old, 10)
	insertCPU(t, db, id, now.Add(-time.Hour), 20)
	_, err := db.Exec(ctx, `INSERT INTO events (device_id, kind, message, time) VALUES ($1, 'x', 'old', $2), ($1, 'x', 'new', $3)`,
		id, now.AddDate(-2, 0, 0), now)
	require.NoError(t, err)

	res, err := store.ApplyRetention(ctx, db, now, store.DefaultRetention)
	require.NoError(t, err)
	require.Contains(t, res.DroppedPartitions, "system_metrics_p"+old.Format("20060102"))
	require.NotContains(t, res.DroppedPartitions, "system_metrics_p"+now.Format("20060102"))
	require.EqualValues(t, 1, res.DeletedRows)

	var times []time.Time
	rows, err := db.Query(ctx, `SELECT time FROM system_metrics WHERE device_id = $1`, id)
	require.NoError(t, err)
	for rows.Next() {
		var ts time.Time
		require.NoError(t, rows.Scan(&ts))
		times = append(times, ts)
	}
	require.Len(t, times, 1, "the recent sample stays, the old one is gone")
	require.WithinDuration(t, now.Add(-time.Hour), times[0], time.Millisecond)

	again, err := store.ApplyRetention(ctx, db, now, store.DefaultRetention)
	require.NoError(t, err)
	require.Empty(t, again.DroppedPartitions, "retention is idempotent")
}

func TestRollupsEqualRawAverages(t *testing.T) {
	t.Parallel()
	db := migratedDB(t)
	ctx := context.Background()
	id := newDevice(t, db, "rollups")
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
	// Two hours with different sample counts, so an unweighted average of hourly averages would be wrong.
	var all []float64
	for i, v := range []float64{10, 20, 30} {
		insertCPU(t, db, id, day.Add(time.Duration(i)*time.Minute), v)
		all = append(all, v)
	}
	insertCPU(t, db, id, day.Add(time.Hour), 90)
	all = append(all, 90)

	_, err := store.RefreshHourlyRollups(ctx, db, day, day.Add(24*time.Hour))
	require.NoError(t, err)
	_, err = store.RefreshHourlyRollups(ctx, db, day, day.Add(24*time.Hour)) // idempotent
	require.NoError(t, err)
	_, err = store.RefreshDailyRollups(ctx, db, day, day.Add(24*time.Hour))
	require.NoError(t, err)

	var hourAvg, hourMin, hourMax float64
	var n int64
	require.NoError(t, db.QueryRow(ctx, `SELECT avg, min, max, count FROM metric_rollups WHERE resolution = '1h'
		AND device_id = $1 AND metric = 'cpu' AND name = 'usage_percent' AND bucket = $2`, id, day).Scan(&hourAvg, &hourMin, &hourMax, &n))
	require.InDelta(t, 20.0, hourAvg, 1e-9)
	require.Equal(t, 10.0, hourMin)
	require.Equal(t, 30.0, hourMax)
	require.EqualValues(t, 3, n)

	var rawAvg, dayAvg float64
	require.NoError(t, db.QueryRow(ctx, `SELECT avg(cpu_pct) FROM system_metrics WHERE device_id = $1`, id).Scan(&rawAvg))
	require.NoError(t, db.QueryRow(ctx, `SELECT avg FROM metric_rollups WHERE resolution = '1d' AND device_id = $1
		AND metric = 'cpu' AND name = 'usage_percent' AND bucket = $2`, id, day).Scan(&dayAvg))
	require.InDelta(t, rawAvg, dayAvg, 1e-6, "daily average weighted by samples equals the raw average")
	require.InDelta(t, 37.5, dayAvg, 1e-6)

	// A year-long query reads the daily rollups and finds that day's figures.
	series, source, err := store.QueryMetrics(ctx, db, store.MetricQuery{DeviceID: id, Metric: "cpu",
		From: time.Now().AddDate(-1, 0, 0), To: time.Now(), Step: 24 * time.Hour})
	require.NoError(t, err)
	require.Equal(t, store.SourceDaily, source)
	var found bool
	for _, s := range series {
		if s.Name == "usage_percent" {
			require.Len(t, s.Points, 1)
			require.InDelta(t, 37.5, *s.Points[0].Avg, 1e-6)
			require.Equal(t, 90.0, *s.Points[0].Max)
			found = true
		}
	}
	require.True(t, found)

	// A short range reads raw samples.
	_, source, err = store.QueryMetrics(ctx, db, store.MetricQuery{DeviceID: id, Metric: "cpu",
		From: day, To: day.Add(2 * time.Hour), Step: time.Minute})
	require.NoError(t, err)
	require.Equal(t, store.SourceRaw, source)
}

func TestRollupSource(t *testing.T) {
	for _, tt := range []struct {
		span, step time.Duration
		want       string
	}{
		{time.Hour, time.Minute, store.SourceRaw},
		{48 * time.Hour, 10 * time.Minute, store.SourceRaw},
		{7 * 24 * time.Hour, time.Hour, store.SourceHourly},
		{7 * 24 * time.Hour, 10 * time.Minute, store.SourceRaw},
		{365 * 24 * time.Hour, 24 * time.Hour, store.SourceDaily},
		{365 * 24 * time.Hour, 6 * time.Hour, store.SourceHourly},
	} {
		require.Equal(t, tt.want, store.RollupSource(tt.span, tt.step), "span %s step %s", tt.span, tt.step)
	}
}
