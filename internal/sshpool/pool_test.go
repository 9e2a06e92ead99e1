package sshpool

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

func mustSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return s
}

// dialLog counts the pool's TCP dials by address.
type dialLog struct {
	mu    sync.Mutex
	addrs []string
	// allow, when set, refuses dials to any other address.
	allow string
}

func (l *dialLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	l.mu.Lock()
	l.addrs = append(l.addrs, addr)
	allow := l.allow
	l.mu.Unlock()
	if allow != "" && addr != allow {
		return nil, fmt.Errorf("test dialer: %s is only reachable through the jump host", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (l *dialLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs)
}

func (l *dialLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.addrs...)
}

// testPool builds a pool that trusts the given servers' host keys and
// authenticates with their client keys. Short timeouts keep failures fast.
func testPool(t *testing.T, tweak func(*Config), servers map[string]*testenv.SSHD) (*Pool, *PinnedKeys, *dialLog) {
	t.Helper()
	pins := NewPinnedKeys()
	log := &dialLog{}
	cfg := Config{
		HostKeys:          pins,
		ConnectTimeout:    5 * time.Second,
		CommandTimeout:    5 * time.Second,
		KeepAliveInterval: time.Second,
		Dialer:            log.dial,
	}
	for id, s := range servers {
		pins.Pin(id, s.HostKey)
		cfg.Signers = append(cfg.Signers, s.ClientSigner)
	}
	if tweak != nil {
		tweak(&cfg)
	}
	p, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p, pins, log
}

func targetOf(id string, s *testenv.SSHD) Target {
	return Target{DeviceID: id, Host: s.Host, Port: s.Port, User: s.User}
}

func requireKind(t *testing.T, err error, want Kind) *Error {
	t.Helper()
	var e *Error
	require.ErrorAs(t, err, &e, "want *sshpool.Error, got %v", err)
	require.Equal(t, want, e.Kind, "error: %v", err)
	return e
}

func TestRun(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	p, _, _ := testPool(t, func(c *Config) { c.MaxOutputBytes = 1000 }, map[string]*testenv.SSHD{"dev": s})
	tgt := targetOf("dev", s)

	tests := []struct {
		name       string
		cmd        string
		stdin      []byte
		wantStdout string
		wantStderr string
		wantExit   int
		wantTrunc  bool
		wantKind   Kind // Unknown means no error
		anyStderr  bool
	}{
		{name: "stdout", cmd: "echo hello", wantStdout: "hello\n"},
		{name: "runs as login user", cmd: "id -un", wantStdout: s.User + "\n"},
		{name: "stderr", cmd: "echo oops >&2", wantStderr: "oops\n"},
		{name: "exit code", cmd: "echo partial; exit 3", wantStdout: "partial\n", wantExit: 3, wantKind: CommandFailed},
		// The login shell may report the killed sh on stderr ("Killed"), so stderr is not compared.
		{name: "killed by signal", cmd: "kill -KILL $$", wantExit: 128 + 9, wantKind: CommandFailed, anyStderr: true},
		{name: "script on stdin of sh -s", cmd: "sh -s", stdin: []byte("echo from stdin; exit 4\n"), wantStdout: "from stdin\n", wantExit: 4, wantKind: CommandFailed},
		{name: "commands read no script", cmd: "cat; wc -c; echo done", wantStdout: "0\ndone\n"},
		{name: "multi-line", cmd: "f() {\n  echo \"$1\"\n}\nf 'a  b'", wantStdout: "a  b\n"},
		{name: "login shell never parses", cmd: "echo 'a\\' 'b!!' \"$(echo c)\"", wantStdout: "a\\ b!! c\n"},
		{name: "stdout capped", cmd: "head -c 5000 /dev/zero | tr '\\0' x", wantStdout: strings.Repeat("x", 1000), wantTrunc: true},
		{name: "stderr capped", cmd: "head -c 300000 /dev/zero | tr '\\0' y >&2; echo ok", wantStdout: "ok\n", wantStderr: strings.Repeat("y", 1000), wantTrunc: true},
	}
	t.Run("own stdin", func(t *testing.T) {
		_, err := p.Run(context.Background(), tgt, "tr a-z A-Z", []byte("poll me"))
		requireKind(t, err, Invalid)
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := p.Run(context.Background(), tgt, tt.cmd, tt.stdin)
			if tt.wantKind == Unknown {
				require.NoError(t, err)
			} else {
				e := requireKind(t, err, tt.wantKind)
				require.Equal(t, tt.wantExit, e.ExitCode)
				require.Equal(t, "dev", e.DeviceID)
			}
			require.NotNil(t, res)
			require.Equal(t, tt.wantStdout, string(res.Stdout))
			if !tt.anyStderr {
				require.Equal(t, tt.wantStderr, string(res.Stderr))
			}
			require.Equal(t, tt.wantExit, res.ExitCode)
			require.Equal(t, tt.wantTrunc, res.Truncated)
			require.Positive(t, res.Duration)
		})
	}
}

