package migrations

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// newPool returns a pool on a fresh, empty database of this test.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.PostgresURL(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// snapshot describes everything a migration can change: relations with their columns and kinds, functions, and
// the migration records, so two snapshots are equal only if the schema is exactly the same.
func snapshot(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	collect := func(sql string) {
		rows, err := pool.Query(ctx, sql)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		out = append(out, lines...)
	}
	collect(`SELECT format('%s %s %s %s', c.relname, c.relkind, coalesce(a.attname, '-'),
		coalesce(format_type(a.atttypid, a.atttypmod), '-'))
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname = 'public' ORDER BY 1`)
	collect(`SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p
		WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1`)
	var exists bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists))
	if exists {
		collect(`SELECT format('applied %s %s %s', version, name, applied_at) FROM schema_migrations ORDER BY version`)
	}
	return out
}

func recorded(t *testing.T, pool *pgxpool.Pool) map[int]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT version, name FROM schema_migrations`)
	require.NoError(t, err)
	out := map[int]string{}
	var v int
	var name string
	_, err = pgx.ForEachRow(rows, []any{&v, &name}, func() error { out[v] = name; return nil })
	require.NoError(t, err)
	return out
}

func TestAllIsOrderedAndNamed(t *testing.T) {
	t.Parallel()
	list, err := All()
	require.NoError(t, err)
	require.NotEmpty(t, list)
	re := regexp.MustCompile(`^[a-z0-9_]+$`)
	for i, m := range list {
		require.Equal(t, i+1, m.Version, "migrations are numbered 1, 2, 3... without gaps")
		require.Regexp(t, re, m.Name)
		require.NotEmpty(t, strings.TrimSpace(m.SQL))
	}
}

func TestUpFromEmptyThenAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	list, err := All()
	require.NoError(t, err)

	before, err := Status(ctx, pool)
	require.NoError(t, err)
	require.Len(t, before, len(list))
	for _, a := range before {
		require.Nil(t, a.AppliedAt, "migration %d applied on an empty database", a.Version)
	}

	start := time.Now()
	n, err := Up(ctx, pool, quiet)
	require.NoError(t, err)
	require.Equal(t, len(list), n)

	want := map[int]string{}
	for _, m := range list {
		want[m.Version] = m.Name
	}
	require.Equal(t, want, recorded(t, pool))

	after, err := Status(ctx, pool)
	require.NoError(t, err)
	require.Len(t, after, len(list))
	for i, a := range after {
		require.Equal(t, list[i].Version, a.Version)
		require.NotNil(t, a.AppliedAt, "migration %d not reported applied", a.Version)
		require.WithinDuration(t, start, *a.AppliedAt, time.Minute)
	}

	for _, table := range []string{"devices", "device_host_keys", "api_tokens", "audit_log", "events",
		"device_poll_state", "system_metrics", "filesystem_metrics", "diskio_metrics", "network_metrics",
		"temperature_metrics", "container_metrics"} {
		var ok bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok))
		require.True(t, ok, "table %s missing after Up", table)
	}

	snap := snapshot(t, pool)
	n, err = Up(ctx, pool, quiet)
	require.NoError(t, err)
	require.Zero(t, n, "a second Up applies nothing")
	require.Equal(t, snap, snapshot(t, pool), "a second Up changes nothing")

	again, err := Status(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, after, again)
}

func TestFailingMigrationLeavesSchemaAsBefore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	list, err := All()
	require.NoError(t, err)
	next := list[len(list)-1].Version + 1

	// half creates a table and an index, then fails: none of it may survive.
	half := Migration{Version: next, Name: "half", SQL: `CREATE TABLE half_done (id integer PRIMARY KEY);
		CREATE INDEX half_done_idx ON half_done (id);
		ALTER TABLE devices ADD COLUMN half_col integer;
		SELECT 1/0;`}
	good := Migration{Version: next, Name: "good", SQL: `CREATE TABLE good_one (id integer)`}
	bad := Migration{Version: next + 1, Name: "bad", SQL: `CREATE TABLE bad_one (id integer); SELECT no_such_function();`}

	t.Run("after the real migrations", func(t *testing.T) {
		t.Parallel()
		pool := newPool(t)
		_, err := Up(ctx, pool, quiet)
		require.NoError(t, err)
		before := snapshot(t, pool)

		n, err := up(ctx, pool, quiet, append(append([]Migration{}, list...), half))
		require.Error(t, err)
		require.Zero(t, n)
		require.Contains(t, err.Error(), fmt.Sprintf("%04d_half", next))
		require.Equal(t, before, snapshot(t, pool))
		require.NotContains(t, recorded(t, pool), next)
	})

	t.Run("good then bad", func(t *testing.T) {
		t.Parallel()
		pool := newPool(t)
		_, err := Up(ctx, pool, quiet)
		require.NoError(t, err)

		n, err := up(ctx, pool, quiet, append(append([]Migration{}, list...), good, bad))
		require.Error(t, err)
		require.Equal(t, 1, n, "the good migration before the failing one stays applied")
		rec := recorded(t, pool)
		require.Equal(t, "good", rec[next])
		require.NotContains(t, rec, next+1)
		var goodExists, badExists bool
		require.NoError(t, pool.QueryRow(ctx, `SELECT to_regclass('good_one') IS NOT NULL, to_regclass('bad_one') IS NOT NULL`).
			Scan(&goodExists, &badExists))
		require.True(t, goodExists)
		require.False(t, badExists)
	})

	t.Run("first migration on an empty database", func(t *testing.T) {
		t.Parallel()
		pool := newPool(t)
		n, err := up(ctx, pool, quiet, []Migration{{Version: 1, Name: "broken", SQL: `CREATE TABLE t1 (id int); SELECT 1/0`}})
		require.Error(t, err)
		require.Zero(t, n)
		// Only the (empty) bookkeeping table exists.
		snap := snapshot(t, pool)
		for _, line := range snap {
			require.True(t, strings.HasPrefix(line, "schema_migrations") || strings.HasPrefix(line, "schema_migrations_pkey"),
				"unexpected object after a failed first migration: %s", line)
		}
		require.Empty(t, recorded(t, pool))
	})
}

func TestConcurrentUpAppliesEachOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.PostgresURL(t)
	list, err := All()
	require.NoError(t, err)

	// Separate pools, like separate processes starting together.
	const runners = 3
	counts := make([]int, runners)
	errs := make([]error, runners)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range runners {
		pool, err := pgxpool.New(ctx, url)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		require.NoError(t, pool.Ping(ctx))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			counts[i], errs[i] = Up(ctx, pool, quiet)
		}()
	}
	close(start)
	wg.Wait()
	total := 0
	for i := range runners {
		require.NoError(t, errs[i])
		total += counts[i]
	}
	require.Equal(t, len(list), total, "each migration applied exactly once across runners")

	pool := newPoolFor(t, url)
	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows))
	require.Equal(t, len(list), rows)
}

func newPoolFor(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// metricTables lists the partitioned time-series tables.
func metricTables(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT c.relname FROM pg_partitioned_table p
		JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname LIKE '%\_metrics' ORDER BY 1`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// poolInZone returns a pool on a fresh database whose sessions use time zone tz, to show that partitioning follows
