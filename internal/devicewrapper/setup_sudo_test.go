package devicewrapper

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/pkgupdate"
	"github.com/infrastructor/infrastructor/internal/smart"
	"github.com/infrastructor/infrastructor/internal/virsh"
	"github.com/infrastructor/infrastructor/internal/zfs"
)

// sudoOperations are the commands the product runs through sudo for the operations setup-device.sh can allow
// (--zfs-scrub, --smart-selftest, --package-refresh, --virsh), as the words after "sudo -n".
func sudoOperations(t *testing.T) []string {
	m := must(t)
	var out []string
	add := func(cmd string) {
		cmd = strings.TrimSpace(cmd)
		cmd = cmd[strings.LastIndex(cmd, "\n")+1:] // the refresh script's command line
		require.True(t, strings.HasPrefix(cmd, "sudo -n "), cmd)
		out = append(out, strings.TrimPrefix(cmd, "sudo -n "))
	}
	for _, pool := range []string{"tank", "a", "rpool_2.x:y-z"} {
		add(m(zfs.ScrubCommand(pool, true)))
		add(m(zfs.ScrubStopCommand(pool, true)))
	}
	for _, dev := range []string{"/dev/sda", "/dev/nvme0n1", "/dev/disk/by-id/ata-WDC_WD40-1234"} {
		for _, typ := range []string{"", "sat", "megaraid,3", "sat+megaraid,1"} {
			add(m(smart.SelfTestCommand(dev, typ, smart.SelfTestShort, true)))
			add(m(smart.SelfTestCommand(dev, typ, smart.SelfTestLong, true)))
			add(m(smart.AbortSelfTestCommand(dev, typ, true)))
		}
	}
	for _, pm := range []pkgupdate.Manager{pkgupdate.ManagerApt, pkgupdate.ManagerDnf, pkgupdate.ManagerYum, pkgupdate.ManagerApk} {
		add(m(pkgupdate.RefreshScript(pm, true)))
	}
	for _, dom := range []string{"web01", "db-server.lan", "a", "vm_1+x:y@z"} {
		for _, a := range []virsh.Action{virsh.ActionStart, virsh.ActionShutdown, virsh.ActionDestroy, virsh.ActionReboot,
			virsh.ActionSuspend, virsh.ActionResume} {
			add(m(virsh.ActionCommand(a, dom, true)))
		}
	}
	return out
}

