package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// The worker's and the API's connections carry distinct application names, so PostgreSQL's CPU can be split by
// client (pg_stat_activity) — the bench reports the API's share apart from the polls'.
func TestPoolApplicationNamePerRole(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{DatabaseURL: testenv.PostgresURL(t)}
	for roles, want := range map[role]string{
		roleWorker:                         "infrastructor-worker",
		roleAPI:                            "infrastructor-api",
		roleAPI | roleWorker | roleMigrate: "infrastructor",
		roleMigrate:                        "infrastructor-migrate",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		pool, err := openDB(ctx, cfg, roles)
		require.NoError(t, err)
		var got string
		err = pool.QueryRow(ctx, `SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()`).Scan(&got)
		pool.Close()
		cancel()
		require.NoError(t, err)
		require.Equal(t, want, got, "roles %b", roles)
	}
}
