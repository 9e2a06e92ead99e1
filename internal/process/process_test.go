package process

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
	"github.com/infrastructor/infrastructor/internal/malformed"
)

func recorded(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "recorded", "*.out"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	m := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		m[strings.TrimSuffix(filepath.Base(f), ".out")] = b
	}
	return m
}

func TestParseRecorded(t *testing.T) {
	for name, b := range recorded(t) {
		t.Run(name, func(t *testing.T) {
			res, err := Parse(b)
			require.NoError(t, err)
			require.False(t, res.Truncated)
			require.Zero(t, res.Skipped)
			require.Len(t, res.Processes, 15)
			checkSorted(t, res, strings.HasSuffix(name, "-memory"))
			golden.JSON(t, name, res)
		})
	}
}

// checkSorted checks the device's order: by CPU, or by RSS (ps sorts by resident set size in pages; /proc
// by KiB: both give the same order).
func checkSorted(t *testing.T, res Result, byMemory bool) {
	t.Helper()
	if byMemory {
		require.True(t, sort.SliceIsSorted(res.Processes, func(i, j int) bool { return res.Processes[i].RSSBytes > res.Processes[j].RSSBytes }))
		return
	}
	require.True(t, sort.SliceIsSorted(res.Processes, func(i, j int) bool { return res.Processes[i].CPUPercent > res.Processes[j].CPUPercent }))
}

// TestScriptLive runs Script on this machine with procps and, as on a busybox device, with the /proc reader
// under dash and busybox sh.
func TestScriptLive(t *testing.T) {
	for _, sortBy := range []Sort{ByCPU, ByMemory} {
		s, err := Script(sortBy, MaxLimit)
		require.NoError(t, err)
		for name, script := range map[string]string{"procps": s, "proc": procOnly(s)} {
			for shell, argv := range shells {
				t.Run(string(sortBy)+"/"+name+"/"+shell, func(t *testing.T) {
					started := time.Now()
					res, err := Parse(runScript(t, argv, script))
					require.NoError(t, err)
					want := name
					if shell == "busybox" {
						// busybox sh runs its own ps applet, which is not procps: the /proc reader answers
						want = SourceProc
					}
					require.Equal(t, want, res.Source)
					require.False(t, res.Truncated)
					require.Zero(t, res.Skipped)
					require.NotEmpty(t, res.Processes)
					require.LessOrEqual(t, len(res.Processes), MaxLimit)
					if res.Source == SourceProc || sortBy == ByMemory {
						// procps sorts by its own CPU figure, computed a moment before it prints it
						checkSorted(t, res, sortBy == ByMemory)
					}
					for _, p := range res.Processes {
						require.NotEmpty(t, p.Command, "%+v", p)
						require.NotEmpty(t, p.User, "%+v", p)
						require.False(t, p.Started.After(started.Add(2*time.Second)), "%+v", p)
						require.True(t, p.Started.After(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)), "%+v", p)
					}
				})
			}
		}
	}
}

