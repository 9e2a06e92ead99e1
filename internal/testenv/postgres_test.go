package testenv

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestPostgresURLGivesEmptyDatabase(t *testing.T) {
	t.Parallel()
	conn := connect(t, PostgresURL(t))
	ctx := context.Background()

	var tables int
	require.NoError(t, conn.QueryRow(ctx,
		`SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`).Scan(&tables))
	require.Zero(t, tables)

	var user string
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_user`).Scan(&user))
	require.Equal(t, "infrastructor", user, "the role the product's default URL uses")
}

func TestPostgresURLIsolatesTests(t *testing.T) {
	t.Parallel()
	urlA, urlB := PostgresURL(t), PostgresURL(t)
	require.NotEqual(t, urlA, urlB)
	a, b := connect(t, urlA), connect(t, urlB)
	ctx := context.Background()

	_, err := a.Exec(ctx, `CREATE TABLE only_in_a (x int)`)
	require.NoError(t, err)
	var exists bool
	require.NoError(t, b.QueryRow(ctx, `SELECT to_regclass('only_in_a') IS NOT NULL`).Scan(&exists))
	require.False(t, exists, "a table made in one test database is visible in another")

	var nameA, nameB string
	require.NoError(t, a.QueryRow(ctx, `SELECT current_database()`).Scan(&nameA))
	require.NoError(t, b.QueryRow(ctx, `SELECT current_database()`).Scan(&nameB))
	require.NotEqual(t, nameA, nameB)
	require.True(t, strings.HasPrefix(nameA, "t_testpostgresurlisolatestests_"), nameA)
}

// TestPostgresURLDropsDatabaseAfterTest checks the cleanup, including with a connection the subtest left open.
func TestPostgresURLDropsDatabaseAfterTest(t *testing.T) {
	var dbURL string
	t.Run("user", func(t *testing.T) {
		dbURL = PostgresURL(t)
		conn, err := pgx.Connect(context.Background(), dbURL)
		require.NoError(t, err)
		_ = conn // deliberately left open: the drop must terminate it
	})
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	name := strings.TrimPrefix(u.Path, "/")

	u.Path = "/postgres"
	admin := connect(t, u.String())
	var n int
	require.NoError(t, admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n))
	require.Zero(t, n, "database %s still exists after its test ended", name)
}

func TestWithDatabase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:p@h:5432/postgres?sslmode=disable", "postgres://u:p@h:5432/t_x?sslmode=disable"},
		{"postgres://u@h:5432?sslmode=disable", "postgres://u@h:5432/t_x?sslmode=disable"},
		{"postgresql://u@h/", "postgresql://u@h/t_x"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := withDatabase(tc.in, "t_x")
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
