package collector

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// lines splits b into lines without their line ends, dropping blank lines.
// The script appends a newline after every file, so blank lines carry no
// meaning.
func lines(b []byte) []string {
	raw := strings.Split(string(b), "\n")
	out := raw[:0]
	for _, l := range raw {
		l = strings.TrimSuffix(l, "\r")
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

func parseUint(field, what string) (uint64, error) {
	v, err := strconv.ParseUint(field, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// parseFloat accepts only finite numbers: NaN or Inf in a counter would
// poison every rate computed from it.
func parseFloat(field, what string) (float64, error) {
	v, err := strconv.ParseFloat(field, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%s: %q is not a finite number", what, field)
	}
	return v, nil
}

// ParseTime parses the time section: Unix seconds, with a fraction when the
// device's date supports %N.
func ParseTime(b []byte) (time.Time, error) {
	ls := lines(b)
	if len(ls) == 0 {
		return time.Time{}, ErrNotAvailable
	}
	s := strings.TrimSpace(ls[0])
	secStr, fracStr, hasFrac := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secStr, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("unix seconds: %w", err)
	}
	// Reject dates no clock should print; time.Unix silently overflows.
	if sec < 0 || sec > 1<<40 {
		return time.Time{}, fmt.Errorf("unix seconds %d out of range", sec)
	}
	var nsec int64
	if hasFrac {
		if fracStr == "" || len(fracStr) > 9 {
			return time.Time{}, fmt.Errorf("fraction %q: want 1 to 9 digits", fracStr)
		}
		f, err := strconv.ParseUint(fracStr, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("fraction: %w", err)
		}
		nsec = int64(f)
		for i := len(fracStr); i < 9; i++ {
			nsec *= 10
		}
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// Uptime is /proc/uptime.
type Uptime struct {
	Seconds     float64 `json:"seconds"`
	IdleSeconds float64 `json:"idle_seconds"`
}

// ParseUptime parses /proc/uptime ("350735.47 234388.90").
func ParseUptime(b []byte) (*Uptime, error) {
	ls := lines(b)
	if len(ls) == 0 {
		return nil, ErrNotAvailable
	}
	f := strings.Fields(ls[0])
	if len(f) < 2 {
		return nil, fmt.Errorf("want 2 fields, got %d", len(f))
	}
	up, err := parseFloat(f[0], "uptime")
	if err != nil {
		return nil, err
	}
	idle, err := parseFloat(f[1], "idle time")
	if err != nil {
		return nil, err
	}
	if up < 0 || idle < 0 {
		return nil, errors.New("negative uptime")
	}
	return &Uptime{Seconds: up, IdleSeconds: idle}, nil
}

// LoadAvg is /proc/loadavg.
type LoadAvg struct {
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
	// Running and Threads are the "1/234" field: runnable and total
	// scheduling entities (threads, not processes).
	Running uint64 `json:"running"`
	Threads uint64 `json:"threads"`
}

// ParseLoadavg parses /proc/loadavg ("0.15 0.10 0.05 1/234 5678").
func ParseLoadavg(b []byte) (*LoadAvg, error) {
	ls := lines(b)
	if len(ls) == 0 {
		return nil, ErrNotAvailable
	}
	f := strings.Fields(ls[0])
	if len(f) < 3 {
		return nil, fmt.Errorf("want at least 3 fields, got %d", len(f))
	}
	var l LoadAvg
	var err error
	for i, dst := range []*float64{&l.Load1, &l.Load5, &l.Load15} {
		if *dst, err = parseFloat(f[i], "load average"); err != nil {
			return nil, err
		}
		if *dst < 0 {
			return nil, fmt.Errorf("negative load average %q", f[i])
		}
	}
	if len(f) >= 4 {
		run, all, ok := strings.Cut(f[3], "/")
		if !ok {
			return nil, fmt.Errorf("running/threads field %q", f[3])
		}
		if l.Running, err = parseUint(run, "running"); err != nil {
			return nil, err
		}
		if l.Threads, err = parseUint(all, "threads"); err != nil {
			return nil, err
		}
	}
	return &l, nil
}

// ParseProcs parses the procs section: the number of /proc/<pid>
// directories, that is processes (not threads).
func ParseProcs(b []byte) (int, error) {
	ls := lines(b)
	if len(ls) == 0 {
		return 0, ErrNotAvailable
	}
	n, err := strconv.Atoi(strings.TrimSpace(ls[0]))
	if err != nil {
		return 0, fmt.Errorf("process count: %w", err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative process count %d", n)
	}
	return n, nil
}

// CPUTimes are cumulative CPU times from /proc/stat in USER_HZ ticks
// (normally 1/100 s). Only ratios of their deltas are used, so the tick
// length does not matter. Guest time is already part of User and is not
// repeated. Kernels before 2.6.11 have no Steal, before 2.5.41 no
// IOWait/IRQ/SoftIRQ; those stay zero.
type CPUTimes struct {
	User    uint64 `json:"user"`
	Nice    uint64 `json:"nice"`
	System  uint64 `json:"system"`
	Idle    uint64 `json:"idle"`
	IOWait  uint64 `json:"iowait"`
	IRQ     uint64 `json:"irq"`
	SoftIRQ uint64 `json:"softirq"`
	Steal   uint64 `json:"steal"`
}

// Total is the sum of all fields.
func (t CPUTimes) Total() uint64 {
	return t.User + t.Nice + t.System + t.Idle + t.IOWait + t.IRQ + t.SoftIRQ + t.Steal
}

// CoreTimes are the CPUTimes of one logical CPU ("cpu3" has Core 3).
type CoreTimes struct {
	Core int `json:"core"`
	CPUTimes
}

// CPUStat is the part of /proc/stat the product uses.
type CPUStat struct {
	Total CPUTimes    `json:"total"`
	Cores []CoreTimes `json:"cores"`
	// BootTime is btime, Unix seconds. It can move by a second between
	// reads on some kernels, so reboots are detected from uptime instead.
	BootTime        int64  `json:"boot_time,omitempty"`
	ContextSwitches uint64 `json:"context_switches,omitempty"`
	Forks           uint64 `json:"forks,omitempty"`
	ProcsRunning    uint64 `json:"procs_running,omitempty"`
	ProcsBlocked    uint64 `json:"procs_blocked,omitempty"`
}

// ParseStat parses /proc/stat, keeping at most MaxCPUs cores.
func ParseStat(b []byte) (*CPUStat, error) { return parseStat(b, &limiter{}) }

func parseStat(b []byte, lim *limiter) (*CPUStat, error) {
	ls := lines(b)
	if len(ls) == 0 {
		return nil, ErrNotAvailable
	}
	st := &CPUStat{}
	haveTotal := false
	seenCore := make(map[int]bool)
	for _, l := range ls {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		key := f[0]
		switch {
		case key == "cpu":
			if haveTotal {
				return nil, errors.New(`duplicate "cpu" line`)
			}
			t, err := parseCPUTimes(f[1:])
			if err != nil {
				return nil, fmt.Errorf("cpu: %w", err)
			}
			st.Total, haveTotal = t, true
		case strings.HasPrefix(key, "cpu"):
			n, err := strconv.Atoi(key[3:])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("cpu line %q", key)
			}
			if seenCore[n] {
				return nil, fmt.Errorf("duplicate %q line", key)
			}
			if !lim.room(len(st.Cores), MaxCPUs) {
				continue
			}
			seenCore[n] = true
			t, err := parseCPUTimes(f[1:])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			st.Cores = append(st.Cores, CoreTimes{Core: n, CPUTimes: t})
		case key == "btime":
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("btime: %w", err)
			}
			st.BootTime = v
		case key == "ctxt":
			v, err := parseUint(f[1], "ctxt")
			if err != nil {
				return nil, err
			}
			st.ContextSwitches = v
		case key == "processes":
			v, err := parseUint(f[1], "processes")
			if err != nil {
				return nil, err
			}
			st.Forks = v
		case key == "procs_running":
			v, err := parseUint(f[1], "procs_running")
			if err != nil {
				return nil, err
			}
			st.ProcsRunning = v
		case key == "procs_blocked":
			v, err := parseUint(f[1], "procs_blocked")
			if err != nil {
				return nil, err
			}
			st.ProcsBlocked = v
		}
	}
	if !haveTotal {
		return nil, errors.New(`no aggregate "cpu" line`)
	}
	return st, nil
}

func parseCPUTimes(f []string) (CPUTimes, error) {
	var t CPUTimes
	// user nice system idle are present on every kernel.
	if len(f) < 4 {
		return t, fmt.Errorf("want at least 4 values, got %d", len(f))
	}
	dst := []*uint64{&t.User, &t.Nice, &t.System, &t.Idle, &t.IOWait, &t.IRQ, &t.SoftIRQ, &t.Steal}
	for i, p := range dst {
		if i >= len(f) {
			break
		}
		v, err := parseUint(f[i], "cpu time")
		if err != nil {
			return t, err
		}
		*p = v
	}
	// A sum that overflows would make every later delta meaningless.
	sum := uint64(0)
	for _, p := range dst {
		if sum+*p < sum {
			return t, errors.New("cpu times overflow")
		}
		sum += *p
	}
	return t, nil
}

// Memory is the part of /proc/meminfo the product uses, in bytes.
type Memory struct {
	TotalBytes     uint64 `json:"total_bytes"`
	FreeBytes      uint64 `json:"free_bytes"`
	AvailableBytes uint64 `json:"available_bytes"`
	// AvailableEstimated is set when the kernel has no MemAvailable
	// (before 3.14) and AvailableBytes was estimated as
	// free + buffers + cached + sreclaimable - shmem.
	AvailableEstimated bool   `json:"available_estimated,omitempty"`
	BuffersBytes       uint64 `json:"buffers_bytes"`
	CachedBytes        uint64 `json:"cached_bytes"`
	SReclaimableBytes  uint64 `json:"sreclaimable_bytes"`
	ShmemBytes         uint64 `json:"shmem_bytes"`
	SwapTotalBytes     uint64 `json:"swap_total_bytes"`
	SwapFreeBytes      uint64 `json:"swap_free_bytes"`
	// ARCSizeBytes and ARCMinBytes are the ZFS ARC's size and floor
	// (arcstats size and c_min), zero without ZFS. The kernel counts the
	// ARC as used memory although it shrinks under pressure down to its
	// floor, so Compute counts size - c_min as available.
	ARCSizeBytes uint64 `json:"arc_size_bytes,omitempty"`
	ARCMinBytes  uint64 `json:"arc_min_bytes,omitempty"`
}

// ParseMeminfo parses /proc/meminfo. MemTotal is required; the other fields
// default to zero when a kernel lacks them.
func ParseMeminfo(b []byte) (*Memory, error) {
	ls := lines(b)
	if len(ls) == 0 {
		return nil, ErrNotAvailable
	}
	// Only the keys read below are kept: a device printing a million distinct keys must not build a map of
	// them. Every line is still checked, so a malformed file fails as before.
	wanted := map[string]bool{"MemTotal": true, "MemFree": true, "MemAvailable": true, "Buffers": true,
		"Cached": true, "SReclaimable": true, "Shmem": true, "SwapTotal": true, "SwapFree": true}
	vals := make(map[string]uint64, len(wanted))
	for _, l := range ls {
		key, rest, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("line %q: no colon", l)
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("%s: no value", key)
		}
		if len(f) > 2 {
			// Linux 2.4 starts with a "total: used: free: ..." table
			// in bytes ("Mem:", "Swap:"); the kB lines follow it.
			continue
		}
		v, err := parseUint(f[0], key)
		if err != nil {
			return nil, err
		}
		if len(f) > 1 {
			if f[1] != "kB" {
				return nil, fmt.Errorf("%s: unit %q", key, f[1])
			}
			if v > math.MaxUint64/1024 {
				return nil, fmt.Errorf("%s: value overflows", key)
			}
			v *= 1024
		}
		if wanted[key] {
			vals[key] = v
		}
	}
	total, ok := vals["MemTotal"]
	if !ok {
		return nil, errors.New("no MemTotal")
	}
	m := &Memory{
		TotalBytes:        total,
		FreeBytes:         vals["MemFree"],
		BuffersBytes:      vals["Buffers"],
		CachedBytes:       vals["Cached"],
		SReclaimableBytes: vals["SReclaimable"],
		ShmemBytes:        vals["Shmem"],
		SwapTotalBytes:    vals["SwapTotal"],
		SwapFreeBytes:     vals["SwapFree"],
	}
	if avail, ok := vals["MemAvailable"]; ok {
		m.AvailableBytes = avail
	} else {
		est := m.FreeBytes + m.BuffersBytes + m.CachedBytes + m.SReclaimableBytes
		if est > m.ShmemBytes {
			est -= m.ShmemBytes
		}
		m.AvailableBytes = min(est, total)
		m.AvailableEstimated = true
	}
	return m, nil
}

// ARCStats is the part of the ZFS ARC kstat (/proc/spl/kstat/zfs/arcstats)
// the product uses.
type ARCStats struct {
	SizeBytes   uint64 `json:"size_bytes"`
	TargetBytes uint64 `json:"target_bytes"`
	MinBytes    uint64 `json:"min_bytes"`
	MaxBytes    uint64 `json:"max_bytes"`
	Hits        uint64 `json:"hits"`
	Misses      uint64 `json:"misses"`
}

// ParseARCStats parses the arcstats kstat table: a kstat header line, a
// "name type data" header, then one "name type value" row per statistic.
func ParseARCStats(b []byte) (*ARCStats, error) {
	ls := lines(b)
	if len(ls) == 0 {
		return nil, ErrNotAvailable
	}
	a := &ARCStats{}
	fields := map[string]*uint64{
		"size": &a.SizeBytes, "c": &a.TargetBytes, "c_min": &a.MinBytes,
		"c_max": &a.MaxBytes, "hits": &a.Hits, "misses": &a.Misses,
	}
	haveSize := false
	for _, l := range ls {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		dst, ok := fields[f[0]]
		if !ok {
			continue
		}
		v, err := parseUint(f[2], f[0])
		if err != nil {
			return nil, err
		}
		*dst = v
		if f[0] == "size" {
			haveSize = true
		}
	}
	if !haveSize {
		return nil, errors.New("no size row")
	}
	return a, nil
}
