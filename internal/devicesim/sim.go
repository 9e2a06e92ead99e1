// Package devicesim simulates a fleet of Linux devices for load tests and end-to-end tests of the product: one
// process serves N devices over real SSH (golang.org/x/crypto/ssh server side), each on its own loopback port
// with its own host key, and answers exactly the commands the product sends (the collector script and the docker
// commands of internal/docker, each a script on the standard input of `sh -s` as internal/sshpool sends them)
// with output in the formats real hosts produce.
//
// A device costs a listener, an accept goroutine and a few hundred bytes of state; the shell profiles, container
// templates and static texts are shared, and counters are pure functions of time, so thousands of devices fit
// in one process. Faults (refuse, hang, slow, drop, host-key change) can be set per device at any time.
package devicesim

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Fault is a failure mode a device can be put in.
type Fault string

// Faults. Each one makes the product's SSH pool see a distinct error kind.
const (
	// FaultNone is a healthy device.
	FaultNone Fault = ""
	// FaultRefuse closes the device's listener and its connections: connects get "connection refused", as when
	// sshd is stopped or the machine reboots.
	FaultRefuse Fault = "refuse"
	// FaultHang accepts TCP connections but never speaks SSH, and stops answering commands on existing
	// connections: a black-holed or frozen machine, found only by deadlines.
	FaultHang Fault = "hang"
	// FaultSlow delays every command's answer by Config.SlowDelay.
	FaultSlow Fault = "slow"
	// FaultDrop closes the TCP connection in the middle of every command's output.
	FaultDrop Fault = "drop"
	// FaultHostKey replaces the device's host key with the next generation and closes its connections, as a
	// reinstalled (or impersonated) machine would. The new key stays after the fault is cleared.
	FaultHostKey Fault = "hostkey"
)

// ParseFault checks a fault name.
func ParseFault(s string) (Fault, error) {
	switch f := Fault(s); f {
	case FaultNone, FaultRefuse, FaultHang, FaultSlow, FaultDrop, FaultHostKey:
		return f, nil
	}
	return "", fmt.Errorf("unknown fault %q (want refuse, hang, slow, drop or hostkey)", s)
}

