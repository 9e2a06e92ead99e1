// Package virsh builds the libvirt `virsh` commands Infrastructor runs on devices and parses their output. It
// does no I/O: the SSH layer sends the scripts to `sh -s`, this package turns what came back into typed values.
//
// Domain names and connection URIs are validated first and single-quoted anyway (docker.ShellQuote), so nothing
// a caller passes can become shell syntax or a virsh option: domains are always passed as `--domain NAME`.
package virsh

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrInvalidArgument is matched (errors.Is) by every validation error.
var ErrInvalidArgument = errors.New("invalid argument")

// ArgError names the argument that failed validation.
type ArgError struct {
	Arg, Value, Reason string
}

func (e *ArgError) Error() string {
	return fmt.Sprintf("virsh: invalid %s %q: %s", e.Arg, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidArgument) true.
func (e *ArgError) Is(target error) bool { return target == ErrInvalidArgument }

func argErr(arg, value, reason string) error {
	return &ArgError{Arg: arg, Value: clip(value, 80), Reason: reason}
}

// MaxNameLen bounds a domain name. libvirt itself has no small limit, but names become file names on the host.
const MaxNameLen = 200

var (
	// namePattern is a conservative subset of what libvirt accepts (it refuses only '/' and, in new versions,
	// control characters): letters, digits and ._+:@- , not starting with '-' or '.', so a name can never be
	// read as an option or a relative path. Names with spaces are not managed.
	namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+:@-]*$`)
	// uriPattern accepts driver[+transport]://[user@][host[:port]]/path. The "ext" transport is left out on
	// purpose (it runs an arbitrary local command), and so is any ?query (its parameters name programs and
	// key files: command=, netcat=, keyfile=...).
	uriPattern = regexp.MustCompile(`^(qemu|test|lxc|xen|ch|bhyve|vbox|vz|openvz)(\+(unix|ssh|libssh|libssh2|tcp|tls))?://([A-Za-z0-9_.-]+@)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])?(:[0-9]{1,5})?(/[A-Za-z0-9_.-]+)*/?$`)
)

// ValidDomain checks a domain name (see namePattern) or UUID.
func ValidDomain(name string) error {
	switch {
	case name == "":
		return argErr("domain", name, "empty")
	case len(name) > MaxNameLen:
		return argErr("domain", name, fmt.Sprintf("longer than %d bytes", MaxNameLen))
	case !namePattern.MatchString(name):
		return argErr("domain", name, "only letters, digits and ._+:@- are allowed, starting with a letter or digit")
	}
	return nil
}

// ValidURI checks a libvirt connection URI such as qemu:///system, qemu+ssh://root@host/system or
// test:///default. "" means virsh's default connection and is valid.
func ValidURI(uri string) error {
	if uri == "" {
		return nil
	}
	if len(uri) > 512 {
		return argErr("uri", uri, "longer than 512 bytes")
	}
	if !uriPattern.MatchString(uri) {
		return argErr("uri", uri, "not a libvirt URI of the form driver[+transport]://[host]/path (no ext transport, no query)")
	}
	if strings.Contains(uri, "/../") || strings.HasSuffix(uri, "/..") {
		return argErr("uri", uri, "path contains ..")
	}
	return nil
}
