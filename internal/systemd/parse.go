package systemd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/infrastructor/infrastructor/internal/safetext"
)

// Limits of the parsers: they never keep more than this, whatever a device prints.
const (
	// MaxUnits bounds the units one parse returns.
	MaxUnits = 1000
	// MaxFieldBytes bounds every string field.
	MaxFieldBytes = 512
)

// FailedUnit is one line of `systemctl list-units --failed`.
type FailedUnit struct {
	Unit        string `json:"unit"`
	Load        string `json:"load"`
	Active      string `json:"active"`
	Sub         string `json:"sub"`
	Description string `json:"description,omitempty"`
}

// FailedList is the parsed answer of FailedScript.
type FailedList struct {
	Units []FailedUnit `json:"units"`
	// Truncated is set when the output was cut (MaxOutputBytes) or had more than MaxUnits units.
	Truncated bool `json:"truncated,omitempty"`
}

func isNA(out []byte) bool { return string(bytes.TrimSpace(out)) == naMarker }

func clean(s string) string {
	c, _ := safetext.String(s, MaxFieldBytes, false)
	return c
}

// cleanUnit keeps a unit name only if it is valid; systemctl prints only valid names, so anything else is
// damage and is dropped rather than shown.
func cleanUnit(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if ValidUnit(s) != nil {
		return "", false
	}
	return s, true
}

// ParseFailed parses FailedScript's output in either form: the JSON array of systemctl --output=json, or the
// plain columns "UNIT LOAD ACTIVE SUB DESCRIPTION" (with or without the "●" status mark). It returns
// ErrNotAvailable on a device without systemctl.
func ParseFailed(out []byte) (FailedList, error) {
	var res FailedList
	if isNA(out) {
		return res, ErrNotAvailable
	}
	res.Units = []FailedUnit{}
	if len(out) >= MaxOutputBytes {
		res.Truncated = true
	}
	trimmed := bytes.TrimSpace(out)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var raw []struct {
			Unit, Load, Active, Sub, Description string
		}
		if err := json.Unmarshal(trimmed, &raw); err != nil {
			return res, fmt.Errorf("systemd: list-units JSON: %w", err)
		}
		for _, r := range raw {
			u, ok := cleanUnit(r.Unit)
			if !ok {
				continue
			}
			if len(res.Units) == MaxUnits {
				res.Truncated = true
				break
			}
			res.Units = append(res.Units, FailedUnit{Unit: u, Load: clean(r.Load), Active: clean(r.Active),
				Sub: clean(r.Sub), Description: clean(r.Description)})
		}
		return res, nil
	}
	for len(out) > 0 {
		var line []byte
		line, out, _ = bytes.Cut(out, []byte("\n"))
		s := strings.TrimSpace(string(line))
		s = strings.TrimSpace(strings.TrimPrefix(s, "●"))
		s = strings.TrimSpace(strings.TrimPrefix(s, "*"))
		f := strings.Fields(s)
		if len(f) < 4 {
			continue
		}
		u, ok := cleanUnit(f[0])
		if !ok {
			continue
		}
		if len(res.Units) == MaxUnits {
			res.Truncated = true
			break
		}
		fu := FailedUnit{Unit: u, Load: clean(f[1]), Active: clean(f[2]), Sub: clean(f[3])}
		if len(f) > 4 {
			fu.Description = clean(strings.Join(f[4:], " "))
		}
		res.Units = append(res.Units, fu)
	}
	return res, nil
}

// UnitState is the state of one unit from `systemctl show`.
type UnitState struct {
	Unit        string `json:"unit"`
	Description string `json:"description,omitempty"`
	LoadState   string `json:"load_state,omitempty"`
	ActiveState string `json:"active_state,omitempty"`
	SubState    string `json:"sub_state,omitempty"`
	// ActiveSince is when the unit last entered the active state; nil when never or not parseable.
	ActiveSince *time.Time `json:"active_since,omitempty"`
	// NRestarts counts automatic restarts (services only); nil when systemd does not report it.
	NRestarts *int64 `json:"n_restarts,omitempty"`
	// MainPID is 0 when the unit has no main process.
	MainPID int64 `json:"main_pid,omitempty"`
	// MemoryBytes is the unit's cgroup memory; nil when not set or not accounted.
	MemoryBytes *uint64 `json:"memory_bytes,omitempty"`
}

