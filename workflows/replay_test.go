package workflows_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/workflows"
)

// record records the histories in testdata/ that are missing, against a Temporal dev server. Files are only ever
// added: a committed history is what proves a workflow change safe for the executions running on it, so it is
// never overwritten (a deliberate incompatible change removes a file in the same commit, with its reason).
var record = flag.Bool("record", false, "record the missing workflow histories in testdata/ against a Temporal dev server")

func TestMain(m *testing.M) { testenv.Main(m) }

// recordedHistories names every history that must be in testdata/ and how -record makes it. Replay reads every
// file there, listed or not.
var recordedHistories = []struct {
	files  []string
	record func(t *testing.T, paths ...string)
}{
	// A DevicePoll run: polls at a one-second interval, pause and resume, a poll-now update, an interval change,
	// three failed polls with the device marked offline and back-off, recovery, a host-key block and its resume,
	// then termination.
	{[]string{"devicepoll_history.json"}, func(t *testing.T, p ...string) { recordDevicePollHistory(t, p[0]) }},
	// The same scenario with the poll loop from before alert evaluation (7bfa1cf, whose tree already called the
	// evaluation hook before it existed: recorded with that one call removed). No evaluation and no version
	// marker: its replay proves the GetVersion guard, so it cannot be recorded again.
	{[]string{"devicepoll_before_alert_evaluation.json"}, nil},
	// A poll loop's run that continues as new, and the run after it (state carried over).
	{[]string{"devicepoll_continue_as_new.json", "devicepoll_after_continue_as_new.json"},
		func(t *testing.T, p ...string) { recordDevicePollContinueAsNew(t, p[0], p[1]) }},
	// A DevicePoll run whose polls evaluate their alerts themselves (#17): quiet polls, a poll whose evaluation
	// starts a Notify workflow, a failed poll evaluated separately, recovery.
	{[]string{"devicepoll_alerts_in_poll.json"}, func(t *testing.T, p ...string) { recordDevicePollAlertsInPoll(t, p[0]) }},
	{[]string{"containerop_success.json"}, func(t *testing.T, p ...string) { recordContainerOpSuccess(t, p[0]) }},
	{[]string{"containerop_failure.json"}, func(t *testing.T, p ...string) { recordContainerOpFailure(t, p[0]) }},
	{[]string{"containerop_cancel.json"}, func(t *testing.T, p ...string) { recordContainerOpCancel(t, p[0]) }},
	{[]string{"scheduledaction.json"}, func(t *testing.T, p ...string) { recordScheduledAction(t, p[0]) }},
	{[]string{"notify.json"}, func(t *testing.T, p ...string) { recordNotify(t, p[0]) }},
	{[]string{"housekeeping.json"}, func(t *testing.T, p ...string) { recordHousekeeping(t, p[0]) }},
	{[]string{"containerlogs.json"}, func(t *testing.T, p ...string) { recordContainerLogs(t, p[0]) }},
	// The DevicePoll scenario of devicepoll_history.json with the slow-cadence collection (an activity of its own
	// after the first good poll and after the poll-now).
	{[]string{"devicepoll_inventory.json"}, func(t *testing.T, p ...string) { recordDevicePollHistory(t, p[0]) }},
	{[]string{"deviceop_success.json"}, func(t *testing.T, p ...string) { recordDeviceOpSuccess(t, p[0]) }},
	{[]string{"topprocesses.json"}, func(t *testing.T, p ...string) { recordTopProcesses(t, p[0]) }},
	{[]string{"imageupdates.json"}, func(t *testing.T, p ...string) { recordImageUpdates(t, p[0]) }},
	// A compose update schedule with only_with_updates: one project pulled and recreated, one skipped (#13).
	{[]string{"scheduledaction_skips.json"}, func(t *testing.T, p ...string) { recordScheduledActionSkips(t, p[0]) }},
}

// TestReplayRecordedHistories replays every history in testdata/ against the current workflow code: a change that
// would make running executions non-deterministic (another activity, a timer moved, a command reordered) fails
// here. New recordings are picked up without touching this test.
func TestReplayRecordedHistories(t *testing.T) {
	if *record {
		for _, h := range recordedHistories {
			var paths []string
			missing := false
			for _, f := range h.files {
				p := filepath.Join("testdata", f)
				paths = append(paths, p)
				if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
					missing = true
				}
			}
			if missing && h.record != nil {
				t.Run("record "+h.files[0], func(t *testing.T) { h.record(t, paths...) })
			}
		}
	}
	for _, h := range recordedHistories {
		for _, f := range h.files {
			require.FileExists(t, filepath.Join("testdata", f), "a recorded history is missing; histories are only added")
		}
	}

	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			registerWorkflows(r)
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(testLogger(t), f))
		})
	}
}

// testLogger writes the SDK's warnings and errors to the test log; the replayer reports the cause of a
// non-determinism there.
func testLogger(t *testing.T) tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// scriptedDevice stands in for the poll activities on a real worker, registered under the activities' names. The
// test flips its outcome between the steps of the scenario.
type scriptedDevice struct {
	mu      sync.Mutex
	fail    error // returned by PollDevice while set
	polls   int
	offline int
}

func (d *scriptedDevice) setFailure(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail = err
}

