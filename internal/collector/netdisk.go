package collector

import (
	"fmt"
	"strconv"
	"strings"
)

// NetDev holds one interface's cumulative counters from /proc/net/dev. On
// old 32-bit kernels they wrap at 2^32; Compute treats any decrease as a
// reset.
type NetDev struct {
	Name      string `json:"name"`
	RxBytes   uint64 `json:"rx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxErrors  uint64 `json:"rx_errors"`
	RxDrops   uint64 `json:"rx_drops"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxErrors  uint64 `json:"tx_errors"`
	TxDrops   uint64 `json:"tx_drops"`
}

// ParseNetDev parses /proc/net/dev, skipping the two header lines and the
// loopback interface. It keeps at most MaxInterfaces.
func ParseNetDev(b []byte) ([]NetDev, error) { return parseNetDev(b, &limiter{}) }

func parseNetDev(b []byte, lim *limiter) ([]NetDev, error) {
	ls := lines(b)
	if len(ls) == 0 {
		return nil, ErrNotAvailable
	}
	var out []NetDev
	for _, l := range ls {
		// The name ends at the last colon before the counters: an alias
		// like "eth0:1" keeps its own colon, and some old kernels print
		// "eth0:123" with no space after the colon.
		name, rest, ok := cutNetDevName(l)
		if !ok {
			if strings.Contains(l, "|") {
				continue // header
			}
			return nil, fmt.Errorf("line %q: no interface name", l)
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			return nil, fmt.Errorf("%s: want 16 counters, got %d", name, len(f))
		}
		var v [16]uint64
		for i := range v {
			n, err := parseUint(f[i], name)
			if err != nil {
				return nil, err
			}
			v[i] = n
		}
		if name == "lo" {
			continue
		}
		if !lim.room(len(out), MaxInterfaces) {
			break
		}
		out = append(out, NetDev{
			Name: lim.clip(name), RxBytes: v[0], RxPackets: v[1], RxErrors: v[2], RxDrops: v[3],
			TxBytes: v[8], TxPackets: v[9], TxErrors: v[10], TxDrops: v[11],
		})
	}
	return out, nil
}

func cutNetDevName(l string) (string, string, bool) {
	i := strings.LastIndexByte(l, ':')
	if i < 0 {
		return "", "", false
	}
	name := strings.TrimSpace(l[:i])
	if name == "" || strings.ContainsAny(name, " \t|") {
		return "", "", false
	}
	return name, l[i+1:], true
}

// DiskStat holds one block device's cumulative counters from
// /proc/diskstats. Sectors are always 512 bytes there, whatever the
// device's real sector size.
type DiskStat struct {
	Name            string `json:"name"`
	Major           uint32 `json:"major"`
	Minor           uint32 `json:"minor"`
	ReadsCompleted  uint64 `json:"reads_completed"`
	ReadsMerged     uint64 `json:"reads_merged"`
	SectorsRead     uint64 `json:"sectors_read"`
	ReadTimeMs      uint64 `json:"read_time_ms"`
	WritesCompleted uint64 `json:"writes_completed"`
	WritesMerged    uint64 `json:"writes_merged"`
	SectorsWritten  uint64 `json:"sectors_written"`
	WriteTimeMs     uint64 `json:"write_time_ms"`
	InFlight        uint64 `json:"in_flight"`
	IOTicksMs       uint64 `json:"io_ticks_ms"`
	WeightedIOMs    uint64 `json:"weighted_io_ms"`
}

