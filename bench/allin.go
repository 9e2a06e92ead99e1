package bench

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5/pgxpool"
)

// dbBytes is what PostgreSQL holds and has logged at one moment.
type dbBytes struct {
	// Relations is pg_total_relation_size (heap, indexes, TOAST) summed over every table of the product's schema,
	// partitions included (a partitioned parent holds no storage of its own).
	Relations int64
	// WAL is the current WAL position in bytes; differences are the WAL generated in between.
	WAL int64
	// Tables is Relations per table, a partition counted under its partitioned parent.
	Tables map[string]int64
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
	rows, err := db.Query(ctx, `SELECT coalesce(p.relname, c.relname)::text, sum(pg_total_relation_size(c.oid))::bigint
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_inherits i ON i.inhrelid = c.oid LEFT JOIN pg_class p ON p.oid = i.inhparent
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind IN ('r', 'm')
		GROUP BY 1`)
	if err != nil {
		return b, fmt.Errorf("table sizes: %w", err)
	}
	defer rows.Close()
	b.Tables = map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return b, err
		}
		b.Tables[name] = n
	}
	return b, rows.Err()
}

// TableGrowth is one table's growth over the window, per poll.
type TableGrowth struct {
	Table        string  `json:"table"`
	BytesPerPoll float64 `json:"bytes_per_poll"`
}

// tableGrowth lists the tables that grew over the window, most first, at most n, in bytes per poll: where the
// table bytes per poll went.
func tableGrowth(before, after dbBytes, polls int64, n int) []TableGrowth {
	if polls <= 0 {
		return nil
	}
	var out []TableGrowth
	for name, size := range after.Tables {
		if d := size - before.Tables[name]; d > 0 {
			out = append(out, TableGrowth{Table: name, BytesPerPoll: float64(d) / float64(polls)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].BytesPerPoll != out[j].BytesPerPoll {
			return out[i].BytesPerPoll > out[j].BytesPerPoll
		}
		return out[i].Table < out[j].Table
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
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
