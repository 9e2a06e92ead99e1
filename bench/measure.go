package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/infrastructor/infrastructor/workflows"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// What a run measures besides the poll loop itself: the CPU of each process and of the machine, database growth
// and WAL, and the Temporal history per poll.

// usage is the processes' counters at one moment.
type usage struct {
	worker, temporal, postgres, sim, api float64
	workerRSS, simRSS                    int64
	machine                              [2]float64 // busy and total jiffies of the whole machine
}

func snapshot(worker, temporal, pg, sim, api *child) usage {
	var u usage
	if p, err := readProc(api.pid()); err == nil {
		u.api = p.CPUSeconds
	}
	if p, err := readProc(worker.pid()); err == nil {
		u.worker, u.workerRSS = p.CPUSeconds, p.RSSBytes
	}
	if p, err := readProc(temporal.pid()); err == nil {
		u.temporal = p.CPUSeconds
	}
	u.postgres, _ = treeCPU(pg.pid())
	if p, err := readProc(sim.pid()); err == nil {
		u.sim, u.simRSS = p.CPUSeconds, p.RSSBytes
	}
	u.machine = machineJiffies()
	return u
}

func machineJiffies() [2]float64 {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return [2]float64{}
	}
	f := strings.Fields(strings.SplitN(string(raw), "\n", 2)[0])
	var total, idle float64
	for i, v := range f[1:] {
		var x float64
		fmt.Sscan(v, &x)
		total += x
		if i == 3 || i == 4 { // idle, iowait
			idle += x
		}
	}
	return [2]float64{total - idle, total}
}

func machineBusy(a, b [2]float64) float64 {
	if b[1] <= a[1] {
		return 0
	}
	return (b[0] - a[0]) / (b[1] - a[1]) * 100
}

func numCPU() int {
	raw, _ := os.ReadFile("/proc/stat")
	n := 0
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "cpu") && !strings.HasPrefix(l, "cpu ") {
			n++
		}
	}
	return n
}

// measureDB derives polls, lateness and row rates from what was committed during [t0, t1). Commit times come from
// track_commit_timestamp, so they are the moments samples became visible to readers.
func measureDB(ctx context.Context, db *pgxpool.Pool, rep *Report, t0, t1 time.Time, interval time.Duration) error {
	rows, err := db.Query(ctx, `
		WITH s AS (
			SELECT device_id, time, pg_xact_commit_timestamp(xmin) AS committed
			FROM system_metrics WHERE time >= $1::timestamptz - $3 * interval '1 second' * 3 AND time < $2
		), l AS (
			SELECT committed, lag(committed) OVER (PARTITION BY device_id ORDER BY time) AS prev FROM s
		)
		SELECT extract(epoch FROM committed - prev) - $3 FROM l
		WHERE committed >= $1 AND committed < $2 AND prev IS NOT NULL`, t0, t1, interval.Seconds())
	if err != nil {
		return fmt.Errorf("lateness query: %w", err)
	}
	var late []float64
	for rows.Next() {
		var v float64
		if err := rows.Scan(&v); err != nil {
			return err
		}
		late = append(late, v)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rep.LatenessP50Sec, rep.LatenessP99Sec = percentile(late, 50), percentile(late, 99)
	if len(late) > 0 {
		rep.LatenessMaxSec = percentile(late, 100)
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM system_metrics
		WHERE pg_xact_commit_timestamp(xmin) >= $1 AND pg_xact_commit_timestamp(xmin) < $2
		AND time >= $1::timestamptz - interval '5 minutes'`, t0, t1).Scan(&rep.Polls); err != nil {
		return fmt.Errorf("count polls: %w", err)
	}
	var total int64
	// The tables rows are written to (migration 0020: a poll is one system row and one container row; the
	// per-filesystem, disk, interface and sensor samples are arrays in the system row).
	for _, t := range []string{"system_metrics", "container_poll_metrics"} {
		var n int64
		if err := db.QueryRow(ctx, `SELECT count(*) FROM `+t+` WHERE time >= $1 AND time < $2`, t0, t1).Scan(&n); err != nil {
			return fmt.Errorf("count %s: %w", t, err)
		}
		total += n
	}
	rep.PostgresRowsPerSec = float64(total) / t1.Sub(t0).Seconds()
	var online int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM devices WHERE status = 'online'`).Scan(&online); err != nil {
		return err
	}
	rep.DevicesOnline = online
	return nil
}

// historyEventsPerPoll reads the current run's history of a few poll loops and divides its events by the polls
// in it, counted as the loop's timers: one per poll whether the poll is an activity or a local activity.
func historyEventsPerPoll(ctx context.Context, tc client.Client, ids []string) (float64, error) {
	var events, polls int
	for i := 0; i < len(ids) && i < 5; i++ {
		it := tc.GetWorkflowHistory(ctx, workflows.DevicePollWorkflowID(ids[i]), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return 0, fmt.Errorf("history of %s: %w", ids[i], err)
			}
			events++
			if ev.GetEventType() == enumspb.EVENT_TYPE_TIMER_STARTED {
				polls++
			}
		}
	}
	if polls == 0 {
		return 0, nil
	}
	return float64(events) / float64(polls), nil
}

// statusQueries times k status queries of the devices' poll loops, one at a time; it returns the latencies of the
// ones that answered, in seconds.
func statusQueries(ctx context.Context, tc client.Client, ids []string, k int) []float64 {
	var out []float64
	for i := 0; i < k && ctx.Err() == nil; i++ {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		v, err := tc.QueryWorkflow(qctx, workflows.DevicePollWorkflowID(ids[i%len(ids)]), "", workflows.QueryStatus)
		var st workflows.DevicePollState
		if err == nil && v.Get(&st) == nil {
			out = append(out, time.Since(start).Seconds())
		}
		cancel()
	}
	return out
}
