package workflows_test

import (
	"context"
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
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/workflows"
)

// record re-records the replay histories against a Temporal dev server. Record only when a change to a workflow
// is meant to be incompatible with running executions (and those are migrated); otherwise the committed history
// is what proves the change safe.
var record = flag.Bool("record", false, "record the workflow histories in testdata/ against a Temporal dev server")

func TestMain(m *testing.M) { testenv.Main(m) }

// devicePollHistory is a DevicePoll run recorded on a dev server: polls at a one-second interval, pause and resume,
// a poll-now update, an interval change, three failed polls with the device marked offline and back-off, recovery,
// a host-key block and its resume, then termination.
const devicePollHistory = "testdata/devicepoll_history.json"

// TestDevicePollReplay replays the recorded history against the current workflow code: a change that would make
// running poll loops non-deterministic (another activity, a timer moved, a command reordered) fails here.
func TestDevicePollReplay(t *testing.T) {
	if *record {
		recordDevicePollHistory(t, devicePollHistory)
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(workflows.DevicePollWorkflow, workflow.RegisterOptions{Name: workflows.DevicePollWorkflowName})
	require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(testLogger(t), devicePollHistory))
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

	hist := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, id, run.GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	last := hist.Events[len(hist.Events)-1]
	require.Equal(t, enums.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, last.GetEventType())
	data, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(hist)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, append(data, '\n'), 0o644))
	t.Logf("recorded %d events of %s to %s", len(hist.Events), id, path)
}
