// Package timescale runs Infrastructor on TimescaleDB, the database docker-compose.yaml deploys: a PostgreSQL
// cluster of each test's own that preloads the timescaledb extension (as the timescale/timescaledb image does),
// with the database owned by a role that is not a superuser (as on managed databases). It covers the migrations,
// the poll path, housekeeping (rollups and retention), metric queries through the API, compressed chunks, and the
// upgrade of an installation made on plain PostgreSQL.
//
// The extension must be installed in the local PostgreSQL (../shared/timescaledb/install.sh). Without it the
// suite skips, except in CI (CI=true), where that is a failure.
package timescale

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/devicesim"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// metricTables are the time-series tables, which become hypertables on TimescaleDB. Since migration 0020 the
// per-filesystem, disk, interface, sensor and container samples are arrays in system_metrics and
// container_poll_metrics; filesystem_metrics and the others are views over them (sampleViews).
var metricTables = []string{"system_metrics", "container_poll_metrics", "drive_metrics", "pool_metrics"}

// sampleViews are the per-entity views every reader reads (migration 0020).
var sampleViews = []string{"filesystem_metrics", "diskio_metrics", "network_metrics", "temperature_metrics",
	"container_metrics"}

// pollInterval is the shortest the API accepts.
const pollInterval = 5 * time.Second

// requireTimescaleDB skips the test when the extension is not installed, or fails it in CI.
func requireTimescaleDB(t *testing.T) {
	t.Helper()
	ok, err := testenv.PostgresExtensionInstalled("timescaledb")
	require.NoError(t, err)
	if ok {
		return
	}
	const msg = "TimescaleDB is not installed in the local PostgreSQL; install it with ../shared/timescaledb/install.sh (as root, about a minute)"
	if ci, err := strconv.ParseBool(os.Getenv("CI")); err == nil && ci {
		t.Fatal(msg + ": CI must install it (.ci/run)")
	}
	t.Skip(msg)
}

// startCluster starts a cluster of the test's own, preloading timescaledb when preload is set. Its superuser is
// "infrastructor" (pg.URL).
func startCluster(t *testing.T, preload bool) *testenv.PGCluster {
	t.Helper()
	opts := testenv.PGClusterOptions{}
	if preload {
		opts.Settings = timescaleSettings
	}
	return testenv.StartPGCluster(t, opts)
}

// timescaleSettings load the extension as the timescale/timescaledb image configures it, without telemetry.
var timescaleSettings = []string{"shared_preload_libraries=timescaledb", "timescaledb.telemetry_level=off"}

// ownerDatabase creates a role that can log in and nothing more (no superuser, no pg_read_all_settings) and a
// database it owns, as a managed PostgreSQL service hands out, and returns the database's URL as that role.
func ownerDatabase(t *testing.T, pg *testenv.PGCluster, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, pg.URL("postgres"))
	require.NoError(t, err)
	defer admin.Close(context.Background())
	role := pgx.Identifier{name + "_owner"}.Sanitize()
	_, err = admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" OWNER "+role)
	require.NoError(t, err)
	return fmt.Sprintf("postgres://%s_owner@127.0.0.1:%d/%s?sslmode=disable", name, pg.Port(), name)
}

// openPool opens a pool closed when the test ends.
func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// requireNotPrivileged checks that the pool's role is what a managed database's owner is: no superuser, and
// shared_preload_libraries is hidden from it.
func requireNotPrivileged(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	var super, readAll bool
	require.NoError(t, db.QueryRow(context.Background(), `SELECT rolsuper, pg_has_role(current_user, 'pg_read_all_settings', 'USAGE')
		FROM pg_roles WHERE rolname = current_user`).Scan(&super, &readAll))
	require.False(t, super)
	require.False(t, readAll)
	_, err := db.Exec(context.Background(), `SELECT current_setting('shared_preload_libraries')`)
	require.ErrorContains(t, err, "pg_read_all_settings", "the role must not see shared_preload_libraries")
}

// requireHypertables checks that every time-series table is a hypertable with compression and its compression
// policy, and has no retention policy of the database's own (housekeeping applies the product's retention).
func requireHypertables(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	for _, table := range metricTables {
		var compressed bool
		err := db.QueryRow(ctx, `SELECT compression_enabled FROM timescaledb_information.hypertables
			WHERE hypertable_schema = current_schema() AND hypertable_name = $1`, table).Scan(&compressed)
		require.NoError(t, err, "%s is not a hypertable", table)
		require.True(t, compressed, "%s: compression not enabled", table)
		var policies []string
		rows, err := db.Query(ctx, `SELECT proc_name::text FROM timescaledb_information.jobs WHERE hypertable_name = $1 ORDER BY 1`, table)
		require.NoError(t, err)
		policies, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, []string{"policy_compression"}, policies, table)
		var partitioned bool
		require.NoError(t, db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = $1::regclass)`,
			table).Scan(&partitioned))
		require.False(t, partitioned, table)
	}
}

// requirePartitioned checks that every time-series table is a range-partitioned table of plain PostgreSQL.
func requirePartitioned(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	for _, table := range metricTables {
		var partitioned bool
		require.NoError(t, db.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = $1::regclass)`,
			table).Scan(&partitioned))
		require.True(t, partitioned, "%s is not range-partitioned", table)
	}
}

