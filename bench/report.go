package bench

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Row is one line of the results table.
type Row struct{ Metric, Value, Note string }

// Rows lays the report out as the table `make bench` prints.
func (r *Report) Rows() []Row {
	f := func(format string, v ...any) string { return fmt.Sprintf(format, v...) }
	rows := []Row{
		{"product", r.ProductVersion, ""},
		{"devices / interval / window", f("%d / %gs / %.0fs", r.Devices, r.IntervalSec, r.WindowSec), f("warm-up %.0fs, %d containers each", r.WarmupSec, r.ContainersEach)},
		{"machine CPU busy", f("%.0f%% of %d CPUs", r.MachineBusyPct, r.MachineCPUs), "everything on one box, other tenants included"},
		{"polls/s scheduled → achieved", f("%.2f → %.2f", r.ScheduledPollsPerSec, r.AchievedPollsPerSec), f("%d polls committed in the window", r.Polls)},
		{"adherence", f("%.3f", r.Adherence), "target ≥ 0.99"},
		{"poll lateness p50 / p99 / max", f("%.2fs / %.2fs / %.2fs", r.LatenessP50Sec, r.LatenessP99Sec, r.LatenessMaxSec), "commit − (previous commit + interval); target p99 < 5s"},
		{"devices online", f("%d / %d", r.DevicesOnline, r.Devices), ""},
		{"worker CPU per poll", f("%.2f ms", r.WorkerCPUPerPollMs), f("%.1f CPU-s in the window", r.WorkerCPUSec)},
		{"baseline CPU per poll", f("%.2f ms", r.BaselineCPUPerPollMs), f("direct loop: %d polls, %d errors, %.2f polls/s", r.BaselinePolls, r.BaselineErrors, r.BaselinePollsPerSec)},
		{"worker / baseline CPU", f("%.2fx", r.WorkerVsBaselineRatio), "target ≤ 3x"},
		{"baseline lateness p50 / p99", f("%.2fs / %.2fs", r.BaselineLatenessP50, r.BaselineLatenessP99), "commit − fixed tick"},
		{"Temporal server CPU per poll", f("%.2f ms", r.TemporalCPUPerPollMs), f("%.1f CPU-s", r.TemporalCPUSec)},
		{"PostgreSQL CPU per poll", f("%.2f ms", r.PostgresCPUPerPollMs), f("%.1f CPU-s; %.2f ms/poll under the baseline", r.PostgresCPUSec, r.BaselinePostgresCPUPerPollMs)},
		{"PostgreSQL rows/s", f("%.0f", r.PostgresRowsPerSec), "metric rows written"},
		{"history events per poll", f("%.1f", r.HistoryEventsPerPoll), "DevicePoll histories of 5 devices"},
		{"worker RSS", f("%.0f MB (%.0f KB/device)", r.WorkerRSSMB, r.WorkerRSSPerDeviceKB), ""},
		{"simulator RSS / CPU per poll", f("%.0f MB / %.2f ms", r.SimulatorRSSMB, r.SimulatorCPUPerPollMs), ""},
		{"all-in CPU per poll", f("%.2f ms", r.AllInCPUPerPollMs), "worker + Temporal + PostgreSQL (every client, the API's included) over the window"},
		{"baseline all-in CPU per poll", f("%.2f ms", r.BaselineAllInCPUPerPollMs), f("direct loop + PostgreSQL over its window (PostgreSQL %.2f ms)", r.BaselineWindowPostgresCPUPerPollMs)},
		{"all-in / baseline all-in CPU", f("%.2fx", r.AllInRatio), "target ≤ 2.5x (#17)"},
		{"API CPU per poll", f("%.2f ms", r.APICPUPerPollMs), "the API process, serving the REST readers; not in the all-in sum"},
		{"API's PostgreSQL CPU per poll", f("%.2f ms", r.PostgresAPICPUPerPollMs), f("backends of %s (the REST readers' queries); API process + these: %.2f ms", pgAppAPI, r.APICPUPerPollMs+r.PostgresAPICPUPerPollMs)},
		{"all-in without the API's PostgreSQL", f("%.2f ms (%.2fx baseline all-in)", r.AllInWithoutAPIPostgresCPUPerPollMs, r.AllInWithoutAPIPostgresRatio), "worker + Temporal + PostgreSQL for everything but the API; target ≤ 2.5x (#17)"},
		{"PostgreSQL CPU per poll by client", byClient(r.PostgresCPUPerPollMsByClient), "backend CPU by application_name (or backend type) over the window"},
		{"table+index bytes per poll", f("%.0f B (baseline %.0f B, %.2fx)", r.TableBytesPerPoll, r.BaselineTableBytesPerPoll, r.TableBytesRatio), f("%.1f MB per device-day at %gs", r.TableMBPerDeviceDay, r.IntervalSec)},
		{"table growth by table", tableGrowthText(r.TableGrowth), "bytes per poll over the window, largest first"},
		{"WAL bytes per poll", f("%.0f B (baseline %.0f B, %.2fx)", r.WALBytesPerPoll, r.BaselineWALBytesPerPoll, r.WALBytesRatio), f("%.1f MB per device-day at %gs", r.WALMBPerDeviceDay, r.IntervalSec)},
		{"REST read p50 / p99", f("%.1f ms / %.1f ms", r.RESTP50Ms, r.RESTP99Ms), f("%d requests, %d errors, under polling", r.RESTRequests, r.RESTErrors)},
	}
	// The latency phase after the window; a measurement that failed is listed below with its error instead.
	if _, failed := r.NotMeasured["websocket_fanout_latency"]; !failed {
		rows = append(rows, Row{"WebSocket fan-out p50 / p99", f("%.1f ms / %.1f ms", r.WSP50Ms, r.WSP99Ms),
			f("write → last of %d clients (device.*.metrics, %.0fs): %d updates, %d missed by some client", r.WSClients, r.WSWindowSec, r.WSUpdates, r.WSIncomplete)})
	}
	if _, failed := r.NotMeasured["mcp_read_latency"]; !failed {
		rows = append(rows, Row{"MCP read tool p50 / p99", f("%.1f ms / %.1f ms", r.MCPP50Ms, r.MCPP99Ms),
			f("get_device over streamable HTTP: %d calls, %d errors", r.MCPCalls, r.MCPErrors)},
			Row{"REST GET device p50 / p99", f("%.1f ms / %.1f ms", r.RESTDeviceP50Ms, r.RESTDeviceP99Ms),
				f("%d calls right after the MCP ones; MCP / REST p50 %.2fx (target ≤ 2x)", r.RESTDeviceCalls, r.MCPvsRESTP50)},
			Row{"poll-loop status query p50 / p99", f("%.1f ms / %.1f ms", r.StatusQueryP50Ms, r.StatusQueryP99Ms),
				"Temporal query get_device makes (server → worker → back), timed alone"})
	}
	if _, failed := r.NotMeasured["container_action_latency"]; !failed {
		rows = append(rows,
			Row{"container restart p50 / p99", f("%.0f ms / %.0f ms", r.ActionP50Ms, r.ActionP99Ms),
				f("REST ?wait=60s end to end: %d restarts, %d errors; verify step p50 %.0f ms", r.ActionCount, r.ActionErrors, r.ActionVerifyP50Ms)},
			Row{"  docker command over SSH p50 / p99", f("%.1f ms / %.1f ms", r.ActionCommandP50Ms, r.ActionCommandP99Ms), "the same restart through sshpool"},
			Row{"  restart minus command p50 / p99", f("%.0f ms / %.0f ms", r.ActionOverheadP50Ms, r.ActionOverheadP99Ms), f("what the product adds around the command, %gs settle period included", r.ActionSettleSec)})
	}
	keys := make([]string, 0, len(r.NotMeasured))
	for k := range r.NotMeasured {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rows = append(rows, Row{strings.ReplaceAll(k, "_", " "), "—", r.NotMeasured[k]})
	}
	return rows
}

