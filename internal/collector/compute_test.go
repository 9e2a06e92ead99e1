package collector

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// snap builds a Snapshot at the given uptime with one CPU core, one
// interface and one disk whose counters are the given values.
type snapSpec struct {
	wall     time.Time
	uptime   float64
	cpu      CPUTimes
	rxBytes  uint64
	txBytes  uint64
	sectorsR uint64
	reads    uint64
	ioTicks  uint64
}

func (s snapSpec) build() *Snapshot {
	return &Snapshot{
		Time:       s.wall,
		Uptime:     &Uptime{Seconds: s.uptime},
		CPU:        &CPUStat{Total: s.cpu, Cores: []CoreTimes{{Core: 0, CPUTimes: s.cpu}}},
		Interfaces: []NetDev{{Name: "eth0", RxBytes: s.rxBytes, TxBytes: s.txBytes, RxPackets: s.rxBytes / 100, TxPackets: s.txBytes / 100}},
		Disks:      []DiskStat{{Name: "sda", SectorsRead: s.sectorsR, ReadsCompleted: s.reads, IOTicksMs: s.ioTicks}},
	}
}

func TestCompute(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	base := snapSpec{
		wall: t0, uptime: 1000,
		cpu:     CPUTimes{User: 1000, System: 500, Idle: 8000, IOWait: 500},
		rxBytes: 1_000_000, txBytes: 500_000, sectorsR: 10_000, reads: 100, ioTicks: 5_000,
	}
	next := base
	next.wall = t0.Add(10 * time.Second)
	next.uptime = 1010
	// 1000 ticks over the interval: 300 busy (200 user + 100 system),
	// 600 idle, 100 iowait.
	next.cpu = CPUTimes{User: 1200, System: 600, Idle: 8600, IOWait: 600}
	next.rxBytes += 10_000
	next.txBytes += 5_000
	next.sectorsR += 2_000
	next.reads += 50
	next.ioTicks += 2_500

	tests := []struct {
		name  string
		prev  *Counters
		cur   *Snapshot
		check func(t *testing.T, m Metrics)
	}{
		{
			name: "normal rates",
			prev: base.build().Counters(),
			cur:  next.build(),
			check: func(t *testing.T, m Metrics) {
				require.False(t, m.Reset)
				require.InDelta(t, 10, m.IntervalSeconds, 1e-9)
				require.NotNil(t, m.CPU)
				require.InDelta(t, 30, m.CPU.UsagePercent, 1e-9)
				require.InDelta(t, 10, m.CPU.IOWaitPercent, 1e-9)
				require.InDelta(t, 20, m.CPU.UserPercent, 1e-9)
				require.Equal(t, []CoreMetrics{{Core: 0, UsagePercent: 30}}, m.CPU.Cores)
				require.Equal(t, []InterfaceMetrics{{Name: "eth0", RxBytesPerSec: 1000, TxBytesPerSec: 500, RxPacketsPerSec: 10, TxPacketsPerSec: 5}}, m.Interfaces)
				require.Equal(t, []DiskMetrics{{Name: "sda", ReadBytesPerSec: 2000 * 512 / 10, ReadIOPS: 5, UtilPercent: 25}}, m.Disks)
			},
		},
		{
			name: "first poll has no rates",
			prev: nil,
			cur:  next.build(),
			check: func(t *testing.T, m Metrics) {
				require.Nil(t, m.CPU)
				require.Nil(t, m.Interfaces)
				require.Nil(t, m.Disks)
				require.Zero(t, m.IntervalSeconds)
				require.NotNil(t, m.UptimeSeconds)
				require.InDelta(t, 1010, *m.UptimeSeconds, 1e-9)
			},
		},
		{
			name: "reboot: uptime went down",
			prev: next.build().Counters(),
			cur: func() *Snapshot {
				s := base
				s.wall = t0.Add(time.Hour)
				s.uptime = 30
				s.cpu = CPUTimes{User: 10, Idle: 100}
				s.rxBytes, s.txBytes, s.sectorsR, s.reads, s.ioTicks = 10, 10, 10, 1, 1
				return s.build()
			}(),
			check: func(t *testing.T, m Metrics) {
				require.True(t, m.Reset)
				require.Nil(t, m.CPU)
				require.Nil(t, m.Interfaces)
				require.Nil(t, m.Disks)
			},
		},
		{
			name: "reboot while the worker was away longer than the old uptime",
			prev: base.build().Counters(), // uptime 1000 s at t0
			cur: func() *Snapshot {
				// Two hours later the device has been up 1500 s: it
				// rebooted, although uptime grew.
				s := next
				s.wall = t0.Add(2 * time.Hour)
				s.uptime = 1500
				return s.build()
			}(),
			check: func(t *testing.T, m Metrics) {
				require.True(t, m.Reset)
				require.Nil(t, m.CPU)
			},
		},
		{
			name: "32-bit wrap of a net counter skips that interface only",
			prev: func() *Counters {
				s := base
				s.rxBytes = 4_294_967_000
				return s.build().Counters()
			}(),
			cur: func() *Snapshot {
				s := next
				s.rxBytes = 1_000 // wrapped past 2^32
				return s.build()
			}(),
			check: func(t *testing.T, m Metrics) {
				require.False(t, m.Reset)
				require.Empty(t, m.Interfaces)
				require.Len(t, m.Disks, 1)
				require.NotNil(t, m.CPU)
			},
		},
		{
			name: "disk counter reset skips that disk",
			prev: func() *Counters {
				s := base
				s.ioTicks = 1 << 40
				return s.build().Counters()
			}(),
			cur: next.build(),
			check: func(t *testing.T, m Metrics) {
				require.Empty(t, m.Disks)
				require.Len(t, m.Interfaces, 1)
			},
		},
		{
			name: "cpu total going down is a reset of cpu rates",
			prev: func() *Counters {
				s := base
				s.cpu = CPUTimes{User: 1 << 40, Idle: 1 << 40}
				return s.build().Counters()
			}(),
			cur: next.build(),
			check: func(t *testing.T, m Metrics) {
				require.Nil(t, m.CPU)
				require.Len(t, m.Interfaces, 1)
			},
		},
		{
			name: "iowait going down alone does not drop the sample",
			prev: func() *Counters {
				s := base
				s.cpu.IOWait = 700 // next has 600
				return s.build().Counters()
			}(),
			cur: next.build(),
			check: func(t *testing.T, m Metrics) {
				require.NotNil(t, m.CPU)
				require.Zero(t, m.CPU.IOWaitPercent)
				require.GreaterOrEqual(t, m.CPU.UsagePercent, 0.0)
				require.LessOrEqual(t, m.CPU.UsagePercent, 100.0)
			},
		},
		{
			name: "zero interval gives no rates",
			prev: next.build().Counters(),
			cur:  next.build(),
			check: func(t *testing.T, m Metrics) {
				require.False(t, m.Reset)
				require.Nil(t, m.CPU)
				require.Nil(t, m.Interfaces)
				require.Nil(t, m.Disks)
			},
		},
		{
			name: "wall clock only, going backwards, gives no rates",
			prev: &Counters{Time: t0.Add(time.Minute), CPU: base.build().CPU},
			cur: func() *Snapshot {
				s := next.build()
				s.Uptime = nil
				return s
			}(),
			check: func(t *testing.T, m Metrics) {
				require.Nil(t, m.CPU)
				require.Nil(t, m.UptimeSeconds)
			},
		},
		{
			name: "wall clock only, forward, gives rates",
			prev: &Counters{Time: t0, CPU: base.build().CPU},
			cur: func() *Snapshot {
				s := next.build()
				s.Uptime = nil
				return s
			}(),
			check: func(t *testing.T, m Metrics) {
				require.NotNil(t, m.CPU)
				require.InDelta(t, 30, m.CPU.UsagePercent, 1e-9)
				require.Nil(t, m.Interfaces, "the previous counters had no interfaces")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, Compute(tt.prev, tt.cur))
		})
	}
}

