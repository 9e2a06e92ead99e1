package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

func TestRepoRootHoldsModule(t *testing.T) {
	root := RepoRoot(t)
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(mod), "module github.com/infrastructor/infrastructor\n")
}

func TestFixturesDirIsNextToRepository(t *testing.T) {
	dir := FixturesDir(t) // skips when the shared fixtures are absent
	require.Equal(t, filepath.Join(filepath.Dir(RepoRoot(t)), "shared", "fixtures"), dir)
	require.DirExists(t, dir)
}

// TestFixturesMissingFailsInCI runs TestFixturesMissingChild in a child process (a failing test cannot be
// observed from inside): with CI=true a missing fixtures directory must fail the test, without CI it must skip.
func TestFixturesMissingFailsInCI(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-fixtures-here")
	run := func(ci string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFixturesMissingChild$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "CI="+ci, "TESTENV_FIXTURES_CHILD="+missing)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run("true")
	require.Error(t, err, "CI=true and no fixtures must fail:\n%s", out)
	require.Contains(t, out, "--- FAIL: TestFixturesMissingChild")
	require.Contains(t, out, "CI=true requires them")
	require.NotContains(t, out, "child reached the end")

	out, err = run("")
	require.NoError(t, err, "outside CI missing fixtures must skip:\n%s", out)
	require.Contains(t, out, "--- SKIP: TestFixturesMissingChild")
	require.NotContains(t, out, "child reached the end")
}

// TestFixturesMissingChild is the child of TestFixturesMissingFailsInCI; it does nothing in a normal run.
func TestFixturesMissingChild(t *testing.T) {
	dir := os.Getenv("TESTENV_FIXTURES_CHILD")
	if dir == "" {
		t.Skip("runs only as the child of TestFixturesMissingFailsInCI")
	}
	if _, ok := fixturesDirAt(t, dir, inCI()); !ok {
		t.Skipf("fixtures absent at %s", dir)
	}
	t.Log("child reached the end")
}

func TestFixturesPresentPassInCI(t *testing.T) {
	t.Setenv("CI", "true")
	dir, ok := fixturesDirAt(t, t.TempDir(), inCI())
	require.True(t, ok)
	require.DirExists(t, dir)
}

func TestFreePortCanBeBound(t *testing.T) {
	port := FreePort(t)
	require.Greater(t, port, 0)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

func TestTaskQueueIsUniquePerCall(t *testing.T) {
	a, b := TaskQueue(t), TaskQueue(t)
	require.NotEqual(t, a, b)
	require.True(t, strings.HasPrefix(a, "test-testtaskqueueisuniquepercall-"), a)
}

func TestSanitizeName(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"subtest slashes and spaces", "TestX/case one", 40, "testx_case_one"},
		{"keeps dash and underscore", "a-b_c", 40, "a-b_c"},
		{"quotes cannot escape an identifier", `x"; DROP`, 40, "x___drop"},
		{"cut to max", strings.Repeat("a", 100), 40, strings.Repeat("a", 40)},
		{"non-ascii replaced", "Tést", 40, "t_st"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, sanitizeName(tc.in, tc.max))
		})
	}
}

func TestStopAllRunsNewestFirst(t *testing.T) {
	stopMu.Lock()
	saved := stoppers
	stoppers = nil
	stopMu.Unlock()
	t.Cleanup(func() {
		stopMu.Lock()
		stoppers = saved
		stopMu.Unlock()
	})

	var order []string
	registerStop("first", func() error { order = append(order, "first"); return nil })
	registerStop("second", func() error { order = append(order, "second"); return fmt.Errorf("reported, not fatal") })
	stopAll()
	require.Equal(t, []string{"second", "first"}, order)
	stopAll() // a second call has nothing left to stop
	require.Len(t, order, 2)
}

// TestMakefilePinsTemporalCLI keeps the Makefile's dev server build and the harness's fallback build on one version.
func TestMakefilePinsTemporalCLI(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(RepoRoot(t), "Makefile"))
	require.NoError(t, err)
	module, version, ok := strings.Cut(TemporalCLIModule, "@")
	require.True(t, ok)
	require.Contains(t, string(mk), "TEMPORAL_CLI_MODULE := "+module+"\n")
	require.Contains(t, string(mk), "TEMPORAL_CLI_VERSION := "+version+"\n")
}

func TestRemoveStaleTempDirs(t *testing.T) {
	// A PID that surely ran and exited: a finished child of this test.
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := cmd.Process.Pid

	stale := filepath.Join(os.TempDir(), fmt.Sprintf("%spg-%d-123", tempDirPrefix, dead))
	require.NoError(t, os.MkdirAll(filepath.Join(stale, "data"), 0o755))
	live, err := makeTempDir("pg") // also runs the sweep
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(live); _ = os.RemoveAll(stale) })

	require.NoDirExists(t, stale, "directory of an exited test binary was kept")
	require.DirExists(t, live)
	require.Contains(t, filepath.Base(live), fmt.Sprintf("pg-%d-", os.Getpid()))
	removeStaleTempDirs()
	require.DirExists(t, live, "this test binary's own directory was removed")
}

// TestStartChildOutlivesCallerThread: a server started by a goroutine whose locked thread then ends must keep
// running, though its parent-death signal is tied to the thread that forked it.
func TestStartChildOutlivesCallerThread(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// The goroutine must not run on the main thread: Go parks that one instead of ending it.
	var tid int
	var startErr error
	for try := 0; ; try++ {
		require.Less(t, try, 20, "no goroutine landed on a thread other than the main one")
		tids, goAhead, errc := make(chan int), make(chan bool), make(chan error)
		go func() {
			runtime.LockOSThread() // never unlocked, so the thread ends with this goroutine
			tids <- syscall.Gettid()
			if <-goAhead {
				errc <- startChild(cmd)
			}
		}()
		tid = <-tids
		if tid == os.Getpid() {
			goAhead <- false
			continue
		}
		goAhead <- true
		startErr = <-errc
		break
	}
	require.NoError(t, startErr)
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

	task := fmt.Sprintf("/proc/self/task/%d", tid)
	require.Eventually(t, func() bool { _, err := os.Stat(task); return err != nil }, 10*time.Second, 10*time.Millisecond,
		"the caller's thread did not end")
	require.Never(t, func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	}, 300*time.Millisecond, 10*time.Millisecond, "the child died with the thread of the goroutine that asked for it")
}
