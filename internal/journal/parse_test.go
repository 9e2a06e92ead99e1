package journal

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
)

// recordedNow is a moment shortly after the recordings, for year-less syslog times.
var recordedNow = time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)

// wrap adds the header and end marker Script prints around recorded source output.
func wrap(source string, body []byte) []byte {
	out := []byte(headerPrefix + source + " 1796410800 +0000@@\n")
	out = append(out, body...)
	return append(out, "\n"+endMarker+"\n"...)
}

func TestParseRecordedJournal(t *testing.T) {
	for _, c := range journalCases {
		t.Run(c.name, func(t *testing.T) {
			f, err := c.q.Normalize()
			require.NoError(t, err)
			res, err := Parse(wrap(SourceJournald, golden.Read(t, filepath.Join("testdata", "recorded", "journalctl-"+c.name+".json"))), f, recordedNow)
			require.NoError(t, err)
			require.Zero(t, res.Skipped)
			golden.JSON(t, "journal-"+c.name, res)
		})
	}
}

// TestParseJournalBinaryMessage checks the entry whose MESSAGE journald exported as an array of bytes: the
// invalid bytes are replaced, the escape sequences and the bell are gone, the text stays.
func TestParseJournalBinaryMessage(t *testing.T) {
	res, err := Parse(wrap(SourceJournald, golden.Read(t, filepath.Join("testdata", "recorded", "journalctl-all.json"))), Filter{Priority: -1, Limit: 200}, recordedNow)
	require.NoError(t, err)
	var bin *Entry
	for i := range res.Entries {
		if res.Entries[i].Unit == "smbd.service" {
			bin = &res.Entries[i]
		}
	}
	require.NotNil(t, bin)
	require.True(t, bin.Binary)
	require.Equal(t, "bad bytes \uFFFD\uFFFD then red and a bell", bin.Message)
	require.Equal(t, "warning", bin.Priority)
	require.Equal(t, 1001, bin.PID)
}

func TestParseRecordedSyslog(t *testing.T) {
	for _, c := range []struct{ file, source string }{
		{"busybox-syslogd.txt", SourceMessages},
		{"logread.txt", SourceLogread},
		{"rsyslog-traditional.txt", SourceSyslog},
		{"rsyslog-precise.txt", SourceSyslog},
	} {
		for _, q := range []struct {
			name string
			q    Query
		}{{"all", Query{}}, {"nginx-err", Query{Unit: "nginx", Priority: "err"}}, {"grep", Query{Grep: "CONTAINER"}}} {
			name := strings.TrimSuffix(c.file, ".txt") + "-" + q.name
			t.Run(name, func(t *testing.T) {
				f, err := q.q.Normalize()
				require.NoError(t, err)
				res, err := Parse(wrap(c.source, golden.Read(t, filepath.Join("testdata", "recorded", c.file))), f, recordedNow)
				require.NoError(t, err)
				golden.JSON(t, name, res)
			})
		}
	}
}

func TestParseSyslogLine(t *testing.T) {
	now := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	cet := time.FixedZone("+0100", 3600)
	cases := []struct {
		name, line string
		loc        *time.Location
		want       Entry
	}{
		{"traditional, December line read in January", "Dec 31 23:59:59 h1 cron[12]: job done", time.UTC,
			Entry{Time: time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC), Hostname: "h1", Identifier: "cron", PID: 12, Message: "job done"}},
		{"traditional in device zone", "Jan  2 10:30:00 h1 sshd: hello", cet,
			Entry{Time: time.Date(2026, 1, 2, 9, 30, 0, 0, time.UTC), Hostname: "h1", Identifier: "sshd", Message: "hello"}},
		{"year after time", "Jan  2 10:30:00 2024 h1 app: x", time.UTC,
			Entry{Time: time.Date(2024, 1, 2, 10, 30, 0, 0, time.UTC), Hostname: "h1", Identifier: "app", Message: "x"}},
		{"year before time", "Jan 02 2024 10:30:00.25 h1 app: x", time.UTC,
			Entry{Time: time.Date(2024, 1, 2, 10, 30, 0, 250000000, time.UTC), Hostname: "h1", Identifier: "app", Message: "x"}},
		{"RFC 3164 with priority", "<27>Jan  2 09:00:00 h1 app[7]: boom", time.UTC,
			Entry{Time: time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC), Priority: "err", Hostname: "h1", Identifier: "app", PID: 7, Message: "boom"}},
		{"RFC 5424", `<165>1 2025-10-11T22:14:15.003Z mymachine evntslog 99 ID47 [exampleSDID@32473 iut="3" x="a\]b"] An application event`, time.UTC,
			Entry{Time: time.Date(2025, 10, 11, 22, 14, 15, 3000000, time.UTC), Priority: "notice", Hostname: "mymachine", Identifier: "evntslog", PID: 99, Message: "An application event"}},
		{"logread", "Jan  2 09:00:00 router daemon.warn dnsmasq[99]: no servers", time.UTC,
			Entry{Time: time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC), Priority: "warning", Hostname: "router", Identifier: "dnsmasq", PID: 99, Message: "no servers"}},
		{"no tag", "Jan  2 09:00:00 h1 -- MARK --", time.UTC,
			Entry{Time: time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC), Hostname: "h1", Message: "-- MARK --"}},
		{"escapes stripped", "2026-01-02T09:00:00+01:00 h1 x: \x1b]0;title\x07red\x1b[1mbold", time.UTC,
			Entry{Time: time.Date(2026, 1, 2, 8, 0, 0, 0, time.UTC), Hostname: "h1", Identifier: "x", Message: "redbold"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := ParseSyslogLine([]byte(c.line), now, c.loc)
			require.True(t, ok)
			require.Equal(t, c.want, got)
		})
	}
	for _, bad := range []string{"", "hello world", "Foo  2 10:00:00 h x: y", "Jan 32 10:00:00 h x: y", "Jan  2 25:00:00 h x: y", "<999>Jan  2 10:00:00 h x: y"} {
		_, ok := ParseSyslogLine([]byte(bad), now, time.UTC)
		require.False(t, ok, "%q", bad)
	}
}

