package timescale

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/migrations"
)

// storageDevices is how many device-days TestStoragePerDeviceDay writes into each database.
const storageDevices = 2

// deviceDaySQL writes one UTC day of polls at 30 s (from the midnight %[1]s) for %[2]d devices into the
// time-series tables, shaped as a typical server: one system row with four cores, three filesystems, two disks,
// two interfaces, five temperature sensors and four containers per poll (17 samples, as the polls of `make run`'s
// simulated devices), stored as store.WritePoll stores them (migration 0020: the per-entity values as arrays in
// the system row and one container row, the names once per device in sample_labels). Values move as real ones do:
// gauges wander with noise, rates are noisy, sizes and counters creep, temperatures are whole degrees.
const deviceDaySQL = `
CREATE TEMP TABLE polls AS
	SELECT d, ('00000000-0000-0000-0000-' || lpad(d::text, 12, '0'))::uuid AS device_id, i,
		'%[1]s'::timestamptz + i * interval '30 seconds' AS time
	FROM generate_series(1, %[2]d) d, generate_series(0, 2879) i;
INSERT INTO devices (id, name, host, port, ssh_user)
	SELECT DISTINCT device_id, 'storage-' || d, '127.0.0.1', 22, 'infra' FROM polls;
INSERT INTO sample_labels (device_id, key, mountpoints, fs_sources, fs_types, disks, ifaces, sensors, container_ids,
	container_names, used_on)
	SELECT DISTINCT device_id, 1, ARRAY['/', '/boot', '/srv'], ARRAY['/dev/sda2', '/dev/sda1', '/dev/sdb1'],
		ARRAY['ext4', 'ext4', 'ext4'], ARRAY['sda', 'sdb'], ARRAY['eth0', 'docker0'],
		ARRAY['coretemp/Package id 0', 'coretemp/Core 0', 'coretemp/Core 1', 'coretemp/Core 2', 'coretemp/Core 3'],
		ARRAY(SELECT md5(d::text || c) || md5(c || d::text) FROM generate_series(1, 4) c),
		ARRAY(SELECT 'app-' || c FROM generate_series(1, 4) c), current_date
	FROM polls;
INSERT INTO system_metrics (device_id, time, cpu_pct, cpu_iowait_pct, cpu_steal_pct, cpu_cores, mem_total, mem_used,
	mem_available, swap_total, swap_used, load1, load5, load15, uptime_s, procs, labels, fs, diskio, net, temps)
	SELECT device_id, time,
	(20 + 15 * sin(i / 100.0) + 5 * random())::real, (random() * 2)::real, 0,
	ARRAY[(random() * 100)::real, (random() * 100)::real, (random() * 100)::real, (random() * 100)::real],
	8589934592, 4294967296 + (sin(i / 300.0) * 536870912)::bigint + (random() * 67108864)::bigint,
	4294967296 - (sin(i / 300.0) * 536870912)::bigint, 2147483648, 10485760 + i * 4096,
	(1 + sin(i / 120.0) + random() * 0.2)::real, (1 + sin(i / 240.0))::real, (1 + sin(i / 480.0))::real,
	1000000 + i * 30.0, 200 + (random() * 20)::int, 1,
	(SELECT array_agg(ARRAY[m.size, m.size / 2 + i * 40960 + (random() * 1048576)::bigint,
		m.size / 2 - i * 40960 - (random() * 1048576)::bigint, 6553600, 200000 + i / 10] ORDER BY m.n)
		FROM (VALUES (1, 107374182400), (2, 1073741824), (3, 536870912000)) AS m(n, size)),
	(SELECT array_agg(ARRAY[random() * 1048576, random() * 2097152, random() * 100, random() * 200,
		random() * 10]::real[]) FROM generate_series(1, 2)),
	(SELECT array_agg(ARRAY[random() * 131072, random() * 65536, random() * 200, random() * 150, 0, 0, 0, 0]::real[])
		FROM generate_series(1, 2)),
	(SELECT array_agg(round(40 + 10 * random())::real) FROM generate_series(1, 5))
	FROM polls;
INSERT INTO container_poll_metrics (device_id, time, labels, stats, mem, pids)
	SELECT device_id, time, 1,
	(SELECT array_agg(ARRAY[random() * 50, random() * 10240, random() * 10240, random() * 4096, random() * 8192]::real[])
		FROM generate_series(1, 4)),
	(SELECT array_agg(ARRAY[268435456 + (random() * 16777216)::bigint, 1073741824]) FROM generate_series(1, 4)),
	ARRAY[11, 12, 13, 14]
	FROM polls;
DROP TABLE polls;`

