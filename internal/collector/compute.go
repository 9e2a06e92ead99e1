package collector

import "time"

// Metrics are the values derived from one poll, ready to store. Rates
// (CPU percentages, network, disk) need the previous poll's Counters and
// are absent, not zero, when there is none or it cannot be trusted.
type Metrics struct {
	Time time.Time `json:"time"`
	// IntervalSeconds is the time the rates are averaged over; zero when
	// there are no rates.
	IntervalSeconds float64 `json:"interval_seconds,omitempty"`
	// Reset is set when the device rebooted since the previous poll
	// (uptime went down): no rates are computed for this poll.
	Reset         bool                `json:"reset,omitempty"`
	CPU           *CPUMetrics         `json:"cpu,omitempty"`
	Memory        *MemoryMetrics      `json:"memory,omitempty"`
	Load          *LoadAvg            `json:"load,omitempty"`
	UptimeSeconds *float64            `json:"uptime_seconds,omitempty"`
	Processes     *int                `json:"processes,omitempty"`
	Filesystems   []FilesystemMetrics `json:"filesystems,omitempty"`
	Interfaces    []InterfaceMetrics  `json:"interfaces,omitempty"`
	Disks         []DiskMetrics       `json:"disks,omitempty"`
	Temperatures  []Temperature       `json:"temperatures,omitempty"`
}

// CPUMetrics are CPU time shares over the interval, in percent of all CPU
// time (100 = every core busy). Usage is everything but idle and iowait.
type CPUMetrics struct {
	UsagePercent  float64       `json:"usage_percent"`
	UserPercent   float64       `json:"user_percent"`
	SystemPercent float64       `json:"system_percent"`
	IOWaitPercent float64       `json:"iowait_percent"`
	StealPercent  float64       `json:"steal_percent"`
	Cores         []CoreMetrics `json:"cores,omitempty"`
}

// CoreMetrics is one logical CPU's usage.
type CoreMetrics struct {
	Core         int     `json:"core"`
	UsagePercent float64 `json:"usage_percent"`
}

// MemoryMetrics is memory use. AvailableBytes counts the shrinkable part
// of the ZFS ARC as available; UsedBytes = TotalBytes - AvailableBytes.
type MemoryMetrics struct {
	TotalBytes      uint64  `json:"total_bytes"`
	UsedBytes       uint64  `json:"used_bytes"`
	AvailableBytes  uint64  `json:"available_bytes"`
	UsedPercent     float64 `json:"used_percent"`
	ARCBytes        uint64  `json:"arc_bytes,omitempty"`
	SwapTotalBytes  uint64  `json:"swap_total_bytes"`
	SwapUsedBytes   uint64  `json:"swap_used_bytes"`
	SwapUsedPercent float64 `json:"swap_used_percent"`
}

// FilesystemMetrics is one filesystem's usage. UsedPercent is
// used / (used + avail), as df computes it, so blocks reserved for root
// count neither way and a full disk reads 100 %.
type FilesystemMetrics struct {
	Mount             string   `json:"mount"`
	Source            string   `json:"source"`
	FSType            string   `json:"fstype,omitempty"`
	SizeBytes         uint64   `json:"size_bytes"`
	UsedBytes         uint64   `json:"used_bytes"`
	AvailBytes        uint64   `json:"avail_bytes"`
	UsedPercent       float64  `json:"used_percent"`
	InodesTotal       uint64   `json:"inodes_total"`
	InodesUsed        uint64   `json:"inodes_used"`
	InodesFree        uint64   `json:"inodes_free"`
	InodesUsedPercent *float64 `json:"inodes_used_percent,omitempty"`
}