// TestSetupDeviceOperationRules: setup-device.sh --zfs-scrub --smart-selftest --package-refresh --virsh writes one
// sudoers file each that visudo accepts, and the real sudo, reading them, allows every command the product sends
// for those operations and nothing else that was tried.
func TestSetupDeviceOperationRules(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("setup-device.sh creates accounts (useradd --root) and needs root")
	}
	visudo, err := exec.LookPath("visudo")
	if err != nil {
		t.Skip("visudo not installed")
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		t.Skip("sudo not installed")
	}
	root := t.TempDir()
	for name, content := range map[string]string{"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n",
		"etc/shadow": "root:*:19000:0:99999:7:::\n", "etc/gshadow": "root:*::\n"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, name), []byte(content), 0o640))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "home"), 0o755))
	tools := []string{"zpool", "smartctl", "virsh", "apt-get", "dnf", "yum", "apk"}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "usr", "sbin"), 0o755))
	for _, tool := range tools {
		require.NoError(t, os.WriteFile(filepath.Join(root, "usr", "sbin", tool), []byte("#!/bin/sh\n"), 0o755))
	}
	key := filepath.Join(t.TempDir(), "id")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput()
	require.NoError(t, err, "%s", out)
	script := filepath.Join("..", "..", "deploy", "device", "setup-device.sh")
	out, err = exec.Command("/bin/sh", script, "--root", root, "-k", key+".pub", "--from", "any",
		"--zfs-scrub", "--smart-selftest", "--package-refresh", "--virsh").CombinedOutput()
	require.NoError(t, err, "%s", out)

	var all strings.Builder
	for _, suffix := range []string{"zfs-scrub", "smart-selftest", "package-refresh", "virsh"} {
		rule := filepath.Join(root, "etc", "sudoers.d", "infrastructor-monitor-"+suffix)
		b, err := os.ReadFile(rule)
		require.NoError(t, err, "--%s writes its own file", suffix)
		vout, err := exec.Command(visudo, "-cf", rule).CombinedOutput()
		require.NoError(t, err, "%s", vout)
		all.Write(b)
	}
	require.Contains(t, all.String(), "monitor ALL=(root) NOPASSWD: /usr/sbin/apt-get -q update\n")

	// sudo itself decides, in a mount namespace where /etc/sudoers is the rules written, the account exists and
	// the tools are stubs in a private /usr/sbin.
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed")
	}
	dir := t.TempDir()
	sudoers := filepath.Join(dir, "sudoers")
	require.NoError(t, os.WriteFile(sudoers, []byte(all.String()), 0o440))
	passwd, err := os.ReadFile("/etc/passwd")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "passwd"), append(passwd, []byte("monitor:x:4242:4242::/nonexistent:/bin/sh\n")...), 0o644))
	allowed := sudoOperations(t)
	refused := []string{
		"zpool destroy tank", "zpool scrub", "zpool scrub -s", "zpool scrub tank other", "zpool scrub 1tank",
		"zpool scrub -s -f tank", "zpool scrub 'tank;id'", "zpool scrub 'tank x'", "zpool status -p tank",
		"smartctl -a /dev/sda", "smartctl -t offline /dev/sda", "smartctl -t short /etc/shadow",
		"smartctl -t short /dev/sda /dev/sdb", "smartctl -t short -d 'sat;x' /dev/sda", "smartctl -X --log=x /dev/sda",
		"smartctl -t short /dev/../etc/shadow", "smartctl -s off /dev/sda", "smartctl -t short -d SAT /dev/sda",
		"apt-get -q upgrade", "apt-get -q update -o APT::Update::Pre-Invoke::=id", "apt-get install x", "apt-get update",
		"apk add x", "dnf -q makecache --setopt=x", "yum -y update",
		"virsh -c qemu:///system undefine --domain a", "virsh -c qemu+ssh://h/system start --domain a",
		"virsh -c qemu:///system start --domain a b", "virsh start --domain a", "virsh -c qemu:///system start --domain -x",
		"virsh -c qemu:///system console --domain a", "virsh -c qemu:///system start --domain 'a;id'",
	}
	cases := filepath.Join(dir, "cases")
	require.NoError(t, os.WriteFile(cases, []byte(strings.Join(append(append([]string{}, allowed...), refused...), "\n")+"\n"), 0o644))
	run := `mount -t tmpfs -o mode=0755 infra-test-sbin /usr/sbin &&
for t in ` + strings.Join(tools, " ") + `; do printf '#!/bin/sh\n' >/usr/sbin/$t && chmod 755 /usr/sbin/$t; done &&
mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/sudoers" /etc/sudoers || exit 1
while IFS= read -r line; do
	eval "set -- $line"
	tool=$1
	shift
	if sudo -l -U monitor "/usr/sbin/$tool" "$@" >/dev/null 2>&1; then echo "allowed: $line"; else echo "refused: $line"; fi
done <"$1/cases"`
	out, err = exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", run, "sh", dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var want []string
	for _, c := range allowed {
		want = append(want, "allowed: "+c)
	}
	for _, c := range refused {
		want = append(want, "refused: "+c)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	sort.Strings(want)
	sort.Strings(got)
	require.Equal(t, want, got)

	// Without any of the package managers --package-refresh has nothing to allow and says so.
	bare := t.TempDir()
	for name, content := range map[string]string{"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n",
		"etc/shadow": "root:*:19000:0:99999:7:::\n", "etc/gshadow": "root:*::\n"} {
		require.NoError(t, os.MkdirAll(filepath.Join(bare, filepath.Dir(name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(bare, name), []byte(content), 0o640))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(bare, "home"), 0o755))
	out, err = exec.Command("/bin/sh", script, "--root", bare, "-k", key+".pub", "--from", "any", "--package-refresh").CombinedOutput()
	require.Error(t, err, "%s", out)
	require.Contains(t, string(out), "none of apt-get, dnf, yum or apk")
}
