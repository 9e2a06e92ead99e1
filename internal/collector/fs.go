package collector

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// DFTable is one `df -P` table. Block tables (`df -P -k`) carry bytes,
// inode tables (`df -P -i`) carry inode counts.
type DFTable struct {
	Inodes bool    `json:"inodes"`
	Rows   []DFRow `json:"rows"`
}

// DFRow is one df line. FSType is set only when df printed a Type column
// (df -T). Total, Used and Avail are bytes in a block table and inode
// counts in an inode table; "-" (no such figure) reads as 0.
type DFRow struct {
	Source string `json:"source"`
	FSType string `json:"fstype,omitempty"`
	Mount  string `json:"mount"`
	Total  uint64 `json:"total"`
	Used   uint64 `json:"used"`
	Avail  uint64 `json:"avail"`
}

var blockUnit = regexp.MustCompile(`^(\d+)([kKMG]?)-blocks$`)

// ParseDF parses POSIX-format df output (GNU coreutils or BusyBox, with -P,
// optionally -T), either the block table or the inode table. Sources and
// mount points may contain spaces: the row is anchored on its run of
// numeric columns. It keeps at most MaxMounts rows.
func ParseDF(b []byte) (*DFTable, error) { return parseDF(b, &limiter{}) }

func parseDF(b []byte, lim *limiter) (*DFTable, error) {
	ls := lines(b)
	if len(ls) == 0 {
		return nil, ErrNotAvailable
	}
	hdr := strings.Fields(ls[0])
	if len(hdr) < 6 || hdr[0] != "Filesystem" {
		return nil, fmt.Errorf("header %q", ls[0])
	}
	hasType := hdr[1] == "Type"
	unitCol := hdr[1]
	if hasType {
		unitCol = hdr[2]
	}
	t := &DFTable{}
	var unit uint64
	switch {
	case unitCol == "Inodes":
		t.Inodes, unit = true, 1
	case blockUnit.MatchString(unitCol):
		m := blockUnit.FindStringSubmatch(unitCol)
		n, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("block size %q", unitCol)
		}
		mult := map[string]uint64{"": 1, "k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m[2]]
		unit = n * mult
	default:
		// df -h and friends: sizes are not exact numbers.
		return nil, fmt.Errorf("unsupported size column %q (want 1024-blocks or Inodes)", unitCol)
	}
	for _, l := range ls[1:] {
		if !lim.room(len(t.Rows), MaxMounts) {
			break
		}
		r, err := parseDFRow(l, hasType, unit)
		if err != nil {
			return nil, err
		}
		r.Source, r.FSType, r.Mount = lim.clip(r.Source), lim.clip(r.FSType), lim.clip(r.Mount)
		t.Rows = append(t.Rows, r)
	}
	return t, nil
}

type token struct {
	s          string
	start, end int
}

func tokens(l string) []token {
	var out []token
	i := 0
	for i < len(l) {
		for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
			i++
		}
		if i >= len(l) {
			break
		}
		j := i
		for j < len(l) && l[j] != ' ' && l[j] != '\t' {
			j++
		}
		out = append(out, token{l[i:j], i, j})
		i = j
	}
	return out
}

