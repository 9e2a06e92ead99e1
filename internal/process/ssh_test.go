package process

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// TestScriptOverSSH runs Script as the product does: through sshpool to a real OpenSSH server, as an
// unprivileged user, with procps and with the /proc reader.
func TestScriptOverSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	pins := sshpool.NewPinnedKeys()
	pins.Pin("dev", s.HostKey)
	pool, err := sshpool.New(sshpool.Config{HostKeys: pins, Signers: []ssh.Signer{s.ClientSigner}, ConnectTimeout: 30 * time.Second, CommandTimeout: 60 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	target := sshpool.Target{DeviceID: "dev", Host: s.Host, Port: s.Port, User: s.User}
	script, err := Script(ByMemory, 20)
	require.NoError(t, err)
	for source, sc := range map[string]string{SourceProcps: script, SourceProc: procOnly(script)} {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		res, err := pool.Run(ctx, target, sc, nil)
		cancel()
		require.NoError(t, err)
		parsed, err := Parse(res.Stdout)
		require.NoError(t, err, "%s", res.Stdout)
		require.Equal(t, source, parsed.Source)
		require.False(t, parsed.Truncated)
		require.Zero(t, parsed.Skipped)
		require.NotEmpty(t, parsed.Processes)
		checkSorted(t, parsed, true)
	}
}
