package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// seriesDef is one value a metric query returns per bucket.
type seriesDef struct {
	name, expr, unit string
}

// metricDef says where a metric lives and which values it has. label is the column that splits it into one
// series per mount, interface, disk or sensor ("" for device-wide metrics).
type metricDef struct {
	table, label string
	series       []seriesDef
}

// Metrics lists every metric the query API serves, by name.
var metricDefs = map[string]metricDef{
	"cpu": {table: "system_metrics", series: []seriesDef{
		{"usage_percent", "cpu_pct", "percent"}, {"iowait_percent", "cpu_iowait_pct", "percent"},
		{"steal_percent", "cpu_steal_pct", "percent"}}},
	// Per core: the system row's array, one series per core named by its position (cpu0, cpu1, ...).
	"cpu_cores": {table: `(SELECT s.device_id, s.time, 'cpu' || (c.i - 1) AS core, c.pct FROM system_metrics s,
		unnest(s.cpu_cores) WITH ORDINALITY AS c(pct, i)) AS cores`, label: "core", series: []seriesDef{
		{"usage_percent", "pct", "percent"}}},
	"memory": {table: "system_metrics", series: []seriesDef{
		{"used_percent", "100.0 * mem_used / nullif(mem_total, 0)", "percent"}, {"used_bytes", "mem_used", "bytes"},
		{"available_bytes", "mem_available", "bytes"}, {"total_bytes", "mem_total", "bytes"},
		{"swap_used_bytes", "swap_used", "bytes"}, {"swap_used_percent", "100.0 * swap_used / nullif(swap_total, 0)", "percent"}}},
	"load": {table: "system_metrics", series: []seriesDef{
		{"load1", "load1", "load"}, {"load5", "load5", "load"}, {"load15", "load15", "load"},
		{"processes", "procs", "count"}, {"uptime_seconds", "uptime_s", "seconds"}}},
	"disk": {table: "filesystem_metrics", label: "mountpoint", series: []seriesDef{
		{"used_percent", "100.0 * used_bytes / nullif(used_bytes + avail_bytes, 0)", "percent"},
		{"used_bytes", "used_bytes", "bytes"}, {"size_bytes", "size_bytes", "bytes"},
		{"inodes_used_percent", "100.0 * inodes_used / nullif(inodes_total, 0)", "percent"}}},
	"network": {table: "network_metrics", label: "iface", series: []seriesDef{
		{"rx_bytes_per_sec", "rx_bps", "bytes/s"}, {"tx_bytes_per_sec", "tx_bps", "bytes/s"},
		{"rx_packets_per_sec", "rx_pps", "packets/s"}, {"tx_packets_per_sec", "tx_pps", "packets/s"},
		{"rx_errors_per_sec", "rx_errs_ps", "errors/s"}, {"tx_errors_per_sec", "tx_errs_ps", "errors/s"},
		{"rx_drops_per_sec", "rx_drop_ps", "drops/s"}, {"tx_drops_per_sec", "tx_drop_ps", "drops/s"}}},
	"diskio": {table: "diskio_metrics", label: "disk", series: []seriesDef{
		{"read_bytes_per_sec", "read_bps", "bytes/s"}, {"write_bytes_per_sec", "write_bps", "bytes/s"},
		{"read_iops", "read_iops", "ops/s"}, {"write_iops", "write_iops", "ops/s"}, {"util_percent", "util_pct", "percent"}}},
	"temperature": {table: "temperature_metrics", label: "sensor", series: []seriesDef{
		{"celsius", "celsius", "celsius"}}},
	"containers": {table: "container_metrics", label: "name", series: []seriesDef{
		{"cpu_percent", "cpu_pct", "percent of one core"}, {"memory_used_bytes", "mem_used", "bytes"},
		{"net_rx_bytes_per_sec", "net_rx_bps", "bytes/s"}, {"net_tx_bytes_per_sec", "net_tx_bps", "bytes/s"},
		{"block_read_bytes_per_sec", "blk_read_bps", "bytes/s"}, {"block_write_bytes_per_sec", "blk_write_bps", "bytes/s"},
		{"pids", "pids", "count"}}},
	// Drives and pools (#11), written by the slow-cadence collection.
	"drive_temperature": {table: "drive_metrics", label: "serial", series: []seriesDef{
		{"celsius", "temperature_c", "celsius"}}},
	"drive_counters": {table: "drive_metrics", label: "serial", series: []seriesDef{
		{"reallocated_sectors", "reallocated", "count"}, {"pending_sectors", "pending", "count"},
		{"offline_uncorrectable", "offline_uncorrectable", "count"}, {"reported_uncorrectable", "reported_uncorrect", "count"},
		{"udma_crc_errors", "udma_crc_errors", "count"}, {"media_errors", "media_errors", "count"},
		{"percentage_used", "percentage_used", "percent"}, {"grown_defects", "grown_defects", "count"},
		{"power_on_hours", "power_on_hours", "hours"}}},
	"pool_capacity": {table: "pool_metrics", label: "pool", series: []seriesDef{
		{"used_percent", "capacity_pct", "percent"}, {"allocated_bytes", "alloc_bytes", "bytes"},
		{"size_bytes", "size_bytes", "bytes"}, {"free_bytes", "free_bytes", "bytes"},
		{"fragmentation_percent", "fragmentation_pct", "percent"}}},
}

