// Package smart parses smartctl's JSON output (smartmontools 7.0 and later) into drives with the fields the
// product keeps, decodes smartctl's exit status, and judges a drive's health with reasons a person can act on.
// It is pure: functions take bytes and an exit code and know nothing about SSH or storage.
//
// The collection commands it is written for are
//
//	smartctl --scan-open --json
//	smartctl --json --info --health --attributes --log=error --nocheck=standby [-d TYPE] DEV
package smart

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// State says whether a drive's SMART data could be read and, if not, why. Only StateOK carries data; the
// others are conditions to report, not failed polls.
type State string

const (
	// StateOK means smartctl read the drive.
	StateOK State = "ok"
	// StateStandby means the drive was spun down and smartctl left it asleep (--nocheck=standby).
	StateStandby State = "standby"
	// StatePermissionDenied means smartctl could not open the device for lack of privileges (it needs root
	// or CAP_SYS_RAWIO; run it through sudo -n).
	StatePermissionDenied State = "permission_denied"
	// StateUnsupported means the device has no SMART (virtual disks, some RAID volumes) or smartctl cannot
	// tell what it is.
	StateUnsupported State = "unsupported"
	// StateUSBBridge means a USB bridge hides the drive's SMART; a -d type for the bridge may reveal it.
	StateUSBBridge State = "usb_bridge"
	// StateOpenFailed means smartctl could not open the device for another reason (it vanished, I/O error).
	StateOpenFailed State = "open_failed"
	// StateError means smartctl refused the command or printed no drive data for a reason not listed above.
	StateError State = "error"
)

// ScanDevice is one entry of `smartctl --scan-open --json`.
type ScanDevice struct {
	// Name is the device path, e.g. /dev/sda.
	Name string `json:"name"`
	// Type is smartctl's device type, the value for -d (sat, nvme, scsi, sat+megaraid,0...).
	Type string `json:"type"`
	// Protocol is ATA, SCSI or NVMe.
	Protocol string `json:"protocol"`
	// InfoName is smartctl's description, e.g. "/dev/sda [SAT]".
	InfoName string `json:"info_name"`
	// OpenError is smartctl's message when --scan-open could not open the device (e.g. permission denied).
	OpenError string `json:"open_error,omitempty"`
}

// Scan is the result of `smartctl --scan-open --json`. An empty Devices with no error is the "no drives" state.
type Scan struct {
	Devices []ScanDevice `json:"devices"`
	// ExitStatus is smartctl's exit status as it reported it in its JSON.
	ExitStatus int `json:"exit_status"`
	// Messages are smartctl's own messages (errors and warnings), cut to MaxMessageBytes each, at most 8.
	Messages []string `json:"messages,omitempty"`
}

// NoDrives reports whether the scan found nothing to read: the "no drives" state, not a failure.
func (s *Scan) NoDrives() bool { return len(s.Devices) == 0 }

// ErrPermissionDenied reports that sudo refused to run smartctl: the "permission denied" state of a device
// whose drives could not be listed.
var ErrPermissionDenied = errors.New("smartctl: permission denied")

type jsonMessage struct {
	String   string `json:"string"`
	Severity string `json:"severity"`
}

type jsonSmartctl struct {
	Version    []int         `json:"version"`
	Messages   []jsonMessage `json:"messages"`
	ExitStatus inum          `json:"exit_status"`
}

type jsonScan struct {
	Smartctl jsonSmartctl `json:"smartctl"`
	Devices  []struct {
		Name     string `json:"name"`
		InfoName string `json:"info_name"`
		Type     string `json:"type"`
		Protocol string `json:"protocol"`
		OpenErr  string `json:"open_error"`
	} `json:"devices"`
}

// unmarshal decodes b into v. A value of the wrong type (a string where a number belongs, a negative count)
// leaves that field unset instead of failing the whole drive: encoding/json finishes the rest and returns the
// first such error, which is dropped here.
func unmarshal(b []byte, v any) error {
	err := json.Unmarshal(b, v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return nil
	}
	return err
}

// ParseScan parses `smartctl --scan-open --json` (or --scan). exitCode is the process's exit status, used when
// the JSON lacks its own.
func ParseScan(b []byte, exitCode int) (*Scan, error) {
	var raw jsonScan
	if err := unmarshal(b, &raw); err != nil {
		if msg, ok := sudoRefused(b); ok {
			return nil, clipError(fmt.Errorf("%w: %s", ErrPermissionDenied, msg))
		}
		return nil, clipError(fmt.Errorf("parse smartctl scan: %w", err))
	}
	if len(raw.Devices) > MaxDrives {
		return nil, tooMany("devices", MaxDrives)
	}
	s := &Scan{ExitStatus: exitCode, Messages: messages(raw.Smartctl.Messages)}
	if raw.Smartctl.ExitStatus.ok {
		s.ExitStatus = int(raw.Smartctl.ExitStatus.v)
	}
	s.Devices = make([]ScanDevice, 0, len(raw.Devices))
	for _, d := range raw.Devices {
		if d.Name == "" {
			continue
		}
		s.Devices = append(s.Devices, ScanDevice{
			Name:      safetext.Clip(d.Name, MaxFieldBytes),
			Type:      safetext.Clip(d.Type, MaxFieldBytes),
			Protocol:  safetext.Clip(d.Protocol, MaxFieldBytes),
			InfoName:  safetext.Clip(d.InfoName, MaxFieldBytes),
			OpenError: safetext.Clip(d.OpenErr, MaxMessageBytes),
		})
	}
	return s, nil
}

const maxMessages = 8

func messages(ms []jsonMessage) []string {
	var out []string
	for _, m := range ms {
		if len(out) == maxMessages {
			break
		}
		if s := strings.TrimSpace(m.String); s != "" {
			out = append(out, safetext.Clip(s, MaxMessageBytes))
		}
	}
	return out
}
