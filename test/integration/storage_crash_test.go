package integration

import (
	"context"
	"os"
	"strings"
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

	workers := s.WorkerProcesses(t, sshd.ClientKeyPath)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("calls:\n%s", fake.Calls())
		}
	})

	first := workers.Start()
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
	first.Kill()

	workers.Start()
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
