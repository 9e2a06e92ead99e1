package zfs

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// DatasetColumns is the -o argument ParseDatasets expects:
// `zfs list -Hp -o name,used,avail,refer,compressratio,mountpoint -t filesystem,volume`.
const DatasetColumns = "name,used,avail,refer,compressratio,mountpoint"

// Dataset is one filesystem or volume.
type Dataset struct {
	Name       string  `json:"name"`
	UsedBytes  *uint64 `json:"used_bytes,omitempty"`
	AvailBytes *uint64 `json:"avail_bytes,omitempty"`
	// ReferBytes is the data the dataset references (shared with snapshots or not).
	ReferBytes *uint64 `json:"refer_bytes,omitempty"`
	// CompressRatio is the achieved compression ratio (1.00 = none).
	CompressRatio *float64 `json:"compress_ratio,omitempty"`
	// Mountpoint is the path, "none", "legacy", or "" for volumes ("-").
	Mountpoint string `json:"mountpoint,omitempty"`
}

// ParseDatasets parses `zfs list -Hp -o` DatasetColumns: one tab-separated line per dataset. Lines with too
// few fields are skipped; more than MaxDatasets datasets fail with ErrLimit.
func ParseDatasets(b []byte) ([]Dataset, error) {
	out := []Dataset{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 6 || f[0] == "" {
			continue
		}
		if len(out) == MaxDatasets {
			return nil, tooMany("datasets", MaxDatasets)
		}
		d := Dataset{Name: safetext.Clip(f[0], MaxFieldBytes)}
		for i, dst := range []**uint64{&d.UsedBytes, &d.AvailBytes, &d.ReferBytes} {
			if n, ok := parseSize(f[1+i]); ok {
				*dst = &n
			}
		}
		if r, ok := parseRatio(f[4]); ok {
			d.CompressRatio = &r
		}
		if mp := strings.TrimRight(f[5], "\r"); mp != "-" {
			d.Mountpoint = safetext.Clip(mp, MaxFieldBytes)
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		return nil, clipError(err)
	}
	return out, nil
}
