package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/workflows"
)

// stubbedActivities are the activities the workflows call, registered under their names with stand-ins: the
// recorded histories show which commands the workflows issue, not what the activities do.
var stubbedActivities = []string{
	"PollDevice", "MarkOffline", "EvaluateAlerts",
	"PrecheckContainerOp", "ActContainerOp", "VerifyContainerOp", "RecordContainerOp",
	"FetchLogs", "EnsurePartitionsAhead", "RefreshRollups", "ApplyRetention",
	"DeliverNotification", "FailDelivery",
	"BeginScheduledRun", "FailScheduledOperation", "FinishScheduledRun", "PruneImages",
	"CheckImageUpdates", "CollectInventory", "PrecheckDeviceOp", "ActDeviceOp", "VerifyDeviceOp", "RecordDeviceOp",
}

// stubFunc answers one activity call: its result (converted through JSON to the real activity's result type) or
// an error. args are the call's arguments after the context.
type stubFunc func(ctx context.Context, args []any) (any, error)

// registerStubs registers a stand-in with the exact signature of each of stubbedActivities on w. An activity
// without an entry in stubs returns the zero value of its result.
func registerStubs(t *testing.T, w worker.Worker, stubs map[string]stubFunc) {
	t.Helper()
	acts := reflect.TypeOf(&activities.Activities{})
	errType := reflect.TypeOf((*error)(nil)).Elem()
	for _, name := range stubbedActivities {
		m, ok := acts.MethodByName(name)
		require.True(t, ok, "activities.Activities has no method %s", name)
		var in, out []reflect.Type
		for i := 1; i < m.Type.NumIn(); i++ { // skip the receiver
			in = append(in, m.Type.In(i))
		}
		for i := 0; i < m.Type.NumOut(); i++ {
			out = append(out, m.Type.Out(i))
		}
		stub := stubs[name]
		fn := reflect.MakeFunc(reflect.FuncOf(in, out, false), func(args []reflect.Value) []reflect.Value {
			var res any
			var err error
			if stub != nil {
				var rest []any
				for _, a := range args[1:] {
					rest = append(rest, a.Interface())
				}
				res, err = stub(args[0].Interface().(context.Context), rest)
			}
			results := make([]reflect.Value, len(out))
			if len(out) == 2 {
				v := reflect.New(out[0])
				if res != nil {
					b, merr := json.Marshal(res)
					if merr == nil {
						merr = json.Unmarshal(b, v.Interface())
					}
					if merr != nil {
						err = merr
					}
				}
				results[0] = v.Elem()
			}
			if err != nil {
				results[len(out)-1] = reflect.ValueOf(&err).Elem()
			} else {
				results[len(out)-1] = reflect.Zero(errType)
			}
			return results
		})
		w.RegisterActivityWithOptions(fn.Interface(), activity.RegisterOptions{Name: name})
	}
}

// recorder is a worker with every workflow and stubbed activities on its own task queue of a Temporal server.
type recorder struct {
	t  *testing.T
	c  client.Client
	tq string
}

func newRecorder(t *testing.T, hostPort string, stubs map[string]stubFunc) *recorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: hostPort, Logger: testLogger(t),
		// A fixed identity keeps the machine's host name and process ID out of the committed history.
		Identity: "history-recorder"})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	tq := testenv.TaskQueue(t)
	w := worker.New(c, tq, worker.Options{})
	registerWorkflows(w)
	registerStubs(t, w, stubs)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return &recorder{t: t, c: c, tq: tq}
}

