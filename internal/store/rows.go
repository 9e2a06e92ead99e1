package store

import (
	"github.com/jackc/pgx/v5"
)

// scanRows scans every row of a query with scan.
func scanRows[T any](scan func(pgx.Row) (*T, error), rows pgx.Rows, err error) ([]*T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
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
