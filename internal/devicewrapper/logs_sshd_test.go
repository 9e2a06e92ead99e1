package devicewrapper_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/journal"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// lockedBuffer collects a stream's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// journalDevice starts an sshd behind the installed wrapper whose sessions see, in a mount namespace of their
// own, a /var/log holding only a real journal file (written by systemd-journal-remote) with three entries of
// web.service in the current boot, each message containing hostile. It returns the pool and target.
func journalDevice(t *testing.T, hostile string) (*testenv.SSHD, *sshpool.Pool, sshpool.Target) {
	t.Helper()
	remote := ""
	for _, p := range []string{"systemd-journal-remote", "/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"} {
		if path, err := exec.LookPath(p); err == nil {
			remote = path
			break
		}
	}
	if _, err := exec.LookPath("journalctl"); err != nil || remote == "" {
		t.Skip("journalctl and systemd-journal-remote are needed (apt-get install systemd-journal-remote)")
	}
	mid, err := os.ReadFile("/etc/machine-id")
	require.NoError(t, err)
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	require.NoError(t, err)
	// The unprivileged login user reads the file: t.TempDir's parent is private.
	dir, err := os.MkdirTemp("", "wrapper-journal-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	// journalctl --follow shows only the current boot, so the entries are of this one.
	var export strings.Builder
	now := time.Now().UnixMicro()
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&export, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n_HOSTNAME=dev1\nPRIORITY=3\n"+
			"_SYSTEMD_UNIT=web.service\nSYSLOG_IDENTIFIER=web\n_PID=42\nMESSAGE=entry %d: %s\n\n",
			now-int64(10-i)*1000000, int64(i)*1000000, strings.ReplaceAll(strings.TrimSpace(string(boot)), "-", ""), i, hostile)
	}
	file := filepath.Join(dir, "test.journal")
	cmd := exec.Command(remote, "--output="+file, "-")
	cmd.Stdin = strings.NewReader(export.String())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "systemd-journal-remote: %s", out)
	require.NoError(t, os.Chmod(file, 0o644))
	jdir := "/var/log/journal/" + strings.TrimSpace(string(mid))
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{
		// A private /var/log (tmpfs) in a private mount namespace: the journal is there for this sshd and its
		// sessions only, never for the rest of the machine.
		Launcher: []string{"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
			`mount -t tmpfs -o mode=0755 infra-test-log /var/log && mkdir -p -m 0755 ` + jdir + ` && cp "` + file + `" ` + jdir +
				`/ && chmod 0644 ` + jdir + `/test.journal && exec "$@"`, "sh"},
		Wrapper: true,
	})
	pins := sshpool.NewPinnedKeys()
	pins.Pin("dev", sshd.HostKey)
	pool, err := sshpool.New(sshpool.Config{HostKeys: pins, Signers: []ssh.Signer{sshd.ClientSigner},
		ConnectTimeout: 30 * time.Second, CommandTimeout: 2 * time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	return sshd, pool, sshpool.Target{DeviceID: "dev", Host: sshd.Host, Port: sshd.Port, User: sshd.User}
}

// TestLogsThroughWrapper: a system log search and a live journal tail, built by the product and sent by its SSH
// pool, pass the installed wrapper in front of a real sshd and read a real journal; search text that would run a
// command if it reached the shell is found as text and runs nothing; a changed tail is refused.
func TestLogsThroughWrapper(t *testing.T) {
	pwned := filepath.Join(os.TempDir(), fmt.Sprintf("wrapper-pwned-%d", time.Now().UnixNano()))
	hostile := "$(touch " + pwned + ") `touch " + pwned + "` ; touch " + pwned + " '"
	sshd, pool, target := journalDevice(t, hostile)
	t.Cleanup(func() { _ = os.Remove(pwned) })

	for _, c := range []struct {
		q    journal.Query
		want []string
	}{
		{journal.Query{Limit: 2}, []string{"entry 2: " + hostile, "entry 3: " + hostile}},
		{journal.Query{Unit: "web", Priority: "err", Grep: hostile}, []string{"entry 1: " + hostile, "entry 2: " + hostile, "entry 3: " + hostile}},
		{journal.Query{Unit: "other"}, nil},
	} {
		f, err := c.q.Normalize()
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		res, err := pool.Run(ctx, target, journal.Script(f), nil)
		cancel()
		require.NoError(t, err, "%+v", c.q)
		parsed, err := journal.Parse(res.Stdout, f, time.Now())
		require.NoError(t, err, "%s", res.Stdout)
		require.Equal(t, journal.SourceJournald, parsed.Source)
		var got []string
		for _, e := range parsed.Entries {
			got = append(got, e.Message)
		}
		require.Equal(t, c.want, got, "%+v", c.q)
	}

	// A live tail of the unit: the newest entries arrive, then the session is ended as the product ends it.
	f, err := journal.Query{Unit: "web"}.Normalize()
	require.NoError(t, err)
	var stdout, stderr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := pool.Stream(ctx, target, journal.TailCommand(f, ""), &stdout, &stderr)
		done <- err
	}()
	deadline := time.Now().Add(90 * time.Second)
	for strings.Count(stdout.String(), "\n") < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the tail did not end with its session")
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 3, "stdout %q, stderr %q", stdout.String(), stderr.String())
	for i, l := range lines {
		e, err := journal.ParseJSONLine([]byte(l))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("entry %d: %s", i+1, hostile), e.Message)
	}
	require.NoFileExists(t, pwned, "the search text ran as a command")
	refusals, err := os.ReadFile(sshd.WrapperLog)
	require.NoError(t, err)
	require.Empty(t, string(refusals))

	// A tail with a command added after the follower is refused and runs nothing.
	changed := strings.Replace(journal.TailCommand(f, ""), "-n 10", "-n 10; touch "+pwned, 1)
	res, err := pool.Run(context.Background(), target, changed, nil)
	require.Error(t, err)
	require.Equal(t, 126, res.ExitCode)
	require.NoFileExists(t, pwned)
	refusals, err = os.ReadFile(sshd.WrapperLog)
	require.NoError(t, err)
	require.Contains(t, string(refusals), "refused (log tail")
}
