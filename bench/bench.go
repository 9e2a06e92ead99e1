// Package bench measures the whole product on one machine: PostgreSQL, the Temporal dev server, the worker and
// the API as separate processes, polling a fleet of simulated devices (cmd/devicesim) over real SSH, against a
// minimal direct poll loop over the same devices in the same run (see RunBaseline).
//
// Run is what `make bench` drives through cmd/bench; the numbers and how they are measured are described on
// Report's fields and in docs/performance.md.
package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"golang.org/x/crypto/ssh"
)

// Options sizes a run and names the programs it starts.
type Options struct {
	Devices    int
	Interval   time.Duration
	Warmup     time.Duration // after the first device is added; devices are added over the first interval
	Duration   time.Duration // measured window of the product, and of the baseline
	Containers int           // per simulated device
	Readers    int           // concurrent REST clients during the window

	// The latency phase after the window (see Run): WebSocket clients and how long they listen (one interval when
	// zero), MCP read-tool calls, container restarts. Zero counts take the defaults (50, 200, 20).
	WSClients        int
	WSWindow         time.Duration
	MCPCalls         int
	ContainerActions int

	InfraBin    string // bin/infrastructor
	SimBin      string // the devicesim command
	TemporalBin string // the Temporal CLI (server start-dev)
	SelfBin     string // a program whose "baseline" subcommand runs RunBaseline (cmd/bench)
	// WorkerCmd, when set, replaces `InfraBin worker` (for a profiling build: `infrastructor-pprof worker`); it
	// gets the same environment.
	WorkerCmd []string
	// ProfileOut, when set, is where a CPU profile of the worker over the window is written; the worker must
	// serve Go's pprof endpoints on $BENCH_PPROF_LISTEN (a build of cmd/infrastructor with -tags pprof does).
	ProfileOut string

	WorkDir string // logs and data; a temporary directory when empty
	Log     io.Writer
}

// env is the environment of the product's processes.
type env struct {
	dbURL, temporal, listen, token, keyFile, dataDir string
}

func (e env) list() []string {
	return append(os.Environ(),
		"INFRA_DATABASE_URL="+e.dbURL, "INFRA_TEMPORAL_ADDRESS="+e.temporal, "INFRA_TASK_QUEUE=bench",
		"INFRA_LISTEN="+e.listen, "INFRA_ADMIN_TOKEN="+e.token, "INFRA_SSH_KEY="+e.keyFile, "INFRA_SSH_AGENT=false",
		// The readers share one token as fast as they can: measure the system, not the per-token request limit.
		"INFRA_TOKEN_REQUESTS_PER_MINUTE=0",
		"INFRA_DATA_DIR="+e.dataDir, "INFRA_LOG_LEVEL=warn", "INFRA_LOG_FORMAT=text")
}

