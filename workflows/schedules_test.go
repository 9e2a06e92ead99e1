package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/workflows"
)

// fleet fakes the devices of a scheduled run: each container operation takes a minute of test time, or fails
// after half a minute on the devices named in failOn.
type fleet struct {
	env    *testsuite.TestWorkflowEnvironment
	failOn map[string]bool

	mu       sync.Mutex
	running  int
	peak     int
	started  []string
	finished *activities.FinishScheduledRunInput
	begun    activities.BeginScheduledRunInput
}

func (f *fleet) containerOp(ctx workflow.Context, in workflows.ContainerOperationInput) (*workflows.ContainerOperationResult, error) {
	f.mu.Lock()
	f.running++
	f.peak = max(f.peak, f.running)
	f.started = append(f.started, in.DeviceID)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	took := time.Minute
	if f.failOn[in.DeviceID] {
		took = 30 * time.Second // failures show early, so the run knows before a slot frees
	}
	if err := workflow.Sleep(ctx, took); err != nil {
		return nil, err
	}
	if f.failOn[in.DeviceID] {
		return nil, temporal.NewNonRetryableApplicationError("verify failed: container exited", "VerifyFailed", nil)
	}
	return &workflows.ContainerOperationResult{State: "succeeded", Summary: in.Action + " " + in.Ref + ": running"}, nil
}

func fleetEnv(t *testing.T, targets []activities.ScheduleTarget, concurrency int, stop bool, failOn ...string) (*testsuite.TestWorkflowEnvironment, *fleet) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	f := &fleet{env: env, failOn: map[string]bool{}}
	for _, d := range failOn {
		f.failOn[d] = true
	}
	env.RegisterWorkflowWithOptions(workflows.ScheduledActionWorkflow, workflow.RegisterOptions{Name: workflows.ScheduledActionWorkflowName})
	env.RegisterWorkflowWithOptions(f.containerOp, workflow.RegisterOptions{Name: workflows.ContainerOperationWorkflowName})
	env.RegisterActivity(&activities.Activities{})
	var a *activities.Activities
	env.OnActivity(a.BeginScheduledRun, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.BeginScheduledRunInput) (*activities.BeginScheduledRunResult, error) {
			if in.ScheduleID == "" || in.WorkflowID == "" {
				return nil, errors.New("schedule and workflow IDs are required")
			}
			f.mu.Lock()
			f.begun = in
			f.mu.Unlock()
			return &activities.BeginScheduledRunResult{Name: "nightly", Targets: targets, Concurrency: concurrency, StopOnFailure: stop}, nil
		})
	env.OnActivity(a.FinishScheduledRun, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FinishScheduledRunInput) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.finished = &in
			return nil
		})
	env.OnActivity(a.PruneImages, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PruneImagesInput) (*activities.PruneImagesResult, error) {
			return &activities.PruneImagesResult{Summary: "Total reclaimed space: 0B"}, nil
		})
	env.OnActivity(a.FailScheduledOperation, mock.Anything, mock.Anything, mock.Anything).Return(nil).Maybe()
	return env, f
}

func restartTargets(n int) []activities.ScheduleTarget {
	var out []activities.ScheduleTarget
	for i := 1; i <= n; i++ {
		dev := fmt.Sprintf("dev-%d", i)
		out = append(out, activities.ScheduleTarget{DeviceID: dev, DeviceName: dev, Op: &activities.ContainerOpInput{
			OperationID: fmt.Sprintf("op-%d", i), DeviceID: dev, Ref: "web", Action: activities.ActionRestart}})
	}
	return out
}

