package devicewrapper

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/netinfo"
	"github.com/infrastructor/infrastructor/internal/pkgupdate"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/virsh"
)

var update = flag.Bool("update", false, "rewrite deploy/device/infrastructor-wrapper.sh from the generator")

// shells are the /bin/sh implementations devices have; the wrapper must decide the same on each.
var shells = []struct{ name, path string }{
	{"dash", "/usr/bin/dash"},
	{"bash", "/usr/bin/bash"},
	{"busybox", "/usr/bin/busybox"},
}

// frame is how the worker sends a command on standard input to the fixed exec request "sh -s".
func frame(cmd string) string { return string(sshpool.Script(cmd)) }

// dryWrapper writes the wrapper with its last line (running the command) replaced by printing what it would run,
// so the tests see the wrapper's decision without a docker engine.
func dryWrapper(t *testing.T) string {
	t.Helper()
	s := Script()
	const last = "exec /bin/sh -c \"$script\"\n"
	require.True(t, strings.HasSuffix(s, last), "the wrapper ends by running the script")
	s = strings.TrimSuffix(s, last) + "printf '%s' \"$script\"\n"
	p := filepath.Join(t.TempDir(), "wrapper")
	require.NoError(t, os.WriteFile(p, []byte(s), 0o755))
	return p
}

type outcome struct {
	ran    string // what the wrapper would run
	code   int
	stderr string
	log    string
}