// Markdown renders the report as a markdown table.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Bench %s: %d devices every %gs\n\n| metric | value | note |\n|---|---|---|\n",
		r.Started.Format("2006-01-02 15:04 UTC"), r.Devices, r.IntervalSec)
	for _, row := range r.Rows() {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", row.Metric, row.Value, row.Note)
	}
	return b.String()
}

// Text renders the report as an aligned plain-text table for a terminal.
func (r *Report) Text() string {
	rows := r.Rows()
	w0, w1 := 0, 0
	for _, row := range rows {
		w0 = max(w0, len([]rune(row.Metric)))
		w1 = max(w1, len([]rune(row.Value)))
	}
	var b strings.Builder
	for _, row := range rows {
		fmt.Fprintf(&b, "%s%s  %s%s  %s\n", row.Metric, strings.Repeat(" ", w0-len([]rune(row.Metric))),
			row.Value, strings.Repeat(" ", w1-len([]rune(row.Value))), row.Note)
	}
	return b.String()
}

// Write stores the report as <dir>/<stamp>-<devices>dev.md and .json and returns the two paths.
func (r *Report) Write(dir string) (string, string, error) {
	return writeReport(dir, filepath.Join(dir, fmt.Sprintf("%s-%ddev-%gs", r.Started.Format("20060102-150405"), r.Devices, r.IntervalSec)), r, r.Markdown())
}