func TestParseLines(t *testing.T) {
	out := "@@infra:ps:proc 1796411063@@\n" +
		"42\troot\t1.5\t2048\tS\t1796400000\tweird) (name\t/usr/bin/app --password=hunter2 --db-token: abc api_key=XYZ --name x\n" +
		"2\troot\t0.0\t0\tI\t1796300000\tkworker/0:1-events\t\n" +
		"7\t1000\t0.0\t4\tZ\t1796300000\tdefunct\t\x1b[31mred\x1b[0m\n" +
		"bad line\n" +
		"\n@@infra:end@@\n"
	res, err := Parse([]byte(out))
	require.NoError(t, err)
	require.Equal(t, 1, res.Skipped)
	require.Equal(t, []Process{
		{PID: 42, User: "root", Command: "weird) (name", Args: "/usr/bin/app --password=*** --db-token: abc api_key=*** --name x", CPUPercent: 1.5, RSSBytes: 2 << 20, State: "S", Started: time.Unix(1796400000, 0).UTC()},
		{PID: 2, User: "root", Command: "kworker/0:1-events", Args: "[kworker/0:1-events]", State: "I", Started: time.Unix(1796300000, 0).UTC()},
		{PID: 7, User: "1000", Command: "defunct", Args: "red", RSSBytes: 4096, State: "Z", Started: time.Unix(1796300000, 0).UTC()},
	}, res.Processes)

	out = "@@infra:ps:procps 1796411063@@\n    1 root      0.0  1234 Ss      3600 /sbin/init splash\n    2 root 0.0 0 S 3600 [kthreadd]\n 3 x 1 1 R 5\n"
	res, err = Parse([]byte(out))
	require.NoError(t, err)
	require.True(t, res.Truncated, "no end marker")
	require.Len(t, res.Processes, 3)
	require.Equal(t, Process{PID: 1, User: "root", Command: "init", Args: "/sbin/init splash", RSSBytes: 1234 * 1024, State: "Ss", Started: time.Unix(1796411063-3600, 0).UTC()}, res.Processes[0])
	require.Equal(t, "kthreadd", res.Processes[1].Command)
	require.Empty(t, res.Processes[2].Args, "no arguments at all")
	require.Empty(t, res.Processes[2].Command)

	// procps shows a process started within the current tick (ps itself) as 4294967295 seconds old.
	res, err = Parse([]byte("@@infra:ps:procps 1796411063@@\n 9 root 0.0 4428 R 4294967295 ps -eo pid=\n@@infra:end@@\n"))
	require.NoError(t, err)
	require.Equal(t, time.Unix(1796411063, 0).UTC(), res.Processes[0].Started)

	long := "@@infra:ps:procps 1@@\n 5 u 1 1 R 1 /bin/x " + strings.Repeat("a", 1000) + "\n@@infra:end@@\n"
	res, err = Parse([]byte(long))
	require.NoError(t, err)
	require.True(t, res.Processes[0].ArgsCut)
	require.Len(t, res.Processes[0].Args, MaxArgsBytes)

	_, err = Parse([]byte("PID USER\n"))
	require.ErrorIs(t, err, ErrNoHeader)
}

func TestValidation(t *testing.T) {
	for _, c := range []struct {
		sort  string
		limit int
		field string
	}{{"io", 10, "sort"}, {"cpu", -1, "limit"}, {"memory", MaxLimit + 1, "limit"}} {
		_, err := Script(Sort(c.sort), c.limit)
		var ae *ArgError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, c.field, ae.Field)
		require.ErrorIs(t, err, ErrInvalidArgument)
	}
	s, err := ParseSort("")
	require.NoError(t, err)
	require.Equal(t, ByCPU, s)
	n, err := NormalizeLimit(0)
	require.NoError(t, err)
	require.Equal(t, DefaultLimit, n)
}

const (
	allocPerInputByte = 64
	allocFixed        = 1 << 20
)

func FuzzParse(f *testing.F) {
	for _, b := range recorded(f) {
		f.Add(b)
	}
	f.Add([]byte("@@infra:ps:proc 1@@\n" + strings.Repeat("1\tr\t1\t1\tS\t1\tc\ta\n", 300)))
	f.Fuzz(func(t *testing.T, b []byte) {
		var res Result
		var err error
		alloc := malformed.Allocated(func() { res, err = Parse(b) })
		require.LessOrEqual(t, alloc, malformed.Bound(len(b), allocPerInputByte, allocFixed))
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(res.Processes), MaxLimit)
		for _, p := range res.Processes {
			require.LessOrEqual(t, len(p.Args), MaxArgsBytes)
			require.LessOrEqual(t, len(p.User), MaxFieldBytes)
			require.LessOrEqual(t, len(p.Command), MaxFieldBytes)
			for _, s := range []string{p.Args, p.User, p.Command, p.State} {
				require.True(t, utf8.ValidString(s))
				for _, r := range s {
					require.False(t, r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0), "%U in %q", r, s)
				}
			}
		}
	})
}
