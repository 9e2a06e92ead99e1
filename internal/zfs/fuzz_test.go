package zfs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/malformed"
	"github.com/infrastructor/infrastructor/internal/safetext"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// The fuzz targets and TestFaultMalformed check every parser the same way: whatever the input, no panic, every
// list within its limit, every string within its limit, and allocation at most allocPerInputByte per input byte
// plus allocFixed. The fuzz targets run their seed corpus (derived samples and shared fixtures) in plain go test.

func seeds(tb testing.TB) [][]byte {
	var out [][]byte
	dirs := []string{filepath.Join("testdata", "derived")}
	if fx, ok := testenv.OptionalFixturesDir(tb); ok {
		dirs = append(dirs, filepath.Join(fx, "zfs"))
	}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		require.NoError(tb, err)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".md") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			require.NoError(tb, err)
			b, _ = stripHarness(b)
			out = append(out, b)
		}
	}
	out = append(out,
		[]byte("tank\t1000\t2000\t96\t1.00x\t/tank\n"),
		[]byte("  pool: x\n state: ONLINE\n  scan: resilver in progress since Mon Jan  1 00:00:00 2018\n\t100G / 1T scanned at 1G/s, 50G / 1T issued\n\t50G resilvered, 4.88% done\nconfig:\n\n\tNAME STATE READ WRITE CKSUM\n\tx ONLINE 0 0 0\n\t  a ONLINE 1.2K 0 0\n\tspecial\n\t  b ONLINE 0 0 0\nerrors: Permanent errors have been detected in the following files:\n\n\t/x/file\n"),
	)
	return out
}

func checkVdev(t testing.TB, v *Vdev, depth int) int {
	t.Helper()
	require.Less(t, depth, MaxVdevDepth+1)
	malformed.CheckText(t, "vdev name", v.Name, MaxFieldBytes)
	malformed.CheckText(t, "vdev state", v.State, MaxFieldBytes)
	malformed.CheckText(t, "vdev note", v.Note, MaxFieldBytes)
	n := 1
	for i := range v.Children {
		n += checkVdev(t, &v.Children[i], depth+1)
	}
	return n
}

func checkPools(t testing.TB, pools []Pool) {
	t.Helper()
	require.LessOrEqual(t, len(pools), MaxPools)
	for i := range pools {
		p := &pools[i]
		for what, s := range map[string]string{"name": p.Name, "state": p.State, "see": p.See, "errors": p.Errors} {
			malformed.CheckText(t, what, s, MaxFieldBytes)
		}
		malformed.CheckText(t, "status", p.Status, MaxTextBytes)
		malformed.CheckText(t, "action", p.Action, MaxTextBytes)
		if p.Scan != nil {
			malformed.CheckText(t, "scan text", p.Scan.Text, MaxTextBytes)
		}
		n := 0
		if p.Root != nil {
			n += checkVdev(t, p.Root, 0)
		}
		for _, list := range [][]Vdev{p.Logs, p.Cache, p.Spares, p.Special, p.Dedup} {
			for j := range list {
				n += checkVdev(t, &list[j], 1)
			}
		}
		require.LessOrEqual(t, n, MaxVdevsPerPool)
		v := AssessPool(p, nil, time.Unix(1e9, 0))
		require.Contains(t, []Health{HealthOK, HealthWarning, HealthFailing, HealthUnknown}, v.Health)
	}
}

func countUsage(t testing.TB, rows []PoolUsage, depth int) int {
	require.Less(t, depth, MaxVdevDepth+1)
	n := 0
	for i := range rows {
		malformed.CheckText(t, "name", rows[i].Name, MaxFieldBytes)
		malformed.CheckText(t, "health", rows[i].Health, MaxFieldBytes)
		n += 1 + countUsage(t, rows[i].Vdevs, depth+1)
	}
	return n
}

