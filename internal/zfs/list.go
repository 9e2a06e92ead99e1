package zfs

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// ListColumns is the -o argument ParseList expects when the output has no header:
// `zpool list -Hp -o name,size,allocated,free,fragmentation,capacity,dedupratio,health`.
const ListColumns = "name,size,allocated,free,fragmentation,capacity,dedupratio,health"

// PoolUsage is one row of `zpool list`: a pool, or with -v a vdev below it.
type PoolUsage struct {
	Name      string  `json:"name"`
	SizeBytes *uint64 `json:"size_bytes,omitempty"`
	// AllocBytes and FreeBytes are allocated and free space.
	AllocBytes *uint64 `json:"alloc_bytes,omitempty"`
	FreeBytes  *uint64 `json:"free_bytes,omitempty"`
	// FragmentationPercent and CapacityPercent are whole percents.
	FragmentationPercent *float64 `json:"fragmentation_percent,omitempty"`
	CapacityPercent      *float64 `json:"capacity_percent,omitempty"`
	// Dedup is the deduplication ratio (1.00 = none).
	Dedup *float64 `json:"dedup,omitempty"`
	// Health is the state: ONLINE, DEGRADED, FAULTED...
	Health string `json:"health,omitempty"`
	// Class is "" for data vdevs, or logs, cache, spares, special, dedup (with -v).
	Class string `json:"class,omitempty"`
	// Vdevs are the rows below a pool or vdev (with -v).
	Vdevs []PoolUsage `json:"vdevs,omitempty"`
}

// ParseList parses `zpool list -p` with its header (default or any -o columns, with or without -v), or
// headerless `zpool list -Hp -o` ListColumns. Rows with a name and nothing else readable are kept with the
// fields unset ("-" is zpool's "not applicable").
func ParseList(b []byte) ([]PoolUsage, error) {
	cols := strings.Split(ListColumns, ",")
	headerless := true
	var pools []PoolUsage
	// stack[d] is the row at depth d of the current branch; depth 0 is a pool.
	var stack []*PoolUsage
	class := ""
	base := -1
	rows := 0 // vdev rows of the current pool
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	first := true
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \r")
		f := splitListLine(line)
		if len(f) == 0 {
			continue
		}
		if first {
			first = false
			if f[0] == "NAME" {
				headerless = false
				cols = make([]string, len(f))
				for i, h := range f {
					cols[i] = listColumn(h)
				}
				continue
			}
		}
		ind := 0
		if !headerless {
			ind = indentWidth(line)
		} else if strings.HasPrefix(line, "\t") {
			ind = 2 // -Hv prints vdev rows after a tab; their depth is not recoverable, so all are one level in
		}
		if base < 0 {
			base = ind
		}
		depth := (ind - base) / 2
		if depth < 0 {
			continue
		}
		if depth == 0 && len(f) > 0 && auxSections[f[0]] && allDashes(f[1:]) {
			// "logs", "cache", "spares" at pool level with dashes: a class marker for the rows after it.
			class = f[0]
			stack = stack[:min(len(stack), 1)]
			continue
		}
		row := PoolUsage{}
		for i, v := range f {
			if i >= len(cols) {
				break
			}
			setListField(&row, cols[i], v)
		}
		if row.Name == "" {
			continue
		}
		if depth == 0 {
			if len(pools) == MaxPools {
				return nil, tooMany("pools", MaxPools)
			}
			pools = append(pools, row)
			stack = []*PoolUsage{&pools[len(pools)-1]}
			class, rows = "", 0
			continue
		}
		if len(stack) == 0 || depth >= MaxVdevDepth {
			continue
		}
		row.Class = class
		if depth > len(stack) {
			depth = len(stack)
		}
		parent := stack[depth-1]
		if rows >= MaxVdevsPerPool {
			continue
		}
		rows++
		parent.Vdevs = append(parent.Vdevs, row)
		stack = append(stack[:depth], &parent.Vdevs[len(parent.Vdevs)-1])
	}
	if err := sc.Err(); err != nil {
		return nil, clipError(err)
	}
	if pools == nil {
		pools = []PoolUsage{}
	}
	return pools, nil
}

func splitListLine(line string) []string {
	if strings.Contains(line, "\t") && !strings.HasPrefix(strings.TrimLeft(line, "\t"), " ") {
		var out []string
		for _, f := range strings.Split(strings.TrimLeft(line, "\t"), "\t") {
			out = append(out, strings.TrimSpace(f))
		}
		return out
	}
	return strings.Fields(line)
}

func allDashes(f []string) bool {
	for _, v := range f {
		if v != "-" {
			return false
		}
	}
	return true
}

// listColumn maps zpool list's header names to -o property names.
func listColumn(h string) string {
	switch h {
	case "NAME":
		return "name"
	case "SIZE":
		return "size"
	case "ALLOC":
		return "allocated"
	case "FREE":
		return "free"
	case "FRAG":
		return "fragmentation"
	case "CAP":
		return "capacity"
	case "DEDUP":
		return "dedupratio"
	case "HEALTH":
		return "health"
	}
	return strings.ToLower(h)
}

func setListField(r *PoolUsage, col, v string) {
	size := func(dst **uint64) {
		if n, ok := parseSize(v); ok {
			*dst = &n
		}
	}
	pct := func(dst **float64) {
		if n, ok := parsePercent(v); ok {
			*dst = &n
		}
	}
	switch col {
	case "name":
		r.Name = safetext.Clip(v, MaxFieldBytes)
	case "size":
		size(&r.SizeBytes)
	case "allocated", "alloc":
		size(&r.AllocBytes)
	case "free":
		size(&r.FreeBytes)
	case "fragmentation", "frag":
		pct(&r.FragmentationPercent)
	case "capacity", "cap":
		pct(&r.CapacityPercent)
	case "dedupratio", "dedup":
		if n, ok := parseRatio(v); ok {
			r.Dedup = &n
		}
	case "health":
		if v != "-" {
			r.Health = safetext.Clip(v, MaxFieldBytes)
		}
	}
}