// InterfaceMetrics are one interface's rates per second.
type InterfaceMetrics struct {
	Name            string  `json:"name"`
	RxBytesPerSec   float64 `json:"rx_bytes_per_sec"`
	TxBytesPerSec   float64 `json:"tx_bytes_per_sec"`
	RxPacketsPerSec float64 `json:"rx_packets_per_sec"`
	TxPacketsPerSec float64 `json:"tx_packets_per_sec"`
	RxErrorsPerSec  float64 `json:"rx_errors_per_sec"`
	TxErrorsPerSec  float64 `json:"tx_errors_per_sec"`
	RxDropsPerSec   float64 `json:"rx_drops_per_sec"`
	TxDropsPerSec   float64 `json:"tx_drops_per_sec"`
}

// DiskMetrics are one block device's rates. UtilPercent is the share of
// the interval the device had I/O in flight (100 = saturated for a single
// queue device; NVMe and RAID can serve more while reading 100).
type DiskMetrics struct {
	Name             string  `json:"name"`
	ReadBytesPerSec  float64 `json:"read_bytes_per_sec"`
	WriteBytesPerSec float64 `json:"write_bytes_per_sec"`
	ReadIOPS         float64 `json:"read_iops"`
	WriteIOPS        float64 `json:"write_iops"`
	UtilPercent      float64 `json:"util_percent"`
}

const sectorBytes = 512

// rebootSlack is how far the boot time implied by two polls may differ
// before they are taken to belong to different boots.
const rebootSlack = time.Minute

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Compute derives Metrics from the current snapshot and the previous
// poll's counters (nil on the first poll). Rates are computed only over a
// positive interval of one boot; a counter that went down (reboot, driver
// reset, a 32-bit /proc/net/dev counter wrapping on an old kernel) drops
// that device's rates for this poll instead of reporting a spike or a
// negative rate.
func Compute(prev *Counters, cur *Snapshot) Metrics {
	var m Metrics
	if cur == nil {
		return m
	}
	m.Time = cur.Time
	m.Load = cur.Load
	m.Processes = cur.Processes
	m.Temperatures = cur.Temperatures
	if cur.Uptime != nil {
		up := cur.Uptime.Seconds
		m.UptimeSeconds = &up
	}
	m.Memory = memoryMetrics(cur.Memory)
	m.Filesystems = filesystemMetrics(cur.Filesystems)

	if prev == nil {
		return m
	}
	interval, reset := rateInterval(prev, cur)
	m.Reset = reset
	if reset || interval <= 0 {
		return m
	}
	m.IntervalSeconds = interval
	m.CPU = cpuMetrics(prev.CPU, cur.CPU)
	m.Interfaces = interfaceMetrics(prev.Interfaces, cur.Interfaces, interval)
	m.Disks = diskMetrics(prev.Disks, cur.Disks, interval)
	return m
}

// rateInterval returns the seconds between the two polls. Uptime is
// preferred to the wall clock: it is monotonic, so an NTP step on the
// device cannot stretch or shrink the interval, and it going down means a
// reboot.
//
// A reboot is also recognised when the device was down longer than it had
// been up: uptime then still grows, but the boot time implied by wall
// clock minus uptime moves. An NTP step of more than rebootSlack on the
// device looks the same and costs one poll's rates, which is harmless.
func rateInterval(prev *Counters, cur *Snapshot) (float64, bool) {
	if cur.Uptime != nil && prev.UptimeSeconds > 0 {
		if cur.Uptime.Seconds < prev.UptimeSeconds {
			return 0, true
		}
		if !cur.Time.IsZero() && !prev.Time.IsZero() {
			bootPrev := prev.Time.Add(-seconds(prev.UptimeSeconds))
			bootCur := cur.Time.Add(-seconds(cur.Uptime.Seconds))
			if d := bootCur.Sub(bootPrev); d > rebootSlack || d < -rebootSlack {
				return 0, true
			}
		}
		return cur.Uptime.Seconds - prev.UptimeSeconds, false
	}
	if cur.Time.IsZero() || prev.Time.IsZero() {
		return 0, false
	}
	return cur.Time.Sub(prev.Time).Seconds(), false
}

