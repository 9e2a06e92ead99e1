package bench

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
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
