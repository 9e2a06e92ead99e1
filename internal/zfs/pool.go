// Package zfs parses the output of zpool and zfs (OpenZFS on Linux, FreeBSD and illumos) into pools, vdev
// trees, scans, datasets and snapshot summaries, and judges a pool's health with reasons a person can act on.
// It is pure: functions take bytes (or a reader, for listings that can be huge) and know nothing about SSH or
// storage.
//
// The commands it is written for:
//
//	zpool status -j --json-int -p   (OpenZFS 2.3+; ParseStatusJSON; JSONRefused tells when to fall back)
//	zpool status -p                 (ParseStatus)
//	zpool list -Hp -o name,size,allocated,free,fragmentation,capacity,dedupratio,health   (ParseList)
//	zfs list -Hp -o name,used,avail,refer,compressratio,mountpoint -t filesystem,volume   (ParseDatasets)
//	zfs list -Hp -t snapshot -o name,used,creation   (SummarizeSnapshots, ListSnapshots; streamed)
package zfs

import (
	"time"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// Pool is one pool as `zpool status` describes it.
type Pool struct {
	Name string `json:"name"`
	// State is the pool's state as zpool prints it: ONLINE, DEGRADED, FAULTED, OFFLINE, UNAVAIL, REMOVED,
	// SUSPENDED.
	State string `json:"state"`
	// Status and Action are zpool's explanation and advice, lines joined; empty when all is well.
	Status string `json:"status,omitempty"`
	Action string `json:"action,omitempty"`
	// See is the message URL (ZFS-8000-xx).
	See string `json:"see,omitempty"`
	// Scan is the last or current scrub or resilver; nil when the pool never had one.
	Scan *Scan `json:"scan,omitempty"`
	// Root is the pool's root vdev with the data vdevs as children.
	Root *Vdev `json:"root,omitempty"`
	// Logs, Cache, Spares, Special and Dedup are the auxiliary vdev classes.
	Logs    []Vdev `json:"logs,omitempty"`
	Cache   []Vdev `json:"cache,omitempty"`
	Spares  []Vdev `json:"spares,omitempty"`
	Special []Vdev `json:"special,omitempty"`
	Dedup   []Vdev `json:"dedup,omitempty"`
	// Errors is zpool's "errors:" text, e.g. "No known data errors".
	Errors string `json:"errors,omitempty"`
	// DataErrors is the number of persistent data errors; nil when zpool did not say.
	DataErrors *uint64 `json:"data_errors,omitempty"`
	// Truncated lists what a limit cut (TruncatedVdevs, TruncatedText).
	Truncated []string `json:"truncated,omitempty"`

	vdevCount int
}

// Vdev is one node of a pool's vdev tree.
type Vdev struct {
	Name string `json:"name"`
	// State is ONLINE, DEGRADED, FAULTED, OFFLINE, UNAVAIL, REMOVED; AVAIL or INUSE for spares.
	State    string `json:"state,omitempty"`
	Read     uint64 `json:"read_errors"`
	Write    uint64 `json:"write_errors"`
	Checksum uint64 `json:"checksum_errors"`
	// Note is zpool's remark after the counters: "was /dev/...", "corrupted data", "(resilvering)".
	Note     string `json:"note,omitempty"`
	Children []Vdev `json:"children,omitempty"`
}

// ScanFunction is what the scan does.
type ScanFunction string

// Scan functions.
const (
	ScanScrub    ScanFunction = "scrub"
	ScanResilver ScanFunction = "resilver"
)

// ScanState is where the scan stands.
type ScanState string

// Scan states.
const (
	ScanInProgress ScanState = "in_progress"
	ScanFinished   ScanState = "finished"
	ScanCanceled   ScanState = "canceled"
	ScanPaused     ScanState = "paused"
)

// Scan is a pool's last or current scrub or resilver.
type Scan struct {
	Function ScanFunction `json:"function"`
	State    ScanState    `json:"state"`
	// Start is when the scan began (in progress: "since"; finished: end minus duration).
	Start *time.Time `json:"start,omitempty"`
	// End is when it finished or was canceled.
	End *time.Time `json:"end,omitempty"`
	// DurationSeconds is the run time zpool reports for a finished scan.
	DurationSeconds *int64 `json:"duration_seconds,omitempty"`
	// ProgressPercent is the share done, for a scan in progress.
	ProgressPercent *float64 `json:"progress_percent,omitempty"`
	// ScannedBytes, IssuedBytes and TotalBytes describe the progress of a running scan.
	ScannedBytes *uint64 `json:"scanned_bytes,omitempty"`
	IssuedBytes  *uint64 `json:"issued_bytes,omitempty"`
	TotalBytes   *uint64 `json:"total_bytes,omitempty"`
	// RepairedBytes is what the scrub repaired, or what the resilver rebuilt.
	RepairedBytes *uint64 `json:"repaired_bytes,omitempty"`
	// Errors is the number of errors the scan found, when reported.
	Errors *uint64 `json:"errors,omitempty"`
	// Text is zpool's scan text, lines joined.
	Text string `json:"text"`
}

// walk calls fn for v and every vdev below it.
func (v *Vdev) walk(fn func(*Vdev)) {
	fn(v)
	for i := range v.Children {
		v.Children[i].walk(fn)
	}
}

// Walk calls fn for every vdev of the pool: the root, its descendants and the auxiliary classes.
func (p *Pool) Walk(fn func(class string, v *Vdev)) {
	if p.Root != nil {
		p.Root.walk(func(v *Vdev) { fn("data", v) })
	}
	for _, c := range []struct {
		name  string
		vdevs []Vdev
	}{{"logs", p.Logs}, {"cache", p.Cache}, {"spares", p.Spares}, {"special", p.Special}, {"dedup", p.Dedup}} {
		for i := range c.vdevs {
			c.vdevs[i].walk(func(v *Vdev) { fn(c.name, v) })
		}
	}
}

func (p *Pool) noteTruncated(what string) {
	for _, w := range p.Truncated {
		if w == what {
			return
		}
	}
	p.Truncated = append(p.Truncated, what)
}

func (p *Pool) clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	p.noteTruncated(TruncatedText)
	return safetext.Clip(s, max)
}
