package activities

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/malformed"
)

func logSample(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "2026-11-25T20:56:%02d.%09dZ line %d\n", i%60, i, i)
	}
	return []byte(b.String())
}

func TestMergeLogs(t *testing.T) {
	f := MergeLogs([]byte("2026-11-25T20:56:02Z b\n2026-11-25T20:56:04Z d\n"), []byte("2026-11-25T20:56:01Z a\n2026-11-25T20:56:03Z c\npartial\n"), 1<<20)
	var texts []string
	for _, l := range f.Lines {
		texts = append(texts, l.Stream+":"+l.Text)
	}
	require.Equal(t, []string{"stderr:partial", "stderr:a", "stdout:b", "stderr:c", "stdout:d"}, texts)
	require.False(t, f.Truncated)

	f = MergeLogs(logSample(10), nil, 3*len("line 0"))
	require.True(t, f.Truncated)
	require.Len(t, f.Lines, 3)
	require.Equal(t, "line 9", f.Lines[2].Text)
}

// TestMergeLogsManyLinesIsBounded: docker prints at most docker.MaxLogTail lines per stream, so a device that
// prints millions of short lines must not make one LogLine per line (#15); the newest lines are kept.
func TestMergeLogsManyLinesIsBounded(t *testing.T) {
	out := []byte(strings.Repeat("a\n", 2<<20))
	var f LogFetch
	alloc := malformed.Allocated(func() { f = MergeLogs(out, out, MaxLogBytes) })
	require.LessOrEqual(t, alloc, malformed.Bound(2*len(out), 128, 1<<20), "allocated %d bytes for %d bytes of input", alloc, 2*len(out))
	require.True(t, f.Truncated)
	require.LessOrEqual(t, len(f.Lines), 2*docker.MaxLogTail)
}

// TestFaultMergeLogsMalformed is the fault-matrix row "10,000 malformed outputs per parser" for docker logs.
func TestFaultMergeLogsMalformed(t *testing.T) {
	seeds := [][]byte{logSample(50), []byte("2026-11-25T20:56:01Z a\nno timestamp\n\n")}
	cur := -1
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed on malformed input %d (malformed.Inputs replays it)", cur)
		}
	})
	for i, b := range malformed.Inputs(seeds, 10000, 301) {
		cur = i
		var f LogFetch
		alloc := malformed.Allocated(func() { f = MergeLogs(b, b[:len(b)/2], MaxLogBytes) })
		require.LessOrEqual(t, alloc, malformed.Bound(len(b)+len(b)/2, 128, 1<<20))
		require.LessOrEqual(t, len(f.Lines), 2*docker.MaxLogTail)
		size := 0
		for _, l := range f.Lines {
			size += len(l.Text)
		}
		require.LessOrEqual(t, size, MaxLogBytes)
	}
}
