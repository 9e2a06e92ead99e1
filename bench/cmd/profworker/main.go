// Command profworker is `infrastructor worker` with Go's profiling endpoints on $BENCH_PPROF_LISTEN, for
// finding what a poll costs (see docs/performance.md). It builds the worker from the same packages and
// settings as the product's worker role (cmd/infrastructor serve.go); the product binary itself carries no
// profiler. Run the bench with BENCH_WORKER=bin/profworker BENCH_PPROF=1 to get a CPU profile of the window.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // the point of this command
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/logging"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/worker"
	"github.com/infrastructor/infrastructor/workflows"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "profworker:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	if addr := os.Getenv("BENCH_PPROF_LISTEN"); addr != "" {
		go func() { log.Warn("pprof server", "err", http.ListenAndServe(addr, nil)) }()
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	tc, err := client.DialContext(ctx, client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace,
		Logger: tlog.NewStructuredLogger(log.With("component", "temporal"))})
	if err != nil {
		return err
	}
	defer tc.Close()
	signers, err := sshpool.LoadSigners(cfg.SSHKeys...)
	if err != nil {
		return err
	}
	ssh, err := sshpool.New(sshpool.Config{Signers: signers, UseAgent: cfg.SSHAgent, HostKeys: &activities.HostKeys{DB: pool}})
	if err != nil {
		return err
	}
	defer ssh.Close()
	w := worker.New(tc, cfg.TaskQueue, &activities.Activities{DB: pool, SSH: ssh, Log: log})
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	poller := &workflows.Client{Client: tc, TaskQueue: cfg.TaskQueue}
	if err := worker.StartPollingAll(ctx, pool, poller, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