func TestRunInvalidTarget(t *testing.T) {
	p, _, log := testPool(t, func(c *Config) { c.Signers = []ssh.Signer{mustSigner(t)} }, nil)
	_, err := p.Run(context.Background(), Target{DeviceID: "dev", Host: "127.0.0.1"}, "true", nil)
	e := requireKind(t, err, Invalid)
	require.False(t, e.Kind.Retryable())
	require.Zero(t, log.count())
}

func TestNewRejectsUnsafeConfig(t *testing.T) {
	_, err := New(Config{Signers: []ssh.Signer{mustSigner(t)}})
	require.Error(t, err, "no host key checker")
	_, err = New(Config{HostKeys: NewPinnedKeys()})
	require.Error(t, err, "no keys")
	_, err = New(Config{HostKeys: NewPinnedKeys(), KeyFiles: []string{filepath.Join(t.TempDir(), "missing")}})
	require.Error(t, err)
}

func TestKeyFiles(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	p, _, _ := testPool(t, func(c *Config) {
		c.Signers = nil
		c.KeyFiles = []string{s.ClientKeyPath}
	}, map[string]*testenv.SSHD{"dev": s})
	res, err := p.Run(context.Background(), targetOf("dev", s), "echo key file", nil)
	require.NoError(t, err)
	require.Equal(t, "key file\n", string(res.Stdout))
}

func TestConnectionReuse(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	p, _, log := testPool(t, nil, map[string]*testenv.SSHD{"dev": s})
	tgt := targetOf("dev", s)

	// Concurrent first use shares one dial.
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.Run(context.Background(), tgt, "true", nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i := 0; i < 10; i++ {
		_, err := p.Run(context.Background(), tgt, "true", nil)
		require.NoError(t, err)
	}
	require.Equal(t, 1, log.count(), "16 commands must share one connection")
	require.True(t, p.Connected("dev"))

	p.Drop("dev")
	require.False(t, p.Connected("dev"))
	_, err := p.Run(context.Background(), tgt, "true", nil)
	require.NoError(t, err)
	require.Equal(t, 2, log.count(), "Drop forgets the connection")

	moved := tgt
	moved.Host = "localhost"
	_, err = p.Run(context.Background(), moved, "true", nil)
	require.NoError(t, err)
	require.Equal(t, 3, log.count(), "a changed address is redialled")
}

func TestSessionLimit(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	const limit, runs = 3, 12
	p, _, log := testPool(t, func(c *Config) { c.MaxSessionsPerDevice = limit }, map[string]*testenv.SSHD{"dev": s})
	tgt := targetOf("dev", s)

	// Each command registers itself in a shared directory, counts the
	// registered commands while all of its batch are surely running, and
	// leaves.
	dir, err := os.MkdirTemp("", "sshpool-sessions-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777))
	cmd := fmt.Sprintf("touch %[1]s/$$; sleep 0.2; ls %[1]s | wc -l; sleep 0.1; rm %[1]s/$$", dir)

	var wg sync.WaitGroup
	type outcome struct {
		n   int
		err error
	}
	results := make(chan outcome, runs)
	for i := 0; i < runs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := p.Run(context.Background(), tgt, cmd, nil)
			if err != nil {
				results <- outcome{err: err}
				return
			}
			n, err := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
			results <- outcome{n: n, err: err}
		}()
	}
	wg.Wait()
	close(results)
	maxSeen := 0
	for r := range results {
		require.NoError(t, r.err)
		maxSeen = max(maxSeen, r.n)
	}
	require.LessOrEqual(t, maxSeen, limit, "more sessions at once than the per-device limit")
	require.GreaterOrEqual(t, maxSeen, 2, "sessions on one device must run concurrently")
	require.Equal(t, 1, log.count())
}

func TestSessionSlotWaitRespectsContext(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	p, _, _ := testPool(t, func(c *Config) { c.MaxSessionsPerDevice = 1 }, map[string]*testenv.SSHD{"dev": s})
	tgt := targetOf("dev", s)

	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		_, err := p.Run(context.Background(), tgt, "sleep 2", nil)
		done <- err
	}()
	<-started
	// Wait until the long command holds the only slot.
	require.Eventually(t, func() bool { return p.Connected("dev") }, 5*time.Second, 10*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := p.Run(ctx, tgt, "true", nil)
	e := requireKind(t, err, Timeout)
	require.Equal(t, "wait for session slot", e.Op)
	require.Less(t, time.Since(begin), 1500*time.Millisecond)
	require.NoError(t, <-done, "waiting for a slot must not disturb the running command")
}

func TestHostKeys(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	p, pins, _ := testPool(t, nil, map[string]*testenv.SSHD{"dev": s})
	tgt := targetOf("dev", s)
	pins.Unpin("dev")

	_, err := p.Run(context.Background(), tgt, "true", nil)
	e := requireKind(t, err, HostKeyUnknown)
	require.False(t, e.Kind.Retryable())
	var hk *HostKeyError
	require.ErrorAs(t, err, &hk)
	require.Equal(t, "dev", hk.DeviceID)
	require.Equal(t, ssh.FingerprintSHA256(s.HostKey), hk.Fingerprint)
	require.Equal(t, s.HostKey.Marshal(), hk.Offered.Marshal())
	require.False(t, p.Connected("dev"))

	// The operator approves the key.
	pins.Pin("dev", hk.Offered)
	_, err = p.Run(context.Background(), tgt, "true", nil)
	require.NoError(t, err)

	// The device is reinstalled: new host key. The next connection must
	// be refused, never silently re-pinned.
	oldKey := s.HostKey
	s.RotateHostKey()
	p.Drop("dev")
	_, err = p.Run(context.Background(), tgt, "true", nil)
	requireKind(t, err, HostKeyChanged)
	require.ErrorAs(t, err, &hk)
	require.Equal(t, HostKeyChanged, hk.Kind)
	require.Equal(t, s.HostKey.Marshal(), hk.Offered.Marshal())
	pinned, _ := pins.Key("dev")
	require.Equal(t, oldKey.Marshal(), pinned.Marshal(), "the old pin stays until approved")
}

func TestTrustOnFirstUse(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	tofu := &PinnedKeys{TrustOnFirstUse: true}
	p, _, _ := testPool(t, func(c *Config) { c.HostKeys = tofu }, map[string]*testenv.SSHD{"dev": s})
	_, err := p.Run(context.Background(), targetOf("dev", s), "true", nil)
	require.NoError(t, err)
	got, ok := tofu.Key("dev")
	require.True(t, ok)
	require.Equal(t, s.HostKey.Marshal(), got.Marshal())
}

// failingChecker fails every lookup, as a checker backed by an unavailable
// database would.
type failingChecker struct{ err error }