// TestParseKeepsNewest feeds many more matching lines than the limit: the newest limit remain, in order.
func TestParseKeepsNewest(t *testing.T) {
	var b strings.Builder
	for i := 0; i < ScanLines; i++ {
		fmt.Fprintf(&b, "Dec  4 10:00:00 h x: line %d\n", i)
	}
	res, err := Parse(wrap(SourceSyslog, []byte(b.String())), Filter{Priority: -1, Limit: MaxLimit}, recordedNow)
	require.NoError(t, err)
	require.Len(t, res.Entries, MaxLimit)
	require.Equal(t, fmt.Sprintf("line %d", ScanLines-MaxLimit), res.Entries[0].Message)
	require.Equal(t, fmt.Sprintf("line %d", ScanLines-1), res.Entries[MaxLimit-1].Message)
}

func TestParseHeaderAndTruncation(t *testing.T) {
	_, err := Parse([]byte("Dec  4 10:00:00 h x: y\n"), Filter{Priority: -1}, recordedNow)
	require.True(t, errors.Is(err, ErrNoHeader))

	// a session that died before the end marker: what arrived is parsed and the result is marked
	out := []byte(headerPrefix + "syslog 1796410800 +0000@@\nDec  4 10:00:00 h x: one\nDec  4 10:00:01 h x: tw")
	res, err := Parse(out, Filter{Priority: -1, Limit: 10}, recordedNow)
	require.NoError(t, err)
	require.True(t, res.Truncated)
	require.Len(t, res.Entries, 2)

	// a forged end marker inside the log is only data: the real one is the last line
	out = wrap(SourceSyslog, []byte("Dec  4 10:00:00 h x: one\n"+endMarker+"\nDec  4 10:00:01 h x: two"))
	res, err = Parse(out, Filter{Priority: -1, Limit: 10}, recordedNow)
	require.NoError(t, err)
	require.False(t, res.Truncated)
	require.Equal(t, "two", res.Entries[len(res.Entries)-1].Message)

	// output cut by head -c is marked
	big := strings.Repeat("Dec  4 10:00:00 h x: "+strings.Repeat("a", 100)+"\n", MaxOutputBytes/120+1)
	res, err = Parse(wrap(SourceSyslog, []byte(big)), Filter{Priority: -1, Limit: 5}, recordedNow)
	require.NoError(t, err)
	require.True(t, res.Truncated)
	require.Len(t, res.Entries, 5)

	// priority cannot be applied to a file without priorities: entries are kept, the result says so
	res, err = Parse(wrap(SourceSyslog, []byte("Dec  4 10:00:00 h x: one\n")), Filter{Priority: 3, Limit: 5}, recordedNow)
	require.NoError(t, err)
	require.Len(t, res.Entries, 1)
	require.Equal(t, []string{"priority"}, res.Unapplied)
}

