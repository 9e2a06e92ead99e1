package testenv

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// templatePrepareTimeout bounds filling a template database (all migrations on a loaded machine).
const templatePrepareTimeout = 3 * time.Minute

// pgTemplate is one template database of this test binary.
type pgTemplate struct {
	once sync.Once
	name string
	err  error
}

var (
	templatesMu sync.Mutex
	templates   = map[string]*pgTemplate{}
)

// PostgresURLFromTemplate returns the URL of a new database that belongs to this test alone, dropped when the test
// ends, and starts as a copy of a template database. The template is made once per test binary and key: an empty
// database on the same server as PostgresURL's, handed to prepare (which gets its URL and must close every
// connection it opens), then closed to connections, so copying it with CREATE DATABASE ... TEMPLATE never meets
// "source database is being accessed by other users". Its name is unique to this process, so test binaries
// sharing an INFRA_TEST_DATABASE_URL server do not collide; Main drops it.
//
// A failed prepare fails every test that asks for the same key.
func PostgresURLFromTemplate(t testing.TB, key string, prepare func(ctx context.Context, dbURL string) error) string {
	t.Helper()
	admin := postgresAdmin(t)
	templatesMu.Lock()
	tpl, ok := templates[key]
	if !ok {
		tpl = &pgTemplate{}
		templates[key] = tpl
	}
	templatesMu.Unlock()
	tpl.once.Do(func() { tpl.name, tpl.err = makeTemplate(t, admin, key, prepare) })
	if tpl.err != nil {
		t.Fatalf("testenv: template database %q: %v", key, tpl.err)
	}
	return newDatabase(t, admin, tpl.name)
}

// makeTemplate creates, fills and closes the template database for key.
func makeTemplate(t testing.TB, admin, key string, prepare func(ctx context.Context, dbURL string) error) (string, error) {
	name := fmt.Sprintf("tpl_%s_%d_%s", sanitizeName(key, 30), os.Getpid(), randomHex(t, 4))
	quoted := pgx.Identifier{name}.Sanitize()
	dbURL, err := withDatabase(admin, name)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), templatePrepareTimeout)
	defer cancel()
	if err := adminExec(ctx, admin, "CREATE DATABASE "+quoted); err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return adminExec(ctx, admin, "DROP DATABASE IF EXISTS "+quoted+" WITH (FORCE)")
	}
	if err := prepare(ctx, dbURL); err != nil {
		_ = drop()
		return "", fmt.Errorf("prepare %s: %w", name, err)
	}
	// No session may stay in the template, or every copy fails; refusing connections also keeps a stray test from
	// changing what the next tests start from. WITH (FORCE) on the drop still works.
	if err := adminExec(ctx, admin, "ALTER DATABASE "+quoted+" WITH ALLOW_CONNECTIONS false"); err != nil {
		_ = drop()
		return "", fmt.Errorf("close %s to connections: %w", name, err)
	}
	if err := waitNoSessions(ctx, admin, name); err != nil {
		_ = drop()
		return "", err
	}
	registerStop("template database "+name, drop)
	return name, nil
}

// waitNoSessions waits until no backend is connected to database name: a client's Close returns before the server
// has ended the session, and a copy started meanwhile would fail.
func waitNoSessions(ctx context.Context, admin, name string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect %s: %w", redact(admin), err)
	}
	defer conn.Close(context.Background())
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, name).Scan(&n); err != nil {
			return fmt.Errorf("count sessions of %s: %w", name, err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d sessions still connected to %s: %w", n, name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
