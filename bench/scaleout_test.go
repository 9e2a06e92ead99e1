package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// TestScaleOutSmoke runs `make bench-scaleout`'s command in a tiny configuration (10 devices every 5 s, a 40 s
// window, worker-b killed a third of the way in) so the harness cannot rot: both workers poll, the killed worker's
// devices go on at the other, no poll is committed twice and both APIs answer throughout. It starts a Temporal
// server on PostgreSQL and two of each product process, too heavy for every `make test` on two shared cores:
// it runs only with INFRA_BENCH_SCALEOUT=1.
func TestScaleOutSmoke(t *testing.T) {
	if os.Getenv("INFRA_BENCH_SCALEOUT") != "1" {
		t.Skip("the scale-out harness starts a Temporal server on PostgreSQL, two workers and two APIs; " +
			"set INFRA_BENCH_SCALEOUT=1 to run it (make temporal-postgres builds the server once)")
	}
	root := testenv.RepoRoot(t)
	for _, b := range []string{"temporal-server", "temporal-sql-tool"} {
		if _, err := os.Stat(filepath.Join(root, "bin", b)); err != nil {
			// Asked for explicitly, so build what is missing (minutes, once) rather than skip.
			cmd := exec.Command(filepath.Join(root, "scripts", "temporal-postgres.sh"), "build")
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "temporal-postgres.sh build:\n%s", out)
			break
		}
	}
	bin := buildBinaries(t, root, "./bench/cmd/scaleout", "scaleout")
	results := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "scaleout"), "-devices", "10", "-interval", "5s",
		"-duration", "40s", "-containers", "1", "-history-shards", "4", "-bin", bin, "-root", root, "-results", results)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stderr:\n%s", stderr.String())
	t.Logf("report:\n%s", stdout.String())

	jsons, err := filepath.Glob(filepath.Join(results, "*-scaleout-10dev-5s.json"))
	require.NoError(t, err)
	require.Len(t, jsons, 1)
	raw, err := os.ReadFile(jsons[0])
	require.NoError(t, err)
	var rep ScaleOutReport
	require.NoError(t, json.Unmarshal(raw, &rep))

	require.Equal(t, 10, rep.Devices)
	require.Equal(t, 4, rep.HistoryShards)
	require.Positive(t, rep.KilledAtSec)
	require.Positive(t, rep.Polls)
	// Loose bounds: this proves the measurements are wired, not that a shared machine is fast. The scale-out
	// guarantees themselves are exact.
	require.Greater(t, rep.Adherence, 0.6)
	require.Less(t, rep.Adherence, 1.3)
	require.Zero(t, rep.DuplicatePolls, "a poll committed twice")
	require.Zero(t, rep.DevicesSilent, "devices not polled again after the kill")
	require.Positive(t, rep.DevicesOnKilled, "the killed worker ran some poll loops")
	require.Positive(t, rep.TakeoverGapP50)
	require.Less(t, rep.TakeoverGapMax, 60.0, "the killed worker's devices went on at the other")

	require.Positive(t, rep.WALBytesPerPoll)
	require.Positive(t, rep.TemporalTxPerPoll)
	require.Positive(t, rep.ProductTxPerPoll)

	require.Len(t, rep.Workers, 2)
	for _, w := range rep.Workers {
		require.Positive(t, w.PollsOK, "%s polled (its /metrics)", w.Name)
		require.Positive(t, w.HistoryPolls, "%s polled (Temporal histories)", w.Name)
		require.Positive(t, w.PollsPerSec, w.Name)
	}
	require.False(t, rep.Workers[0].Killed)
	require.Positive(t, rep.Workers[0].PollsPerSecAfterKill, "the surviving worker's rate after the kill")
	require.True(t, rep.Workers[1].Killed)
	require.Less(t, rep.Workers[1].AliveSec, rep.WindowSec)
	require.Len(t, rep.APIs, 2)
	for _, a := range rep.APIs {
		require.Positive(t, a.Requests, a.Name)
		require.Zero(t, a.Errors, a.Name)
		require.Less(t, a.LongestGapSec, 10.0, "%s answered throughout", a.Name)
	}
	require.Contains(t, stdout.String(), "| polls committed twice | 0 |")
	require.Contains(t, stdout.String(), "| worker-b (killed) |")
}
