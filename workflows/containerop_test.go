package workflows_test

import (
	"context"
	"errors"
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
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/vocab"
	"github.com/infrastructor/infrastructor/workflows"
)

// fakeContainer answers the operation's activities like a device with one container and records the order of
// the steps.
type fakeContainer struct {
	env *testsuite.TestWorkflowEnvironment

	mu       sync.Mutex
	calls    []string
	restarts int
	records  []activities.RecordInput
	state    activities.ContainerSnapshot

	precheck func(in activities.ContainerOpInput) (*activities.PrecheckResult, error)
	act      func(ctx context.Context, in activities.ActInput, attempt int) (*activities.ActResult, error)
	verify   func(in activities.VerifyInput) (*activities.VerifyResult, error)
}

func (f *fakeContainer) called(step string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, step)
	n := 0
	for _, c := range f.calls {
		if c == step {
			n++
		}
	}
	return n
}

func (f *fakeContainer) snapshot() activities.OpSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return activities.OpSnapshot{Containers: []activities.ContainerSnapshot{f.state}}
}

func opHarness(t *testing.T) (*testsuite.TestWorkflowEnvironment, *fakeContainer) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	env.RegisterWorkflowWithOptions(workflows.ContainerOperationWorkflow, workflow.RegisterOptions{Name: workflows.ContainerOperationWorkflowName})
	env.RegisterActivity(&activities.Activities{})
	f := &fakeContainer{env: env, state: activities.ContainerSnapshot{ID: "abc123abc123", Name: "web", State: docker.StateRunning,
		StartedAt: start.Add(-time.Hour)}}
	f.precheck = func(activities.ContainerOpInput) (*activities.PrecheckResult, error) {
		return &activities.PrecheckResult{Before: f.snapshot()}, nil
	}
	f.act = func(_ context.Context, in activities.ActInput, _ int) (*activities.ActResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.restarts++
		f.state.StartedAt = f.state.StartedAt.Add(time.Hour)
		return &activities.ActResult{Output: "web"}, nil
	}
	f.verify = func(in activities.VerifyInput) (*activities.VerifyResult, error) {
		after := f.snapshot()
		if !after.Containers[0].StartedAt.After(in.Before.Containers[0].StartedAt) {
			return nil, temporal.NewNonRetryableApplicationError("not restarted", activities.ErrTypeVerifyFailed, nil, after)
		}
		return &activities.VerifyResult{After: after, Summary: "web running"}, nil
	}
	var a *activities.Activities
	env.OnActivity(a.PrecheckContainerOp, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ContainerOpInput) (*activities.PrecheckResult, error) {
			f.called(activities.StepPrecheck)
			return f.precheck(in)
		}).Maybe()
	env.OnActivity(a.ActContainerOp, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.ActInput) (*activities.ActResult, error) {
			return f.act(ctx, in, f.called(activities.StepAct))
		}).Maybe()
	env.OnActivity(a.VerifyContainerOp, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.VerifyInput) (*activities.VerifyResult, error) {
			f.called(activities.StepVerify)
			return f.verify(in)
		}).Maybe()
	env.OnActivity(a.RecordContainerOp, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RecordInput) error {
			f.called(activities.StepRecord)
			f.mu.Lock()
			f.records = append(f.records, in)
			f.mu.Unlock()
			return nil
		}).Maybe()
	return env, f
}

func restartInput() workflows.ContainerOperationInput {
	timeout := 3
	return workflows.ContainerOperationInput{ContainerOpInput: activities.ContainerOpInput{
		OperationID: "9a0c4f0e-6d0c-4f57-8a5e-0f1f6c3b9d11", DeviceID: deviceID, Ref: "web", Action: activities.ActionRestart, Timeout: &timeout}}
}

