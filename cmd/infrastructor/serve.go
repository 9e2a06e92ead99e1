package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/infrastructor/infrastructor/api"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/hub"
	"github.com/infrastructor/infrastructor/internal/logging"
	"github.com/infrastructor/infrastructor/internal/notify"
	"github.com/infrastructor/infrastructor/internal/secret"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/telemetry"
	"github.com/infrastructor/infrastructor/migrations"
	"github.com/infrastructor/infrastructor/worker"
	"github.com/infrastructor/infrastructor/workflows"
)

type role int

const (
	roleAPI role = 1 << iota
	roleWorker
	roleMigrate
)

// setup loads the configuration and builds the logger; a bad setting is one line naming the variable.
func setup(stderr io.Writer) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, nil, err
	}
	return cfg, logging.New(stderr, cfg.LogLevel, cfg.LogFormat), nil
}

// Pool sizes by role when INFRA_DB_MAX_CONNS is 0 (#15). pgx's own default (4, or the CPU count) starves the
// worker: up to 500 activities run at once, and every poll writes its samples, so polls queued behind a handful of
// connections and timed out. The worker's share covers polls writing in bursts plus operations and notifications;
// the API's covers concurrent requests plus the hub's LISTEN connection, which it holds for good. Both stay far
// below PostgreSQL's default max_connections (100) for one API and one worker.
const (
	apiPoolConns    = 16
	workerPoolConns = 24
	// dbConnectTimeout bounds opening one connection, so a stalled server fails a request within its deadline
	// instead of leaving connection attempts hanging in the pool.
	dbConnectTimeout = 5 * time.Second
)

// poolSize is the pool's MaxConns for the roles this process plays.
func poolSize(cfg *config.Config, roles role) int32 {
	if cfg.DBMaxConns > 0 {
		return int32(cfg.DBMaxConns)
	}
	var n int32
	if roles&roleAPI != 0 {
		n += apiPoolConns
	}
	if roles&roleWorker != 0 {
		n += workerPoolConns
	}
	if n == 0 {
		n = 4 // migrations only
	}
	return n
}

// applicationName is the PostgreSQL application_name of this process's connections: distinct for the worker and
// the API, so pg_stat_activity, the server log and the bench can tell whose backend spends what.
func applicationName(roles role) string {
	switch {
	case roles&roleAPI != 0 && roles&roleWorker != 0:
		return "infrastructor" // up: one pool serves both roles
	case roles&roleWorker != 0:
		return "infrastructor-worker"
	case roles&roleAPI != 0:
		return "infrastructor-api"
	default:
		return "infrastructor-migrate"
	}
}

func openDB(ctx context.Context, cfg *config.Config, roles role) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("INFRA_DATABASE_URL: %w", err)
	}
	pcfg.ConnConfig.RuntimeParams["application_name"] = applicationName(roles)
	pcfg.MaxConns = poolSize(cfg, roles)
	if pcfg.ConnConfig.ConnectTimeout == 0 { // connect_timeout in the URL wins
		pcfg.ConnConfig.ConnectTimeout = dbConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	// Wait a bounded time for the database, so services started together (compose, make run) come up in any order.
	deadline := time.Now().Add(60 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = pool.Ping(pctx)
		cancel()
		if err == nil {
			return pool, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			pool.Close()
			return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", cfg.Redacted(), err)
		}
		time.Sleep(time.Second)
	}
}

func migrateUp(ctx context.Context, stderr io.Writer) error {
	cfg, log, err := setup(stderr)
	if err != nil {
		return err
	}
	pool, err := openDB(ctx, cfg, roleMigrate)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := migrations.Up(ctx, pool, log)
	if err != nil {
		return err
	}
	log.Info("migrations up to date", "applied", n)
	return nil
}

