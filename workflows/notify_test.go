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
	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/workflows"
)

// receiver stands in for a notification channel: down until upAt (test environment time), rejecting when
// reject is set, and remembering every delivery it took and when.
type receiver struct {
	env    *testsuite.TestWorkflowEnvironment
	upAt   time.Time
	reject bool

	mu       sync.Mutex
	attempts map[int64]int
	sent     map[int64]time.Time
	order    []int64
	failed   map[int64]string
}

func newReceiver(env *testsuite.TestWorkflowEnvironment) *receiver {
	return &receiver{env: env, attempts: map[int64]int{}, sent: map[int64]time.Time{}, failed: map[int64]string{}}
}

func (r *receiver) deliver(_ context.Context, in activities.DeliverInput) (*activities.DeliverResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts[in.DeliveryID]++
	if _, ok := r.sent[in.DeliveryID]; ok {
		return &activities.DeliverResult{State: "sent"}, nil
	}
	if r.reject {
		return nil, temporal.NewNonRetryableApplicationError("rejected with HTTP 401", activities.ErrTypeNotificationRejected, nil)
	}
	if r.env.Now().Before(r.upAt) {
		return nil, temporal.NewApplicationError("not delivered: HTTP 503", activities.ErrTypeNotificationFailed)
	}
	r.sent[in.DeliveryID] = r.env.Now()
	r.order = append(r.order, in.DeliveryID)
	return &activities.DeliverResult{State: "sent"}, nil
}

func (r *receiver) fail(_ context.Context, in activities.DeliverInput, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed[in.DeliveryID] = reason
	return nil
}

func notifyEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *receiver) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	env.RegisterWorkflowWithOptions(workflows.NotifyWorkflow, workflow.RegisterOptions{Name: workflows.NotifyWorkflowName})
	env.RegisterActivity(&activities.Activities{})
	r := newReceiver(env)
	var a *activities.Activities
	env.OnActivity(a.DeliverNotification, mock.Anything, mock.Anything).Return(r.deliver).Maybe()
	env.OnActivity(a.FailDelivery, mock.Anything, mock.Anything, mock.Anything).Return(r.fail).Maybe()
	return env, r
}

func TestNotifyRetriesThroughAnHourLongOutage(t *testing.T) {
	env, r := notifyEnv(t)
	r.upAt = start.Add(time.Hour)
	env.ExecuteWorkflow(workflows.NotifyWorkflowName, workflows.NotifyInput{Key: "a/1", DeliveryIDs: []int64{7, 8}})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.NotifyResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, workflows.NotifyResult{Sent: 2}, res, "%v %v", r.failed, r.attempts)
	for _, id := range []int64{7, 8} {
		at := r.sent[id]
		require.False(t, at.Before(r.upAt), "sent only once the channel was back")
		require.LessOrEqual(t, at.Sub(r.upAt), 5*time.Minute, "within one back-off step (at most 5 minutes) of coming back")
		// 5 s doubling to 5 min: about 20 attempts in the hour, never a storm.
		require.Less(t, r.attempts[id], 30)
		require.Greater(t, r.attempts[id], 10)
	}
	require.Empty(t, r.failed)
}

func TestNotifyRejectedIsNotRetried(t *testing.T) {
	env, r := notifyEnv(t)
	r.reject = true
	env.ExecuteWorkflow(workflows.NotifyWorkflowName, workflows.NotifyInput{Key: "a/1", DeliveryIDs: []int64{9}})
	require.NoError(t, env.GetWorkflowError())
	var res workflows.NotifyResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, workflows.NotifyResult{Failed: 1}, res)
	require.Equal(t, 1, r.attempts[9])
	require.Contains(t, r.failed[9], "401")
}

func TestNotifyGivesUpAfterADay(t *testing.T) {
	env, r := notifyEnv(t)
	r.upAt = start.Add(48 * time.Hour)
	env.ExecuteWorkflow(workflows.NotifyWorkflowName, workflows.NotifyInput{Key: "a/1", DeliveryIDs: []int64{3}})
	require.NoError(t, env.GetWorkflowError())
	var res workflows.NotifyResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, workflows.NotifyResult{Failed: 1}, res)
	require.Empty(t, r.sent)
	require.Contains(t, r.failed, int64(3))
	require.Less(t, env.Now().Sub(start), 25*time.Hour)
}

// alertScript drives EvaluateAlerts in a DevicePoll test: CPU follows cpuAt, evaluated by the real evaluator
// with a rule like the built-in one (warning 80 for 5 minutes, 5 % hysteresis).
type alertScript struct {
	env   *testsuite.TestWorkflowEnvironment
	cpuAt func(d time.Duration) float64

	mu      sync.Mutex
	state   alert.State
	seq     int
	notices map[int64]string // delivery ID -> transition
}

func (s *alertScript) evaluate(_ context.Context, in activities.EvaluateAlertsInput) (*activities.EvaluateAlertsResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rule := alert.Rule{Kind: alert.KindMetric, Metric: alert.MetricCPU, Warning: ptr(80.0), Duration: 5 * time.Minute,
		HysteresisPercent: 5, Enabled: true}
	now := s.env.Now()
	next, tr := alert.Evaluate(rule, "", s.state, &alert.Reading{Value: s.cpuAt(now.Sub(start))}, now)
	s.state = next
	res := &activities.EvaluateAlertsResult{}
	if tr.Kind != alert.None {
		s.seq++
		id := int64(s.seq)
		s.notices[id] = string(tr.Kind)
		res.Notices = []activities.Notice{{AlertID: "cpu-alert", Seq: s.seq, DeliveryIDs: []int64{id}}}
	}
	return res, nil
}

func ptr[T any](v T) *T { return &v }

// TestDevicePollAlertDurationAndFlapping runs the poll loop for an hour of test time: CPU is high from minute 10
// to minute 20, then wobbles around the threshold, then drops. The alert fires 5 minutes after CPU rose, is
// delivered once, the wobble sends nothing, and the resolved notice follows once.
func TestDevicePollAlertDurationAndFlapping(t *testing.T) {
	env, _ := harness(t)
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
			return 78 // above 80 * 0.95: the alert stays firing
		}
		return 10
	}}
	var a *activities.Activities
	env.OnActivity(a.EvaluateAlerts, mock.Anything, mock.Anything).Return(script.evaluate).Maybe()
	env.OnActivity(a.DeliverNotification, mock.Anything, mock.Anything).Return(r.deliver).Maybe()
	// Cancelled between two polls: a cancel landing on a poll's own instant could catch it in flight, and a poll
	// ended by the cancel is evaluated separately, as a failed one is.
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Hour+15*time.Second)
	env.ExecuteWorkflow(workflows.DevicePollWorkflowName, workflows.DevicePollInput{DeviceID: deviceID, Interval: 30 * time.Second})
	require.True(t, env.IsWorkflowCompleted())
	require.True(t, errors.Is(env.GetWorkflowError(), workflow.ErrCanceled) || temporal.IsCanceledError(env.GetWorkflowError()),
		"%v", env.GetWorkflowError())

	require.Equal(t, map[int64]string{1: "firing", 2: "resolved"}, script.notices, "one firing, one resolved, nothing for the wobble")
	require.Equal(t, []int64{1, 2}, r.order)
	fired := r.sent[1].Sub(start)
	require.GreaterOrEqual(t, fired, 15*time.Minute, "not before CPU held for the duration")
	require.Less(t, fired, 16*time.Minute)
	resolved := r.sent[2].Sub(start)
	require.GreaterOrEqual(t, resolved, 40*time.Minute)
	require.Less(t, resolved, 41*time.Minute)
}
