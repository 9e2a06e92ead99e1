package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
	s, dbURL := opStack(t, []ssh.Signer{sshd.ClientSigner}, false)

	exe := filepath.Join(t.TempDir(), "infrastructor")
	build := exec.Command("go", "build", "-o", exe, "./cmd/infrastructor")
	build.Dir = testenv.RepoRoot(t)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	dataDir := t.TempDir()
	logPath := filepath.Join(dataDir, "worker.log")
	startWorker := func() *exec.Cmd {
		logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		require.NoError(t, err)
		defer logFile.Close()
		cmd := exec.Command(exe, "worker")
		cmd.Env = append(os.Environ(), "INFRA_DATABASE_URL="+dbURL, "INFRA_TEMPORAL_ADDRESS="+testenv.TemporalAddress(t),
			"INFRA_TASK_QUEUE="+s.Poller.TaskQueue, "INFRA_SSH_KEY="+sshd.ClientKeyPath, "INFRA_SSH_AGENT=false",
			"INFRA_DATA_DIR="+dataDir, "INFRA_LOG_FORMAT=text", "INFRA_LOG_LEVEL=info")
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		return cmd
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("worker log:\n%s", b)
		}
	})

	first := startWorker()
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
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_, _ = first.Process.Wait()

	startWorker()
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