// parsers lists every parser with a check of what it returned.
var parsers = map[string]struct {
	parse func(b []byte) (any, error)
	check func(t testing.TB, v any)
}{
	"ParseStatus": {
		func(b []byte) (any, error) { return ParseStatus(b, time.UTC) },
		func(t testing.TB, v any) { checkPools(t, v.([]Pool)) },
	},
	"ParseStatusJSON": {
		func(b []byte) (any, error) { return ParseStatusJSON(b, time.UTC) },
		func(t testing.TB, v any) { checkPools(t, v.([]Pool)) },
	},
	"ParseList": {
		func(b []byte) (any, error) { return ParseList(b) },
		func(t testing.TB, v any) {
			rows := v.([]PoolUsage)
			require.LessOrEqual(t, len(rows), MaxPools)
			for i := range rows {
				require.LessOrEqual(t, countUsage(t, rows[i].Vdevs, 1), MaxVdevsPerPool)
			}
		},
	},
	"ParseDatasets": {
		func(b []byte) (any, error) { return ParseDatasets(b) },
		func(t testing.TB, v any) {
			ds := v.([]Dataset)
			require.LessOrEqual(t, len(ds), MaxDatasets)
			for _, d := range ds {
				malformed.CheckText(t, "name", d.Name, MaxFieldBytes)
				malformed.CheckText(t, "mountpoint", d.Mountpoint, MaxFieldBytes)
			}
		},
	},
	"SummarizeSnapshots": {
		func(b []byte) (any, error) { return SummarizeSnapshots(bytes.NewReader(b)) },
		func(t testing.TB, v any) {
			ss := v.([]SnapshotSummary)
			require.LessOrEqual(t, len(ss), MaxDatasets)
			for _, s := range ss {
				malformed.CheckText(t, "dataset", s.Dataset, MaxFieldBytes)
				malformed.CheckText(t, "oldest", s.Oldest, MaxFieldBytes)
				malformed.CheckText(t, "newest", s.Newest, MaxFieldBytes)
				require.False(t, s.NewestCreated.Before(s.OldestCreated))
			}
		},
	},
	"ListSnapshots": {
		func(b []byte) (any, error) {
			page, _, err := ListSnapshots(bytes.NewReader(b), "", "", 10)
			return page, err
		},
		func(t testing.TB, v any) { require.LessOrEqual(t, len(v.([]Snapshot)), 10) },
	},
}

func checkBounded(t testing.TB, name string, b []byte) {
	t.Helper()
	p := parsers[name]
	var v any
	var err error
	if alloc := malformed.Allocated(func() { v, err = p.parse(b) }); alloc > malformed.Bound(len(b), allocPerInputByte, allocFixed) {
		t.Fatalf("%s allocated %d bytes for %d bytes of input (bound %d); input starts %q", name, alloc, len(b),
			malformed.Bound(len(b), allocPerInputByte, allocFixed), safetext.Clip(string(b), 200))
	}
	if err != nil {
		malformed.CheckText(t, "error", err.Error(), maxErrorBytes+len("..."))
		return
	}
	p.check(t, v)
}

func checkAll(t testing.TB, b []byte) {
	for _, name := range []string{"ParseStatus", "ParseStatusJSON", "ParseList", "ParseDatasets", "SummarizeSnapshots", "ListSnapshots"} {
		checkBounded(t, name, b)
	}
}

// FuzzParsers checks every parser's bounds on the same input (see checkBounded).
func FuzzParsers(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkAll(t, b) })
}

// TestFaultMalformed feeds mutations of the seeds to every parser.
func TestFaultMalformed(t *testing.T) {
	cur := -1
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed on mutation %d of seed 1", cur)
		}
	})
	mutations(seeds(t), 2000, 1, func(i int, b []byte) {
		cur = i
		checkAll(t, b)
	})
}

