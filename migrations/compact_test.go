package migrations

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// TestCompactSamplesKeepOlderSamples upgrades a database that holds samples in the per-entity tables of 0002 to
// 0020: those samples stay readable through the views of the same names, next to samples written in the compact
// shape, their tables and partitions are renamed _v1 (so retention still finds them by name and no new
// partitions are made for them), and the tables a new installation never wrote to are dropped.
func TestCompactSamplesKeepOlderSamples(t *testing.T) {
	t.Parallel()
	upgradeToCompact(t, newPool(t), false)
}

// TestCompactSamplesKeepOlderSamplesOnTimescaleDB is the same upgrade on TimescaleDB, where the old tables are
// hypertables: they keep their chunks under the _v1 names and retention drops those chunks.
func TestCompactSamplesKeepOlderSamplesOnTimescaleDB(t *testing.T) {
	ok, err := testenv.PostgresExtensionInstalled("timescaledb")
	require.NoError(t, err)
	if !ok {
		t.Skip("TimescaleDB is not installed in the local PostgreSQL (test/timescale covers it in CI)")
	}
	t.Parallel()
	pg := testenv.StartPGCluster(t, testenv.PGClusterOptions{Settings: []string{"shared_preload_libraries=timescaledb",
		"timescaledb.telemetry_level=off"}})
	upgradeToCompact(t, newPoolFor(t, pg.CreateDatabase("compact")), true)
}

func upgradeToCompact(t *testing.T, pool *pgxpool.Pool, timescale bool) {
	ctx := context.Background()
	list, err := All()
	require.NoError(t, err)
	var before []Migration
	for _, m := range list {
		if m.Version < 20 {
			before = append(before, m)
		}
	}
	_, err = up(ctx, pool, quiet, before)
	require.NoError(t, err)

	day := time.Now().UTC().Truncate(24 * time.Hour)
	old := day.Add(time.Hour)
	var dev string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO devices (id, name, host, ssh_user) VALUES (gen_random_uuid(), 'd', 'h', 'u')
		RETURNING id`).Scan(&dev))
	for _, q := range []string{
		`INSERT INTO system_metrics (device_id, time, cpu_pct) VALUES ($1, $2, 10)`,
		`INSERT INTO filesystem_metrics (device_id, time, mountpoint, source, fstype, size_bytes, used_bytes, avail_bytes, inodes_total, inodes_used)
			VALUES ($1, $2, '/', '/dev/sda1', 'ext4', 100, 60, 40, 10, 5)`,
		`INSERT INTO diskio_metrics (device_id, time, disk, read_bps, write_bps, read_iops, write_iops, util_pct)
			VALUES ($1, $2, 'sda', 1.5, 2.5, 3, 4, 5)`,
		`INSERT INTO network_metrics (device_id, time, iface, rx_bps, tx_bps, rx_pps, tx_pps, rx_errs_ps, tx_errs_ps, rx_drop_ps, tx_drop_ps)
			VALUES ($1, $2, 'eth0', 100, 200, 1, 2, 0, 0, 0, 0)`,
		`INSERT INTO container_metrics (device_id, time, container_id, name, cpu_pct, mem_used, mem_limit, pids)
			VALUES ($1, $2, 'c1', 'web', 12.5, 1000, 2000, 7)`,
	} {
		_, err := pool.Exec(ctx, q, dev, old)
		require.NoError(t, err, q)
	}
	// temperature_metrics stays empty: a table without samples is dropped, not kept.

	_, err = Up(ctx, pool, quiet)
	require.NoError(t, err)

	// The compact shape, written as store.WritePoll writes it, an hour later.
	now := old.Add(time.Hour)
	_, err = pool.Exec(ctx, `INSERT INTO sample_labels (device_id, key, mountpoints, fs_sources, fs_types, disks, ifaces,
		sensors, container_ids, container_names, used_on) VALUES ($1, 7, '{/}', '{/dev/sda1}', '{ext4}', '{sda}', '{eth0}',
		'{cpu}', '{c1}', '{web}', current_date)`, dev)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO system_metrics (device_id, time, cpu_pct, labels, fs, diskio, net, temps)
		VALUES ($1, $2, 20, 7, '{{100,70,30,10,6}}', '{{1,2,3,4,5}}', '{{300,400,1,2,0,0,0,0}}', '{55}')`, dev, now)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO container_poll_metrics (device_id, time, labels, stats, mem, pids)
		VALUES ($1, $2, 7, '{{25,NULL,NULL,NULL,NULL}}', '{{1500,2000}}', '{8}')`, dev, now)
	require.NoError(t, err)

	used := func(view, col string) []int64 {
		rows, err := pool.Query(ctx, `SELECT (`+col+`)::bigint FROM `+view+` WHERE device_id = $1 ORDER BY time`, dev)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		require.NoError(t, err)
		return out
	}
	require.Equal(t, []int64{60, 70}, used("filesystem_metrics", "used_bytes"))
	require.Equal(t, []int64{200, 400}, used("network_metrics", "tx_bps"))
	require.Equal(t, []int64{5, 5}, used("diskio_metrics", "util_pct"))
	require.Equal(t, []int64{55}, used("temperature_metrics", "celsius"))
	require.Equal(t, []int64{1000, 1500}, used("container_metrics", "mem_used"))
	require.Equal(t, []int64{7, 8}, used("container_metrics", "pids"))

	kind := func(name string) string {
		var k *string
		require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1))`, name).Scan(&k))
		if k == nil {
			return ""
		}
		return *k
	}
	for _, v := range []string{"filesystem_metrics", "diskio_metrics", "network_metrics", "temperature_metrics", "container_metrics"} {
		require.Equal(t, "v", kind(v), v)
	}
	require.Equal(t, "", kind("temperature_metrics_v1"), "an empty table is dropped")
	if timescale {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM timescaledb_information.hypertables
			WHERE hypertable_name IN ('filesystem_metrics_v1', 'container_poll_metrics', 'system_metrics')`).Scan(&n))
		require.Equal(t, 3, n)
		// Retention (store.ApplyRetention) drops the old hypertable's chunks by its new name.
		rows, err := pool.Query(ctx, `SELECT drop_chunks('filesystem_metrics_v1'::regclass, older_than => $1::timestamptz)`,
			day.AddDate(0, 0, 1))
		require.NoError(t, err)
		dropped, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.NotEmpty(t, dropped)
		require.Equal(t, []int64{70}, used("filesystem_metrics", "used_bytes"))
		return
	}
	require.Equal(t, "p", kind("filesystem_metrics_v1"))
	part := "filesystem_metrics_v1_p" + day.Format("20060102")
	require.Equal(t, "r", kind(part))
	require.NotContains(t, metricTables(t, pool), "filesystem_metrics_v1", "no new partitions for the old tables")

	// Retention drops the old table's partitions by their new names.
	rows, err := pool.Query(ctx, `SELECT infra_drop_partitions('filesystem_metrics_v1', $1::date)`, day.AddDate(0, 0, 1).Format("2006-01-02"))
	require.NoError(t, err)
	dropped, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, dropped, part)
	require.Equal(t, []int64{70}, used("filesystem_metrics", "used_bytes"))
}