// MetricNames lists the metric names QueryMetrics accepts.
func MetricNames() []string {
	return []string{"cpu", "cpu_cores", "memory", "load", "disk", "network", "diskio", "temperature", "containers",
		"drive_temperature", "drive_counters", "pool_capacity"}
}

// MetricValue is one value a metric has per sample, with its unit.
type MetricValue struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
}

// MetricInfo describes one metric QueryMetrics serves: its values and the label that splits it into one series
// per mount, interface, disk, sensor or container ("" for device-wide metrics).
type MetricInfo struct {
	Name   string        `json:"name"`
	Label  string        `json:"label,omitempty"`
	Values []MetricValue `json:"values"`
}

// MetricSchema describes every metric, in MetricNames order, for clients that need units (the MCP schema
// resource). It is built from the same definitions the queries use, so it cannot drift from them.
func MetricSchema() []MetricInfo {
	out := make([]MetricInfo, 0, len(metricDefs))
	for _, name := range MetricNames() {
		def := metricDefs[name]
		info := MetricInfo{Name: name, Label: def.label}
		for _, s := range def.series {
			info.Values = append(info.Values, MetricValue{Name: s.name, Unit: s.unit})
		}
		out = append(out, info)
	}
	return out
}

// Point is one step-aggregated value.
type Point struct {
	Time time.Time `json:"time"`
	Avg  *float64  `json:"avg"`
	Min  *float64  `json:"min"`
	Max  *float64  `json:"max"`
}

// Series is one value over time, for one label (mount, interface, disk, sensor) when the metric has labels.
type Series struct {
	Name   string  `json:"name"`
	Label  string  `json:"label,omitempty"`
	Unit   string  `json:"unit"`
	Points []Point `json:"points"`
}

// MetricQuery asks for one metric of one device over [From, To) in buckets of Step.
type MetricQuery struct {
	DeviceID uuid.UUID
	Metric   string
	From, To time.Time
	Step     time.Duration
}

// Source names where QueryMetrics read from.
const (
	SourceRaw    = "raw"
	SourceHourly = "1h"
	SourceDaily  = "1d"
)

// RollupSource picks the data a query reads: raw samples for spans up to two days (and steps under an hour),
// hourly rollups up to 60 days, daily rollups beyond, so a year for one device is a few hundred rows per series.
func RollupSource(span, step time.Duration) string {
	switch {
	case span <= 48*time.Hour || step < time.Hour:
		return SourceRaw
	case span <= 60*24*time.Hour || step < 24*time.Hour:
		return SourceHourly
	}
	return SourceDaily
}

// QueryMetrics returns the metric's series, aggregated per step (avg, min, max per bucket), from raw samples or
// rollups as RollupSource decides. It returns the source it read.
func QueryMetrics(ctx context.Context, db DBTX, q MetricQuery) ([]Series, string, error) {
	def, ok := metricDefs[q.Metric]
	if !ok {
		return nil, "", fmt.Errorf("unknown metric %q", q.Metric)
	}
	if src := RollupSource(q.To.Sub(q.From), q.Step); src != SourceRaw {
		out, err := queryRollups(ctx, db, q, def, src)
		return out, src, err
	}
	out, err := queryRaw(ctx, db, q, def)
	return out, SourceRaw, err
}

