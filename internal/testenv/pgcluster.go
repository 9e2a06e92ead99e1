package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGClusterOptions shape a dedicated cluster.
type PGClusterOptions struct {
	// DataDir is where the cluster keeps its data files (it must not exist yet, or be empty): a small tmpfs, say,
	// to fill it. Empty means a directory of the test's own.
	DataDir string
	// WALDir, when set, keeps the write-ahead log outside DataDir (initdb --waldir), so a full data disk fails
	// table writes with an error instead of taking the server down at its next WAL segment.
	WALDir string
	// Settings are more server settings, each "name=value" as for postgres -c (shared_preload_libraries=timescaledb,
	// say); they apply at every start.
	Settings []string
}

// PGCluster is a PostgreSQL cluster of one test alone, which the test may stop, restart and starve (unlike the
// shared cluster of PostgresURL). It keeps its port across restarts, so clients reconnect to the same address.
type PGCluster struct {
	t       testing.TB
	binDir  string
	dir     string // socket directory and log
	dataDir string
	port    int
	cred    *syscall.Credential
	extra   []string // -c settings of PGClusterOptions.Settings

	mu  sync.Mutex
	srv *pgServer
}

// StartPGCluster creates and starts a dedicated cluster; it is stopped when the test ends.
func StartPGCluster(t testing.TB, opts PGClusterOptions) *PGCluster {
	t.Helper()
	binDir, err := postgresBinDir()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cred, err := serverUser("postgres")
	if err != nil {
		t.Fatalf("testenv: PostgreSQL refuses to run as root: %v", err)
	}
	dir, err := makeTempDir("pgc")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	dataDir := opts.DataDir
	if dataDir == "" {
		dataDir = filepath.Join(dir, "data")
	}
	for _, d := range []string{dir, dataDir, opts.WALDir} {
		if d == "" {
			continue
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatalf("testenv: hand %s to uid %d: %v", d, cred.Uid, err)
			}
		}
	}
	args := []string{"-D", dataDir, "-U", "infrastructor", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"}
	if opts.WALDir != "" {
		// initdb wants to create the WAL directory itself (or find it empty).
		args = append(args, "--waldir", filepath.Join(opts.WALDir, "pg_wal"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), postgresStartTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), args...)
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb %s: %v\n%s", dataDir, err, out)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	c := &PGCluster{t: t, binDir: binDir, dir: dir, dataDir: dataDir, port: port, cred: cred}
	for _, kv := range opts.Settings {
		c.extra = append(c.extra, "-c", kv)
	}
	c.Start()
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("testenv: stop PostgreSQL: %v", err)
		}
	})
	return c
}

// URL is the connection URL of database name on the cluster.
func (c *PGCluster) URL(name string) string {
	return fmt.Sprintf("postgres://infrastructor@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// Port is the cluster's TCP port on 127.0.0.1.
func (c *PGCluster) Port() int { return c.port }

// CreateDatabase creates an empty database and returns its URL.
func (c *PGCluster) CreateDatabase(name string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := adminExec(ctx, c.URL("postgres"), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		c.t.Fatalf("testenv: %v", err)
	}
	return c.URL(name)
}

// Start starts the stopped cluster on its port and waits until it accepts connections.
func (c *PGCluster) Start() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv != nil {
		c.t.Fatalf("testenv: PostgreSQL on port %d is already running", c.port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), postgresStartTimeout)
	defer cancel()
	srv, err := c.run(ctx)
	if err != nil {
		c.t.Fatalf("testenv: %v", err)
	}
	c.srv = srv
}

// Stop shuts the cluster down the way an operator's restart does (fast shutdown: open transactions roll back,
// clients are disconnected).
func (c *PGCluster) Stop() {
	c.t.Helper()
	if err := c.stop(); err != nil {
		c.t.Fatalf("testenv: stop PostgreSQL: %v", err)
	}
}

// Log returns the end of the server log, for failure messages.
func (c *PGCluster) Log() string { return tail(filepath.Join(c.dir, "postgres.log")) }

func (c *PGCluster) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv == nil {
		return nil
	}
	err := c.srv.stop()
	c.srv = nil
	return err
}

// run starts the postmaster in the foreground as this process's child (see runPostgres), logging to one file
// across restarts.
func (c *PGCluster) run(ctx context.Context) (*pgServer, error) {
	logPath := filepath.Join(c.dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open postgres log: %w", err)
	}
	defer logFile.Close()
	if c.cred != nil {
		_ = os.Chown(logPath, int(c.cred.Uid), int(c.cred.Gid))
	}
	args := []string{
		"-D", c.dataDir,
		"-p", strconv.Itoa(c.port),
		"-k", c.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "synchronous_commit=off",
		"-c", "max_connections=200",
	}
	cmd := exec.Command(filepath.Join(c.binDir, "postgres"), append(args, c.extra...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := startChild(cmd); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	srv := &pgServer{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(srv.done)
	}()
	url := c.URL("postgres") + "&connect_timeout=5"
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			_ = conn.Close(context.Background())
			return srv, nil
		}
		select {
		case <-srv.done:
			return nil, fmt.Errorf("postgres on port %d exited during start-up:\n%s", c.port, tail(logPath))
		case <-ctx.Done():
			_ = srv.stop()
			return nil, errors.Join(fmt.Errorf("postgres on port %d not ready: %w (last error: %v)", c.port, ctx.Err(), err),
				errors.New(tail(logPath)))
		case <-tick.C:
		}
	}
}

// PostgresExtensionInstalled says whether the PostgreSQL server the clusters run (see PostgresURL) has the
// extension name installed: its control file and its library, which shared_preload_libraries loads.
func PostgresExtensionInstalled(name string) (bool, error) {
	binDir, err := postgresBinDir()
	if err != nil {
		return false, err
	}
	dirs := map[string]string{}
	for _, flag := range []string{"--sharedir", "--pkglibdir"} {
		out, err := exec.Command(filepath.Join(binDir, "pg_config"), flag).Output()
		if err != nil {
			return false, fmt.Errorf("pg_config %s: %w", flag, err)
		}
		dirs[flag] = strings.TrimSpace(string(out))
	}
	for _, f := range []string{filepath.Join(dirs["--sharedir"], "extension", name+".control"), filepath.Join(dirs["--pkglibdir"], name+".so")} {
		if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) {
			return false, nil
		} else if err != nil {
			return false, err
		}
	}
	return true, nil
}