func TestContainerOperationSteps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		setup     func(f *fakeContainer)
		wantCalls []string
		wantState string
		wantErr   string
		check     func(t *testing.T, f *fakeContainer, rec activities.RecordInput)
	}{
		{
			name:      "precheck act verify record",
			wantCalls: []string{"precheck", "act", "verify", "record"},
			wantState: vocab.OpSucceeded,
			check: func(t *testing.T, f *fakeContainer, rec activities.RecordInput) {
				require.Equal(t, 1, f.restarts)
				require.NotNil(t, rec.Before)
				require.NotNil(t, rec.After)
				require.True(t, rec.After.Containers[0].StartedAt.After(rec.Before.Containers[0].StartedAt))
				require.Equal(t, "web", rec.Output)
				require.Contains(t, rec.Summary, "restart web: web running")
			},
		},
		{
			name: "already in the target state: succeeds without acting",
			setup: func(f *fakeContainer) {
				f.precheck = func(activities.ContainerOpInput) (*activities.PrecheckResult, error) {
					return &activities.PrecheckResult{Before: f.snapshot(), Noop: true, Reason: "already stopped (exited)"}, nil
				}
			},
			wantCalls: []string{"precheck", "record"},
			wantState: vocab.OpSucceeded,
			check: func(t *testing.T, f *fakeContainer, rec activities.RecordInput) {
				require.True(t, rec.Noop)
				require.Equal(t, "nothing to do: already stopped (exited)", rec.Summary)
				require.Zero(t, f.restarts)
			},
		},
		{
			name: "a retried act does not act twice",
			setup: func(f *fakeContainer) {
				// The first attempt restarts the container and then loses its worker; the retry sees the new
				// StartedAt (as ActContainerOp does) and does not restart again.
				first := f.act
				f.act = func(ctx context.Context, in activities.ActInput, attempt int) (*activities.ActResult, error) {
					if attempt == 1 {
						_, _ = first(ctx, in, attempt)
						return nil, temporal.NewApplicationError("connection lost", "SSH closed")
					}
					if f.snapshot().Containers[0].StartedAt.After(in.Before.Containers[0].StartedAt) {
						return &activities.ActResult{AlreadyDone: true}, nil
					}
					return first(ctx, in, attempt)
				}
			},
			wantCalls: []string{"precheck", "act", "act", "verify", "record"},
			wantState: vocab.OpSucceeded,
			check: func(t *testing.T, f *fakeContainer, rec activities.RecordInput) {
				require.Equal(t, 1, f.restarts)
				require.True(t, rec.AlreadyDone)
				require.Contains(t, rec.Summary, "earlier attempt")
			},
		},
		{
			name: "verify failure is recorded with what it saw",
			setup: func(f *fakeContainer) {
				f.act = func(context.Context, activities.ActInput, int) (*activities.ActResult, error) {
					f.mu.Lock()
					f.state.State, f.state.ExitCode, f.state.StartedAt = docker.StateExited, 3, f.state.StartedAt.Add(time.Hour)
					f.mu.Unlock()
					return &activities.ActResult{}, nil
				}
				f.verify = func(activities.VerifyInput) (*activities.VerifyResult, error) {
					return nil, temporal.NewNonRetryableApplicationError("container web exited with code 3 right after restart",
						activities.ErrTypeVerifyFailed, nil, f.snapshot())
				}
			},
			wantCalls: []string{"precheck", "act", "verify", "record"},
			wantState: vocab.OpFailed,
			wantErr:   "exited with code 3",
			check: func(t *testing.T, f *fakeContainer, rec activities.RecordInput) {
				require.Equal(t, "verify: container web exited with code 3 right after restart", rec.Error)
				require.NotNil(t, rec.After)
				require.Equal(t, 3, rec.After.Containers[0].ExitCode)
			},
		},
		{
			name: "invalid state is not retried",
			setup: func(f *fakeContainer) {
				f.precheck = func(activities.ContainerOpInput) (*activities.PrecheckResult, error) {
					return nil, temporal.NewNonRetryableApplicationError("container web is paused", activities.ErrTypeInvalidState, nil)
				}
			},
			wantCalls: []string{"precheck", "record"},
			wantState: vocab.OpFailed,
			wantErr:   "paused",
		},
		{
			name: "an unknown container is not retried",
			setup: func(f *fakeContainer) {
				f.precheck = func(activities.ContainerOpInput) (*activities.PrecheckResult, error) {
					return nil, temporal.NewApplicationError("container web not found", activities.ErrTypeContainerNotFound)
				}
			},
			wantCalls: []string{"precheck", "record"},
			wantState: vocab.OpFailed,
			wantErr:   "not found",
		},
		{
			name: "transient failures are retried a bounded number of times",
			setup: func(f *fakeContainer) {
				f.verify = func(activities.VerifyInput) (*activities.VerifyResult, error) {
					return nil, temporal.NewApplicationError("ssh closed", "SSH closed")
				}
			},
			wantCalls: []string{"precheck", "act", "verify", "verify", "verify", "record"},
			wantState: vocab.OpFailed,
			wantErr:   "ssh closed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, f := opHarness(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			env.ExecuteWorkflow(workflows.ContainerOperationWorkflowName, restartInput())
			require.True(t, env.IsWorkflowCompleted())
			err := env.GetWorkflowError()
			if tc.wantErr != "" {
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.wantErr)
			} else {
				require.NoError(t, err)
				var res workflows.ContainerOperationResult
				require.NoError(t, env.GetWorkflowResult(&res))
				require.Equal(t, tc.wantState, res.State)
			}
			require.Equal(t, tc.wantCalls, f.calls)
			require.Len(t, f.records, 1)
			rec := f.records[0]
			require.Equal(t, tc.wantState, rec.State)
			require.Equal(t, restartInput().OperationID, rec.OperationID)
			if tc.check != nil {
				tc.check(t, f, rec)
			}
		})
	}
}

func TestContainerOperationCancelled(t *testing.T) {
	t.Parallel()
	env, f := opHarness(t)
	f.act = func(ctx context.Context, _ activities.ActInput, _ int) (*activities.ActResult, error) {
		env.CancelWorkflow()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	env.ExecuteWorkflow(workflows.ContainerOperationWorkflowName, restartInput())
	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	var canceled *temporal.CanceledError
	require.True(t, errors.As(err, &canceled), "the workflow ends cancelled: %v", err)
	require.Equal(t, []string{"precheck", "act", "record"}, f.calls)
	require.Len(t, f.records, 1)
	require.Equal(t, vocab.OpCancelled, f.records[0].State)
	require.Equal(t, "cancelled during act", f.records[0].Error)
}

func TestContainerOperationIDs(t *testing.T) {
	t.Parallel()
	require.Equal(t, "container-op/"+deviceID+"/web", activities.ContainerOpInput{DeviceID: deviceID, Ref: "web"}.WorkflowID())
	require.Equal(t, "container-op/"+deviceID+"/compose:demo",
		activities.ContainerOpInput{DeviceID: deviceID, Ref: "web", Project: "demo"}.WorkflowID())
}