func isDFNumber(s string) bool {
	if s == "-" {
		return true
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

func isDFCapacity(s string) bool {
	if s == "-" {
		return true
	}
	n, ok := strings.CutSuffix(s, "%")
	if !ok {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 64)
	return err == nil
}

func parseDFRow(l string, hasType bool, unit uint64) (DFRow, error) {
	tk := tokens(l)
	first := 1
	if hasType {
		first = 2
	}
	// Find the first position where three numbers and a capacity follow;
	// everything before is the source (and type), everything after is the
	// mount point.
	for i := first; i+4 < len(tk); i++ {
		if !isDFNumber(tk[i].s) || !isDFNumber(tk[i+1].s) || !isDFNumber(tk[i+2].s) || !isDFCapacity(tk[i+3].s) {
			continue
		}
		r := DFRow{Mount: l[tk[i+4].start:]}
		srcEnd := i
		if hasType {
			srcEnd = i - 1
			r.FSType = tk[i-1].s
		}
		r.Source = l[tk[0].start:tk[srcEnd-1].end]
		var vals [3]uint64
		for k := range vals {
			if tk[i+k].s == "-" {
				continue
			}
			v, _ := strconv.ParseUint(tk[i+k].s, 10, 64)
			if v > math.MaxUint64/unit {
				return DFRow{}, fmt.Errorf("%s: size overflows", r.Mount)
			}
			vals[k] = v * unit
		}
		r.Total, r.Used, r.Avail = vals[0], vals[1], vals[2]
		return r, nil
	}
	return DFRow{}, fmt.Errorf("row %q: no size columns", l)
}

// Mount is one /proc/mounts line, with the kernel's octal escapes (\040
// for a space) decoded.
type Mount struct {
	Source  string `json:"source"`
	Mount   string `json:"mount"`
	FSType  string `json:"fstype"`
	Options string `json:"options,omitempty"`
}

// ParseMounts parses /proc/mounts, keeping at most MaxMounts lines.
func ParseMounts(b []byte) ([]Mount, error) { return parseMounts(b, &limiter{}) }

func parseMounts(b []byte, lim *limiter) ([]Mount, error) {
	ls := lines(b)
	if len(ls) == 0 {
		return nil, ErrNotAvailable
	}
	out := make([]Mount, 0, min(len(ls), MaxMounts))
	for _, l := range ls {
		f := strings.Fields(l)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %q: want source mount fstype", l)
		}
		if !lim.room(len(out), MaxMounts) {
			break
		}
		m := Mount{Source: lim.clip(unescapeMount(f[0])), Mount: lim.clip(unescapeMount(f[1])), FSType: lim.clip(f[2])}
		if len(f) > 3 {
			m.Options = lim.clip(f[3])
		}
		out = append(out, m)
	}
	return out, nil
}

// unescapeMount decodes the \ooo escapes the kernel writes for space, tab,
// newline and backslash in /proc/mounts.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			sb.WriteByte(v)
			i += 3
			continue
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Filesystem is one real filesystem's usage.
type Filesystem struct {
	Mount      string `json:"mount"`
	Source     string `json:"source"`
	FSType     string `json:"fstype,omitempty"`
	SizeBytes  uint64 `json:"size_bytes"`
	UsedBytes  uint64 `json:"used_bytes"`
	AvailBytes uint64 `json:"avail_bytes"`
	// Inode figures are zero when df has no inode table (old BusyBox) or
	// the filesystem has no fixed inode count (btrfs, vfat, ZFS reports
	// an estimate).
	InodesTotal uint64 `json:"inodes_total"`
	InodesUsed  uint64 `json:"inodes_used"`
	InodesFree  uint64 `json:"inodes_free"`
}

// pseudoFSTypes are filesystems without storage of their own (or, for
// squashfs, read-only images such as snaps that are always full).
var pseudoFSTypes = map[string]bool{
	"autofs": true, "binfmt_misc": true, "bpf": true, "cgroup": true, "cgroup2": true,
	"configfs": true, "cpuset": true, "debugfs": true, "devfs": true, "devpts": true,
	"devtmpfs": true, "efivarfs": true, "fusectl": true, "fuse.gvfsd-fuse": true,
	"fuse.lxcfs": true, "fuse.portal": true, "hugetlbfs": true, "mqueue": true,
	"nfsd": true, "nsfs": true, "proc": true, "pstore": true, "ramfs": true,
	"rootfs": true, "rpc_pipefs": true, "securityfs": true, "selinuxfs": true,
	"squashfs": true, "sysfs": true, "tmpfs": true, "tracefs": true, "binder": true,
	"shm": true, "none": true,
}

// pseudoSources are df source names of pseudo filesystems, used when no
// fstype is known (no /proc/mounts and no df -T).
var pseudoSources = map[string]bool{
	"tmpfs": true, "devtmpfs": true, "udev": true, "none": true, "shm": true,
	"proc": true, "sysfs": true, "cgroup": true, "rootfs": true, "run": true,
	"dev": true, "cgroup_root": true, "mdev": true,
}

// containerMount reports mount points that belong to a container engine's
// layer store: their usage is that of the filesystem underneath.
func containerMount(m string) bool {
	for _, p := range []string{"/var/lib/docker/", "/var/lib/containers/", "/run/containerd/", "/var/lib/containerd/", "/run/docker/"} {
		if strings.HasPrefix(m, p) {
			return true
		}
	}
	return false
}

// Filesystems joins df's block table with its inode table and
// /proc/mounts (for fstypes) and drops pseudo filesystems, container
// layers, snap images and repeated mounts of one device. inodes and mounts
// may be nil. It returns at most MaxFilesystems.
func Filesystems(blocks, inodes *DFTable, mounts []Mount) []Filesystem {
	return filesystems(blocks, inodes, mounts, &limiter{})
}

func filesystems(blocks, inodes *DFTable, mounts []Mount, lim *limiter) []Filesystem {
	if blocks == nil || blocks.Inodes {
		return nil
	}
	fstype := make(map[string]string, len(mounts))
	for _, m := range mounts {
		// A later mount on the same point hides the earlier one; df
		// reports the visible one.
		fstype[m.Mount] = m.FSType
	}
	inodeRows := make(map[string]DFRow)
	if inodes != nil && inodes.Inodes {
		for _, r := range inodes.Rows {
			inodeRows[r.Mount] = r
		}
	}
	var out []Filesystem
	seenDev := make(map[string]int)
	for _, r := range blocks.Rows {
		typ := r.FSType
		if typ == "" {
			typ = fstype[r.Mount]
		}
		if pseudoFSTypes[typ] || containerMount(r.Mount) || strings.HasPrefix(r.Mount, "/snap/") {
			continue
		}
		if (typ == "overlay" || typ == "aufs") && r.Mount != "/" {
			continue
		}
		if typ == "" && (pseudoSources[r.Source] || r.Total == 0) {
			continue
		}
		fs := Filesystem{
			Mount: r.Mount, Source: r.Source, FSType: typ,
			SizeBytes: r.Total, UsedBytes: r.Used, AvailBytes: r.Avail,
		}
		if ir, ok := inodeRows[r.Mount]; ok {
			fs.InodesTotal, fs.InodesUsed, fs.InodesFree = ir.Total, ir.Used, ir.Avail
		}
		// A device mounted twice (bind mounts; BusyBox df does not fold
		// them) is one filesystem: keep the shortest mount point.
		if strings.HasPrefix(r.Source, "/dev/") {
			if i, ok := seenDev[r.Source]; ok {
				if len(fs.Mount) < len(out[i].Mount) {
					out[i] = fs
				}
				continue
			}
			if !lim.room(len(out), MaxFilesystems) {
				break
			}
			seenDev[r.Source] = len(out)
		} else if !lim.room(len(out), MaxFilesystems) {
			break
		}
		out = append(out, fs)
	}
	return out
}