// Config describes the simulated fleet.
type Config struct {
	// Devices is the number of devices.
	Devices int
	// Host is the listen address of every device; default 127.0.0.1.
	Host string
	// BasePort is the port of device 0; device i listens on BasePort+i. 0 picks a free port per device.
	BasePort int
	// Seed makes host keys, container IDs and device profiles reproducible: the same seed gives the same keys
	// after a restart, so pinned keys keep matching.
	Seed string
	// KeyGeneration selects the host keys: bumping it rotates every device's key.
	KeyGeneration int
	// AuthorizedKeys are the client public keys accepted; at least one is required.
	AuthorizedKeys []ssh.PublicKey
	// User, when set, is the only login name accepted.
	User string
	// Containers is the number of containers per device.
	Containers int
	// SlowDelay is the extra latency of FaultSlow; default 2s.
	SlowDelay time.Duration
	// Log receives connection errors at debug level; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Sim is a running simulated fleet.
type Sim struct {
	cfg     Config
	devices []*Device
	bufs    sync.Pool // output buffers of the collector script
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Device is one simulated machine.
type Device struct {
	sim   *Sim
	index int
	prof  profile

	docker *dockerHost

	mu       sync.Mutex
	port     int
	addr     string
	ln       net.Listener
	fault    Fault
	keyGen   int
	signer   ssh.Signer
	srvCfg   *ssh.ServerConfig
	conns    map[ssh.Conn]struct{}
	hangConn map[net.Conn]struct{}

	commands atomic.Int64
	sessions atomic.Int64
	accepted atomic.Int64
}

// New builds the fleet and starts listening on every device's port.
func New(cfg Config) (*Sim, error) {
	if cfg.Devices <= 0 {
		return nil, errors.New("devicesim: Devices must be positive")
	}
	if len(cfg.AuthorizedKeys) == 0 {
		return nil, errors.New("devicesim: at least one authorized client key is required")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.SlowDelay <= 0 {
		cfg.SlowDelay = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sim{cfg: cfg, log: log, ctx: ctx, cancel: cancel}
	s.bufs.New = func() any { b := make([]byte, 0, 16<<10); return &b }
	now := cfg.Now()
	for i := 0; i < cfg.Devices; i++ {
		r := newRNG(cfg.Seed, "profile", i)
		d := &Device{sim: s, index: i, prof: newProfile(i, now, r), keyGen: cfg.KeyGeneration,
			docker: newDockerHost(cfg.Seed, i, cfg.Containers, now),
			conns:  map[ssh.Conn]struct{}{}, hangConn: map[net.Conn]struct{}{}}
		if cfg.BasePort > 0 {
			d.port = cfg.BasePort + i
		}
		if err := d.setKey(); err != nil {
			s.Close()
			return nil, err
		}
		if err := d.listen(); err != nil {
			s.Close()
			return nil, err
		}
		s.devices = append(s.devices, d)
	}
	return s, nil
}

// Devices returns every device, in index order.
func (s *Sim) Devices() []*Device { return s.devices }

// Device returns device i.
func (s *Sim) Device(i int) *Device { return s.devices[i] }

// SetFaultShare puts the given fault on a share (0..1) of the devices, chosen by a hash of the seed, the fault
// and the index so shares of different faults overlap little; it returns the affected devices.
func (s *Sim) SetFaultShare(f Fault, share float64) []*Device {
	var hit []*Device
	for _, d := range s.devices {
		if newRNG(s.cfg.Seed, "fault/"+string(f), d.index).float() < share {
			d.SetFault(f)
			hit = append(hit, d)
		}
	}
	return hit
}

// Close stops every device and closes every connection.
func (s *Sim) Close() error {
	s.cancel()
	for _, d := range s.devices {
		d.mu.Lock()
		d.closeLocked()
		d.mu.Unlock()
	}
	s.wg.Wait()
	return nil
}

// Index is the device's position in the fleet.
func (d *Device) Index() int { return d.index }

// Name is the device's hostname (what its collector output reports).
func (d *Device) Name() string { return d.prof.hostname }

// Addr is the device's host:port.
func (d *Device) Addr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addr
}

// Port is the device's TCP port.
func (d *Device) Port() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.port
}

// HostKey is the public host key the device currently offers.
func (d *Device) HostKey() ssh.PublicKey {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.signer.PublicKey()
}

// Fault is the device's current fault.
func (d *Device) Fault() Fault {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fault
}

// Commands is how many commands the device has answered (including refused unknown ones).
func (d *Device) Commands() int64 { return d.commands.Load() }

// RotateHostKey moves the device to its next host key and closes its connections.
func (d *Device) RotateHostKey() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keyGen++
	_ = d.setKeyLocked()
	d.closeConnsLocked()
}

// SetFault changes the device's failure mode; FaultNone heals it (a host-key change stays).
func (d *Device) SetFault(f Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev := d.fault
	d.fault = f
	switch f {
	case FaultRefuse:
		d.closeLocked()
		return
	case FaultHostKey:
		d.keyGen++
		_ = d.setKeyLocked()
		d.closeConnsLocked()
	}
	if prev == FaultHang {
		for c := range d.hangConn {
			_ = c.Close()
		}
		clear(d.hangConn)
	}
	if d.ln == nil {
		if err := d.listenLocked(); err != nil {
			d.sim.log.Warn("devicesim: listen again", "device", d.index, "err", err)
		}
	}
}

func (d *Device) setKey() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.setKeyLocked()
}

// HostKeySigner derives a device's host key from the seed, its index and the key generation: deterministic so a
// restarted simulator offers the keys the product pinned.
func HostKeySigner(seed string, index, generation int) (ssh.Signer, error) {
	sum := sha256.Sum256([]byte(fmt.Sprintf("devicesim/hostkey/%s/%d/%d", seed, index, generation)))
	return ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(sum[:]))
}

func (d *Device) setKeyLocked() error {
	signer, err := HostKeySigner(d.sim.cfg.Seed, d.index, d.keyGen)
	if err != nil {
		return fmt.Errorf("devicesim: host key of device %d: %w", d.index, err)
	}
	d.signer = signer
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: d.sim.checkClientKey,
		ServerVersion:     "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
	}
	cfg.AddHostKey(signer)
	d.srvCfg = cfg
	return nil
}

func (s *Sim) checkClientKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if s.cfg.User != "" && meta.User() != s.cfg.User {
		return nil, fmt.Errorf("user %q not accepted", meta.User())
	}
	raw := key.Marshal()
	for _, k := range s.cfg.AuthorizedKeys {
		if string(k.Marshal()) == string(raw) {
			return &ssh.Permissions{}, nil
		}
	}
	return nil, errors.New("key not authorized")
}

func (d *Device) listen() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.listenLocked()
}