func migrateStatus(ctx context.Context, stdout, stderr io.Writer) error {
	cfg, _, err := setup(stderr)
	if err != nil {
		return err
	}
	pool, err := openDB(ctx, cfg, roleMigrate)
	if err != nil {
		return err
	}
	defer pool.Close()
	list, err := migrations.Status(ctx, pool)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED")
	for _, m := range list {
		at := "pending"
		if m.AppliedAt != nil {
			at = m.AppliedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%04d\t%s\t%s\n", m.Version, m.Name, at)
	}
	return tw.Flush()
}

func dialTemporal(ctx context.Context, cfg *config.Config, log *slog.Logger) (client.Client, error) {
	conn, err := workflows.ConnectionOptions(cfg.TemporalCompression)
	if err != nil {
		return nil, fmt.Errorf("INFRA_TEMPORAL_COMPRESSION: %w", err)
	}
	opts := client.Options{
		HostPort:          cfg.TemporalAddress,
		Namespace:         cfg.TemporalNamespace,
		Logger:            tlog.NewStructuredLogger(log.With("component", "temporal")),
		ConnectionOptions: conn,
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := client.DialContext(ctx, opts)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
		}
		log.Warn("Temporal not reachable yet; retrying", "address", cfg.TemporalAddress, "err", err)
		time.Sleep(2 * time.Second)
	}
}

