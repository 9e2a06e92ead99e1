package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
