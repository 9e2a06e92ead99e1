package docker

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Limits on what the parsers return, whatever a device prints (#15). They are far above anything a real engine
// reports, so they only bite on broken or hostile output; their job is to keep one device from exhausting the
// worker's memory. Input size is capped before parsing by the SSH pool (sshpool.Config.MaxOutputBytes); these
// bound the output relative to it, so no short text can expand into many entries.
const (
	// MaxContainers is the most containers ParsePS, ParseInspect, ParseStats and ParseCgroupStats accept in one
	// output. More fails the parse with ErrLimit: a partial inventory would read as removed containers.
	MaxContainers = 4096
	// MaxPortsPerContainer bounds Container.Ports; ranges count as one entry each.
	MaxPortsPerContainer = 1024
	// MaxMountsPerContainer bounds Container.Mounts.
	MaxMountsPerContainer = 512
	// MaxNetworksPerContainer bounds Container.Networks and CgroupContainerStats.Networks.
	MaxNetworksPerContainer = 256
	// MaxLabelsPerContainer bounds Container.Labels.
	MaxLabelsPerContainer = 512
	// MaxFieldBytes bounds every string field (names, image, command, status, label keys and values, mount
	// paths); longer values are cut at a UTF-8 boundary.
	MaxFieldBytes = 4096
	// maxIDBytes bounds a container ID: a real one is 64 hex digits; a longer one is malformed, not cut, since
	// a cut ID could name another container.
	maxIDBytes = 128
)

// ErrLimit reports output with more entries than the parser accepts (see MaxContainers).
var ErrLimit = errors.New("docker output exceeds the parser's limits")

// Truncated field names, listed in Container.Truncated when a limit cut them.
const (
	TruncatedPorts    = "ports"
	TruncatedMounts   = "mounts"
	TruncatedNetworks = "networks"
	TruncatedLabels   = "labels"
	TruncatedText     = "text" // one or more string fields were cut to MaxFieldBytes
)

// noteTruncated adds what to c.Truncated once.
func (c *Container) noteTruncated(what string) {
	for _, w := range c.Truncated {
		if w == what {
			return
		}
	}
	c.Truncated = append(c.Truncated, what)
}

// clip cuts s to MaxFieldBytes at a UTF-8 boundary and records the cut on c (c may be nil).
func (c *Container) clip(s string) string {
	if len(s) <= MaxFieldBytes {
		return s
	}
	if c != nil {
		c.noteTruncated(TruncatedText)
	}
	return clipString(s, MaxFieldBytes)
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

func checkID(id string) error {
	if len(id) > maxIDBytes {
		return fmt.Errorf("ID longer than %d bytes", maxIDBytes)
	}
	return nil
}

// maxErrorBytes bounds an error message: errors quote device output and are stored (Availability.Detail) and
// logged.
const maxErrorBytes = 512

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
	if msg := err.Error(); len(msg) > maxErrorBytes {
		return &clippedError{msg: clipString(msg, maxErrorBytes) + "...", err: err}
	}
	return err
}

func tooMany(what string, limit int) error {
	return fmt.Errorf("more than %d %s: %w", limit, what, ErrLimit)
}
