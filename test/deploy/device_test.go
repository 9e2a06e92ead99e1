package deploy

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// deviceRoot makes a minimal system under a temporary directory for setup-device.sh --root: the account files
// useradd needs and a docker group.
func deviceRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "home"), 0o755))
	files := map[string]string{
		"etc/passwd":  "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":   "root:x:0:\ndocker:x:998:\n",
		"etc/shadow":  "root:*:19000:0:99999:7:::\n",
		"etc/gshadow": "root:*::\ndocker:!::\n",
	}
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(root, name), []byte(content), 0o640))
	}
	return root
}

// workerKey makes an ed25519 key pair like the worker's and returns the private key path (public: path + ".pub").
func workerKey(t *testing.T, comment string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "id_ed25519")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path).CombinedOutput()
	require.NoError(t, err, "ssh-keygen: %s", out)
	return path
}

func runSetupDevice(t *testing.T, args ...string) (string, error) {
	t.Helper()
	script := filepath.Join(testenv.RepoRoot(t), "deploy", "device", "setup-device.sh")
	// sh, not bash: the script must run on devices whose only shell is busybox or dash.
	out, err := exec.Command("sh", append([]string{script}, args...)...).CombinedOutput()
	return string(out), err
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestSetupDeviceSyntax(t *testing.T) {
	script := filepath.Join(testenv.RepoRoot(t), "deploy", "device", "setup-device.sh")
	for _, sh := range []string{"sh", "dash", "busybox"} {
		t.Run(sh, func(t *testing.T) {
			path, err := exec.LookPath(sh)
			if err != nil {
				t.Skipf("%s not installed", sh)
			}
			args := []string{"-n", script}
			if sh == "busybox" {
				args = append([]string{"sh"}, args...)
			}
			out, err := exec.Command(path, args...).CombinedOutput()
			require.NoError(t, err, "%s -n: %s", sh, out)
		})
	}
}

// TestSetupDevice runs the device script against temporary system roots: the account, the key with its options,
// the optional docker group and sudoers rule, repeat runs, and the inputs it must refuse.
func TestSetupDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setup-device.sh creates accounts (useradd --root) and needs root")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("useradd not installed")
	}
	key := workerKey(t, "infrastructor worker")
	pub := strings.TrimSpace(readFile(t, key+".pub"))

	const wrapper = `command="/usr/local/lib/infrastructor/device-wrapper"`
	tests := []struct {
		name        string
		args        []string
		wantOptions string
		wantDocker  bool
		wantSudoers bool
	}{
		{"plain", []string{"--from", "any"}, "restrict," + wrapper, false, false},
		{"from", []string{"--from", "100.64.0.0/10,192.0.2.7"}, `restrict,from="100.64.0.0/10,192.0.2.7",` + wrapper, false, false},
		{"read-only", []string{"--from", "192.0.2.7", "--read-only"},
			`restrict,from="192.0.2.7",command="/usr/local/lib/infrastructor/device-wrapper --read-only"`, false, false},
		{"wrapper log", []string{"--from", "any", "--wrapper-log", "/var/log/infrastructor-wrapper.log"},
			`restrict,command="/usr/local/lib/infrastructor/device-wrapper --log /var/log/infrastructor-wrapper.log"`, false, false},
		{"no wrapper", []string{"--from", "any", "--no-wrapper"}, "restrict", false, false},
		{"jump host", []string{"--from", "any", "--jump-host", "192.168.1.20:22,gw.lan:2222"},
			`restrict,port-forwarding,permitopen="192.168.1.20:22",permitopen="gw.lan:2222",` + wrapper, false, false},
		{"docker", []string{"--from", "any", "--docker"}, "restrict," + wrapper, true, false},
		{"smartctl", []string{"--from", "any", "--smartctl"}, "restrict," + wrapper, false, true},
		{"everything", []string{"--from", "any", "--docker", "--smartctl", "-u", "infra-mon"}, "restrict," + wrapper, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := deviceRoot(t)
			user := "monitor"
			for i, a := range tt.args {
				if a == "-u" {
					user = tt.args[i+1]
				}
			}
			args := append([]string{"--root", root, "-k", key + ".pub"}, tt.args...)
			out, err := runSetupDevice(t, args...)
			require.NoError(t, err, out)

			passwd := readFile(t, filepath.Join(root, "etc", "passwd"))
			require.Contains(t, passwd, user+":x:")
			require.Contains(t, passwd, ":/home/"+user+":/bin/sh\n")
			// Unlocked for key logins ('*'), yet no password can match.
			require.Contains(t, readFile(t, filepath.Join(root, "etc", "shadow")), user+":*:")

			auth := filepath.Join(root, "home", user, ".ssh", "authorized_keys")
			require.Equal(t, tt.wantOptions+" "+pub+"\n", readFile(t, auth))
			for path, mode := range map[string]os.FileMode{auth: 0o600, filepath.Dir(auth): 0o700} {
				st, err := os.Stat(path)
				require.NoError(t, err)
				require.Equal(t, mode, st.Mode().Perm(), path)
			}

			installed := filepath.Join(root, "usr", "local", "lib", "infrastructor", "device-wrapper")
			if strings.Contains(tt.wantOptions, "command=") {
				require.Equal(t, readFile(t, filepath.Join(testenv.RepoRoot(t), "deploy", "device", "infrastructor-wrapper.sh")),
					readFile(t, installed), "the wrapper is installed")
				st, err := os.Stat(installed)
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o755), st.Mode().Perm())
			} else {
				_, err := os.Stat(installed)
				require.True(t, os.IsNotExist(err), "no wrapper with --no-wrapper")
				require.Contains(t, out, "WARNING: --no-wrapper")
			}

			group := readFile(t, filepath.Join(root, "etc", "group"))
			require.Equal(t, tt.wantDocker, strings.Contains(group, "docker:x:998:"+user), group)
			if tt.wantDocker {
				require.Contains(t, out, "equals root")
			}

			sudoers := filepath.Join(root, "etc", "sudoers.d", "infrastructor-"+user)
			_, err = os.Stat(sudoers)
			require.Equal(t, tt.wantSudoers, err == nil)
			if tt.wantSudoers {
				st, err := os.Stat(sudoers)
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o440), st.Mode().Perm())
				if visudo, err := exec.LookPath("visudo"); err == nil {
					out, err := exec.Command(visudo, "-cf", sudoers).CombinedOutput()
					require.NoError(t, err, "visudo: %s", out)
				}
			}

			// Again, with other options: still one line for the key, with the new options.
			out, err = runSetupDevice(t, "--root", root, "-u", user, "-k", key+".pub", "--from", "127.0.0.1")
			require.NoError(t, err, out)
			require.Equal(t, `restrict,from="127.0.0.1",`+wrapper+" "+pub+"\n", readFile(t, auth))
			require.Equal(t, 1, strings.Count(readFile(t, filepath.Join(root, "etc", "passwd")), user+":x:"))
		})
	}

	refused := []struct {
		name string
		args []string
		key  string
	}{
		{"no key", []string{"--from", "any"}, ""},
		{"private key", []string{"--from", "any"}, readFile(t, key)},
		{"key with options", []string{"--from", "any"}, "command=\"/bin/sh\" " + pub},
		{"two keys", []string{"--from", "any"}, pub + "\n" + pub},
		{"bad name", []string{"--from", "any", "-u", "Root;rm"}, pub},
		{"name starting with dash", []string{"--from", "any", "-u", "-x"}, pub},
		{"from with a quote", []string{"--from", `1.2.3.4",command="/bin/sh`}, pub},
		{"unknown option", []string{"--from", "any", "--sudo-all"}, pub},
		{"no from", nil, pub},
		{"empty from", []string{"--from", ""}, pub},
		{"jump host without targets", []string{"--from", "any", "--jump-host", ","}, pub},
		{"jump host without port", []string{"--from", "any", "--jump-host", "192.168.1.20"}, pub},
		{"jump host with a quote", []string{"--from", "any", "--jump-host", `h:22",permitopen="*:*`}, pub},
		{"read-only without wrapper", []string{"--from", "any", "--read-only", "--no-wrapper"}, pub},
		{"not a wrapper", []string{"--from", "any", "--wrapper", "/etc/hostname"}, pub},
		{"relative wrapper log", []string{"--from", "any", "--wrapper-log", "wrapper.log"}, pub},
	}
	for _, tt := range refused {
		t.Run("refuses/"+tt.name, func(t *testing.T) {
			root := deviceRoot(t)
			args := append([]string{"--root", root}, tt.args...)
			if tt.key != "" {
				f := filepath.Join(t.TempDir(), "key.pub")
				require.NoError(t, os.WriteFile(f, []byte(tt.key), 0o644))
				args = append(args, "-k", f)
			}
			out, err := runSetupDevice(t, args...)
			require.Error(t, err, out)
			require.Contains(t, out, "error:")
			require.NotContains(t, readFile(t, filepath.Join(root, "etc", "passwd")), "monitor")
		})
	}
}

