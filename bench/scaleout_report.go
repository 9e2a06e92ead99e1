package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Markdown renders the scale-out report as markdown tables: the run, then one row per worker and per API.
func (r *ScaleOutReport) Markdown() string {
	var b strings.Builder
	f := func(format string, v ...any) string { return fmt.Sprintf(format, v...) }
	fmt.Fprintf(&b, "# Scale-out %s: %d devices every %gs, 2 workers, 2 APIs, Temporal on PostgreSQL\n\n",
		r.Started.Format("2006-01-02 15:04 UTC"), r.Devices, r.IntervalSec)
	kill := "not killed"
	if r.KilledAtSec >= 0 {
		kill = f("SIGKILL to worker-b %.0fs into the window", r.KilledAtSec)
	}
	rows := [][3]string{
		{"product", r.ProductVersion, ""},
		{"devices / interval / window", f("%d / %gs / %.0fs", r.Devices, r.IntervalSec, r.WindowSec), f("warm-up %.0fs; %s", r.WarmupSec, kill)},
		{"machine", f("%.0f%% busy of %d CPUs, load %.1f", r.MachineBusyPct, r.MachineCPUs, r.LoadAvg1), "whole machine over the window, other tenants included; load average at its start"},
		{"Temporal", f("server on PostgreSQL, %d history shards", r.HistoryShards), f("%.1f CPU-s in the window", r.TemporalCPUSec)},
		{"PostgreSQL", "one cluster: product + Temporal databases", f("%.1f CPU-s in the window", r.PostgresCPUSec)},
		{"bytes per poll: product DB / Temporal DBs / WAL", f("%.0f / %.0f / %.0f", r.ProductDBBytesPerPoll, r.TemporalDBBytesPerPoll, r.WALBytesPerPoll), "growth over the window ÷ polls; WAL of the whole cluster"},
		{"transactions per poll: product DB / Temporal DBs", f("%.1f / %.1f", r.ProductTxPerPoll, r.TemporalTxPerPoll), "pg_stat_database.xact_commit over the window ÷ polls; the product's includes the readers"},
		{"polls/s scheduled → achieved", f("%.2f → %.2f", r.ScheduledPollsPerSec, r.AchievedPollsPerSec), f("%d polls committed in the window", r.Polls)},
		{"adherence (window)", f("%.3f", r.Adherence), "target ≥ 0.95 with one worker killed"},
		{"adherence after the kill", f("%.3f", r.AdherenceAfterKill), "from the kill to the window's end"},
		{"poll lateness p50 / p99 / max", f("%.2fs / %.2fs / %.2fs", r.LatenessP50Sec, r.LatenessP99Sec, r.LatenessMaxSec), "commit − (previous commit + interval)"},
		{"polls committed twice", f("%d", r.DuplicatePolls), "poll keys with more than one commit over the run; must be 0"},
		{"devices silent after the kill", f("%d", r.DevicesSilent), "no poll committed after it; must be 0"},
		{"devices on the killed worker", f("%d", r.DevicesOnKilled), "by the last workflow task it completed before the kill"},
		{"  takeover gap p50 / max", f("%.1fs / %.1fs", r.TakeoverGapP50, r.TakeoverGapMax), f("last poll before the kill → first after it; %d of %d within two intervals (%.0fs)", r.TakenOverWithin2, r.DevicesOnKilled, 2*r.IntervalSec)},
	}
	b.WriteString("| metric | value | note |\n|---|---|---|\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", row[0], row[1], row[2])
	}
	b.WriteString("\n| worker | pid | polls ok / failed (/metrics) | polls (histories) | alive in window | polls/s | polls/s after the kill | CPU per poll | RSS |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range r.Workers {
		name := w.Name
		if w.Killed {
			name += " (killed)"
		}
		after := "—"
		if w.PollsPerSecAfterKill > 0 {
			after = f("%.2f", w.PollsPerSecAfterKill)
		}
		fmt.Fprintf(&b, "| %s | %d | %d / %d | %d | %.0fs | %.2f | %s | %.2f ms | %.0f MB |\n", name, w.PID, w.PollsOK,
			w.PollsFailed, w.HistoryPolls, w.AliveSec, w.PollsPerSec, after, w.CPUPerPollMs, w.RSSMB)
	}
	b.WriteString("\n| API | reads | errors | p50 | p99 | longest gap between answers |\n|---|---|---|---|---|---|\n")
	for _, a := range r.APIs {
		fmt.Fprintf(&b, "| %s | %d | %d | %.1f ms | %.1f ms | %.1fs |\n", a.Name, a.Requests, a.Errors, a.P50Ms, a.P99Ms, a.LongestGapSec)
	}
	return b.String()
}

// Write stores the report as <dir>/<stamp>-scaleout-<devices>dev-<interval>s.md and .json and returns the paths.
func (r *ScaleOutReport) Write(dir string) (string, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-scaleout-%ddev-%gs", r.Started.Format("20060102-150405"), r.Devices, r.IntervalSec))
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(base+".json", append(raw, '\n'), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(base+".md", []byte(r.Markdown()), 0o644); err != nil {
		return "", "", err
	}
	return base + ".md", base + ".json", nil
}
