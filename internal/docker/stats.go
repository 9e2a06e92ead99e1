package docker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Two ways to get container resource usage:
//
//   - Stats runs `docker stats --no-stream`: portable, already in percent and human units, but every call takes
//     about 1.5-2 s because docker takes two samples a second apart, and the numbers are rounded display text.
//   - CgroupStats runs one POSIX sh script that reads the kernel's cgroup counters (v1 or v2) and
//     /proc/<pid>/net/dev of every running container: one `docker ps` + one `docker inspect` + cat, so it
//     returns in tens of milliseconds, and it yields raw monotonic counters. Rates (CPU%, bytes/s) are then
//     computed between two polls over the poll interval, which is both cheaper and more accurate than docker's
//     one-second window.
//
// CgroupStats is the recommended collector for periodic polling. Stats remains the fallback for devices where
// the cgroup files are not where the script looks (rootless docker, unusual cgroup mounts) — visible as a
// container without any counters in the CgroupStats result.

// StatsSample is one line of `docker stats --no-stream --format '{{json .}}'`, converted from display text.
type StatsSample struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	CPUPercent float64 `json:"cpu_percent"`
	MemUsage   uint64  `json:"mem_usage"`
	MemLimit   uint64  `json:"mem_limit"`
	MemPercent float64 `json:"mem_percent"`
	NetRx      uint64  `json:"net_rx"`
	NetTx      uint64  `json:"net_tx"`
	BlockRead  uint64  `json:"block_read"`
	BlockWrite uint64  `json:"block_write"`
	PIDs       uint64  `json:"pids"`
}

type statsJSON struct {
	ID, Name, Container                     string
	CPUPerc, MemPerc, MemUsage, NetIO, PIDs string
	BlockIO                                 string
}

// ParseStats parses the output of Stats, one JSON object per line. Values docker shows as "--" (not available,
// e.g. for a container that is starting) are 0.
func ParseStats(out []byte) ([]StatsSample, error) {
	s, err := parseStats(out)
	return s, clipError(err)
}

func parseStats(out []byte) ([]StatsSample, error) {
	var res []StatsSample
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(res) >= MaxContainers {
			return nil, fmt.Errorf("docker stats: %w", tooMany("containers", MaxContainers))
		}
		var j statsJSON
		if err := json.Unmarshal(line, &j); err != nil {
			return nil, fmt.Errorf("docker stats line %d: decode: %w", n, err)
		}
		s := StatsSample{ID: j.ID, Name: clipString(j.Name, MaxFieldBytes)}
		if s.ID == "" {
			s.ID = j.Container
		}
		if err := checkID(s.ID); err != nil {
			return nil, fmt.Errorf("docker stats line %d: %w", n, err)
		}
		var err error
		fail := func(field string, e error) error {
			return fmt.Errorf("docker stats line %d: %s: %w", n, field, e)
		}
		if s.CPUPercent, err = parsePercent(j.CPUPerc); err != nil {
			return nil, fail("CPUPerc", err)
		}
		if s.MemPercent, err = parsePercent(j.MemPerc); err != nil {
			return nil, fail("MemPerc", err)
		}
		if s.MemUsage, s.MemLimit, err = parsePair(j.MemUsage); err != nil {
			return nil, fail("MemUsage", err)
		}
		if s.NetRx, s.NetTx, err = parsePair(j.NetIO); err != nil {
			return nil, fail("NetIO", err)
		}
		if s.BlockRead, s.BlockWrite, err = parsePair(j.BlockIO); err != nil {
			return nil, fail("BlockIO", err)
		}
		if j.PIDs != "" && j.PIDs != "--" {
			if s.PIDs, err = strconv.ParseUint(j.PIDs, 10, 64); err != nil {
				return nil, fail("PIDs", err)
			}
		}
		res = append(res, s)
	}
	return res, sc.Err()
}

func parsePercent(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "--" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("bad percentage %q", s)
	}
	return f, nil
}

// parsePair parses "1.5MiB / 2GiB".
func parsePair(s string) (uint64, uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "--" || s == "-- / --" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, " / ")
	if !ok {
		return 0, 0, fmt.Errorf("no ' / ' in %q", s)
	}
	x, err := parseSize(a)
	if err != nil {
		return 0, 0, err
	}
	y, err := parseSize(b)
	return x, y, err
}

