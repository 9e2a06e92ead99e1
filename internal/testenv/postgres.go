package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresStartTimeout bounds initdb plus start-up of the private cluster; both take about a second each on an
// idle machine, much longer when the whole suite compiles and runs on two cores.
const postgresStartTimeout = 2 * time.Minute

var (
	pgOnce     sync.Once
	pgAdminURL string
	pgErr      error
)

// PostgresURL returns the URL of a new, empty database that belongs to this test alone and is dropped when the
// test ends.
//
// The database lives on the server named by INFRA_TEST_DATABASE_URL (an admin URL) when that is set; otherwise on
// a private PostgreSQL cluster that this test binary starts on first use, in a temporary directory on a free
// port, tuned for speed over durability. PostgreSQL is a required part of Infrastructor, so missing server
// binaries fail the test rather than skip it.
func PostgresURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, postgresAdmin(t), "")
}

// postgresAdmin returns the admin URL of the server test databases live on, starting the private cluster on first
// use.
func postgresAdmin(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("INFRA_TEST_DATABASE_URL")
	if admin == "" {
		pgOnce.Do(func() { pgAdminURL, pgErr = startPostgres() })
		if pgErr != nil {
			t.Fatalf("testenv: PostgreSQL: %v", pgErr)
		}
		admin = pgAdminURL
	}
	return admin
}

// newDatabase creates a database for this test alone, a copy of template when that is not empty, drops it when the
// test ends and returns its URL.
func newDatabase(t testing.TB, admin, template string) string {
	t.Helper()
	name := "t_" + sanitizeName(t.Name(), 40) + "_" + randomHex(t, 4)
	dbURL, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	create := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		create += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := adminExec(ctx, admin, create); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE terminates connections a test left open (an unclosed pool would otherwise block the drop).
		if err := adminExec(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	return dbURL
}

// withDatabase returns rawURL with its database name replaced by name.
func withDatabase(rawURL, name string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parse database URL: %w", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// adminExec runs one statement on its own connection. CREATE/DROP DATABASE are rare and cannot run in a
// transaction, so a short-lived connection is simpler than a shared pool.
func adminExec(ctx context.Context, adminURL, sql string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect %s: %w", redact(adminURL), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("exec on %s: %w", redact(adminURL), err)
	}
	return nil
}

// redact hides a password in a URL used in error messages.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// postgresBinDir finds the directory holding initdb and postgres: Debian's versioned directories first (highest
// version wins), then PATH.
func postgresBinDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return pgVersion(matches[i]) > pgVersion(matches[j]) })
	for _, m := range matches {
		dir := filepath.Dir(m)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or PATH; " +
		"install them (Debian: apt-get install -y postgresql) or set INFRA_TEST_DATABASE_URL to an admin URL of a running server")
}

// pgVersion extracts the major version from /usr/lib/postgresql/<v>/bin/initdb.
func pgVersion(initdb string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(initdb))), 64)
	return v
}

// startPostgres creates and starts the private cluster and returns the admin URL of its "postgres" database.
func startPostgres() (string, error) {
	binDir, err := postgresBinDir()
	if err != nil {
		return "", err
	}
	cred, err := serverUser("postgres")
	if err != nil {
		return "", fmt.Errorf("PostgreSQL refuses to run as root: %w", err)
	}
	dir, err := makeTempDir("pg")
	if err != nil {
		return "", err
	}
	removeDir := func() error { return os.RemoveAll(dir) }
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			_ = removeDir()
			return "", fmt.Errorf("hand cluster directory %s to uid %d: %w", dir, cred.Uid, err)
		}
	}
	dataDir := filepath.Join(dir, "data")

	ctx, cancel := context.WithTimeout(context.Background(), postgresStartTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", dataDir, "-U", "infrastructor", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = removeDir()
		return "", fmt.Errorf("initdb %s: %w\n%s", dataDir, err, out)
	}

	// A free port can be taken between choosing and binding it; a few attempts make that race harmless.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			_ = removeDir()
			return "", err
		}
		srv, err := runPostgres(ctx, binDir, dir, dataDir, port, cred)
		if err != nil {
			lastErr = err
			continue
		}
		registerStop("postgres "+dataDir, func() error {
			return errors.Join(srv.stop(), removeDir())
		})
		return fmt.Sprintf("postgres://infrastructor@127.0.0.1:%d/postgres?sslmode=disable", port), nil
	}
	_ = removeDir()
	return "", lastErr
}

// pgServer is a running postmaster started by this test binary.
type pgServer struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// runPostgres starts the postmaster in the foreground (not pg_ctl, which detaches it) so it stays this process's
// child: the parent-death signal then stops it even if the test binary is killed.
func runPostgres(ctx context.Context, binDir, dir, dataDir string, port int, cred *syscall.Credential) (*pgServer, error) {
	logPath := filepath.Join(dir, fmt.Sprintf("postgres-%d.log", port))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create postgres log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(binDir, "postgres"),
		"-D", dataDir,
		"-p", strconv.Itoa(port),
		"-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		// Test data is disposable: trading durability for speed.
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "synchronous_commit=off",
		"-c", "max_connections=200",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes its backends down with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := startChild(cmd); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	srv := &pgServer{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(srv.done)
	}()

	adminURL := fmt.Sprintf("postgres://infrastructor@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", port)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.Connect(ctx, adminURL)
		if err == nil {
			_ = conn.Close(context.Background())
			return srv, nil
		}
		select {
		case <-srv.done:
			return nil, fmt.Errorf("postgres on port %d exited during start-up:\n%s", port, tail(logPath))
		case <-ctx.Done():
			_ = srv.stop()
			return nil, fmt.Errorf("postgres on port %d not ready: %w (last error: %v)\n%s", port, ctx.Err(), err, tail(logPath))
		case <-tick.C:
		}
	}
}

// stop asks for a fast shutdown (SIGINT: roll back open transactions, disconnect clients) and escalates to SIGKILL
// if the server does not exit in time.
func (s *pgServer) stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal postgres %d: %w", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("postgres %d ignored fast shutdown for 20s; killed", s.cmd.Process.Pid)
	}
}

// tail returns the end of a log file for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log at %s: %v)", path, err)
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return strings.TrimSpace(string(b))
}