// skipDisk reports devices whose I/O is counted elsewhere or is not disk
// I/O: partitions (counted in their disk), loop and RAM-backed devices,
// floppies, optical drives, ZFS zvols (their I/O lands on the pool's
// disks) and NVMe per-controller paths (counted in the namespace). Whole
// disks, md arrays, dm devices, NVMe namespaces and mmcblk cards are kept.
//
// It is the regular expression
//
//	^(?:(?:z?ram|loop|fd|sr|zd)\d+|(?:h|s|v|xv)d[a-z]+\d+|(?:nvme\d+n\d+|mmcblk\d+|md\d+|nbd\d+|loop\d+|rbd\d+|zd\d+)p\d+|nvme\d+c\d+n\d+|mmcblk\d+(?:boot\d+|rpmb))$
//
// written out as token patterns: it runs for every line of every poll, and
// a regexp's per-call state is garbage in race-detector builds, where
// sync.Pool drops entries (#15).
func skipDisk(name string) bool {
	for _, p := range skipDiskPatterns {
		if matchDiskPattern(name, p) {
			return true
		}
	}
	return false
}

// Token kinds of skipDiskPatterns: a literal, a run of digits (\d+) or a run
// of lower-case letters ([a-z]+).
const (
	digitsTok  = "\x00d"
	lettersTok = "\x00l"
)

var skipDiskPatterns = func() [][]string {
	d, l := digitsTok, lettersTok
	var ps [][]string
	for _, p := range []string{"ram", "zram", "loop", "fd", "sr", "zd"} {
		ps = append(ps, []string{p, d})
	}
	for _, p := range []string{"hd", "sd", "vd", "xvd"} {
		ps = append(ps, []string{p, l, d})
	}
	for _, p := range [][]string{{"nvme", d, "n", d}, {"mmcblk", d}, {"md", d}, {"nbd", d}, {"loop", d}, {"rbd", d}, {"zd", d}} {
		ps = append(ps, append(p, "p", d))
	}
	return append(ps, []string{"nvme", d, "c", d, "n", d}, []string{"mmcblk", d, "boot", d}, []string{"mmcblk", d, "rpmb"})
}()

// matchDiskPattern matches all of s against tokens. Runs are greedy, which
// is exact here because no run is followed by a token that could start with
// the same kind of character.
func matchDiskPattern(s string, tokens []string) bool {
	for _, tok := range tokens {
		switch tok {
		case digitsTok, lettersTok:
			lo, hi := byte('0'), byte('9')
			if tok == lettersTok {
				lo, hi = 'a', 'z'
			}
			n := 0
			for n < len(s) && s[n] >= lo && s[n] <= hi {
				n++
			}
			if n == 0 {
				return false
			}
			s = s[n:]
		default:
			if !strings.HasPrefix(s, tok) {
				return false
			}
			s = s[len(tok):]
		}
	}
	return s == ""
}

// ParseDiskstats parses /proc/diskstats, keeping whole devices only (see
// skipDisk), at most MaxDisks.
func ParseDiskstats(b []byte) ([]DiskStat, error) { return parseDiskstats(b, &limiter{}) }

func parseDiskstats(b []byte, lim *limiter) ([]DiskStat, error) {
	ls := lines(b)
	if len(ls) == 0 {
		return nil, ErrNotAvailable
	}
	var out []DiskStat
	for _, l := range ls {
		f := strings.Fields(l)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %q: want major minor name", l)
		}
		name := f[2]
		if skipDisk(name) {
			// Kernels before 2.6.25 print partitions with 4 counters
			// only; skipped names are not parsed further.
			continue
		}
		if len(f) < 14 {
			return nil, fmt.Errorf("%s: want 11 counters, got %d", name, len(f)-3)
		}
		maj, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s major: %w", name, err)
		}
		minr, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s minor: %w", name, err)
		}
		var v [11]uint64
		for i := range v {
			if v[i], err = parseUint(f[3+i], name); err != nil {
				return nil, err
			}
		}
		if !lim.room(len(out), MaxDisks) {
			break
		}
		out = append(out, DiskStat{
			Name: lim.clip(name), Major: uint32(maj), Minor: uint32(minr),
			ReadsCompleted: v[0], ReadsMerged: v[1], SectorsRead: v[2], ReadTimeMs: v[3],
			WritesCompleted: v[4], WritesMerged: v[5], SectorsWritten: v[6], WriteTimeMs: v[7],
			InFlight: v[8], IOTicksMs: v[9], WeightedIOMs: v[10],
		})
	}
	return out, nil
}