// registerWorkflows registers every workflow under its name, as the worker does.
func registerWorkflows(r interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}) {
	r.RegisterWorkflowWithOptions(workflows.DevicePollWorkflow, workflow.RegisterOptions{Name: workflows.DevicePollWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.ContainerLogsWorkflow, workflow.RegisterOptions{Name: workflows.ContainerLogsWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.ZFSSnapshotsWorkflow, workflow.RegisterOptions{Name: workflows.ZFSSnapshotsWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.HousekeepingWorkflow, workflow.RegisterOptions{Name: workflows.HousekeepingWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.ContainerOperationWorkflow, workflow.RegisterOptions{Name: workflows.ContainerOperationWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.NotifyWorkflow, workflow.RegisterOptions{Name: workflows.NotifyWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.ScheduledActionWorkflow, workflow.RegisterOptions{Name: workflows.ScheduledActionWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.SystemLogsWorkflow, workflow.RegisterOptions{Name: workflows.SystemLogsWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.LogTailWorkflow, workflow.RegisterOptions{Name: workflows.LogTailWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.DeviceOperationWorkflow, workflow.RegisterOptions{Name: workflows.DeviceOperationWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.TopProcessesWorkflow, workflow.RegisterOptions{Name: workflows.TopProcessesWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.ImageUpdatesWorkflow, workflow.RegisterOptions{Name: workflows.ImageUpdatesWorkflowName})
}

// run starts a workflow, waits for it to close and saves its history.
func (r *recorder) run(path, id, name string, arg any, wantErr bool) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var args []any
	if arg != nil {
		args = append(args, arg)
	}
	run, err := r.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: r.tq}, name, args...)
	require.NoError(r.t, err)
	err = run.Get(ctx, nil)
	if wantErr {
		require.Error(r.t, err)
	} else {
		require.NoError(r.t, err)
	}
	saveHistory(r.t, r.c, id, run.GetRunID(), path)
}

// saveHistory writes a closed run's history to path as JSON, the format the replayer reads.
func saveHistory(t *testing.T, c client.Client, id, runID, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hist := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	data, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(hist)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, append(data, '\n'), 0o644))
	t.Logf("recorded %d events of %s to %s", len(hist.Events), id, path)
}

const (
	recDevice    = "3f1c9a6e-5b2d-4e8f-a1c7-9d0e2b4f6a81"
	recOperation = "6b0e2f4c-8d1a-4c3e-9f5b-2a7d1e0c3b94"
)

func recContainerOp(op string) workflows.ContainerOperationInput {
	return workflows.ContainerOperationInput{ContainerOpInput: activities.ContainerOpInput{OperationID: op,
		DeviceID: recDevice, Ref: "web", Action: "restart"}, Settle: 10 * time.Millisecond}
}

func precheckOK(context.Context, []any) (any, error) {
	return activities.PrecheckResult{Before: activities.OpSnapshot{}}, nil
}

func verifyOK(context.Context, []any) (any, error) {
	return activities.VerifyResult{Summary: "running again"}, nil
}

func recordContainerOpSuccess(t *testing.T, path string) {
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"PrecheckContainerOp": precheckOK,
		"ActContainerOp":      func(context.Context, []any) (any, error) { return activities.ActResult{Output: "web"}, nil },
		"VerifyContainerOp":   verifyOK,
	})
	r.run(path, recContainerOp(recOperation).WorkflowID(), workflows.ContainerOperationWorkflowName,
		recContainerOp(recOperation), false)
}

// recordDeviceOpSuccess records a device operation that follows its job in verify, reporting progress.
func recordDeviceOpSuccess(t *testing.T, path string) {
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"PrecheckDeviceOp": precheckDeviceOpOK,
		"ActDeviceOp":      actDeviceOpOK,
		"VerifyDeviceOp": func(context.Context, []any) (any, error) {
			return activities.OpVerify{Summary: "scrub finished, 0 errors", After: "scrub finished"}, nil
		},
	})
	r.run(path, recDeviceOp().WorkflowID(), workflows.DeviceOperationWorkflowName, recDeviceOp(), false)
}

func recordImageUpdates(t *testing.T, path string) {
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"CheckImageUpdates": func(context.Context, []any) (any, error) {
			return activities.CheckImageUpdatesResult{Checked: 2, Fresh: 1}, nil
		},
	})
	r.run(path, "image-updates", workflows.ImageUpdatesWorkflowName, activities.CheckImageUpdatesInput{}, false)
}

func recordContainerOpFailure(t *testing.T, path string) {
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"PrecheckContainerOp": precheckOK,
		"ActContainerOp":      func(context.Context, []any) (any, error) { return activities.ActResult{Output: "web"}, nil },
		"VerifyContainerOp": func(context.Context, []any) (any, error) {
			return nil, temporal.NewNonRetryableApplicationError("web exited with code 1 within 1s",
				activities.ErrTypeVerifyFailed, nil, activities.OpSnapshot{})
		},
	})
	r.run(path, recContainerOp(recOperation).WorkflowID(), workflows.ContainerOperationWorkflowName,
		recContainerOp(recOperation), true)
}

