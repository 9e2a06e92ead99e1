// Package docker builds the docker commands Infrastructor runs on devices and parses their output. It does no
// I/O: the SSH layer runs the command strings, this package turns what came back into typed values.
//
// Every command is a POSIX sh command line. The SSH layer hands it to sh on the session's standard input (see
// sshpool.ExecCommand), never to the SSH user's login shell, whose quoting rules may differ (fish, csh).
// Arguments are validated against Docker's own grammars first and then single-quoted anyway, so nothing a
// caller passes can become shell syntax or a docker option (see FuzzCommandArgv). Commands that need shell logic
// (compose fallback, probe, cgroup statistics) are a fixed script run as `sh -c '<script>' sh <args>`, so the
// arguments reach the script as "$1"... and are never parsed as code.
package docker

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// ErrInvalidArgument is matched (errors.Is) by every validation error, so callers can treat bad input as
// non-retryable without looking at messages.
var ErrInvalidArgument = errors.New("invalid argument")

// ArgError names the argument that failed validation.
type ArgError struct {
	// Arg is the parameter name, e.g. "ref" or "signal".
	Arg string
	// Value is the rejected value (possibly truncated for display).
	Value string
	// Reason says what is wrong.
	Reason string
}

func (e *ArgError) Error() string {
	return fmt.Sprintf("docker: invalid %s %q: %s", e.Arg, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidArgument) true.
func (e *ArgError) Is(target error) bool { return target == ErrInvalidArgument }

func argErr(arg, value, reason string) error {
	if len(value) > 80 {
		value = value[:80] + "..."
	}
	return &ArgError{Arg: arg, Value: value, Reason: reason}
}

var (
	// refPattern is moby's container name grammar (daemon/names: RestrictedNameChars + "+"), without the optional
	// leading "/". A full or abbreviated hex ID also matches it. The first character can be neither '-' nor '.',
	// so a reference can never be read as an option.
	refPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)
	// idPattern is a container ID: at least the 12 hex digits docker shows, at most the full 64.
	idPattern = regexp.MustCompile(`^[0-9a-f]{12,64}$`)
	// projectPattern is docker compose's project name grammar (compose-spec loader NormalizeProjectName).
	projectPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
)

// Limits on arguments.
const (
	// MaxRefLen bounds a container reference; Docker has no limit of its own, but names become DNS labels and
	// file names on the device, so anything longer is a mistake.
	MaxRefLen = 255
	// MaxInspect is the most containers one Inspect command may name.
	MaxInspect = 500
	// MaxStopTimeout is the longest stop/restart grace period accepted, in seconds.
	MaxStopTimeout = 3600
	// MaxLogTail is the most log lines one Logs command returns.
	MaxLogTail = 10000
	// DefaultLogTail is used when LogOptions.Tail is empty.
	DefaultLogTail = 200
	// maxWorkdirLen is PATH_MAX.
	maxWorkdirLen = 4096
)

// ValidRef checks a container reference: a name in Docker's grammar ([a-zA-Z0-9][a-zA-Z0-9_.-]+) or a hex ID.
// A leading "/" (as in the Name field of docker inspect) is rejected rather than stripped, so one container
// always has one spelling; Container.Name from this package's parsers never has it.
func ValidRef(s string) error {
	switch {
	case s == "":
		return argErr("ref", s, "empty")
	case len(s) > MaxRefLen:
		return argErr("ref", s, fmt.Sprintf("longer than %d characters", MaxRefLen))
	case strings.HasPrefix(s, "-"):
		return argErr("ref", s, "starts with '-'")
	case strings.HasPrefix(s, "/"):
		return argErr("ref", s, "starts with '/': use the name without it")
	case !refPattern.MatchString(s):
		return argErr("ref", s, "not a container name ([a-zA-Z0-9][a-zA-Z0-9_.-]+) or ID")
	}
	return nil
}

// ValidID checks a container ID: 12 to 64 lower-case hex digits.
func ValidID(s string) error {
	if !idPattern.MatchString(s) {
		return argErr("id", s, "not 12 to 64 lower-case hex digits")
	}
	return nil
}

