package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
	binaryOut  []byte
)

// InfrastructorBinary builds cmd/infrastructor once per test binary, for tests that run the product as a process
// of its own (to kill it as a crash does). The binary is removed when Main finishes.
func InfrastructorBinary(t testing.TB) string {
	t.Helper()
	root := RepoRoot(t)
	binaryOnce.Do(func() {
		dir, err := makeTempDir("bin")
		if err != nil {
			binaryErr = err
			return
		}
		registerStop("infrastructor binary", func() error { return os.RemoveAll(dir) })
		binaryPath = filepath.Join(dir, "infrastructor")
		build := exec.Command("go", "build", "-o", binaryPath, "./cmd/infrastructor")
		build.Dir = root
		binaryOut, binaryErr = build.CombinedOutput()
	})
	require.NoError(t, binaryErr, "go build ./cmd/infrastructor: %s", binaryOut)
	return binaryPath
}

// WorkerProcessOptions is what a worker process needs to serve a test's stack.
type WorkerProcessOptions struct {
	DatabaseURL     string
	TemporalAddress string
	TaskQueue       string
	// SSHKeyPath is the private key the worker logs in to devices with.
	SSHKeyPath string
	// LogLevel is the worker's INFRA_LOG_LEVEL; "" is info.
	LogLevel string
}

// WorkerProcesses runs `infrastructor worker` as processes of their own, one after another, so a test can kill
// one with SIGKILL (no graceful shutdown: whatever it had in flight is cut) and start the next. They share a data
// directory and a log file (LogPath), which the test log shows when the test fails.
type WorkerProcesses struct {
	t       testing.TB
	bin     string
	env     []string
	LogPath string
}

// NewWorkerProcesses prepares worker processes for the test; it builds the binary on first use.
func NewWorkerProcesses(t testing.TB, o WorkerProcessOptions) *WorkerProcesses {
	t.Helper()
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	dataDir := t.TempDir()
	w := &WorkerProcesses{t: t, bin: InfrastructorBinary(t), LogPath: filepath.Join(dataDir, "worker.log"),
		env: append(os.Environ(),
			"INFRA_DATABASE_URL="+o.DatabaseURL,
			"INFRA_TEMPORAL_ADDRESS="+o.TemporalAddress,
			"INFRA_TASK_QUEUE="+o.TaskQueue,
			"INFRA_SSH_KEY="+o.SSHKeyPath,
			"INFRA_SSH_AGENT=false",
			"INFRA_DATA_DIR="+dataDir,
			"INFRA_LOG_FORMAT=text",
			"INFRA_LOG_LEVEL="+o.LogLevel,
		)}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(w.LogPath)
			t.Logf("worker log:\n%s", b)
		}
	})
	return w
}

// Start starts one worker process. It is killed when the test ends, unless the test killed it first.
func (w *WorkerProcesses) Start() *WorkerProcess {
	w.t.Helper()
	logFile, err := os.OpenFile(w.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(w.t, err)
	defer logFile.Close()
	cmd := exec.Command(w.bin, "worker")
	cmd.Env = w.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// From the test binary's long-lived thread, so the parent-death signal cannot fire mid-test (see startChild).
	require.NoError(w.t, startChild(cmd))
	p := &WorkerProcess{cmd: cmd}
	w.t.Cleanup(p.Kill)
	return p
}

// WorkerProcess is one running `infrastructor worker`.
type WorkerProcess struct {
	cmd  *exec.Cmd
	once sync.Once
}

// Kill ends the process with SIGKILL, as a crash does, and waits for it to be gone. Killing it again is a no-op.
func (p *WorkerProcess) Kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	})
}