// Run starts everything, measures, stops everything and returns the report.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	if o.Devices <= 0 || o.Interval <= 0 || o.Duration <= 0 {
		return nil, errors.New("bench: devices, interval and duration must be positive")
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.WSClients <= 0 {
		o.WSClients = 50
	}
	if o.WSWindow <= 0 {
		o.WSWindow = o.Interval
	}
	if o.MCPCalls <= 0 {
		o.MCPCalls = 200
	}
	if o.ContainerActions <= 0 {
		o.ContainerActions = 20
	}
	if o.Warmup < o.Interval {
		o.Warmup = o.Interval + o.Interval/2
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	say := sayer(logw, "bench")
	dir, cleanup, err := workDir(o.WorkDir, "infrastructor-bench-")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	children := newProcesses(15*time.Second, "postgres")
	defer children.stopAll()

	// A client key for the worker and the baseline; the simulator accepts only it.
	say("starting PostgreSQL")
	keyFile, authFile, pg, dbURL, err := startKeyAndPostgres(ctx, dir)
	if err != nil {
		return nil, err
	}
	children.add(pg)
	say("starting the Temporal dev server")
	tsrv, taddr, err := startTemporal(ctx, o.TemporalBin, dir, checkTemporal)
	if err != nil {
		return nil, err
	}
	children.add(tsrv)

	say("starting %d simulated devices", o.Devices)
	sim, devices, err := simulator{bin: o.SimBin, dir: dir, authFile: authFile, devices: o.Devices,
		containers: o.Containers, seed: "bench"}.start(ctx, children)
	if err != nil {
		return nil, err
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	token := randomHex(24)
	e := env{dbURL: dbURL, temporal: taddr, listen: fmt.Sprintf("127.0.0.1:%d", port), token: token,
		keyFile: keyFile, dataDir: filepath.Join(dir, "data")}
	ver, err := migrateProduct(ctx, o.InfraBin, e)
	if err != nil {
		return nil, err
	}
	wargs := o.WorkerCmd
	if len(wargs) == 0 {
		wargs = []string{o.InfraBin, "worker"}
	}
	wcmd := exec.Command(wargs[0], wargs[1:]...)
	wcmd.Env = e.list()
	pprofAddr := ""
	if o.ProfileOut != "" {
		pp, err := freePort()
		if err != nil {
			return nil, err
		}
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", pp)
		wcmd.Env = append(wcmd.Env, "BENCH_PPROF_LISTEN="+pprofAddr)
	}
	worker, err := start("worker", filepath.Join(dir, "worker.log"), wcmd)
	if err != nil {
		return nil, err
	}
	children.add(worker)
	acmd := exec.Command(o.InfraBin, "server")
	acmd.Env = e.list()
	apiProc, err := start("api", filepath.Join(dir, "api.log"), acmd)
	if err != nil {
		return nil, err
	}
	children.add(apiProc)
	api := &restClient{base: "http://" + e.listen, token: token, hc: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	if err := waitFor(ctx, apiProc, 120*time.Second, "API", func(ctx context.Context) error {
		return api.ready(ctx)
	}); err != nil {
		return nil, err
	}
	if worker.exited() {
		return nil, fmt.Errorf("worker exited at start-up; log %s", worker.log)
	}

	say("adding %d devices over %s; warm-up %s", o.Devices, o.Interval, o.Warmup)
	ids, err := addDevices(ctx, []*restClient{api}, devices, o.Interval, o.Warmup)
	if err != nil {
		return nil, err
	}

	say("measuring for %s", o.Duration)
	rep = &Report{Started: time.Now().UTC(), ProductVersion: strings.TrimSpace(string(ver)), Devices: o.Devices, IntervalSec: o.Interval.Seconds(),
		WarmupSec: o.Warmup.Seconds(), ContainersEach: o.Containers, MachineCPUs: numCPU(),
		NotMeasured: map[string]string{}}
	dbcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	dbcfg.ConnConfig.RuntimeParams["application_name"] = pgAppBench
	db, err := pgxpool.NewWithConfig(ctx, dbcfg)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	bytes0, err := readDBBytes(ctx, db)
	if err != nil {
		return nil, err
	}
	snap0 := snapshot(worker, tsrv, pg, sim, apiProc)
	backends0, backendsErr := readPGBackends(ctx, db)
	t0 := time.Now()
	rctx, stopReaders := context.WithCancel(ctx)
	readDone := make(chan restStats, 1)
	go func() { readDone <- api.readLoad(rctx, ids, o.Readers) }()
	profDone := make(chan error, 1)
	if pprofAddr != "" {
		go func() { profDone <- fetchProfile(ctx, pprofAddr, o.Duration, o.ProfileOut) }()
	} else {
		profDone <- nil
	}
	select {
	case <-ctx.Done():
		stopReaders()
		return nil, ctx.Err()
	case <-time.After(o.Duration):
	}
	t1 := time.Now()
	snap1 := snapshot(worker, tsrv, pg, sim, apiProc)
	backends1, err := readPGBackends(ctx, db)
	if backendsErr == nil {
		backendsErr = err
	}
	bytes1, bytesErr := readDBBytes(ctx, db)
	stopReaders()
	if bytesErr != nil {
		return nil, bytesErr
	}
	rs := <-readDone
	if err := <-profDone; err != nil {
		say("worker profile: %v", err)
	}

	window := t1.Sub(t0).Seconds()
	rep.WindowSec = window
	rep.MachineBusyPct = machineBusy(snap0.machine, snap1.machine)
	if err := measureDB(ctx, db, rep, t0, t1, o.Interval); err != nil {
		return nil, err
	}
	rep.ScheduledPollsPerSec = float64(o.Devices) / o.Interval.Seconds()
	rep.AchievedPollsPerSec = float64(rep.Polls) / window
	rep.Adherence = rep.AchievedPollsPerSec / rep.ScheduledPollsPerSec
	rep.WorkerCPUSec = snap1.worker - snap0.worker
	rep.TemporalCPUSec = snap1.temporal - snap0.temporal
	rep.PostgresCPUSec = snap1.postgres - snap0.postgres
	rep.WorkerRSSMB = float64(snap1.workerRSS) / (1 << 20)
	rep.WorkerRSSPerDeviceKB = float64(snap1.workerRSS) / 1024 / float64(o.Devices)
	rep.SimulatorRSSMB = float64(snap1.simRSS) / (1 << 20)
	if rep.Polls > 0 {
		p := float64(rep.Polls)
		rep.WorkerCPUPerPollMs = rep.WorkerCPUSec / p * 1000
		rep.TemporalCPUPerPollMs = rep.TemporalCPUSec / p * 1000
		rep.PostgresCPUPerPollMs = rep.PostgresCPUSec / p * 1000
		rep.SimulatorCPUPerPollMs = (snap1.sim - snap0.sim) / p * 1000
		rep.APICPUPerPollMs = (snap1.api - snap0.api) / p * 1000
		rep.AllInCPUPerPollMs = rep.WorkerCPUPerPollMs + rep.TemporalCPUPerPollMs + rep.PostgresCPUPerPollMs
		if backendsErr != nil {
			rep.NotMeasured["postgres_cpu_by_client"] = backendsErr.Error()
		} else {
			rep.PostgresCPUPerPollMsByClient = map[string]float64{}
			attributed := 0.0
			for c, sec := range pgCPUByClient(backends0, backends1) {
				rep.PostgresCPUPerPollMsByClient[c] = sec / p * 1000
				attributed += sec
			}
			rep.PostgresCPUPerPollMsByClient["unattributed"] = max(0, rep.PostgresCPUSec-attributed) / p * 1000
			rep.PostgresAPICPUPerPollMs = rep.PostgresCPUPerPollMsByClient[pgAppAPI]
		}
		rep.AllInWithoutAPIPostgresCPUPerPollMs = rep.AllInCPUPerPollMs - rep.PostgresAPICPUPerPollMs
	}
	rep.TableBytesPerPoll, rep.WALBytesPerPoll, rep.TableMBPerDeviceDay, rep.WALMBPerDeviceDay =
		storageFigures(bytes0, bytes1, rep.Polls, o.Interval.Seconds())
	rep.TableGrowth = tableGrowth(bytes0, bytes1, rep.Polls, 6)
	rep.RESTRequests, rep.RESTErrors = int64(len(rs.latencies)), rs.errors
	rep.RESTP50Ms, rep.RESTP99Ms = percentile(rs.latencies, 50)*1000, percentile(rs.latencies, 99)*1000

	// The latency phase runs after the window so its clients never disturb the poll figures above; the devices
	// keep being polled meanwhile, so these latencies are under the same polling load.
	measureLatencies(ctx, o, rep, api, db, keyFile, ids, say)

	tc, err := client.Dial(client.Options{HostPort: taddr, Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	if q := statusQueries(ctx, tc, ids, o.MCPCalls); len(q) > 0 {
		rep.StatusQueryP50Ms, rep.StatusQueryP99Ms = percentile(q, 50)*1000, percentile(q, 99)*1000
	}
	rep.HistoryEventsPerPoll, err = historyEventsPerPoll(ctx, tc, ids)
	if err != nil {
		return nil, err
	}

	// The baseline runs after the worker has stopped, so the two never compete for the CPU.
	say("stopping the worker; running the direct-loop baseline for %s", o.Duration)
	worker.stop(syscall.SIGTERM, 20*time.Second)
	bcmd := exec.CommandContext(ctx, o.SelfBin, "baseline", "-database-url", dbURL, "-key", keyFile,
		"-interval", o.Interval.String(), "-warmup", o.Interval.String(), "-duration", o.Duration.String(),
		"-postgres-pid", fmt.Sprint(pg.pid()))
	var bout bytes.Buffer
	bcmd.Stdout = &bout
	bcmd.Stderr = logw
	pgBefore, _ := treeCPU(pg.pid())
	if err := bcmd.Run(); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	pgAfter, _ := treeCPU(pg.pid())
	var br BaselineResult
	if err := json.Unmarshal(bout.Bytes(), &br); err != nil {
		return nil, fmt.Errorf("baseline output: %w: %s", err, bout.String())
	}
	rep.BaselinePolls, rep.BaselineErrors = br.Polls, br.Errors
	if br.WindowSeconds > 0 {
		rep.BaselinePollsPerSec = float64(br.Polls) / br.WindowSeconds
	}
	if br.Polls > 0 {
		rep.BaselineCPUPerPollMs = br.CPUSeconds / float64(br.Polls) * 1000
	}
	if br.TotalPolls > 0 {
		rep.BaselinePostgresCPUPerPollMs = (pgAfter - pgBefore) / float64(br.TotalPolls) * 1000
	}
	rep.BaselineLatenessP50, rep.BaselineLatenessP99 = percentile(br.Lateness, 50), percentile(br.Lateness, 99)
	if rep.BaselineCPUPerPollMs > 0 {
		rep.WorkerVsBaselineRatio = rep.WorkerCPUPerPollMs / rep.BaselineCPUPerPollMs
	}
	if br.Polls > 0 {
		p := float64(br.Polls)
		rep.BaselineWindowPostgresCPUPerPollMs = br.PostgresCPUSeconds / p * 1000
		rep.BaselineAllInCPUPerPollMs = rep.BaselineCPUPerPollMs + rep.BaselineWindowPostgresCPUPerPollMs
		rep.BaselineTableBytesPerPoll = float64(br.RelationBytes) / p
		rep.BaselineWALBytesPerPoll = float64(br.WALBytes) / p
	}
	rep.AllInRatio = ratio(rep.AllInCPUPerPollMs, rep.BaselineAllInCPUPerPollMs)
	rep.AllInWithoutAPIPostgresRatio = ratio(rep.AllInWithoutAPIPostgresCPUPerPollMs, rep.BaselineAllInCPUPerPollMs)
	rep.TableBytesRatio = ratio(rep.TableBytesPerPoll, rep.BaselineTableBytesPerPoll)
	rep.WALBytesRatio = ratio(rep.WALBytesPerPoll, rep.BaselineWALBytesPerPoll)
	if br.FirstError != "" {
		say("baseline: %d errors, first: %s", br.Errors, br.FirstError)
	}
	return rep, nil
}

// fetchProfile saves a CPU profile of the worker covering most of the window.
func fetchProfile(ctx context.Context, addr string, window time.Duration, out string) error {
	secs := max(1, int(window.Seconds())-2)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: window + time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeClientKey(dir string) (keyFile, authFile string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, "bench")
	if err != nil {
		return "", "", err
	}
	keyFile = filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", "", err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", "", err
	}
	authFile = filepath.Join(dir, "authorized_keys")
	return keyFile, authFile, os.WriteFile(authFile, ssh.MarshalAuthorizedKey(sp), 0o644)
}

func quietLogger() tlog.Logger { return tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)) }

func checkTemporal(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Logger: quietLogger()})
	if err != nil {
		return err
	}
	defer c.Close()
	nc, err := client.NewNamespaceClient(client.Options{HostPort: addr, Logger: quietLogger()})
	if err != nil {
		return err
	}
	defer nc.Close()
	_, err = nc.Describe(ctx, "default")
	return err
}