func TestScheduledActionFleet(t *testing.T) {
	tests := []struct {
		name        string
		targets     []activities.ScheduleTarget
		concurrency int
		stop        bool
		failOn      []string
		wantState   string
		wantStarted int
		wantPeak    int
		wantStates  []string
		took        time.Duration
	}{
		{name: "all succeed two at a time", targets: restartTargets(5), concurrency: 2, stop: true, wantState: "succeeded",
			wantStarted: 5, wantPeak: 2, wantStates: []string{"succeeded", "succeeded", "succeeded", "succeeded", "succeeded"}, took: 3 * time.Minute},
		{name: "stop at the first failure", targets: restartTargets(5), concurrency: 2, stop: true, failOn: []string{"dev-2"},
			wantState: "failed", wantStarted: 2, wantPeak: 2, wantStates: []string{"succeeded", "failed", "skipped", "skipped", "skipped"}, took: time.Minute},
		{name: "keep going past a failure", targets: restartTargets(4), concurrency: 1, stop: false, failOn: []string{"dev-1"},
			wantState: "failed", wantStarted: 4, wantPeak: 1, wantStates: []string{"failed", "succeeded", "succeeded", "succeeded"}, took: 3*time.Minute + 30*time.Second},
		{name: "image prune", targets: []activities.ScheduleTarget{{DeviceID: "dev-9", DeviceName: "dev-9", Prune: true}}, concurrency: 1,
			stop: true, wantState: "succeeded", wantStarted: 0, wantPeak: 0, wantStates: []string{"succeeded"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, f := fleetEnv(t, tc.targets, tc.concurrency, tc.stop, tc.failOn...)
			env.ExecuteWorkflow(workflows.ScheduledActionWorkflowName, workflows.ScheduledActionInput{ScheduleID: "s1"})
			require.True(t, env.IsWorkflowCompleted())
			if tc.wantState == "failed" {
				require.Error(t, env.GetWorkflowError())
			} else {
				require.NoError(t, env.GetWorkflowError())
			}
			require.NotNil(t, f.finished)
			require.Equal(t, tc.wantState, f.finished.State)
			var states []string
			for _, o := range f.finished.Outcomes {
				states = append(states, o.State)
			}
			require.Equal(t, tc.wantStates, states)
			require.Len(t, f.started, tc.wantStarted)
			require.Equal(t, tc.wantPeak, f.peak)
			if tc.took > 0 {
				require.Equal(t, tc.took, env.Now().Sub(start).Truncate(time.Second))
			}
			if tc.targets[0].Prune {
				require.Contains(t, f.finished.Outcomes[0].Summary, "reclaimed")
			} else {
				require.Equal(t, "op-1", f.finished.Outcomes[0].OperationID)
			}
		})
	}
}

// A run given targets to skip (compose projects without image updates) runs nothing there, records them as
// skipped with the reason, and lets them take no concurrency slot; the run asks for skips.
func TestScheduledActionSkipsTargets(t *testing.T) {
	targets := restartTargets(2)
	targets = []activities.ScheduleTarget{
		{DeviceID: "dev-0", DeviceName: "dev-0", Project: "media", Skipped: "no image updates for compose project media"},
		targets[0],
		{DeviceID: "dev-1", DeviceName: "dev-1", Project: "db", Skipped: "no image updates for compose project db"},
		targets[1],
	}
	env, f := fleetEnv(t, targets, 1, true)
	env.ExecuteWorkflow(workflows.ScheduledActionWorkflowName, workflows.ScheduledActionInput{ScheduleID: "s1"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.True(t, f.begun.CanSkip, "the run says it can record skipped targets")
	require.Equal(t, []string{"dev-1", "dev-2"}, f.started)
	require.Equal(t, 2*time.Minute, env.Now().Sub(start).Truncate(time.Second), "skips take no time and no slot")
	require.Equal(t, "succeeded", f.finished.State)
	var states []string
	for _, o := range f.finished.Outcomes {
		states = append(states, o.State)
	}
	require.Equal(t, []string{"skipped", "succeeded", "skipped", "succeeded"}, states)
	require.Equal(t, "no image updates for compose project media", f.finished.Outcomes[0].Summary)
	require.Equal(t, "media", f.finished.Outcomes[0].Project)
}