func (d *Device) listenLocked() error {
	ln, err := net.Listen("tcp", net.JoinHostPort(d.sim.cfg.Host, strconv.Itoa(d.port)))
	if err != nil {
		return fmt.Errorf("devicesim: device %d listen: %w", d.index, err)
	}
	d.ln = ln
	d.port = ln.Addr().(*net.TCPAddr).Port
	d.addr = ln.Addr().String()
	d.sim.wg.Add(1)
	go d.acceptLoop(ln)
	return nil
}

// closeLocked stops listening and drops every connection.
func (d *Device) closeLocked() {
	if d.ln != nil {
		_ = d.ln.Close()
		d.ln = nil
	}
	d.closeConnsLocked()
	for c := range d.hangConn {
		_ = c.Close()
	}
	clear(d.hangConn)
}

func (d *Device) closeConnsLocked() {
	for c := range d.conns {
		_ = c.Close()
	}
	clear(d.conns)
}

func (d *Device) acceptLoop(ln net.Listener) {
	defer d.sim.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		d.accepted.Add(1)
		d.sim.wg.Add(1)
		go d.serveConn(nc)
	}
}

func (d *Device) serveConn(nc net.Conn) {
	defer d.sim.wg.Done()
	d.mu.Lock()
	fault, cfg := d.fault, d.srvCfg
	if fault == FaultHang {
		// Swallow whatever the client sends and never answer, until the client gives up or the fault is healed.
		d.hangConn[nc] = struct{}{}
		d.mu.Unlock()
		_, _ = io.Copy(io.Discard, nc)
		_ = nc.Close()
		d.mu.Lock()
		delete(d.hangConn, nc)
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()

	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		d.sim.log.Debug("devicesim: handshake", "device", d.index, "err", err)
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	d.mu.Lock()
	if d.ln == nil && d.fault == FaultRefuse || d.sim.ctx.Err() != nil {
		d.mu.Unlock()
		_ = sc.Close()
		return
	}
	d.conns[sc] = struct{}{}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.conns, sc)
		d.mu.Unlock()
		_ = sc.Close()
	}()
	// keepalive@openssh.com and other global requests: answered "no" like OpenSSH does, which still counts as
	// an answer for the client's keep-alive.
	go ssh.DiscardRequests(reqs)
	closed := make(chan struct{})
	defer close(closed)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		d.sessions.Add(1)
		go d.serveSession(nc, closed, ch, creqs)
	}
}

// execPayload is the payload of an "exec" channel request (RFC 4254 6.5).
type execPayload struct{ Command string }

func (d *Device) serveSession(nc net.Conn, closed <-chan struct{}, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p execPayload
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			_ = req.Reply(true, nil)
			go ssh.DiscardRequests(reqs)
			d.runCommand(nc, closed, ch, p.Command)
			return
		default:
			// env, pty-req, shell, subsystem: not offered, as on a locked-down sshd.
			_ = req.Reply(false, nil)
		}
	}
}

func (d *Device) runCommand(nc net.Conn, closed <-chan struct{}, ch ssh.Channel, cmd string) {
	d.commands.Add(1)
	stdin := func() []byte {
		b, _ := io.ReadAll(io.LimitReader(ch, 1<<20))
		return b
	}
	switch d.Fault() {
	case FaultHang:
		// The command never ends; the client's deadline closes the connection.
		_, _ = io.Copy(io.Discard, ch)
		select {
		case <-d.sim.ctx.Done():
		case <-closed:
		}
		return
	case FaultSlow:
		select {
		case <-time.After(d.sim.cfg.SlowDelay):
		case <-d.sim.ctx.Done():
			return
		case <-closed:
			return
		}
	}
	res := d.execute(cmd, stdin, d.sim.cfg.Now())
	if d.Fault() == FaultDrop {
		_, _ = ch.Write(res.stdout[:len(res.stdout)/2])
		_ = nc.Close()
		return
	}
	if len(res.stdout) > 0 {
		_, _ = ch.Write(res.stdout)
	}
	if len(res.stderr) > 0 {
		_, _ = ch.Stderr().Write(res.stderr)
	}
	var status [4]byte
	binary.BigEndian.PutUint32(status[:], uint32(res.exit))
	_, _ = ch.SendRequest("exit-status", false, status[:])
}

// rng is a tiny deterministic generator (splitmix64) so device profiles depend only on the seed and index.
type rng struct{ state uint64 }

func newRNG(seed, purpose string, index int) *rng {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d", seed, purpose, index)))
	return &rng{state: binary.LittleEndian.Uint64(sum[:8])}
}

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }
