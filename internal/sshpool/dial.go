package sshpool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// connect returns the device's live connection, joining or starting a dial.
// The dial runs on the pool's context with ConnectTimeout, not on the
// caller's, so one impatient caller does not fail the others waiting on it.
func (p *Pool) connect(ctx context.Context, d *device, t Target) (*conn, error) {
	key := t.key()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, &Error{Kind: Closed, DeviceID: t.DeviceID, Op: "dial", Err: errPoolClosed}
	}
	var stale *conn
	if c := d.cur; c != nil {
		if c.key == key && !c.isClosed() {
			p.mu.Unlock()
			return c, nil
		}
		// Closed, or the device's address, user or jump host changed.
		stale, d.cur = c, nil
	}
	call := d.dial
	if call == nil || call.key != key {
		if call != nil {
			call.cancel()
		}
		dctx, cancel := context.WithTimeout(p.baseCtx, p.cfg.ConnectTimeout)
		call = &dialCall{key: key, done: make(chan struct{}), cancel: cancel}
		d.dial = call
		p.wg.Add(1)
		go p.dialDevice(dctx, d, call, t)
	}
	p.mu.Unlock()
	if stale != nil {
		stale.close(errDropped)
	}

	select {
	case <-call.done:
		return call.conn, call.err
	case <-ctx.Done():
		return nil, ctxError(ctx, t.DeviceID, "dial")
	}
}

func (p *Pool) dialDevice(ctx context.Context, d *device, call *dialCall, t Target) {
	defer p.wg.Done()
	defer call.cancel()
	c, err := p.dialChain(ctx, t)

	p.mu.Lock()
	defer p.mu.Unlock()
	if d.dial == call {
		d.dial = nil
		if err == nil {
			d.cur = c
			p.watch(d, c)
		}
	} else {
		// Superseded by Drop, Close or a new target while dialling.
		cause := errDropped
		if p.closed {
			cause = errPoolClosed
		}
		if c != nil {
			c.close(cause)
		}
		c, err = nil, &Error{Kind: Closed, DeviceID: t.DeviceID, Op: "dial", Err: cause}
	}
	call.conn, call.err = c, err
	close(call.done)
}

// watch starts the goroutines that forget c when it dies and probe it with
// keep-alives. Called with p.mu held.
func (p *Pool) watch(d *device, c *conn) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = c.client.Wait()
		c.close(errors.New("connection lost"))
		p.mu.Lock()
		if d.cur == c {
			d.cur = nil
		}
		p.mu.Unlock()
	}()
	if p.cfg.KeepAliveInterval > 0 {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.keepAlive(c)
		}()
	}
}

// keepAlive sends one keepalive@openssh.com request per interval (OpenSSH
// answers it with a failure reply, which is all we need) and closes c when a
// request stays unanswered for KeepAliveMaxMissed intervals.
func (p *Pool) keepAlive(c *conn) {
	ticker := time.NewTicker(p.cfg.KeepAliveInterval)
	defer ticker.Stop()
	replies := make(chan error, 1)
	inFlight, missed := false, 0
	for {
		select {
		case <-c.done:
			return
		case err := <-replies:
			inFlight, missed = false, 0
			if err != nil {
				c.close(fmt.Errorf("%w: %v", errKeepAlive, err))
				return
			}
		case <-ticker.C:
			if inFlight {
				if missed++; missed >= p.cfg.KeepAliveMaxMissed {
					c.close(errKeepAlive)
					return
				}
				continue
			}
			inFlight = true
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				// Returns once answered or once c is closed.
				_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
				replies <- err
			}()
		}
	}
}