func (f failingChecker) CheckHostKey(context.Context, string, ssh.PublicKey) error { return f.err }

func TestHostKeyCheckerFailure(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	dbDown := errors.New("database unavailable")
	p, _, _ := testPool(t, func(c *Config) { c.HostKeys = failingChecker{dbDown} }, map[string]*testenv.SSHD{"dev": s})
	_, err := p.Run(context.Background(), targetOf("dev", s), "true", nil)
	e := requireKind(t, err, Unknown)
	require.True(t, e.Kind.Retryable())
	require.ErrorIs(t, err, dbDown)
}

func TestAuthFailed(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	p, _, _ := testPool(t, func(c *Config) { c.Signers = []ssh.Signer{mustSigner(t)} }, map[string]*testenv.SSHD{"dev": s})
	_, err := p.Run(context.Background(), targetOf("dev", s), "true", nil)
	e := requireKind(t, err, AuthFailed)
	require.False(t, e.Kind.Retryable())
	require.Equal(t, "handshake", e.Op)
}

func TestRefused(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	p, _, _ := testPool(t, nil, map[string]*testenv.SSHD{"dev": s})
	s.Stop()
	_, err := p.Run(context.Background(), targetOf("dev", s), "true", nil)
	e := requireKind(t, err, Refused)
	require.True(t, e.Kind.Retryable())
	require.Equal(t, "dial", e.Op)

	s.Start()
	_, err = p.Run(context.Background(), targetOf("dev", s), "true", nil)
	require.NoError(t, err, "a failed dial is not cached")
}

// silentListener accepts TCP connections and never says anything, like a
// host whose sshd hangs or a middlebox that swallows the stream.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

func TestConnectTimeoutDoesNotBlockOtherDevices(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	const connectTimeout = 1500 * time.Millisecond
	p, pins, _ := testPool(t, func(c *Config) { c.ConnectTimeout = connectTimeout }, map[string]*testenv.SSHD{"good": s})
	pins.Pin("hung", s.HostKey)

	host, portStr, err := net.SplitHostPort(silentListener(t))
	require.NoError(t, err)
	port, err := strconv.Atoi(portStr)
	require.NoError(t, err)
	hung := Target{DeviceID: "hung", Host: host, Port: port, User: s.User}
	good := targetOf("good", s)
	_, err = p.Run(context.Background(), good, "true", nil)
	require.NoError(t, err)

	type outcome struct {
		err     error
		elapsed time.Duration
		at      time.Time
	}
	hungDone := make(chan outcome, 1)
	begin := time.Now()
	go func() {
		_, err := p.Run(context.Background(), hung, "true", nil)
		hungDone <- outcome{err: err, elapsed: time.Since(begin), at: time.Now()}
	}()

	// While the hung device is still connecting, the good one works.
	for i := 0; i < 3; i++ {
		res, err := p.Run(context.Background(), good, "echo up", nil)
		require.NoError(t, err)
		require.Equal(t, "up\n", string(res.Stdout))
	}
	goodAt := time.Now()

	r := <-hungDone
	e := requireKind(t, r.err, Timeout)
	require.Equal(t, "handshake", e.Op)
	require.GreaterOrEqual(t, r.elapsed, connectTimeout)
	require.Less(t, r.elapsed, connectTimeout+1500*time.Millisecond)
	require.True(t, goodAt.Before(r.at), "the good device's commands must finish while the hung one is connecting")
}

