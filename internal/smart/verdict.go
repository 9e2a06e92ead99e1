package smart

import (
	"fmt"
	"strings"
)

// Health is a drive's verdict.
type Health string

const (
	// HealthOK means nothing in the drive's SMART data calls for action.
	HealthOK Health = "ok"
	// HealthWarning means the drive shows early signs of wear or trouble: watch it, check cabling, have a
	// replacement ready.
	HealthWarning Health = "warning"
	// HealthFailing means the drive itself or its counters say it is failing: back up and replace it.
	HealthFailing Health = "failing"
	// HealthUnknown means SMART could not be read (standby, no permission, no SMART).
	HealthUnknown Health = "unknown"
)

// Verdict is a drive's health and why.
type Verdict struct {
	Health Health `json:"health"`
	// Reasons say why, worst first, in words a person can act on. Empty when Health is HealthOK.
	Reasons []string `json:"reasons,omitempty"`
}

// WearWarningPercent is the NVMe percentage_used at which a drive is reported as worn out.
const WearWarningPercent = 90

// Assess judges cur. prev is the previous reading of the same drive (same serial), or nil; with it, a key
// counter that rose since then is a warning even when the drive's own assessment says PASSED.
//
// Failing: the overall SMART assessment failed, smartctl's exit bits 3 (disk failing) or 4 (prefail
// attribute at or below threshold), an NVMe critical warning, NVMe spare below its threshold.
// Warning: any key counter above zero or rising, NVMe media errors, wear at or above WearWarningPercent,
// attributes below threshold in the past (bit 5), errors in the error or self-test logs (bits 6 and 7).
// A drive whose assessment says PASSED is still a warning when its counters say otherwise: that is the case
// users of other tools complain about.
func Assess(cur *Drive, prev *Drive) Verdict {
	if cur == nil {
		return Verdict{Health: HealthUnknown, Reasons: []string{"no SMART reading"}}
	}
	if cur.State != StateOK {
		return Verdict{Health: HealthUnknown, Reasons: []string{stateReason(cur)}}
	}
	var failing, warning []string
	if cur.SMARTPassed != nil && !*cur.SMARTPassed {
		failing = append(failing, "SMART overall health self-assessment FAILED: back up the data and replace the drive")
	}
	if cur.Exit.DiskFailing && (cur.SMARTPassed == nil || *cur.SMARTPassed) {
		failing = append(failing, "smartctl reports the disk is failing: back up the data and replace the drive")
	}
	if cur.Exit.PrefailBelowThreshold {
		failing = append(failing, "pre-failure attributes are at or below their thresholds"+failedList(cur, "now")+
			": the drive predicts its own failure; back up the data and replace it")
	}
	if n := cur.NVMe; n != nil {
		if cw := deref(n.CriticalWarning); cw != 0 {
			failing = append(failing, fmt.Sprintf("NVMe critical warning 0x%02x (%s): back up the data and replace the drive",
				cw, criticalWarningText(cw)))
		}
		if n.AvailableSpare != nil && n.AvailableSpareThreshold != nil && *n.AvailableSpare < *n.AvailableSpareThreshold {
			failing = append(failing, fmt.Sprintf("available spare %d%% is below the drive's threshold of %d%%: replace the drive",
				*n.AvailableSpare, *n.AvailableSpareThreshold))
		}
		if v := deref(n.MediaErrors); v > 0 {
			warning = append(warning, fmt.Sprintf("%d media and data integrity errors: the drive hit unrecovered data errors; check the data and plan a replacement", v))
		}
		if v := deref(n.PercentageUsed); v >= WearWarningPercent {
			warning = append(warning, fmt.Sprintf("%d%% of rated life used: plan a replacement", v))
		}
	}
	if a := cur.ATA; a != nil {
		for _, c := range ataCounters {
			if v := deref(c.get(a)); v > 0 {
				warning = append(warning, fmt.Sprintf("%d %s (attribute %d): %s", v, c.what, c.id, c.action))
			}
		}
	}
	if s := cur.SCSI; s != nil {
		if v := deref(s.GrownDefects); v > 0 {
			warning = append(warning, fmt.Sprintf("%d grown defects (blocks remapped since manufacture): watch whether the number grows and plan a replacement", v))
		}
		if v := deref(s.UncorrectedErrors); v > 0 {
			warning = append(warning, fmt.Sprintf("%d uncorrected read/write/verify errors: check the data and plan a replacement", v))
		}
	}
	warning = append(warning, risen(cur, prev)...)
	if cur.Exit.PastBelowThreshold {
		warning = append(warning, "attributes were at or below their thresholds in the past"+failedList(cur, "past")+": run a long self-test")
	}
	if cur.Exit.ErrorLog {
		n := ""
		if cur.ErrorLogCount != nil {
			n = fmt.Sprintf(" (%d errors)", *cur.ErrorLogCount)
		}
		warning = append(warning, "the drive's error log has entries"+n+": read it with smartctl -l error and run a long self-test")
	}
	if cur.Exit.SelfTestErrors {
		warning = append(warning, "the drive's self-test log records failed tests: back up the data and consider replacing the drive")
	}
	switch {
	case len(failing) > 0:
		return Verdict{Health: HealthFailing, Reasons: append(failing, warning...)}
	case len(warning) > 0:
		return Verdict{Health: HealthWarning, Reasons: warning}
	}
	return Verdict{Health: HealthOK}
}