// delta returns cur - prev and whether it is a valid forward step.
func delta(prev, cur uint64) (uint64, bool) {
	if cur < prev {
		return 0, false
	}
	return cur - prev, true
}

func percent(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	p := float64(part) * 100 / float64(whole)
	return min(max(p, 0), 100)
}

// cpuDelta returns per-field deltas. A total that went down is a reset
// (ok false). A single field going down while the total grows is the
// documented iowait behaviour on tickless kernels (proc(5): "the iowait
// field ... can decrease"), so that field's delta is taken as zero rather
// than losing the whole sample.
func cpuDelta(prev, cur CPUTimes) (CPUTimes, uint64, bool) {
	if cur.Total() < prev.Total() {
		return CPUTimes{}, 0, false
	}
	d := func(p, c uint64) uint64 {
		if c < p {
			return 0
		}
		return c - p
	}
	out := CPUTimes{
		User: d(prev.User, cur.User), Nice: d(prev.Nice, cur.Nice), System: d(prev.System, cur.System),
		Idle: d(prev.Idle, cur.Idle), IOWait: d(prev.IOWait, cur.IOWait), IRQ: d(prev.IRQ, cur.IRQ),
		SoftIRQ: d(prev.SoftIRQ, cur.SoftIRQ), Steal: d(prev.Steal, cur.Steal),
	}
	total := out.Total()
	return out, total, total > 0
}

func busy(d CPUTimes) uint64 { return d.Total() - d.Idle - d.IOWait }

func cpuMetrics(prev, cur *CPUStat) *CPUMetrics {
	if prev == nil || cur == nil {
		return nil
	}
	d, total, ok := cpuDelta(prev.Total, cur.Total)
	if !ok {
		return nil
	}
	m := &CPUMetrics{
		UsagePercent:  percent(busy(d), total),
		UserPercent:   percent(d.User+d.Nice, total),
		SystemPercent: percent(d.System+d.IRQ+d.SoftIRQ, total),
		IOWaitPercent: percent(d.IOWait, total),
		StealPercent:  percent(d.Steal, total),
	}
	prevCores := make(map[int]CPUTimes, len(prev.Cores))
	for _, c := range prev.Cores {
		prevCores[c.Core] = c.CPUTimes
	}
	for _, c := range cur.Cores {
		p, found := prevCores[c.Core]
		if !found {
			continue // core came online since the last poll
		}
		cd, ct, ok := cpuDelta(p, c.CPUTimes)
		if !ok {
			continue // core went offline and back: its counters restarted
		}
		m.Cores = append(m.Cores, CoreMetrics{Core: c.Core, UsagePercent: percent(busy(cd), ct)})
	}
	return m
}

func memoryMetrics(mem *Memory) *MemoryMetrics {
	if mem == nil {
		return nil
	}
	avail := mem.AvailableBytes
	var arc uint64
	if mem.ARCSizeBytes > mem.ARCMinBytes {
		// The ARC gives memory back under pressure down to c_min, so
		// that part is available, like the page cache (htop does the
		// same).
		arc = mem.ARCSizeBytes - mem.ARCMinBytes
		avail += arc
	}
	avail = min(avail, mem.TotalBytes)
	m := &MemoryMetrics{
		TotalBytes:     mem.TotalBytes,
		AvailableBytes: avail,
		UsedBytes:      mem.TotalBytes - avail,
		ARCBytes:       mem.ARCSizeBytes,
		SwapTotalBytes: mem.SwapTotalBytes,
	}
	m.UsedPercent = percent(m.UsedBytes, m.TotalBytes)
	if mem.SwapTotalBytes > mem.SwapFreeBytes {
		m.SwapUsedBytes = mem.SwapTotalBytes - mem.SwapFreeBytes
	}
	m.SwapUsedPercent = percent(m.SwapUsedBytes, m.SwapTotalBytes)
	return m
}

