package devicewrapper

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/process"
	"github.com/infrastructor/infrastructor/internal/systemd"
)

// serviceCommands are the process listings and systemctl commands the product sends (#12), with a spread of
// valid unit names; writes marks the actions a read-only key refuses.
func serviceCommands(t *testing.T) map[string]bool {
	m := must(t)
	cmds := map[string]bool{
		process.FixedScript(process.ByCPU):     false,
		process.FixedScript(process.ByMemory):  false,
		systemd.FailedScript():                 false,
		m(systemd.ShowScript("nginx.service")): false,
		m(systemd.ShowScript("nginx.service", "getty@tty1.service", `dev-disk-by\x2duuid-1234.device`, "foo@.service",
			"sys-fs-fuse-connections.mount", "a:b_c.d-e.timer")): false,
	}
	for _, a := range []string{"start", "stop", "restart", "reload"} {
		for _, u := range []string{"nginx.service", "getty@tty1.service", `system-x\x2dy.slice`} {
			cmds[m(systemd.ActionScript(a, u, false))] = true
			cmds[m(systemd.ActionScript(a, u, true))] = true
		}
	}
	return cmds
}

// TestWrapperServiceCommands: the process and systemctl commands pass unchanged on every shell over both
// transports; a read-only key refuses the actions; injections into them are refused.
func TestWrapperServiceCommands(t *testing.T) {
	t.Parallel()
	w := dryWrapper(t)
	m := must(t)
	show := m(systemd.ShowScript("nginx.service"))
	restart := m(systemd.ActionScript("restart", "nginx.service", true))
	prelude := systemd.Prelude()
	hostile := map[string]string{
		"show injection":      strings.Replace(show, "nginx.service", "nginx.service; id", 1),
		"show substitution":   strings.Replace(show, "nginx.service", "$(id).service", 1),
		"show option as unit": strings.Replace(show, "nginx.service", "--root=/tmp", 1),
		"show bad type":       strings.Replace(show, "nginx.service", "nginx.exe", 1),
		"show other props":    strings.Replace(show, "Id,", "Environment,", 1),
		"show after tail":     show + "id\n",
		"show via sudo":       strings.Replace(show, "systemctl show", "sudo -n systemctl show", 1),
		"action other verb":   strings.Replace(restart, "restart", "mask", 1),
		"action two units":    strings.Replace(restart, "nginx.service", "nginx.service ssh.service", 1),
		"action no dashes":    strings.Replace(restart, " -- ", " ", 1),
		"action other sudo":   strings.Replace(restart, "sudo -n", "sudo -u root", 1),
		"action chained":      strings.TrimSuffix(restart, "\n") + "; id\n",
		"action newline":      strings.TrimSuffix(restart, "\n") + "\nid\n",
		"prelude then id":     prelude + "exec id\n",
		"prelude then shell":  prelude + "id\n",
		"prelude edit":        strings.Replace(restart, "LC_ALL=C", "LC_ALL=C LD_PRELOAD=/tmp/x", 1),
		"isolate":             prelude + "exec systemctl isolate --no-ask-password -- rescue.target\n",
		"ps changed":          strings.Replace(process.FixedScript(process.ByCPU), "head -n 100", "head -n 100; id", 1),
	}
	for _, sh := range shells {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			for cmd, writes := range serviceCommands(t) {
				short := cmd
				if len(short) > 60 {
					short = short[len(short)-60:]
				}
				o := runWrapper(t, sh.path, w, "sh -s", frame(cmd))
				require.Equal(t, 0, o.code, "%s: %q refused: %s", sh.name, short, o.stderr)
				require.Equal(t, frame(cmd), o.ran)
				o = runWrapper(t, sh.path, w, cmd, "")
				require.Equal(t, 0, o.code, "%s: %q refused as exec request: %s", sh.name, short, o.stderr)
				o = runWrapper(t, sh.path, w, "sh -s", frame(cmd), "--read-only")
				if writes {
					require.Equal(t, RefusedExitCode, o.code, "%s: %q allowed with --read-only", sh.name, short)
					require.Contains(t, o.log, "read-only key")
				} else {
					require.Equal(t, 0, o.code, "%s: %q refused with --read-only: %s", sh.name, short, o.stderr)
				}
			}
			for name, cmd := range hostile {
				o := runWrapper(t, sh.path, w, "sh -s", frame(cmd))
				require.Equal(t, RefusedExitCode, o.code, "%s: %s not refused: ran %q", sh.name, name, o.ran)
				require.Empty(t, o.ran)
			}
		})
	}
}

// TestSetupDeviceSystemctlRule: setup-device.sh --systemctl writes a sudoers rule that visudo accepts, allowing
// exactly the action words the product sends for the listed units, and refuses names that could widen it.
func TestSetupDeviceSystemctlRule(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("setup-device.sh creates accounts (useradd --root) and needs root")
	}
	visudo, err := exec.LookPath("visudo")
	if err != nil {
		t.Skip("visudo not installed")
	}
	root := t.TempDir()
	for name, content := range map[string]string{"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n",
		"etc/shadow": "root:*:19000:0:99999:7:::\n", "etc/gshadow": "root:*::\n"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, name), []byte(content), 0o640))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "home"), 0o755))
	key := filepath.Join(t.TempDir(), "id")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput()
	require.NoError(t, err, "%s", out)
	script := filepath.Join("..", "..", "deploy", "device", "setup-device.sh")
	run := func(units string) (string, error) {
		out, err := exec.Command("/bin/sh", script, "--root", root, "-k", key+".pub", "--from", "any", "--systemctl", units).CombinedOutput()
		return string(out), err
	}
	out2, err := run("nginx.service,getty@tty1.service")
	require.NoError(t, err, out2)
	rule := filepath.Join(root, "etc", "sudoers.d", "infrastructor-monitor-systemctl")
	b, err := os.ReadFile(rule)
	require.NoError(t, err)
	require.Contains(t, string(b), `monitor ALL=(root) NOPASSWD: /usr/bin/systemctl ^(start|stop|restart|reload) --no-ask-password -- (nginx\.service|getty@tty1\.service)$`)
	vout, err := exec.Command(visudo, "-cf", rule).CombinedOutput()
	require.NoError(t, err, "%s", vout)
	// The rule matches the words ActionScript sends after "sudo -n".
	a, err := systemd.ActionScript("restart", "getty@tty1.service", true)
	require.NoError(t, err)
	require.Contains(t, a, "sudo -n systemctl restart --no-ask-password -- getty@tty1.service\n")
	for _, bad := range []string{"nginx.service,x|.*", "nginx.service,a b.service", "nginx", "nginx.service,a:b.service"} {
		out, err := run(bad)
		require.Error(t, err, "%s accepted: %s", bad, out)
	}
}
