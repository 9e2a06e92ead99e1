package zfs

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/malformed"
)

func init() {
	parsers["ParseSnapshotSummary"] = struct {
		parse func(b []byte) (any, error)
		check func(t testing.TB, v any)
	}{
		func(b []byte) (any, error) { return ParseSnapshotSummary(b) },
		func(t testing.TB, v any) {
			ss := v.([]SnapshotSummary)
			require.LessOrEqual(t, len(ss), MaxDatasets)
			for _, s := range ss {
				malformed.CheckText(t, "dataset", s.Dataset, MaxFieldBytes)
				malformed.CheckText(t, "oldest", s.Oldest, MaxFieldBytes)
				malformed.CheckText(t, "newest", s.Newest, MaxFieldBytes)
			}
		},
	}
	parsers["ParseCollect"] = struct {
		parse func(b []byte) (any, error)
		check func(t testing.TB, v any)
	}{
		func(b []byte) (any, error) { return ParseCollect(b) },
		func(t testing.TB, v any) {
			c := v.(*Collection)
			checkPools(t, c.Pools)
			require.LessOrEqual(t, len(c.Usage), MaxPools)
			require.LessOrEqual(t, len(c.Datasets), MaxDatasets)
			require.LessOrEqual(t, len(c.Snapshots), MaxDatasets)
		},
	}
}

// collectSeeds wraps the shared seeds in the collection script's sections.
func collectSeeds(tb testing.TB) [][]byte {
	out := [][]byte{[]byte("@@absent\n"), []byte("@@tz\n+0130\n@@snapshots\ntank/a\t3\t100\told\t1\tnew\t2\n")}
	for _, s := range seeds(tb) {
		for _, sec := range []string{"status-text", "status-json", "list", "datasets", "snapshots"} {
			out = append(out, append([]byte("@@tz\n-0500\n@@"+sec+"\n"), s...))
		}
	}
	return out
}

// FuzzCollect checks the bounds of the collection and snapshot-summary parsers (see checkBounded).
func FuzzCollect(f *testing.F) {
	for _, s := range collectSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkBounded(t, "ParseCollect", b)
		checkBounded(t, "ParseSnapshotSummary", b)
	})
}

// TestCollectMalformed feeds mutations of the collection seeds to both parsers.
func TestCollectMalformed(t *testing.T) {
	mutations(collectSeeds(t), 500, 2, func(_ int, b []byte) {
		checkBounded(t, "ParseCollect", b)
		checkBounded(t, "ParseSnapshotSummary", b)
	})
}