// TestDeviceKeyOptionsWithSSHD checks the options the script writes with a real sshd reading that very
// authorized_keys file: commands run, but no pty and no forwarding, and from= keeps other addresses out.
func TestDeviceKeyOptionsWithSSHD(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for useradd --root and for sshd")
	}
	sshdBin := "/usr/sbin/sshd"
	if _, err := os.Stat(sshdBin); err != nil {
		t.Skip("OpenSSH server not installed (Debian: apt-get install -y openssh-server)")
	}
	// An unlocked account with a shell to log in as: the one the test harness creates for its own sshd.
	login := testenv.StartSSHD(t, testenv.SSHDOptions{}).User
	key := workerKey(t, "worker")

	for _, tt := range []struct {
		name      string
		from      string
		wantLogin bool
	}{
		{"from loopback", "127.0.0.1", true},
		{"from elsewhere", "192.0.2.1", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := deviceRoot(t)
			out, err := runSetupDevice(t, "--root", root, "-k", key+".pub", "--from", tt.from)
			require.NoError(t, err, out)
			// sshd reads the file as the login user: hand it a copy that user owns, in a directory it can enter.
			dir, err := os.MkdirTemp("", "infra-device-sshd-")
			require.NoError(t, err)
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			require.NoError(t, os.Chmod(dir, 0o755))
			auth := filepath.Join(dir, "authorized_keys")
			u, err := user.Lookup(login)
			require.NoError(t, err)
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			// The wrapper too: the login user cannot enter root's temporary directory.
			wrapper := filepath.Join(dir, "device-wrapper")
			installed := filepath.Join(root, "usr", "local", "lib", "infrastructor", "device-wrapper")
			require.NoError(t, os.WriteFile(wrapper, []byte(readFile(t, installed)), 0o755))
			copyAuth := func() {
				src := readFile(t, filepath.Join(root, "home", "monitor", ".ssh", "authorized_keys"))
				src = strings.ReplaceAll(src, "/usr/local/lib/infrastructor/device-wrapper", wrapper)
				require.NoError(t, os.WriteFile(auth, []byte(src), 0o600))
				require.NoError(t, os.Chown(auth, uid, gid))
			}
			copyAuth()

			hostKey := filepath.Join(dir, "host_key")
			out2, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput()
			require.NoError(t, err, "%s", out2)
			port := testenv.FreePort(t)
			cfg := filepath.Join(dir, "sshd_config")
			require.NoError(t, os.WriteFile(cfg, []byte(strings.Join([]string{
				fmt.Sprintf("ListenAddress 127.0.0.1:%d", port),
				"HostKey " + hostKey,
				"PidFile " + filepath.Join(dir, "sshd.pid"),
				"AuthorizedKeysFile " + auth,
				"AllowUsers " + login,
				"UsePAM no",
				"StrictModes no",
				"PasswordAuthentication no",
				"KbdInteractiveAuthentication no",
				"AllowTcpForwarding yes", // the key's restrict option must be what refuses it
				"PermitTTY yes",
			}, "\n")+"\n"), 0o600))
			require.NoError(t, os.MkdirAll("/run/sshd", 0o755))
			sshd := start(t, "sshd", exec.Command(sshdBin, "-D", "-e", "-f", cfg))
			waitFor(t, "sshd listening", 30*time.Second, sshd, func() error {
				c, err := netDial(fmt.Sprintf("127.0.0.1:%d", port))
				if err == nil {
					c.Close()
				}
				return err
			})

			ssh := func(extra ...string) (string, error) {
				args := append([]string{"-F", "/dev/null", "-i", key, "-p", fmt.Sprint(port),
					"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
					"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"}, extra...)
				out, err := exec.Command("ssh", args...).CombinedOutput()
				return string(out), err
			}
			out, err = ssh(login+"@127.0.0.1", "echo", "poll-ok")
			if !tt.wantLogin {
				require.Error(t, err, out)
				require.Contains(t, out, "Permission denied")
				// Refused for the address, not for an unreadable file or a wrong key.
				require.Contains(t, sshd.tail(), "not from a permitted host")
				return
			}
			// The forced command: an arbitrary command is refused by the wrapper...
			require.Error(t, err, out)
			require.Contains(t, out, "infrastructor-wrapper: refused", sshd.tail())
			require.NotContains(t, out, "poll-ok")
			// ...the poll script runs.
			poll := exec.Command("ssh", "-F", "/dev/null", "-i", key, "-p", fmt.Sprint(port), "-o", "BatchMode=yes",
				"-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
				"-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", login+"@127.0.0.1", "sh", "-s")
			poll.Stdin = strings.NewReader(collector.Script)
			pollOut, err := poll.CombinedOutput()
			require.NoError(t, err, "%s\n%s", pollOut, sshd.tail())
			require.Contains(t, string(pollOut), "@@infra:end@@")

			// restrict: a pty is refused...
			out, _ = ssh("-tt", login+"@127.0.0.1", "tty")
			require.Contains(t, out, "PTY allocation request failed")
			require.NotContains(t, out, "/dev/pts/")
			// ...and so is forwarding, although the server allows it...
			forward := func() (string, error) {
				cmd := exec.Command("ssh", "-F", "/dev/null", "-i", key, "-p", fmt.Sprint(port), "-o", "BatchMode=yes",
					"-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
					"-o", "ConnectTimeout=10", "-W", fmt.Sprintf("127.0.0.1:%d", port), login+"@127.0.0.1")
				cmd.Stdin = strings.NewReader("") // the forwarded sshd greets, then sees EOF
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			out, err = forward()
			require.Error(t, err, out)
			require.Contains(t, out, "administratively prohibited")
			require.NotContains(t, out, "SSH-2.0-")
			// ...unless the device is set up as a jump host.
			out, err = runSetupDevice(t, "--root", root, "-k", key+".pub", "--from", tt.from, "--jump-host",
				fmt.Sprintf("127.0.0.1:%d", port))
			require.NoError(t, err, out)
			copyAuth()
			out, _ = forward()
			require.Contains(t, out, "SSH-2.0-OpenSSH")
			// ...and then only to the devices behind it (permitopen).
			out, err = runSetupDevice(t, "--root", root, "-k", key+".pub", "--from", tt.from, "--jump-host",
				fmt.Sprintf("127.0.0.1:%d", port+1))
			require.NoError(t, err, out)
			copyAuth()
			out, err = forward()
			require.Error(t, err, out)
			require.Contains(t, out, "administratively prohibited")
			require.NotContains(t, out, "SSH-2.0-")
		})
	}
}

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 2*time.Second) }
