package testenv

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// runAs logs in to s with the signer, pinning want as the host key, and runs cmd.
func runAs(t *testing.T, s *SSHD, signer ssh.Signer, want ssh.PublicKey, cmd string) (string, error) {
	t.Helper()
	client, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(want),
		Timeout:         5 * time.Second,
	})
	if err != nil {
		return "", err
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(cmd)
	return string(out), err
}

func TestStartSSHD(t *testing.T) {
	s := StartSSHD(t, SSHDOptions{})

	out, err := runAs(t, s, s.ClientSigner, s.HostKey, "id -un")
	require.NoError(t, err)
	require.Equal(t, s.User, strings.TrimSpace(out))
	if os.Geteuid() == 0 {
		require.Equal(t, TestUser, s.User, "as root the unprivileged test user logs in")
	}

	info, err := os.Stat(s.ClientKeyPath)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	keyPEM, err := os.ReadFile(s.ClientKeyPath)
	require.NoError(t, err)
	fromFile, err := ssh.ParsePrivateKey(keyPEM)
	require.NoError(t, err)
	require.Equal(t, s.ClientSigner.PublicKey().Marshal(), fromFile.PublicKey().Marshal())

	hostPEM, err := os.ReadFile(s.HostKeyPath)
	require.NoError(t, err)
	hostSigner, err := ssh.ParsePrivateKey(hostPEM)
	require.NoError(t, err)
	require.Equal(t, s.HostKey.Marshal(), hostSigner.PublicKey().Marshal())
}

func TestSSHDRefusesUnknownClientKey(t *testing.T) {
	s := StartSSHD(t, SSHDOptions{})
	_, other, err := newEd25519Key()
	require.NoError(t, err)
	_, err = runAs(t, s, other, s.HostKey, "true")
	require.Error(t, err)
}

func TestSSHDRotateStopStart(t *testing.T) {
	s := StartSSHD(t, SSHDOptions{})
	oldKey := s.HostKey

	s.RotateHostKey()
	require.NotEqual(t, oldKey.Marshal(), s.HostKey.Marshal())
	_, err := runAs(t, s, s.ClientSigner, oldKey, "true")
	require.Error(t, err, "the old host key must no longer be offered")
	_, err = runAs(t, s, s.ClientSigner, s.HostKey, "true")
	require.NoError(t, err)

	s.Stop()
	_, err = net.DialTimeout("tcp", s.Addr, time.Second)
	require.True(t, errors.Is(err, syscall.ECONNREFUSED), "stopped server must refuse, got %v", err)

	s.Start()
	out, err := runAs(t, s, s.ClientSigner, s.HostKey, "echo back")
	require.NoError(t, err)
	require.True(t, bytes.Equal([]byte("back\n"), []byte(out)))
}

// ipCmd runs ip(8) and fails the test on error.
func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("/usr/sbin/ip", args...).CombinedOutput()
	require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
}

func TestStartSSHDInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	var b [3]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	suffix := hex.EncodeToString(b[:])
	ns, hostIf, nsIf := "infra-sshd-"+suffix, "vh"+suffix, "vn"+suffix
	// A random /30 in 10.231.0.0/16, so parallel test binaries do not collide.
	subnet := fmt.Sprintf("10.231.%d.%d", b[0], b[1]&0xfc)
	hostIP := subnet[:strings.LastIndex(subnet, ".")+1] + strconv.Itoa(int(b[1]&0xfc)+1)
	nsIP := subnet[:strings.LastIndex(subnet, ".")+1] + strconv.Itoa(int(b[1]&0xfc)+2)

	ipCmd(t, "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("/usr/sbin/ip", "netns", "del", ns).Run() })
	ipCmd(t, "link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	t.Cleanup(func() { _ = exec.Command("/usr/sbin/ip", "link", "del", hostIf).Run() })
	ipCmd(t, "link", "set", nsIf, "netns", ns)
	ipCmd(t, "addr", "add", hostIP+"/30", "dev", hostIf)
	ipCmd(t, "link", "set", hostIf, "up")
	ipCmd(t, "netns", "exec", ns, "ip", "addr", "add", nsIP+"/30", "dev", nsIf)
	ipCmd(t, "netns", "exec", ns, "ip", "link", "set", nsIf, "up")
	ipCmd(t, "netns", "exec", ns, "ip", "link", "set", "lo", "up")

	s := StartSSHD(t, SSHDOptions{Netns: ns, Addr: net.JoinHostPort(nsIP, "22")})
	require.Equal(t, nsIP, s.Host)
	require.Equal(t, 22, s.Port)
	out, err := runAs(t, s, s.ClientSigner, s.HostKey, "cat /proc/net/dev")
	require.NoError(t, err)
	require.Contains(t, out, nsIf+":", "the login session runs inside the namespace")
	require.NotContains(t, out, hostIf+":")
}