func runWrapper(t *testing.T, shell, wrapper, original, stdin string, args ...string) outcome {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "refusals.log")
	argv := []string{wrapper, "--log", logFile}
	if shell == "/usr/bin/busybox" {
		argv = append([]string{"sh"}, argv...)
	}
	cmd := exec.Command(shell, append(argv, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "SSH_ORIGINAL_COMMAND=" + original, "SSH_CLIENT=192.0.2.7 50000 22"}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	o := outcome{ran: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		o.code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	if b, err := os.ReadFile(logFile); err == nil {
		o.log = string(b)
	}
	return o
}

func must(t *testing.T) func(string, error) string {
	return func(s string, err error) string {
		t.Helper()
		require.NoError(t, err)
		return s
	}
}

// productCommands are the commands the product sends, built by its own builders with a spread of valid arguments.
// writes marks those a read-only key refuses.
func productCommands(t *testing.T) map[string]bool {
	m := must(t)
	cmds := map[string]bool{
		collector.Script:         false,
		docker.Probe():           false,
		docker.Inventory():       false,
		docker.CgroupStats():     false,
		docker.ImageDigests():    false,
		docker.Stats():           false,
		m(docker.Inspect("web")): false,
		m(docker.Inspect("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "db.1", "a_b-c")):    false,
		m(docker.Logs("web", docker.LogOptions{})):                                                                false,
		m(docker.Logs("web", docker.LogOptions{Tail: "all", Since: "2026-12-04T18:00:00.5+01:00", Until: "10m"})): false,
		m(docker.Logs("web", docker.LogOptions{Tail: "0", Since: "1733333333.25"})):                               false,
		m(docker.Logs("web", docker.LogOptions{Until: "1h30m"})):                                                  false,
		docker.Join("docker", "ps", "-a", "--no-trunc", "--filter", "label="+docker.LabelComposeProject+"=my-app_2",
			"--format", "{{json .}}"): false,
		m(docker.Start("web")):                                  true,
		m(docker.Pause("web")):                                  true,
		m(docker.Unpause("web")):                                true,
		m(docker.Stop("web", 10)):                               true,
		m(docker.Restart("web", 0)):                             true,
		m(docker.Restart("web", docker.MaxStopTimeout)):         true,
		m(docker.Remove("web", false, false)):                   true,
		m(docker.Remove("web", true, true)):                     true,
		m(docker.Remove("web", true, false)):                    true,
		m(docker.Remove("web", false, true)):                    true,
		m(docker.Kill("web", "9")):                              true,
		m(docker.Kill("web", "64")):                             true,
		m(docker.ComposeUp("demo", "/srv/demo")):                true,
		m(docker.ComposeUp("demo", "/srv/my app (2) $HOME; x")): true,
		m(docker.ComposeDown("demo", "")):                       true,
		m(docker.ComposeDown("demo", "/srv/demo")):              true,
		m(docker.ComposePull("demo", "/srv/demo")):              true,
		m(docker.ComposeRestart("demo", "/srv/demo")):           true,
		docker.Join("docker", "image", "prune", "-f"):           true,
	}
	// Package updates, VMs and networks (#13); only the Docker networks command goes through a socket proxy.
	inventory := map[string]bool{}
	cmds[netinfo.DockerNetworksCommand()] = false
	inventory[pkgupdate.Script()] = false
	inventory[virsh.SystemInventoryScript()] = false
	inventory[netinfo.Script()] = false
	for _, dom := range []string{"web01", "db-server.lan", "a", "vm_1+x:y@z"} {
		inventory[m(virsh.DomStateCommand(dom))] = false
		for _, a := range []virsh.Action{virsh.ActionStart, virsh.ActionShutdown, virsh.ActionDestroy, virsh.ActionReboot,
			virsh.ActionSuspend, virsh.ActionResume} {
			inventory[m(virsh.ActionCommand(a, dom, false))] = true
			inventory[m(virsh.ActionCommand(a, dom, true))] = true
		}
	}
	for _, pm := range []pkgupdate.Manager{pkgupdate.ManagerApt, pkgupdate.ManagerDnf, pkgupdate.ManagerYum, pkgupdate.ManagerApk} {
		inventory[m(pkgupdate.RefreshScript(pm, false))] = true
		inventory[m(pkgupdate.RefreshScript(pm, true))] = true
	}
	for _, sig := range []string{"HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "STOP", "CONT", "WINCH", "PWR", "SYS", "STKFLT", "VTALRM"} {
		cmds[m(docker.Kill("web", sig))] = true
	}
	// The same commands through a Docker socket proxy.
	proxied := map[string]bool{}
	for c, w := range cmds {
		if c == collector.Script {
			continue
		}
		for _, host := range []string{"tcp://127.0.0.1:2375", "unix:///run/docker-proxy.sock"} {
			proxied[m(docker.WithDockerHost(c, host))] = w
		}
	}
	for c, w := range proxied {
		cmds[c] = w
	}
	for c, w := range serviceCommands(t) {
		cmds[c] = w
	}
	for c, w := range storageCommands(t) {
		cmds[c] = w
	}
	for c, w := range inventory {
		cmds[c] = w
	}
	for c, w := range logCommands(t) {
		cmds[c] = w
	}
	return cmds
}

// TestWrapperAllowsEveryProductCommand: every command the product builds passes the wrapper unchanged, over both
// transports and on every shell; a read-only key lets only the monitoring ones through.
func TestWrapperAllowsEveryProductCommand(t *testing.T) {
	t.Parallel()
	w := dryWrapper(t)
	for _, sh := range shells {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			for cmd, writes := range productCommands(t) {
				short := cmd
				if len(short) > 60 {
					short = short[:60]
				}
				// The command on standard input of the fixed exec request, framed (current workers).
				o := runWrapper(t, sh.path, w, "sh -s", frame(cmd))
				require.Equal(t, 0, o.code, "%s: %q refused: %s", sh.name, short, o.stderr)
				require.Equal(t, frame(cmd), o.ran)
				// The command line as the exec request; the poll script whole on stdin (older workers).
				if cmd == collector.Script {
					o = runWrapper(t, sh.path, w, "sh -s", cmd)
				} else {
					o = runWrapper(t, sh.path, w, cmd, "")
				}
				require.Equal(t, 0, o.code, "%s: %q refused as exec request: %s", sh.name, short, o.stderr)
				require.Equal(t, cmd, o.ran)

				o = runWrapper(t, sh.path, w, "sh -s", frame(cmd), "--read-only")
				if writes {
					require.Equal(t, RefusedExitCode, o.code, "%s: %q allowed with --read-only", sh.name, short)
					require.Contains(t, o.log, "read-only key")
				} else {
					require.Equal(t, 0, o.code, "%s: %q refused with --read-only: %s", sh.name, short, o.stderr)
				}
			}
		})
	}
}

// TestWrapperRefusesEverythingElse: commands the product never sends, injections into its commands and malformed
// input are refused with status 126, logged, and nothing runs.
func TestWrapperRefusesEverythingElse(t *testing.T) {
	t.Parallel()
	w := dryWrapper(t)
	m := must(t)
	restart := m(docker.Restart("web", 10))
	hostile := map[string]string{
		"shell":                    "sh",
		"id":                       "id",
		"docker run":               "docker run --rm -v /:/host busybox chroot /host",
		"docker exec":              "docker exec web sh",
		"chained":                  restart + "; id",
		"chained in frame":         restart + "\nid",
		"and":                      restart + " && id",
		"pipe":                     docker.Inventory() + " | sh",
		"command substitution":     "docker start -- $(id)",
		"backticks":                "docker start -- `id`",
		"variable":                 "docker start -- $HOME",
		"glob":                     "docker start -- *",
		"unbalanced quote":         "docker start -- 'web",
		"quote in word":            "docker start -- 'we'b'",
		"option as ref":            "docker start -- --privileged",
		"extra argument":           "docker start -- web other",
		"flag after ref":           "docker logs --timestamps --tail 5 -- web --details",
		"bad timeout":              "docker stop -t 1e9 -- web",
		"bad signal":               "docker kill --signal SIGTERM; -- web",
		"lower-case signal":        "docker kill --signal term -- web",
		"image rm":                 "docker image rm -f busybox",
		"prune all":                "docker image prune -a -f",
		"system prune":             "docker system prune -f",
		"inspect image":            "docker inspect busybox",
		"compose other subcommand": docker.ComposePrefix() + " /srv/demo -p demo exec web sh",
		"compose build":            docker.ComposePrefix() + " /srv/demo -p demo up --build",
		"compose relative dir":     docker.ComposePrefix() + " srv -p demo down",
		"compose other dir":        docker.ComposePrefix() + " /srv/demo -p demo --project-directory /etc up --detach",
		"compose injection":        docker.ComposePrefix() + " /srv/demo -p demo down; id",
		"compose script changed":   strings.Replace(m(docker.ComposeDown("demo", "")), "exec docker compose", "exec id; docker compose", 1),
		"probe changed":            strings.Replace(docker.Probe(), "exit 127", "id", 1),
		"collector changed":        strings.Replace(collector.Script, "/proc/loadavg", "/etc/shadow", 1),
		"collector plus":           collector.Script + "id\n",
		"docker host injection":    "env 'DOCKER_HOST=tcp://h:1' id",
		"docker host quoted out":   "env 'DOCKER_HOST=tcp://h:1;id' " + docker.Inventory(),
		"docker host other scheme": "env 'DOCKER_HOST=ssh://root@h' " + docker.Inventory(),
		"docker host dots":         "env 'DOCKER_HOST=unix:///run/../root/x.sock' " + docker.Inventory(),
		"other env":                "env 'LD_PRELOAD=/tmp/x.so' " + docker.Inventory(),
		"empty":                    "",
		"newline":                  "docker ps -a\nid",
		"tilde":                    "docker start -- ~root",
		"redirect":                 "docker start -- web >/tmp/x",
		"brace group":              "{ id; }",
		"assignment":               "PATH=/tmp docker start -- web",
		"virsh other uri":          "LC_ALL=C 'virsh' '-c' 'qemu+ssh://root@h/system' 'start' '--domain' 'web01'",
		"virsh undefine":           "LC_ALL=C 'virsh' '-c' 'qemu:///system' 'undefine' '--domain' 'web01'",
		"virsh console":            "sudo -n 'virsh' '-c' 'qemu:///system' 'console' '--domain' 'web01'",
		"virsh option as domain":   "LC_ALL=C 'virsh' '-c' 'qemu:///system' 'start' '--domain' '--force'",
		"virsh extra argument":     "LC_ALL=C 'virsh' '-c' 'qemu:///system' 'start' '--domain' 'web01' 'x'",
		"virsh command language":   "LC_ALL=C 'virsh' '-c' 'qemu:///system' 'start --domain a; undefine a'",
		"sudo other":               "sudo -n id",
		"sudo shell":               "sudo -n 'sh' '-c' 'id'",
		"refresh plus":             "export LC_ALL=C\napt-get -q update\nid\n",
		"refresh other":            "export LC_ALL=C\napt-get -q -y upgrade\n",
		"pkgupdate changed":        strings.Replace(pkgupdate.Script(), "apt-get -s", "apt-get -y", 1),
		"netinfo plus":             netinfo.Script() + "id\n",
	}
	for _, sh := range shells {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			for name, cmd := range hostile {
				for _, tr := range []struct{ original, stdin string }{{"sh -s", frame(cmd)}, {cmd, ""}} {
					if tr.original == "" {
						continue
					}
					o := runWrapper(t, sh.path, w, tr.original, tr.stdin)
					require.Equal(t, RefusedExitCode, o.code, "%s: %s (%q) not refused: ran %q", sh.name, name, tr.original, o.ran)
					require.Empty(t, o.ran, "%s: %s", sh.name, name)
					require.True(t, strings.HasPrefix(o.stderr, RefusedPrefix), "the worker recognises %q", o.stderr)
					require.Contains(t, o.log, "refused (", "%s: %s: refusal logged", sh.name, name)
					require.Contains(t, o.log, "192.0.2.7", "the log names the client")
				}
			}
		})
	}

	for _, sh := range shells {
		// A frame around nothing allowed, a second command after the frame, input past the size limit, and a
		// login without a command.
		for name, in := range map[string]struct{ original, stdin string }{
			"after frame":  {"sh -s", frame(docker.Inventory()) + "id\n"},
			"too long":     {"sh -s", frame(docker.Inventory() + strings.Repeat(" ", MaxScript))},
			"other exec":   {"bash -s", frame(docker.Inventory())},
			"no command":   {"", ""},
			"empty script": {"sh -s", ""},
		} {
			o := runWrapper(t, sh.path, w, in.original, in.stdin)
			require.Equal(t, 126, o.code, "%s: %s not refused: ran %q", sh.name, name, o.ran)
			require.Empty(t, o.ran)
			require.Contains(t, o.log, "refused (")
		}
	}
}

// TestCommittedWrapperIsCurrent: deploy/device/infrastructor-wrapper.sh, which setup-device.sh installs, is what
// the generator makes from the product's current commands. Run with -update after changing a command.
func TestCommittedWrapperIsCurrent(t *testing.T) {
	p := filepath.Join("..", "..", "deploy", "device", "infrastructor-wrapper.sh")
	if *update {
		require.NoError(t, os.WriteFile(p, []byte(Script()), 0o755))
	}
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.True(t, string(b) == Script(), "%s is stale: go test ./internal/devicewrapper -run TestCommittedWrapperIsCurrent -update", p)
	for _, sh := range shells {
		args := []string{"-n", p}
		if sh.name == "busybox" {
			args = append([]string{"sh"}, args...)
		}
		out, err := exec.Command(sh.path, args...).CombinedOutput()
		require.NoError(t, err, "%s -n: %s", sh.name, out)
	}
}