// sizeUnits are the suffixes docker prints: decimal (go-units HumanSize, used for I/O) and binary (BytesSize,
// used for memory).
var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"PiB", 1 << 50}, {"EiB", 1 << 60},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"PB", 1e15}, {"EB", 1e18},
	{"B", 1},
}

func parseSize(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "--" {
		return 0, nil
	}
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f*u.mult >= math.MaxUint64 {
				return 0, fmt.Errorf("bad size %q", s)
			}
			return uint64(math.Round(f * u.mult)), nil
		}
	}
	return 0, fmt.Errorf("bad size %q", s)
}

// cgroupScript prints, for every running container, its cgroup counters and /proc/<pid>/net/dev:
//
//	@uptime <seconds> <idle>        host /proc/uptime when sampling started
//	@cgroup 1|2
//	@container <id> <pid> <network mode>
//	@file <name>                    followed by the file's contents
//
// The cgroup of each container is read from /proc/<pid>/cgroup, so it works with the cgroupfs and systemd
// drivers alike. Missing or unreadable files are left out.
const cgroupScript = `ids=$(docker ps -q --no-trunc) || exit
echo "@uptime $(cat /proc/uptime)"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then v=2; else v=1; fi
echo "@cgroup $v"
[ -n "$ids" ] || exit 0
emit() { [ -r "$2" ] && { echo "@file $1"; cat "$2"; }; }
cgpath() { while IFS=: read -r _ ctl p; do case ",$ctl," in *",$1,"*) echo "$p"; return;; esac; done < "/proc/$2/cgroup"; }
docker inspect --type container --format '{{.Id}} {{.State.Pid}} {{.HostConfig.NetworkMode}}' $ids |
while read -r id pid mode; do
  case "$pid" in ''|0|*[!0-9]*) continue;; esac
  echo "@container $id $pid $mode"
  if [ $v = 2 ]; then
    p=/sys/fs/cgroup$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
    for f in cpu.stat memory.current memory.max memory.stat pids.current io.stat; do emit "$f" "$p/$f"; done
  else
    p=/sys/fs/cgroup/cpuacct$(cgpath cpuacct "$pid"); emit cpuacct.usage "$p/cpuacct.usage"
    p=/sys/fs/cgroup/memory$(cgpath memory "$pid")
    for f in memory.usage_in_bytes memory.limit_in_bytes memory.stat; do emit "$f" "$p/$f"; done
    p=/sys/fs/cgroup/pids$(cgpath pids "$pid"); emit pids.current "$p/pids.current"
    p=/sys/fs/cgroup/blkio$(cgpath blkio "$pid")
    emit blkio.throttle.io_service_bytes_recursive "$p/blkio.throttle.io_service_bytes_recursive" ||
      emit blkio.throttle.io_service_bytes_recursive "$p/blkio.throttle.io_service_bytes"
  fi
  emit net/dev "/proc/$pid/net/dev"
done`

// CgroupStats returns the command that samples every running container's cgroup counters; parse its output with
// ParseCgroupStats.
func CgroupStats() string { return script(cgroupScript) }

// NetCounters are one interface's counters from /proc/<pid>/net/dev.
type NetCounters struct {
	RxBytes   uint64 `json:"rx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxErrors  uint64 `json:"rx_errors"`
	RxDropped uint64 `json:"rx_dropped"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxErrors  uint64 `json:"tx_errors"`
	TxDropped uint64 `json:"tx_dropped"`
}

// CgroupContainerStats holds one container's raw counters. All are monotonic except the memory values and PIDs.
type CgroupContainerStats struct {
	ID          string `json:"id"`
	PID         int    `json:"pid"`
	NetworkMode string `json:"network_mode"`
	// CPUNanos is the CPU time used by all the container's processes.
	CPUNanos uint64 `json:"cpu_nanos"`
	// MemoryUsage is the cgroup's charged memory including page cache; MemoryInactiveFile is the reclaimable part
	// docker stats subtracts (see MemoryWorkingSet).
	MemoryUsage        uint64 `json:"memory_usage"`
	MemoryInactiveFile uint64 `json:"memory_inactive_file"`
	// MemoryLimit is 0 when unlimited.
	MemoryLimit     uint64 `json:"memory_limit"`
	PIDs            uint64 `json:"pids"`
	BlockReadBytes  uint64 `json:"block_read_bytes"`
	BlockWriteBytes uint64 `json:"block_write_bytes"`
	// Networks maps interface name to counters, loopback excluded. It is nil when the container shares the
	// host's or another container's network namespace, whose counters are not its own.
	Networks map[string]NetCounters `json:"networks,omitempty"`
}

