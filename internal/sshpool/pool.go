// Package sshpool runs commands on devices over SSH through one persistent
// connection per device.
//
// Each device gets one *ssh.Client, dialled on first use and shared by many
// short sessions, with a per-device session limit below sshd's MaxSessions.
// Every step has a deadline: connecting (dial, handshake and authentication
// together) is bounded by Config.ConnectTimeout and every command by its
// context or Config.CommandTimeout. When a command's deadline expires the
// whole connection is closed, because a link that hung once cannot be
// trusted for the next poll (a half-open connection otherwise keeps a device
// looking "up" with stale data). Keep-alive requests find dead links
// between commands. Host keys are checked on every handshake by a
// HostKeyChecker; nothing is ever accepted silently.
package sshpool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Defaults for zero Config fields.
const (
	DefaultConnectTimeout       = 10 * time.Second
	DefaultCommandTimeout       = 60 * time.Second
	DefaultKeepAliveInterval    = 15 * time.Second
	DefaultKeepAliveMaxMissed   = 2
	DefaultMaxSessionsPerDevice = 8
	DefaultMaxOutputBytes       = 8 << 20
)

// Config configures a Pool. HostKeys and at least one key source (Signers,
// KeyFiles or UseAgent) are required.
type Config struct {
	// Signers are private keys offered to every device.
	Signers []ssh.Signer
	// KeyFiles are private key files loaded with LoadSigners by New and
	// offered after Signers.
	KeyFiles []string
	// UseAgent also offers the keys of the ssh-agent at $SSH_AUTH_SOCK.
	UseAgent bool
	// HostKeys decides on every host key; required.
	HostKeys HostKeyChecker

	// ConnectTimeout bounds dial, handshake and authentication together
	// (x/crypto/ssh's own Timeout covers only the TCP dial).
	ConnectTimeout time.Duration
	// CommandTimeout bounds each command (from opening its session to its
	// exit) when the Run's context has no earlier deadline.
	CommandTimeout time.Duration
	// KeepAliveInterval is how often an idle or busy connection is probed
	// with a keepalive@openssh.com request; negative disables probing.
	KeepAliveInterval time.Duration
	// KeepAliveMaxMissed is how many consecutive intervals a probe may stay
	// unanswered before the connection is closed and dropped, so a dead link
	// is found within about KeepAliveMaxMissed+1 intervals.
	KeepAliveMaxMissed int
	// MaxSessionsPerDevice caps concurrent sessions on one device; keep it
	// below the devices' sshd MaxSessions (10 by default) or extra session
	// requests fail.
	MaxSessionsPerDevice int
	// MaxOutputBytes caps the stdout and the stderr kept per command; the
	// rest is read and discarded, and Result.Truncated is set.
	MaxOutputBytes int

	// Dialer opens the TCP connection to the first hop; nil uses net.Dialer.
	// Tests use it to count dials or to inject faulty links.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// Clock returns the current time for Result.Duration; nil is time.Now.
	Clock func() time.Time
}

// Result is the outcome of a command that was started.
type Result struct {
	// Stdout and Stderr hold at most Config.MaxOutputBytes each.
	Stdout, Stderr []byte
	// ExitCode is the exit status (128+signal number if killed by a signal,
	// -1 if none was received).
	ExitCode int
	// Truncated is set when stdout or stderr exceeded MaxOutputBytes.
	Truncated bool
	// Duration is the wall time of the Run call, including any wait for a
	// session slot or a connection.
	Duration time.Duration
}

// Pool holds one SSH connection per device. It is safe for concurrent use.
type Pool struct {
	cfg     Config
	signers []ssh.Signer

	baseCtx context.Context // cancelled by Close to abort dials
	cancel  context.CancelFunc
	wg      sync.WaitGroup // background goroutines, awaited by Close

	mu      sync.Mutex
	closed  bool
	devices map[string]*device
}

