package testenv

// A private OpenSSH server per test, so SSH code is tested against the same
// sshd the devices run rather than an in-process imitation.

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHDPath is the OpenSSH server binary. sshd refuses to re-exec itself unless
// started by absolute path.
const SSHDPath = "/usr/sbin/sshd"

// TestUser is the unprivileged login user the test servers accept when the
// tests run as root.
const TestUser = "infra-test"

// SSHDOptions configures StartSSHD. The zero value runs sshd on a free
// 127.0.0.1 port.
type SSHDOptions struct {
	// Addr is the host:port to listen on. Empty means a free port on 127.0.0.1.
	// With Netns set, Addr is required (the namespace has its own ports) and
	// must be routable from the test's namespace, since readiness is checked by
	// dialing it.
	Addr string
	// Netns runs sshd inside this network namespace (`ip netns exec NAME`).
	Netns string
	// User overrides the login user. Empty means TestUser when running as root
	// and the current user otherwise.
	User string
	// ExtraConfig lines are appended to the generated sshd_config.
	ExtraConfig []string
	// KeyOptions prefix the client key's line in authorized_keys, e.g. `restrict,from="127.0.0.1"`.
	KeyOptions string
	// Wrapper puts the client key behind the device wrapper (deploy/device/infrastructor-wrapper.sh) as
	// setup-device.sh installs it: `restrict,command="<wrapper> --log <WrapperLog> <WrapperArgs>"`, after
	// KeyOptions. Setting INFRA_TEST_DEVICE_WRAPPER=1 in the environment turns it on for every server, so a
	// test suite can run through the wrapper unchanged.
	Wrapper bool
	// WrapperArgs are extra wrapper options, e.g. "--read-only".
	WrapperArgs string
	// Launcher, when set, is the start of the command line that runs sshd (its arguments follow); it must exec
	// sshd, so the PID held is sshd's. E.g. unshare(1) to give the device a mount namespace of its own.
	Launcher []string
}

// WrapperEnv is the environment variable that puts every test sshd's client key behind the device wrapper.
const WrapperEnv = "INFRA_TEST_DEVICE_WRAPPER"

// SSHD is a private OpenSSH server owned by one test.
//
// Its methods fail the test on error and must be called from the test's
// goroutine.
type SSHD struct {
	// Addr is host:port of the listening socket.
	Addr string
	// Host is the listening IP address.
	Host string
	// Port is the listening TCP port.
	Port int
	// User is the account clients log in as.
	User string
	// ClientKeyPath is an OpenSSH private key file (mode 0600) whose public
	// half is authorised for User.
	ClientKeyPath string
	// ClientSigner is the same client key, ready for x/crypto/ssh.
	ClientSigner ssh.Signer
	// HostKey is the server's current public host key.
	HostKey ssh.PublicKey
	// HostKeyPath is the server's private host key file.
	HostKeyPath string
	// Dir holds the configuration, keys and PID file.
	Dir string
	// WrapperLog is the file the device wrapper logs its refusals to ("" without the wrapper).
	WrapperLog string

	t          testing.TB
	opts       SSHDOptions
	configPath string
	pidPath    string

	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartSSHD starts a private sshd for the test and stops it at cleanup. It
// skips the test when OpenSSH is not installed.
func StartSSHD(t testing.TB, opts SSHDOptions) *SSHD {
	t.Helper()
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Skipf("OpenSSH server not installed (%s: %v); install openssh-server to run this test", SSHDPath, err)
	}
	if opts.Netns != "" && opts.Addr == "" {
		t.Fatalf("testenv: SSHDOptions.Addr is required with Netns %q", opts.Netns)
	}
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil && os.Geteuid() == 0 {
		t.Fatalf("testenv: create /run/sshd: %v", err)
	}

	login := opts.User
	if login == "" {
		login = defaultLoginUser(t)
	}

	// Not t.TempDir: the login user must be able to read the authorised keys,
	// and t.TempDir's parent is private to root.
	dir, err := os.MkdirTemp("", "infra-sshd-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}

	s := &SSHD{
		User:        login,
		Dir:         dir,
		HostKeyPath: filepath.Join(dir, "ssh_host_ed25519_key"),
		t:           t,
		opts:        opts,
		configPath:  filepath.Join(dir, "sshd_config"),
		pidPath:     filepath.Join(dir, "sshd.pid"),
		logPath:     filepath.Join(dir, "sshd.log"),
	}

	clientPriv, clientSigner, err := newEd25519Key()
	if err != nil {
		t.Fatalf("testenv: client key: %v", err)
	}
	s.ClientSigner = clientSigner
	s.ClientKeyPath = filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(s.ClientKeyPath, clientPriv, 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	keyLine := ssh.MarshalAuthorizedKey(clientSigner.PublicKey())
	if options := s.keyOptions(); options != "" {
		keyLine = append([]byte(options+" "), keyLine...)
	}
	if err := os.WriteFile(authKeys, keyLine, 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	s.writeHostKey()

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sshd %s output:\n%s", s.Addr, s.logText())
			if s.WrapperLog != "" {
				b, _ := os.ReadFile(s.WrapperLog)
				t.Logf("device wrapper refusals on %s:\n%s", s.Addr, b)
			}
		}
		s.stop()
	})

	// A free port picked by listening and closing can be taken by someone else
	// before sshd binds it, so retry with a new port a few times.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		addr := opts.Addr
		if addr == "" {
			addr, err = freeLoopbackAddr()
			if err != nil {
				t.Fatalf("testenv: %v", err)
			}
		}
		if err := s.setAddr(addr); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		s.writeConfig(authKeys)
		if lastErr = s.start(); lastErr == nil {
			return s
		}
		if opts.Addr != "" {
			break
		}
	}
	t.Fatalf("testenv: start sshd: %v\n%s", lastErr, s.logText())
	return nil
}

