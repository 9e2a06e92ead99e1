package journal

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// TestScriptOverSSH runs Script the way the product does, through sshpool to a real OpenSSH server, against a
// real journal file read by the real journalctl. The only changes to the script point it at the test's journal:
// the journal directory glob names the test's directory, and a journalctl first on PATH adds --file.
func TestScriptOverSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	// the SSH test user is unprivileged: t.TempDir's parent is private, so make a directory it can enter
	dir, err := os.MkdirTemp("", "journal-ssh-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	jdir := filepath.Join(dir, "journal", "0123456789abcdef0123456789abcdef")
	require.NoError(t, os.MkdirAll(jdir, 0o755))
	file := buildJournal(t, jdir)
	require.NoError(t, os.Chmod(file, 0o644))
	require.NoError(t, os.Chmod(filepath.Join(dir, "journal"), 0o755))
	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	real, err := exec.LookPath("journalctl")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(bin, "journalctl"), []byte("#!/bin/sh\nexec "+real+" --file '"+file+"' \"$@\"\n"), 0o755))

	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	pins := sshpool.NewPinnedKeys()
	pins.Pin("dev", s.HostKey)
	pool, err := sshpool.New(sshpool.Config{HostKeys: pins, Signers: []ssh.Signer{s.ClientSigner}, ConnectTimeout: 30 * time.Second, CommandTimeout: 60 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	target := sshpool.Target{DeviceID: "dev", Host: s.Host, Port: s.Port, User: s.User}

	for _, c := range []struct {
		q    Query
		want []string
	}{
		{Query{Unit: "nginx", Priority: "err"}, []string{"connect() failed (111: Connection refused) while connecting to upstream", "upstream timed out\nsecond line of the same message"}},
		{Query{Grep: "grüße", Limit: 1}, []string{"Grüße aus dem Container ✓"}},
		{Query{Grep: "$(touch " + filepath.Join(dir, "pwned") + ")"}, nil},
	} {
		f, err := c.q.Normalize()
		require.NoError(t, err)
		script := "PATH=" + bin + ":$PATH\n" + strings.ReplaceAll(Script(f), "/var/log/journal/*/*.journal", filepath.Join(dir, "journal")+"/*/*.journal")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		res, err := pool.Run(ctx, target, script, nil)
		cancel()
		require.NoError(t, err)
		parsed, err := Parse(res.Stdout, f, time.Now())
		require.NoError(t, err, "%s", res.Stdout)
		require.Equal(t, SourceJournald, parsed.Source)
		require.False(t, parsed.Truncated)
		var got []string
		for _, e := range parsed.Entries {
			got = append(got, e.Message)
		}
		require.Equal(t, c.want, got, "%+v", c.q)
	}
	require.NoFileExists(t, filepath.Join(dir, "pwned"))
}