// MemoryWorkingSet is the memory figure docker stats shows: usage minus inactive page cache.
func (s CgroupContainerStats) MemoryWorkingSet() uint64 {
	if s.MemoryInactiveFile > s.MemoryUsage {
		return 0
	}
	return s.MemoryUsage - s.MemoryInactiveFile
}

// CgroupSnapshot is one run of the CgroupStats command.
type CgroupSnapshot struct {
	// Uptime is the device's /proc/uptime when sampling started: a monotonic clock for computing rates
	// between two snapshots, immune to wall-clock changes and to SSH latency.
	Uptime        time.Duration          `json:"uptime"`
	CgroupVersion int                    `json:"cgroup_version"`
	Containers    []CgroupContainerStats `json:"containers"`
	// Truncated is set when a container had more than MaxNetworksPerContainer interfaces and the rest were
	// left out.
	Truncated bool `json:"truncated,omitempty"`
}

// CPUPercent is the CPU use between two samples in percent of one core (docker stats' convention: 200% is two
// full cores). It returns 0 when the interval is not positive or the counter went backwards (container restart).
func CPUPercent(prevNanos, curNanos uint64, elapsed time.Duration) float64 {
	if elapsed <= 0 || curNanos < prevNanos {
		return 0
	}
	return float64(curNanos-prevNanos) / float64(elapsed.Nanoseconds()) * 100
}

// unlimitedV1 is above any real memory limit; cgroup v1 reports "no limit" as PAGE_COUNTER_MAX pages.
const unlimitedV1 = 1 << 62

// ParseCgroupStats parses the output of the CgroupStats command.
func ParseCgroupStats(out []byte) (*CgroupSnapshot, error) {
	s, err := parseCgroupStats(out)
	return s, clipError(err)
}

func parseCgroupStats(out []byte) (*CgroupSnapshot, error) {
	snap := &CgroupSnapshot{}
	var cur *CgroupContainerStats
	file := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		fail := func(err error) (*CgroupSnapshot, error) {
			return nil, fmt.Errorf("cgroup stats line %d: %w", n, err)
		}
		if rest, ok := strings.CutPrefix(line, "@"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return fail(fmt.Errorf("empty marker"))
			}
			file = ""
			switch f[0] {
			case "uptime":
				if len(f) < 2 {
					return fail(fmt.Errorf("no uptime"))
				}
				sec, err := strconv.ParseFloat(f[1], 64)
				if err != nil || sec < 0 || sec > 1e10 {
					return fail(fmt.Errorf("bad uptime %q", f[1]))
				}
				snap.Uptime = time.Duration(sec * float64(time.Second)).Round(10 * time.Millisecond)
			case "cgroup":
				if len(f) != 2 || (f[1] != "1" && f[1] != "2") {
					return fail(fmt.Errorf("bad cgroup version"))
				}
				snap.CgroupVersion = int(f[1][0] - '0')
			case "container":
				if len(f) < 3 {
					return fail(fmt.Errorf("short container marker"))
				}
				if len(snap.Containers) >= MaxContainers {
					return fail(tooMany("containers", MaxContainers))
				}
				pid, err := strconv.Atoi(f[2])
				if err != nil {
					return fail(fmt.Errorf("bad pid %q", clipString(f[2], 64)))
				}
				if err := checkID(f[1]); err != nil {
					return fail(err)
				}
				c := CgroupContainerStats{ID: f[1], PID: pid}
				if len(f) > 3 {
					c.NetworkMode = clipString(f[3], MaxFieldBytes)
				}
				snap.Containers = append(snap.Containers, c)
				cur = &snap.Containers[len(snap.Containers)-1]
			case "file":
				if cur == nil || len(f) != 2 {
					return fail(fmt.Errorf("file marker outside a container"))
				}
				file = f[1]
			default:
				return fail(fmt.Errorf("unknown marker %q", clipString(f[0], 64)))
			}
			continue
		}
		if cur == nil || file == "" {
			continue
		}
		if cur.Networks != nil && len(cur.Networks) >= MaxNetworksPerContainer && file == "net/dev" {
			if name, _, ok := strings.Cut(line, ":"); ok {
				if _, known := cur.Networks[strings.TrimSpace(name)]; !known {
					snap.Truncated = true
					continue
				}
			}
		}
		if err := cur.addLine(file, line); err != nil {
			return fail(fmt.Errorf("%s %s: %w", cur.ID, file, err))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cgroup stats: %w", err)
	}
	for i := range snap.Containers {
		c := &snap.Containers[i]
		if c.NetworkMode == "host" || strings.HasPrefix(c.NetworkMode, "container:") {
			c.Networks = nil
		}
	}
	return snap, nil
}

