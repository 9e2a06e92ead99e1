// Package deploy tests the ways Infrastructor is deployed: docker-compose.yaml with .env.example, the container
// image (built from host binaries and run on a private Docker engine), the Temporal server on PostgreSQL that
// `make run TEMPORAL=postgres` runs, the systemd units and the device set-up script.
package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// randomSuffix returns n random bytes in hex, for names that must not collide between tests and runs.
func randomSuffix(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// buildStatic builds the infrastructor binary (stamped with version) and the image's health probe as static
// executables into a temporary directory and returns it. Static, because the runtime image has no C library.
func buildStatic(t *testing.T, version string) string {
	t.Helper()
	root := testenv.RepoRoot(t)
	dir := t.TempDir()
	for _, b := range []struct{ pkg, out, ldflags string }{
		{"./cmd/infrastructor", "infrastructor", "-X main.version=" + version},
		{"./deploy/healthcheck", "healthcheck", ""},
	} {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", b.ldflags, "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go build %s:\n%s", b.pkg, out)
	}
	return dir
}

// process is a long-running child of the test: a server under test.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

var (
	spawnOnce sync.Once
	spawnReqs = make(chan spawnRequest)
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// start runs cmd with its output in a log file under the test's temporary directory. Children are started from
// one OS thread that never exits, because the parent-death signal that reaps them when the test binary is killed
// fires when the forking thread ends, not the process (golang/go#27505).
func start(t *testing.T, name string, cmd *exec.Cmd) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	require.NoError(t, err)
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread()
			for req := range spawnReqs {
				req.done <- req.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReqs <- spawnRequest{cmd: cmd, done: done}
	require.NoError(t, <-done, "start %s", name)
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t, syscall.SIGTERM) })
	return p
}

// stop signals the process and waits for it to exit, killing it after 30 s.
func (p *process) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s ignored %v for 30s; killed", p.name, sig)
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the end of the process's log, for failure messages.
func (p *process) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// waitFor polls cond until it returns nil, failing the test with the last error after within. A process that
// exits meanwhile fails it at once, with its log.
func waitFor(t *testing.T, what string, within time.Duration, p *process, cond func() error) {
	t.Helper()
	if err := waitUntil(within, p, cond); err != nil {
		msg := fmt.Sprintf("%s: %v", what, err)
		if p != nil {
			msg += "\n" + p.tail()
		}
		t.Fatal(msg)
	}
}

// waitUntil polls cond until it returns nil, and returns an error when within passes or p (if not nil) exits.
func waitUntil(within time.Duration, p *process, cond func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited; last error: %w", p.name, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %w", within, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// httpStatus is the status code of a GET, or an error.
func httpStatus(ctx context.Context, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// wantStatus is a waitFor condition: GET url answers code.
func wantStatus(url string, code int) func() error {
	return func() error {
		got, err := httpStatus(context.Background(), url)
		if err != nil {
			return err
		}
		if got != code {
			return fmt.Errorf("GET %s: status %d, want %d", url, got, code)
		}
		return nil
	}
}

// freePortBlock returns a port p on 127.0.0.1 such that p+o is free for every offset o (offsets may be negative):
// the Temporal server derives all its ports from the frontend's. The block is drawn below Linux's ephemeral range
// (32768 and up), where outgoing connections of other programs cannot take a port between this check and the
// server's bind.
func freePortBlock(t *testing.T, offsets ...int) int {
	t.Helper()
	for attempt := 0; attempt < 50; attempt++ {
		var b [2]byte
		_, err := rand.Read(b[:])
		require.NoError(t, err)
		base := 11000 + (int(b[0])<<8|int(b[1]))%20000
		ok := true
		var held []net.Listener
		for _, o := range offsets {
			p := base + o
			if p < 1024 || p > 65535 {
				ok = false
				break
			}
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no block of free ports found")
	return 0
}

// cleanEnv is a minimal environment for tools under test, so settings of the caller's shell (INFRA_*, DOCKER_*,
// a compose .env override) cannot change what they see.
func cleanEnv(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if v := os.Getenv("GOCACHE"); v != "" {
		env = append(env, "GOCACHE="+v)
	}
	if v := os.Getenv("GOPATH"); v != "" {
		env = append(env, "GOPATH="+v)
	}
	return append(env, extra...)
}

// envValue returns the value of name in an environment list.
func envValue(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v
		}
	}
	return ""
}
