package systemd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// TestScriptsOverSSH sends the scripts through sshpool to a real OpenSSH server. systemd is not PID 1 on this
// machine, so a fake systemctl and sudo first on PATH print their arguments, and the booted check looks at a
// directory that exists; everything else (quoting, sh -s, the login shell) is the real path.
func TestScriptsOverSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	dir, err := os.MkdirTemp("", "systemd-ssh-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	for _, name := range []string{"systemctl", "sudo"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\necho "+name+"\nfor a; do printf '<%s>\\n' \"$a\"; done\n"), 0o755))
	}
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	pins := sshpool.NewPinnedKeys()
	pins.Pin("dev", s.HostKey)
	pool, err := sshpool.New(sshpool.Config{HostKeys: pins, Signers: []ssh.Signer{s.ClientSigner}, ConnectTimeout: 30 * time.Second, CommandTimeout: 60 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	target := sshpool.Target{DeviceID: "dev", Host: s.Host, Port: s.Port, User: s.User}
	run := func(script string) string {
		script = "PATH=" + dir + ":$PATH\n" + strings.ReplaceAll(script, bootedDir, dir)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		res, err := pool.Run(ctx, target, script, nil)
		require.NoError(t, err)
		return string(res.Stdout)
	}
	a, err := ActionScript("reload", `dev-disk-by\x2dlabel-data.device`, true)
	require.NoError(t, err)
	require.Equal(t, "sudo\n<-n>\n<systemctl>\n<reload>\n<--no-ask-password>\n<-->\n<dev-disk-by\\x2dlabel-data.device>\n", run(a))
	sh, err := ShowScript("-.mount", "a@b@c.service")
	require.NoError(t, err)
	require.Contains(t, run(sh), "<-->\n<-.mount>\n<a@b@c.service>\n")
}
