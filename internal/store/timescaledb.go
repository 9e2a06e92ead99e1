package store

import (
	"context"
	"fmt"
	"time"
)

// Hypertables returns the time-series tables that are TimescaleDB hypertables (migration 0003 on a server with
// TimescaleDB, or `infrastructor migrate timescaledb` later); empty on plain PostgreSQL.
func Hypertables(ctx context.Context, db DBTX) (map[string]bool, error) {
	out := map[string]bool{}
	var ts bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&ts); err != nil {
		return nil, fmt.Errorf("look for timescaledb: %w", err)
	}
	if !ts {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT hypertable_name FROM timescaledb_information.hypertables
		WHERE hypertable_schema = current_schema()
		AND (hypertable_name LIKE '%\_metrics' OR hypertable_name LIKE '%\_metrics\_v1')`)
	if err != nil {
		return nil, fmt.Errorf("list hypertables: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out[name] = true
	}
	return out, rows.Err()
}

// dropChunks drops the chunks of hypertable table that end on or before `before` (a UTC midnight, as partitions
// end), and returns their names: the same whole days that infra_drop_partitions drops on plain PostgreSQL.
func dropChunks(ctx context.Context, db DBTX, table string, before time.Time) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT drop_chunks($1::regclass, older_than => $2::timestamptz)`, table, before)
	if err != nil {
		return nil, fmt.Errorf("drop chunks of %s: %w", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}
