// Package journal builds the scripts that read a device's system log and parses what they print: journald's
// JSON export (`journalctl -o json`) or, on devices without journald, the tail of /var/log/syslog,
// /var/log/messages or busybox `logread`. It does no I/O.
//
// Scripts are POSIX sh for the standard input of `sh -s` (see sshpool.ExecCommand). Every value a user gives
// is validated here (Query.Normalize) and then quoted with docker.ShellQuote; no part of a query can become
// shell syntax or a journalctl option.
//
// Grep is a plain, case-insensitive substring, not a pattern. journalctl's --grep takes PCRE2, which is absent
// from some builds, differs between versions and can be made to backtrack for a long time; a substring has
// none of these problems. The device narrows the lines with `grep -F -i` (a fixed string: no pattern syntax)
// so the line limit counts matching entries, and the parser checks every entry's decoded message again, so
// what is returned always contains the text, whatever the device's grep and locale did. The device-side grep
// sees journald's JSON, so it cannot find text in a binary MESSAGE (exported as an array of byte values); such
// entries are only found without grep.
package journal

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/infrastructor/infrastructor/internal/systemd"
)

// ErrInvalidArgument is matched (errors.Is) by every validation error.
var ErrInvalidArgument = errors.New("invalid argument")

// ArgError names the query field that failed validation.
type ArgError struct {
	// Field is the query field, e.g. "priority" or "since".
	Field string
	// Value is the rejected value, cut for display.
	Value string
	// Reason says what is wrong.
	Reason string
}

func (e *ArgError) Error() string {
	return fmt.Sprintf("journal: invalid %s %q: %s", e.Field, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidArgument) true; unit errors also match systemd.ErrInvalidArgument.
func (e *ArgError) Is(target error) bool {
	return target == ErrInvalidArgument || target == systemd.ErrInvalidArgument
}

func argErr(field, value, reason string) error {
	if len(value) > 80 {
		value = value[:80] + "..."
	}
	return &ArgError{Field: field, Value: value, Reason: reason}
}

// Limits of a query.
const (
	DefaultLimit = 200
	MaxLimit     = 5000
	// MaxGrep bounds the grep substring in bytes.
	MaxGrep = 256
)

// Priorities are syslog's severity names, index = level (0 emerg ... 7 debug).
var Priorities = [8]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// priorityAliases are the other names journalctl and syslog accept.
var priorityAliases = map[string]int{"panic": 0, "critical": 2, "error": 3, "warn": 4}

// ParsePriority accepts a name (emerg ... debug, and the aliases panic, critical, error, warn) or a number 0-7.
func ParsePriority(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if len(t) == 1 && t[0] >= '0' && t[0] <= '7' {
		return int(t[0] - '0'), nil
	}
	for i, n := range Priorities {
		if t == n {
			return i, nil
		}
	}
	if p, ok := priorityAliases[t]; ok {
		return p, nil
	}
	return 0, argErr("priority", s, "must be emerg, alert, crit, err, warning, notice, info, debug or 0-7")
}

// Query is a system log search as a user gives it. The zero value asks for the newest DefaultLimit entries of
// the whole log: any unit, any priority, any boot.
type Query struct {
	// Unit is a systemd unit ("nginx" means "nginx.service").
	Unit string `json:"unit,omitempty"`
	// Priority keeps entries of this priority or more severe (name or 0-7).
	Priority string `json:"priority,omitempty"`
	// Since and Until are RFC 3339 times.
	Since string `json:"since,omitempty"`
	Until string `json:"until,omitempty"`
	// Grep is a plain case-insensitive substring of the message.
	Grep string `json:"grep,omitempty"`
	// Boot is "current" (or "0"), a negative offset such as "-1", or a boot ID (32 hex digits, or the UUID form
	// with dashes).
	Boot string `json:"boot,omitempty"`
	// Limit is the number of newest entries to return; 0 means DefaultLimit.
	Limit int `json:"limit,omitempty"`
}

// Filter is a validated Query.
type Filter struct {
	Unit string
	// Priority is the most verbose level kept (0-7); -1 keeps all.
	Priority int
	// Since and Until are zero when unset.
	Since, Until time.Time
	Grep         string
	// Boot is "", "0", "-N" or a 32-hex boot ID.
	Boot  string
	Limit int
}

var bootIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Normalize validates every field of q and returns the Filter. Each error is an *ArgError naming the field.
func (q Query) Normalize() (Filter, error) {
	f := Filter{Priority: -1, Limit: DefaultLimit}
	if q.Unit != "" {
		u, err := systemd.NormalizeUnit("unit", q.Unit)
		if err != nil {
			var ae *systemd.ArgError
			if errors.As(err, &ae) {
				return f, argErr("unit", q.Unit, ae.Reason)
			}
			return f, err
		}
		f.Unit = u
	}
	if q.Priority != "" {
		p, err := ParsePriority(q.Priority)
		if err != nil {
			return f, err
		}
		f.Priority = p
	}
	var err error
	if f.Since, err = parseTime("since", q.Since); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until", q.Until); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return f, argErr("until", q.Until, "before since")
	}
	if q.Grep != "" {
		if len(q.Grep) > MaxGrep {
			return f, argErr("grep", q.Grep, fmt.Sprintf("longer than %d bytes", MaxGrep))
		}
		if !utf8.ValidString(q.Grep) {
			return f, argErr("grep", q.Grep, "not valid UTF-8")
		}
		for _, r := range q.Grep {
			// Control characters never survive into a displayed message, and '"' and '\' are escaped in
			// journald's JSON, so the device-side filter could not find them.
			if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
				return f, argErr("grep", q.Grep, "control characters, '\"' and '\\' are not allowed")
			}
		}
		f.Grep = q.Grep
	}
	switch b := strings.TrimSpace(q.Boot); {
	case b == "":
	case b == "current" || b == "0":
		f.Boot = "0"
	case bootIDPattern.MatchString(strings.ToLower(b)):
		f.Boot = strings.ToLower(b)
	case len(b) == 36 && bootIDPattern.MatchString(strings.ToLower(strings.ReplaceAll(b, "-", ""))):
		// the UUID form of a boot ID, as /proc/sys/kernel/random/boot_id shows it
		f.Boot = strings.ToLower(strings.ReplaceAll(b, "-", ""))
	default:
		n, err := strconv.Atoi(b)
		if err != nil || n > 0 || n < -999 {
			return f, argErr("boot", q.Boot, "must be current, an offset from -1 to -999, or a 32-hex-digit boot ID")
		}
		f.Boot = strconv.Itoa(n)
	}
	switch {
	case q.Limit == 0:
	case q.Limit < 0 || q.Limit > MaxLimit:
		return f, argErr("limit", strconv.Itoa(q.Limit), fmt.Sprintf("must be 1-%d", MaxLimit))
	default:
		f.Limit = q.Limit
	}
	return f, nil
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, argErr(field, s, "not an RFC 3339 time such as 2026-12-03T10:00:00Z")
	}
	if t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, argErr(field, s, "year out of range")
	}
	return t.UTC(), nil
}
