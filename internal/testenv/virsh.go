package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// persistentVirsh is a `virsh` for test devices: it runs the real virsh against libvirt's built-in test driver
// (test://<node.xml>) and makes the domains' run states outlive the process. The test driver keeps its state per
// connection, that is per virsh process, while a device runs one virsh per command; so each call
//   - writes node.xml from the domain definitions in dom/ with each domain's last state (the driver's
//     <test:runstate> element) and re-applies autostart (marks in autostart/),
//   - runs the caller's command, validated by the product and passed unchanged (any -c URI is replaced by the
//     test node), in the same virsh process followed by `list --all`,
//   - prints only the command's output, stores the states the listing shows, and exits 1 when virsh printed an
//     error (virsh's command language keeps going after a failing command and exits 0).
//
// A mark in stubborn/ makes `shutdown` of that domain do nothing, like a guest that ignores the ACPI request,
// so the shutdown timeout and the destroy fallback can be exercised. Every command is appended to commands in the
// state directory (VirshCommands), so a test can count the effects. Calls are serialised with flock. State reasons
// ("booted", "destroyed") are not kept: a new process reads them as "unknown".
const persistentVirsh = `#!/bin/sh
S=%s
exec 9>"$S/lock"
flock 9
if [ "${1-}" = -c ]; then shift 2; fi
cmd="$*"
echo "$cmd" >>"$S/commands"
case $cmd in
"shutdown --domain "*)
  n=${cmd#"shutdown --domain "}
  if [ -e "$S/stubborn/$n" ]; then echo "Domain '$n' is being shutdown"; exit 0; fi ;;
esac
{
  echo "<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
  for f in "$S"/dom/*.xml; do
    n=$(basename "$f" .xml)
    st=$(cat "$S/state/$n" 2>/dev/null || echo 5)
    sed "s|</domain>|<test:runstate>$st</test:runstate></domain>|" "$f"
  done
  echo "</node>"
} >"$S/node.xml"
pre=
for f in "$S"/autostart/*; do
  [ -e "$f" ] && pre="$pre autostart --domain ${f##*/} ;"
done
LC_ALL=C /usr/bin/virsh -c "test://$S/node.xml" "$pre echo @@begin ; $cmd ; echo @@end ; list --all" >"$S/out" 2>"$S/err"
sed -n '/^@@begin$/,/^@@end$/p' "$S/out" | sed '1d;$d'
sed -n '/^@@end$/,$p' "$S/out" | awk 'NR>3 && NF>=3 { st=$3; for (i=4;i<=NF;i++) st=st" "$i; print $2, st }' |
while read -r n st; do
  case $st in
  running) c=1 ;; "in shutdown") c=4 ;; paused) c=3 ;; crashed) c=6 ;; pmsuspended) c=7 ;; *) c=5 ;;
  esac
  echo $c >"$S/state/$n"
done
if grep -q '^error:' "$S/err"; then cat "$S/err" >&2; exit 1; fi
exit 0
`

// FakeVM is a domain of the persistent test driver (PersistentVirsh).
type FakeVM struct {
	Name      string
	Running   bool
	Autostart bool
	Stubborn  bool
}

// PersistentVirsh writes a virsh that keeps libvirt's test-driver state between processes (see persistentVirsh)
// and its domains into a directory readable by a test sshd's login user, and returns the directory to put first on
// the device's PATH (e.g. with sshd's "SetEnv PATH=<bin>:/usr/bin:/bin") and the state directory. It skips the
// test when virsh or flock is missing.
func PersistentVirsh(t testing.TB, vms ...FakeVM) (bin, state string) {
	t.Helper()
	if _, err := exec.LookPath("virsh"); err != nil {
		t.Skip("virsh not installed (apt-get install libvirt-clients)")
	}
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock not installed")
	}
	dir, err := os.MkdirTemp("", "infra-virsh-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	bin, state = filepath.Join(dir, "bin"), filepath.Join(dir, "state")
	for _, d := range []string{bin, state, filepath.Join(state, "dom"), filepath.Join(state, "state"),
		filepath.Join(state, "autostart"), filepath.Join(state, "stubborn")} {
		require.NoError(t, os.MkdirAll(d, 0o777))
		require.NoError(t, os.Chmod(d, 0o777))
	}
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "virsh"), []byte(fmt.Sprintf(persistentVirsh, state)), 0o755))
	for i, vm := range vms {
		xml := fmt.Sprintf(`<domain type='test'><name>%s</name><uuid>4dea22b3-1d52-d8f3-2516-%012d</uuid>
<memory unit='KiB'>1048576</memory><currentMemory unit='KiB'>524288</currentMemory><vcpu>2</vcpu>
<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>
<source file='/var/lib/libvirt/images/%s.qcow2'/><target dev='vda' bus='virtio'/></disk>
<interface type='network'><mac address='52:54:00:00:00:%02x'/><source network='default'/><model type='virtio'/></interface>
</devices></domain>
`, vm.Name, i+1, vm.Name, i+1)
		require.NoError(t, os.WriteFile(filepath.Join(state, "dom", vm.Name+".xml"), []byte(xml), 0o666))
		st := "5"
		if vm.Running {
			st = "1"
		}
		require.NoError(t, os.WriteFile(filepath.Join(state, "state", vm.Name), []byte(st+"\n"), 0o666))
		if vm.Autostart {
			require.NoError(t, os.WriteFile(filepath.Join(state, "autostart", vm.Name), nil, 0o666))
		}
		if vm.Stubborn {
			require.NoError(t, os.WriteFile(filepath.Join(state, "stubborn", vm.Name), nil, 0o666))
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(state, "commands"), nil, 0o666))
	// The device's login user rewrites the state files: umask must not have narrowed them.
	require.NoError(t, filepath.Walk(state, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		return os.Chmod(p, 0o666)
	}))
	return bin, state
}

// VirshState is a domain's stored run state code in a PersistentVirsh state directory (1 running, 3 paused, 5
// shut off).
func VirshState(t testing.TB, state, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "state", name))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// VirshCommands returns the virsh commands (without the connection option) run against a PersistentVirsh state
// directory, oldest first.
func VirshCommands(t testing.TB, state string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "commands"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}