// tableGrowthText lists the bytes per poll each table grew by.
func tableGrowthText(g []TableGrowth) string {
	if len(g) == 0 {
		return "—"
	}
	parts := make([]string, 0, len(g))
	for _, t := range g {
		parts = append(parts, fmt.Sprintf("%s %.0f B", t.Table, t.BytesPerPoll))
	}
	return strings.Join(parts, ", ")
}

// byClient lists PostgreSQL's CPU per poll by client, largest first.
func byClient(m map[string]float64) string {
	if len(m) == 0 {
		return "—"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.2f ms", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// Report is one run's results. Rates are over the measured window; CPU is user+system seconds from
// /proc/<pid>/stat of each process (PostgreSQL: the postmaster and its backends).
type Report struct {
	Started        time.Time `json:"started"`
	ProductVersion string    `json:"product_version"` // `infrastructor version` of the binary measured
	Devices        int       `json:"devices"`
	IntervalSec    float64   `json:"interval_seconds"`
	WarmupSec      float64   `json:"warmup_seconds"`
	WindowSec      float64   `json:"window_seconds"`
	ContainersEach int       `json:"containers_per_device"`
	MachineCPUs    int       `json:"machine_cpus"`
	// MachineBusyPct is the whole machine's CPU use during the window (other tenants included).
	MachineBusyPct float64 `json:"machine_busy_percent"`

	ScheduledPollsPerSec float64 `json:"scheduled_polls_per_second"`
	AchievedPollsPerSec  float64 `json:"achieved_polls_per_second"`
	Adherence            float64 `json:"adherence"`
	Polls                int64   `json:"polls"`
	// Lateness of poll n: commit time of its samples minus (commit time of poll n-1 + interval), the moment the
	// loop's timer was due at the earliest.
	LatenessP50Sec float64 `json:"lateness_p50_seconds"`
	LatenessP99Sec float64 `json:"lateness_p99_seconds"`
	LatenessMaxSec float64 `json:"lateness_max_seconds"`
	DevicesOnline  int     `json:"devices_online"`

	WorkerCPUSec          float64 `json:"worker_cpu_seconds"`
	WorkerCPUPerPollMs    float64 `json:"worker_cpu_per_poll_ms"`
	WorkerRSSMB           float64 `json:"worker_rss_mb"`
	WorkerRSSPerDeviceKB  float64 `json:"worker_rss_per_device_kb"`
	TemporalCPUSec        float64 `json:"temporal_cpu_seconds"`
	TemporalCPUPerPollMs  float64 `json:"temporal_cpu_per_poll_ms"`
	PostgresCPUSec        float64 `json:"postgres_cpu_seconds"`
	PostgresCPUPerPollMs  float64 `json:"postgres_cpu_per_poll_ms"`
	PostgresRowsPerSec    float64 `json:"postgres_rows_per_second"`
	HistoryEventsPerPoll  float64 `json:"history_events_per_poll"`
	SimulatorRSSMB        float64 `json:"simulator_rss_mb"`
	SimulatorCPUPerPollMs float64 `json:"simulator_cpu_per_poll_ms"`

	BaselinePolls        int64   `json:"baseline_polls"`
	BaselineErrors       int64   `json:"baseline_errors"`
	BaselinePollsPerSec  float64 `json:"baseline_polls_per_second"`
	BaselineCPUPerPollMs float64 `json:"baseline_cpu_per_poll_ms"`
	// BaselinePostgresCPUPerPollMs is PostgreSQL's CPU over the whole baseline run (warm-up included) per poll.
	BaselinePostgresCPUPerPollMs float64 `json:"baseline_postgres_cpu_per_poll_ms"`
	BaselineLatenessP50          float64 `json:"baseline_lateness_p50_seconds"`
	BaselineLatenessP99          float64 `json:"baseline_lateness_p99_seconds"`
	WorkerVsBaselineRatio        float64 `json:"worker_cpu_vs_baseline"`

	// All-in CPU per poll (#17): worker + Temporal server + PostgreSQL (its whole process tree) over the product's
	// window, against the direct loop's process + PostgreSQL over the baseline's window of the same run. The API
	// process is reported apart: its CPU serves the REST readers, not the polls.
	AllInCPUPerPollMs         float64 `json:"all_in_cpu_per_poll_ms"`
	APICPUPerPollMs           float64 `json:"api_cpu_per_poll_ms"`
	BaselineAllInCPUPerPollMs float64 `json:"baseline_all_in_cpu_per_poll_ms"`
	// BaselineWindowPostgresCPUPerPollMs is PostgreSQL's CPU over the baseline's window only, per poll in it.
	BaselineWindowPostgresCPUPerPollMs float64 `json:"baseline_window_postgres_cpu_per_poll_ms"`
	AllInRatio                         float64 `json:"all_in_cpu_vs_baseline"`

	// PostgreSQL's CPU over the window split by client (#17), per poll: each backend's CPU by its connection's
	// application_name (infrastructor-worker, infrastructor-api, the bench's own queries) or, for PostgreSQL's own
	// processes, its backend type; "unattributed" is the rest of the total (the postmaster, backends that exited
	// in the window).
	PostgresCPUPerPollMsByClient map[string]float64 `json:"postgres_cpu_per_poll_ms_by_client,omitempty"`
	// PostgresAPICPUPerPollMs is what the API's connections cost PostgreSQL: the REST readers' queries, which the
	// baseline does not have. It is part of AllInCPUPerPollMs; the figures below leave it out.
	PostgresAPICPUPerPollMs             float64 `json:"postgres_api_cpu_per_poll_ms"`
	AllInWithoutAPIPostgresCPUPerPollMs float64 `json:"all_in_without_api_postgres_cpu_per_poll_ms"`
	AllInWithoutAPIPostgresRatio        float64 `json:"all_in_without_api_postgres_cpu_vs_baseline"`

	// Bytes written to PostgreSQL per poll: growth of the product's tables with their indexes
	// (pg_total_relation_size summed) and WAL generated (pg_current_wal_lsn differences), over the product's window
	// and over the baseline's; per device-day at the run's interval in MB.
	TableBytesPerPoll float64 `json:"table_bytes_per_poll"`
	// TableGrowth is where TableBytesPerPoll went: the tables that grew most over the window.
	TableGrowth               []TableGrowth `json:"table_growth,omitempty"`
	WALBytesPerPoll           float64       `json:"wal_bytes_per_poll"`
	TableMBPerDeviceDay       float64       `json:"table_mb_per_device_day"`
	WALMBPerDeviceDay         float64       `json:"wal_mb_per_device_day"`
	BaselineTableBytesPerPoll float64       `json:"baseline_table_bytes_per_poll"`
	BaselineWALBytesPerPoll   float64       `json:"baseline_wal_bytes_per_poll"`
	TableBytesRatio           float64       `json:"table_bytes_vs_baseline"`
	WALBytesRatio             float64       `json:"wal_bytes_vs_baseline"`

	RESTRequests int64   `json:"rest_requests"`
	RESTErrors   int64   `json:"rest_errors"`
	RESTP50Ms    float64 `json:"rest_p50_ms"`
	RESTP99Ms    float64 `json:"rest_p99_ms"`

	// The latency phase runs after the window, while the devices keep being polled (see Run).
	//
	// MCP: get_device calls through mcp-go's streamable HTTP client, one at a time.
	MCPCalls  int64   `json:"mcp_calls"`
	MCPErrors int64   `json:"mcp_errors"`
	MCPP50Ms  float64 `json:"mcp_read_p50_ms"`
	MCPP99Ms  float64 `json:"mcp_read_p99_ms"`
	// The equivalent REST read, GET /api/v1/devices/{id}, as many calls right after the MCP ones, one at a time.
	RESTDeviceCalls int64   `json:"rest_device_calls"`
	RESTDeviceP50Ms float64 `json:"rest_device_p50_ms"`
	RESTDeviceP99Ms float64 `json:"rest_device_p99_ms"`
	MCPvsRESTP50    float64 `json:"mcp_vs_rest_p50"`
	// The poll loop's status query (what get_device asks Temporal, through the server to the worker running the
	// loop), as many calls one at a time from the bench's own client: the part of get_device no database read has.
	StatusQueryP50Ms float64 `json:"status_query_p50_ms"`
	StatusQueryP99Ms float64 `json:"status_query_p99_ms"`
	// WebSocket fan-out: WSClients clients subscribed to device.*.metrics for WSWindowSec; latency of an update is
	// its receipt by the last client minus its write time (the writer's clock, in the poll's transaction).
	WSClients    int     `json:"ws_clients"`
	WSWindowSec  float64 `json:"ws_window_seconds"`
	WSUpdates    int64   `json:"ws_updates"`    // updates every client received
	WSIncomplete int64   `json:"ws_incomplete"` // updates some client did not receive
	WSP50Ms      float64 `json:"ws_fanout_p50_ms"`
	WSP99Ms      float64 `json:"ws_fanout_p99_ms"`
	// Container actions: restarts through REST with ?wait=60s; the command is the same docker restart timed over
	// the product's SSH pool, and the overhead is the difference per action.
	ActionCount         int64   `json:"container_actions"`
	ActionErrors        int64   `json:"container_action_errors"`
	ActionP50Ms         float64 `json:"container_action_p50_ms"`
	ActionP99Ms         float64 `json:"container_action_p99_ms"`
	ActionCommandP50Ms  float64 `json:"container_action_command_p50_ms"`
	ActionCommandP99Ms  float64 `json:"container_action_command_p99_ms"`
	ActionOverheadP50Ms float64 `json:"container_action_overhead_p50_ms"`
	ActionOverheadP99Ms float64 `json:"container_action_overhead_p99_ms"`
	ActionVerifyP50Ms   float64 `json:"container_action_verify_p50_ms"` // the verify step, settle period included
	// ActionSettleSec is how long verify requires a restarted container to stay up (workflows.DefaultSettle): a
	// deliberate part of the overhead.
	ActionSettleSec float64 `json:"container_action_settle_seconds"`

	// NotMeasured names the figures this run did not measure, with the reason.
	NotMeasured map[string]string `json:"not_measured,omitempty"`
}