func TestComputeMemory(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		name      string
		mem       Memory
		wantUsed  uint64
		wantAvail uint64
	}{
		{
			name:      "plain host",
			mem:       Memory{TotalBytes: 16 * gib, AvailableBytes: 10 * gib, SwapTotalBytes: 2 * gib, SwapFreeBytes: gib},
			wantUsed:  6 * gib,
			wantAvail: 10 * gib,
		},
		{
			name:      "ARC above its floor counts as available",
			mem:       Memory{TotalBytes: 16 * gib, AvailableBytes: 2 * gib, ARCSizeBytes: 9 * gib, ARCMinBytes: gib},
			wantUsed:  6 * gib,
			wantAvail: 10 * gib,
		},
		{
			name:      "ARC never makes available exceed total",
			mem:       Memory{TotalBytes: 4 * gib, AvailableBytes: 3 * gib, ARCSizeBytes: 3 * gib},
			wantUsed:  0,
			wantAvail: 4 * gib,
		},
		{
			name:      "ARC at its floor frees nothing",
			mem:       Memory{TotalBytes: 4 * gib, AvailableBytes: gib, ARCSizeBytes: gib / 2, ARCMinBytes: gib},
			wantUsed:  3 * gib,
			wantAvail: gib,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := tt.mem
			m := Compute(nil, &Snapshot{Memory: &mem})
			require.NotNil(t, m.Memory)
			require.Equal(t, tt.wantUsed, m.Memory.UsedBytes)
			require.Equal(t, tt.wantAvail, m.Memory.AvailableBytes)
			require.Equal(t, tt.mem.TotalBytes, m.Memory.UsedBytes+m.Memory.AvailableBytes)
			require.Equal(t, tt.mem.SwapTotalBytes-tt.mem.SwapFreeBytes, m.Memory.SwapUsedBytes)
		})
	}
}

