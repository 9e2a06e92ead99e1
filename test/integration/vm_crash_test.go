package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// TestVMShutdownSurvivesWorkerCrash kills the worker process (kill -9) while a VM shutdown waits for a guest that
// ignores the request, and starts a new worker: the operation completes with the forced power-off, and the device
// saw exactly one shutdown request and one destroy.
func TestVMShutdownSurvivesWorkerCrash(t *testing.T) {
	bin, state := testenv.PersistentVirsh(t, testenv.FakeVM{Name: "web01", Running: true, Stubborn: true})
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{"SetEnv PATH=" + bin + ":/usr/bin:/bin"}})
	s, _ := opStack(t, []ssh.Signer{sshd.ClientSigner}, false)

	workers := s.WorkerProcesses(t, sshd.ClientKeyPath)

	first := workers.Start()
	dev := s.createDevice("kvm", sshd.Host, sshd.Port, sshd.User, "trust_first_use")
	s.waitStatus(dev.ID, "online", "", 90*time.Second)
	var raw map[string]any
	code := s.do("POST", "/api/v1/devices/"+dev.ID.String()+"/vms/web01/actions",
		map[string]any{"action": "shutdown", "timeout": 15, "destroy_after": true}, &raw)
	require.Equal(t, 202, code, "%v", raw)
	id := uuid.MustParse(raw["id"].(string))

	// Kill the worker while verify waits for the guest to power off.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var o opView
		require.Equal(c, 200, s.do("GET", "/api/v1/operations/"+id.String(), nil, &o))
		st := o.step("verify")
		require.NotNil(c, st, "verify has not started: %v", o.stepNames())
		require.Contains(c, st.Detail, "waiting up to")
	}, 60*time.Second, 50*time.Millisecond)
	first.Kill()

	workers.Start()
	var o deviceOpView
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		o = deviceOpView{}
		require.Equal(c, 200, s.do("GET", "/api/v1/operations/"+id.String(), nil, &o))
		require.True(c, store.OpFinal(o.State), "operation still %s", o.State)
	}, 180*time.Second, 250*time.Millisecond)
	require.Equal(t, store.OpSucceeded, o.State, o.Error)
	require.Contains(t, o.Result.Summary, "was destroyed")
	for _, st := range o.Steps {
		if st.Name == "verify" {
			require.GreaterOrEqual(t, st.Attempt, 2, "verify ran again on the new worker")
		}
	}
	require.Equal(t, "5", testenv.VirshState(t, state, "web01"))

	count := func(prefix string) int {
		n := 0
		for _, c := range testenv.VirshCommands(t, state) {
			if strings.HasPrefix(c, prefix) {
				n++
			}
		}
		return n
	}
	require.Equal(t, 1, count("shutdown --domain web01"), "one shutdown request")
	require.Equal(t, 1, count("destroy --domain web01"), "one forced power-off")
}
