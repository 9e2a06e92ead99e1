// Package systemd builds the systemctl scripts Infrastructor runs on devices and parses what they print: failed
// units, the state of watched units, and start/stop/restart/reload actions. It does no I/O.
//
// Every script is POSIX sh for the standard input of `sh -s` (see sshpool.ExecCommand). Unit names are validated
// against systemd's own grammar (unit_name_is_valid in src/basic/unit-name.c), then quoted with docker.ShellQuote
// and placed after "--", so no unit name can become shell syntax or a systemctl option.
package systemd

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidArgument is matched (errors.Is) by every validation error.
var ErrInvalidArgument = errors.New("invalid argument")

// ErrNotAvailable reports a device without systemctl. It is not a failure: the device simply has no systemd.
var ErrNotAvailable = errors.New("systemctl not available on the device")

// ArgError names the argument that failed validation.
type ArgError struct {
	// Arg is the field name, e.g. "unit" or "action".
	Arg string
	// Value is the rejected value, cut for display.
	Value string
	// Reason says what is wrong.
	Reason string
}

func (e *ArgError) Error() string {
	return fmt.Sprintf("systemd: invalid %s %q: %s", e.Arg, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidArgument) true.
func (e *ArgError) Is(target error) bool { return target == ErrInvalidArgument }

func argErr(arg, value, reason string) error {
	if len(value) > 80 {
		value = value[:80] + "..."
	}
	return &ArgError{Arg: arg, Value: value, Reason: reason}
}

// MaxUnitName is systemd's UNIT_NAME_MAX: a unit name must be shorter than this many bytes.
const MaxUnitName = 256

// unitTypes are the unit type suffixes systemd knows (unit_type_table in src/basic/unit-def.c).
var unitTypes = map[string]bool{
	"service": true, "socket": true, "target": true, "device": true, "mount": true, "automount": true,
	"swap": true, "timer": true, "path": true, "slice": true, "scope": true,
}

// validUnitChar is systemd's VALID_CHARS ("0-9a-zA-Z:-_.\") plus '@'.
func validUnitChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return c == ':' || c == '-' || c == '_' || c == '.' || c == '\\' || c == '@'
}

// UnitKind says which of systemd's three unit name forms a valid name has.
type UnitKind int

const (
	// Plain is "foo.service".
	Plain UnitKind = iota + 1
	// Template is "foo@.service"; it cannot be started itself.
	Template
	// Instance is "foo@bar.service".
	Instance
)

// CheckUnit validates name with systemd's unit_name_is_valid rules and returns its kind. field names the
// argument in the error.
func CheckUnit(field, name string) (UnitKind, error) {
	if name == "" {
		return 0, argErr(field, name, "empty unit name")
	}
	if len(name) >= MaxUnitName {
		return 0, argErr(field, name, fmt.Sprintf("longer than %d bytes", MaxUnitName-1))
	}
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 {
		return 0, argErr(field, name, "no unit type suffix such as .service")
	}
	if !unitTypes[name[dot+1:]] {
		return 0, argErr(field, name, fmt.Sprintf("unknown unit type %q", name[dot+1:]))
	}
	at := -1
	for i := 0; i < dot; i++ {
		c := name[i]
		if c == '@' && at < 0 {
			at = i
		}
		if !validUnitChar(c) {
			return 0, argErr(field, name, fmt.Sprintf("character %q not allowed in a unit name", c))
		}
	}
	switch {
	case at == 0:
		return 0, argErr(field, name, "unit name starts with @")
	case at < 0:
		return Plain, nil
	case at+1 == dot:
		return Template, nil
	default:
		return Instance, nil
	}
}

// ValidUnit reports whether name is a valid unit name of any kind (see CheckUnit).
func ValidUnit(name string) error {
	_, err := CheckUnit("unit", name)
	return err
}

// NormalizeUnit accepts what a user types: a full unit name, or a bare name such as "nginx" to which
// ".service" is added, as systemctl itself does. The result is valid (CheckUnit) or an error naming field.
func NormalizeUnit(field, name string) (string, error) {
	if dot := strings.LastIndexByte(name, '.'); name != "" && (dot < 0 || !unitTypes[name[dot+1:]]) {
		name += ".service"
	}
	if _, err := CheckUnit(field, name); err != nil {
		return "", err
	}
	return name, nil
}
