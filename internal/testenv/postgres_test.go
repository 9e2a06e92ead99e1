package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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

func TestPostgresURLFromTemplateCopiesPreparedDatabase(t *testing.T) {
	var prepared atomic.Int32
	var tplURL string
	prepare := func(ctx context.Context, dbURL string) error {
		prepared.Add(1)
		tplURL = dbURL
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, `CREATE TABLE seeded (x int); INSERT INTO seeded VALUES (42)`)
		return err
	}
	key := "copies-" + randomHex(t, 4)

	// Parallel copies of one template: PostgreSQL refuses a copy while anyone is connected to the template.
	var names sync.Map
	t.Run("group", func(t *testing.T) {
		for i := range 8 {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				conn := connect(t, PostgresURLFromTemplate(t, key, prepare))
				ctx := context.Background()
				var x int
				require.NoError(t, conn.QueryRow(ctx, `SELECT x FROM seeded`).Scan(&x))
				require.Equal(t, 42, x)
				// A change in one copy is not seen by the others or by the template.
				_, err := conn.Exec(ctx, `INSERT INTO seeded VALUES ($1)`, i)
				require.NoError(t, err)
				var n int
				require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM seeded`).Scan(&n))
				require.Equal(t, 2, n)
				var name string
				require.NoError(t, conn.QueryRow(ctx, `SELECT current_database()`).Scan(&name))
				_, dup := names.LoadOrStore(name, true)
				require.False(t, dup, "database %s handed out twice", name)
			})
		}
	})
	require.EqualValues(t, 1, prepared.Load(), "the template is prepared once per test binary and key")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := pgx.Connect(ctx, tplURL)
	require.Error(t, err, "the template must refuse connections once prepared")
	require.Contains(t, err.Error(), "not currently accepting connections")
}

func TestPostgresURLFromTemplateReportsPrepareFailure(t *testing.T) {
	key := "broken-" + randomHex(t, 4)
	calls := 0
	prepare := func(context.Context, string) error { calls++; return errors.New("schema exploded") }
	for i := range 2 {
		ok := t.Run(fmt.Sprint(i), func(t *testing.T) {
			ft := &fatalRecorder{TB: t}
			done := make(chan struct{})
			go func() { // Fatalf ends the goroutine, as it ends a test
				defer close(done)
				PostgresURLFromTemplate(ft, key, prepare)
			}()
			<-done
			require.Contains(t, ft.msg, "schema exploded")
		})
		require.True(t, ok)
	}
	require.Equal(t, 1, calls, "a failed prepare is not retried by the next test")
}

// fatalRecorder keeps the message of Fatalf instead of failing the real test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
