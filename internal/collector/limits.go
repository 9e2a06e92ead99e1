package collector

import (
	"errors"
	"unicode/utf8"
)

// Limits on what the parsers return, whatever a device prints (#15). They are far above any real machine, so
// they only bite on broken or hostile output; their job is to keep one device from exhausting the worker's
// memory. The output as a whole is capped before parsing by the SSH pool (sshpool.Config.MaxOutputBytes); these
// keep every parser's result, and what it allocates, proportional to that.
//
// Lists longer than their limit are cut and the section is named in Snapshot.Truncated; strings longer than
// MaxFieldBytes are cut at a UTF-8 boundary and the section is named too.
const (
	// MaxCPUs bounds CPUStat.Cores (logical CPUs).
	MaxCPUs = 8192
	// MaxInterfaces bounds the interfaces of /proc/net/dev (a host with thousands of containers has a veth
	// per container).
	MaxInterfaces = 8192
	// MaxDisks bounds the block devices kept from /proc/diskstats.
	MaxDisks = 8192
	// MaxMounts bounds the lines read from /proc/mounts and the rows of each df table: container hosts have
	// a few mounts per container.
	MaxMounts = 16384
	// MaxFilesystems bounds Snapshot.Filesystems, what is left after pseudo and container filesystems are
	// dropped.
	MaxFilesystems = 4096
	// MaxSensors bounds Snapshot.Temperatures (hwmon and thermal readings together).
	MaxSensors = 4096
	// MaxCommands bounds Capabilities.Commands.
	MaxCommands = 64
	// MaxFieldBytes bounds every string field: names, mount points (PATH_MAX is 4096), labels, OS fields.
	MaxFieldBytes = 4096
	// maxErrorBytes bounds an error message: errors quote device text and end up in logs and in workflow
	// history.
	maxErrorBytes = 512
)

// ErrLimit reports output with more of something than the parser accepts where a partial result would be
// wrong (more sections than the script prints).
var ErrLimit = errors.New("collector output exceeds the parser's limits")

// limiter records cuts made while parsing one section.
type limiter struct{ cut bool }

// clip cuts s to MaxFieldBytes at a UTF-8 boundary.
func (l *limiter) clip(s string) string {
	if len(s) <= MaxFieldBytes {
		return s
	}
	l.cut = true
	return clipString(s, MaxFieldBytes)
}

// room reports whether a list of n entries may grow under limit, recording a cut when it may not.
func (l *limiter) room(n, limit int) bool {
	if n < limit {
		return true
	}
	l.cut = true
	return false
}

// clipString cuts s to at most max bytes without splitting a UTF-8 sequence.
func clipString(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && i > max-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// clippedError is err with its message cut to maxErrorBytes; errors.Is and errors.As still see err.
type clippedError struct {
	msg string
	err error
}

func (e *clippedError) Error() string { return e.msg }
func (e *clippedError) Unwrap() error { return e.err }

// clipError bounds err's message, keeping err in the chain.
func clipError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if len(msg) <= maxErrorBytes {
		return err
	}
	return &clippedError{msg: clipString(msg, maxErrorBytes) + "...", err: err}
}
