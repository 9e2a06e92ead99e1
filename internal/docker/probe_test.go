package docker

import (
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
)

func TestClassifyProbe(t *testing.T) {
	out := golden.Read(t, "testdata/recorded/probe.out")
	for _, tc := range []struct {
		name           string
		stdout, stderr string
		exit           int
		want           AvailabilityState
	}{
		{"recorded engine", string(out), "", 0, Available},
		{"absent", "", "", 127, Absent},
		{"no socket", "", "docker socket /var/run/docker.sock not found", 69, DaemonDown},
		{"socket perms", "", "permission denied on docker socket /var/run/docker.sock", 77, PermissionDenied},
		{"daemon stopped", `{"Client":{"Version":"28.2.2"},"Server":null}`,
			"Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", 1, DaemonDown},
		{"remote denied", "", "permission denied while trying to connect to the Docker daemon socket", 1, PermissionDenied},
		{"other", "", "error during connect: something new", 1, Unknown},
		{"exit 0 without server", `{"Client":{"Version":"1"}}`, "", 0, Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ClassifyProbe([]byte(tc.stdout), []byte(tc.stderr), tc.exit)
			require.Equal(t, tc.want, a.State, a.Detail)
		})
	}
	a := ClassifyProbe(out, nil, 0)
	require.Equal(t, "20.10.24+dfsg1", a.ServerVersion)
	require.Equal(t, "1.41", a.APIVersion)
	require.Equal(t, "28.2.2", a.ClientVersion)
}

// TestProbeScript runs the real probe script through /bin/sh with the real docker client against situations
// made on this machine: no docker on PATH, no socket, a socket nobody listens on, and a socket the user may not
// open.
func TestProbeScript(t *testing.T) {
	dockerPath, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker client installed")
	}
	dir := t.TempDir()
	// Another user must be able to reach the sockets: open the test's temporary directories for search.
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))

	noDocker := t.TempDir()
	require.NoError(t, os.Symlink("/bin/sh", filepath.Join(noDocker, "sh")))
	stdout, stderr, code := runShell(t, Probe(), []string{"PATH=" + noDocker})
	require.Equal(t, Absent, ClassifyProbe(stdout, stderr, code).State)

	binDir := filepath.Dir(dockerPath)
	path := "PATH=" + binDir + ":/usr/bin:/bin"
	stdout, stderr, code = runShell(t, Probe(), []string{path, "DOCKER_HOST=unix://" + dir + "/missing.sock"})
	require.Equal(t, DaemonDown, ClassifyProbe(stdout, stderr, code).State, string(stderr))

	// A socket file left behind by a daemon that died: the script's checks pass and docker itself fails.
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	require.NoError(t, err)
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
	stdout, stderr, code = runShell(t, Probe(), []string{path, "DOCKER_HOST=unix://" + stale})
	require.Equal(t, DaemonDown, ClassifyProbe(stdout, stderr, code).State, string(stderr))

	if os.Geteuid() != 0 {
		t.Log("not root: cannot run the probe as another user to check permission denied")
		return
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	sock := filepath.Join(dir, "root-only.sock")
	ln, err = net.Listen("unix", sock)
	require.NoError(t, err)
	defer ln.Close()
	require.NoError(t, os.Chmod(sock, 0o600))
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	cmd := exec.Command("/bin/sh", "-c", Probe())
	cmd.Env = []string{path, "DOCKER_HOST=unix://" + sock, "HOME=/nonexistent"}
	cmd.SysProcAttr = sysProcAttrAs(uid, gid)
	var o, e bytesBuffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, PermissionDenied, ClassifyProbe(o.Bytes(), e.Bytes(), ee.ExitCode()).State, e.String())
}
