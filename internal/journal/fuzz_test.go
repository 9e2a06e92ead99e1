package journal

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/malformed"
)

// Allocation allowed to Parse: allocPerInputByte times the input plus allocFixed. What it catches is growth
// faster than the input (a short text expanding into many entries or a quadratic decode).
const (
	allocPerInputByte = 64
	allocFixed        = 1 << 20
)

// checkEntry asserts the bounds and the safety of one entry's text.
func checkEntry(t testing.TB, e Entry) {
	t.Helper()
	require.LessOrEqual(t, len(e.Message), MaxMessageBytes)
	for _, s := range []string{e.Unit, e.Identifier, e.Hostname, e.Priority} {
		require.LessOrEqual(t, len(s), MaxFieldBytes)
		checkSafe(t, s, false)
	}
	require.LessOrEqual(t, len(e.Cursor), 1024)
	checkSafe(t, e.Message, true)
}

func checkSafe(t testing.TB, s string, newlines bool) {
	t.Helper()
	require.True(t, utf8.ValidString(s), "%q", s)
	for _, r := range s {
		if newlines && (r == '\n' || r == '\t') {
			continue
		}
		require.False(t, r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0), "control character %U in %q", r, s)
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range journalCases {
		if b, err := os.ReadFile(filepath.Join("testdata", "recorded", "journalctl-"+c.name+".json")); err == nil {
			f.Add(wrap(SourceJournald, b), uint8(0))
		}
	}
	for _, n := range []string{"logread.txt", "busybox-syslogd.txt", "rsyslog-precise.txt", "rsyslog-traditional.txt"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "recorded", n)); err == nil {
			f.Add(wrap(SourceSyslog, b), uint8(3))
			f.Add(wrap(SourceLogread, b), uint8(1))
		}
	}
	f.Add(wrap(SourceJournald, []byte(`{"__REALTIME_TIMESTAMP":"1","MESSAGE":[27,91,50,74,255,0,10]}`)), uint8(2))
	f.Add(wrap(SourceJournald, []byte(`{"__REALTIME_TIMESTAMP":"1","MESSAGE":[[`+strings.Repeat("[", 5000)+`]]}`)), uint8(2))
	f.Fuzz(func(t *testing.T, out []byte, sel uint8) {
		flt := Filter{Priority: int(sel%9) - 1, Limit: int(sel%7) + 1}
		if sel&0x80 != 0 {
			flt.Grep = "e"
		}
		var res Result
		var err error
		alloc := malformed.Allocated(func() { res, err = Parse(out, flt, recordedNow) })
		require.LessOrEqual(t, alloc, malformed.Bound(len(out), allocPerInputByte, allocFixed), "Parse allocated %d bytes for %d input bytes", alloc, len(out))
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(res.Entries), flt.Limit)
		for _, e := range res.Entries {
			checkEntry(t, e)
		}
	})
}

// FuzzScriptArgv checks that whatever a user puts in a query, the device's journalctl and grep receive exactly
// the validated values as separate arguments: the script is run under sh with a journalctl and a grep that
// print their arguments.
func FuzzScriptArgv(f *testing.F) {
	for _, s := range []string{"nginx", "a;id", "$(id)", "`id`", "a\nb", "'", "--rm", "-1", "*", "a b", "foo@bar.service",
		"-.mount", "x\\x2dy.service", "héllo", "a'b", "0123456789abcdef0123456789abcdef", "!!", "{a,b}", "%s"} {
		f.Add(s)
	}
	dash, err := exec.LookPath("dash")
	if err != nil {
		f.Skip("dash not installed")
	}
	bin := f.TempDir()
	require.NoError(f, os.WriteFile(filepath.Join(bin, "journalctl"), []byte("#!/bin/sh\nfor a; do printf 'J<%s>\\n' \"$a\"; done\n"), 0o755))
	require.NoError(f, os.WriteFile(filepath.Join(bin, "grep"), []byte("#!/bin/sh\nfor a; do printf 'G<%s>\\n' \"$a\" >&2; done\ncat\n"), 0o755))
	f.Fuzz(func(t *testing.T, s string) {
		q := Query{Unit: s, Grep: s, Boot: s, Priority: s, Since: s}
		for _, q := range []Query{{Unit: s}, {Grep: s}, {Boot: s}, {Priority: s}, {Since: s}, q} {
			flt, err := q.Normalize()
			if err != nil {
				var ae *ArgError
				require.ErrorAs(t, err, &ae)
				require.NotEmpty(t, ae.Field)
				continue
			}
			cmd := exec.Command(dash, "-s")
			cmd.Stdin = strings.NewReader(journaldPipeline(flt) + "\n")
			cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err)
			var want, wantGrep bytes.Buffer
			for _, a := range JournalctlArgs(flt) {
				want.WriteString("J<" + a + ">\n")
			}
			if flt.Grep != "" {
				wantGrep.WriteString("G<-F>\nG<-i>\nG<-e>\nG<" + flt.Grep + ">\n")
			}
			require.Equal(t, want.String(), string(out))
			require.Equal(t, wantGrep.String(), stderr.String())
		}
	})
}

func TestParseTimeZoneHeader(t *testing.T) {
	out := []byte(headerPrefix + "syslog 1796410800 -0500@@\nDec  4 10:00:00 h x: y\n" + endMarker + "\n")
	res, err := Parse(out, Filter{Priority: -1, Limit: 5}, time.Time{})
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC), res.Entries[0].Time)
}
