// Command bench runs the whole Infrastructor system against simulated devices and prints one results table
// (see package bench). `make bench` runs it; BENCH_DEVICES, BENCH_INTERVAL, BENCH_DURATION, BENCH_WARMUP,
// BENCH_CONTAINERS and BENCH_READERS size the run, BENCH_WS_CLIENTS, BENCH_WS_WINDOW, BENCH_MCP_CALLS and
// BENCH_ACTIONS the latency phase after the window, BENCH_RESULTS names the output directory, BENCH_BIN the
// directory holding infrastructor and devicesim. BENCH_WORKER=bin/infrastructor-pprof BENCH_PPROF=1 profiles the worker
// (make bin/infrastructor-pprof builds it).
//
//	bench                 run the benchmark
//	bench baseline ...    the direct poll loop, started by the benchmark as its own process
//	bench simmem -devices N [-sim bin/devicesim]   the simulator's memory with N connected devices
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/infrastructor/infrastructor/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "baseline":
		err = baseline(ctx, os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "simmem":
		err = simmem(ctx, os.Args[2:])
	default:
		err = run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive number", name, v)
	}
	return n, nil
}

func envDuration(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 30s", name, v)
	}
	return d, nil
}

func run(ctx context.Context) error {
	devices, err := envInt("BENCH_DEVICES", 200)
	if err != nil {
		return err
	}
	containers, err := envInt("BENCH_CONTAINERS", 4)
	if err != nil {
		return err
	}
	readers, err := envInt("BENCH_READERS", 4)
	if err != nil {
		return err
	}
	wsClients, err := envInt("BENCH_WS_CLIENTS", 50)
	if err != nil {
		return err
	}
	mcpCalls, err := envInt("BENCH_MCP_CALLS", 200)
	if err != nil {
		return err
	}
	actions, err := envInt("BENCH_ACTIONS", 20)
	if err != nil {
		return err
	}
	interval, err := envDuration("BENCH_INTERVAL", 30*time.Second)
	if err != nil {
		return err
	}
	duration, err := envDuration("BENCH_DURATION", 2*time.Minute)
	if err != nil {
		return err
	}
	warmup, err := envDuration("BENCH_WARMUP", 2*interval)
	if err != nil {
		return err
	}
	wsWindow, err := envDuration("BENCH_WS_WINDOW", interval)
	if err != nil {
		return err
	}
	bin := os.Getenv("BENCH_BIN")
	if bin == "" {
		bin = "bin"
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	temporal := filepath.Join(bin, "temporal")
	if p := os.Getenv("BENCH_TEMPORAL"); p != "" {
		temporal = p
	}
	o := bench.Options{Devices: devices, Interval: interval, Warmup: warmup, Duration: duration,
		Containers: containers, Readers: readers, WSClients: wsClients, WSWindow: wsWindow, MCPCalls: mcpCalls,
		ContainerActions: actions, InfraBin: filepath.Join(bin, "infrastructor"),
		SimBin: filepath.Join(bin, "devicesim"), TemporalBin: temporal, SelfBin: self,
		WorkDir: os.Getenv("BENCH_WORKDIR"), Log: os.Stderr}
	dir := os.Getenv("BENCH_RESULTS")
	if dir == "" {
		dir = filepath.Join("bench", "results")
	}
	if w := os.Getenv("BENCH_WORKER"); w != "" {
		o.WorkerCmd = []string{w, "worker"}
	}
	if os.Getenv("BENCH_PPROF") != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		o.ProfileOut = filepath.Join(dir, fmt.Sprintf("%s-%ddev-worker.pprof", time.Now().UTC().Format("20060102-150405"), devices))
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Print(rep.Text())
	md, js, err := rep.Write(dir)
	if err != nil {
		return err
	}
	fmt.Printf("\nwritten: %s, %s\n", md, js)
	if o.ProfileOut != "" {
		fmt.Printf("worker CPU profile: %s (go tool pprof -top %s)\n", o.ProfileOut, o.ProfileOut)
	}
	return nil
}

func baseline(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	var o bench.BaselineOptions
	fs.StringVar(&o.DatabaseURL, "database-url", "", "PostgreSQL URL of the product's database")
	fs.StringVar(&o.KeyFile, "key", "", "SSH private key file")
	fs.DurationVar(&o.Interval, "interval", 30*time.Second, "poll interval")
	fs.DurationVar(&o.Warmup, "warmup", 30*time.Second, "time before the measured window")
	fs.DurationVar(&o.Duration, "duration", time.Minute, "measured window")
	fs.IntVar(&o.PostgresPID, "postgres-pid", 0, "postmaster PID whose process tree's CPU is measured over the window")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := bench.RunBaseline(ctx, o)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func simmem(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("simmem", flag.ContinueOnError)
	n := fs.Int("devices", 1000, "number of simulated devices")
	sim := fs.String("sim", filepath.Join("bin", "devicesim"), "the devicesim command")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := bench.MeasureSimulator(ctx, *sim, *n)
	if res != nil {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	}
	return err
}