func TestParseJSONLineShapes(t *testing.T) {
	// repeated field: first value; null (above the data threshold): no message; a line too long is skipped
	e, err := ParseJSONLine([]byte(`{"__REALTIME_TIMESTAMP":"1000000","MESSAGE":["first",[104,105]],"_PID":["12","13"],"PRIORITY":"9"}`))
	require.NoError(t, err)
	require.Equal(t, "first", e.Message)
	require.Equal(t, 12, e.PID)
	require.Empty(t, e.Priority)
	e, err = ParseJSONLine([]byte(`{"__REALTIME_TIMESTAMP":"1000000","MESSAGE":null}`))
	require.NoError(t, err)
	require.Empty(t, e.Message)
	_, err = ParseJSONLine([]byte(`{"MESSAGE":"no time"}`))
	require.Error(t, err)
	e, err = ParseJSONLine([]byte(`{"__REALTIME_TIMESTAMP":"1000000","MESSAGE":[[[104]]]}`))
	require.NoError(t, err)
	require.Empty(t, e.Message, "nesting deeper than journald writes is not followed")

	long := `{"__REALTIME_TIMESTAMP":"1000000","MESSAGE":"` + strings.Repeat("x", MaxMessageBytes+10) + `"}`
	e, err = ParseJSONLine([]byte(long))
	require.NoError(t, err)
	require.True(t, e.Cut)
	require.Len(t, e.Message, MaxMessageBytes)

	huge := `{"__REALTIME_TIMESTAMP":"1000000","MESSAGE":"` + strings.Repeat("x", MaxLineBytes) + `"}`
	res, err := Parse(wrap(SourceJournald, []byte(huge)), Filter{Priority: -1, Limit: 5}, recordedNow)
	require.NoError(t, err)
	require.Equal(t, 1, res.Skipped)
	require.Empty(t, res.Entries)
}

// TestScriptFallbacks runs the real Script under sh: with the plain-text log at a temporary path, and with a
// logread that prints the recorded busybox ring buffer.
func TestScriptFallbacks(t *testing.T) {
	f, err := Query{Unit: "nginx", Priority: "err"}.Normalize()
	require.NoError(t, err)
	script := Script(f)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	// hide journald: a journalctl that does not exist is what a syslog-only device has
	script = strings.ReplaceAll(script, "command -v journalctl", "command -v no-such-journalctl")

	logFile := filepath.Join(dir, "messages")
	require.NoError(t, os.WriteFile(logFile, golden.Read(t, filepath.Join("testdata", "recorded", "rsyslog-precise.txt")), 0o644))
	out := runScript(t, strings.ReplaceAll(script, "/var/log/syslog", logFile), bin, true)
	res, err := Parse(out, f, recordedNow)
	require.NoError(t, err)
	require.Equal(t, SourceSyslog, res.Source)
	require.Equal(t, []string{"priority"}, res.Unapplied)
	require.Len(t, res.Entries, 2)

	lr := "#!/bin/sh\ncat '" + filepath.Join(mustAbs(t, "testdata/recorded/logread.txt")) + "'\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "logread"), []byte(lr), 0o755))
	noFiles := strings.NewReplacer("/var/log/syslog", filepath.Join(dir, "absent1"), "/var/log/messages", filepath.Join(dir, "absent2")).Replace(script)
	// busybox sh runs its own logread applet rather than the one on PATH, so dash only here
	res, err = Parse(runScript(t, noFiles, bin, false), f, recordedNow)
	require.NoError(t, err)
	require.Equal(t, SourceLogread, res.Source)
	require.Empty(t, res.Unapplied)
	require.Len(t, res.Entries, 1)
	require.Equal(t, "err", res.Entries[0].Priority)

	// grep runs on the device (grep -F: the text is not a pattern) and again in the parser
	g, err := Query{Grep: "a.*b [x] $(id)"}.Normalize()
	require.NoError(t, err)
	gs := strings.ReplaceAll(strings.ReplaceAll(Script(g), "command -v journalctl", "command -v no-such-journalctl"), "/var/log/syslog", logFile)
	require.NoError(t, os.WriteFile(logFile, []byte("Dec  4 10:00:00 h x: has a.*b [x] $(id) literally\nDec  4 10:00:01 h x: aXXb x uid=0\n"), 0o644))
	res, err = Parse(runScript(t, gs, bin, true), g, recordedNow)
	require.NoError(t, err)
	require.Len(t, res.Entries, 1)
	require.Equal(t, "has a.*b [x] $(id) literally", res.Entries[0].Message)
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}

// runScript runs script with dash and, when busybox is set, with busybox sh, checks they print the same and
// returns the output.
func runScript(t *testing.T, script, bin string, busybox bool) []byte {
	t.Helper()
	var outs [][]byte
	shells := [][]string{{"dash", "-s"}}
	if busybox {
		shells = append(shells, []string{"busybox", "sh", "-s"})
	}
	for _, argv := range shells {
		if _, err := exec.LookPath(argv[0]); err != nil {
			continue
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = strings.NewReader(script)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		out, err := cmd.Output()
		require.NoError(t, err, argv[0])
		outs = append(outs, out)
	}
	if len(outs) == 0 {
		t.Skip("neither dash nor busybox installed")
	}
	for _, o := range outs[1:] {
		// the header holds the clock, which may tick between the runs
		_, a, _ := strings.Cut(string(outs[0]), "\n")
		_, b, _ := strings.Cut(string(o), "\n")
		require.Equal(t, a, b, "dash and busybox sh differ")
	}
	return outs[0]
}