// keyOptions returns the authorized_keys options of the client key, installing the device wrapper in s.Dir when
// it is asked for.
func (s *SSHD) keyOptions() string {
	s.t.Helper()
	options := s.opts.KeyOptions
	if !s.opts.Wrapper && os.Getenv(WrapperEnv) == "" {
		return options
	}
	src := filepath.Join(RepoRoot(s.t), "deploy", "device", "infrastructor-wrapper.sh")
	body, err := os.ReadFile(src)
	if err != nil {
		s.t.Fatalf("testenv: device wrapper: %v", err)
	}
	wrapper := filepath.Join(s.Dir, "infrastructor-wrapper")
	if err := os.WriteFile(wrapper, body, 0o755); err != nil {
		s.t.Fatalf("testenv: %v", err)
	}
	// The login user appends to the log, so it must be able to write it.
	s.WrapperLog = filepath.Join(s.Dir, "wrapper.log")
	if err := os.WriteFile(s.WrapperLog, nil, 0o666); err != nil {
		s.t.Fatalf("testenv: %v", err)
	}
	if err := os.Chmod(s.WrapperLog, 0o666); err != nil {
		s.t.Fatalf("testenv: %v", err)
	}
	command := wrapper + " --log " + s.WrapperLog
	if s.opts.WrapperArgs != "" {
		command += " " + s.opts.WrapperArgs
	}
	if options != "" {
		options += ","
	}
	return options + `restrict,command="` + command + `"`
}

// Start starts the server again after Stop, on the same address and keys.
func (s *SSHD) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("testenv: restart sshd %s: %v\n%s", s.Addr, err, s.logText())
	}
}

// Stop stops the listening server. Connections already established are
// served by their own sshd processes and stay up until the client closes
// them, as with a real sshd restart.
func (s *SSHD) Stop() {
	s.t.Helper()
	s.stop()
}

// RotateHostKey replaces the host key with a new one and restarts the server,
// as a reinstalled device would.
func (s *SSHD) RotateHostKey() {
	s.t.Helper()
	s.stop()
	s.writeHostKey()
	s.Start()
}

func (s *SSHD) setAddr(addr string) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 {
		return fmt.Errorf("address %q: need an explicit port", addr)
	}
	s.Addr, s.Host, s.Port = net.JoinHostPort(host, portStr), host, port
	return nil
}

func (s *SSHD) writeHostKey() {
	s.t.Helper()
	priv, signer, err := newEd25519Key()
	if err != nil {
		s.t.Fatalf("testenv: host key: %v", err)
	}
	// sshd ignores private keys readable by others.
	if err := os.WriteFile(s.HostKeyPath, priv, 0o600); err != nil {
		s.t.Fatalf("testenv: %v", err)
	}
	s.HostKey = signer.PublicKey()
}

