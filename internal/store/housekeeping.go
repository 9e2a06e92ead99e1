package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// rollupOrigin aligns every rollup bucket (hours and UTC days).
const rollupOrigin = "2000-01-01T00:00:00Z"

// RefreshHourlyRollups (re)computes the hourly rollups of every metric for the whole hours in [from, to) from the
// raw samples. It is idempotent: a bucket computed again replaces the old values, so the last, still filling
// hour can be refreshed on every run.
func RefreshHourlyRollups(ctx context.Context, db DBTX, from, to time.Time) (int64, error) {
	var total int64
	for _, metric := range MetricNames() {
		def := metricDefs[metric]
		label := "''"
		if def.label != "" {
			label = def.label
		}
		values := make([]string, 0, len(def.series))
		for _, s := range def.series {
			values = append(values, fmt.Sprintf("('%s', (%s)::float8)", s.name, s.expr))
		}
		sql := fmt.Sprintf(`INSERT INTO metric_rollups (resolution, metric, device_id, bucket, label, name, avg, min, max, count)
			SELECT '1h', $1, device_id, date_bin('1 hour', time, $4::timestamptz) AS b, %s, s.series, avg(s.v), min(s.v), max(s.v), count(s.v)
			FROM %s, LATERAL (VALUES %s) AS s(series, v)
			WHERE time >= $2 AND time < $3 AND s.v IS NOT NULL
			GROUP BY 3, 4, 5, 6
			ON CONFLICT (resolution, device_id, metric, bucket, label, name) DO UPDATE SET avg = excluded.avg,
			min = excluded.min, max = excluded.max, count = excluded.count`,
			label, def.table, strings.Join(values, ", "))
		tag, err := db.Exec(ctx, sql, metric, from.Truncate(time.Hour), to, rollupOrigin)
		if err != nil {
			return total, fmt.Errorf("hourly rollup of %s: %w", metric, err)
		}
		total += tag.RowsAffected()
	}
	return total, nil
}

// RefreshDailyRollups (re)computes the daily rollups for the UTC days in [from, to) from the hourly ones: the
// average is weighted by sample count, so it equals the average of the raw samples.
func RefreshDailyRollups(ctx context.Context, db DBTX, from, to time.Time) (int64, error) {
	tag, err := db.Exec(ctx, `INSERT INTO metric_rollups (resolution, metric, device_id, bucket, label, name, avg, min, max, count)
		SELECT '1d', metric, device_id, date_bin('1 day', bucket, $3::timestamptz) AS b, label, name,
			sum(avg * count) / sum(count), min(min), max(max), sum(count)
		FROM metric_rollups WHERE resolution = '1h' AND bucket >= $1 AND bucket < $2
		GROUP BY metric, device_id, b, label, name
		ON CONFLICT (resolution, device_id, metric, bucket, label, name) DO UPDATE SET avg = excluded.avg,
		min = excluded.min, max = excluded.max, count = excluded.count`,
		from.UTC().Truncate(24*time.Hour), to, rollupOrigin)
	if err != nil {
		return 0, fmt.Errorf("daily rollup: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Retention says how long each kind of data is kept.
type Retention struct {
	Metrics          time.Duration // raw host metrics
	ContainerMetrics time.Duration
	HourlyRollups    time.Duration
	DailyRollups     time.Duration
	Events           time.Duration
	Audit            time.Duration
}

// DefaultRetention is used where configuration says nothing.
var DefaultRetention = Retention{
	Metrics:          30 * 24 * time.Hour,
	ContainerMetrics: 30 * 24 * time.Hour,
	HourlyRollups:    400 * 24 * time.Hour,
	DailyRollups:     5 * 366 * 24 * time.Hour,
	Events:           366 * 24 * time.Hour,
	Audit:            366 * 24 * time.Hour,
}

// PruneResult lists what ApplyRetention removed.
type PruneResult struct {
	// DroppedPartitions names the daily partitions dropped, or the chunks on TimescaleDB.
	DroppedPartitions []string `json:"dropped_partitions"`
	DeletedRows       int64    `json:"deleted_rows"`
}

// ApplyRetention drops daily partitions (chunks of hypertables on TimescaleDB) that end before their table's
// retention and deletes older events, audit records and rollups. Whole partitions are dropped, so a day's samples
// go together and no table is rewritten.
func ApplyRetention(ctx context.Context, db DBTX, now time.Time, r Retention) (*PruneResult, error) {
	out := &PruneResult{DroppedPartitions: []string{}}
	// The _v1 tables hold the samples written before migration 0020 and are emptied by this retention.
	tables := map[string]time.Duration{"system_metrics": r.Metrics, "container_poll_metrics": r.ContainerMetrics,
		"drive_metrics": r.Metrics, "pool_metrics": r.Metrics, "filesystem_metrics_v1": r.Metrics,
		"diskio_metrics_v1": r.Metrics, "network_metrics_v1": r.Metrics, "temperature_metrics_v1": r.Metrics,
		"container_metrics_v1": r.ContainerMetrics}
	hyper, err := Hypertables(ctx, db)
	if err != nil {
		return out, err
	}
	for _, table := range []string{"system_metrics", "container_poll_metrics", "drive_metrics", "pool_metrics",
		"filesystem_metrics_v1", "diskio_metrics_v1", "network_metrics_v1", "temperature_metrics_v1",
		"container_metrics_v1"} {
		before := now.Add(-tables[table]).UTC().Format("2006-01-02")
		if hyper[table] {
			day, _ := time.Parse("2006-01-02", before)
			chunks, err := dropChunks(ctx, db, table, day)
			if err != nil {
				return out, err
			}
			out.DroppedPartitions = append(out.DroppedPartitions, chunks...)
			continue
		}
		rows, err := db.Query(ctx, `SELECT infra_drop_partitions($1, $2::date)`, table, before)
		if err != nil {
			return out, fmt.Errorf("drop partitions of %s: %w", table, err)
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return out, err
			}
			out.DroppedPartitions = append(out.DroppedPartitions, name)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return out, err
		}
	}
	// The names samples refer to (migration 0020) go a day after the last partition that could hold such a sample.
	n, err := pruneLabels(ctx, db, now.Add(-max(r.Metrics, r.ContainerMetrics)).AddDate(0, 0, -1))
	if err != nil {
		return out, err
	}
	out.DeletedRows += n
	for _, d := range []struct {
		sql string
		age time.Duration
	}{
		{`DELETE FROM events WHERE time < $1`, r.Events},
		{`DELETE FROM audit_log WHERE time < $1`, r.Audit},
		{`DELETE FROM metric_rollups WHERE resolution = '1h' AND bucket < $1`, r.HourlyRollups},
		{`DELETE FROM metric_rollups WHERE resolution = '1d' AND bucket < $1`, r.DailyRollups},
	} {
		tag, err := db.Exec(ctx, d.sql, now.Add(-d.age))
		if err != nil {
			return out, err
		}
		out.DeletedRows += tag.RowsAffected()
	}
	return out, nil
}
