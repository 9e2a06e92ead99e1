package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// scanRows reads every row of a query with scan, through pgx.AppendRows, and closes the rows. Pass it the Query's
// rows and error as they are. No rows give a nil slice (JSON null), as the hand-written loops it replaces did; a
// list the API returns as it is reads through collect instead, which promises [].
func scanRows[T any](scan func(pgx.Row) (T, error), rows pgx.Rows, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return pgx.AppendRows([]T(nil), rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
}

// collect runs a query and reads every row with scan through pgx.CollectRows. No rows give an empty slice (JSON
// []); errors are mapped to the store's sentinels.
func collect[T any](ctx context.Context, db DBTX, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// getOne runs a query for one row and reads it with scan; no row is ErrNotFound.
func getOne[T any](ctx context.Context, db DBTX, scan pgx.RowToFunc[T], sql string, args ...any) (*T, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	v, err := pgx.CollectExactlyOneRow(rows, scan)
	if err != nil {
		return nil, mapErr(err)
	}
	return &v, nil
}

func execOne(tag interface{ RowsAffected() int64 }, err error) error {
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
