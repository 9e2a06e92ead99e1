package docker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/golden"
)

func TestParseStatsRecorded(t *testing.T) {
	s, err := ParseStats(golden.Read(t, "testdata/recorded/stats.out"))
	require.NoError(t, err)
	require.NotEmpty(t, s)
	golden.JSON(t, "stats_recorded", s)
	for _, x := range s {
		if x.Name == "paused" {
			require.Equal(t, uint64(64<<20), x.MemLimit, "the paused container runs with --memory 64m")
		}
	}
}

func TestParseStatsUnits(t *testing.T) {
	s, err := ParseStats([]byte(`{"ID":"a","Name":"n","CPUPerc":"150.25%","MemPerc":"--","MemUsage":"1.5MiB / 2GiB",` +
		`"NetIO":"1.46kB / 2MB","BlockIO":"0B / 3.1GB","PIDs":"--"}` + "\n"))
	require.NoError(t, err)
	require.Equal(t, []StatsSample{{ID: "a", Name: "n", CPUPercent: 150.25, MemUsage: 1572864, MemLimit: 2 << 30,
		NetRx: 1460, NetTx: 2000000, BlockWrite: 3100000000}}, s)
	for _, bad := range []string{`{"CPUPerc":"x%"}`, `{"MemUsage":"1MiB"}`, `{"NetIO":"1 parsec / 2B"}`, `{"PIDs":"-1"}`, `{`} {
		_, err := ParseStats([]byte(bad))
		require.Error(t, err, bad)
	}
}

func TestParseCgroupStatsRecordedV1(t *testing.T) {
	snap, err := ParseCgroupStats(golden.Read(t, "testdata/recorded/cgroup.out"))
	require.NoError(t, err)
	golden.JSON(t, "cgroup_recorded", snap)
	require.Equal(t, 1, snap.CgroupVersion)
	require.Positive(t, snap.Uptime)
	byID := map[string]CgroupContainerStats{}
	for _, c := range snap.Containers {
		byID[c.ID[:12]] = c
		require.Positive(t, c.CPUNanos, c.ID)
		require.Positive(t, c.MemoryUsage, c.ID)
		require.Positive(t, c.PIDs, c.ID)
	}
	// Cross-check with docker stats recorded on the same engine.
	stats, err := ParseStats(golden.Read(t, "testdata/recorded/stats.out"))
	require.NoError(t, err)
	require.Len(t, snap.Containers, len(stats))
	for _, s := range stats {
		c, ok := byID[s.ID[:12]]
		require.True(t, ok, s.Name)
		require.Equal(t, s.PIDs, c.PIDs, s.Name)
		if s.Name == "paused" {
			require.Equal(t, uint64(64<<20), c.MemoryLimit)
		} else {
			require.Zero(t, c.MemoryLimit, "unlimited is reported as 0")
		}
		if s.Name == "web-1" {
			require.Contains(t, c.Networks, "eth0")
			require.Positive(t, c.Networks["eth0"].RxBytes)
		}
	}
}

func TestParseCgroupStatsV2(t *testing.T) {
	out := `@uptime 100.50 10.00
@cgroup 2
@container aaa 42 bridge
@file cpu.stat
usage_usec 2500000
user_usec 2000000
@file memory.current
1048576
@file memory.max
max
@file memory.stat
anon 4096
inactive_file 8192
@file pids.current
3
@file io.stat
8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0
8:16 rbytes=1 wbytes=2
@file net/dev
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       5       1    0    0    0     0          0         0        5       1    0    0    0     0       0          0
  eth0:    1000      10    1    2    0     0          0         0     2000      20    3    4    0     0       0          0
@container bbb 43 host
@file memory.max
536870912
@file net/dev
  eth0:    1000      10    1    2    0     0          0         0     2000      20    3    4    0     0       0          0
`
	snap, err := ParseCgroupStats([]byte(out))
	require.NoError(t, err)
	require.Equal(t, &CgroupSnapshot{Uptime: 100500 * time.Millisecond, CgroupVersion: 2, Containers: []CgroupContainerStats{
		{ID: "aaa", PID: 42, NetworkMode: "bridge", CPUNanos: 2500000000, MemoryUsage: 1048576, MemoryInactiveFile: 8192,
			PIDs: 3, BlockReadBytes: 101, BlockWriteBytes: 202,
			Networks: map[string]NetCounters{"eth0": {RxBytes: 1000, RxPackets: 10, RxErrors: 1, RxDropped: 2,
				TxBytes: 2000, TxPackets: 20, TxErrors: 3, TxDropped: 4}}},
		{ID: "bbb", PID: 43, NetworkMode: "host", MemoryLimit: 512 << 20},
	}}, snap)
	require.Equal(t, uint64(1048576-8192), snap.Containers[0].MemoryWorkingSet())

	for _, bad := range []string{"@bogus\n", "@file x\n", "@cgroup 3\n", "@uptime x\n", "@container a\n",
		"@container a 1\n@file cpuacct.usage\nlots\n", "@container a 1\n@file net/dev\neth0: 1 2\n"} {
		_, err := ParseCgroupStats([]byte(bad))
		require.Error(t, err, bad)
	}
}

func TestCPUPercent(t *testing.T) {
	require.InDelta(t, 50.0, CPUPercent(1e9, 2e9, 2*time.Second), 1e-9)
	require.InDelta(t, 200.0, CPUPercent(0, 4e9, 2*time.Second), 1e-9)
	require.Zero(t, CPUPercent(5, 1, time.Second), "counter reset after a restart")
	require.Zero(t, CPUPercent(1, 5, 0))
}
