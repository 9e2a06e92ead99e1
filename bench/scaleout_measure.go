package bench

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// installPollLog records every commit of a poll (the row of device_poll_state that WritePoll inserts or updates
// with the poll's key) in a table of the run's own, with the commit's wall-clock time, so that duplicates and gaps
// can be counted afterwards. It belongs to the bench's database, not to the product's schema.
func installPollLog(ctx context.Context, db *pgxpool.Pool) error {
	_, err := db.Exec(ctx, `
		CREATE TABLE scaleout_poll_commits (device_id uuid NOT NULL, poll_key text NOT NULL,
			at timestamptz NOT NULL DEFAULT clock_timestamp());
		CREATE INDEX ON scaleout_poll_commits (device_id, at);
		CREATE FUNCTION scaleout_log_poll() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO scaleout_poll_commits (device_id, poll_key) VALUES (NEW.device_id, NEW.last_poll_key);
			RETURN NULL;
		END $$;
		CREATE TRIGGER scaleout_log_poll AFTER INSERT OR UPDATE OF last_poll_key ON device_poll_state
			FOR EACH ROW EXECUTE FUNCTION scaleout_log_poll();`)
	if err != nil {
		return fmt.Errorf("install the poll log: %w", err)
	}
	return nil
}

// measureScaleOutDB counts the window's polls, adherence (whole window and after the kill), lateness, duplicates
// and devices that went silent after the kill, from the poll log.
func measureScaleOutDB(ctx context.Context, db *pgxpool.Pool, rep *ScaleOutReport, t0, t1, killAt time.Time, interval time.Duration) error {
	if err := db.QueryRow(ctx, `SELECT count(*) FROM scaleout_poll_commits WHERE at >= $1 AND at < $2`, t0, t1).
		Scan(&rep.Polls); err != nil {
		return fmt.Errorf("count polls: %w", err)
	}
	rep.AchievedPollsPerSec = float64(rep.Polls) / t1.Sub(t0).Seconds()
	rep.Adherence = rep.AchievedPollsPerSec / rep.ScheduledPollsPerSec
	if !killAt.IsZero() {
		var n int64
		if err := db.QueryRow(ctx, `SELECT count(*) FROM scaleout_poll_commits WHERE at >= $1 AND at < $2`, killAt, t1).
			Scan(&n); err != nil {
			return err
		}
		rep.AdherenceAfterKill = float64(n) / t1.Sub(killAt).Seconds() / rep.ScheduledPollsPerSec
		if err := db.QueryRow(ctx, `SELECT count(*) FROM devices d WHERE NOT EXISTS (
			SELECT 1 FROM scaleout_poll_commits c WHERE c.device_id = d.id AND c.at >= $1)`, killAt).
			Scan(&rep.DevicesSilent); err != nil {
			return err
		}
	}
	rows, err := db.Query(ctx, `
		SELECT extract(epoch FROM at - lag(at) OVER (PARTITION BY device_id ORDER BY at)) - $3 AS late, at
		FROM scaleout_poll_commits WHERE at >= $1::timestamptz - $3 * interval '1 second' * 3 AND at < $2`,
		t0, t1, interval.Seconds())
	if err != nil {
		return fmt.Errorf("lateness: %w", err)
	}
	var late []float64
	for rows.Next() {
		var v *float64
		var at time.Time
		if err := rows.Scan(&v, &at); err != nil {
			return err
		}
		if v != nil && !at.Before(t0) {
			late = append(late, *v)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rep.LatenessP50Sec, rep.LatenessP99Sec, rep.LatenessMaxSec = percentile(late, 50), percentile(late, 99), percentile(late, 100)
	if err := db.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM scaleout_poll_commits
		GROUP BY device_id, poll_key HAVING count(*) > 1) d`).Scan(&rep.DuplicatePolls); err != nil {
		return fmt.Errorf("count duplicates: %w", err)
	}
	return nil
}

// measureTakeover measures, for the devices whose poll loop ran on the killed worker, the gap across the kill
// between their last committed poll before it and their first after it.
func measureTakeover(ctx context.Context, db *pgxpool.Pool, rep *ScaleOutReport, owners map[string]int, victim int,
	killAt time.Time, interval time.Duration) error {
	var gaps []float64
	for id, pid := range owners {
		if pid != victim {
			continue
		}
		rep.DevicesOnKilled++
		var gap *float64
		if err := db.QueryRow(ctx, `SELECT extract(epoch FROM
			(SELECT min(at) FROM scaleout_poll_commits WHERE device_id = $1 AND at >= $2) -
			(SELECT max(at) FROM scaleout_poll_commits WHERE device_id = $1 AND at < $2))`, id, killAt).Scan(&gap); err != nil {
			return fmt.Errorf("takeover gap of %s: %w", id, err)
		}
		if gap == nil {
			continue // never polled again: counted in DevicesSilent
		}
		gaps = append(gaps, *gap)
		if *gap <= 2*interval.Seconds() {
			rep.TakenOverWithin2++
		}
	}
	rep.TakeoverGapP50, rep.TakeoverGapMax = percentile(gaps, 50), percentile(gaps, 100)
	return nil
}

// pollScrape is one reading of a worker's poll counters.
type pollScrape struct {
	at         time.Time
	ok, failed int64
}

// scrapePolls reads infrastructor_polls_total from a worker's /metrics: the ok outcome and every other outcome.
func scrapePolls(ctx context.Context, hc *http.Client, addr string) (ok, failed int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, found := strings.CutPrefix(line, "infrastructor_polls_total{")
		if !found {
			continue
		}
		labels, value, found := strings.Cut(rest, "} ")
		if !found {
			continue
		}
		v, perr := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if perr != nil {
			continue
		}
		if labels == `outcome="ok"` {
			ok += int64(v)
		} else {
			failed += int64(v)
		}
	}
	return ok, failed, sc.Err()
}

// apiReads is what steadyReads saw.
type apiReads struct {
	latencies  []float64
	errors     int64
	longestGap time.Duration
}

// steadyReads reads one device or the fleet summary from one API every 200 ms until ctx ends.
func (r *restClient) steadyReads(ctx context.Context, ids []string, since time.Time) apiReads {
	var st apiReads
	lastOK := since
	for i := 0; ctx.Err() == nil; i++ {
		path := "/api/v1/fleet/summary"
		if i%2 == 1 {
			path = "/api/v1/devices/" + ids[rand.IntN(len(ids))]
		}
		start := time.Now()
		err := r.do(ctx, http.MethodGet, path, nil, nil)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			st.errors++
		} else {
			now := time.Now()
			st.latencies = append(st.latencies, now.Sub(start).Seconds())
			st.longestGap = max(st.longestGap, now.Sub(lastOK))
			lastOK = now
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	st.longestGap = max(st.longestGap, time.Since(lastOK))
	return st
}

// sizes is the cluster's databases and WAL position at one moment, in bytes, and the transactions committed in
// the product's and Temporal's databases so far.
type sizes struct{ product, temporal, wal, productTx, temporalTx int64 }

func clusterSizes(ctx context.Context, db *pgxpool.Pool) (sizes, error) {
	var s sizes
	err := db.QueryRow(ctx, `SELECT pg_database_size(current_database()),
		(SELECT coalesce(sum(pg_database_size(datname)), 0) FROM pg_database WHERE datname IN ('temporal', 'temporal_visibility'))::bigint,
		pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint,
		(SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
		(SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database WHERE datname IN ('temporal', 'temporal_visibility'))::bigint`).
		Scan(&s.product, &s.temporal, &s.wal, &s.productTx, &s.temporalTx)
	if err != nil {
		return s, fmt.Errorf("database sizes: %w", err)
	}
	return s, nil
}

// loadAvg1 is the machine's one-minute load average.
func loadAvg1() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
