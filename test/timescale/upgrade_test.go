package timescale

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/migrations"
)

// TestUpgradePlainInstallationToTimescaleDB follows the upgrade the README documents: an installation made on
// plain PostgreSQL (the extension installed in the server but not preloaded, the database owned by a role without
// superuser) polls for a while; the administrator preloads TimescaleDB and restarts the server; the next start
// says the tables do not use it yet; `infrastructor migrate timescaledb` converts them while the fleet keeps
// polling. Every sample is kept, and polls, queries and the conversion's idempotence hold afterwards.
func TestUpgradePlainInstallationToTimescaleDB(t *testing.T) {
	requireTimescaleDB(t)
	t.Parallel()
	pg := startCluster(t, false)
	f := startFleet(t, ownerDatabase(t, pg, "plain"), 2)
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)

	// Plain PostgreSQL: partitioned tables; the conversion refuses, saying what is missing, and changes nothing.
	requirePartitioned(t, f.DB)
	state, err := migrations.TimescaleDBStatus(ctx, f.DB)
	require.NoError(t, err)
	require.Equal(t, migrations.TimescaleDBUnavailable, state)
	_, err = migrations.ConvertToTimescaleDB(ctx, f.DB, quiet)
	require.ErrorContains(t, err, "shared_preload_libraries")
	requirePartitioned(t, f.DB)

	// History: the polls, plus copies of them an hour and three days back (other partitions).
	f.waitPolled(f.waitPolled(nil, 3*time.Minute), 2*time.Minute)
	_, err = store.EnsurePartitions(ctx, f.DB, time.Now().AddDate(0, 0, -4), 5)
	require.NoError(t, err)
	for _, table := range metricTables {
		for _, shift := range []time.Duration{time.Hour, 72 * time.Hour} {
			_, err := f.DB.Exec(ctx, fmt.Sprintf(`INSERT INTO %s SELECT %s FROM %[1]s WHERE time > now() - interval '30 minutes'`,
				pgx.Identifier{table}.Sanitize(), columnsShifted(t, f.DB, table, shift)))
			require.NoError(t, err, table)
		}
	}
	cut := time.Now().Add(-30 * time.Minute)
	before := fingerprints(t, f, cut)
	for _, table := range metricTables {
		require.NotZero(t, before[table].rows, "%s has no history to keep", table)
	}

	// The administrator preloads TimescaleDB and restarts the server.
	admin, err := pgx.Connect(ctx, pg.URL("postgres"))
	require.NoError(t, err)
	_, err = admin.Exec(ctx, `ALTER SYSTEM SET shared_preload_libraries = 'timescaledb'`)
	require.NoError(t, err)
	require.NoError(t, admin.Close(ctx))
	pg.Stop()
	pg.Start()

	// The next start migrates nothing and says how to convert.
	var logBuf syncBuffer
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		n, err := migrations.Up(ctx, f.DB, slog.New(slog.NewTextHandler(&logBuf, nil)))
		require.NoError(c, err) // the pool's connections died with the restart
		require.Zero(c, n)
	}, time.Minute, 500*time.Millisecond)
	require.Contains(t, logBuf.String(), "infrastructor migrate timescaledb")
	state, err = migrations.TimescaleDBStatus(ctx, f.DB)
	require.NoError(t, err)
	require.Equal(t, migrations.TimescaleDBAvailable, state)

	// The conversion, with the fleet polling.
	polled, err := f.counts(ctx, "system_metrics")
	require.NoError(t, err)
	converted, err := migrations.ConvertToTimescaleDB(ctx, f.DB, quiet)
	require.NoError(t, err)
	require.ElementsMatch(t, metricTables, converted)
	requireNotPrivileged(t, f.DB)
	requireHypertables(t, f.DB)
	state, err = migrations.TimescaleDBStatus(ctx, f.DB)
	require.NoError(t, err)
	require.Equal(t, migrations.TimescaleDBInUse, state)
	require.Equal(t, before, fingerprints(t, f, cut), "the conversion changed the history")

	// Polls go on into the hypertables, and the API reads old and new samples.
	f.waitPolled(polled, 2*time.Minute)
	var chunks int
	require.NoError(t, f.DB.QueryRow(ctx, `SELECT count(*) FROM show_chunks('system_metrics')`).Scan(&chunks))
	require.GreaterOrEqual(t, chunks, 2, "today's samples and the copies three days back")
	three := time.Now().Add(-72 * time.Hour)
	old := f.query(f.Devices[0], "disk", "from="+three.Add(-time.Hour).Format(time.RFC3339)+"&to="+three.Add(time.Hour).Format(time.RFC3339))
	require.Equal(t, "raw", old.Source)
	require.NotEmpty(t, old.values(), "the samples of three days ago are not readable after the conversion")
	require.NotEmpty(t, f.query(f.Devices[0], "containers", "from=10m").values())

	converted, err = migrations.ConvertToTimescaleDB(ctx, f.DB, quiet)
	require.NoError(t, err)
	require.Empty(t, converted, "a second conversion converts nothing")
}

// fingerprint is a table's rows before a time: how many, and a digest of their text.
type fingerprint struct {
	rows int
	md5  string
}

func fingerprints(t *testing.T, f *fleet, cut time.Time) map[string]fingerprint {
	t.Helper()
	out := map[string]fingerprint{}
	for _, table := range metricTables {
		var fp fingerprint
		require.NoError(t, f.DB.QueryRow(context.Background(), fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '')
			FROM %s r WHERE time < $1`, pgx.Identifier{table}.Sanitize()), cut).Scan(&fp.rows, &fp.md5))
		out[table] = fp
	}
	return out
}

// syncBuffer is a bytes.Buffer that a logger may write to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
