package fault

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/workflows"
)

// TestFaultTemporalRestart crashes the Temporal server (SIGKILL) while a poll is in flight and again while a
// container restart is in its act step, and starts it again on the same address and database.
// Kept: every poll loop resumes from history (the same run, new polls), no poll is committed twice, the
// restart reaches the container exactly once and the operation succeeds. Lost: the polls due while the server
// was down (a gap in the samples, not a burst).
func TestFaultTemporalRestart(t *testing.T) {
	const outage = 12 * time.Second
	t.Parallel()
	temporal := testenv.StartRestartableTemporal(t)
	engine := testenv.StartDocker(t)

	// The polled device's sshd holds every session for a second and notes when it started, so the test can crash
	// the server while a poll is running on the device.
	// Not t.TempDir: the login user writes here, and t.TempDir's parent is private to root.
	hooks, err := os.MkdirTemp("", "fault-hooks-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(hooks) })
	require.NoError(t, os.Chmod(hooks, 0o777))
	started := filepath.Join(hooks, "sessions")
	slow := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{
		`ForceCommand echo x >> ` + started + `; sleep 1; exec sh -c "$SSH_ORIGINAL_COMMAND"`,
	}})
	other := testenv.StartSSHD(t, testenv.SSHDOptions{})
	dockerd := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{engine.SetEnv()}})

	s := startStack(t, stackOptions{Temporal: temporal.Addr, CommandTimeout: 30 * time.Second,
		Signers: []ssh.Signer{slow.ClientSigner, other.ClientSigner, dockerd.ClientSigner}})
	s.RecordPollCommits(t)
	polled := s.createDevice("slow-sessions", slow.Host, slow.Port, slow.User)
	plain := s.createDevice("plain", other.Host, other.Port, other.User)
	dockerDev := s.createDevice("docker", dockerd.Host, dockerd.Port, dockerd.User)
	s.waitSamples(polled.ID, 2, settle)
	s.waitSamples(plain.ID, 2, settle)

	ctx := context.Background()
	runOf := func(id string) string {
		desc, err := s.TC.DescribeWorkflowExecution(ctx, workflows.DevicePollWorkflowID(id), "")
		require.NoError(t, err)
		return desc.WorkflowExecutionInfo.Execution.RunId
	}
	sessions := func() int {
		b, _ := os.ReadFile(started)
		return strings.Count(string(b), "x")
	}

	t.Run("mid-poll", func(t *testing.T) {
		run := runOf(polled.ID.String())
		before := s.samples(polled.ID)
		// Wait for the next session on the slow device: its poll is then in flight for about a second.
		n := sessions()
		require.Eventually(t, func() bool { return sessions() > n }, 2*pollInterval, 10*time.Millisecond)
		temporal.Kill()
		down := time.Now()
		// The fault itself: an outage longer than a workflow task's timeout (10 s), so the task that ran the
		// in-flight poll cannot be completed and is run again after the restart, poll included.
		time.Sleep(outage)
		temporal.Start()
		t.Logf("Temporal was down for %s", time.Since(down).Round(time.Millisecond))

		// The loops resume from history: the same run, and new samples.
		s.waitSamples(polled.ID, before+2, 90*time.Second)
		s.waitSamples(plain.ID, s.samples(plain.ID)+2, 60*time.Second)
		require.Equal(t, run, runOf(polled.ID.String()), "the poll loop resumed its run rather than starting over")
		require.Empty(t, s.DuplicatePollCommits(t), "a poll was committed twice")
		require.Equal(t, s.pollCommits(polled.ID), s.samples(polled.ID), "one sample per committed poll")
		// The polls due during the outage are lost, not made up in a burst when the server is back.
		minGap, _ := gaps(s.sampleTimes(polled.ID, time.Time{}))
		require.GreaterOrEqual(t, minGap, pollInterval/2, "polls bunched up after the restart")
	})

	t.Run("mid-operation", func(t *testing.T) {
		// The window opens before docker run, whose start the count below includes.
		since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
		name := runContainer(t, engine, "temporal-crash")
		before := inspect(t, engine, name)
		op := s.restart(dockerDev.ID, name, 4)
		// Crash the server once the restart has reached the engine: docker is then stopping the container, which
		// ignores SIGTERM and so takes the whole grace period.
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			assert.NotEmpty(c, dockerEvents(t, engine, name, "kill", since))
		}, 60*time.Second, 20*time.Millisecond)
		temporal.Kill()
		temporal.Start()

		done := s.waitOp(op.ID, 2*time.Minute)
		require.Equal(t, store.OpSucceeded, done.State, "error: %s", done.Error)
		requireRestartedOnce(t, engine, name, before, since)
	})

	// After both crashes, every device's loop is still the same run and none committed a poll twice.
	s.waitSamples(plain.ID, s.samples(plain.ID)+1, 30*time.Second)
	require.Empty(t, s.DuplicatePollCommits(t))
	require.Equal(t, s.pollCommits(plain.ID), s.samples(plain.ID))
}