func TestCommandTimeoutClosesConnection(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	const commandTimeout = time.Second
	p, _, log := testPool(t, func(c *Config) { c.CommandTimeout = commandTimeout }, map[string]*testenv.SSHD{"dev": s})
	tgt := targetOf("dev", s)

	begin := time.Now()
	res, err := p.Run(context.Background(), tgt, "echo started; sleep 60", nil)
	elapsed := time.Since(begin)
	e := requireKind(t, err, Timeout)
	require.Equal(t, "run", e.Op)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.GreaterOrEqual(t, elapsed, commandTimeout)
	require.Less(t, elapsed, commandTimeout+2*time.Second)
	require.NotNil(t, res)
	require.Equal(t, "started\n", string(res.Stdout), "output so far is kept")
	require.Equal(t, -1, res.ExitCode)
	require.False(t, p.Connected("dev"), "a timed-out command closes the connection")

	res, err = p.Run(context.Background(), tgt, "echo again", nil)
	require.NoError(t, err)
	require.Equal(t, "again\n", string(res.Stdout))
	require.Equal(t, 2, log.count(), "the next Run redials")

	// A caller's shorter deadline wins over CommandTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begin = time.Now()
	_, err = p.Run(ctx, tgt, "sleep 60", nil)
	requireKind(t, err, Timeout)
	require.Less(t, time.Since(begin), commandTimeout-100*time.Millisecond)

	// A caller that asks for a longer budget gets it: a command longer than CommandTimeout completes.
	res, err = p.Run(WithCommandTimeout(context.Background(), 10*commandTimeout), tgt, "sleep 1.5; echo slow", nil)
	require.NoError(t, err)
	require.Equal(t, "slow\n", string(res.Stdout))
}

func TestCancelledRunReportsClosed(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	p, _, _ := testPool(t, nil, map[string]*testenv.SSHD{"dev": s})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(ctx, targetOf("dev", s), "sleep 60", nil)
		done <- err
	}()
	require.Eventually(t, func() bool { return p.Connected("dev") }, 5*time.Second, 10*time.Millisecond)
	cancel()
	err := <-done
	requireKind(t, err, Closed)
	require.ErrorIs(t, err, context.Canceled)
}

// freezableProxy forwards TCP to a target until frozen; frozen, it keeps
// the connections open but forwards nothing, like a link that died without
// a reset.
type freezableProxy struct {
	ln     net.Listener
	target string
	gate   sync.RWMutex // write-locked while frozen
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *freezableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	px := &freezableProxy{ln: ln, target: target}
	px.wg.Add(1)
	go px.serve()
	return px
}

func (px *freezableProxy) serve() {
	defer px.wg.Done()
	for {
		down, err := px.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", px.target)
		if err != nil {
			_ = down.Close()
			continue
		}
		px.mu.Lock()
		px.conns = append(px.conns, down, up)
		px.mu.Unlock()
		px.wg.Add(2)
		go px.pipe(down, up)
		go px.pipe(up, down)
	}
}

func (px *freezableProxy) pipe(dst, src net.Conn) {
	defer px.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			px.gate.RLock()
			_, werr := dst.Write(buf[:n])
			px.gate.RUnlock()
			if werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}
			return
		}
	}
}

func (px *freezableProxy) Addr() string { return px.ln.Addr().String() }

func (px *freezableProxy) Freeze() { px.gate.Lock() }

// Close must be called while frozen, from the test that froze it.
func (px *freezableProxy) CloseFrozen() {
	_ = px.ln.Close()
	px.mu.Lock()
	for _, c := range px.conns {
		_ = c.Close()
	}
	px.mu.Unlock()
	px.gate.Unlock()
	px.wg.Wait()
}

func TestKeepAliveDropsDeadLink(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	const interval = 300 * time.Millisecond
	p, _, _ := testPool(t, func(c *Config) {
		c.KeepAliveInterval = interval
		c.KeepAliveMaxMissed = 2
	}, map[string]*testenv.SSHD{"dev": s})
	px := startProxy(t, s.Addr)

	host, portStr, err := net.SplitHostPort(px.Addr())
	require.NoError(t, err)
	port, err := strconv.Atoi(portStr)
	require.NoError(t, err)
	tgt := Target{DeviceID: "dev", Host: host, Port: port, User: s.User}

	_, err = p.Run(context.Background(), tgt, "true", nil)
	require.NoError(t, err)
	// A healthy idle link survives many keep-alive rounds.
	require.Never(t, func() bool { return !p.Connected("dev") }, 6*interval, interval/4)

	px.Freeze()
	frozenAt := time.Now()
	require.Eventually(t, func() bool { return !p.Connected("dev") }, 10*interval, interval/20,
		"a dead link must be detected by keep-alive")
	detected := time.Since(frozenAt)
	px.CloseFrozen()
	require.GreaterOrEqual(t, detected, interval, "dropped before any probe could be missed")
	require.LessOrEqual(t, detected, 3*interval+time.Second, "dead link detected too late")
}

