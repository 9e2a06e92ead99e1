package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/storagefake"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

// TestScrubSurvivesWorkerCrash: the worker running a scrub's verify step is killed (SIGKILL) while it follows the
// scrub; a new worker takes the step over and follows the same scrub to its end. The scrub is started once.
func TestScrubSurvivesWorkerCrash(t *testing.T) {
	dir, err := os.MkdirTemp("", "infra-scrub-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o777))
	fake := storagefake.Install(t, dir)
	before, scrubbing, after := neptune(t)
	fake.SetPools(before, scrubbing, after, "neptune\t1825189302108\t551410906792\t1273778395316\t10\t30\t1.00\tONLINE\n")
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{"SetEnv PATH=" + fake.Bin + ":/usr/local/bin:/usr/bin:/bin"}})
	s := startStack(t, []ssh.Signer{sshd.ClientSigner}, teststack.WithoutWorker())

	bin := filepath.Join(t.TempDir(), "infrastructor")
	build := exec.Command("go", "build", "-o", bin, "./cmd/infrastructor")
	build.Dir = testenv.RepoRoot(t)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	dataDir := t.TempDir()
	logPath := filepath.Join(dataDir, "worker.log")
	startWorker := func() *exec.Cmd {
		logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		require.NoError(t, err)
		defer logFile.Close()
		cmd := exec.Command(bin, "worker")
		cmd.Env = append(os.Environ(),
			"INFRA_DATABASE_URL="+s.DBURL,
			"INFRA_TEMPORAL_ADDRESS="+testenv.TemporalAddress(t),
			"INFRA_TASK_QUEUE="+s.Poller.TaskQueue,
			"INFRA_SSH_KEY="+sshd.ClientKeyPath,
			"INFRA_SSH_AGENT=false",
			"INFRA_DATA_DIR="+dataDir,
			"INFRA_LOG_FORMAT=text",
			"INFRA_LOG_LEVEL=info",
		)
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
			t.Logf("worker log:\n%s\ncalls:\n%s", b, fake.Calls())
		}
	})

	first := startWorker()
	dev := s.createDevice("nas", sshd.Host, sshd.Port, sshd.User, "trust_first_use")
	s.waitStatus(dev.ID, "online", "", 90*time.Second)
	// The first collection has read the pool, so no collection runs while the scrub is followed.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		runs, err := store.InventoryRuns(context.Background(), s.DB, dev.ID)
		require.NoError(c, err)
		require.True(c, runs["zfs"].OK)
	}, 90*time.Second, 250*time.Millisecond)

	var raw map[string]any
	code := s.do("POST", "/api/v1/devices/"+dev.ID.String()+"/zfs/pools/neptune/actions", map[string]any{"action": "scrub"}, &raw)
	require.Equal(t, 202, code, "%v", raw)
	op := decodeAs[deviceOpView](t, raw)
	// Kill the worker while verify follows the running scrub (its first progress line is in).
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var o deviceOpView
		require.Equal(c, 200, s.do("GET", "/api/v1/operations/"+op.ID.String(), nil, &o))
		require.NotEmpty(c, o.Steps)
		last := o.Steps[len(o.Steps)-1]
		require.Equal(c, "verify", last.Name)
		require.Contains(c, last.Detail, "scrub 0.0% done")
	}, 60*time.Second, 50*time.Millisecond)
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_, _ = first.Process.Wait()

	startWorker()
	o := waitStorageOpWithin(t, s, fake, op.ID, 3*time.Minute)
	require.Equal(t, store.OpSucceeded, o.State, o.Error)
	require.Contains(t, o.Result.Summary, "scrub of neptune finished")
	var verify *opStep
	for i := range o.Steps {
		if o.Steps[i].Name == "verify" {
			verify = &o.Steps[i]
		}
	}
	require.NotNil(t, verify)
	require.GreaterOrEqual(t, verify.Attempt, 2, "the verify step ran again on the new worker")
	require.Equal(t, 1, strings.Count(fake.Calls(), "zpool scrub neptune"), "the scrub was started once")
}
