package smart

// ExitStatus is smartctl's exit status decoded bit by bit (smartctl(8), RETURN VALUES). Several bits can be
// set at once; bits 0-2 say smartctl could not do its job, bits 3-7 describe the drive.
type ExitStatus struct {
	// Code is the raw status.
	Code int `json:"code"`
	// CommandLine (bit 0): the command line did not parse, or the device type could not be detected.
	CommandLine bool `json:"command_line,omitempty"`
	// DeviceOpen (bit 1): the device could not be opened, or with --nocheck it is in a low-power mode.
	DeviceOpen bool `json:"device_open,omitempty"`
	// CommandFailed (bit 2): a SMART or other command to the disk failed, or a data structure checksum error.
	CommandFailed bool `json:"command_failed,omitempty"`
	// DiskFailing (bit 3): SMART status check returned "DISK FAILING".
	DiskFailing bool `json:"disk_failing,omitempty"`
	// PrefailBelowThreshold (bit 4): prefail attributes are at or below their thresholds now.
	PrefailBelowThreshold bool `json:"prefail_below_threshold,omitempty"`
	// PastBelowThreshold (bit 5): SMART status is OK, but attributes were at or below threshold in the past.
	PastBelowThreshold bool `json:"past_below_threshold,omitempty"`
	// ErrorLog (bit 6): the device error log contains records of errors.
	ErrorLog bool `json:"error_log,omitempty"`
	// SelfTestErrors (bit 7): the device self-test log contains records of errors.
	SelfTestErrors bool `json:"self_test_errors,omitempty"`
}

// DecodeExit splits smartctl's exit status into its bits. Only the low 8 bits mean anything; a status
// outside 0-255 (a shell's 126/127 aside, which are not smartctl's) keeps its Code and sets nothing else.
func DecodeExit(code int) ExitStatus {
	e := ExitStatus{Code: code}
	if code < 0 || code > 255 {
		return e
	}
	e.CommandLine = code&(1<<0) != 0
	e.DeviceOpen = code&(1<<1) != 0
	e.CommandFailed = code&(1<<2) != 0
	e.DiskFailing = code&(1<<3) != 0
	e.PrefailBelowThreshold = code&(1<<4) != 0
	e.PastBelowThreshold = code&(1<<5) != 0
	e.ErrorLog = code&(1<<6) != 0
	e.SelfTestErrors = code&(1<<7) != 0
	return e
}
