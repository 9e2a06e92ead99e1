package virsh

import (
	"errors"
	"unicode/utf8"
)

// Limits on what the parsers return, whatever a device prints.
const (
	// MaxDomains is the most domains kept from one listing; more are dropped and the result says so.
	MaxDomains = 1000
	// MaxDevices bounds the disks and the interfaces of one domain.
	MaxDevices = 256
	// MaxFieldBytes bounds every string field; longer values are cut at a UTF-8 boundary.
	MaxFieldBytes = 512
	// maxInfoKeys bounds the key/value lines of one dominfo.
	maxInfoKeys = 64
)

// ErrNotVirsh reports output that is not what the parser expects at all.
var ErrNotVirsh = errors.New("virsh: unrecognised output")

func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && i > max-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