// recordContainerOpCancel cancels the operation while its act step runs; the step heartbeats, so it learns of the
// cancellation and returns, and the workflow records the operation as cancelled.
func recordContainerOpCancel(t *testing.T, path string) {
	acting, act := heartbeatUntilCancelled()
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"PrecheckContainerOp": precheckOK,
		"ActContainerOp":      act,
	})
	r.runCancelled(path, recContainerOp(recOperation).WorkflowID(), workflows.ContainerOperationWorkflowName,
		recContainerOp(recOperation), acting)
}

// heartbeatUntilCancelled is a stand-in for a long step: it tells started when it begins, then heartbeats until
// its cancellation reaches it.
func heartbeatUntilCancelled() (started <-chan struct{}, stub stubFunc) {
	ch := make(chan struct{}, 1)
	return ch, func(ctx context.Context, _ []any) (any, error) {
		select {
		case ch <- struct{}{}:
		default:
		}
		for {
			activity.RecordHeartbeat(ctx)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// runCancelled starts a workflow, cancels it once started is told, waits for it to close as cancelled and saves its
// history.
func (r *recorder) runCancelled(path, id, name string, arg any, started <-chan struct{}) {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run, err := r.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: r.tq}, name, arg)
	require.NoError(t, err)
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the step to cancel never started")
	}
	require.NoError(t, r.c.CancelWorkflow(ctx, id, run.GetRunID()))
	var canceled *temporal.CanceledError
	require.ErrorAs(t, run.Get(ctx, nil), &canceled)
	saveHistory(t, r.c, id, run.GetRunID(), path)
}

func recordContainerLogs(t *testing.T, path string) {
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"FetchLogs": func(context.Context, []any) (any, error) {
			return map[string]any{}, nil
		},
	})
	r.run(path, "container-logs/replay", workflows.ContainerLogsWorkflowName,
		activities.FetchLogsInput{FetchID: "f1", DeviceID: recDevice, Ref: "web", Tail: "100"}, false)
}

func recordHousekeeping(t *testing.T, path string) {
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"EnsurePartitionsAhead": func(context.Context, []any) (any, error) { return 3, nil },
	})
	r.run(path, "housekeeping/replay", workflows.HousekeepingWorkflowName, nil, false)
}

// recordNotify delivers one notice to two channels: one takes it, one rejects it (not retried) and the failure
// is recorded.
func recordNotify(t *testing.T, path string) {
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"DeliverNotification": func(_ context.Context, args []any) (any, error) {
			if args[0].(activities.DeliverInput).DeliveryID == 2 {
				return nil, temporal.NewNonRetryableApplicationError("webhook answered 400",
					activities.ErrTypeNotificationRejected, nil)
			}
			return activities.DeliverResult{State: "sent"}, nil
		},
	})
	r.run(path, workflows.NotifyWorkflowID("replay/1"), workflows.NotifyWorkflowName,
		workflows.NotifyInput{Key: "replay/1", DeliveryIDs: []int64{1, 2}}, false)
}

// recordScheduledAction runs a schedule over two devices one at a time: a container restart (a ContainerOperation
// child) and an image prune.
func recordScheduledAction(t *testing.T, path string) {
	op := recContainerOp(recOperation).ContainerOpInput
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"BeginScheduledRun": func(context.Context, []any) (any, error) {
			return activities.BeginScheduledRunResult{Name: "nightly", Concurrency: 1, Targets: []activities.ScheduleTarget{
				{DeviceID: recDevice, DeviceName: "nas", Op: &op},
				{DeviceID: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", DeviceName: "pi", Prune: true},
			}}, nil
		},
		"PrecheckContainerOp": precheckOK,
		"ActContainerOp":      func(context.Context, []any) (any, error) { return activities.ActResult{Output: "web"}, nil },
		"VerifyContainerOp":   verifyOK,
		"PruneImages": func(context.Context, []any) (any, error) {
			return activities.PruneImagesResult{Summary: "2 images removed"}, nil
		},
	})
	r.run(path, "user-schedule-run/replay", workflows.ScheduledActionWorkflowName,
		workflows.ScheduledActionInput{ScheduleID: "0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f"}, false)
}

