package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/workflows"
)

// evaluationCalls records the separate EvaluateAlerts local activity's calls.
type evaluationCalls struct {
	mu    sync.Mutex
	calls []activities.EvaluateAlertsInput
}

func (e *evaluationCalls) evaluate(_ context.Context, in activities.EvaluateAlertsInput) (*activities.EvaluateAlertsResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, in)
	return &activities.EvaluateAlertsResult{}, nil
}

func (e *evaluationCalls) all() []activities.EvaluateAlertsInput {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]activities.EvaluateAlertsInput(nil), e.calls...)
}

// TestDevicePollEvaluatesAlertsInPoll runs the alert scenario of TestDevicePollAlertDurationAndFlapping with the
// evaluation inside the poll (#17): the poll is asked to evaluate, its notices start Notify workflows exactly as
// the separate evaluation's did (same notices at the same times), and no separate EvaluateAlerts runs after a
// successful poll.
func TestDevicePollEvaluatesAlertsInPoll(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	env.RegisterWorkflowWithOptions(workflows.DevicePollWorkflow, workflow.RegisterOptions{Name: workflows.DevicePollWorkflowName})
	env.RegisterActivity(&activities.Activities{})
	env.RegisterWorkflowWithOptions(workflows.NotifyWorkflow, workflow.RegisterOptions{Name: workflows.NotifyWorkflowName})
	r := newReceiver(env)
	script := &alertScript{env: env, notices: map[int64]string{}, cpuAt: func(d time.Duration) float64 {
		switch {
		case d < 10*time.Minute:
			return 20
		case d < 20*time.Minute:
			return 90
		case d < 40*time.Minute:
			if int(d/(30*time.Second))%2 == 0 {
				return 81
			}
			return 78
		}
		return 10
	}}
	var asked, notAsked atomic.Int64
	sep := &evaluationCalls{}
	var a *activities.Activities
	env.OnActivity(a.PollDevice, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.PollDeviceInput) (*activities.PollDeviceResult, error) {
			if !in.EvaluateAlerts {
				notAsked.Add(1)
				return &activities.PollDeviceResult{Summary: "poll", Collected: env.Now()}, nil
			}
			asked.Add(1)
			ev, err := script.evaluate(ctx, activities.EvaluateAlertsInput{DeviceID: in.DeviceID, Collected: env.Now()})
			if err != nil {
				return nil, err
			}
			return &activities.PollDeviceResult{Summary: "poll", Collected: env.Now(), AlertsEvaluated: true,
				Notices: ev.Notices}, nil
		})
	env.OnActivity(a.EvaluateAlerts, mock.Anything, mock.Anything).Return(sep.evaluate).Maybe()
	env.OnActivity(a.DeliverNotification, mock.Anything, mock.Anything).Return(r.deliver).Maybe()
	// Cancelled between two polls: a cancel landing on a poll's own instant could catch it in flight, and a poll
	// ended by the cancel is evaluated separately, as a failed one is.
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Hour+15*time.Second)
	env.ExecuteWorkflow(workflows.DevicePollWorkflowName, workflows.DevicePollInput{DeviceID: deviceID, Interval: 30 * time.Second})
	require.True(t, env.IsWorkflowCompleted())
	require.True(t, errors.Is(env.GetWorkflowError(), workflow.ErrCanceled) || temporal.IsCanceledError(env.GetWorkflowError()),
		"%v", env.GetWorkflowError())

	require.Zero(t, notAsked.Load(), "every poll of a new run evaluates its alerts itself")
	require.Greater(t, asked.Load(), int64(100))
	require.Empty(t, sep.all(), "no separate evaluation after a poll that evaluated")
	require.Equal(t, map[int64]string{1: "firing", 2: "resolved"}, script.notices, "one firing, one resolved, nothing for the wobble")
	require.Equal(t, []int64{1, 2}, r.order, "each notice started a Notify workflow that delivered it")
	fired := r.sent[1].Sub(start)
	require.GreaterOrEqual(t, fired, 15*time.Minute, "not before CPU held for the duration")
	require.Less(t, fired, 16*time.Minute)
	resolved := r.sent[2].Sub(start)
	require.GreaterOrEqual(t, resolved, 40*time.Minute)
	require.Less(t, resolved, 41*time.Minute)
}

