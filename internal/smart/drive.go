package smart

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// Drive is one drive as `smartctl --json --info --health --attributes --log=error` reports it. Numbers that
// smartctl did not report are nil, so "not reported" and zero stay apart.
type Drive struct {
	// Device is the device path smartctl opened, e.g. /dev/sda.
	Device string `json:"device"`
	// Type is smartctl's device type (the -d value): sat, nvme, scsi, sat+megaraid,0...
	Type string `json:"type,omitempty"`
	// Protocol is ATA, NVMe or SCSI.
	Protocol string `json:"protocol,omitempty"`
	// State says whether the drive could be read; only StateOK drives carry health data.
	State State `json:"state"`
	// Message is smartctl's own explanation when State is not StateOK.
	Message string `json:"message,omitempty"`
	// Exit is smartctl's exit status, decoded.
	Exit ExitStatus `json:"exit"`

	Model  string `json:"model,omitempty"`
	Serial string `json:"serial,omitempty"`
	// WWN is the World Wide Name as the kernel names it in /dev/disk/by-id/wwn-0x...: "0x" and 16 hex digits.
	WWN      string `json:"wwn,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	// CapacityBytes is the user capacity in bytes.
	CapacityBytes *uint64 `json:"capacity_bytes,omitempty"`
	// RotationRate is in revolutions per minute; 0 means a solid-state drive.
	RotationRate *int64 `json:"rotation_rate,omitempty"`
	// TemperatureC is the current temperature in degrees Celsius. The verdict ignores it: temperature limits
	// are alert rules, which the user tunes.
	TemperatureC *int64  `json:"temperature_c,omitempty"`
	PowerOnHours *uint64 `json:"power_on_hours,omitempty"`
	PowerCycles  *uint64 `json:"power_cycles,omitempty"`
	// SMARTAvailable is false when the device says it has no SMART capability.
	SMARTAvailable *bool `json:"smart_available,omitempty"`
	// SMARTPassed is the overall health self-assessment (smart_status.passed).
	SMARTPassed *bool `json:"smart_passed,omitempty"`
	// ErrorLogCount is the number of errors the drive logged over its life (ATA error log count, NVMe error
	// information log entries).
	ErrorLogCount *uint64 `json:"error_log_count,omitempty"`

	ATA  *ATACounters  `json:"ata,omitempty"`
	NVMe *NVMeHealth   `json:"nvme,omitempty"`
	SCSI *SCSICounters `json:"scsi,omitempty"`

	// Truncated lists fields cut to a limit ("text" when a string was cut to MaxFieldBytes).
	Truncated []string `json:"truncated,omitempty"`
}

// ATACounters are the raw values of the ATA attributes that predict failure best (Backblaze's and Google's
// drive studies): any of them above zero deserves attention.
type ATACounters struct {
	// Reallocated is attribute 5, Reallocated_Sector_Ct: sectors remapped to spares.
	Reallocated *uint64 `json:"reallocated_sectors,omitempty"`
	// ReportedUncorrect is attribute 187: errors ECC could not correct.
	ReportedUncorrect *uint64 `json:"reported_uncorrectable,omitempty"`
	// CommandTimeout is attribute 188: aborted operations due to timeout. Some vendors pack several counters
	// into this raw value; it is kept as smartctl reports it.
	CommandTimeout *uint64 `json:"command_timeout,omitempty"`
	// PendingSectors is attribute 197, Current_Pending_Sector: unstable sectors waiting to be remapped.
	PendingSectors *uint64 `json:"pending_sectors,omitempty"`
	// OfflineUncorrectable is attribute 198: sectors that failed the offline scan.
	OfflineUncorrectable *uint64 `json:"offline_uncorrectable,omitempty"`
	// UDMACRCErrors is attribute 199: transfer errors between drive and host, usually a cable or backplane.
	UDMACRCErrors *uint64 `json:"udma_crc_errors,omitempty"`
	// FailedAttributes lists attributes whose normalised value is or was at or below threshold, as
	// "NAME (ID) now|past", at most MaxFailedAttributes.
	FailedAttributes []string `json:"failed_attributes,omitempty"`
}

// NVMeHealth is the part of the NVMe SMART / Health Information log the verdict uses.
type NVMeHealth struct {
	// CriticalWarning is the bit field of the log's Critical Warning byte; non-zero means failing.
	CriticalWarning         *uint64 `json:"critical_warning,omitempty"`
	AvailableSpare          *uint64 `json:"available_spare,omitempty"`
	AvailableSpareThreshold *uint64 `json:"available_spare_threshold,omitempty"`
	// PercentageUsed is the vendor's estimate of life used; it can exceed 100.
	PercentageUsed  *uint64 `json:"percentage_used,omitempty"`
	MediaErrors     *uint64 `json:"media_errors,omitempty"`
	UnsafeShutdowns *uint64 `json:"unsafe_shutdowns,omitempty"`
}

// SCSICounters are the SCSI/SAS error counters the verdict uses.
type SCSICounters struct {
	// GrownDefects is the grown defect list length: blocks remapped since manufacture.
	GrownDefects *uint64 `json:"grown_defects,omitempty"`
	// UncorrectedErrors is the sum of total_uncorrected_errors over read, write and verify.
	UncorrectedErrors *uint64 `json:"uncorrected_errors,omitempty"`
}

// jsonDrive is the subset of smartctl's JSON that Drive is made from.
type jsonDrive struct {
	Smartctl jsonSmartctl `json:"smartctl"`
	Device   *struct {
		Name     string `json:"name"`
		InfoName string `json:"info_name"`
		Type     string `json:"type"`
		Protocol string `json:"protocol"`
	} `json:"device"`
	ModelName     string `json:"model_name"`
	SCSIModelName string `json:"scsi_model_name"`
	SCSIVendor    string `json:"scsi_vendor"`
	SCSIProduct   string `json:"scsi_product"`
	Vendor        string `json:"vendor"`
	Product       string `json:"product"`
	Serial        string `json:"serial_number"`
	WWN           *struct {
		NAA num `json:"naa"`
		OUI num `json:"oui"`
		ID  num `json:"id"`
	} `json:"wwn"`
	LogicalUnitID string `json:"logical_unit_id"`
	Firmware      string `json:"firmware_version"`
	SCSIRevision  string `json:"scsi_revision"`
	Revision      string `json:"revision"`
	UserCapacity  *struct {
		Bytes num `json:"bytes"`
	} `json:"user_capacity"`
	NVMeTotalCapacity num  `json:"nvme_total_capacity"`
	RotationRate      inum `json:"rotation_rate"`
	Temperature       *struct {
		Current inum `json:"current"`
	} `json:"temperature"`
	PowerOnTime *struct {
		Hours num `json:"hours"`
	} `json:"power_on_time"`
	PowerCycleCount num `json:"power_cycle_count"`
	SCSIStartStop   *struct {
		Cycles num `json:"accumulated_start_stop_cycles"`
	} `json:"scsi_start_stop_cycle_counter"`
	SmartSupport *struct {
		Available jbool `json:"available"`
	} `json:"smart_support"`
	SmartStatus *struct {
		Passed jbool `json:"passed"`
	} `json:"smart_status"`
	ATAAttributes *struct {
		Table []struct {
			ID         num    `json:"id"`
			Name       string `json:"name"`
			WhenFailed string `json:"when_failed"`
			Raw        struct {
				Value num `json:"value"`
			} `json:"raw"`
		} `json:"table"`
	} `json:"ata_smart_attributes"`
	ATAErrorLog *struct {
		Summary *struct {
			Count num `json:"count"`
		} `json:"summary"`
		Extended *struct {
			Count num `json:"count"`
		} `json:"extended"`
	} `json:"ata_smart_error_log"`
	NVMeLog *struct {
		CriticalWarning         num  `json:"critical_warning"`
		AvailableSpare          num  `json:"available_spare"`
		AvailableSpareThreshold num  `json:"available_spare_threshold"`
		PercentageUsed          num  `json:"percentage_used"`
		MediaErrors             num  `json:"media_errors"`
		UnsafeShutdowns         num  `json:"unsafe_shutdowns"`
		PowerCycles             num  `json:"power_cycles"`
		PowerOnHours            num  `json:"power_on_hours"`
		Temperature             inum `json:"temperature"`
		ErrLogEntries           num  `json:"num_err_log_entries"`
	} `json:"nvme_smart_health_information_log"`
	SCSIGrownDefects num `json:"scsi_grown_defect_list"`
	SCSIErrorLog     map[string]struct {
		Uncorrected num `json:"total_uncorrected_errors"`
	} `json:"scsi_error_counter_log"`
}

// ParseDrive parses one drive's `smartctl --json --info --health --attributes --log=error --nocheck=standby`
// output. exitCode is the process's exit status, used when the JSON lacks its own. Output that is not
// smartctl JSON at all (an old smartctl without --json, a shell error) is an error; every state smartctl
// explains (standby, permission denied, no SMART, USB bridge) is a Drive with that State.
func ParseDrive(b []byte, exitCode int) (*Drive, error) {
	var raw jsonDrive
	if err := unmarshal(b, &raw); err != nil {
		if msg, ok := sudoRefused(b); ok {
			return &Drive{State: StatePermissionDenied, Message: msg, Exit: DecodeExit(exitCode)}, nil
		}
		return nil, clipError(fmt.Errorf("parse smartctl output: %w", err))
	}
	if raw.Smartctl.ExitStatus.ok {
		exitCode = int(raw.Smartctl.ExitStatus.v)
	}
	d := &Drive{Exit: DecodeExit(exitCode)}
	if raw.Device != nil {
		d.Device = d.clip(raw.Device.Name)
		d.Type = d.clip(raw.Device.Type)
		d.Protocol = d.clip(raw.Device.Protocol)
	}
	d.Model = d.clip(firstNonEmpty(raw.ModelName, raw.SCSIModelName, join(raw.SCSIVendor, raw.SCSIProduct), join(raw.Vendor, raw.Product)))
	d.Serial = d.clip(strings.TrimSpace(raw.Serial))
	d.Firmware = d.clip(firstNonEmpty(raw.Firmware, raw.SCSIRevision, raw.Revision))
	if w := raw.WWN; w != nil && w.NAA.ok && w.OUI.ok && w.ID.ok && w.NAA.v < 1<<4 && w.OUI.v < 1<<24 && w.ID.v < 1<<36 {
		d.WWN = fmt.Sprintf("0x%016x", w.NAA.v<<60|w.OUI.v<<36|w.ID.v)
	} else if id := strings.TrimSpace(raw.LogicalUnitID); strings.HasPrefix(id, "0x") {
		d.WWN = d.clip(strings.ToLower(id))
	}
	if raw.UserCapacity != nil && raw.UserCapacity.Bytes.ok {
		d.CapacityBytes = raw.UserCapacity.Bytes.ptr()
	} else {
		d.CapacityBytes = raw.NVMeTotalCapacity.ptr()
	}
	d.RotationRate = raw.RotationRate.ptr()
	if d.RotationRate == nil && raw.NVMeLog != nil {
		zero := int64(0) // NVMe drives are solid-state; smartctl prints no rotation rate for them.
		d.RotationRate = &zero
	}
	if raw.Temperature != nil {
		d.TemperatureC = raw.Temperature.Current.ptr()
	}
	if raw.PowerOnTime != nil {
		d.PowerOnHours = raw.PowerOnTime.Hours.ptr()
	}
	d.PowerCycles = raw.PowerCycleCount.ptr()
	if d.PowerCycles == nil && raw.SCSIStartStop != nil {
		d.PowerCycles = raw.SCSIStartStop.Cycles.ptr()
	}
	if raw.SmartSupport != nil {
		d.SMARTAvailable = raw.SmartSupport.Available.ptr()
	}
	if raw.SmartStatus != nil {
		d.SMARTPassed = raw.SmartStatus.Passed.ptr()
	}
	if raw.ATAErrorLog != nil {
		if raw.ATAErrorLog.Extended != nil && raw.ATAErrorLog.Extended.Count.ok {
			d.ErrorLogCount = raw.ATAErrorLog.Extended.Count.ptr()
		} else if raw.ATAErrorLog.Summary != nil {
			d.ErrorLogCount = raw.ATAErrorLog.Summary.Count.ptr()
		}
	}
	if raw.ATAAttributes != nil {
		d.ATA = d.ataCounters(&raw)
	}
	if l := raw.NVMeLog; l != nil {
		d.NVMe = &NVMeHealth{
			CriticalWarning: l.CriticalWarning.ptr(), AvailableSpare: l.AvailableSpare.ptr(),
			AvailableSpareThreshold: l.AvailableSpareThreshold.ptr(), PercentageUsed: l.PercentageUsed.ptr(),
			MediaErrors: l.MediaErrors.ptr(), UnsafeShutdowns: l.UnsafeShutdowns.ptr(),
		}
		d.PowerCycles = firstSet(d.PowerCycles, l.PowerCycles.ptr())
		d.PowerOnHours = firstSet(d.PowerOnHours, l.PowerOnHours.ptr())
		d.TemperatureC = firstSetInt(d.TemperatureC, l.Temperature.ptr())
		if d.ErrorLogCount == nil {
			d.ErrorLogCount = l.ErrLogEntries.ptr()
		}
	}
	if raw.SCSIGrownDefects.ok || raw.SCSIErrorLog != nil {
		s := &SCSICounters{GrownDefects: raw.SCSIGrownDefects.ptr()}
		for _, k := range []string{"read", "write", "verify"} {
			if v, ok := raw.SCSIErrorLog[k]; ok && v.Uncorrected.ok {
				sum := addSat(deref(s.UncorrectedErrors), v.Uncorrected.v)
				s.UncorrectedErrors = &sum
			}
		}
		d.SCSI = s
	}
	d.State, d.Message = classify(&raw, d)
	return d, nil
}

func (d *Drive) ataCounters(raw *jsonDrive) *ATACounters {
	a := &ATACounters{}
	for _, attr := range raw.ATAAttributes.Table {
		if !attr.ID.ok {
			continue
		}
		switch attr.ID.v {
		case 5:
			a.Reallocated = attr.Raw.Value.ptr()
		case 187:
			a.ReportedUncorrect = attr.Raw.Value.ptr()
		case 188:
			a.CommandTimeout = attr.Raw.Value.ptr()
		case 197:
			a.PendingSectors = attr.Raw.Value.ptr()
		case 198:
			a.OfflineUncorrectable = attr.Raw.Value.ptr()
		case 199:
			a.UDMACRCErrors = attr.Raw.Value.ptr()
		}
		// when_failed is "now", "past" or "" (never); anything else is not smartctl's and is ignored.
		if (attr.WhenFailed == "now" || attr.WhenFailed == "past") && len(a.FailedAttributes) < MaxFailedAttributes {
			a.FailedAttributes = append(a.FailedAttributes,
				fmt.Sprintf("%s (%d) %s", d.clip(attr.Name), attr.ID.v, attr.WhenFailed))
		}
	}
	return a
}

// classify derives the drive's State from smartctl's messages and exit bits. smartctl has no machine-readable
// reason for most of these states, so its message text (stable across 7.x, and printed in English regardless
// of locale) is what there is.
func classify(raw *jsonDrive, d *Drive) (State, string) {
	var errMsgs []string
	for _, m := range raw.Smartctl.Messages {
		if m.Severity == "error" || m.Severity == "information" || m.Severity == "" {
			errMsgs = append(errMsgs, m.String)
		}
	}
	msg := safetext.Clip(strings.TrimSpace(strings.Join(errMsgs, "; ")), MaxMessageBytes)
	has := func(subs ...string) bool {
		for _, m := range errMsgs {
			for _, s := range subs {
				if strings.Contains(m, s) {
					return true
				}
			}
		}
		return false
	}
	hasData := d.SMARTPassed != nil || d.ATA != nil || d.NVMe != nil || d.SCSI != nil
	switch {
	// --nocheck=standby: "Device is in STANDBY mode, exit(2)" (ATA) or "Device is in STANDBY (OS) mode,
	// exit(2)"; SLEEP and IDLE likewise with --nocheck=sleep/idle.
	case has("Device is in STANDBY", "Device is in SLEEP", "Device is in IDLE"):
		return StateStandby, msg
	case hasData:
		if d.SMARTAvailable != nil && !*d.SMARTAvailable && d.SMARTPassed == nil {
			return StateUnsupported, msg
		}
		return StateOK, ""
	case has("Permission denied", "Operation not permitted"):
		return StatePermissionDenied, msg
	case has("Unknown USB bridge", "Unsupported USB bridge"):
		return StateUSBBridge, msg
	case has("Unable to detect device type", "lacks SMART capability", "SMART support is: Unavailable",
		"Device does not support SMART", "SMART not supported"):
		return StateUnsupported, msg
	case d.SMARTAvailable != nil && !*d.SMARTAvailable:
		return StateUnsupported, msg
	case d.Exit.DeviceOpen:
		return StateOpenFailed, msg
	}
	if msg == "" {
		msg = "smartctl printed no drive data"
	}
	return StateError, msg
}

func (d *Drive) clip(s string) string {
	if len(s) <= MaxFieldBytes {
		return s
	}
	for _, t := range d.Truncated {
		if t == "text" {
			return safetext.Clip(s, MaxFieldBytes)
		}
	}
	d.Truncated = append(d.Truncated, "text")
	return safetext.Clip(s, MaxFieldBytes)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

func join(a, b string) string {
	return strings.TrimSpace(strings.TrimSpace(a) + " " + strings.TrimSpace(b))
}

func firstSet(a, b *uint64) *uint64 {
	if a != nil {
		return a
	}
	return b
}

func firstSetInt(a, b *int64) *int64 {
	if a != nil {
		return a
	}
	return b
}

func deref(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// num, inum and jbool are JSON numbers and booleans that stay unset when the value is missing, of the wrong type
// or out of range, instead of failing the whole drive or reading as zero.
type num struct {
	v  uint64
	ok bool
}

func (n *num) UnmarshalJSON(b []byte) error {
	if v, err := strconv.ParseUint(string(b), 10, 64); err == nil {
		n.v, n.ok = v, true
	}
	return nil
}

func (n num) ptr() *uint64 {
	if !n.ok {
		return nil
	}
	v := n.v
	return &v
}

type inum struct {
	v  int64
	ok bool
}

func (n *inum) UnmarshalJSON(b []byte) error {
	if v, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		n.v, n.ok = v, true
	}
	return nil
}

func (n inum) ptr() *int64 {
	if !n.ok {
		return nil
	}
	v := n.v
	return &v
}

type jbool struct {
	v, ok bool
}

func (f *jbool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		f.v, f.ok = true, true
	case "false":
		f.v, f.ok = false, true
	}
	return nil
}

func (f jbool) ptr() *bool {
	if !f.ok {
		return nil
	}
	v := f.v
	return &v
}

// sudoRefused recognises sudo's refusal to run smartctl without a password (`sudo -n`, the rule missing or
// not matching), which is the "permission denied" state and not a failed poll. It returns sudo's first line.
func sudoRefused(b []byte) (string, bool) {
	text := string(b[:min(len(b), 4096)])
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "sudo:") && (strings.Contains(line, "password is required") ||
			strings.Contains(line, "terminal is required") || strings.Contains(line, "not allowed") ||
			strings.Contains(line, "no tty present")) {
			return safetext.Clip(line, MaxMessageBytes), true
		}
	}
	return "", false
}