func (s *SSHD) writeConfig(authKeys string) {
	s.t.Helper()
	lines := []string{
		"ListenAddress " + s.Addr,
		"HostKey " + s.HostKeyPath,
		"PidFile " + s.pidPath,
		"AuthorizedKeysFile " + authKeys,
		"AllowUsers " + s.User,
		// A locked or PAM-less account would otherwise be refused.
		"UsePAM no",
		// The key files live in a temporary directory sshd would call unsafe.
		"StrictModes no",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"MaxSessions 10",
		"LogLevel VERBOSE",
	}
	lines = append(lines, s.opts.ExtraConfig...)
	if err := os.WriteFile(s.configPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		s.t.Fatalf("testenv: %v", err)
	}
}

func (s *SSHD) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	args := []string{SSHDPath, "-D", "-e", "-f", s.configPath}
	if len(s.opts.Launcher) > 0 {
		args = append(append([]string{}, s.opts.Launcher...), args...)
	}
	if s.opts.Netns != "" {
		// ip netns exec execs the command, so the PID we hold is sshd's.
		args = append([]string{"/usr/sbin/ip", "netns", "exec", s.opts.Netns}, args...)
		if _, err := os.Stat(args[0]); err != nil {
			args[0] = "/sbin/ip"
		}
	}
	// A file, not a pipe: per-connection sshd processes inherit the output and
	// would keep cmd.Wait from returning until every client has disconnected.
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Own process group so a terminal's Ctrl-C does not race our shutdown;
	// the parent-death signal stops sshd when a test binary is killed (e.g.
	// by go test -timeout) before its cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := startChild(cmd); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("sshd exited during start-up: %v", cmd.ProcessState)
		default:
		}
		if err := probeSSH(s.Addr); err == nil {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("sshd not answering on %s after 10s", s.Addr)
		}
		select {
		case <-exited:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *SSHD) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd, s.exited = nil, nil
}

// probeSSH reports whether an SSH server greets on addr.
func probeSSH(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "SSH-") {
		return fmt.Errorf("unexpected greeting %q", line)
	}
	return nil
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// newEd25519Key returns an OpenSSH-format private key file and its signer.
func newEd25519Key() ([]byte, ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(block), signer, nil
}

var loginUserOnce struct {
	sync.Mutex
	name string
}

// defaultLoginUser returns TestUser (created if missing) when running as root,
// else the current user, who is the only one a non-root sshd can log in.
func defaultLoginUser(t testing.TB) string {
	t.Helper()
	loginUserOnce.Lock()
	defer loginUserOnce.Unlock()
	if loginUserOnce.name != "" {
		return loginUserOnce.name
	}
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			t.Fatalf("testenv: current user: %v", err)
		}
		loginUserOnce.name = u.Username
		return u.Username
	}
	if err := ensureTestUser(); err != nil {
		t.Fatalf("testenv: create login user %s: %v", TestUser, err)
	}
	loginUserOnce.name = TestUser
	return TestUser
}

// ensureTestUser creates TestUser and unlocks it. Tests of several packages
// run as parallel processes, so a concurrent useradd or a busy passwd lock is
// expected and retried until the account is usable.
func ensureTestUser() error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := tryEnsureTestUser()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond) // waiting for another process's passwd lock, not for a test condition
	}
}

func tryEnsureTestUser() error {
	if _, err := user.Lookup(TestUser); err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return err
		}
		if out, err := exec.Command("/usr/sbin/useradd", "-m", "-s", "/bin/sh", TestUser).CombinedOutput(); err != nil {
			return fmt.Errorf("useradd: %v: %s", err, out)
		}
	}
	locked, err := accountLocked(TestUser)
	if err != nil {
		return err
	}
	if locked {
		// With UsePAM no, sshd refuses even key logins for a locked account
		// ("!" password); "*" means no password but not locked.
		if out, err := exec.Command("/usr/sbin/usermod", "-p", "*", TestUser).CombinedOutput(); err != nil {
			return fmt.Errorf("usermod: %v: %s", err, out)
		}
		if locked, err = accountLocked(TestUser); err != nil || locked {
			return fmt.Errorf("account %s still locked (%v)", TestUser, err)
		}
	}
	return nil
}

func accountLocked(name string) (bool, error) {
	data, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Split(line, ":")
		if len(fields) > 1 && fields[0] == name {
			return strings.HasPrefix(fields[1], "!"), nil
		}
	}
	return false, fmt.Errorf("%s not in /etc/shadow", name)
}

// logText returns what sshd has logged so far, for failure messages.
func (s *SSHD) logText() string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no sshd log: %v)", err)
	}
	return string(data)
}