func (d *scriptedDevice) PollDevice(_ context.Context, in activities.PollDeviceInput) (*activities.PollDeviceResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.polls++
	if d.fail != nil {
		return nil, d.fail
	}
	return &activities.PollDeviceResult{Summary: fmt.Sprintf("poll %s", in.PollKey), Collected: time.Now()}, nil
}

func (d *scriptedDevice) MarkOffline(_ context.Context, _ activities.MarkOfflineInput) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.offline++
	return nil
}

// EvaluateAlerts finds nothing to raise: the recorded history shows where evaluation runs, not what it decides.
func (d *scriptedDevice) EvaluateAlerts(context.Context, activities.EvaluateAlertsInput) (*activities.EvaluateAlertsResult, error) {
	return &activities.EvaluateAlertsResult{}, nil
}

func recordDevicePollHistory(t *testing.T, path string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: testenv.TemporalAddress(t), Logger: testLogger(t),
		// A fixed identity keeps the machine's host name and process ID out of the committed history.
		Identity: "devicepoll-recorder"})
	require.NoError(t, err)
	defer c.Close()

	tq := testenv.TaskQueue(t)
	w := worker.New(c, tq, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.DevicePollWorkflow, workflow.RegisterOptions{Name: workflows.DevicePollWorkflowName})
	dev := &scriptedDevice{}
	w.RegisterActivityWithOptions(dev.PollDevice, activity.RegisterOptions{Name: "PollDevice"})
	w.RegisterActivityWithOptions(dev.MarkOffline, activity.RegisterOptions{Name: "MarkOffline"})
	w.RegisterActivityWithOptions(dev.EvaluateAlerts, activity.RegisterOptions{Name: "EvaluateAlerts"})
	require.NoError(t, w.Start())
	defer w.Stop()

	id := workflows.DevicePollWorkflowID("replay-" + tq)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: tq}, workflows.DevicePollWorkflowName,
		workflows.DevicePollInput{DeviceID: "3f1c9a6e-5b2d-4e8f-a1c7-9d0e2b4f6a81", Interval: time.Second})
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), id, run.GetRunID(), "test ended") }()

	status := func(t require.TestingT) workflows.DevicePollState {
		v, err := c.QueryWorkflow(ctx, id, run.GetRunID(), workflows.QueryStatus)
		require.NoError(t, err)
		var st workflows.DevicePollState
		require.NoError(t, v.Get(&st))
		return st
	}
	waitFor := func(what string, ok func(st workflows.DevicePollState) bool) workflows.DevicePollState {
		t.Helper()
		var st workflows.DevicePollState
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			st = status(c)
			require.True(c, ok(st), "%s: status %+v", what, st)
		}, time.Minute, 100*time.Millisecond)
		return st
	}
	signal := func(name string, arg any) {
		t.Helper()
		require.NoError(t, c.SignalWorkflow(ctx, id, run.GetRunID(), name, arg))
	}
	pollNow := func() (workflows.PollNowResult, error) {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, RunID: run.GetRunID(),
			UpdateName: workflows.UpdatePollNow, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			return workflows.PollNowResult{}, err
		}
		var res workflows.PollNowResult
		return res, h.Get(ctx, &res)
	}

	st := waitFor("three polls", func(st workflows.DevicePollState) bool { return st.Polls >= 3 })

	signal(workflows.SignalPause, nil)
	st = waitFor("paused", func(st workflows.DevicePollState) bool { return st.Paused })
	signal(workflows.SignalResume, nil)
	n := st.Polls
	st = waitFor("resumed", func(st workflows.DevicePollState) bool { return !st.Paused && st.Polls >= n+2 })

	res, err := pollNow()
	require.NoError(t, err)
	require.NotEmpty(t, res.Summary)
	require.Empty(t, res.Error)

	signal(workflows.SignalSetInterval, 2*time.Second)
	n = waitFor("interval changed", func(st workflows.DevicePollState) bool { return st.Interval == 2*time.Second }).Polls
	waitFor("polls at the new interval", func(st workflows.DevicePollState) bool { return st.Polls >= n+2 })

	dev.setFailure(temporal.NewApplicationError("dial tcp 192.0.2.9:22: connect: connection refused", "SSH refused"))
	waitFor("offline", func(st workflows.DevicePollState) bool { return st.Offline })
	dev.setFailure(nil)
	n = waitFor("back online", func(st workflows.DevicePollState) bool { return !st.Offline }).Polls
	waitFor("polling again", func(st workflows.DevicePollState) bool { return st.Polls >= n+1 })

	dev.setFailure(temporal.NewNonRetryableApplicationError("host key changed", activities.ErrTypeHostKeyChanged, nil))
	waitFor("blocked", func(st workflows.DevicePollState) bool { return st.Blocked })
	_, err = pollNow()
	require.Error(t, err, "poll-now must be rejected while the device is blocked")
	dev.setFailure(nil)
	signal(workflows.SignalResume, nil)
	n = waitFor("unblocked", func(st workflows.DevicePollState) bool { return !st.Blocked }).Polls
	waitFor("polling after the block", func(st workflows.DevicePollState) bool { return st.Polls >= n+1 && st.LastError == "" })

	require.NoError(t, c.TerminateWorkflow(ctx, id, run.GetRunID(), "recorded"))
	var terminated *temporal.TerminatedError
	require.ErrorAs(t, run.Get(ctx, nil), &terminated)

	saveHistory(t, c, id, run.GetRunID(), path)
}
