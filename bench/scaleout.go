package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infrastructor/infrastructor/internal/devicesim"
)

// ScaleOutOptions sizes a scale-out run (RunScaleOut): two `infrastructor worker` and two `infrastructor server`
// processes against one Temporal server on PostgreSQL (scripts/temporal-postgres.sh, the profile of `make run
// TEMPORAL=postgres`) and one PostgreSQL, polling simulated devices; one worker is killed with SIGKILL mid-window.
type ScaleOutOptions struct {
	Devices    int
	Interval   time.Duration
	Warmup     time.Duration // after the first device is added; devices are added over the first interval
	Duration   time.Duration // measured window
	KillAfter  time.Duration // into the window, when worker B gets SIGKILL; zero: a third of the window; negative: never
	Containers int           // per simulated device
	// HistoryShards is the Temporal server's number of history shards (TEMPORAL_HISTORY_SHARDS; 16 when zero).
	HistoryShards int

	Root     string // repository root: scripts/temporal-postgres.sh and the Temporal binaries in bin/ come from there
	InfraBin string // bin/infrastructor
	SimBin   string // the devicesim command

	WorkDir string // logs and data; a temporary directory when empty
	Log     io.Writer
}

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

// scaleOutProc is one product process of the run.
type scaleOutProc struct {
	name    string
	c       *child
	metrics string // worker: its /metrics address
	listen  string // API: its listen address
}

// RunScaleOut starts everything, measures, stops everything and returns the report.
func RunScaleOut(ctx context.Context, o ScaleOutOptions) (rep *ScaleOutReport, err error) {
	if o.Devices <= 0 || o.Interval <= 0 || o.Duration <= 0 {
		return nil, errors.New("scale-out: devices, interval and duration must be positive")
	}
	if o.Warmup < o.Interval {
		o.Warmup = 2 * o.Interval
	}
	if o.KillAfter == 0 {
		o.KillAfter = o.Duration / 3
	}
	if o.KillAfter >= o.Duration {
		return nil, fmt.Errorf("scale-out: the kill (%s into the window) must fall inside the window (%s)", o.KillAfter, o.Duration)
	}
	if o.HistoryShards <= 0 {
		o.HistoryShards = 16
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	say := func(format string, args ...any) {
		fmt.Fprintf(logw, "[scaleout %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	script := filepath.Join(o.Root, "scripts", "temporal-postgres.sh")
	for _, b := range []string{"temporal-server", "temporal-sql-tool"} {
		if _, err := os.Stat(filepath.Join(o.Root, "bin", b)); err != nil {
			return nil, fmt.Errorf("bin/%s is missing: run `make temporal-postgres` (minutes, once)", b)
		}
	}
	dir := o.WorkDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "infrastructor-scaleout-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	_ = os.Chmod(dir, 0o755)
	var children []*child
	defer func() {
		for i := len(children) - 1; i >= 0; i-- {
			sig := syscall.SIGTERM
			if children[i].name == "postgres" || children[i].name == "temporal" {
				sig = syscall.SIGINT
			}
			children[i].stop(sig, 20*time.Second)
		}
	}()

	keyFile, authFile, err := writeClientKey(dir)
	if err != nil {
		return nil, err
	}
	pgDir := filepath.Join(dir, "pg")
	if err := os.MkdirAll(pgDir, 0o755); err != nil {
		return nil, err
	}
	say("starting PostgreSQL")
	pg, dbURL, err := startPostgres(ctx, pgDir)
	if err != nil {
		return nil, err
	}
	children = append(children, pg)

	say("setting up and starting the Temporal server on PostgreSQL (%d history shards)", o.HistoryShards)
	tsrv, taddr, err := startTemporalPostgres(ctx, script, dir, dbURL, o.HistoryShards)
	if err != nil {
		return nil, err
	}
	children = append(children, tsrv)

	say("starting %d simulated devices", o.Devices)
	manifest := filepath.Join(dir, "devices.json")
	sim, err := start("devicesim", filepath.Join(dir, "devicesim.log"), exec.Command(o.SimBin,
		"-devices", fmt.Sprint(o.Devices), "-authorized-keys", authFile, "-manifest", manifest,
		"-containers", fmt.Sprint(o.Containers), "-seed", "scaleout"))
	if err != nil {
		return nil, err
	}
	children = append(children, sim)
	var devices []devicesim.ManifestEntry
	if err := waitFor(ctx, sim, 120*time.Second, "devicesim", func(context.Context) error {
		raw, err := os.ReadFile(manifest)
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, &devices)
	}); err != nil {
		return nil, err
	}

	token := randomHex(24)
	e := env{dbURL: dbURL, temporal: taddr, token: token, keyFile: keyFile, dataDir: filepath.Join(dir, "data")}
	mig := exec.CommandContext(ctx, o.InfraBin, "migrate", "up")
	mig.Env = e.list()
	if out, err := mig.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("migrate up: %w\n%s", err, out)
	}
	ver, err := exec.CommandContext(ctx, o.InfraBin, "version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s version: %w", o.InfraBin, err)
	}
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := installPollLog(ctx, db); err != nil {
		return nil, err
	}

	// Two workers, each with /metrics on a port of its own, and two API processes on ports of their own.
	var workers, apis []*scaleOutProc
	for _, name := range []string{"worker-a", "worker-b"} {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p := &scaleOutProc{name: name, metrics: fmt.Sprintf("127.0.0.1:%d", port)}
		cmd := exec.Command(o.InfraBin, "worker")
		cmd.Env = append(e.list(), "INFRA_WORKER_METRICS_LISTEN="+p.metrics)
		if p.c, err = start(name, filepath.Join(dir, name+".log"), cmd); err != nil {
			return nil, err
		}
		children = append(children, p.c)
		workers = append(workers, p)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var clients []*restClient
	for _, name := range []string{"api-1", "api-2"} {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p := &scaleOutProc{name: name, listen: fmt.Sprintf("127.0.0.1:%d", port)}
		le := e
		le.listen = p.listen
		cmd := exec.Command(o.InfraBin, "server")
		cmd.Env = le.list()
		if p.c, err = start(name, filepath.Join(dir, name+".log"), cmd); err != nil {
			return nil, err
		}
		children = append(children, p.c)
		apis = append(apis, p)
		clients = append(clients, &restClient{base: "http://" + p.listen, token: token, hc: hc})
	}
	for i, p := range apis {
		if err := waitFor(ctx, p.c, 180*time.Second, p.name, clients[i].ready); err != nil {
			return nil, err
		}
	}
	for _, w := range workers {
		if err := waitFor(ctx, w.c, 180*time.Second, w.name, func(ctx context.Context) error {
			_, _, err := scrapePolls(ctx, hc, w.metrics)
			return err
		}); err != nil {
			return nil, err
		}
	}

	// Devices are added through both APIs in turn, spread over one interval so the poll loops do not line up.
	say("adding %d devices over %s through both APIs; warm-up %s", o.Devices, o.Interval, o.Warmup)
	warmStart := time.Now()
	ids := make([]string, 0, len(devices))
	for i, d := range devices {
		at := warmStart.Add(time.Duration(i) * o.Interval / time.Duration(len(devices)))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Until(at)):
		}
		id, err := clients[i%2].createDevice(ctx, d, o.Interval)
		if err != nil {
			return nil, fmt.Errorf("add device %s through %s: %w", d.Name, apis[i%2].name, err)
		}
		ids = append(ids, id)
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(warmStart.Add(o.Warmup))):
	}

	say("measuring for %s; SIGKILL to worker-b %s into the window", o.Duration, o.KillAfter)
	rep = &ScaleOutReport{Started: time.Now().UTC(), ProductVersion: strings.TrimSpace(string(ver)), Devices: o.Devices,
		IntervalSec: o.Interval.Seconds(), WarmupSec: o.Warmup.Seconds(), HistoryShards: o.HistoryShards,
		MachineCPUs: numCPU(), LoadAvg1: loadAvg1(), KilledAtSec: -1}
	size0, err := clusterSizes(ctx, db)
	if err != nil {
		return nil, err
	}
	mach0 := machineJiffies()
	tcpu0, _ := readProc(tsrv.pid())
	pgcpu0, _ := treeCPU(pg.pid())
	wcpu0 := make([]float64, len(workers))
	for i, w := range workers {
		u, _ := readProc(w.c.pid())
		wcpu0[i] = u.CPUSeconds
	}
	t0 := time.Now()
	wctx, stopWindow := context.WithCancel(ctx)
	defer stopWindow()

	// Scrapers: each worker's poll counters every two seconds.
	scrapes := make([][]pollScrape, len(workers))
	var scrapeMu sync.Mutex
	var bg sync.WaitGroup
	for i, w := range workers {
		bg.Add(1)
		go func() {
			defer bg.Done()
			tick := time.NewTicker(2 * time.Second)
			defer tick.Stop()
			for {
				ok, failed, err := scrapePolls(wctx, hc, w.metrics)
				if err == nil {
					scrapeMu.Lock()
					scrapes[i] = append(scrapes[i], pollScrape{at: time.Now(), ok: ok, failed: failed})
					scrapeMu.Unlock()
				}
				select {
				case <-wctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	// Readers: one per API, reading what a dashboard reads.
	reads := make([]apiReads, len(apis))
	for i := range apis {
		bg.Add(1)
		go func() {
			defer bg.Done()
			reads[i] = clients[i].steadyReads(wctx, ids, t0)
		}()
	}

	var killAt time.Time
	killedCPU, killedRSS := 0.0, int64(0)
	if o.KillAfter > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(o.KillAfter):
		}
		victim := workers[1]
		if u, err := readProc(victim.c.pid()); err == nil {
			killedCPU, killedRSS = u.CPUSeconds, u.RSSBytes
		}
		killAt = time.Now()
		say("SIGKILL to %s (pid %d)", victim.name, victim.c.pid())
		if err := victim.c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			return nil, fmt.Errorf("kill %s: %w", victim.name, err)
		}
		<-victim.c.done
		rep.KilledAtSec = killAt.Sub(t0).Seconds()
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(t0.Add(o.Duration))):
	}
	t1 := time.Now()
	mach1 := machineJiffies()
	tcpu1, _ := readProc(tsrv.pid())
	pgcpu1, _ := treeCPU(pg.pid())
	wcpu1 := make([]float64, len(workers))
	wrss := make([]int64, len(workers))
	for i, w := range workers {
		if w.c.exited() {
			wcpu1[i], wrss[i] = killedCPU, killedRSS
			continue
		}
		u, _ := readProc(w.c.pid())
		wcpu1[i], wrss[i] = u.CPUSeconds, u.RSSBytes
	}
	size1, err := clusterSizes(ctx, db)
	if err != nil {
		return nil, err
	}
	stopWindow()
	bg.Wait()
	say("window over; reading the results")

	rep.WindowSec = t1.Sub(t0).Seconds()
	rep.MachineBusyPct = machineBusy(mach0, mach1)
	rep.TemporalCPUSec = tcpu1.CPUSeconds - tcpu0.CPUSeconds
	rep.PostgresCPUSec = pgcpu1 - pgcpu0
	rep.ScheduledPollsPerSec = float64(o.Devices) / o.Interval.Seconds()
	if err := measureScaleOutDB(ctx, db, rep, t0, t1, killAt, o.Interval); err != nil {
		return nil, err
	}
	if rep.Polls > 0 {
		p := float64(rep.Polls)
		rep.ProductDBBytesPerPoll = float64(size1.product-size0.product) / p
		rep.TemporalDBBytesPerPoll = float64(size1.temporal-size0.temporal) / p
		rep.WALBytesPerPoll = float64(size1.wal-size0.wal) / p
		rep.ProductTxPerPoll = float64(size1.productTx-size0.productTx) / p
		rep.TemporalTxPerPoll = float64(size1.temporalTx-size0.temporalTx) / p
	}

	owners, histPolls, err := historyOwners(ctx, taddr, ids, t0, t1, killAt)
	if err != nil {
		return nil, err
	}
	for i, w := range workers {
		sw := ScaleOutWorker{Name: w.name, PID: w.c.pid(), Killed: i == 1 && !killAt.IsZero(),
			CPUSec: wcpu1[i] - wcpu0[i], RSSMB: float64(wrss[i]) / (1 << 20), HistoryPolls: histPolls[w.c.pid()]}
		if s := scrapes[i]; len(s) >= 2 {
			first, last := s[0], s[len(s)-1]
			sw.PollsOK, sw.PollsFailed = last.ok-first.ok, last.failed-first.failed
			sw.AliveSec = last.at.Sub(t0).Seconds()
			if d := last.at.Sub(first.at).Seconds(); d > 0 {
				sw.PollsPerSec = float64(sw.PollsOK) / d
			}
		}
		if !killAt.IsZero() && !sw.Killed {
			s := scrapes[i]
			for j := range s {
				if !s[j].at.Before(killAt) {
					if d := s[len(s)-1].at.Sub(s[j].at).Seconds(); d > 0 {
						sw.PollsPerSecAfterKill = float64(s[len(s)-1].ok-s[j].ok) / d
					}
					break
				}
			}
		}
		if sw.PollsOK > 0 {
			sw.CPUPerPollMs = sw.CPUSec / float64(sw.PollsOK) * 1000
		}
		rep.Workers = append(rep.Workers, sw)
	}
	if !killAt.IsZero() {
		if err := measureTakeover(ctx, db, rep, owners, workers[1].c.pid(), killAt, o.Interval); err != nil {
			return nil, err
		}
	}
	for i, p := range apis {
		r := reads[i]
		rep.APIs = append(rep.APIs, ScaleOutAPI{Name: p.name, Requests: int64(len(r.latencies)), Errors: r.errors,
			P50Ms: percentile(r.latencies, 50) * 1000, P99Ms: percentile(r.latencies, 99) * 1000,
			LongestGapSec: r.longestGap.Seconds()})
	}
	return rep, nil
}