// UTC days whatever the server's or client's zone.
func poolInZone(t *testing.T, tz string) *pgxpool.Pool {
	t.Helper()
	return newPoolFor(t, testenv.PostgresURL(t)+"&timezone="+tz)
}

func TestEnsurePartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := poolInZone(t, "Pacific/Kiritimati") // UTC+14: its date differs from UTC's half the day
	_, err := Up(ctx, pool, quiet)
	require.NoError(t, err)
	tables := metricTables(t, pool)
	require.Subset(t, tables, []string{"container_poll_metrics", "system_metrics"})

	// A range far from the one the migration prepared: the first day plus 3 = 4 partitions per table.
	from := time.Now().UTC().AddDate(0, 0, 40).Truncate(24 * time.Hour)
	ensure := func(days int) int {
		var created int
		require.NoError(t, pool.QueryRow(ctx, `SELECT infra_ensure_partitions($1::date, $2)`,
			from.Format("2006-01-02"), days).Scan(&created))
		return created
	}
	require.Equal(t, 4*len(tables), ensure(3))
	require.Zero(t, ensure(3), "a second call creates nothing")
	require.Equal(t, len(tables), ensure(4), "an overlapping range creates only the new day")

	for _, table := range tables {
		for day := range 5 {
			part := fmt.Sprintf("%s_p%s", table, from.AddDate(0, 0, day).Format("20060102"))
			var parent string
			require.NoError(t, pool.QueryRow(ctx, `SELECT i.inhparent::regclass::text FROM pg_inherits i
				WHERE i.inhrelid = to_regclass($1)`, part).Scan(&parent), "partition %s missing", part)
			require.Equal(t, table, parent)
		}
	}
	// The last microsecond of a UTC day lands in that day's partition, midnight UTC in the next one.
	last := from.Add(24*time.Hour - time.Microsecond)
	_, err = pool.Exec(ctx, `INSERT INTO system_metrics (device_id, time, cpu_pct)
		VALUES (gen_random_uuid(), $1, 40), (gen_random_uuid(), $2, 41)`, last, last.Add(time.Microsecond))
	require.NoError(t, err)
	rows, err := pool.Query(ctx, `SELECT tableoid::regclass::text FROM system_metrics ORDER BY time`)
	require.NoError(t, err)
	parts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"system_metrics_p" + from.Format("20060102"),
		"system_metrics_p" + from.AddDate(0, 0, 1).Format("20060102")}, parts)
}

func TestConcurrentEnsurePartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	_, err := Up(ctx, pool, quiet)
	require.NoError(t, err)
	from := time.Now().UTC().AddDate(0, 0, 60).Format("2006-01-02")
	created := make([]int, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range created {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pool.QueryRow(ctx, `SELECT infra_ensure_partitions($1::date, 2)`, from).Scan(&created[i])
		}()
	}
	wg.Wait()
	total := 0
	for i := range created {
		require.NoError(t, errs[i])
		total += created[i]
	}
	require.Equal(t, 3*len(metricTables(t, pool)), total)
}

// TestTodaysSampleFitsEveryMetricsTable inserts a row for now into every time-series table, filling the columns
// that must not be null by their type, so a new table without today's partition fails here.
func TestTodaysSampleFitsEveryMetricsTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tz := range []string{"UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"} {
		t.Run(tz, func(t *testing.T) {
			t.Parallel()
			pool := poolInZone(t, tz)
			_, err := Up(ctx, pool, quiet)
			require.NoError(t, err)
			insertSamples(t, pool)
		})
	}
}

func insertSamples(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	tables := metricTables(t, pool)
	require.NotEmpty(t, tables)
	for _, when := range []time.Time{time.Now(), time.Now().UTC().Truncate(24 * time.Hour), time.Now().UTC().Truncate(24 * time.Hour).Add(24*time.Hour - time.Millisecond)} {
		for _, table := range tables {
			rows, err := pool.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
				WHERE table_name = $1 AND is_nullable = 'NO' ORDER BY ordinal_position`, table)
			require.NoError(t, err)
			type col struct{ Name, Type string }
			cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[col])
			require.NoError(t, err)
			var names, values []string
			args := []any{when}
			for _, c := range cols {
				names = append(names, pgx.Identifier{c.Name}.Sanitize())
				switch {
				case c.Name == "time":
					values = append(values, "$1")
				case c.Type == "uuid":
					values = append(values, "gen_random_uuid()")
				case c.Type == "text":
					values = append(values, "'x'")
				default:
					values = append(values, "1")
				}
			}
			_, err = pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s)`, pgx.Identifier{table}.Sanitize(),
				strings.Join(names, ", "), strings.Join(values, ", ")), args...)
			require.NoError(t, err, "insert a sample at %s into %s", when, table)
		}
	}
}
