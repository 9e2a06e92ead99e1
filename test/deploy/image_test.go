package deploy

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// engine is a Docker engine private to one test: its own data and exec roots, PID file and socket, no bridge
// network and no iptables rules, so it touches nothing another engine on the machine uses.
type engine struct {
	host string // DOCKER_HOST value
	cli  string // docker client
}

// startEngine starts dockerd for this test, skipping when the machine cannot run one.
func startEngine(t *testing.T) *engine {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("dockerd needs root; run the tests as root to build and run the image")
	}
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		t.Skip("dockerd not installed (Debian: apt-get install -y docker.io)")
	}
	cli := "/usr/bin/docker" // Debian's client, the engine's own version
	if _, err := os.Stat(cli); err != nil {
		if cli, err = exec.LookPath("docker"); err != nil {
			t.Skip("docker client not installed (Debian: apt-get install -y docker.io)")
		}
	}
	// Short paths: the engine's unix sockets must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "infra-dockerd-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) }) // runs after the engine stopped (cleanups run last-in first-out)
	sock := filepath.Join(dir, "docker.sock")
	p := start(t, "dockerd", exec.Command(dockerd,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"-H", "unix://"+sock,
		"--bridge=none", "--iptables=false", "--ip-masq=false",
	))
	e := &engine{host: "unix://" + sock, cli: cli}
	waitFor(t, "dockerd ready", 60*time.Second, p, func() error {
		_, err := e.docker("version", "--format", "{{.Server.Version}}")
		return err
	})
	t.Cleanup(func() {
		// Containers first, so the engine stops quickly and unmounts everything.
		if ids, err := e.docker("ps", "-aq"); err == nil && ids != "" {
			_, _ = e.docker(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
		p.stop(t, syscall.SIGTERM)
	})
	return e
}

// docker runs the client against the engine and returns its trimmed standard output.
func (e *engine) docker(args ...string) (string, error) {
	cmd := exec.Command(e.cli, args...)
	cmd.Env = cleanEnv("DOCKER_HOST="+e.host, "DOCKER_BUILDKIT=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// logs returns the container's recent output. The client copies the container's stderr to its own stderr, and
// the service logs there.
func (e *engine) logs(id string) string {
	cmd := exec.Command(e.cli, "logs", "--tail", "100", id)
	cmd.Env = cleanEnv("DOCKER_HOST=" + e.host)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("docker logs %s: %v: %s", id, err, out)
	}
	return string(out)
}

// TestRuntimeImage builds the runtime image from host binaries with deploy/runtime-image.sh, runs
// `infrastructor up` in it with host networking against the test PostgreSQL and Temporal, and checks that it
// answers /readyz, runs as an unprivileged user, stamps its version, and that the image's HEALTHCHECK reports it
// healthy.
func TestRuntimeImage(t *testing.T) {
	e := startEngine(t)
	root := testenv.RepoRoot(t)
	version := "test-" + randomSuffix(t, 4)
	tag := "infrastructor-test:" + version

	build := exec.Command(filepath.Join(root, "deploy", "runtime-image.sh"), tag, version)
	build.Dir = root
	build.Env = cleanEnv("DOCKER_HOST="+e.host, "DOCKER="+e.cli)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "runtime-image.sh:\n%s", out)

	user, err := e.docker("image", "inspect", "--format", "{{.Config.User}}", tag)
	require.NoError(t, err)
	require.Equal(t, "65532:65532", user)

	got, err := e.docker("run", "--rm", tag, "version")
	require.NoError(t, err)
	require.Equal(t, "infrastructor "+version, got)

	port := testenv.FreePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	id, err := e.docker("run", "-d", "--network", "host", "--read-only", "--cap-drop", "ALL",
		"--security-opt", "no-new-privileges:true",
		"--health-interval", "1s", "--health-start-period", "1s",
		"-e", "INFRA_DATABASE_URL="+testenv.PostgresURL(t),
		"-e", "INFRA_TEMPORAL_ADDRESS="+testenv.TemporalAddress(t),
		"-e", "INFRA_TASK_QUEUE="+testenv.TaskQueue(t),
		"-e", "INFRA_LISTEN="+listen,
		tag, "up")
	require.NoError(t, err)
	logs := func() string { return e.logs(id) }

	deadline := time.Now().Add(2 * time.Minute)
	ready := wantStatus("http://"+listen+"/readyz", 200)
	for err := ready(); err != nil; err = ready() {
		state, _ := e.docker("inspect", "--format", "{{.State.Status}}", id)
		require.Equal(t, "running", state, "container stopped:\n%s", logs())
		require.True(t, time.Now().Before(deadline), "no 200 from /readyz: %v\n%s", err, logs())
		time.Sleep(200 * time.Millisecond)
	}

	// The process itself, seen from the host, runs with every uid and gid unprivileged.
	pid, err := e.docker("inspect", "--format", "{{.State.Pid}}", id)
	require.NoError(t, err)
	ids := procIDs(t, pid)
	require.Equal(t, []string{"65532", "65532", "65532", "65532"}, ids["Uid"])
	require.Equal(t, []string{"65532", "65532", "65532", "65532"}, ids["Gid"])

	// The worker wrote its generated SSH key into the data directory, so the image's volume is writable by
	// the service user although the root file system is read-only.
	_, err = e.docker("exec", id, "/usr/local/bin/healthcheck", "/healthz")
	require.NoError(t, err)
	require.Contains(t, logs(), "id_ed25519")

	waitFor(t, "container healthy", time.Minute, nil, func() error {
		s, err := e.docker("inspect", "--format", "{{.State.Health.Status}}", id)
		if err != nil {
			return err
		}
		if s != "healthy" {
			return fmt.Errorf("health %q", s)
		}
		return nil
	})
}

// procIDs reads the Uid and Gid lines (real, effective, saved, filesystem) of /proc/PID/status.
func procIDs(t *testing.T, pid string) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", pid, "status"))
	require.NoError(t, err)
	defer f.Close()
	ids := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if ok && (key == "Uid" || key == "Gid") {
			ids[key] = strings.Fields(val)
		}
	}
	require.NoError(t, sc.Err())
	return ids
}