// fleet is a whole Infrastructor (worker and API in this process) on a given database, polling simulated devices.
type fleet struct {
	*teststack.Stack
	t       *testing.T
	Devices []uuid.UUID
}

// startFleet starts the stack on dbURL (migrating it) and registers n simulated devices with two containers
// each, polled every pollInterval.
func startFleet(t *testing.T, dbURL string, n int) *fleet {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	sim, err := devicesim.New(devicesim.Config{Devices: n, Seed: t.Name(), AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()},
		Containers: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	st := teststack.Start(t, teststack.WithDatabase(dbURL), teststack.WithSigners(signer),
		teststack.WithSSHTimeouts(5*time.Second, 20*time.Second), teststack.WithLogLevel(slog.LevelError),
		teststack.WithTokenPrefix("timescale"), teststack.WithConfig(func(c *config.Config) { c.RequestTimeout = 10 * time.Second }))
	f := &fleet{Stack: st, t: t}
	for _, d := range sim.Devices() {
		var out struct {
			ID uuid.UUID `json:"id"`
		}
		// 503 says nothing was changed and to retry (Temporal is slow to start the poll loop on a loaded machine).
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			code, raw, err := st.Request(t, "POST", "/api/v1/devices", map[string]any{"name": fmt.Sprintf("ts-%02d", d.Index()),
				"host": "127.0.0.1", "port": d.Port(), "user": "root", "poll_interval": pollInterval.String(),
				"host_key_policy": "trust_first_use"})
			require.NoError(c, err)
			if code == http.StatusServiceUnavailable {
				require.Fail(c, "retry", "%s", raw)
				return
			}
			require.Equal(t, http.StatusCreated, code, "%s", raw)
			require.NoError(t, json.Unmarshal(raw, &out))
		}, 2*time.Minute, time.Second)
		f.Devices = append(f.Devices, out.ID)
	}
	return f
}

// counts is the number of rows of the last day per device in table (older rows are copies a test made).
func (f *fleet) counts(ctx context.Context, table string) (map[uuid.UUID]int, error) {
	rows, err := f.DB.Query(ctx, fmt.Sprintf(`SELECT device_id, count(*) FROM %s WHERE time > now() - interval '1 day' GROUP BY 1`,
		pgx.Identifier{table}.Sanitize()))
	if err != nil {
		return nil, err
	}
	out := map[uuid.UUID]int{}
	for rows.Next() {
		var id uuid.UUID
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// waitPolled waits until every device has committed more polls (system and container samples) than in since.
func (f *fleet) waitPolled(since map[uuid.UUID]int, within time.Duration) map[uuid.UUID]int {
	f.t.Helper()
	var now map[uuid.UUID]int
	require.EventuallyWithT(f.t, func(c *assert.CollectT) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		now, err = f.counts(ctx, "system_metrics")
		require.NoError(c, err)
		containers, err := f.counts(ctx, "container_metrics")
		require.NoError(c, err)
		for i, id := range f.Devices {
			require.Greater(c, now[id], since[id], "device %d has no new poll", i)
			require.NotZero(c, containers[id], "device %d has no container samples", i)
		}
	}, within, 500*time.Millisecond, "polls did not reach every device")
	return now
}

// metricAnswer is the API's answer to a metric query.
type metricAnswer struct {
	Source string `json:"source"`
	Series []struct {
		Name   string `json:"name"`
		Label  string `json:"label"`
		Points []struct {
			Time time.Time `json:"time"`
			Avg  *float64  `json:"avg"`
		} `json:"points"`
	} `json:"series"`
}

// query asks the API for a metric of a device; it fails the test unless the answer is 200.
func (f *fleet) query(id uuid.UUID, metric, params string) metricAnswer {
	f.t.Helper()
	var out metricAnswer
	code := f.Do(f.t, "GET", "/api/v1/devices/"+id.String()+"/metrics?metric="+metric+"&"+params, nil, &out)
	require.Equal(f.t, http.StatusOK, code)
	return out
}

// values counts the points with a value per series name ("label/name" for labelled metrics).
func (a metricAnswer) values() map[string]int {
	out := map[string]int{}
	for _, s := range a.Series {
		key := s.Name
		if s.Label != "" {
			key = s.Label + "/" + s.Name
		}
		for _, p := range s.Points {
			if p.Avg != nil {
				out[key]++
			}
		}
	}
	return out
}

// columnsShifted is table's column list with time moved back by shift, for copies of polled rows into the past.
func columnsShifted(t *testing.T, db *pgxpool.Pool, table string, shift time.Duration) string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT column_name::text FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	require.NoError(t, err)
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	for i, c := range cols {
		if c == "time" {
			cols[i] = fmt.Sprintf("time - interval '%d seconds'", int(shift.Seconds()))
		} else {
			cols[i] = pgx.Identifier{c}.Sanitize()
		}
	}
	return strings.Join(cols, ", ")
}
