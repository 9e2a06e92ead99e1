package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RestartableTemporal is a Temporal dev server owned by one test, whose history lives in a SQLite file, so the
// test can kill it and start it again on the same address with every workflow, timer and task still there, as a
// crashed and restarted production server would come back. The shared server of TemporalAddress is in memory
// and lives as long as the test binary, so it cannot play that part.
//
// Its methods fail the test on error and must be called from the test's goroutine.
type RestartableTemporal struct {
	// Addr is the frontend's host:port; it stays the same across restarts.
	Addr string

	t       testing.TB
	exe     string
	port    int
	dbPath  string
	logPath string

	mu  sync.Mutex
	srv *temporalServer
}

// StartRestartableTemporal starts a dev server with a persistent database in a directory of its own and stops it
// at cleanup.
func StartRestartableTemporal(t testing.TB) *RestartableTemporal {
	t.Helper()
	exe, err := temporalBinary(t)
	if err != nil {
		t.Fatalf("testenv: Temporal: %v", err)
	}
	dir, err := makeTempDir("temporal-restartable")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	r := &RestartableTemporal{t: t, exe: exe, dbPath: filepath.Join(dir, "temporal.db"), logPath: filepath.Join(dir, "temporal.log")}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("temporal dev server %s log:\n%s", r.Addr, tail(r.logPath))
		}
		r.mu.Lock()
		srv := r.srv
		r.srv = nil
		r.mu.Unlock()
		if srv != nil {
			_ = srv.stop()
		}
		_ = os.RemoveAll(dir)
	})
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if r.port, err = freePort(); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
		if lastErr = r.start(); lastErr == nil {
			return r
		}
		_ = os.Remove(r.dbPath) // a half-initialised database from the failed attempt
	}
	t.Fatalf("testenv: start restartable Temporal: %v", lastErr)
	return nil
}

// Kill ends the server with SIGKILL, as a crash does: no graceful shutdown, whatever was in flight is cut.
func (r *RestartableTemporal) Kill() {
	r.t.Helper()
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv == nil {
		r.t.Fatalf("testenv: Temporal %s is not running", r.Addr)
	}
	// The server runs in its own process group; kill the group so no child outlives it and holds the port.
	_ = syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGKILL)
	<-srv.done
}

// Start starts the server again after Kill, on the same address and database, and waits until it answers.
func (r *RestartableTemporal) Start() {
	r.t.Helper()
	// The port of the killed server may linger a moment; the kernel lets a listener rebind it (SO_REUSEADDR) but a
	// slow exit can still race, so retry for a while.
	deadline := time.Now().Add(temporalStartTimeout)
	for {
		err := r.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("testenv: restart Temporal on %s: %v", r.Addr, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (r *RestartableTemporal) start() error {
	logFile, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open temporal log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(r.exe, "server", "start-dev",
		"--ip", "127.0.0.1",
		"--port", strconv.Itoa(r.port),
		"--headless",
		"--db-filename", r.dbPath,
		"--log-level", "error",
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := startChild(cmd); err != nil {
		return fmt.Errorf("start %s: %w", r.exe, err)
	}
	srv := &temporalServer{addr: r.Addr, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(srv.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), temporalStartTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := checkTemporal(ctx, r.Addr)
		if err == nil {
			r.mu.Lock()
			r.srv = srv
			r.mu.Unlock()
			return nil
		}
		select {
		case <-srv.done:
			return fmt.Errorf("temporal dev server on %s exited during start-up:\n%s", r.Addr, tail(r.logPath))
		case <-ctx.Done():
			_ = srv.stop()
			return errors.Join(ctx.Err(), fmt.Errorf("temporal dev server on %s not ready (last error: %v)", r.Addr, err))
		case <-tick.C:
		}
	}
}
