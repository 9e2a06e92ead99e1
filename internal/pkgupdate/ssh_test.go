package pkgupdate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestAptOverSSH runs Script the way the product does: through the real SSH pool (sh -s on standard input,
// whatever the login shell) on a real sshd, as an unprivileged login user, against the local repository. It
// proves the check needs no root: the user only reads the lists and the dpkg status.
func TestAptOverSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	for _, tool := range []string{"apt-get", "dpkg-deb", "apt-config"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("the repository's lists are fetched as root for the unprivileged login user")
	}
	// Not t.TempDir: its parent is private to root and the login user must read the repository.
	dir, err := os.MkdirTemp("", "infra-aptrepo-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	conf := testenv.BuildAptRepo(t, dir, []testenv.DebPackage{
		{Name: "hello-infra", Version: "1.1-1", Suite: "stable"},
		{Name: "libinfra1", Version: "2.0-2", Suite: "stable-security"},
	}, map[string]string{"hello-infra": "1.0-1", "libinfra1": "2.0-1"})
	update := exec.Command("apt-get", "update")
	update.Env = append(os.Environ(), "APT_CONFIG="+conf)
	out, err := update.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if info.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	}))

	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{})
	keys := sshpool.NewPinnedKeys()
	keys.Pin("dev1", sshd.HostKey)
	pool, err := sshpool.New(sshpool.Config{Signers: []ssh.Signer{sshd.ClientSigner}, HostKeys: keys,
		ConnectTimeout: 30 * time.Second, CommandTimeout: 2 * time.Minute, MaxOutputBytes: 1 << 20})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	target := sshpool.Target{DeviceID: "dev1", Host: sshd.Host, Port: sshd.Port, User: sshd.User}
	// The device's environment would carry APT_CONFIG; here the test sets it in front of the unchanged script.
	res, err := pool.Run(ctx, target, "APT_CONFIG="+docker.ShellQuote(conf)+"; export APT_CONFIG\n"+Script(), nil)
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, "stderr: %s", res.Stderr)
	rep, err := Parse(res.Stdout)
	require.NoError(t, err)
	require.False(t, rep.Failed, "messages %v, output %s", rep.Messages, res.Stdout)
	require.Equal(t, ManagerApt, rep.Manager)
	require.Equal(t, 2, rep.Total)
	require.Equal(t, 1, rep.Security)
	require.Equal(t, "libinfra1", rep.Updates[0].Name)
	require.True(t, rep.Updates[0].Security)
	require.False(t, rep.ListsUpdatedAt.IsZero())
}
