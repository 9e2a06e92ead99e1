// Package store holds every SQL query of Infrastructor. Functions take a DBTX so callers choose a pool or a
// transaction; errors are mapped to the sentinels below so callers never inspect SQL errors.
package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DBTX is what queries need: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// TxStarter is a DBTX that can also begin transactions (a pool or a connection).
type TxStarter interface {
	DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique key (such as a device name) is already taken.
	ErrConflict = errors.New("already exists")
)

func mapErr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505": // unique_violation
			return ErrConflict
		case "23503": // foreign_key_violation: the referenced row is gone
			return ErrNotFound
		case "22P02": // invalid_text_representation, e.g. a malformed UUID
			return ErrNotFound
		}
	}
	return err
}
