package timescale

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/migrations"
)

// TestMigrationsOnTimescaleDB: on a server that preloads TimescaleDB the migrations make the time-series tables
// hypertables with compression, whether the database owner is a superuser or not (a managed database, where the
// owner cannot read shared_preload_libraries).
func TestMigrationsOnTimescaleDB(t *testing.T) {
	requireTimescaleDB(t)
	t.Parallel()
	pg := startCluster(t, true)
	log := slog.New(slog.DiscardHandler)

	for _, tc := range []struct {
		name string
		url  func() string
	}{
		{"owner without superuser", func() string { return ownerDatabase(t, pg, "managed") }},
		{"superuser", func() string { return pg.CreateDatabase("superuser") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			db := openPool(t, tc.url())
			if tc.name != "superuser" {
				requireNotPrivileged(t, db)
			}
			n, err := migrations.Up(ctx, db, log)
			require.NoError(t, err)
			all, err := migrations.All()
			require.NoError(t, err)
			require.Equal(t, len(all), n)

			var version string
			require.NoError(t, db.QueryRow(ctx, `SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`).Scan(&version))
			require.Equal(t, "2.17.2", version)
			requireHypertables(t, db)
			state, err := migrations.TimescaleDBStatus(ctx, db)
			require.NoError(t, err)
			require.Equal(t, migrations.TimescaleDBInUse, state)

			// Nothing left to convert, and a second run applies nothing.
			converted, err := migrations.ConvertToTimescaleDB(ctx, db, log)
			require.NoError(t, err)
			require.Empty(t, converted)
			n, err = migrations.Up(ctx, db, log)
			require.NoError(t, err)
			require.Zero(t, n)
		})
	}

	// A role that may create tables in the schema but not extensions in the database keeps partitioned tables
	// instead of failing the start; the conversion then says what is missing.
	t.Run("role without CREATE on the database", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		pg.CreateDatabase("tablesonly")
		admin := openPool(t, pg.URL("tablesonly"))
		_, err := admin.Exec(ctx, `CREATE ROLE tables_only LOGIN; GRANT USAGE, CREATE ON SCHEMA public TO tables_only`)
		require.NoError(t, err)
		db := openPool(t, fmt.Sprintf("postgres://tables_only@127.0.0.1:%d/tablesonly?sslmode=disable", pg.Port()))
		_, err = migrations.Up(ctx, db, log)
		require.NoError(t, err)
		requirePartitioned(t, db)
		state, err := migrations.TimescaleDBStatus(ctx, db)
		require.NoError(t, err)
		require.Equal(t, migrations.TimescaleDBAvailable, state)
		_, err = migrations.ConvertToTimescaleDB(ctx, db, log)
		require.ErrorContains(t, err, "permission denied")
		requirePartitioned(t, db)
	})
}
