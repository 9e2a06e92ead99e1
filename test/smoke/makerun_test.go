// Package smoke checks that `make run` brings the whole system up on one box and takes it down again.
package smoke

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// The fixed default ports `make run` uses: PostgreSQL, API, Temporal frontend, Temporal UI. Every other test uses
// random ports, so only a running local stack can collide with this test.
var fixedPorts = []int{9100, 9101, 7233, 8233}

const (
	apiURL        = "http://127.0.0.1:9101"
	temporalUIURL = "http://127.0.0.1:8233"
	// readyTimeout covers building bin/infrastructor and initdb on the first run while the rest of the suite
	// competes for two cores.
	readyTimeout = 10 * time.Minute
	stopTimeout  = 2 * time.Minute
)

func TestMakeRun(t *testing.T) {
	if busy := busyPorts(); len(busy) > 0 {
		msg := fmt.Sprintf("ports %v are in use (a local `make run`?); this test needs the fixed default ports", busy)
		if os.Getenv("CI") == "" {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	root := testenv.RepoRoot(t)
	dataDir := privateReachableDir(t)

	first := startMakeRun(t, root, dataDir, "first")
	token := first.checkServing(t)
	first.stop(t)

	second := startMakeRun(t, root, dataDir, "second")
	require.Equal(t, token, second.checkServing(t), "a second `make run` must reuse the data, admin token included")
	second.stop(t)
}

// privateReachableDir returns a temporary data directory that PostgreSQL, run as the unprivileged "postgres"
// user when the tests run as root, can enter (t.TempDir is private to its creator).
func privateReachableDir(t *testing.T) string {
	base := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(base), 0o755))
	require.NoError(t, os.Chmod(base, 0o755))
	return filepath.Join(base, "data")
}

func busyPorts() []int {
	var busy []int
	for _, p := range fixedPorts {
		if answers(p) {
			busy = append(busy, p)
		}
	}
	return busy
}

func answers(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// stack is one `make run` started in its own process group, as a terminal would run it.
type stack struct {
	name    string
	dataDir string
	cmd     *exec.Cmd
	output  string
	done    chan struct{}
	waitErr error
}

func startMakeRun(t *testing.T, root, dataDir, name string) *stack {
	t.Helper()
	output := filepath.Join(filepath.Dir(dataDir), name+".log")
	out, err := os.Create(output)
	require.NoError(t, err)
	defer out.Close()

	cmd := exec.Command("make", "--no-print-directory", "run")
	cmd.Dir = root
	cmd.Env = append(cleanEnv(), "INFRA_DATA_DIR="+dataDir)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start(), "start make run")
	s := &stack{name: name, dataDir: dataDir, cmd: cmd, output: output, done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.kill(t) })
	return s
}

// cleanEnv drops settings that would point `make run` elsewhere than its defaults (a developer's INFRA_*
// variables, or the jobserver of a `make test` around this test).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "INFRA_") || name == "MAKEFLAGS" || name == "MFLAGS" || name == "MAKELEVEL" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// checkServing waits for readiness, then checks the API with the generated admin token and the Temporal UI. It
// returns the token.
func (s *stack) checkServing(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		code, err := get(apiURL+"/readyz", "")
		if err == nil && code == http.StatusOK {
			break
		}
		select {
		case <-s.done:
			t.Fatalf("%s make run exited before /readyz answered 200 (%v):\n%s", s.name, s.waitErr, s.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s make run: /readyz not 200 after %v (last: %d, %v):\n%s", s.name, readyTimeout, code, err, s.log())
		}
		time.Sleep(500 * time.Millisecond)
	}

	tokenFile := filepath.Join(s.dataDir, "admin.token")
	info, err := os.Stat(tokenFile)
	require.NoError(t, err, "admin token file")
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the admin token must be private to its owner")
	raw, err := os.ReadFile(tokenFile)
	require.NoError(t, err)
	token := strings.TrimSpace(string(raw))
	require.NotEmpty(t, token)

	code, err := get(apiURL+"/api/v1/devices", token)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "GET /api/v1/devices with the admin token")
	code, err = get(apiURL+"/api/v1/devices", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, code, "GET /api/v1/devices without a token")
	code, err = get(apiURL+"/healthz", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "GET /healthz")
	code, err = get(temporalUIURL+"/", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "Temporal UI")
	return token
}

// stop sends SIGINT to the process group, as Ctrl-C in a terminal does, and checks that every process `make run`
// started is gone and every port is free again.
func (s *stack) stop(t *testing.T) {
	t.Helper()
	pids := descendants(s.cmd.Process.Pid)
	postmasterFile := filepath.Join(s.dataDir, "postgres", "postmaster.pid")
	postmaster, err := readPostmasterPID(postmasterFile)
	require.NoError(t, err, "PostgreSQL should be running from %s", filepath.Dir(postmasterFile))
	pids = append(pids, postmaster)
	require.NotEmpty(t, pids)

	require.NoError(t, syscall.Kill(-s.cmd.Process.Pid, syscall.SIGINT))
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		t.Fatalf("%s make run still running %v after SIGINT:\n%s", s.name, stopTimeout, s.log())
	}

	// The processes are gone by now except for a postmaster finishing its shutdown after pg_ctl returned, so poll.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left []string
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, fmt.Sprintf("%d (%s)", pid, comm(pid)))
			}
		}
		var open []int
		for _, p := range fixedPorts {
			if answers(p) {
				open = append(open, p)
			}
		}
		if len(left) == 0 && len(open) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s make run: after SIGINT, processes %v still run and ports %v still answer:\n%s", s.name, left, open, s.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, err = os.Stat(postmasterFile)
	require.ErrorIs(t, err, os.ErrNotExist, "PostgreSQL was not shut down cleanly (postmaster.pid remains)")
	t.Logf("%s make run stopped cleanly (%d processes)", s.name, len(pids))
}

// kill is the last resort of a failed test: whatever still runs in the group is interrupted, then killed.
func (s *stack) kill(t *testing.T) {
	select {
	case <-s.done:
		return
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	t.Logf("%s make run output:\n%s", s.name, s.log())
}

func (s *stack) log() string {
	b, err := os.ReadFile(s.output)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func get(url, token string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}

// descendants lists every process below pid, read from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentPID(p); ok {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// procStat returns the fields of /proc/PID/stat after the command name, which may itself hold spaces.
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(b[i+1:])), true
}

func parentPID(pid int) (int, bool) {
	f, ok := procStat(pid)
	if !ok || len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// alive reports whether pid runs. A zombie counts as gone: on machines whose PID 1 does not reap orphans, a
// stopped daemon (the postmaster pg_ctl detached) stays a zombie.
func alive(pid int) bool {
	f, ok := procStat(pid)
	return ok && len(f) > 0 && f[0] != "Z"
}

func comm(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// readPostmasterPID reads the postmaster's PID from the first line of postmaster.pid.
func readPostmasterPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	if pid <= 0 {
		return 0, errors.New("no postmaster PID in " + path)
	}
	return pid, nil
}