// dialChain connects through t's jump hosts (outermost first) to t.
func (p *Pool) dialChain(ctx context.Context, t Target) (*conn, error) {
	hops := t.chain()
	var clients []*ssh.Client
	fail := func(kind Kind, op string, hop Target, err error) (*conn, error) {
		for i := len(clients) - 1; i >= 0; i-- {
			_ = clients[i].Close()
		}
		return nil, &Error{Kind: kind, DeviceID: t.DeviceID, Op: op, Err: fmt.Errorf("%s: %w", hop, err)}
	}
	for i, hop := range hops {
		prefix := ""
		if i < len(hops)-1 {
			prefix = "jump " + hop.DeviceID + " "
		}
		var nc net.Conn
		var err error
		if len(clients) == 0 {
			nc, err = p.dialTCP(ctx, hop.Addr())
		} else {
			nc, err = clients[len(clients)-1].DialContext(ctx, "tcp", hop.Addr())
		}
		if err != nil {
			return fail(classifyConnect(ctx, err, false), prefix+"dial", hop, err)
		}
		client, kind, err := p.handshake(ctx, nc, hop)
		if err != nil {
			return fail(kind, prefix+"handshake", hop, err)
		}
		clients = append(clients, client)
	}
	last := len(clients) - 1
	return &conn{key: t.key(), client: clients[last], hops: clients[:last], done: make(chan struct{})}, nil
}

func (p *Pool) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	ka := net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 3}
	if p.cfg.KeepAliveInterval > 0 {
		ka.Idle, ka.Interval, ka.Count = p.cfg.KeepAliveInterval, p.cfg.KeepAliveInterval, p.cfg.KeepAliveMaxMissed+1
	}
	if p.cfg.Dialer == nil {
		d := net.Dialer{KeepAliveConfig: ka}
		return d.DialContext(ctx, "tcp", addr)
	}
	nc, err := p.cfg.Dialer(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetKeepAliveConfig(ka)
	}
	return nc, nil
}

// hostKeyState remembers the key accepted in the first key exchange so
// re-keying on a long-lived connection (which x/crypto also routes through
// the host key callback) neither asks the checker again with the expired
// connect context nor lets the key change mid-connection.
type hostKeyState struct {
	mu       sync.Mutex
	accepted ssh.PublicKey
	rejected error
}

func (p *Pool) hostKeyCallback(ctx context.Context, deviceID string, st *hostKeyState) ssh.HostKeyCallback {
	return func(_ string, _ net.Addr, key ssh.PublicKey) error {
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.accepted != nil {
			if bytes.Equal(st.accepted.Marshal(), key.Marshal()) {
				return nil
			}
			return NewHostKeyError(HostKeyChanged, deviceID, key)
		}
		if err := p.cfg.HostKeys.CheckHostKey(ctx, deviceID, key); err != nil {
			st.rejected = err
			return err
		}
		st.accepted = key
		return nil
	}
}

// handshake runs the SSH handshake and authentication on nc under ctx's
// deadline and returns the client, or the classified error.
func (p *Pool) handshake(ctx context.Context, nc net.Conn, hop Target) (*ssh.Client, Kind, error) {
	// SetDeadline covers TCP connections; tunnelled connections through a
	// jump host do not support deadlines, so closing on ctx covers those.
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })

	hk := &hostKeyState{}
	auth := &authState{}
	agentConn := &agentDialer{}
	defer agentConn.Close()
	cfg := &ssh.ClientConfig{
		User:            hop.User,
		HostKeyCallback: p.hostKeyCallback(ctx, hop.DeviceID, hk),
		AuthCallback:    p.authCallback(hop.User, auth, agentConn),
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, hop.Addr(), cfg)
	expired := !stop()
	if err != nil {
		hk.mu.Lock()
		rejected := hk.rejected
		hk.mu.Unlock()
		if rejected != nil {
			// The checker's verdict, not what the transport made of it.
			var hkErr *HostKeyError
			if errors.As(rejected, &hkErr) {
				return nil, hkErr.Kind, rejected
			}
			return nil, Unknown, fmt.Errorf("check host key: %w", rejected)
		}
		return nil, classifyConnect(ctx, err, auth.authStarted()), err
	}
	if expired {
		_ = sc.Close()
		return nil, Timeout, ctx.Err()
	}
	_ = nc.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), 0, nil
}