// TestStoragePerDeviceDay measures what a device-day of polls at 30 s takes on disk (tables, indexes and TOAST) on
// plain PostgreSQL and on TimescaleDB once its chunks are compressed (the compression policy compresses chunks
// older than two days), and logs both; docs/performance.md quotes them. It fails when compression saves less than
// half, which would mean the hypertables are not compressed as 0003 sets them up (segmented by device).
func TestStoragePerDeviceDay(t *testing.T) {
	requireTimescaleDB(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
	log := slog.New(slog.DiscardHandler)

	fill := func(db *pgxpool.Pool) {
		_, err := migrations.Up(ctx, db, log)
		require.NoError(t, err)
		_, err = store.EnsurePartitions(ctx, db, day, 0)
		require.NoError(t, err)
		conn, err := db.Acquire(ctx)
		require.NoError(t, err)
		defer conn.Release()
		_, err = conn.Exec(ctx, fmt.Sprintf(deviceDaySQL, day.Format(time.RFC3339), storageDevices))
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "VACUUM ANALYZE")
		require.NoError(t, err)
	}

	plain := openPool(t, ownerDatabase(t, startCluster(t, false), "plain"))
	fill(plain)
	requirePartitioned(t, plain)
	var plainBytes int64
	require.NoError(t, plain.QueryRow(ctx, `SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
		WHERE p.relname LIKE '%\_metrics' AND c.relname LIKE '%\_p' || to_char($1::date, 'YYYYMMDD')`, day).Scan(&plainBytes))
	logTableBytes(t, plain, day)

	ts := openPool(t, ownerDatabase(t, startCluster(t, true), "timescale"))
	fill(ts)
	requireHypertables(t, ts)
	size := func() int64 {
		var n int64
		require.NoError(t, ts.QueryRow(ctx, `SELECT sum(hypertable_size(format('%I', hypertable_name)::regclass))
			FROM timescaledb_information.hypertables WHERE hypertable_schema = current_schema()`).Scan(&n))
		return n
	}
	uncompressed := size()
	for _, table := range metricTables {
		_, err := ts.Exec(ctx, `SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks($1::regclass) c`, table)
		require.NoError(t, err, table)
	}
	compressed := size()

	perDay := func(n int64) float64 { return float64(n) / storageDevices / (1 << 20) }
	t.Logf("bytes per device-day at 30 s (17 samples per poll): plain PostgreSQL %.2f MiB; TimescaleDB %.2f MiB "+
		"uncompressed, %.2f MiB compressed (%.1fx smaller than plain)", perDay(plainBytes), perDay(uncompressed),
		perDay(compressed), float64(plainBytes)/float64(compressed))
	require.NotZero(t, plainBytes)
	require.Less(t, compressed*2, plainBytes, "compression saves less than half")
}

// logTableBytes logs, per time-series table, the day's heap and index bytes per poll (docs/performance.md quotes
// them), so a change of layout shows where the bytes went.
func logTableBytes(t *testing.T, db *pgxpool.Pool, day time.Time) {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT p.relname, sum(pg_table_size(c.oid)), sum(pg_indexes_size(c.oid))
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
		WHERE p.relname LIKE '%\_metrics' AND c.relname LIKE '%\_p' || to_char($1::date, 'YYYYMMDD')
		GROUP BY 1 ORDER BY 1`, day)
	require.NoError(t, err)
	defer rows.Close()
	polls := float64(storageDevices * 2880)
	for rows.Next() {
		var name string
		var heap, index int64
		require.NoError(t, rows.Scan(&name, &heap, &index))
		if heap+index > 0 {
			t.Logf("%-24s heap %6.0f B/poll, indexes %6.0f B/poll", name, float64(heap)/polls, float64(index)/polls)
		}
	}
	require.NoError(t, rows.Err())
}
