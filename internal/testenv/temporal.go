package testenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// TemporalCLIModule is the pinned Temporal CLI whose `server start-dev` is the dev server for `make run` and the
// tests. The Makefile pins the same module (TestMakefilePinsTemporalCLI keeps them in step); newer CLI releases do
// not install from the module proxy.
const TemporalCLIModule = "github.com/temporalio/cli/cmd/temporal@v1.5.1"

// temporalStartTimeout bounds the dev server's start-up (about 2 s idle, far more under a loaded suite).
const temporalStartTimeout = 2 * time.Minute

var (
	temporalOnce sync.Once
	temporalAddr string
	temporalErr  error
)

// TemporalAddress returns the host:port of a Temporal frontend for this test: INFRA_TEST_TEMPORAL_ADDRESS when set,
// otherwise a dev server (in-memory, random port, no UI) that this test binary starts on first use. The dev server
// binary is bin/temporal in the repository, else `temporal` on PATH, else it is built into bin/ first (a few
// minutes, once per machine). Tests share the server and its "default" namespace; each should use its own
// TaskQueue(t) to stay isolated.
func TemporalAddress(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv("INFRA_TEST_TEMPORAL_ADDRESS"); addr != "" {
		return addr
	}
	temporalOnce.Do(func() { temporalAddr, temporalErr = startTemporal(t) })
	if temporalErr != nil {
		t.Fatalf("testenv: Temporal: %v", temporalErr)
	}
	return temporalAddr
}

// temporalBinary finds the dev server executable, building it when neither bin/temporal nor PATH has one.
func temporalBinary(t testing.TB) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	local := filepath.Join(root, "bin", "temporal")
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return buildTemporal(t, root)
}

// buildTemporal installs the pinned CLI into <root>/bin. An exclusive lock on bin/ keeps test binaries of several
// packages, started together by `go test ./...`, from building it at the same time.
func buildTemporal(t testing.TB, root string) (string, error) {
	binDir := filepath.Join(root, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", binDir, err)
	}
	lock, err := os.OpenFile(filepath.Join(binDir, ".temporal.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("open build lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	exe := filepath.Join(binDir, "temporal")
	if _, err := os.Stat(exe); err == nil {
		return exe, nil // built by another test binary while this one waited for the lock
	}
	t.Logf("testenv: no Temporal dev server in bin/ or PATH; building %s into %s (a few minutes, once)", TemporalCLIModule, binDir)
	// `go test` puts its own toolchain first on PATH, so this is the go that builds the tests.
	cmd := exec.Command("go", "install", TemporalCLIModule)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+binDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %w\n%s", TemporalCLIModule, err, out)
	}
	return exe, nil
}

// startTemporal runs the dev server and waits until the default namespace answers.
func startTemporal(t testing.TB) (string, error) {
	exe, err := temporalBinary(t)
	if err != nil {
		return "", err
	}
	dir, err := makeTempDir("temporal")
	if err != nil {
		return "", err
	}
	removeDir := func() error { return os.RemoveAll(dir) }
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			_ = removeDir()
			return "", err
		}
		srv, err := runTemporal(exe, dir, port)
		if err != nil {
			lastErr = err
			continue
		}
		registerStop("temporal "+srv.addr, func() error { return errors.Join(srv.stop(), removeDir()) })
		return srv.addr, nil
	}
	_ = removeDir()
	return "", lastErr
}

// temporalServer is a running dev server started by this test binary.
type temporalServer struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// runTemporal starts the dev server directly rather than through the SDK's testsuite.StartDevServer, because only a
// direct start can set the parent-death signal that reaps the server when a test binary is killed on timeout.
// The arguments otherwise match StartDevServer's (no UI, version check off).
func runTemporal(exe, dir string, port int) (*temporalServer, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logPath := filepath.Join(dir, fmt.Sprintf("temporal-%d.log", port))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create temporal log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(exe, "server", "start-dev",
		"--ip", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--headless",
		"--log-level", "error",
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := startChild(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	srv := &temporalServer{addr: addr, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(srv.done)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), temporalStartTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := checkTemporal(ctx, addr)
		if err == nil {
			return srv, nil
		}
		select {
		case <-srv.done:
			return nil, fmt.Errorf("temporal dev server on %s exited during start-up:\n%s", addr, tail(logPath))
		case <-ctx.Done():
			_ = srv.stop()
			return nil, fmt.Errorf("temporal dev server on %s not ready: %w (last error: %v)\n%s", addr, ctx.Err(), err, tail(logPath))
		case <-tick.C:
		}
	}
}

// checkTemporal succeeds once the frontend is healthy and the default namespace exists.
func checkTemporal(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Logger: quietLogger()})
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("check health of %s: %w", addr, err)
	}
	nc, err := client.NewNamespaceClient(client.Options{HostPort: addr, Logger: quietLogger()})
	if err != nil {
		return fmt.Errorf("namespace client for %s: %w", addr, err)
	}
	defer nc.Close()
	if _, err := nc.Describe(ctx, "default"); err != nil {
		return fmt.Errorf("describe namespace default on %s: %w", addr, err)
	}
	return nil
}

// quietLogger drops the SDK client's connection chatter while the server is still coming up.
func quietLogger() tlog.Logger { return tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)) }

// stop interrupts the dev server (its graceful shutdown) and kills it if it lingers.
func (s *temporalServer) stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal temporal %d: %w", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("temporal dev server %d ignored SIGINT for 20s; killed", s.cmd.Process.Pid)
	}
}
