// Package testdb gives a test its own PostgreSQL database with every migration applied. The migrations run once
// per test binary into a template database (testenv.PostgresURLFromTemplate); each test's database is a copy of
// it, which takes a fraction of the time of migrating a fresh one.
//
// It is a package of its own, not part of testenv, because the migrations package's tests use testenv.
package testdb

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/migrations"
)

// URL returns the URL of a new database for this test alone, dropped when the test ends, with every migration
// applied. The package using it declares TestMain with testenv.Main, which drops the template at the end.
//
// With TESTDB_FRESH=1 each test's database is migrated from empty instead, as before the template existed: only
// for measuring what the template saves (see the README's Development section).
func URL(t testing.TB) string {
	t.Helper()
	if os.Getenv("TESTDB_FRESH") == "1" {
		u := testenv.PostgresURL(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := migrate(ctx, u); err != nil {
			t.Fatalf("testdb: migrate: %v", err)
		}
		return u
	}
	return testenv.PostgresURLFromTemplate(t, "migrated", migrate)
}

// Pool returns a pool on a new migrated database (see URL), closed when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, URL(t))
	if err != nil {
		t.Fatalf("testdb: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// migrate applies every migration to the template database and closes its connections.
func migrate(ctx context.Context, dbURL string) error {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = migrations.Up(ctx, pool, slog.New(slog.DiscardHandler))
	return err
}