type ataCounter struct {
	id     int
	what   string
	action string
	get    func(*ATACounters) *uint64
}

var ataCounters = []ataCounter{
	{5, "reallocated sectors", "the drive has remapped bad sectors; watch whether the number grows and plan a replacement",
		func(a *ATACounters) *uint64 { return a.Reallocated }},
	{187, "reported uncorrectable errors", "the drive could not correct read errors; check the data and plan a replacement",
		func(a *ATACounters) *uint64 { return a.ReportedUncorrect }},
	{188, "command timeouts", "check the cable, power and controller",
		func(a *ATACounters) *uint64 { return a.CommandTimeout }},
	{197, "pending sectors", "unreadable sectors wait to be remapped; run a long self-test and plan a replacement",
		func(a *ATACounters) *uint64 { return a.PendingSectors }},
	{198, "offline uncorrectable sectors", "run a long self-test and plan a replacement",
		func(a *ATACounters) *uint64 { return a.OfflineUncorrectable }},
	{199, "interface CRC errors", "check or replace the SATA cable and backplane connection",
		func(a *ATACounters) *uint64 { return a.UDMACRCErrors }},
}

// risen lists the key counters that grew since prev. A counter already above zero is reported by Assess
// anyway; this adds the growth, which is what tells an old scar from an active failure.
func risen(cur, prev *Drive) []string {
	if prev == nil || prev.State != StateOK {
		return nil
	}
	var out []string
	rose := func(what string, c, p *uint64) {
		if c != nil && p != nil && *c > *p {
			out = append(out, fmt.Sprintf("%s rose from %d to %d since the last reading: the drive is getting worse", what, *p, *c))
		}
	}
	if cur.ATA != nil && prev.ATA != nil {
		for _, c := range ataCounters {
			rose(fmt.Sprintf("%s (attribute %d)", c.what, c.id), c.get(cur.ATA), c.get(prev.ATA))
		}
	}
	if cur.NVMe != nil && prev.NVMe != nil {
		rose("NVMe media errors", cur.NVMe.MediaErrors, prev.NVMe.MediaErrors)
	}
	if cur.SCSI != nil && prev.SCSI != nil {
		rose("grown defects", cur.SCSI.GrownDefects, prev.SCSI.GrownDefects)
		rose("uncorrected errors", cur.SCSI.UncorrectedErrors, prev.SCSI.UncorrectedErrors)
	}
	// Only the ATA error log: NVMe's error information log also counts harmless rejected admin commands
	// (the OS probing optional features), so its growth says nothing about the media.
	if cur.ATA != nil {
		rose("error log entries", cur.ErrorLogCount, prev.ErrorLogCount)
	}
	return out
}

func failedList(d *Drive, when string) string {
	if d.ATA == nil {
		return ""
	}
	var names []string
	for _, f := range d.ATA.FailedAttributes {
		if strings.HasSuffix(f, " "+when) {
			names = append(names, strings.TrimSuffix(f, " "+when))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " (" + strings.Join(names, ", ") + ")"
}

// criticalWarningText names the bits of the NVMe Critical Warning byte (NVMe base specification, SMART /
// Health Information log, byte 0).
func criticalWarningText(cw uint64) string {
	names := []string{
		"available spare below threshold",
		"temperature outside its thresholds",
		"reliability degraded by media or internal errors",
		"media placed in read-only mode",
		"volatile memory backup device failed",
		"persistent memory region unreliable",
	}
	var out []string
	for i, n := range names {
		if cw&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	if cw>>len(names) != 0 {
		out = append(out, "reserved bits set")
	}
	return strings.Join(out, ", ")
}

func stateReason(d *Drive) string {
	switch d.State {
	case StateStandby:
		return "the drive is in standby; SMART was not read so as not to spin it up"
	case StatePermissionDenied:
		return "smartctl lacks permission to read the drive: run it as root (enable sudo for this device)"
	case StateUnsupported:
		return "the device reports no SMART data (virtual disk, RAID volume or unknown type)"
	case StateUSBBridge:
		return "a USB bridge hides the drive's SMART data: set its -d type (e.g. sat) if the bridge supports pass-through"
	case StateOpenFailed:
		return "smartctl could not open the device: " + d.Message
	}
	return "smartctl could not read the drive: " + d.Message
}
