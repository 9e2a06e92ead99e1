package bench

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// dbBytes is what PostgreSQL holds and has logged at one moment.
type dbBytes struct {
	// Relations is pg_total_relation_size (heap, indexes, TOAST) summed over every table of the product's schema,
	// partitions included (a partitioned parent holds no storage of its own).
	Relations int64
	// WAL is the current WAL position in bytes; differences are the WAL generated in between.
	WAL int64
}

// readDBBytes reads the product's relation sizes and the WAL position in one statement, so both describe the same
// moment.
func readDBBytes(ctx context.Context, db *pgxpool.Pool) (dbBytes, error) {
	var b dbBytes
	err := db.QueryRow(ctx, `SELECT
		(SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind IN ('r', 'm')),
		pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint`).Scan(&b.Relations, &b.WAL)
	if err != nil {
		return b, fmt.Errorf("database size: %w", err)
	}
	return b, nil
}

// storageFigures turns the growth over a window into bytes per poll and MB per device-day at the given interval:
// a device polled every interval makes 86400/interval polls a day.
func storageFigures(before, after dbBytes, polls int64, intervalSec float64) (tablePerPoll, walPerPoll, tableDayMB, walDayMB float64) {
	if polls <= 0 || intervalSec <= 0 {
		return 0, 0, 0, 0
	}
	tablePerPoll = float64(after.Relations-before.Relations) / float64(polls)
	walPerPoll = float64(after.WAL-before.WAL) / float64(polls)
	perDay := 86400 / intervalSec
	return tablePerPoll, walPerPoll, tablePerPoll * perDay / 1e6, walPerPoll * perDay / 1e6
}

// ratio is a/b, or 0 when b is not positive.
func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}
