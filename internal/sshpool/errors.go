package sshpool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// Kind classifies a failure to reach a device or run a command on it.
type Kind int

const (
	// Unknown is a failure that fits no other class. It is retryable.
	Unknown Kind = iota
	// Unreachable means the device's address could not be reached: no route,
	// network down, DNS failure, or the jump host could not connect onwards.
	Unreachable
	// Refused means the device answered the TCP connect with a reset: the
	// host is up but nothing listens on the SSH port.
	Refused
	// Timeout means the connect (dial, handshake and authentication together)
	// or the command did not finish within its deadline. The connection was
	// closed, since a link that hangs must not be reused.
	Timeout
	// AuthFailed means the device rejected every key offered.
	AuthFailed
	// HostKeyUnknown means the device offered a host key nobody has pinned
	// or approved yet.
	HostKeyUnknown
	// HostKeyChanged means the device offered a key different from the one
	// pinned for it.
	HostKeyChanged
	// CommandFailed means the command ran and exited non-zero (or was killed
	// by a signal); Error.ExitCode holds the status.
	CommandFailed
	// Closed means the connection was lost or closed underneath the
	// operation (peer EOF, keep-alive failure, Drop, Pool.Close or the
	// caller's cancellation).
	Closed
	// Invalid means the request itself is unusable (for example a Target
	// without DeviceID or Host); retrying cannot help.
	Invalid
)

var kindNames = map[Kind]string{
	Unknown:        "unknown",
	Unreachable:    "unreachable",
	Refused:        "refused",
	Timeout:        "timeout",
	AuthFailed:     "auth failed",
	HostKeyUnknown: "host key unknown",
	HostKeyChanged: "host key changed",
	CommandFailed:  "command failed",
	Closed:         "closed",
	Invalid:        "invalid",
}

// String returns a short lower-case name of the kind.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Retryable reports whether trying the same operation again later can
// succeed without a human acting first. Host key and authentication problems
// need an operator; a failed command or an invalid request would fail the
// same way again.
func (k Kind) Retryable() bool {
	switch k {
	case AuthFailed, HostKeyUnknown, HostKeyChanged, CommandFailed, Invalid:
		return false
	default:
		return true
	}
}

// Error is the error type returned by Pool. Use errors.As to get it and
// switch on Kind.
type Error struct {
	// Kind classifies the failure.
	Kind Kind
	// DeviceID is the device the caller asked for. When a jump host fails,
	// Op names it; a wrapped *HostKeyError names the device whose key it is.
	DeviceID string
	// Op is the step that failed: "dial", "handshake", "jump <id> dial",
	// "jump <id> handshake", "wait for session slot", "open session", "run".
	Op string
	// ExitCode is the command's exit status for CommandFailed (128+signal
	// number when killed by a signal, -1 when the server sent no status).
	ExitCode int
	// Err is the underlying cause.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	msg := fmt.Sprintf("ssh %s %s: %s", e.Op, e.DeviceID, e.Kind)
	if e.Kind == CommandFailed {
		msg += fmt.Sprintf(" (exit %d)", e.ExitCode)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the first *Error in err's chain, or Unknown.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Unknown
}

// errPoolClosed is the cause reported after Pool.Close.
var errPoolClosed = errors.New("connection pool closed")

// errDropped is the cause reported when Drop discards a connection in use.
var errDropped = errors.New("connection dropped")

// errKeepAlive is the cause reported when keep-alive requests went
// unanswered.
var errKeepAlive = errors.New("keep-alive requests unanswered")

// authExhaustedError is returned from the auth callback once every method
// we have was tried and rejected. x/crypto/ssh otherwise reports this with
// an untyped error, so our own type is what lets us classify it.
type authExhaustedError struct {
	user    string
	tried   []string
	allowed []string
}

func (e *authExhaustedError) Error() string {
	return fmt.Sprintf("authentication as %q rejected (tried %v, server allows %v)", e.user, e.tried, e.allowed)
}

// classifyConnect classifies an error from dialing or the SSH handshake.
// ctx is the connect context; authStarted tells whether the server got as
// far as the authentication phase (i.e. the host key was accepted).
func classifyConnect(ctx context.Context, err error, authStarted bool) Kind {
	var hk *HostKeyError
	var authErr *authExhaustedError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var chanErr *ssh.OpenChannelError
	switch {
	case errors.As(err, &hk):
		return hk.Kind
	case errors.As(err, &authErr):
		return AuthFailed
	case errors.Is(err, errPoolClosed), errors.Is(err, errDropped):
		return Closed
	case errors.Is(ctx.Err(), context.DeadlineExceeded),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, os.ErrDeadlineExceeded),
		isNetTimeout(err):
		return Timeout
	case errors.Is(err, context.Canceled):
		return Closed
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTDOWN), errors.Is(err, syscall.ENETDOWN),
		errors.As(err, &dnsErr):
		return Unreachable
	case errors.As(err, &chanErr) && chanErr.Reason == ssh.ConnectionFailed:
		// A jump host reports its own connect failure only as text, so
		// refused and unreachable cannot be told apart here.
		return Unreachable
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return Unreachable
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed),
		errors.As(err, &opErr):
		return Closed
	case authStarted:
		// The server hung up on us during authentication with an SSH
		// disconnect message (x/crypto does not export its type), which
		// OpenSSH does after MaxAuthTries rejected keys. Network failures
		// were handled above.
		return AuthFailed
	default:
		return Unknown
	}
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
