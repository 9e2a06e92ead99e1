package journal

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
)

var record = flag.Bool("record", false, "rebuild testdata/recorded/journal.export, write it into a real journal file with systemd-journal-remote and record journalctl's JSON for every journalCase")

// exportEntry is one entry of journald's export format (systemd's JOURNAL_EXPORT_FORMATS).
type exportEntry struct {
	usec   int64
	fields [][2]string
	binMsg []byte
}

// journalEntries are the recorded journal's entries: several units and priorities, a kernel message without a
// unit, a message systemd logs about a unit (UNIT=, which journalctl -u also matches), non-ASCII text and a
// binary MESSAGE with invalid UTF-8, terminal escapes and a bell.
var journalEntries = func() []exportEntry {
	const base = 1764870000000000 // 2025-12-04T17:40:00Z
	f := func(kv ...string) [][2]string {
		var out [][2]string
		for i := 0; i < len(kv); i += 2 {
			out = append(out, [2]string{kv[i], kv[i+1]})
		}
		return out
	}
	return []exportEntry{
		{base, f("PRIORITY", "6", "_SYSTEMD_UNIT", "nginx.service", "SYSLOG_IDENTIFIER", "nginx", "_PID", "812", "MESSAGE", "started worker process 813"), nil},
		{base + 1_500_000, f("PRIORITY", "3", "_SYSTEMD_UNIT", "nginx.service", "SYSLOG_IDENTIFIER", "nginx", "_PID", "812", "MESSAGE", "connect() failed (111: Connection refused) while connecting to upstream"), nil},
		{base + 2_000_000, f("PRIORITY", "4", "_SYSTEMD_UNIT", "smbd.service", "SYSLOG_IDENTIFIER", "smbd", "_PID", "1001"), []byte("bad bytes \xff\xfe then \x1b[31mred\x1b[0m and a bell\x07")},
		{base + 3_000_000, f("PRIORITY", "2", "SYSLOG_IDENTIFIER", "kernel", "MESSAGE", "Out of memory: Killed process 4242 (java)"), nil},
		{base + 4_000_000, f("PRIORITY", "7", "_SYSTEMD_UNIT", "docker.service", "SYSLOG_IDENTIFIER", "dockerd", "_PID", "655", "MESSAGE", "Grüße aus dem Container ✓"), nil},
		{base + 5_000_000, f("PRIORITY", "5", "_SYSTEMD_UNIT", "init.scope", "SYSLOG_IDENTIFIER", "systemd", "_PID", "1", "UNIT", "nginx.service", "MESSAGE", "nginx.service: Main process exited, code=exited, status=1/FAILURE"), nil},
		{base + 6_000_000, f("PRIORITY", "3", "_SYSTEMD_UNIT", "nginx.service", "SYSLOG_IDENTIFIER", "nginx", "_PID", "812", "MESSAGE", "upstream timed out\nsecond line of the same message"), nil},
	}
}()

func exportText() []byte {
	var b bytes.Buffer
	for _, e := range journalEntries {
		fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=web1\n",
			e.usec, e.usec-1764800000000000)
		for _, kv := range e.fields {
			if strings.Contains(kv[1], "\n") {
				writeBinaryField(&b, kv[0], []byte(kv[1]))
				continue
			}
			fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
		}
		if e.binMsg != nil {
			writeBinaryField(&b, "MESSAGE", e.binMsg)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// writeBinaryField writes the export format's binary form: name, newline, little-endian 64-bit length, data.
func writeBinaryField(b *bytes.Buffer, name string, v []byte) {
	b.WriteString(name + "\n")
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(v)))
	b.Write(n[:])
	b.Write(v)
	b.WriteByte('\n')
}

// journalCases are the filters recorded against the real journalctl; the golden test parses each recording
// with its filter.
var journalCases = []struct {
	name string
	q    Query
}{
	{"all", Query{}},
	{"unit-nginx", Query{Unit: "nginx"}},
	{"priority-err", Query{Priority: "err"}},
	{"since-until", Query{Since: "2025-12-04T17:40:01.5Z", Until: "2025-12-04T17:40:04Z"}},
	{"limit-2", Query{Limit: 2}},
	{"grep-upstream", Query{Grep: "UPSTREAM"}},
	{"boot-id", Query{Boot: "0123456789abcdef0123456789abcdef", Priority: "warning"}},
}

// journalRemote finds systemd-journal-remote (Debian installs it outside PATH).
func journalRemote() string {
	for _, p := range []string{"systemd-journal-remote", "/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

// buildJournal writes journal.export into a real journal file in dir and returns its path.
func buildJournal(t *testing.T, dir string) string {
	t.Helper()
	remote := journalRemote()
	if remote == "" {
		t.Skip("systemd-journal-remote not installed (apt-get install systemd-journal-remote)")
	}
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("journalctl not installed")
	}
	file := filepath.Join(dir, "test.journal")
	cmd := exec.Command(remote, "--output="+file, "-")
	cmd.Stdin = bytes.NewReader(golden.Read(t, filepath.Join("testdata", "recorded", "journal.export")))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "systemd-journal-remote: %s", out)
	return file
}

// runPipeline runs the journald part of Script for f with a journalctl on PATH that reads file, as the device's
// sh would, and returns what it prints.
func runPipeline(t *testing.T, f Filter, file string) []byte {
	t.Helper()
	bin := t.TempDir()
	real, err := exec.LookPath("journalctl")
	require.NoError(t, err)
	wrapper := "#!/bin/sh\nexec " + real + " --file '" + file + "' \"$@\"\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "journalctl"), []byte(wrapper), 0o755))
	cmd := exec.Command("sh", "-s")
	cmd.Stdin = strings.NewReader(journaldPipeline(f) + "\n")
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "stderr: %s", stderr.String())
	return out
}

func TestRecordJournal(t *testing.T) {
	if !*record {
		t.Skip("run with -record to rebuild testdata/recorded/journal*")
	}
	dir := filepath.Join("testdata", "recorded")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "journal.export"), exportText(), 0o644))
	file := buildJournal(t, t.TempDir())
	for _, c := range journalCases {
		f, err := c.q.Normalize()
		require.NoError(t, err, c.name)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "journalctl-"+c.name+".json"), runPipeline(t, f, file), 0o644))
	}
}
