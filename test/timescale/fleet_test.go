package timescale

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/workflows"
)

// TestFleetOnTimescaleDB runs the product on TimescaleDB with a database owner that is not a superuser: polls
// write samples into hypertables, the API's metric queries read them, polls keep writing into compressed chunks
// and queries read them back, and housekeeping refreshes rollups (which long-range queries read) and drops chunks
// past retention.
func TestFleetOnTimescaleDB(t *testing.T) {
	requireTimescaleDB(t)
	t.Parallel()
	pg := startCluster(t, true)
	dbURL := ownerDatabase(t, pg, "fleet")
	f := startFleet(t, dbURL, 3)
	requireNotPrivileged(t, f.DB)
	requireHypertables(t, f.DB)
	ctx := context.Background()

	// Two polls per device, so rates (CPU, network) have values.
	first := f.waitPolled(nil, 3*time.Minute)
	f.waitPolled(first, 2*time.Minute)
	for _, table := range []string{"system_metrics", "container_poll_metrics"} {
		var chunks int
		require.NoError(t, f.DB.QueryRow(ctx, `SELECT count(*) FROM show_chunks($1::regclass)`, table).Scan(&chunks))
		require.NotZero(t, chunks, "%s has no chunks: the samples are not in the hypertable", table)
	}
	dev := f.Devices[0]
	for _, metric := range []string{"cpu", "memory", "disk", "network", "diskio", "temperature", "containers"} {
		a := f.query(dev, metric, "from=10m")
		require.Equal(t, "raw", a.Source)
		require.NotEmpty(t, a.values(), "%s: no values", metric)
	}

	// Samples 40 days old: a day past the 30-day retention, in chunks of their own.
	old := 40 * 24 * time.Hour
	for _, table := range []string{"system_metrics", "container_poll_metrics"} {
		_, err := f.DB.Exec(ctx, fmt.Sprintf(`INSERT INTO %s SELECT %s FROM %[1]s WHERE device_id = $1`,
			pgx.Identifier{table}.Sanitize(), columnsShifted(t, f.DB, table, old)), dev)
		require.NoError(t, err)
	}

	// Compress every chunk, as the compression policy does two days on; polls go on writing into them and the
	// API reads them back.
	for _, table := range metricTables {
		_, err := f.DB.Exec(ctx, `SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks($1::regclass) c`, table)
		require.NoError(t, err, table)
	}
	var uncompressed int
	require.NoError(t, f.DB.QueryRow(ctx, `SELECT count(*) FROM timescaledb_information.chunks
		WHERE hypertable_schema = current_schema() AND NOT is_compressed`).Scan(&uncompressed))
	require.Zero(t, uncompressed)
	before := f.query(dev, "load", "from=10m&step=1s").values()["load1"]
	compressed, err := f.counts(ctx, "system_metrics")
	require.NoError(t, err)
	polled := f.waitPolled(compressed, 2*time.Minute)
	require.Greater(t, f.query(dev, "load", "from=10m&step=1s").values()["load1"], before, "the query does not see polls written after compression")
	require.NotEmpty(t, f.query(dev, "containers", "from=10m").values())

	// Housekeeping, as its schedule runs it.
	var recent int
	require.NoError(t, f.DB.QueryRow(ctx, `SELECT count(*) FROM system_metrics WHERE device_id = $1 AND load1 IS NOT NULL
		AND time > now() - interval '3 hours'`, dev).Scan(&recent))
	hctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	run, err := f.TC.ExecuteWorkflow(hctx, client.StartWorkflowOptions{ID: "timescale-housekeeping-" + uuid.NewString(),
		TaskQueue: f.TaskQueue}, workflows.HousekeepingWorkflowName)
	require.NoError(t, err)
	var res activities.HousekeepingResult
	require.NoError(t, run.Get(hctx, &res))
	t.Logf("housekeeping: %+v, pruned %v", res, res.Pruned)
	require.Zero(t, res.PartitionsCreated, "no partitions on TimescaleDB")
	require.NotZero(t, res.HourlyRollupRows)
	require.NotZero(t, res.DailyRollupRows)

	// Retention dropped the old chunks (of both tables), and nothing recent.
	require.NotNil(t, res.Pruned)
	require.GreaterOrEqual(t, len(res.Pruned.DroppedPartitions), 2, "want the 40-day-old chunks of system_metrics and container_poll_metrics")
	for _, name := range res.Pruned.DroppedPartitions {
		require.Contains(t, name, "_chunk")
	}
	for _, table := range []string{"system_metrics", "container_poll_metrics", "container_metrics"} {
		var stale int
		require.NoError(t, f.DB.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE time < now() - interval '30 days'`,
			pgx.Identifier{table}.Sanitize())).Scan(&stale))
		require.Zero(t, stale, table)
	}
	after, err := f.counts(ctx, "system_metrics")
	require.NoError(t, err)
	for _, id := range f.Devices {
		require.GreaterOrEqual(t, after[id], polled[id], "retention removed recent samples")
	}

	// The hourly rollups count every recent sample, and a week's query reads them.
	var rolled int
	require.NoError(t, f.DB.QueryRow(ctx, `SELECT coalesce(sum(count), 0) FROM metric_rollups WHERE resolution = '1h'
		AND metric = 'load' AND name = 'load1' AND device_id = $1`, dev).Scan(&rolled))
	require.GreaterOrEqual(t, rolled, recent)
	week := f.query(dev, "load", "from=168h&step=1h")
	require.Equal(t, "1h", week.Source)
	require.NotZero(t, week.values()["load1"])
	month := f.query(dev, "cpu", "from=2160h&step=24h")
	require.Equal(t, "1d", month.Source)
	require.NotZero(t, month.values()["usage_percent"])
}