func filesystemMetrics(fss []Filesystem) []FilesystemMetrics {
	var out []FilesystemMetrics
	for _, f := range fss {
		fm := FilesystemMetrics{
			Mount: f.Mount, Source: f.Source, FSType: f.FSType,
			SizeBytes: f.SizeBytes, UsedBytes: f.UsedBytes, AvailBytes: f.AvailBytes,
			InodesTotal: f.InodesTotal, InodesUsed: f.InodesUsed, InodesFree: f.InodesFree,
		}
		if f.UsedBytes+f.AvailBytes >= f.UsedBytes { // no overflow
			fm.UsedPercent = percent(f.UsedBytes, f.UsedBytes+f.AvailBytes)
		}
		if f.InodesTotal > 0 {
			p := percent(f.InodesUsed, f.InodesTotal)
			fm.InodesUsedPercent = &p
		}
		out = append(out, fm)
	}
	return out
}

func interfaceMetrics(prev, cur []NetDev, interval float64) []InterfaceMetrics {
	byName := make(map[string]NetDev, len(prev))
	for _, p := range prev {
		byName[p.Name] = p
	}
	var out []InterfaceMetrics
	for _, c := range cur {
		p, found := byName[c.Name]
		if !found {
			continue
		}
		var d [8]uint64
		valid := true
		for i, pair := range [8][2]uint64{
			{p.RxBytes, c.RxBytes}, {p.TxBytes, c.TxBytes}, {p.RxPackets, c.RxPackets}, {p.TxPackets, c.TxPackets},
			{p.RxErrors, c.RxErrors}, {p.TxErrors, c.TxErrors}, {p.RxDrops, c.RxDrops}, {p.TxDrops, c.TxDrops},
		} {
			var ok bool
			if d[i], ok = delta(pair[0], pair[1]); !ok {
				valid = false
				break
			}
		}
		if !valid {
			continue
		}
		out = append(out, InterfaceMetrics{
			Name:            c.Name,
			RxBytesPerSec:   float64(d[0]) / interval,
			TxBytesPerSec:   float64(d[1]) / interval,
			RxPacketsPerSec: float64(d[2]) / interval,
			TxPacketsPerSec: float64(d[3]) / interval,
			RxErrorsPerSec:  float64(d[4]) / interval,
			TxErrorsPerSec:  float64(d[5]) / interval,
			RxDropsPerSec:   float64(d[6]) / interval,
			TxDropsPerSec:   float64(d[7]) / interval,
		})
	}
	return out
}

func diskMetrics(prev, cur []DiskStat, interval float64) []DiskMetrics {
	byName := make(map[string]DiskStat, len(prev))
	for _, p := range prev {
		byName[p.Name] = p
	}
	var out []DiskMetrics
	for _, c := range cur {
		p, found := byName[c.Name]
		if !found {
			continue
		}
		var d [5]uint64
		valid := true
		for i, pair := range [5][2]uint64{
			{p.SectorsRead, c.SectorsRead}, {p.SectorsWritten, c.SectorsWritten},
			{p.ReadsCompleted, c.ReadsCompleted}, {p.WritesCompleted, c.WritesCompleted},
			{p.IOTicksMs, c.IOTicksMs},
		} {
			var ok bool
			if d[i], ok = delta(pair[0], pair[1]); !ok {
				valid = false
				break
			}
		}
		if !valid {
			continue
		}
		util := float64(d[4]) / (interval * 1000) * 100
		out = append(out, DiskMetrics{
			Name:             c.Name,
			ReadBytesPerSec:  float64(d[0]) * sectorBytes / interval,
			WriteBytesPerSec: float64(d[1]) * sectorBytes / interval,
			ReadIOPS:         float64(d[2]) / interval,
			WriteIOPS:        float64(d[3]) / interval,
			// io_ticks is sampled at jiffy granularity, so it can
			// exceed the interval by a tick.
			UtilPercent: min(max(util, 0), 100),
		})
	}
	return out
}
