package activities

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
)

// TestAwaitDBOutlastsAnOutage: a statement that fails because PostgreSQL is unreachable is repeated until it
// succeeds; any other failure is returned at once.
func TestAwaitDBOutlastsAnOutage(t *testing.T) {
	t.Parallel()
	// A real refused connection, as while PostgreSQL restarts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	pool, err := pgxpool.New(context.Background(), "postgres://infrastructor@"+addr+"/x?sslmode=disable")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, refused := pool.Exec(context.Background(), "SELECT 1")
	require.Error(t, refused)
	require.True(t, store.Unavailable(refused), "a refused connection is an outage: %v", refused)

	calls := 0
	err = awaitDB(context.Background(), func(context.Context) error {
		calls++
		if calls < 3 {
			return fmt.Errorf("load device: %w", refused)
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 3, calls)

	calls = 0
	notFound := awaitDB(context.Background(), func(context.Context) error { calls++; return store.ErrNotFound })
	require.ErrorIs(t, notFound, store.ErrNotFound)
	require.Equal(t, 1, calls)

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = awaitDB(ctx, func(context.Context) error { return refused })
	require.True(t, store.Unavailable(err))
	require.Less(t, time.Since(start), 5*time.Second, "the wait ends with the context")
}

func TestStoreUnavailableClasses(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "53100"}, false}, // disk full: waiting does not help within an activity
		{&pgconn.PgError{Code: "23505"}, false},
		{errors.New("boom"), false},
		{context.DeadlineExceeded, false},
	} {
		require.Equal(t, tt.want, store.Unavailable(tt.err), "%v", tt.err)
	}
}
