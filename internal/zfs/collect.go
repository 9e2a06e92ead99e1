package zfs

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// Collection is what CollectScript printed, parsed.
type Collection struct {
	// Absent is set when the device has no zpool command: the "not installed" state, not an error.
	Absent bool `json:"absent,omitempty"`
	// StatusFormat is "json" (zpool status -j) or "text" (the -p fallback).
	StatusFormat string      `json:"status_format,omitempty"`
	Pools        []Pool      `json:"pools"`
	Usage        []PoolUsage `json:"usage"`
	// DatasetsKnown is false when the zfs command is missing; Datasets and Snapshots are then empty.
	DatasetsKnown bool              `json:"datasets_known"`
	Datasets      []Dataset         `json:"datasets"`
	Snapshots     []SnapshotSummary `json:"snapshots"`
}

// ParseCollect splits CollectScript's output into its sections and parses each. A section that does not parse
// fails the whole collection: a partial pool list would read as pools that disappeared.
func ParseCollect(b []byte) (*Collection, error) {
	sections := map[string][]byte{}
	var order []string
	var cur string
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if t := strings.TrimSpace(string(line)); strings.HasPrefix(t, "@@") && !strings.ContainsAny(t, " \t") {
			cur = strings.TrimPrefix(t, "@@")
			order = append(order, cur)
			sections[cur] = []byte{}
			continue
		}
		if cur != "" {
			sections[cur] = append(sections[cur], line...)
		}
	}
	if len(order) == 0 {
		// Not the script's output at all (it did not run): no sections must not read as "every pool is gone".
		return nil, clipError(fmt.Errorf("zfs collection printed no sections: %q", safetext.Clip(string(b), 200)))
	}
	c := &Collection{Pools: []Pool{}, Usage: []PoolUsage{}, Datasets: []Dataset{}, Snapshots: []SnapshotSummary{}}
	if _, ok := sections["absent"]; ok {
		c.Absent = true
		return c, nil
	}
	loc := parseOffset(string(sections["tz"]))
	var err error
	if j, ok := sections["status-json"]; ok {
		c.StatusFormat = "json"
		if c.Pools, err = ParseStatusJSON(j, loc); err != nil {
			return nil, err
		}
	} else if t, ok := sections["status-text"]; ok {
		c.StatusFormat = "text"
		if c.Pools, err = ParseStatus(t, loc); err != nil {
			return nil, err
		}
	}
	if c.Pools == nil {
		c.Pools = []Pool{}
	}
	if l, ok := sections["list"]; ok {
		if c.Usage, err = ParseList(l); err != nil {
			return nil, err
		}
	}
	if d, ok := sections["datasets"]; ok {
		c.DatasetsKnown = true
		if c.Datasets, err = ParseDatasets(d); err != nil {
			return nil, err
		}
	}
	if s, ok := sections["snapshots"]; ok {
		if c.Snapshots, err = ParseSnapshotSummary(s); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parseOffset turns `date +%z` ("+0100") into a fixed zone; anything else is UTC.
func parseOffset(s string) *time.Location {
	s = strings.TrimSpace(s)
	if len(s) != 5 || (s[0] != '+' && s[0] != '-') {
		return time.UTC
	}
	h, err1 := strconv.Atoi(s[1:3])
	m, err2 := strconv.Atoi(s[3:5])
	if err1 != nil || err2 != nil || h > 14 || m > 59 {
		return time.UTC
	}
	off := h*3600 + m*60
	if s[0] == '-' {
		off = -off
	}
	return time.FixedZone(s, off)
}

// ParseSnapshotSummary parses the per-dataset snapshot summary CollectScript computes on the device: one
// tab-separated line per dataset with count, used bytes, oldest name and creation, newest name and creation
// (Unix seconds). Malformed lines are skipped; more than MaxDatasets lines fail with ErrLimit. The result is
// sorted by dataset name.
func ParseSnapshotSummary(b []byte) ([]SnapshotSummary, error) {
	out := []SnapshotSummary{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	for sc.Scan() {
		f := strings.Split(strings.TrimRight(sc.Text(), "\r"), "\t")
		if len(f) != 7 || f[0] == "" {
			continue
		}
		count, err1 := strconv.ParseUint(f[1], 10, 64)
		used, ok := parseSize(f[2])
		oldest, err2 := strconv.ParseInt(f[4], 10, 64)
		newest, err3 := strconv.ParseInt(f[6], 10, 64)
		if err1 != nil || !ok || err2 != nil || err3 != nil || count == 0 || oldest < 0 || newest < 0 ||
			oldest > 1<<40 || newest > 1<<40 {
			continue
		}
		if len(out) == MaxDatasets {
			return nil, tooMany("datasets with snapshots", MaxDatasets)
		}
		out = append(out, SnapshotSummary{
			Dataset: safetext.Clip(f[0], MaxFieldBytes), Count: count, UsedBytes: used,
			Oldest: safetext.Clip(f[3], MaxFieldBytes), OldestCreated: time.Unix(oldest, 0).UTC(),
			Newest: safetext.Clip(f[5], MaxFieldBytes), NewestCreated: time.Unix(newest, 0).UTC(),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, clipError(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dataset < out[j].Dataset })
	return out, nil
}
