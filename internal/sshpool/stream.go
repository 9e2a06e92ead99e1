package sshpool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	"golang.org/x/crypto/ssh"
)

// streamCloseGrace is how long a cancelled stream waits for its session to end before it closes the connection.
const streamCloseGrace = 5 * time.Second

// Stream runs a long-lived command (a log tail) on the target device in a new session of the device's pooled
// connection and copies its output to stdout and stderr as it arrives, until the command exits or ctx ends. It
// holds one of the device's session slots for that long.
//
// Unlike Run there is no command deadline: ctx bounds it. When ctx ends only this session is ended (a TERM
// signal, then the channel is closed), not the device's connection, which other commands share; only a session
// still open streamCloseGrace later (sshd sends no signal to a forced command, and a follower that prints nothing
// does not notice the closed channel) takes the connection with it. A link that dies is found by the pool's
// keep-alive probes, which close the connection; Stream then returns a Closed error. The writers are called from the
// session's copier goroutines, stdout and stderr each from its own.
func (p *Pool) Stream(ctx context.Context, t Target, cmd string, stdout, stderr io.Writer) (*Result, error) {
	start := p.cfg.Clock()
	if err := t.validate(); err != nil {
		return nil, &Error{Kind: Invalid, DeviceID: t.DeviceID, Op: "stream", Err: err}
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
	sess, err := c.client.NewSession()
	if err != nil {
		var refused *ssh.OpenChannelError
		if errors.As(err, &refused) {
			return nil, &Error{Kind: Unknown, DeviceID: t.DeviceID, Op: "open session", Err: err}
		}
		c.close(err)
		return nil, &Error{Kind: Closed, DeviceID: t.DeviceID, Op: "open session", Err: err}
	}
	defer sess.Close()
	ended := make(chan struct{})
	defer close(ended)
	stop := context.AfterFunc(ctx, func() {
		// The signal ends the follower (the script execs it) on servers that honour signal requests; closing the
		// channel ends it on its next write on the others.
		_ = sess.Signal(ssh.SIGTERM)
		_ = sess.Close()
		// sshd sends no signal to a forced command (the device wrapper), and keeps the session of a follower that
		// prints nothing (a quiet container) until it writes again: after a grace period the connection goes, so
		// the stream and its session slot end now; the next command on the device dials again.
		select {
		case <-ended:
		case <-time.After(streamCloseGrace):
			c.close(context.Cause(ctx))
		}
	})
	defer stop()
	sess.Stdout, sess.Stderr = stdout, stderr
	sess.Stdin = bytes.NewReader(Script(cmd))
	runErr := sess.Run(ExecCommand)
	res := &Result{Duration: p.cfg.Clock().Sub(start)}
	var exitErr *ssh.ExitError
	switch {
	case ctx.Err() != nil:
		res.ExitCode = -1
		return res, ctxError(ctx, t.DeviceID, "stream")
	case runErr == nil:
		return res, nil
	case errors.As(runErr, &exitErr):
		res.ExitCode = exitErr.ExitStatus()
		return res, &Error{Kind: CommandFailed, DeviceID: t.DeviceID, Op: "stream", ExitCode: res.ExitCode, Err: runErr}
	default:
		res.ExitCode = -1
		return res, &Error{Kind: Closed, DeviceID: t.DeviceID, Op: "stream", Err: runErr}
	}
}