func TestJumpHost(t *testing.T) {
	bastion := testenv.StartSSHD(t, testenv.SSHDOptions{})
	// The inner device listens on another loopback address that the test
	// dialer refuses, so it is only reachable through the bastion.
	inner := testenv.StartSSHD(t, testenv.SSHDOptions{Addr: freeAddr(t, "127.0.0.2")})
	p, pins, log := testPool(t, nil, map[string]*testenv.SSHD{"bastion": bastion, "inner": inner})
	log.allow = bastion.Addr

	jump := targetOf("bastion", bastion)
	tgt := targetOf("inner", inner)
	tgt.Jump = &jump

	_, err := p.Run(context.Background(), targetOf("inner", inner), "true", nil)
	requireKind(t, err, Unknown) // the test dialer's refusal: not reachable directly
	p.Drop("inner")

	for i := 0; i < 3; i++ {
		res, err := p.Run(context.Background(), tgt, "echo inside; echo $SSH_CONNECTION | cut -d' ' -f3", nil)
		require.NoError(t, err)
		require.Equal(t, "inside\n"+inner.Host+"\n", string(res.Stdout))
	}
	require.Equal(t, []string{inner.Addr, bastion.Addr}, log.all(), "one dial, to the bastion only")

	// A changed key on the jump host blocks the inner device too, and the
	// error names the jump host.
	p.Drop("inner")
	pins.Pin("bastion", mustSigner(t).PublicKey())
	_, err = p.Run(context.Background(), tgt, "true", nil)
	e := requireKind(t, err, HostKeyChanged)
	require.Equal(t, "inner", e.DeviceID)
	require.Equal(t, "jump bastion handshake", e.Op)
	var hk *HostKeyError
	require.ErrorAs(t, err, &hk)
	require.Equal(t, "bastion", hk.DeviceID)

	// The inner device's own key is checked under its own ID.
	pins.Pin("bastion", bastion.HostKey)
	pins.Unpin("inner")
	p.Drop("inner")
	_, err = p.Run(context.Background(), tgt, "true", nil)
	e = requireKind(t, err, HostKeyUnknown)
	require.Equal(t, "handshake", e.Op)
	require.ErrorAs(t, err, &hk)
	require.Equal(t, "inner", hk.DeviceID)
}

func TestJumpHostCannotReachTarget(t *testing.T) {
	bastion := testenv.StartSSHD(t, testenv.SSHDOptions{})
	p, _, _ := testPool(t, nil, map[string]*testenv.SSHD{"bastion": bastion})
	jump := targetOf("bastion", bastion)
	// A port nobody listens on, behind the bastion.
	closed := freeAddr(t, "127.0.0.1")
	host, portStr, _ := net.SplitHostPort(closed)
	port, _ := strconv.Atoi(portStr)
	tgt := Target{DeviceID: "inner", Host: host, Port: port, User: "root", Jump: &jump}
	_, err := p.Run(context.Background(), tgt, "true", nil)
	e := requireKind(t, err, Unreachable)
	require.Equal(t, "dial", e.Op)
}

func TestDropAbortsRunningCommand(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	p, _, _ := testPool(t, nil, map[string]*testenv.SSHD{"dev": s})
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(context.Background(), targetOf("dev", s), "sleep 60", nil)
		done <- err
	}()
	require.Eventually(t, func() bool { return p.Connected("dev") }, 5*time.Second, 10*time.Millisecond)
	p.Drop("dev")
	select {
	case err := <-done:
		requireKind(t, err, Closed)
	case <-time.After(3 * time.Second):
		t.Fatal("Drop did not abort the running command")
	}
}

