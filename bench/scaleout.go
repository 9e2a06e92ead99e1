package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
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
	say := sayer(o.Log, "scaleout")
	script := filepath.Join(o.Root, "scripts", "temporal-postgres.sh")
	for _, b := range []string{"temporal-server", "temporal-sql-tool"} {
		if _, err := os.Stat(filepath.Join(o.Root, "bin", b)); err != nil {
			return nil, fmt.Errorf("bin/%s is missing: run `make temporal-postgres` (minutes, once)", b)
		}
	}
	dir, cleanup, err := workDir(o.WorkDir, "infrastructor-scaleout-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	children := newProcesses(20*time.Second, "postgres", "temporal")
	defer children.stopAll()

	say("starting PostgreSQL")
	keyFile, authFile, pg, dbURL, err := startKeyAndPostgres(ctx, dir)
	if err != nil {
		return nil, err
	}
	children.add(pg)

	say("setting up and starting the Temporal server on PostgreSQL (%d history shards)", o.HistoryShards)
	tsrv, taddr, err := startTemporalPostgres(ctx, script, dir, dbURL, o.HistoryShards)
	if err != nil {
		return nil, err
	}
	children.add(tsrv)

	say("starting %d simulated devices", o.Devices)
	_, devices, err := simulator{bin: o.SimBin, dir: dir, authFile: authFile, devices: o.Devices,
		containers: o.Containers, seed: "scaleout"}.start(ctx, children)
	if err != nil {
		return nil, err
	}

	token := randomHex(24)
	e := env{dbURL: dbURL, temporal: taddr, token: token, keyFile: keyFile, dataDir: filepath.Join(dir, "data")}
	ver, err := migrateProduct(ctx, o.InfraBin, e)
	if err != nil {
		return nil, err
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
		children.add(p.c)
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
		children.add(p.c)
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

	say("adding %d devices over %s through both APIs; warm-up %s", o.Devices, o.Interval, o.Warmup)
	ids, err := addDevices(ctx, clients, devices, o.Interval, o.Warmup)
	if err != nil {
		return nil, err
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
