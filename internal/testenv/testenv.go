// Package testenv gives tests real servers to talk to: a fresh PostgreSQL database per test, a Temporal dev
// server per test binary, free ports and the paths of the repository and the recorded fixtures.
//
// Servers start lazily, once per test binary, on random free ports, so test binaries of different packages
// run side by side. A package that uses them declares
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// so the servers are stopped and their temporary directories removed when its tests end. Every server is also
// started with a parent-death signal, so a test binary killed by `go test -timeout` does not leave one behind.
//
// Environment:
//   - INFRA_TEST_DATABASE_URL: admin URL of an existing PostgreSQL server to create the test databases on,
//     instead of starting a private cluster.
//   - INFRA_TEST_TEMPORAL_ADDRESS: host:port of an existing Temporal frontend, instead of starting a dev server.
//   - INFRA_TEST_DEVICE_WRAPPER: when set, every test sshd puts its client key behind the device command wrapper
//     (see SSHDOptions.Wrapper), so a suite runs through it unchanged (make test-wrapper).
//   - CI=true: the recorded fixtures are required (FixturesDir fails instead of skipping without them).
//
// A test that needs the schema uses internal/testdb, whose databases are copies of one template migrated per test
// binary (PostgresURLFromTemplate).
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Main runs the tests of a package, then stops every server this test binary started and exits with the tests'
// status. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	stopAll()
	os.Exit(code)
}

// stopper is one server (or other resource) to release when the test binary ends.
type stopper struct {
	name string
	stop func() error
}

var (
	stopMu   sync.Mutex
	stoppers []stopper
)

// registerStop arranges for stop to run when Main finishes. Servers started by this package (PostgreSQL, Temporal,
// sshd) register here so one TestMain line tears all of them down, in reverse order of start.
func registerStop(name string, stop func() error) {
	stopMu.Lock()
	defer stopMu.Unlock()
	stoppers = append(stoppers, stopper{name: name, stop: stop})
}

// stopAll runs the registered stop functions, newest first, and reports failures on stderr: the tests have
// already finished, so there is no test to fail.
func stopAll() {
	stopMu.Lock()
	list := stoppers
	stoppers = nil
	stopMu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		if err := list[i].stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stop %s: %v\n", list[i].name, err)
		}
	}
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the directory holding the module's go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return root
}

func repoRoot() (string, error) {
	rootOnce.Do(func() {
		// Tests run in their package directory; the source location of this file is the fallback for a test
		// binary started from elsewhere.
		var starts []string
		if wd, err := os.Getwd(); err == nil {
			starts = append(starts, wd)
		}
		if _, file, _, ok := runtime.Caller(0); ok {
			starts = append(starts, filepath.Dir(file))
		}
		for _, dir := range starts {
			if root, ok := findGoMod(dir); ok {
				rootDir = root
				return
			}
		}
		rootErr = fmt.Errorf("find repository root: no go.mod above %v", starts)
	})
	return rootDir, rootErr
}

func findGoMod(dir string) (string, bool) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// FixturesDir returns the directory of recorded real outputs shared by the project (../shared/fixtures next to
// the repository). The fixtures are not part of the repository: outside CI a test that needs them is skipped when
// they are absent; in CI (CI=true), where they are always provided, a missing directory fails the test, so the
// parser coverage they give cannot vanish silently.
func FixturesDir(t testing.TB) string {
	t.Helper()
	dir, ok := fixturesDirAt(t, fixturesPath(t), inCI())
	if !ok {
		t.Skipf("testenv: recorded fixtures not found at %s (they live next to the repository, not in it; "+
			"in CI, CI=true, their absence fails instead)", dir)
	}
	return dir
}

// OptionalFixturesDir is FixturesDir for a test that still has work to do without the fixtures (a fuzz test's
// inline seeds): outside CI it reports whether they are present instead of skipping; in CI their absence fails
// the test all the same.
func OptionalFixturesDir(t testing.TB) (string, bool) {
	t.Helper()
	return fixturesDirAt(t, fixturesPath(t), inCI())
}

func fixturesPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), "..", "shared", "fixtures")
}

// fixturesDirAt reports whether dir is a directory, failing the test when it is not and required is set.
func fixturesDirAt(t testing.TB, dir string, required bool) (string, bool) {
	t.Helper()
	info, err := os.Stat(dir)
	if err == nil && !info.IsDir() {
		err = fmt.Errorf("%s is not a directory", dir)
	}
	if err != nil {
		if required {
			t.Fatalf("testenv: recorded fixtures missing at %s, and CI=true requires them: %v", dir, err)
		}
		return dir, false
	}
	return dir, true
}

// inCI reports whether the tests run in CI: the CI variable that CI systems (and .ci/run) set to true.
func inCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. The kernel does not hand the same
// ephemeral port out again right away, so the caller can usually bind it; servers started here retry on a clash.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// TaskQueue returns a Temporal task queue name unique to this test, so tests sharing one dev server and the
// default namespace never pick up each other's workflows.
func TaskQueue(t testing.TB) string {
	t.Helper()
	return "test-" + sanitizeName(t.Name(), 60) + "-" + randomHex(t, 4)
}

// sanitizeName keeps letters, digits, '-' and '_' of a test name (lower-cased, others become '_') and cuts it to
// max bytes, for use in database and queue names.
func sanitizeName(name string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= max {
			break
		}
	}
	return b.String()
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		t.Fatalf("testenv: random name: %v", err)
	}
	return hex.EncodeToString(buf)
}

// tempDirPrefix starts the names of the directories servers keep their data and logs in.
const tempDirPrefix = "infrastructor-testenv-"

// makeTempDir creates a directory for one server. Its name carries this process's PID so that directories of test
// binaries killed before they could clean up (the servers themselves die with them) are found and removed later.
func makeTempDir(kind string) (string, error) {
	removeStaleTempDirs()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%s-%d-", tempDirPrefix, kind, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("create %s directory: %w", kind, err)
	}
	return dir, nil
}

// removeStaleTempDirs deletes server directories whose test binary no longer runs.
func removeStaleTempDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPrefix+"*-*-*"))
	for _, dir := range matches {
		parts := strings.Split(strings.TrimPrefix(filepath.Base(dir), tempDirPrefix), "-")
		if len(parts) != 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", parts[1])); errors.Is(err, os.ErrNotExist) {
			_ = os.RemoveAll(dir)
		}
	}
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnOnce sync.Once
	spawnReqs = make(chan spawnRequest)
)

// startChild starts a long-running server process from one OS thread that lives as long as the test binary.
// The parent-death signal (SysProcAttr.Pdeathsig) fires when the thread that forked the child ends, not the
// process (golang/go#27505), and Go ends a thread when a goroutine locked to it returns, so a server started from
// an arbitrary thread could be killed mid-test once some other goroutine (a network-namespace helper, say) locks
// and abandons that thread.
func startChild(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: the goroutine and its thread stay until the process exits
			for req := range spawnReqs {
				req.done <- req.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReqs <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

// errNoUser is returned when a server must not run as root and no unprivileged account exists to run it.
var errNoUser = errors.New("no unprivileged user to run the server as")

// serverUser returns the credentials to run a server that refuses root (PostgreSQL) when the tests run as root,
// or nil when they do not. The "postgres" account comes with the PostgreSQL packages.
func serverUser(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("look up user %q: %w: %w", name, errNoUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse uid %q of %q: %w", u.Uid, name, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse gid %q of %q: %w", u.Gid, name, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