// TestDevicePollAlertsAfterFailedPoll checks that a failed poll still gets the separate evaluation with its error
// type, so the offline and host-key rules see failures; and that a successful poll whose own evaluation did not
// happen (AlertsEvaluated unset) is evaluated separately from its samples.
func TestDevicePollAlertsAfterFailedPoll(t *testing.T) {
	env, dev := harness(t)
	sep := &evaluationCalls{}
	var a *activities.Activities
	env.OnActivity(a.EvaluateAlerts, mock.Anything, mock.Anything).Return(sep.evaluate).Maybe()
	dev.answer = func(n int) error {
		switch n {
		case 2:
			return temporal.NewApplicationError("dial tcp: connection refused", "SSH refused")
		case 3:
			return temporal.NewNonRetryableApplicationError("host key changed", activities.ErrTypeHostKeyChanged, nil)
		}
		return nil
	}
	stopAt(env, 5*time.Minute)
	run(env, 30*time.Second)
	requireCanceled(t, env)

	calls := sep.all()
	// fakeDevice's successful polls never set AlertsEvaluated: each is evaluated separately, as a poll whose own
	// evaluation failed would be.
	require.Len(t, calls, 3, "%+v", calls)
	require.False(t, calls[0].Collected.IsZero(), "poll 1 succeeded: evaluated from its samples")
	require.Empty(t, calls[0].ErrorType)
	require.True(t, calls[1].Collected.IsZero())
	require.Equal(t, "SSH refused", calls[1].ErrorType)
	require.Equal(t, activities.ErrTypeHostKeyChanged, calls[2].ErrorType, "the host-key rule sees the blocked poll")
	require.True(t, status(t, env).Blocked)
}

// recordDevicePollAlertsInPoll records a DevicePoll run in which the polls evaluate their alerts (#17): quiet
// polls, a poll whose evaluation returns a notice (a Notify child is started), a failed poll evaluated separately,
// recovery, then termination.
func recordDevicePollAlertsInPoll(t *testing.T, path string) {
	var polls atomic.Int64
	var failing atomic.Bool
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"PollDevice": func(_ context.Context, args []any) (any, error) {
			in := args[0].(activities.PollDeviceInput)
			n := polls.Add(1)
			if failing.Load() {
				return nil, temporal.NewApplicationError("dial tcp 192.0.2.9:22: connect: connection refused", "SSH refused")
			}
			res := activities.PollDeviceResult{Summary: fmt.Sprintf("poll %s", in.PollKey), Collected: time.Now(),
				AlertsEvaluated: in.EvaluateAlerts}
			if n == 3 && in.EvaluateAlerts {
				res.Notices = []activities.Notice{{AlertID: "4d2e8f1a-7b3c-4e5d-9f6a-0b1c2d3e4f5a", Seq: 1, DeliveryIDs: []int64{1}}}
			}
			return res, nil
		},
		"DeliverNotification": func(context.Context, []any) (any, error) {
			return activities.DeliverResult{State: "sent"}, nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := workflows.DevicePollWorkflowID("alerts-in-poll-" + r.tq)
	run, err := r.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: r.tq}, workflows.DevicePollWorkflowName,
		workflows.DevicePollInput{DeviceID: recDevice, Interval: time.Second})
	require.NoError(t, err)
	defer func() { _ = r.c.TerminateWorkflow(context.Background(), id, run.GetRunID(), "test ended") }()
	waitFor := func(what string, ok func(st workflows.DevicePollState) bool) workflows.DevicePollState {
		t.Helper()
		var st workflows.DevicePollState
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			v, err := r.c.QueryWorkflow(ctx, id, run.GetRunID(), workflows.QueryStatus)
			require.NoError(c, err)
			require.NoError(c, v.Get(&st))
			require.True(c, ok(st), "%s: status %+v", what, st)
		}, time.Minute, 100*time.Millisecond)
		return st
	}
	waitFor("four polls", func(st workflows.DevicePollState) bool { return st.Polls >= 4 })
	failing.Store(true)
	waitFor("a failed poll", func(st workflows.DevicePollState) bool { return st.ConsecutiveFailures >= 1 })
	failing.Store(false)
	n := waitFor("recovered", func(st workflows.DevicePollState) bool { return st.ConsecutiveFailures == 0 }).Polls
	waitFor("polling again", func(st workflows.DevicePollState) bool { return st.Polls >= n+1 })
	require.NoError(t, r.c.TerminateWorkflow(ctx, id, run.GetRunID(), "recorded"))
	var terminated *temporal.TerminatedError
	require.ErrorAs(t, run.Get(ctx, nil), &terminated)
	saveHistory(t, r.c, id, run.GetRunID(), path)
}