// device is the pool's state for one device ID.
type device struct {
	id   string
	sem  chan struct{} // session slots
	cur  *conn         // established connection, if any
	dial *dialCall     // connection being made, shared by all waiting Runs
}

// dialCall is one in-flight connect that concurrent Runs wait on together.
type dialCall struct {
	key    string
	done   chan struct{}
	cancel context.CancelFunc
	conn   *conn
	err    error
}

// conn is one established connection, possibly through jump hosts.
type conn struct {
	key    string
	client *ssh.Client
	hops   []*ssh.Client // jump host clients, outermost first

	once  sync.Once
	done  chan struct{}
	cause error // why it was closed; written once before done closes
}

func (c *conn) close(cause error) {
	c.once.Do(func() {
		c.cause = cause
		// Outermost first: closing the jump host's TCP connection first
		// unblocks anything stuck writing to the tunnelled connections.
		for _, h := range c.hops {
			_ = h.Close()
		}
		_ = c.client.Close()
		close(c.done)
	})
}

func (c *conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// New validates cfg, fills in defaults and loads key files.
func New(cfg Config) (*Pool, error) {
	if cfg.HostKeys == nil {
		return nil, errors.New("sshpool: Config.HostKeys is required (host keys are never accepted unchecked)")
	}
	signers := append([]ssh.Signer(nil), cfg.Signers...)
	if len(cfg.KeyFiles) > 0 {
		fromFiles, err := LoadSigners(cfg.KeyFiles...)
		if err != nil {
			return nil, fmt.Errorf("sshpool: %w", err)
		}
		signers = append(signers, fromFiles...)
	}
	if len(signers) == 0 && !cfg.UseAgent {
		return nil, errors.New("sshpool: no private keys configured (Signers, KeyFiles or UseAgent)")
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.KeepAliveInterval == 0 {
		cfg.KeepAliveInterval = DefaultKeepAliveInterval
	}
	if cfg.KeepAliveMaxMissed <= 0 {
		cfg.KeepAliveMaxMissed = DefaultKeepAliveMaxMissed
	}
	if cfg.MaxSessionsPerDevice <= 0 {
		cfg.MaxSessionsPerDevice = DefaultMaxSessionsPerDevice
	}
	if cfg.MaxOutputBytes <= 0 {
		cfg.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{
		cfg:     cfg,
		signers: signers,
		baseCtx: ctx,
		cancel:  cancel,
		devices: map[string]*device{},
	}, nil
}

// ExecCommand is the command line of every session's exec request. The
// device's sshd hands it to the SSH user's login shell, which may be bash,
// dash, BusyBox ash, zsh, fish, tcsh or csh: each of them parses these two
// plain words the same way, while their quoting rules differ enough (fish
// reads \' inside single quotes, csh expands ! and rejects newlines inside
// them) that no quoted argument can be trusted to them. The command itself
// travels on the session's standard input, where only sh reads it (#15).
const ExecCommand = "sh -s"

// Script returns what Run writes to the standard input of ExecCommand for
// cmd: cmd as the body of a brace group whose standard input is /dev/null.
// sh parses the whole group before it runs any of it, so a script cut short
// by a dropped link fails as a syntax error instead of running its first
// half (`docker rm -- web_1` cut to `docker rm -- web`), and a command that
// reads its standard input sees end of file, as it would without a script
// there, instead of eating the rest of the script.
func Script(cmd string) []byte {
	return []byte(scriptHead + cmd + scriptTail)
}

const (
	scriptHead = "{\n"
	scriptTail = "\n} </dev/null\n"
)

// ParseScript returns the command of a script made by Script, for servers
// that answer the product's commands (the device simulator).
func ParseScript(b []byte) (string, bool) {
	s := string(b)
	if !strings.HasPrefix(s, scriptHead) || !strings.HasSuffix(s, scriptTail) || len(s) < len(scriptHead)+len(scriptTail) {
		return "", false
	}
	return s[len(scriptHead) : len(s)-len(scriptTail)], true
}

// Run runs cmd, a POSIX sh command line, on the target device in a new
// session of the device's pooled connection, dialling it first if needed.
// The session's exec request is always ExecCommand and cmd goes to sh on its
// standard input (see Script), so the SSH user's login shell never parses
// cmd and the arguments quoted in it reach the command as they are.
//
// stdin must be nil, because the session's standard input carries the
// script, with one exception kept for scripts that are sent whole: cmd
// ExecCommand ("sh -s") with a script as stdin runs that script like any
// other cmd. Any other stdin is an Invalid error.
//
// Waiting for a session slot and for the connection are bounded by ctx
// (connecting also by ConnectTimeout). The command itself runs until ctx's
// deadline or CommandTimeout after it started, whichever is earlier; when
// that expires (or ctx is cancelled) the device's connection is closed and a
// Timeout (or Closed) error is returned. A command that exits
// non-zero returns its Result together with a CommandFailed *Error. The
// Result is non-nil whenever the command was started, also with a partial
// output on timeout. All errors are *Error.
func (p *Pool) Run(ctx context.Context, t Target, cmd string, stdin []byte) (*Result, error) {
	start := p.cfg.Clock()
	if err := t.validate(); err != nil {
		return nil, &Error{Kind: Invalid, DeviceID: t.DeviceID, Op: "run", Err: err}
	}
	if stdin != nil {
		if cmd != ExecCommand {
			return nil, &Error{Kind: Invalid, DeviceID: t.DeviceID, Op: "run",
				Err: errors.New("a command cannot have its own standard input: the session's carries the script")}
		}
		cmd = string(stdin)
	}
	d, err := p.device(t.DeviceID)
	if err != nil {
		return nil, err
	}
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctxError(ctx, t.DeviceID, "wait for session slot")
	}
	defer func() { <-d.sem }()

	c, err := p.connect(ctx, d, t)
	if err != nil {
		return nil, err
	}
	// The command's own budget starts now, so a slow (re)connect, bounded
	// by ConnectTimeout, does not eat into it.
	budget := p.cfg.CommandTimeout
	if d, ok := ctx.Value(commandTimeoutKey{}).(time.Duration); ok && d > 0 {
		budget = d
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	res, err := p.run(ctx, c, t.DeviceID, cmd)
	if res != nil {
		res.Duration = p.cfg.Clock().Sub(start)
	}
	return res, err
}

// Connected reports whether the pool holds a live connection to the device.
func (p *Pool) Connected(deviceID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.devices[deviceID]
	return d != nil && d.cur != nil && !d.cur.isClosed()
}

// Drop closes and forgets the device's connection, aborting a connect in
// progress and the commands running on it (they return Closed). Use it after
// a host key change, a change of credentials, or when the device is deleted.
func (p *Pool) Drop(deviceID string) {
	p.mu.Lock()
	d := p.devices[deviceID]
	delete(p.devices, deviceID)
	var c *conn
	if d != nil {
		c = d.cur
		d.cur = nil
		if d.dial != nil {
			d.dial.cancel()
			d.dial = nil
		}
	}
	p.mu.Unlock()
	if c != nil {
		c.close(errDropped)
	}
}

// Close closes every connection, aborts connects in progress and waits for
// the pool's background goroutines. Later Runs return Closed.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var conns []*conn
	for _, d := range p.devices {
		if d.cur != nil {
			conns = append(conns, d.cur)
		}
		if d.dial != nil {
			d.dial.cancel()
		}
	}
	p.devices = map[string]*device{}
	p.mu.Unlock()

	p.cancel()
	for _, c := range conns {
		c.close(errPoolClosed)
	}
	p.wg.Wait()
	return nil
}

func (p *Pool) device(id string) (*device, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, &Error{Kind: Closed, DeviceID: id, Op: "run", Err: errPoolClosed}
	}
	d := p.devices[id]
	if d == nil {
		d = &device{id: id, sem: make(chan struct{}, p.cfg.MaxSessionsPerDevice)}
		p.devices[id] = d
	}
	return d, nil
}

// run runs one command in a new session on c.
func (p *Pool) run(ctx context.Context, c *conn, deviceID, cmd string) (*Result, error) {
	// A deadline tears the whole connection down: whatever hangs (the
	// command, the link, the remote sshd) must not hang the next Run too.
	stop := context.AfterFunc(ctx, func() { c.close(context.Cause(ctx)) })
	defer stop()

	sess, err := c.client.NewSession()
	if err != nil {
		if !stop() {
			<-c.done
			return nil, ctxError(ctx, deviceID, "open session")
		}
		var refused *ssh.OpenChannelError
		if errors.As(err, &refused) {
			// The server declined the channel (e.g. MaxSessions); the
			// connection itself is fine.
			return nil, &Error{Kind: Unknown, DeviceID: deviceID, Op: "open session", Err: err}
		}
		c.close(err)
		return nil, &Error{Kind: Closed, DeviceID: deviceID, Op: "open session", Err: err}
	}
	defer sess.Close()

	stdout := &cappedBuffer{max: p.cfg.MaxOutputBytes}
	stderr := &cappedBuffer{max: p.cfg.MaxOutputBytes}
	sess.Stdout, sess.Stderr = stdout, stderr
	sess.Stdin = bytes.NewReader(Script(cmd))
	runErr := sess.Run(ExecCommand)
	expired := !stop()

	// Run has waited for the output copiers, so the buffers are ours now.
	res := &Result{
		Stdout:    stdout.buf,
		Stderr:    stderr.buf,
		Truncated: stdout.truncated || stderr.truncated,
	}
	var exitErr *ssh.ExitError
	switch {
	case runErr == nil:
		return res, nil
	case expired:
		// The closing may still be under way; finish it so the next Run
		// cannot pick this connection up.
		<-c.done
		res.ExitCode = -1
		return res, ctxError(ctx, deviceID, "run")
	case errors.As(runErr, &exitErr):
		res.ExitCode = exitErr.ExitStatus()
		return res, &Error{Kind: CommandFailed, DeviceID: deviceID, Op: "run", ExitCode: res.ExitCode, Err: runErr}
	default:
		// Includes *ssh.ExitMissingError: OpenSSH always reports an exit
		// status or signal, so a session ending without one means the
		// channel was torn down with the connection.
		res.ExitCode = -1
		if c.isClosed() && c.cause != nil {
			runErr = fmt.Errorf("%w (%v)", runErr, c.cause)
		}
		return res, &Error{Kind: Closed, DeviceID: deviceID, Op: "run", Err: runErr}
	}
}

// ctxError reports a Run that ran out of time (Timeout) or was cancelled
// (Closed).
func ctxError(ctx context.Context, deviceID, op string) error {
	kind := Closed
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		kind = Timeout
	}
	return &Error{Kind: kind, DeviceID: deviceID, Op: op, Err: ctx.Err()}
}

// cappedBuffer keeps the first max bytes written and counts the rest as
// truncated. It never fails a write, so the remote command is drained
// instead of blocking on a full channel window.
type cappedBuffer struct {
	buf       []byte
	max       int
	truncated bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	room := b.max - len(b.buf)
	switch {
	case len(p) <= room:
		b.buf = append(b.buf, p...)
	default:
		if room > 0 {
			b.buf = append(b.buf, p[:room]...)
		}
		b.truncated = true
	}
	return len(p), nil
}

type commandTimeoutKey struct{}

// WithCommandTimeout returns a context under which Run lets commands take up to d instead of
// cfg.CommandTimeout (still bounded by the context's own deadline): for long, deliberate steps such as a
// stop with a long grace period or an image pull.
func WithCommandTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, commandTimeoutKey{}, d)
}