// ValidProject checks a docker compose project name (^[a-z0-9][a-z0-9_-]*$).
func ValidProject(s string) error {
	switch {
	case s == "":
		return argErr("project", s, "empty")
	case len(s) > MaxRefLen:
		return argErr("project", s, fmt.Sprintf("longer than %d characters", MaxRefLen))
	case !projectPattern.MatchString(s):
		return argErr("project", s, "not a compose project name ([a-z0-9][a-z0-9_-]*)")
	}
	return nil
}

// ValidWorkdir checks a compose project directory: an absolute, clean path without control characters,
// backslashes or single quotes. The directory usually comes from a container label, which any image can set, so
// it is held to more than the kernel's rules: a backslash or a quote has no place in a real project path but is
// what an argument breaking out of some shell's quoting needs (fish reads \' inside single quotes as a quote).
func ValidWorkdir(s string) error {
	switch {
	case s == "":
		return argErr("workdir", s, "empty")
	case len(s) > maxWorkdirLen:
		return argErr("workdir", s, "too long")
	case !strings.HasPrefix(s, "/"):
		return argErr("workdir", s, "not an absolute path")
	case path.Clean(s) != s:
		return argErr("workdir", s, "not a clean path (no trailing '/', '//', '.' or '..')")
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r) || r == unicode.ReplacementChar:
			return argErr("workdir", s, "contains a control character or invalid UTF-8")
		case r == '\\':
			return argErr("workdir", s, "contains a backslash")
		case r == '\'':
			return argErr("workdir", s, "contains a single quote")
		}
	}
	return nil
}

// signals are the names docker kill accepts that make sense for a container (Linux numbering).
var signals = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8, "KILL": 9, "USR1": 10,
	"SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19,
	"TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28,
	"IO": 29, "PWR": 30, "SYS": 31,
}

// NormalizeSignal validates a signal for docker kill and returns its canonical form: "SIGTERM" for TERM, term
// or SIGTERM, and the decimal number for 1..64.
func NormalizeSignal(s string) (string, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return "", argErr("signal", s, "number outside 1..64")
		}
		return strconv.Itoa(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if _, ok := signals[name]; !ok {
		return "", argErr("signal", s, "unknown signal name")
	}
	return "SIG" + name, nil
}

// ValidTimeout checks a stop/restart grace period in seconds: 0..MaxStopTimeout.
func ValidTimeout(sec int) error {
	if sec < 0 || sec > MaxStopTimeout {
		return argErr("timeout", strconv.Itoa(sec), fmt.Sprintf("outside 0..%d seconds", MaxStopTimeout))
	}
	return nil
}

// LogOptions selects which log lines Logs returns.
type LogOptions struct {
	// Tail is the number of lines from the end, or "all" (capped at MaxLogTail); empty means DefaultLogTail.
	Tail string
	// Since and Until bound the time range: RFC 3339, Unix seconds (with an optional fraction) or a Go duration
	// such as "10m", meaning that long before the device's clock. Empty means unbounded.
	Since, Until string
}

// NormalizeTail validates a tail value and returns the number of lines to request.
func NormalizeTail(s string) (int, error) {
	switch s {
	case "":
		return DefaultLogTail, nil
	case "all":
		return MaxLogTail, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, argErr("tail", s, `not a line count or "all"`)
	}
	return min(n, MaxLogTail), nil
}

// maxLogAge bounds relative times; docker would accept more, but nothing useful is that old.
const maxLogAge = 20 * 366 * 24 * time.Hour

// NormalizeTime validates a since/until value and returns it in a form docker accepts: RFC 3339 in UTC with
// nanoseconds, Unix seconds as given, or a duration in Go's canonical form (docker subtracts it from the
// daemon's clock, which avoids skew between this server and the device). arg names the parameter in errors.
func NormalizeTime(arg, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if t.Year() < 1970 || t.Year() > 9999 {
			return "", argErr(arg, s, "year out of range")
		}
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	if unixPattern.MatchString(s) {
		return s, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 || d > maxLogAge {
			return "", argErr(arg, s, "duration must be positive and at most 20 years")
		}
		return d.String(), nil
	}
	return "", argErr(arg, s, "not RFC 3339, Unix seconds or a duration like 10m")
}

// unixPattern is docker's Unix timestamp form: seconds with an optional fraction of up to 9 digits.
var unixPattern = regexp.MustCompile(`^[0-9]{1,11}(\.[0-9]{1,9})?$`)
