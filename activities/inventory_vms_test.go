package activities

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/virsh"
)

// TestPersistentVirsh: the test devices' virsh keeps state between processes, and reports failures.
func TestPersistentVirsh(t *testing.T) {
	bin, state := testenv.PersistentVirsh(t, testenv.FakeVM{Name: "web01", Running: true}, testenv.FakeVM{Name: "db01"})
	run := func(args ...string) (string, error) {
		out, err := exec.Command(bin+"/virsh", args...).Output()
		return string(out), err
	}
	out, err := run("-c", VirshURI, "domstate", "--domain", "web01")
	require.NoError(t, err)
	require.Equal(t, "running", strings.TrimSpace(out))
	_, err = run("suspend", "--domain", "web01")
	require.NoError(t, err)
	out, err = run("domstate", "--domain", "web01")
	require.NoError(t, err)
	require.Equal(t, "paused", strings.TrimSpace(out), "the state outlives the virsh process")
	require.Equal(t, "3", testenv.VirshState(t, state, "web01"))
	_, err = run("start", "--domain", "web01")
	require.Error(t, err, "starting a paused domain fails, and the failure is reported")
}

// TestCollectVMsOverSSH runs the vms collector through a real sshd against the persistent test driver: the
// domains are stored, a state change between collections becomes an event, and an autostart VM that is not
// running is the check's subject until it runs again.
func TestCollectVMsOverSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for the test sshd")
	}
	bin, _ := testenv.PersistentVirsh(t, testenv.FakeVM{Name: "web01", Running: true, Autostart: true}, testenv.FakeVM{Name: "db01"})
	db := testdb.Pool(t)
	dev, run := sshDevice(t, db, "kvm-host", "SetEnv PATH="+bin+":/usr/bin:/bin")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

	got, err := collectVMs(ctx, db, dev, t0, run)
	require.NoError(t, err)
	require.Equal(t, "2 VMs (1 running)", got.summary)
	require.Contains(t, got.checks, CheckVMAutostart)
	require.Empty(t, got.checks[CheckVMAutostart])
	vms, err := store.ListVMs(ctx, db, store.VMFilter{DeviceID: &dev.ID})
	require.NoError(t, err)
	require.Len(t, vms, 2)
	require.Equal(t, "db01", vms[0].Name)
	require.Equal(t, "shut off", vms[0].State)
	require.Equal(t, "web01", vms[1].Name)
	require.True(t, vms[1].Autostart)
	require.Equal(t, 2, vms[1].VCPUs)
	require.Len(t, vms[1].Disks, 1)
	require.Equal(t, "52:54:00:00:00:01", vms[1].Interfaces[0].MAC)

	// The autostart VM goes down on the device.
	script, err := virsh.ActionCommand(virsh.ActionDestroy, "web01", false)
	require.NoError(t, err)
	res, err := run(ctx, script)
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, "%s", res.Stderr)

	got, err = collectVMs(ctx, db, dev, t0.Add(time.Hour), run)
	require.NoError(t, err)
	require.Len(t, got.checks[CheckVMAutostart], 1)
	require.Equal(t, "web01", got.checks[CheckVMAutostart][0].Subject)
	evs, _, err := store.ListEvents(ctx, db, store.EventFilter{DeviceID: &dev.ID, Kind: EventVMState})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Contains(t, evs[0].Message, "web01 running → shut off")
	require.Equal(t, "warning", evs[0].Severity)
	n, err := store.CountStoppedAutostartVMs(ctx, db)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	vm, err := store.GetVM(ctx, db, dev.ID, "web01")
	require.NoError(t, err)
	require.True(t, vm.StateSince.Equal(t0.Add(time.Hour)))
}
