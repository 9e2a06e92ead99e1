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
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/devicesim"
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

// restClient talks to the product's REST API with the bootstrap admin token.
type restClient struct {
	base, token string
	hc          *http.Client
}

func (r *restClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func (r *restClient) ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %d", resp.StatusCode)
	}
	return nil
}

func (r *restClient) createDevice(ctx context.Context, d devicesim.ManifestEntry, interval time.Duration) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := r.do(ctx, http.MethodPost, "/api/v1/devices", map[string]any{
		"name": d.Name, "host": d.Host, "port": d.Port, "user": "monitor", "poll_interval": interval.String(),
		"host_key_policy": "trust_first_use", "tags": []string{"bench"},
	}, &out)
	return out.ID, err
}

type restStats struct {
	latencies []float64
	errors    int64
}

// readLoad runs n clients that read what a dashboard reads (one device's CPU series, every fifth request the
// fleet summary) back to back with a short pause, until ctx ends.
func (r *restClient) readLoad(ctx context.Context, ids []string, n int) restStats {
	var mu sync.Mutex
	var st restStats
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				path := "/api/v1/fleet/summary"
				if i%5 != 0 {
					path = "/api/v1/devices/" + ids[mrand.IntN(len(ids))] + "/metrics?metric=cpu&from=15m"
				}
				start := time.Now()
				err := r.do(ctx, http.MethodGet, path, nil, nil)
				took := time.Since(start).Seconds()
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				if err != nil {
					st.errors++
				} else {
					st.latencies = append(st.latencies, took)
				}
				mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	wg.Wait()
	return st
}
