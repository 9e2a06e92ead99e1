package zfs

import (
	"fmt"
	"time"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// Health is a pool's verdict.
type Health string

// Verdicts.
const (
	HealthOK      Health = "ok"
	HealthWarning Health = "warning"
	HealthFailing Health = "failing"
	HealthUnknown Health = "unknown"
)

// Verdict is a pool's health and why.
type Verdict struct {
	Health Health `json:"health"`
	// Reasons say why, worst first, in words a person can act on. Empty when Health is HealthOK.
	Reasons []string `json:"reasons,omitempty"`
}

// Thresholds of AssessPool.
const (
	CapacityWarningPercent = 80
	CapacityFailingPercent = 90
	// ScrubMaxAge is how old the last completed scrub may be before the pool is a warning.
	ScrubMaxAge = 35 * 24 * time.Hour
)

// AssessPool judges a pool from its status and, when known, its `zpool list` row (for capacity; nil
// otherwise). now is the current time, for the age of the last scrub.
//
// Failing: the pool is DEGRADED, FAULTED, UNAVAIL, REMOVED or SUSPENDED (one more fault can lose data, or
// data is already unreachable), any vdev has checksum errors, the pool has data errors, the last scan found
// errors, capacity at or above CapacityFailingPercent. Warning: the pool is OFFLINE (an administrator's
// choice, not a fault), read or write errors on a vdev, capacity at or above CapacityWarningPercent, a
// resilver in progress, no completed scrub within ScrubMaxAge. A pool with no state is unknown.
func AssessPool(p *Pool, usage *PoolUsage, now time.Time) Verdict {
	if p == nil || p.State == "" {
		return Verdict{Health: HealthUnknown, Reasons: []string{"zpool did not report the pool's state"}}
	}
	var failing, warning []string
	switch p.State {
	case "ONLINE":
	case "OFFLINE":
		warning = append(warning, "the pool is OFFLINE: import or online it when it should be in use")
	case "DEGRADED":
		failing = append(failing, "the pool is DEGRADED: a device failed and redundancy is reduced; replace it (zpool replace) before another one fails")
	default:
		failing = append(failing, fmt.Sprintf("the pool is %s: its data is not fully reachable; %s", p.State, actionOr(p)))
	}
	var cksum, rw uint64
	var cksumVdevs, rwVdevs []string
	p.Walk(func(_ string, v *Vdev) {
		if v.Checksum > 0 {
			cksum = addSat(cksum, v.Checksum)
			cksumVdevs = appendName(cksumVdevs, v.Name)
		}
		if v.Read > 0 || v.Write > 0 {
			rw = addSat(rw, addSat(v.Read, v.Write))
			rwVdevs = appendName(rwVdevs, v.Name)
		}
	})
	if cksum > 0 {
		failing = append(failing, fmt.Sprintf("%d checksum errors on %s: data was found corrupt; check the disk and cabling, scrub, then zpool clear", cksum, names(cksumVdevs)))
	}
	if p.DataErrors != nil && *p.DataErrors > 0 {
		failing = append(failing, fmt.Sprintf("%d data errors: files are damaged; list them with zpool status -v and restore them from backup", *p.DataErrors))
	}
	if s := p.Scan; s != nil && s.State == ScanFinished && s.Errors != nil && *s.Errors > 0 {
		failing = append(failing, fmt.Sprintf("the last %s found %d errors: check zpool status -v and the disks", s.Function, *s.Errors))
	}
	if rw > 0 {
		warning = append(warning, fmt.Sprintf("%d read/write errors on %s: check the disk's SMART data and its cabling", rw, names(rwVdevs)))
	}
	if usage != nil && usage.CapacityPercent != nil {
		switch c := *usage.CapacityPercent; {
		case c >= CapacityFailingPercent:
			failing = append(failing, fmt.Sprintf("the pool is %.0f%% full: free space or add capacity now; ZFS slows down and can stop writing when full", c))
		case c >= CapacityWarningPercent:
			warning = append(warning, fmt.Sprintf("the pool is %.0f%% full: plan to free space or add capacity", c))
		}
	}
	warning = append(warning, scrubReasons(p.Scan, now)...)
	switch {
	case len(failing) > 0:
		return Verdict{Health: HealthFailing, Reasons: append(failing, warning...)}
	case len(warning) > 0:
		return Verdict{Health: HealthWarning, Reasons: warning}
	}
	return Verdict{Health: HealthOK}
}

func scrubReasons(s *Scan, now time.Time) []string {
	switch {
	case s == nil:
		return []string{"no scrub on record: start one (zpool scrub) and schedule it monthly"}
	case s.Function == ScanResilver && (s.State == ScanInProgress || s.State == ScanPaused):
		return []string{"a resilver is in progress: redundancy is reduced until it finishes; avoid removing disks"}
	case s.Function == ScanScrub && (s.State == ScanInProgress || s.State == ScanPaused):
		return nil // a scrub is under way: its age is being fixed
	case s.Function == ScanScrub && s.State == ScanFinished && s.End != nil:
		if age := now.Sub(*s.End); age > ScrubMaxAge {
			return []string{fmt.Sprintf("the last scrub finished %d days ago: run one (zpool scrub) and schedule it monthly", int(age.Hours()/24))}
		}
		return nil
	case s.State == ScanCanceled:
		return []string{fmt.Sprintf("the last %s was canceled and no completed scrub is on record: run one (zpool scrub)", s.Function)}
	}
	// A finished resilver hides the last scrub: zpool status shows only the latest scan.
	return []string{"no completed scrub on record (the last scan was a resilver): run a scrub to verify the pool"}
}

func actionOr(p *Pool) string {
	if p.Action != "" {
		return "zpool says: " + safetext.Clip(p.Action, 300)
	}
	return "check the devices and zpool status"
}

// appendName adds a vdev name to a list shown in a reason, keeping it short.
func appendName(list []string, name string) []string {
	if len(list) < 4 {
		return append(list, safetext.Clip(name, 128))
	}
	if len(list) == 4 {
		return append(list, "...")
	}
	return list
}

func names(list []string) string {
	out := ""
	for i, n := range list {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}