func TestClose(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	p, _, _ := testPool(t, nil, map[string]*testenv.SSHD{"dev": s})
	_, err := p.Run(context.Background(), targetOf("dev", s), "true", nil)
	require.NoError(t, err)
	require.NoError(t, p.Close())
	require.False(t, p.Connected("dev"))
	_, err = p.Run(context.Background(), targetOf("dev", s), "true", nil)
	requireKind(t, err, Closed)
}

// freeAddr returns a currently free TCP address on the given loopback IP.
func freeAddr(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func TestAuthFailedAfterServerGivesUp(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{"MaxAuthTries 3"}})
	// More rejected keys than MaxAuthTries: sshd disconnects mid-way instead
	// of letting the client run out of methods.
	var signers []ssh.Signer
	for i := 0; i < 6; i++ {
		signers = append(signers, mustSigner(t))
	}
	p, _, _ := testPool(t, func(c *Config) { c.Signers = signers }, map[string]*testenv.SSHD{"dev": s})
	_, err := p.Run(context.Background(), targetOf("dev", s), "true", nil)
	e := requireKind(t, err, AuthFailed)
	require.False(t, e.Kind.Retryable())
	var exhausted *authExhaustedError
	require.False(t, errors.As(err, &exhausted), "expected the server's disconnect, got %v", err)
}

func TestAgentAuth(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{})
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agentCmd := exec.Command("/usr/bin/ssh-agent", "-D", "-a", sock)
	if err := agentCmd.Start(); err != nil {
		t.Skipf("ssh-agent not available: %v", err)
	}
	t.Cleanup(func() {
		_ = agentCmd.Process.Kill()
		_ = agentCmd.Wait()
	})
	require.Eventually(t, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 5*time.Second, 10*time.Millisecond, "ssh-agent socket")
	add := exec.Command("/usr/bin/ssh-add", s.ClientKeyPath)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	out, err := add.CombinedOutput()
	require.NoError(t, err, "ssh-add: %s", out)
	t.Setenv("SSH_AUTH_SOCK", sock)

	p, _, _ := testPool(t, func(c *Config) {
		c.Signers = nil
		c.UseAgent = true
	}, map[string]*testenv.SSHD{"dev": s})
	res, err := p.Run(context.Background(), targetOf("dev", s), "echo via agent", nil)
	require.NoError(t, err)
	require.Equal(t, "via agent\n", string(res.Stdout))

	// Without the key in the agent the device refuses us.
	del := exec.Command("/usr/bin/ssh-add", "-D")
	del.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	out, err = del.CombinedOutput()
	require.NoError(t, err, "ssh-add -D: %s", out)
	p.Drop("dev")
	_, err = p.Run(context.Background(), targetOf("dev", s), "true", nil)
	requireKind(t, err, AuthFailed)
}

// TestCancelledStreamOfASilentForcedCommandEnds: sshd sends no signal to a forced command, and a follower that
// prints nothing never notices its closed channel, so a cancelled stream of one would wait for the command to
// exit (a quiet container's log tail behind the device wrapper: up to an hour). It ends within the grace period
// instead, and the device's next command works.
func TestCancelledStreamOfASilentForcedCommandEnds(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{"ForceCommand exec sleep 120"}})
	p, _, _ := testPool(t, nil, map[string]*testenv.SSHD{"dev": s})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Stream(ctx, targetOf("dev", s), "tail -f /dev/null", io.Discard, io.Discard)
		done <- err
	}()
	require.Eventually(t, func() bool { return p.Connected("dev") }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // the session is open and its command running
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(streamCloseGrace + 20*time.Second):
		t.Fatal("the cancelled stream kept waiting for its silent command")
	}
}
