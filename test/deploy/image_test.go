package deploy

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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

// TestDockerfileFromSource builds deploy/Dockerfile itself, the multi-stage build from source. No registry can be
// reached here, so its base golang image is a stand-in imported from this machine's Go toolchain and busybox;
// `go mod download` inside the build uses the module proxy. About two minutes, so it runs only when
// INFRA_TEST_DOCKERFILE=1.
func TestDockerfileFromSource(t *testing.T) {
	if os.Getenv("INFRA_TEST_DOCKERFILE") != "1" {
		t.Skip("set INFRA_TEST_DOCKERFILE=1 to build deploy/Dockerfile from source (about two minutes)")
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not installed (Debian: apt-get install -y busybox-static)")
	}
	e := startEngine(t)
	root := testenv.RepoRoot(t)
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	require.NoError(t, err)

	// The stand-in for golang:1.26-bookworm: the Go toolchain, a shell and core tools, CA certificates.
	fs := t.TempDir()
	for _, d := range []string{"bin", "usr/local", "etc/ssl/certs", "root", "go", "tmp"} {
		require.NoError(t, os.MkdirAll(filepath.Join(fs, d), 0o755))
	}
	script := fmt.Sprintf(`set -e
cp %[1]q %[2]q/bin/busybox
for c in $(%[1]q --list); do [ -e %[2]q/bin/$c ] || ln -s busybox %[2]q/bin/$c; done
cp -a %[3]q %[2]q/usr/local/go
cp /etc/ssl/certs/ca-certificates.crt %[2]q/etc/ssl/certs/
printf 'root:x:0:0:root:/root:/bin/sh\n' > %[2]q/etc/passwd
printf 'root:x:0:\n' > %[2]q/etc/group
chmod 1777 %[2]q/tmp
tar -C %[2]q -c . | %[4]q import --change 'ENV PATH=/usr/local/go/bin:/go/bin:/bin' --change 'ENV HOME=/root' \
	--change 'ENV GOPATH=/go' - golang:1.26-bookworm >/dev/null
`, busybox, fs, strings.TrimSpace(string(goroot)), e.cli)
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = cleanEnv("DOCKER_HOST=" + e.host)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "stand-in golang image: %s", out)

	version := "src-" + randomSuffix(t, 4)
	tag := "infrastructor-test:" + version
	build := exec.Command(e.cli, "build", "--network", "host", "-f", filepath.Join(root, "deploy", "Dockerfile"),
		"--build-arg", "VERSION="+version, "-t", tag, root)
	build.Env = cleanEnv("DOCKER_HOST="+e.host, "DOCKER_BUILDKIT=0")
	out, err = build.CombinedOutput()
	require.NoError(t, err, "docker build:\n%s", out)
	// .dockerignore keeps local state and binaries out of the build context.
	m := regexp.MustCompile(`Sending build context to Docker daemon\s+([0-9.]+)(B|kB|MB|GB)`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "no context size in:\n%s", out)
	size, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	size *= map[string]float64{"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[m[2]]
	require.Less(t, size, 20e6, "build context of %s%s: is .dockerignore missing bin/ or .data?", m[1], m[2])

	got, err := e.docker("run", "--rm", tag, "version")
	require.NoError(t, err)
	require.Equal(t, "infrastructor "+version, got)
	user, err := e.docker("image", "inspect", "--format", "{{.Config.User}}", tag)
	require.NoError(t, err)
	require.Equal(t, "65532:65532", user)
}