func TestComputeFilesystems(t *testing.T) {
	m := Compute(nil, &Snapshot{Filesystems: []Filesystem{
		{Mount: "/", SizeBytes: 100, UsedBytes: 45, AvailBytes: 45, InodesTotal: 10, InodesUsed: 5},
		{Mount: "/boot/efi", SizeBytes: 100, UsedBytes: 10, AvailBytes: 90},
	}})
	require.Len(t, m.Filesystems, 2)
	// df semantics: reserved blocks (100 - 45 - 45) count neither way.
	require.InDelta(t, 50, m.Filesystems[0].UsedPercent, 1e-9)
	require.NotNil(t, m.Filesystems[0].InodesUsedPercent)
	require.InDelta(t, 50, *m.Filesystems[0].InodesUsedPercent, 1e-9)
	require.Nil(t, m.Filesystems[1].InodesUsedPercent, "vfat has no inode count")
}

// TestCountersRoundTrip checks that Counters survive the JSON round trip
// through the database and still produce the same rates.
func TestCountersRoundTrip(t *testing.T) {
	prev := snapSpec{wall: time.Unix(1000, 0).UTC(), uptime: 100, cpu: CPUTimes{User: 1, Idle: 1}, rxBytes: 100}.build()
	cur := snapSpec{wall: time.Unix(1060, 0).UTC(), uptime: 160, cpu: CPUTimes{User: 31, Idle: 31}, rxBytes: 6100}.build()
	b, err := json.Marshal(prev.Counters())
	require.NoError(t, err)
	var back Counters
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, Compute(prev.Counters(), cur), Compute(&back, cur))
	require.InDelta(t, 100, Compute(&back, cur).Interfaces[0].RxBytesPerSec, 1e-9)
}
