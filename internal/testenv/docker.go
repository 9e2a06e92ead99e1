package testenv

// A private Docker engine per test binary, so container code is tested against the engine devices run rather
// than an imitation. Devices reach it through sshd: start the SSH server with
// SSHDOptions{ExtraConfig: []string{engine.SetEnv()}} and the login user's docker commands talk to it.

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DockerdPath is the Docker engine binary (Debian's docker.io package).
const DockerdPath = "/usr/sbin/dockerd"

// TestImageRef is the image TestImage builds: busybox-static with its applets, no registry needed.
const TestImageRef = "infra-test/busybox:latest"

// dockerStartTimeout bounds the engine's start-up (about a second idle, more under a loaded suite).
const dockerStartTimeout = time.Minute

// DockerEngine is a private dockerd started by this test binary and shared by its tests. Tests must name their
// containers uniquely (ContainerName helps), since they share the engine.
type DockerEngine struct {
	// Socket is the path of the engine's unix socket. It is accessible to TestUser.
	Socket string
	// Host is the DOCKER_HOST value for the socket, unix://<Socket>.
	Host string
	// Dir holds the engine's data, state and log.
	Dir string
	// CLI is the docker client binary used by Docker.
	CLI string

	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
}

var (
	dockerOnce   sync.Once
	dockerEngine *DockerEngine
	dockerErr    error
	dockerSkip   string
)

// StartDocker returns this test binary's private Docker engine, starting it on first use. It skips the test when
// dockerd or the docker client is missing, or when the tests do not run as root (dockerd needs root). The engine
// runs without the default bridge and without iptables rules, so it never clashes with another engine on the
// machine: create containers with --network none.
func StartDocker(t testing.TB) *DockerEngine {
	t.Helper()
	dockerOnce.Do(func() {
		if _, err := os.Stat(DockerdPath); err != nil {
			dockerSkip = fmt.Sprintf("Docker engine not installed (%s: %v); apt-get install -y docker.io to run this test", DockerdPath, err)
			return
		}
		cli, err := exec.LookPath("docker")
		if err != nil {
			dockerSkip = "docker client not on PATH; apt-get install -y docker.io to run this test"
			return
		}
		if os.Geteuid() != 0 {
			dockerSkip = "a private dockerd needs root; run the tests as root to use a real Docker engine"
			return
		}
		dockerEngine, dockerErr = startDockerd(cli)
	})
	if dockerSkip != "" {
		t.Skip("testenv: " + dockerSkip)
	}
	if dockerErr != nil {
		t.Fatalf("testenv: Docker engine: %v", dockerErr)
	}
	return dockerEngine
}

// startDockerd runs dockerd in a directory of its own with every path (data, exec state, PID file, socket)
// inside it, and waits until it answers /_ping.
func startDockerd(cli string) (*DockerEngine, error) {
	// The socket's group is the SSH test user's, so a device login can drive the engine as a member of group
	// docker would.
	if err := ensureTestUser(); err != nil {
		return nil, fmt.Errorf("prepare %s: %w", TestUser, err)
	}
	u, err := user.Lookup(TestUser)
	if err != nil {
		return nil, err
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return nil, err
	}
	dir, err := makeTempDir("docker")
	if err != nil {
		return nil, err
	}
	// The login user must be able to reach the socket inside.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	e := &DockerEngine{Dir: dir, CLI: cli, Socket: filepath.Join(dir, "docker.sock"), logPath: filepath.Join(dir, "dockerd.log"),
		done: make(chan struct{})}
	e.Host = "unix://" + e.Socket
	logFile, err := os.Create(e.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(DockerdPath,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"-H", e.Host,
		"--group", g.Name,
		// No default bridge, iptables or masquerading: nothing that touches the host's network, so several engines
		// (other test binaries, a developer's own) run side by side.
		"--bridge=none", "--iptables=false", "--ip-masq=false",
		"--shutdown-timeout", "2",
		"--log-level", "warn",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// SIGTERM on parent death is dockerd's graceful stop, which also stops its containers and containerd.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := startChild(cmd); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", DockerdPath, err)
	}
	e.cmd = cmd
	go func() {
		_ = cmd.Wait()
		close(e.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), dockerStartTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := e.ping(ctx)
		if err == nil {
			break
		}
		select {
		case <-e.done:
			_ = e.cleanup()
			return nil, fmt.Errorf("dockerd exited during start-up:\n%s", tail(e.logPath))
		case <-ctx.Done():
			_ = e.stop()
			return nil, fmt.Errorf("dockerd not answering on %s: %v\n%s", e.Socket, err, tail(e.logPath))
		case <-tick.C:
		}
	}
	registerStop("dockerd "+e.Socket, e.stop)
	return e, nil
}

// ping asks the engine's API whether it is ready.
func (e *DockerEngine) ping(ctx context.Context) error {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", e.Socket)
		},
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("/_ping: %s", res.Status)
	}
	return nil
}