func parseU(s string) (uint64, error) { return strconv.ParseUint(strings.TrimSpace(s), 10, 64) }

// addLine folds one line of a cgroup or proc file into the counters.
func (c *CgroupContainerStats) addLine(file, line string) error {
	var err error
	switch file {
	case "cpuacct.usage":
		c.CPUNanos, err = parseU(line)
	case "cpu.stat":
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			var us uint64
			us, err = parseU(v)
			c.CPUNanos = us * 1000
		}
	case "memory.usage_in_bytes", "memory.current":
		c.MemoryUsage, err = parseU(line)
	case "memory.limit_in_bytes", "memory.max":
		if strings.TrimSpace(line) == "max" {
			c.MemoryLimit = 0
			return nil
		}
		c.MemoryLimit, err = parseU(line)
		if c.MemoryLimit >= unlimitedV1 {
			c.MemoryLimit = 0
		}
	case "memory.stat":
		// v1 reports the hierarchy total as total_inactive_file, v2 as inactive_file.
		k, v, _ := strings.Cut(line, " ")
		if k == "total_inactive_file" || k == "inactive_file" {
			c.MemoryInactiveFile, err = parseU(v)
		}
	case "pids.current":
		c.PIDs, err = parseU(line)
	case "blkio.throttle.io_service_bytes_recursive":
		f := strings.Fields(line)
		if len(f) == 3 {
			var v uint64
			if v, err = parseU(f[2]); err == nil {
				switch f[1] {
				case "Read":
					c.BlockReadBytes += v
				case "Write":
					c.BlockWriteBytes += v
				}
			}
		}
	case "io.stat":
		f := strings.Fields(line)
		for i := 1; i < len(f); i++ {
			k, v, _ := strings.Cut(f[i], "=")
			if k != "rbytes" && k != "wbytes" {
				continue
			}
			n, err := parseU(v)
			if err != nil {
				return err
			}
			if k == "rbytes" {
				c.BlockReadBytes += n
			} else {
				c.BlockWriteBytes += n
			}
		}
	case "net/dev":
		return c.addNetDev(line)
	}
	return err
}

// addNetDev parses one /proc/net/dev line: "  eth0: rxbytes rxpackets rxerrs rxdrop fifo frame compressed
// multicast txbytes txpackets txerrs txdrop ...". Header lines have no colon before the numbers.
func (c *CgroupContainerStats) addNetDev(line string) error {
	name, rest, ok := strings.Cut(line, ":")
	if !ok {
		return nil
	}
	name = strings.TrimSpace(name)
	if strings.Contains(name, "|") || name == "lo" {
		return nil
	}
	f := strings.Fields(rest)
	if len(f) < 12 {
		return fmt.Errorf("short net/dev line for %s", name)
	}
	var v [12]uint64
	for i := range v {
		x, err := parseU(f[i])
		if err != nil {
			return fmt.Errorf("net/dev %s: %w", name, err)
		}
		v[i] = x
	}
	if c.Networks == nil {
		c.Networks = map[string]NetCounters{}
	}
	c.Networks[clipString(name, MaxFieldBytes)] = NetCounters{RxBytes: v[0], RxPackets: v[1], RxErrors: v[2], RxDropped: v[3],
		TxBytes: v[8], TxPackets: v[9], TxErrors: v[10], TxDropped: v[11]}
	return nil
}