// ShowResult is the parsed answer of ShowScript.
type ShowResult struct {
	Units     []UnitState `json:"units"`
	Truncated bool        `json:"truncated,omitempty"`
}

// uint64Max is how systemd prints an unset memory figure when it does not say "[not set]".
const uint64Max = "18446744073709551615"

// ParseShow parses blocks of Key=Value lines separated by blank lines, one per unit. Unknown keys are ignored;
// a block without a valid Id is dropped. It returns ErrNotAvailable on a device without systemctl.
func ParseShow(out []byte) (ShowResult, error) {
	res := ShowResult{Units: []UnitState{}}
	if isNA(out) {
		return res, ErrNotAvailable
	}
	if len(out) >= MaxOutputBytes {
		res.Truncated = true
	}
	var cur UnitState
	have := false
	flush := func() {
		if have && cur.Unit != "" {
			if len(res.Units) < MaxUnits {
				res.Units = append(res.Units, cur)
			} else {
				res.Truncated = true
			}
		}
		cur, have = UnitState{}, false
	}
	for len(out) > 0 {
		var line []byte
		line, out, _ = bytes.Cut(out, []byte("\n"))
		s := strings.TrimRight(string(line), "\r")
		if strings.TrimSpace(s) == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		have = true
		switch k {
		case "Id":
			if u, ok := cleanUnit(v); ok {
				cur.Unit = u
			}
		case "Description":
			cur.Description = clean(v)
		case "LoadState":
			cur.LoadState = clean(v)
		case "ActiveState":
			cur.ActiveState = clean(v)
		case "SubState":
			cur.SubState = clean(v)
		case "ActiveEnterTimestamp":
			if t, ok := ParseTimestamp(v); ok {
				cur.ActiveSince = &t
			}
		case "NRestarts":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
				cur.NRestarts = &n
			}
		case "MainPID":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
				cur.MainPID = n
			}
		case "MemoryCurrent":
			if v != uint64Max {
				if n, err := strconv.ParseUint(v, 10, 64); err == nil {
					cur.MemoryBytes = &n
				}
			}
		}
	}
	flush()
	return res, nil
}

// ParseTimestamp parses systemd's timestamp format, "Thu 2026-12-03 10:00:00 UTC" (format_timestamp), with
// optional microseconds ("10:00:00.123456"). The zone must be UTC or GMT (ShowScript sets TZ=UTC) or a numeric
// offset: an abbreviation such as CET is ambiguous and yields false rather than a wrong time. "@<unix seconds>"
// (--timestamp=unix) is accepted too. Empty values, "n/a" and "[not set]" yield false.
func ParseTimestamp(s string) (time.Time, bool) {
	if strings.HasPrefix(s, "@") { // --timestamp=unix (systemd 251 and later)
		n, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || n <= 0 || n > 1<<40 {
			return time.Time{}, false
		}
		return time.Unix(n, 0).UTC(), true
	}
	f := strings.Fields(s)
	if len(f) == 4 { // drop the weekday
		f = f[1:]
	}
	if len(f) != 3 {
		return time.Time{}, false
	}
	var loc *time.Location
	switch z := f[2]; {
	case z == "UTC" || z == "GMT":
		loc = time.UTC
	case (z[0] == '+' || z[0] == '-') && len(z) == 5:
		t, err := time.Parse("2006-01-02 15:04:05.999999 -0700", f[0]+" "+f[1]+" "+z)
		return t.UTC(), err == nil
	default:
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", f[0]+" "+f[1], loc)
	return t, err == nil
}