// stop shuts the engine down gracefully (it stops its containers first), then removes its directory.
func (e *DockerEngine) stop() error {
	select {
	case <-e.done:
	default:
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.done:
		case <-time.After(30 * time.Second):
			_ = e.cmd.Process.Kill()
			<-e.done
		}
	}
	return e.cleanup()
}

// cleanup unmounts whatever the engine left mounted under its directory (overlay layers, network namespaces of
// a killed engine) before deleting it, so the removal never reaches into a mounted file system.
func (e *DockerEngine) cleanup() error {
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		var mounts []string
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && strings.HasPrefix(f[4], e.Dir+"/") {
				mounts = append(mounts, f[4])
			}
		}
		for i := len(mounts) - 1; i >= 0; i-- {
			_ = syscall.Unmount(mounts[i], syscall.MNT_DETACH)
		}
	}
	return os.RemoveAll(e.Dir)
}

// SetEnv is the sshd_config line that points the login user's docker client at this engine.
func (e *DockerEngine) SetEnv() string { return "SetEnv DOCKER_HOST=" + e.Host }

// Docker runs the docker client against the engine and returns its trimmed standard output; it fails the test
// when the command fails.
func (e *DockerEngine) Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := e.TryDocker(nil, args...)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return out
}

// TryDocker runs the docker client against the engine with optional standard input and returns its trimmed
// standard output, or an error carrying its standard error.
func (e *DockerEngine) TryDocker(stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.CLI, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+e.Host, "DOCKER_CONTEXT=")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// ContainerName returns a container name unique to this test, for tests sharing the engine.
func ContainerName(t testing.TB, base string) string {
	t.Helper()
	return base + "-" + randomHex(t, 4)
}

var (
	imageOnce sync.Once
	imageErr  error
)

// TestImage starts the engine if needed and returns TestImageRef, building it once per test binary: a rootfs of
// the statically linked /bin/busybox with a symlink per applet, imported with docker import (there is no
// registry to pull from). Its PATH is /bin; a busybox sh as PID 1 ignores SIGTERM, so docker stop on it waits
// for the timeout and then kills.
func TestImage(t testing.TB) string {
	t.Helper()
	e := StartDocker(t)
	imageOnce.Do(func() { imageErr = e.buildTestImage() })
	if imageErr != nil {
		t.Fatalf("testenv: build %s: %v", TestImageRef, imageErr)
	}
	return TestImageRef
}

// BusyboxPath is the statically linked busybox the test image is made of (Debian's busybox-static).
const BusyboxPath = "/bin/busybox"

func (e *DockerEngine) buildTestImage() error {
	if _, err := e.TryDocker(nil, "image", "inspect", TestImageRef); err == nil {
		return nil
	}
	tarball, err := BusyboxRootfs()
	if err != nil {
		return err
	}
	_, err = e.TryDocker(tarball, "import", "--change", "ENV PATH=/bin", "-", TestImageRef)
	return err
}

// BusyboxRootfs returns a tar archive of a minimal root file system: /bin/busybox with every applet linked to
// it, and empty /tmp, /etc and /proc-style mount points docker expects.
func BusyboxRootfs() ([]byte, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("%w (apt-get install -y busybox-static)", err)
	}
	if !isStaticELF(bin) {
		return nil, errors.New(BusyboxPath + " is not statically linked (install busybox-static)")
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, d := range []string{"bin/", "etc/", "tmp/", "proc/", "sys/", "dev/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: now}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), ModTime: now}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, ModTime: now}); err != nil {
			return nil, err
		}
	}
	passwd := []byte("root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644, Size: int64(len(passwd)), ModTime: now}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(passwd); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// isStaticELF reports whether b is an ELF executable without a program interpreter (PT_INTERP), i.e. one that
// runs in an otherwise empty root file system.
func isStaticELF(b []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return false
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}