func queryRollups(ctx context.Context, db DBTX, q MetricQuery, def metricDef, src string) ([]Series, error) {
	units := map[string]string{}
	order := map[string]int{}
	for i, s := range def.series {
		units[s.name], order[s.name] = s.unit, i
	}
	rows, err := db.Query(ctx, `SELECT date_bin($5::interval, bucket, $3::timestamptz) AS b, label, name,
		sum(avg * count) / sum(count), min(min), max(max)
		FROM metric_rollups WHERE resolution = $6 AND device_id = $1 AND metric = $2 AND bucket >= $3 AND bucket < $4
		GROUP BY 1, 2, 3 ORDER BY 2, 3, 1`, q.DeviceID, q.Metric, q.From, q.To, q.Step, src)
	if err != nil {
		return nil, fmt.Errorf("query %s rollups: %w", q.Metric, err)
	}
	defer rows.Close()
	out := []Series{}
	index := map[string]int{}
	for rows.Next() {
		var p Point
		var label, name string
		var avg, mn, mx float64
		if err := rows.Scan(&p.Time, &label, &name, &avg, &mn, &mx); err != nil {
			return nil, err
		}
		p.Avg, p.Min, p.Max = &avg, &mn, &mx
		key := label + "\x00" + name
		pos, ok := index[key]
		if !ok {
			pos = len(out)
			index[key] = pos
			out = append(out, Series{Name: name, Label: label, Unit: units[name]})
		}
		out[pos].Points = append(out[pos].Points, p)
	}
	return out, rows.Err()
}

func queryRaw(ctx context.Context, db DBTX, q MetricQuery, def metricDef) ([]Series, error) {
	label := "''"
	if def.label != "" {
		label = def.label
	}
	cols := make([]string, 0, 3*len(def.series))
	for _, s := range def.series {
		e := "(" + s.expr + ")::float8"
		cols = append(cols, "avg("+e+")", "min("+e+")", "max("+e+")")
	}
	sql := fmt.Sprintf(`SELECT date_bin($2::interval, time, $3::timestamptz) AS bucket, %s AS label, %s
		FROM %s WHERE device_id = $1 AND time >= $3 AND time < $4 GROUP BY 1, 2 ORDER BY 2, 1`,
		label, strings.Join(cols, ", "), def.table)
	rows, err := db.Query(ctx, sql, q.DeviceID, q.Step, q.From, q.To)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Metric, err)
	}
	defer rows.Close()
	var out []Series
	index := map[string]int{} // label/name -> position in out
	for rows.Next() {
		var bucket time.Time
		var lbl string
		vals := make([]*float64, 3*len(def.series))
		dest := []any{&bucket, &lbl}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		for i, s := range def.series {
			if vals[3*i] == nil {
				continue
			}
			key := lbl + "\x00" + s.name
			pos, ok := index[key]
			if !ok {
				pos = len(out)
				index[key] = pos
				out = append(out, Series{Name: s.name, Label: lbl, Unit: s.unit})
			}
			out[pos].Points = append(out[pos].Points, Point{Time: bucket, Avg: vals[3*i], Min: vals[3*i+1], Max: vals[3*i+2]})
		}
	}
	if out == nil {
		out = []Series{}
	}
	return out, rows.Err()
}

// LatestFigures are a device's most recent key figures, for the fleet summary.
type LatestFigures struct {
	DeviceID          uuid.UUID  `json:"device_id"`
	Name              string     `json:"name"`
	Status            string     `json:"status"`
	StatusReason      string     `json:"status_reason,omitempty"`
	LastSeen          *time.Time `json:"last_seen"`
	CPUPercent        *float64   `json:"cpu_percent"`
	MemoryUsedPercent *float64   `json:"memory_used_percent"`
	Load1             *float64   `json:"load1"`
	DiskMaxPercent    *float64   `json:"disk_max_used_percent"`
	DiskMaxMount      *string    `json:"disk_max_mount"`
	TempMaxCelsius    *float64   `json:"temperature_max_celsius"`
}

// FleetFigures returns every device with its latest system sample, fullest filesystem and hottest sensor
// (looked back at most `within`).
func FleetFigures(ctx context.Context, db DBTX, within time.Duration) ([]*LatestFigures, error) {
	return latestFigures(ctx, db, within, nil)
}