// startTemporalPostgres sets up Temporal's databases on the run's PostgreSQL with scripts/temporal-postgres.sh,
// starts the server through it and registers the default namespace: the same steps as `make run
// TEMPORAL=postgres`, on ports of the run's own.
func startTemporalPostgres(ctx context.Context, script, dir, dbURL string, shards int) (*child, string, error) {
	hostPort := strings.TrimPrefix(dbURL, "postgres://")
	hostPort = hostPort[:strings.IndexByte(hostPort, '/')] // infrastructor@127.0.0.1:port
	for attempt := 0; ; attempt++ {
		frontend, err := freePortBlock()
		if err != nil {
			return nil, "", err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", frontend)
		env := append(os.Environ(), "TEMPORAL_DB_URL=postgres://"+hostPort+"/", "TEMPORAL_ADDRESS="+addr,
			fmt.Sprintf("TEMPORAL_UI_PORT=%d", frontend+1000), "TEMPORAL_STATE_DIR="+filepath.Join(dir, "temporal"),
			fmt.Sprintf("TEMPORAL_HISTORY_SHARDS=%d", shards), "TEMPORAL_LOG_LEVEL=warn", "TEMPORAL_NAMESPACE=default")
		// The configuration names the ports, so it is written again for each block tried.
		setup := exec.CommandContext(ctx, script, "setup")
		setup.Env = env
		if out, err := setup.CombinedOutput(); err != nil {
			return nil, "", fmt.Errorf("temporal-postgres.sh setup: %w\n%s", err, out)
		}
		cmd := exec.Command(script, "server")
		cmd.Env = env
		c, err := start("temporal", filepath.Join(dir, "temporal.log"), cmd)
		if err != nil {
			return nil, "", err
		}
		err = waitFor(ctx, c, 180*time.Second, "Temporal server", func(ctx context.Context) error {
			ns := exec.CommandContext(ctx, script, "namespace")
			ns.Env = append(env, "TEMPORAL_START_TIMEOUT=10")
			if out, err := ns.CombinedOutput(); err != nil {
				return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
			}
			return checkTemporal(ctx, addr)
		})
		if err == nil {
			return c, addr, nil
		}
		c.stop(syscall.SIGKILL, time.Second)
		// Another program may have taken one of the ports since they were checked: try another block.
		if attempt >= 2 || ctx.Err() != nil {
			return nil, "", err
		}
	}
}

// freePortBlock finds a frontend port whose neighbours that scripts/temporal-postgres.sh derives from it (+1, +2,
// +6, +10 and their membership ports 300 below) are free.
func freePortBlock() (int, error) {
	offsets := []int{0, 1, 2, 6, 10, -300, -299, -298, -294, 1000}
next:
	for try := 0; try < 200; try++ {
		base := 20000 + rand.IntN(20000)
		var held []net.Listener
		for _, off := range offsets {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+off))
			if err != nil {
				for _, l := range held {
					l.Close()
				}
				continue next
			}
			held = append(held, ln)
		}
		for _, l := range held {
			l.Close()
		}
		return base, nil
	}
	return 0, errors.New("no free block of ports for the Temporal server")
}

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