// TestSnapshotsBoundedMemory is the 100,000-snapshot pool: summarising and paging allocate far less than the
// listing, because no line outlives its own parsing and no slice of all snapshots is built.
func TestSnapshotsBoundedMemory(t *testing.T) {
	var buf bytes.Buffer
	const n = 100000
	for i := range n {
		fmt.Fprintf(&buf, "tank/ds%d@auto-%06d\t%d\t%d\n", i%10, i, 4096, 1700000000+i)
	}
	in := buf.Bytes()
	var sum []SnapshotSummary
	var err error
	alloc := malformed.Allocated(func() { sum, err = SummarizeSnapshots(bytes.NewReader(in)) })
	require.NoError(t, err)
	require.Len(t, sum, 10)
	require.Equal(t, uint64(n/10), sum[0].Count)
	require.Equal(t, uint64(n/10*4096), sum[0].UsedBytes)
	require.Equal(t, "auto-000000", sum[0].Oldest)
	require.Equal(t, "auto-099990", sum[0].Newest)
	t.Logf("summary: %d bytes allocated for %d bytes of listing", alloc, len(in))
	// A slice of 100,000 strings alone would take several MB; the summary keeps per-dataset state only. What
	// remains is per-line garbage (the split fields), short-lived and independent of the snapshot count's
	// residency.
	require.Less(t, alloc, uint64(len(in))*4)

	// Paging through one dataset returns every snapshot exactly once, in creation order.
	seen := 0
	cursor := ""
	var last time.Time
	for {
		page, next, err := ListSnapshots(bytes.NewReader(in), "tank/ds3", cursor, MaxPageSize)
		require.NoError(t, err)
		for _, s := range page {
			require.Equal(t, "tank/ds3", s.Dataset)
			require.True(t, s.Created.After(last))
			last = s.Created
			seen++
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Equal(t, n/10, seen)
}

// TestListSnapshotsCursorSurvivesDeletion checks that a snapshot destroyed between pages does not shift the
// next page.
func TestListSnapshotsCursorSurvivesDeletion(t *testing.T) {
	all := "p/a@s1\t0\t100\np/a@s2\t0\t200\np/a@s3\t0\t300\np/a@s4\t0\t400\n"
	page, next, err := ListSnapshots(strings.NewReader(all), "p/a", "", 2)
	require.NoError(t, err)
	require.Equal(t, []string{"p/a@s1", "p/a@s2"}, snapNames(page))
	withoutS2 := "p/a@s1\t0\t100\np/a@s3\t0\t300\np/a@s4\t0\t400\n"
	page, next, err = ListSnapshots(strings.NewReader(withoutS2), "p/a", next, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"p/a@s3", "p/a@s4"}, snapNames(page))
	require.Empty(t, next)
	_, _, err = ListSnapshots(strings.NewReader(all), "", "garbage", 2)
	require.ErrorIs(t, err, ErrBadCursor)
	_, _, err = ListSnapshots(strings.NewReader(all), "", "", 0)
	require.Error(t, err)
}

func snapNames(ss []Snapshot) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

// TestParseStatusVdevLimit checks that a giant vdev table is cut and the cut recorded.
func TestParseStatusVdevLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("  pool: big\n state: ONLINE\nconfig:\n\n\tNAME STATE READ WRITE CKSUM\n\tbig ONLINE 0 0 0\n")
	for i := range MaxVdevsPerPool + 10 {
		fmt.Fprintf(&b, "\t  d%d ONLINE 0 0 0\n", i)
	}
	pools, err := ParseStatus([]byte(b.String()), nil)
	require.NoError(t, err)
	require.Len(t, pools[0].Root.Children, MaxVdevsPerPool-1)
	require.Contains(t, pools[0].Truncated, TruncatedVdevs)
}

var hostile = []string{"18446744073709551615", "18446744073709551616", "-1", "1e308", "NaN", "Inf", "-", "\t", "\x00", "  pool: x\n", "config:\n", "1.5E"}

// mutations calls fn with n deterministic variants of seeds, one at a time.
func mutations(seeds [][]byte, n int, seed uint64, fn func(i int, b []byte)) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for k := range n {
		b := bytes.Clone(seeds[r.IntN(len(seeds))])
		for range 1 + r.IntN(3) {
			if len(b) == 0 {
				break
			}
			i := r.IntN(len(b))
			j := i + r.IntN(min(len(b)-i, 256)+1)
			switch r.IntN(6) {
			case 0: // truncate
				b = b[:i]
			case 1: // delete a span
				b = append(b[:i:i], b[j:]...)
			case 2: // repeat a span
				rep := bytes.Repeat(b[i:j], 1+r.IntN(64))
				b = append(append(b[:i:i], rep...), b[i:]...)
			case 3: // replace a span with a hostile value
				b = append(append(b[:i:i], hostile[r.IntN(len(hostile))]...), b[j:]...)
			case 4: // grow a field
				b = append(append(b[:i:i], bytes.Repeat([]byte("A"), 1<<(4+r.IntN(12)))...), b[i:]...)
			case 5: // deepen indentation
				b = append(append(b[:i:i], bytes.Repeat([]byte("  "), 1+r.IntN(32))...), b[i:]...)
			}
		}
		fn(k, b)
	}
}