// recordScheduledActionSkips runs a compose update schedule with only_with_updates on one device: the project
// with image updates is pulled and recreated (a ContainerOperation child), the one without is skipped (the
// version marker of skipped targets comes first).
func recordScheduledActionSkips(t *testing.T, path string) {
	op := activities.ContainerOpInput{OperationID: "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a", DeviceID: recDevice,
		Project: "media", Action: activities.ActionPull, WorkingDir: "/srv/media"}
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"BeginScheduledRun": func(context.Context, []any) (any, error) {
			return activities.BeginScheduledRunResult{Name: "updates", Concurrency: 1, StopOnFailure: true,
				Targets: []activities.ScheduleTarget{
					{DeviceID: recDevice, DeviceName: "nas", Project: "db", Skipped: "no image updates for compose project db"},
					{DeviceID: recDevice, DeviceName: "nas", Project: "media", Op: &op},
				}}, nil
		},
		"PrecheckContainerOp": precheckOK,
		"ActContainerOp":      func(context.Context, []any) (any, error) { return activities.ActResult{Output: "pulled"}, nil },
		"VerifyContainerOp":   verifyOK,
	})
	r.run(path, "user-schedule-run/replay-skips", workflows.ScheduledActionWorkflowName,
		workflows.ScheduledActionInput{ScheduleID: "0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e70"}, false)
}

// recordDevicePollContinueAsNew records a poll loop's run that continues as new and the run after it. A dev
// server of its own suggests continue-as-new after a few dozen events, so the run is short.
func recordDevicePollContinueAsNew(t *testing.T, firstPath, secondPath string) {
	addr := startTemporalSuggestingContinueAsNew(t, 40)
	r := newRecorder(t, addr, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := workflows.DevicePollWorkflowID("replay-continue-as-new")
	first, err := r.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: r.tq},
		workflows.DevicePollWorkflowName, workflows.DevicePollInput{DeviceID: recDevice, Interval: time.Second})
	require.NoError(t, err)
	var second string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		d, err := r.c.DescribeWorkflowExecution(ctx, id, "")
		require.NoError(c, err)
		second = d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		require.NotEqual(c, first.GetRunID(), second, "still in the first run")
	}, 2*time.Minute, 200*time.Millisecond)
	// A few polls in the second run, then end it (or whichever run is current by then: the second one may
	// continue as new itself, and its history ends either way).
	polls := func(c require.TestingT) int64 {
		v, err := r.c.QueryWorkflow(ctx, id, second, workflows.QueryStatus)
		require.NoError(c, err)
		var st workflows.DevicePollState
		require.NoError(c, v.Get(&st))
		return st.Polls
	}
	n := polls(t)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		require.GreaterOrEqual(c, polls(c), n+2)
	}, time.Minute, 200*time.Millisecond)
	require.NoError(t, r.c.TerminateWorkflow(ctx, id, "", "recorded"))
	saveHistory(t, r.c, id, first.GetRunID(), firstPath)
	saveHistory(t, r.c, id, second, secondPath)
}

// startTemporalSuggestingContinueAsNew runs a dev server whose history count limit for suggesting
// continue-as-new is events, and stops it when the test ends.
func startTemporalSuggestingContinueAsNew(t *testing.T, events int) string {
	exe := filepath.Join(testenv.RepoRoot(t), "bin", "temporal")
	if _, err := os.Stat(exe); err != nil {
		p, lerr := exec.LookPath("temporal")
		require.NoError(t, lerr, "no Temporal dev server at %s or on PATH", exe)
		exe = p
	}
	port := testenv.FreePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(exe, "server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--headless",
		"--log-level", "error", "--ui-port", strconv.Itoa(testenv.FreePort(t)),
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
		"--dynamic-config-value", fmt.Sprintf("limit.historyCount.suggestContinueAsNew=%d", events))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := client.DialContext(ctx, client.Options{HostPort: addr, Logger: testLogger(t)})
		if err != nil {
			return false
		}
		defer c.Close()
		_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err == nil
	}, 2*time.Minute, 500*time.Millisecond, "dev server on %s not ready", addr)
	return addr
}
