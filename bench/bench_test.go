package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// TestBenchSmoke runs the whole benchmark with a tiny fleet so the harness cannot rot: it builds the product,
// the simulator and the bench command, runs them against real PostgreSQL and a Temporal dev server, and checks
// that the table holds sane values.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system; skipped with -short")
	}
	root := testenv.RepoRoot(t)
	temporal := filepath.Join(root, "bin", "temporal")
	if _, err := os.Stat(temporal); err != nil {
		t.Skipf("the Temporal dev server is not built (make bin/temporal): %v", err)
	}
	bin := buildBinaries(t, root, "./bench/cmd/bench", "bench")
	results := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "bench"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "BENCH_DEVICES=5", "BENCH_INTERVAL=5s", "BENCH_DURATION=15s", "BENCH_READERS=2",
		"BENCH_WS_CLIENTS=3", "BENCH_MCP_CALLS=10", "BENCH_ACTIONS=3",
		"BENCH_BIN="+bin, "BENCH_TEMPORAL="+temporal, "BENCH_RESULTS="+results)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stderr:\n%s", stderr.String())
	require.Contains(t, stdout.String(), "adherence")

	jsons, err := filepath.Glob(filepath.Join(results, "*.json"))
	require.NoError(t, err)
	require.Len(t, jsons, 1)
	mds, err := filepath.Glob(filepath.Join(results, "*.md"))
	require.NoError(t, err)
	require.Len(t, mds, 1)
	raw, err := os.ReadFile(jsons[0])
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal(raw, &rep))

	require.Equal(t, 5, rep.Devices)
	require.Equal(t, 5, rep.DevicesOnline)
	require.InDelta(t, 1.0, rep.ScheduledPollsPerSec, 1e-9)
	// Loose bounds: the smoke test proves the measurements are wired, not that a shared machine is fast.
	require.Greater(t, rep.Adherence, 0.5)
	require.Less(t, rep.Adherence, 1.3)
	require.Positive(t, rep.Polls)
	require.GreaterOrEqual(t, rep.LatenessP99Sec, rep.LatenessP50Sec)
	require.Less(t, rep.LatenessP99Sec, 5.0)
	require.Positive(t, rep.WorkerCPUPerPollMs)
	require.Positive(t, rep.BaselineCPUPerPollMs)
	require.Positive(t, rep.BaselinePolls)
	require.Zero(t, rep.BaselineErrors)
	require.Positive(t, rep.WorkerVsBaselineRatio)
	require.Positive(t, rep.TemporalCPUSec)
	require.Positive(t, rep.PostgresRowsPerSec)
	require.Greater(t, rep.HistoryEventsPerPoll, 2.0, "at least scheduled, started, completed per poll")
	require.Positive(t, rep.WorkerRSSMB)
	require.Positive(t, rep.RESTRequests)
	require.Zero(t, rep.RESTErrors)
	require.Positive(t, rep.RESTP50Ms)

	// All-in CPU and storage (#17): every process and both windows measured.
	require.Positive(t, rep.AllInCPUPerPollMs)
	require.Greater(t, rep.AllInCPUPerPollMs, rep.WorkerCPUPerPollMs)
	require.Positive(t, rep.APICPUPerPollMs)
	require.Positive(t, rep.BaselineWindowPostgresCPUPerPollMs)
	require.Greater(t, rep.BaselineAllInCPUPerPollMs, rep.BaselineCPUPerPollMs)
	require.Positive(t, rep.AllInRatio)
	// PostgreSQL's CPU split by client: the worker's and the API's connections are told apart, and the all-in sum
	// without the API's share is smaller by exactly that share.
	require.Positive(t, rep.PostgresCPUPerPollMsByClient[pgAppWorker], "by client: %v", rep.PostgresCPUPerPollMsByClient)
	require.Positive(t, rep.PostgresAPICPUPerPollMs, "the REST readers' queries run on the API's connections")
	require.InDelta(t, rep.AllInCPUPerPollMs-rep.PostgresAPICPUPerPollMs, rep.AllInWithoutAPIPostgresCPUPerPollMs, 1e-9)
	require.Positive(t, rep.AllInWithoutAPIPostgresRatio)
	require.Less(t, rep.AllInWithoutAPIPostgresRatio, rep.AllInRatio)
	sum := 0.0
	for _, ms := range rep.PostgresCPUPerPollMsByClient {
		sum += ms
	}
	// The backends are read just after the process tree at each end of the window: allow a few percent of drift.
	require.InDelta(t, rep.PostgresCPUPerPollMs, sum, 0.05*rep.PostgresCPUPerPollMs, "the clients and the unattributed rest add up to the total")
	require.Positive(t, rep.WALBytesPerPoll, "every poll commits samples")
	require.Positive(t, rep.BaselineWALBytesPerPoll)
	require.Positive(t, rep.WALMBPerDeviceDay)
	require.Positive(t, rep.WALBytesRatio)

	// The latency phase: every measurement ran and produced numbers.
	require.Empty(t, rep.NotMeasured)
	require.Equal(t, 3, rep.WSClients)
	require.Positive(t, rep.WSUpdates, "polls during the WebSocket window reach all clients")
	require.Positive(t, rep.WSP50Ms)
	require.GreaterOrEqual(t, rep.WSP99Ms, rep.WSP50Ms)
	require.Less(t, rep.WSP99Ms, 5000.0)
	require.EqualValues(t, 10, rep.MCPCalls)
	require.Zero(t, rep.MCPErrors)
	require.Positive(t, rep.MCPP50Ms)
	require.GreaterOrEqual(t, rep.MCPP99Ms, rep.MCPP50Ms)
	require.EqualValues(t, 10, rep.RESTDeviceCalls)
	require.Positive(t, rep.RESTDeviceP50Ms)
	require.Positive(t, rep.MCPvsRESTP50)
	require.Positive(t, rep.StatusQueryP50Ms)
	require.EqualValues(t, 3, rep.ActionCount)
	require.Zero(t, rep.ActionErrors)
	require.Positive(t, rep.ActionCommandP50Ms)
	require.Greater(t, rep.ActionP50Ms, rep.ActionCommandP50Ms)
	require.Positive(t, rep.ActionOverheadP50Ms)
	require.GreaterOrEqual(t, rep.ActionP99Ms, rep.ActionP50Ms)
	require.Positive(t, rep.ActionSettleSec)
	require.GreaterOrEqual(t, rep.ActionVerifyP50Ms, rep.ActionSettleSec*1000, "verify waits out the settle period")

	md, err := os.ReadFile(mds[0])
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(md), "# Bench "))
	require.Contains(t, string(md), "| adherence |")
	require.Contains(t, string(md), "| WebSocket fan-out p50 / p99 |")
	require.Contains(t, string(md), "| MCP read tool p50 / p99 |")
	require.Contains(t, string(md), "| all-in / baseline all-in CPU |")
	require.Contains(t, string(md), "| all-in without the API's PostgreSQL |")
	require.Contains(t, string(md), "| API's PostgreSQL CPU per poll |")
	require.Contains(t, string(md), "| WAL bytes per poll |")
	require.Contains(t, string(md), "| container restart p50 / p99 |")
}

// buildBinaries builds the product and the device simulator, and the command cmd as name, into a temporary
// directory it returns.
func buildBinaries(t *testing.T, root, cmd, name string) string {
	t.Helper()
	bin := t.TempDir()
	for pkg, out := range map[string]string{"./cmd/infrastructor": "infrastructor", "./cmd/devicesim": "devicesim", cmd: name} {
		c := exec.Command("go", "build", "-o", filepath.Join(bin, out), pkg)
		c.Dir = root
		raw, err := c.CombinedOutput()
		require.NoError(t, err, "build %s: %s", pkg, raw)
	}
	return bin
}
