package bench

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// ScaleOutReport is one scale-out run's results.
type ScaleOutReport struct {
	Started        time.Time `json:"started"`
	ProductVersion string    `json:"product_version"`
	Devices        int       `json:"devices"`
	IntervalSec    float64   `json:"interval_seconds"`
	WarmupSec      float64   `json:"warmup_seconds"`
	WindowSec      float64   `json:"window_seconds"`
	HistoryShards  int       `json:"temporal_history_shards"`
	MachineCPUs    int       `json:"machine_cpus"`
	// MachineBusyPct is the whole machine's CPU use during the window (other tenants included); LoadAvg1 is the
	// one-minute load average at the window's start.
	MachineBusyPct float64 `json:"machine_busy_percent"`
	LoadAvg1       float64 `json:"load_average_1m"`

	// KilledAtSec is when, into the window, worker B got SIGKILL (negative: it was not killed).
	KilledAtSec float64 `json:"killed_at_seconds"`

	// Polls committed to PostgreSQL in the window (one device_poll_state commit per poll) against the schedule.
	Polls                int64   `json:"polls"`
	ScheduledPollsPerSec float64 `json:"scheduled_polls_per_second"`
	AchievedPollsPerSec  float64 `json:"achieved_polls_per_second"`
	Adherence            float64 `json:"adherence"`
	// AdherenceAfterKill is the same ratio from the kill to the window's end.
	AdherenceAfterKill float64 `json:"adherence_after_kill"`
	LatenessP50Sec     float64 `json:"lateness_p50_seconds"`
	LatenessP99Sec     float64 `json:"lateness_p99_seconds"`
	LatenessMaxSec     float64 `json:"lateness_max_seconds"`
	// DuplicatePolls counts poll keys committed more than once over the whole run (must be zero).
	DuplicatePolls int64 `json:"duplicate_polls"`
	// DevicesSilent counts devices with no poll committed after the kill (must be zero).
	DevicesSilent int `json:"devices_silent_after_kill"`

	// Takeover: devices whose poll loop was on the killed worker, by the last workflow task that worker completed
	// before the kill (the worker identity in the Temporal history), and for them the gap across the kill between
	// the last poll committed before it and the first after it, in seconds and in intervals.
	DevicesOnKilled int     `json:"devices_on_killed_worker"`
	TakeoverGapP50  float64 `json:"takeover_gap_p50_seconds"`
	TakeoverGapMax  float64 `json:"takeover_gap_max_seconds"`
	// TakenOverWithin2 is how many of DevicesOnKilled had their next poll within two intervals of their last.
	TakenOverWithin2 int `json:"taken_over_within_two_intervals"`

	Workers []ScaleOutWorker `json:"workers"`
	APIs    []ScaleOutAPI    `json:"apis"`

	TemporalCPUSec float64 `json:"temporal_cpu_seconds"`
	PostgresCPUSec float64 `json:"postgres_cpu_seconds"`
	// Growth over the window per poll committed in it: the product's database, Temporal's two databases
	// (pg_database_size), and the WAL the whole cluster generated (pg_current_wal_lsn).
	ProductDBBytesPerPoll  float64 `json:"product_db_bytes_per_poll"`
	TemporalDBBytesPerPoll float64 `json:"temporal_db_bytes_per_poll"`
	WALBytesPerPoll        float64 `json:"wal_bytes_per_poll"`
	// Committed transactions per poll (pg_stat_database.xact_commit) in the product's database, the readers' and
	// the APIs' included, and in Temporal's two databases.
	ProductTxPerPoll  float64 `json:"product_transactions_per_poll"`
	TemporalTxPerPoll float64 `json:"temporal_transactions_per_poll"`
}

// ScaleOutWorker is one worker process's share of the window.
type ScaleOutWorker struct {
	Name   string `json:"name"`
	PID    int    `json:"pid"`
	Killed bool   `json:"killed"`
	// Polls its /metrics counted in the window (infrastructor_polls_total, ok and failed), scraped every two
	// seconds: for the killed worker up to its last scrape before the kill.
	PollsOK     int64   `json:"polls_ok"`
	PollsFailed int64   `json:"polls_failed"`
	AliveSec    float64 `json:"alive_seconds"` // of the window, to the last scrape
	PollsPerSec float64 `json:"polls_per_second"`
	// PollsPerSecAfterKill is the surviving worker's rate from the kill to the window's end: the whole fleet's
	// load on one worker.
	PollsPerSecAfterKill float64 `json:"polls_per_second_after_kill,omitempty"`
	// HistoryPolls counts the polls its workflow tasks recorded in the window (Temporal histories, by identity).
	HistoryPolls int64   `json:"history_polls"`
	CPUSec       float64 `json:"cpu_seconds"`
	CPUPerPollMs float64 `json:"cpu_per_poll_ms"`
	RSSMB        float64 `json:"rss_mb"`
}

// ScaleOutAPI is what a reader saw from one API process during the window.
type ScaleOutAPI struct {
	Name     string  `json:"name"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	// LongestGapSec is the longest time between two successful answers: it stays near the reader's pace when
	// the API answers throughout.
	LongestGapSec float64 `json:"longest_gap_seconds"`
}

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
	return writeReport(dir, filepath.Join(dir, fmt.Sprintf("%s-scaleout-%ddev-%gs", r.Started.Format("20060102-150405"), r.Devices, r.IntervalSec)), r, r.Markdown())
}
