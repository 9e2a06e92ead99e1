package store

import (
	"github.com/jackc/pgx/v5"
)

// scanRows reads every row of a query with scan, through pgx.AppendRows, and closes the rows. It is the one way
// the store turns a result set into a slice: pass it the Query's rows and error as they are. No rows give a nil
// slice (JSON null), as the hand-written loops it replaces did; a caller that promises [] says so itself.
func scanRows[T any](scan func(pgx.Row) (T, error), rows pgx.Rows, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return pgx.AppendRows([]T(nil), rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
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
