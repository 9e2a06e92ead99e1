package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// LoginShell is a shell a device's SSH user may have as login shell. The device's sshd runs every exec request
// through it, so the product's commands must mean the same under each.
type LoginShell struct {
	// Name is the shell's usual name: bash, dash, ash, zsh, fish, tcsh.
	Name string
	// Path is the program to install as login shell in /etc/passwd.
	Path string
}

// LoginShells are the login shells the quoting tests cover. BusyBox ash is reached through a link named "ash",
// because busybox picks its applet from the name it is run as.
var LoginShells = []LoginShell{
	{"bash", "/bin/bash"},
	{"dash", "/bin/dash"},
	{"ash", filepath.Join(shellLinkDir, "ash")},
	{"zsh", "/usr/bin/zsh"},
	{"fish", "/usr/bin/fish"},
	{"tcsh", "/usr/bin/tcsh"},
}

// shellLinkDir holds the "ash" link to busybox.
const shellLinkDir = "/usr/local/lib/infra-test-shells"

var loginShellMu sync.Mutex

// LoginShellUser returns an unlocked account "infra-sh-<name>" whose login shell is sh.Path, creating it (and
// setting its shell) when needed; pass the name as SSHDOptions.User. Each shell has its own account, so the
// shared TestUser always keeps /bin/sh. It skips the test when the shell is not installed (Debian packages: fish,
// zsh, tcsh, busybox-static) and needs root.
func LoginShellUser(t testing.TB, sh LoginShell) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating login-shell users needs root")
	}
	loginShellMu.Lock()
	defer loginShellMu.Unlock()
	if sh.Name == "ash" {
		if err := linkBusyboxAsh(); err != nil {
			t.Skipf("busybox ash: %v", err)
		}
	}
	if _, err := os.Stat(sh.Path); err != nil {
		t.Skipf("login shell %s not installed: %v", sh.Name, err)
	}
	name := "infra-sh-" + sh.Name
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := ensureShellUser(name, sh.Path)
		if err == nil {
			return name
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: login-shell user %s: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond) // waiting for another process's passwd lock, not for a test condition
	}
}

func linkBusyboxAsh() error {
	bb := ""
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			bb = p
			break
		}
	}
	if bb == "" {
		return fmt.Errorf("busybox not installed")
	}
	link := filepath.Join(shellLinkDir, "ash")
	if dst, err := os.Readlink(link); err == nil && dst == bb {
		return nil
	}
	if err := os.MkdirAll(shellLinkDir, 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d", link, os.Getpid())
	_ = os.Remove(tmp)
	if err := os.Symlink(bb, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

func ensureShellUser(name, shell string) error {
	cur, found, err := passwdShell(name)
	if err != nil {
		return err
	}
	if !found {
		if out, err := exec.Command("/usr/sbin/useradd", "-m", "-s", shell, name).CombinedOutput(); err != nil {
			return fmt.Errorf("useradd: %v: %s", err, out)
		}
	} else if cur != shell {
		if out, err := exec.Command("/usr/sbin/usermod", "-s", shell, name).CombinedOutput(); err != nil {
			return fmt.Errorf("usermod -s: %v: %s", err, out)
		}
	}
	locked, err := accountLocked(name)
	if err != nil {
		return err
	}
	if locked {
		// With UsePAM no, sshd refuses even key logins for a locked account.
		if out, err := exec.Command("/usr/sbin/usermod", "-p", "*", name).CombinedOutput(); err != nil {
			return fmt.Errorf("usermod -p: %v: %s", err, out)
		}
	}
	if cur, _, err := passwdShell(name); err != nil || cur != shell {
		return fmt.Errorf("login shell of %s is %q, not %s (%v)", name, cur, shell, err)
	}
	return nil
}

// passwdShell reads name's login shell from /etc/passwd.
func passwdShell(name string) (string, bool, error) {
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return "", false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[0] == name {
			return f[6], true, nil
		}
	}
	return "", false, nil
}
