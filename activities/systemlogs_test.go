package activities_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/journal"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

const recordedJournal = "../internal/journal/testdata/recorded/"

// journalRemote finds systemd-journal-remote (Debian installs it outside PATH).
func journalRemote(t *testing.T) string {
	for _, p := range []string{"systemd-journal-remote", "/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("systemd-journal-remote not installed (apt-get install systemd-journal-remote)")
	return ""
}

// logDevice is a device whose "system log" is test data: a real journal file written by systemd-journal-remote
// from the recorded export, a recorded rsyslog file and a recorded busybox logread output, in a directory the
// unprivileged SSH user can read.
type logDevice struct {
	dir, journalFile, bin string
}

func startLogDevice(t *testing.T) (*logDevice, *activities.Activities, *store.Device) {
	t.Helper()
	remote := journalRemote(t)
	real, err := exec.LookPath("journalctl")
	if err != nil {
		t.Skip("journalctl not installed")
	}
	dir, err := os.MkdirTemp("", "systemlogs-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	ld := &logDevice{dir: dir, bin: filepath.Join(dir, "bin")}
	jdir := filepath.Join(dir, "journal", "0123456789abcdef0123456789abcdef")
	require.NoError(t, os.MkdirAll(jdir, 0o755))
	require.NoError(t, os.Chmod(filepath.Join(dir, "journal"), 0o755))
	ld.journalFile = filepath.Join(jdir, "test.journal")
	export, err := os.ReadFile(recordedJournal + "journal.export")
	require.NoError(t, err)
	cmd := exec.Command(remote, "--output="+ld.journalFile, "-")
	cmd.Stdin = bytes.NewReader(export)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "systemd-journal-remote: %s", out)
	require.NoError(t, os.Chmod(ld.journalFile, 0o644))
	require.NoError(t, os.MkdirAll(ld.bin, 0o755))
	// The device's journalctl reads the test journal; its logread prints the recorded busybox ring buffer.
	require.NoError(t, os.WriteFile(filepath.Join(ld.bin, "journalctl"), []byte("#!/bin/sh\nexec "+real+" --file '"+ld.journalFile+"' \"$@\"\n"), 0o755))
	logread, err := filepath.Abs(recordedJournal + "logread.txt")
	require.NoError(t, err)
	lr := filepath.Join(dir, "logread.txt")
	b, err := os.ReadFile(logread)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(lr, b, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(ld.bin, "logread"), []byte("#!/bin/sh\nexec cat '"+lr+"'\n"), 0o755))
	b, err = os.ReadFile(recordedJournal + "rsyslog-traditional.txt")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "syslog"), b, 0o644))

	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	pool, err := sshpool.New(sshpool.Config{HostKeys: pinnedKey{s.HostKey}, Signers: []ssh.Signer{s.ClientSigner},
		ConnectTimeout: 30 * time.Second, CommandTimeout: 60 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	db := testdb.Pool(t)
	dev, err := store.CreateDevice(context.Background(), db, &store.Device{Name: "logs", Host: s.Host, Port: s.Port, User: s.User,
		DeviceType: "linux", PollInterval: time.Minute, HostKeyPolicy: store.PolicyRequireApproval})
	require.NoError(t, err)
	return ld, &activities.Activities{DB: db, SSH: pool, Log: slog.New(slog.DiscardHandler)}, dev
}

// script returns the product's search script with the device's log locations replaced by the test's: source
// "journald" reads the test journal, "syslog" the recorded rsyslog file, "logread" the recorded ring buffer.
func (ld *logDevice) script(source string) func(journal.Filter) string {
	return func(f journal.Filter) string {
		s := journal.Script(f)
		glob := filepath.Join(ld.dir, "journal") + "/*/*.journal"
		if source != journal.SourceJournald {
			glob = filepath.Join(ld.dir, "none") + "/*/*.journal"
		}
		s = strings.ReplaceAll(s, "/var/log/journal/*/*.journal", glob)
		s = strings.ReplaceAll(s, "/run/log/journal/*/*.journal", glob)
		syslog := filepath.Join(ld.dir, "syslog")
		if source != journal.SourceSyslog {
			syslog = filepath.Join(ld.dir, "none", "syslog")
		}
		s = strings.ReplaceAll(s, "/var/log/syslog", syslog)
		s = strings.ReplaceAll(s, "/var/log/messages", filepath.Join(ld.dir, "none", "messages"))
		return "PATH=" + ld.bin + ":$PATH\n" + s
	}
}

// TestSearchSystemLogsOverSSH runs the search activity against a real OpenSSH server: journald through the real
// journalctl reading a real journal file, then the syslog-file and logread fallbacks, each with filters. The
// entries reach PostgreSQL for the API; the activity's result holds only counts.
func TestSearchSystemLogsOverSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	ld, acts, dev := startLogDevice(t)
	ctx := context.Background()
	search := func(source string, q journal.Query) (*activities.SystemLogsResult, journal.Result) {
		t.Helper()
		activities.SetSystemLogScript(acts, ld.script(source))
		in := activities.SystemLogsInput{FetchID: uuid.NewString(), DeviceID: dev.ID.String(), Query: q}
		res, err := acts.SearchSystemLogs(ctx, in)
		require.NoError(t, err)
		var body []byte
		require.NoError(t, acts.DB.QueryRow(ctx, `SELECT body FROM log_fetches WHERE id = $1`, in.FetchID).Scan(&body))
		var stored journal.Result
		require.NoError(t, json.Unmarshal(body, &stored))
		require.Equal(t, res.Entries, len(stored.Entries))
		require.Equal(t, source, res.Source)
		return res, stored
	}
	messages := func(r journal.Result) []string {
		var out []string
		for _, e := range r.Entries {
			out = append(out, e.Message)
		}
		return out
	}

	_, got := search(journal.SourceJournald, journal.Query{Unit: "nginx", Priority: "err"})
	require.Equal(t, []string{"connect() failed (111: Connection refused) while connecting to upstream",
		"upstream timed out\nsecond line of the same message"}, messages(got))
	require.Equal(t, "nginx.service", got.Entries[0].Unit)
	require.Equal(t, "err", got.Entries[0].Priority)
	require.Equal(t, 812, got.Entries[0].PID)
	require.Equal(t, "web1", got.Entries[0].Hostname)
	require.NotEmpty(t, got.Entries[0].Cursor)
	require.False(t, got.Truncated)

	_, got = search(journal.SourceJournald, journal.Query{Limit: 2})
	require.Len(t, got.Entries, 2)
	_, got = search(journal.SourceJournald, journal.Query{Grep: "$(touch " + filepath.Join(ld.dir, "pwned") + ")"})
	require.Empty(t, got.Entries)
	require.NoFileExists(t, filepath.Join(ld.dir, "pwned"))

	// A message longer than journalctl's 4096-byte field threshold comes back whole (--all), not as null.
	ld.appendJournal(t, 1764870300000000, [2]string{"3nginx.service", strings.Repeat("x", 10000)})
	_, got = search(journal.SourceJournald, journal.Query{Unit: "nginx", Limit: 1})
	require.Equal(t, []string{strings.Repeat("x", 10000)}, messages(got))

	_, got = search(journal.SourceSyslog, journal.Query{Unit: "nginx"})
	require.Equal(t, []string{"started worker process 813", "connect() failed (111: Connection refused) while connecting to upstream"}, messages(got))
	_, got = search(journal.SourceSyslog, journal.Query{Priority: "err"})
	require.Equal(t, []string{"priority"}, got.Unapplied, "plain syslog lines carry no priority")

	_, got = search(journal.SourceLogread, journal.Query{Unit: "nginx", Priority: "err"})
	require.Equal(t, []string{"connect() failed (111: Connection refused) while connecting to upstream"}, messages(got))
	require.Equal(t, 32013, got.Entries[0].PID)
	_, got = search(journal.SourceLogread, journal.Query{Grep: "GRÜSSE"})
	require.Empty(t, got.Entries, "grep is a substring, not a folding of ß")
	_, got = search(journal.SourceLogread, journal.Query{Grep: "grüße"})
	require.Equal(t, []string{"Grüße aus dem Container ✓"}, messages(got))
}

// TestSearchSystemLogsRejectsBadQueries: a query that fails validation never reaches the device.
func TestSearchSystemLogsRejectsBadQueries(t *testing.T) {
	db := testdb.Pool(t)
	acts := &activities.Activities{DB: db, SSH: nil, Log: slog.New(slog.DiscardHandler)}
	for _, q := range []journal.Query{{Unit: "a;b"}, {Priority: "loud"}, {Since: "yesterday"}, {Grep: "a\nb"}, {Boot: "--all"}} {
		_, err := acts.SearchSystemLogs(context.Background(), activities.SystemLogsInput{FetchID: uuid.NewString(),
			DeviceID: uuid.NewString(), Query: q})
		var app *temporal.ApplicationError
		require.ErrorAs(t, err, &app, "%+v", q)
		require.Equal(t, activities.ErrTypeInvalidInput, app.Type())
		require.True(t, app.NonRetryable())
	}
}