// whileTemporalStarts runs f until it succeeds, retrying for up to limit while Temporal answers that it does not
// know the namespace yet or is unavailable: a server that just registered its namespace serves it only once its
// namespace cache refreshes (about 10 s), and a worker started with it must not exit for that.
func whileTemporalStarts(ctx context.Context, log *slog.Logger, limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		var notFound *serviceerror.NamespaceNotFound
		var unavailable *serviceerror.Unavailable
		if err == nil || !errors.As(err, &notFound) && !errors.As(err, &unavailable) || time.Now().After(deadline) {
			return err
		}
		log.Warn("Temporal is not ready for this yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
}

// loadSecrets loads the key that encrypts channel credentials (INFRA_SECRET_KEY, or the key file in the data
// directory, generated on first start), encrypts credentials still stored in the clear, and says loudly when the
// key does not open the stored ones. A sweep that cannot run (a database not migrated yet) is only a warning: it
// runs again at the next start, and channels stored in the clear keep working meanwhile.
func loadSecrets(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, log *slog.Logger) (*secret.Box, error) {
	box, err := secret.Load(cfg.SecretKey, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	sweep, err := store.SealChannelSecrets(ctx, pool, box)
	switch {
	case err != nil:
		log.Warn("cannot encrypt stored notification credentials now; will try at the next start", "err", err)
	case len(sweep.Unreadable) > 0:
		log.Error("the secret key does not open the stored credentials of some notification channels: "+
			"their notifications fail until INFRA_SECRET_KEY (or $INFRA_DATA_DIR/secret.key) is the key they were saved with, "+
			"or their token and secret are entered again", "channels", sweep.Unreadable)
	case sweep.Sealed > 0:
		log.Info("encrypted notification credentials stored in the clear", "values", sweep.Sealed)
	}
	return box, nil
}

// serve runs the API, the worker, or both until ctx is cancelled, then shuts down in order.
func serve(ctx context.Context, stderr io.Writer, roles role) error {
	cfg, log, err := setup(stderr)
	if err != nil {
		return err
	}
	log.Info("starting infrastructor", "version", version, "database", cfg.Redacted(), "temporal", cfg.TemporalAddress)
	pool, err := openDB(ctx, cfg, roles)
	if err != nil {
		return err
	}
	defer pool.Close()
	if roles&roleMigrate != 0 {
		if _, err := migrations.Up(ctx, pool, log); err != nil {
			return err
		}
	}
	secrets, err := loadSecrets(ctx, cfg, pool, log)
	if err != nil {
		return err
	}
	tc, err := dialTemporal(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer tc.Close()
	poller := &workflows.Client{Client: tc, TaskQueue: cfg.TaskQueue}

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if roles&roleWorker != 0 {
		keys := cfg.SSHKeys
		if len(keys) == 0 {
			path, pub, err := config.EnsureDefaultSSHKey(cfg.DataDir)
			if err != nil {
				return fmt.Errorf("INFRA_SSH_KEY is unset and the default key cannot be prepared: %w", err)
			}
			log.Info("INFRA_SSH_KEY is unset: using the worker's own key; add its public key to each device's authorized_keys",
				"key", path, "public_key", strings.TrimSpace(pub))
			keys = []string{path}
		}
		signers, err := sshpool.LoadSigners(keys...)
		if err != nil {
			return fmt.Errorf("INFRA_SSH_KEY: %w", err)
		}
		w, err := worker.New(worker.Deps{Temporal: tc, TaskQueue: cfg.TaskQueue, DB: pool, Log: log,
			SSH: sshpool.Config{Signers: signers, UseAgent: cfg.SSHAgent}, Secrets: secrets,
			Notify:             &notify.Sender{Targets: notify.Targets{AllowLoopback: cfg.NotifyAllowLoopback}},
			ImageCheckInterval: cfg.ImageCheckInterval})
		if err != nil {
			return err
		}
		defer w.Stop()
		if err := w.Start(); err != nil {
			return err
		}
		if err := worker.StartPollingAll(ctx, pool, poller, log); err != nil {
			return err
		}
		for _, ensure := range []func(context.Context, client.Client, string) error{
			workflows.EnsureHousekeepingSchedule, workflows.EnsureImageUpdatesSchedule} {
			if err := whileTemporalStarts(ctx, log, time.Minute, func() error { return ensure(ctx, tc, cfg.TaskQueue) }); err != nil {
				return err
			}
		}
		log.Info("worker running", "task_queue", cfg.TaskQueue)
		// A worker without the API would record its poll counters and never expose them (#15); with the API (up)
		// they share the process's registry and the API's /metrics serves them.
		if roles&roleAPI == 0 && cfg.WorkerMetricsListen != "" {
			ms, err := serveWorkerMetrics(cfg, pool, log, errs)
			switch {
			case err != nil && cfg.WorkerMetricsListen == config.DefaultWorkerMetricsListen:
				// Several workers on one host (scaling out, tests) would all claim the default port: only an
				// address chosen on purpose is worth refusing to start for.
				log.Warn("worker metrics not served: the default address is taken; set INFRA_WORKER_METRICS_LISTEN",
					"address", cfg.WorkerMetricsListen, "err", err)
			case err != nil:
				return err
			}
			defer func() {
				if ms == nil {
					return
				}
				sctx, scancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
				defer scancel()
				_ = ms.Shutdown(sctx)
			}()
		}
	}

	if roles&roleAPI != 0 {
		if err := api.BootstrapAdminToken(ctx, pool, cfg, log); err != nil {
			return err
		}
		// One LISTEN connection per API process, so every replica delivers every update to its WebSocket clients.
		live := hub.New(hub.Options{MaxPerKey: cfg.WSMaxPerToken, Log: log.With("component", "hub")})
		wg.Add(1)
		go func() { defer wg.Done(); _ = live.Listen(ctx, hub.PoolConnector(pool)) }()
		srv := api.New(api.Deps{Config: cfg, Pool: pool, Workflows: poller, Temporal: api.TemporalHealth{Client: tc}, Log: log, Hub: live,
			Secrets: secrets})
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("HTTP server listening", "address", "http://"+cfg.Listen)
			if err := srv.Listen(cfg.Listen); err != nil {
				errs <- fmt.Errorf("HTTP server on %s: %w", cfg.Listen, err)
			}
		}()
		defer func() {
			cancel()     // ends the listener, also when serve returns on an error
			live.Close() // WebSocket connections are hijacked, so srv.Shutdown does not wait for them
			sctx, scancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer scancel()
			if err := srv.Shutdown(sctx); err != nil {
				log.Warn("HTTP shutdown", "err", err)
			}
			wg.Wait()
		}()
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case err := <-errs:
		return err
	}
}

// serveWorkerMetrics serves the worker's /metrics (poll counters, database pool, runtime) on
// INFRA_WORKER_METRICS_LISTEN, with INFRA_METRICS_TOKEN when set.
func serveWorkerMetrics(cfg *config.Config, pool *pgxpool.Pool, log *slog.Logger, errs chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", cfg.WorkerMetricsListen)
	if err != nil {
		return nil, fmt.Errorf("INFRA_WORKER_METRICS_LISTEN: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", telemetry.Handler(telemetry.Gatherer(telemetry.NewPoolCollector(pool)), cfg.MetricsToken))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case errs <- fmt.Errorf("worker metrics on %s: %w", cfg.WorkerMetricsListen, err):
			default:
			}
		}
	}()
	log.Info("worker metrics listening", "address", "http://"+ln.Addr().String()+"/metrics")
	return srv, nil
}
