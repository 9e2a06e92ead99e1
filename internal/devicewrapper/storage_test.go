package devicewrapper

import (
	"testing"

	"github.com/infrastructor/infrastructor/internal/smart"
	"github.com/infrastructor/infrastructor/internal/zfs"
)

// storageCommands are the drive and pool commands (#11); writes marks the maintenance ones.
func storageCommands(t *testing.T) map[string]bool {
	m := must(t)
	cmds := map[string]bool{zfs.CollectScript: false}
	for _, sudo := range []bool{false, true} {
		cmds[smart.ScanCommand(sudo)] = false
		cmds[m(smart.ReadCommand("/dev/sda", "", sudo))] = false
		cmds[m(smart.ReadCommand("/dev/nvme0", "nvme", sudo))] = false
		cmds[m(smart.ReadCommand("/dev/bus/0", "sat+megaraid,0", sudo))] = false
		cmds[m(smart.SelfTestCommand("/dev/sda", "sat", smart.SelfTestShort, sudo))] = true
		cmds[m(smart.SelfTestCommand("/dev/disk/by-id/ata-X_1", "", smart.SelfTestLong, sudo))] = true
		cmds[m(smart.AbortSelfTestCommand("/dev/sda", "sat", sudo))] = true
		cmds[m(zfs.ScrubCommand("tank", sudo))] = true
		cmds[m(zfs.ScrubStopCommand("my-pool.2:a_b", sudo))] = true
	}
	cmds[m(zfs.StatusCommand("tank"))] = false
	cmds[m(zfs.SnapshotsCommand(""))] = false
	cmds[m(zfs.SnapshotsCommand("tank/data/vm-1.disk:0"))] = false
	return cmds
}

// TestWrapperRefusesStorageInjections: the drive and pool commands with arguments the builders never produce.
func TestWrapperRefusesStorageInjections(t *testing.T) {
	t.Parallel()
	w := dryWrapper(t)
	for _, cmd := range []string{
		"smartctl -j -a -n standby /etc/shadow",
		"smartctl -j -a -n standby /dev/../etc/shadow",
		"smartctl -j -a -n standby -d 'sat;id' /dev/sda",
		"smartctl -j -a /dev/sda",
		"smartctl -s on /dev/sda",
		"smartctl -t short /dev/sda /dev/sdb",
		"smartctl -t offline /dev/sda",
		"sudo smartctl -j -a -n standby /dev/sda",
		"sudo -n sh",
		"sudo -n zpool destroy tank",
		"zpool scrub -p tank",
		"zpool scrub tank other",
		"zpool status -p -v tank",
		"zpool status -p 'tank;id'",
		"zfs destroy tank@a",
		"zfs list -Hp -t snapshot -o name,used,creation -s creation -d 1 /tank",
		"zfs list -Hp -t snapshot -o name,used,creation -s creation -d 2 tank",
		"zfs list -Hp -t snapshot -o name,used,creation -s creation -d 1 tank/../x",
	} {
		o := runWrapper(t, "/usr/bin/dash", w, "sh -s", frame(cmd))
		if o.code != RefusedExitCode {
			t.Errorf("%q: exit %d, ran %q", cmd, o.code, o.ran)
		}
	}
}
