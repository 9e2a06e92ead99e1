package workflows_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/workflows"
)

// start is the test environment's clock at the workflow's start, fixed so failures print readable offsets.
var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const deviceID = "2b6f1a4e-8f0d-4c1e-9a57-1f2e3d4c5b6a"

// attempt is one call of the PollDevice activity, at an offset from the workflow's start.
type attempt struct {
	Poll int // the poll's number, from its PollKey: retries of one poll share it
	At   time.Duration
}

// fakeDevice answers the mocked activities and records when they ran, in the test environment's time.
type fakeDevice struct {
	env *testsuite.TestWorkflowEnvironment

	mu       sync.Mutex
	attempts []attempt
	offline  []activities.MarkOfflineInput
	// collections are the slow-cadence collections, with their offset from the start.
	collections []collection
	// inventoryInterval is what every successful poll reports as the device's inventory interval.
	inventoryInterval time.Duration
	// answer decides the outcome of poll n (1-based); nil answers every poll with success.
	answer func(n int) error
}

// harness builds a test environment with the workflow and the activities registered under their real names,
// and the activities mocked by a fakeDevice.
func harness(t *testing.T) (*testsuite.TestWorkflowEnvironment, *fakeDevice) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	// The loop logs every poll; hundreds of polls would bury the test output.
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	env.RegisterWorkflowWithOptions(workflows.DevicePollWorkflow, workflow.RegisterOptions{Name: workflows.DevicePollWorkflowName})
	env.RegisterActivity(&activities.Activities{})

	dev := &fakeDevice{env: env}
	var a *activities.Activities
	env.OnActivity(a.PollDevice, mock.Anything, mock.Anything).Return(dev.pollDevice).Maybe()
	env.OnActivity(a.MarkOffline, mock.Anything, mock.Anything).Return(dev.markOffline).Maybe()
	env.OnActivity(a.CollectInventory, mock.Anything, mock.Anything).Return(dev.collectInventory).Maybe()
	return env, dev
}

func (d *fakeDevice) pollDevice(_ context.Context, in activities.PollDeviceInput) (*activities.PollDeviceResult, error) {
	_, num, ok := strings.Cut(in.PollKey, "/")
	if !ok {
		return nil, fmt.Errorf("poll key %q has no poll number", in.PollKey)
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return nil, fmt.Errorf("poll key %q: %w", in.PollKey, err)
	}
	now := d.env.Now()
	d.mu.Lock()
	d.attempts = append(d.attempts, attempt{Poll: n, At: now.Sub(start)})
	answer := d.answer
	d.mu.Unlock()
	if in.DeviceID != deviceID {
		return nil, fmt.Errorf("poll of device %q, want %q", in.DeviceID, deviceID)
	}
	if answer != nil {
		if err := answer(n); err != nil {
			return nil, err
		}
	}
	return &activities.PollDeviceResult{Summary: fmt.Sprintf("poll %d", n), Collected: now, InventoryInterval: d.inventoryInterval}, nil
}

func (d *fakeDevice) markOffline(_ context.Context, in activities.MarkOfflineInput) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.offline = append(d.offline, in)
	return nil
}

// pollTimes is the offset of the first attempt of every poll, in order.
func (d *fakeDevice) pollTimes() []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []time.Duration
	last := 0
	for _, a := range d.attempts {
		if a.Poll != last {
			out = append(out, a.At)
			last = a.Poll
		}
	}
	return out
}

// gaps is the wait between the end of each poll (its last attempt) and the start of the next one: the loop's
// effective interval, without the activity's own retry delay.
func (d *fakeDevice) gaps() []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(d.attempts); i++ {
		if d.attempts[i].Poll != d.attempts[i-1].Poll {
			out = append(out, d.attempts[i].At-d.attempts[i-1].At)
		}
	}
	return out
}

func (d *fakeDevice) attemptsOf(poll int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, a := range d.attempts {
		if a.Poll == poll {
			n++
		}
	}
	return n
}

func (d *fakeDevice) offlineCalls() []activities.MarkOfflineInput {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]activities.MarkOfflineInput(nil), d.offline...)
}

// at runs f at offset from the workflow's start.
func at(env *testsuite.TestWorkflowEnvironment, offset time.Duration, f func()) {
	env.RegisterDelayedCallback(f, offset)
}

// stopAt cancels the endless loop at offset, so ExecuteWorkflow returns.
func stopAt(env *testsuite.TestWorkflowEnvironment, offset time.Duration) {
	at(env, offset, env.CancelWorkflow)
}

func status(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.DevicePollState {
	t.Helper()
	v, err := env.QueryWorkflow(workflows.QueryStatus)
	require.NoError(t, err)
	var st workflows.DevicePollState
	require.NoError(t, v.Get(&st))
	return st
}

func run(env *testsuite.TestWorkflowEnvironment, interval time.Duration) {
	env.ExecuteWorkflow(workflows.DevicePollWorkflowName, workflows.DevicePollInput{DeviceID: deviceID, Interval: interval})
}

// requireCanceled checks that the loop ran until the test stopped it.
func requireCanceled(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.True(t, temporal.IsCanceledError(err), "workflow ended with %v, want canceled by the test", err)
}

func seconds(s ...int) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, v := range s {
		out[i] = time.Duration(v) * time.Second
	}
	return out
}

func TestDevicePollLoopTiming(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		polls    int
	}{
		{30 * time.Second, 5},
		{10 * time.Second, 12},
		{5 * time.Minute, 4},
	} {
		t.Run(tc.interval.String(), func(t *testing.T) {
			env, dev := harness(t)
			// Query halfway between poll 2 and poll 3.
			at(env, tc.interval+tc.interval/2, func() {
				st := status(t, env)
				require.Equal(t, int64(2), st.Polls)
				require.Equal(t, start.Add(tc.interval), st.LastPollAt.UTC())
				require.Equal(t, start.Add(2*tc.interval), st.NextPollAt.UTC())
				require.Equal(t, tc.interval, st.Interval)
				require.Equal(t, "poll 2", st.LastSummary)
				require.False(t, st.Paused || st.Blocked || st.Offline)
			})
			stopAt(env, time.Duration(tc.polls-1)*tc.interval+tc.interval/2)
			run(env, tc.interval)
			requireCanceled(t, env)

			want := make([]time.Duration, tc.polls)
			for i := range want {
				want[i] = time.Duration(i) * tc.interval
			}
			require.Equal(t, want, dev.pollTimes())
		})
	}
}

func TestDevicePollRejectsBadInterval(t *testing.T) {
	for _, iv := range []time.Duration{0, -time.Second} {
		t.Run(iv.String(), func(t *testing.T) {
			env, dev := harness(t)
			run(env, iv)
			require.True(t, env.IsWorkflowCompleted())
			var app *temporal.ApplicationError
			require.ErrorAs(t, env.GetWorkflowError(), &app)
			require.Equal(t, activities.ErrTypeInvalidInput, app.Type())
			require.Empty(t, dev.pollTimes())
		})
	}
}

func TestDevicePollPauseResume(t *testing.T) {
	env, dev := harness(t)
	at(env, 40*time.Second, func() { env.SignalWorkflow(workflows.SignalPause, nil) })
	at(env, 2*time.Hour, func() {
		st := status(t, env)
		require.True(t, st.Paused)
		require.True(t, st.NextPollAt.IsZero(), "a paused loop has no next poll, got %v", st.NextPollAt)
		require.Equal(t, int64(2), st.Polls)
	})
	at(env, 3*time.Hour, func() { env.SignalWorkflow(workflows.SignalResume, nil) })
	stopAt(env, 3*time.Hour+75*time.Second)
	run(env, 30*time.Second)
	requireCanceled(t, env)

	h := 3 * time.Hour
	require.Equal(t, []time.Duration{0, 30 * time.Second, h, h + 30*time.Second, h + 60*time.Second}, dev.pollTimes())
}

// setIntervalUntil is when TestDevicePollSetInterval stops the loop.
const setIntervalUntil = 200*time.Second - time.Millisecond

// every lists the poll times from first on, step apart, before setIntervalUntil.
func every(first, step time.Duration) []time.Duration {
	var out []time.Duration
	for t := first; t < setIntervalUntil; t += step {
		out = append(out, t)
	}
	return out
}

func TestDevicePollSetInterval(t *testing.T) {
	for _, tc := range []struct {
		name string
		to   time.Duration
		want []time.Duration
	}{
		// The new spacing counts from the last poll (30s): 30s+10s has passed at 45s, so the loop polls at once.
		{"shorter", 10 * time.Second, append(seconds(0, 30), every(45*time.Second, 10*time.Second)...)},
		{"one second", time.Second, append(seconds(0, 30), every(45*time.Second, time.Second)...)},
		{"longer", 2 * time.Minute, seconds(0, 30, 150)},
		{"same", 30 * time.Second, every(0, 30*time.Second)},
		{"below one second ignored", 500 * time.Millisecond, every(0, 30*time.Second)},
		{"zero ignored", 0, every(0, 30*time.Second)},
		{"negative ignored", -time.Minute, every(0, 30*time.Second)},
		{"above a day ignored", 25 * time.Hour, every(0, 30*time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, dev := harness(t)
			at(env, 45*time.Second, func() { env.SignalWorkflow(workflows.SignalSetInterval, tc.to) })
			at(env, 46*time.Second, func() {
				st := status(t, env)
				if tc.to >= time.Second && tc.to <= 24*time.Hour {
					require.Equal(t, tc.to, st.Interval)
				} else {
					require.Equal(t, 30*time.Second, st.Interval)
				}
			})
			stopAt(env, setIntervalUntil)
			run(env, 30*time.Second)
			requireCanceled(t, env)
			require.Equal(t, tc.want, dev.pollTimes())
		})
	}
}

func TestDevicePollNow(t *testing.T) {
	env, dev := harness(t)
	var (
		accepted bool
		result   workflows.PollNowResult
		done     bool
	)
	at(env, 40*time.Second, func() {
		env.UpdateWorkflow(workflows.UpdatePollNow, "poll-now-1", &testsuite.TestUpdateCallback{
			OnAccept: func() { accepted = true },
			OnReject: func(err error) { t.Errorf("poll-now rejected: %v", err) },
			OnComplete: func(v any, err error) {
				require.NoError(t, err)
				result, done = v.(workflows.PollNowResult), true
			},
		})
	})
	at(env, 41*time.Second, func() {
		st := status(t, env)
		require.Equal(t, int64(3), st.Polls)
		require.Equal(t, start.Add(40*time.Second), st.LastPollAt.UTC())
		require.Equal(t, start.Add(70*time.Second), st.NextPollAt.UTC())
	})
	stopAt(env, 115*time.Second)
	run(env, 30*time.Second)
	requireCanceled(t, env)

	require.True(t, accepted)
	require.True(t, done)
	require.Equal(t, workflows.PollNowResult{Summary: "poll 3"}, result)
	// The poll-now restarts the interval: the next poll is 30s after it, not at the old 60s and not at once.
	require.Equal(t, seconds(0, 30, 40, 70, 100), dev.pollTimes())
}

func TestDevicePollNowReportsFailure(t *testing.T) {
	env, dev := harness(t)
	dev.answer = func(n int) error {
		if n == 2 {
			return temporal.NewNonRetryableApplicationError("connect: connection refused", "SSH refused", nil)
		}
		return nil
	}
	var result workflows.PollNowResult
	at(env, 10*time.Second, func() {
		env.UpdateWorkflow(workflows.UpdatePollNow, "poll-now-1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("poll-now rejected: %v", err) },
			OnComplete: func(v any, err error) {
				require.NoError(t, err)
				result = v.(workflows.PollNowResult)
			},
		})
	})
	stopAt(env, 45*time.Second)
	run(env, 30*time.Second)
	requireCanceled(t, env)

	require.Equal(t, workflows.PollNowResult{Error: "connect: connection refused"}, result)
	require.Equal(t, seconds(0, 10, 40), dev.pollTimes())
}

func TestDevicePollOfflineBackoff(t *testing.T) {
	env, dev := harness(t)
	const failing = 9 // polls 1..9 fail, poll 10 succeeds
	dev.answer = func(n int) error {
		if n <= failing {
			// Retryable, as the activity reports an unreachable device; the workflow counts it and waits.
			return temporal.NewApplicationError("dial tcp 10.0.0.9:22: connect: no route to host", "SSH unreachable")
		}
		return nil
	}
	// A failed poll is not retried by Temporal (the next poll is the retry); poll 8 is at 810s, poll 9 at 1110s.
	at(env, 1000*time.Second, func() {
		st := status(t, env)
		require.True(t, st.Offline)
		require.Equal(t, 8, st.ConsecutiveFailures)
		require.Equal(t, start.Add(1110*time.Second), st.NextPollAt.UTC())
		require.Equal(t, "dial tcp 10.0.0.9:22: connect: no route to host", st.LastError)
	})
	// Poll 10 succeeds at 1410s.
	at(env, 1430*time.Second, func() {
		st := status(t, env)
		require.False(t, st.Offline)
		require.Zero(t, st.ConsecutiveFailures)
		require.Empty(t, st.LastError)
		require.Equal(t, "poll 10", st.LastSummary)
	})
	stopAt(env, 40*time.Minute)
	run(env, 30*time.Second)
	requireCanceled(t, env)

	for n := 1; n <= failing; n++ {
		require.Equal(t, 1, dev.attemptsOf(n), "attempts of poll %d", n)
	}
	require.Equal(t, []activities.MarkOfflineInput{{
		DeviceID: deviceID, Failures: workflows.OfflineAfter, Reason: "dial tcp 10.0.0.9:22: connect: no route to host",
	}}, dev.offlineCalls())
	gaps := dev.gaps()
	want := seconds(30, 30, 30, 60, 120, 240, 300, 300, 300)
	require.GreaterOrEqual(t, len(gaps), len(want)+3)
	require.Equal(t, want, gaps[:len(want)], "waits after the failed polls")
	// The first success ends the back-off.
	for _, g := range gaps[len(want):] {
		require.Equal(t, 30*time.Second, g)
	}
}

func TestDevicePollResumeWhileRunningPollsAtOnce(t *testing.T) {
	env, dev := harness(t)
	at(env, 40*time.Second, func() { env.SignalWorkflow(workflows.SignalResume, nil) })
	stopAt(env, 99*time.Second)
	run(env, 30*time.Second)
	requireCanceled(t, env)
	require.Equal(t, seconds(0, 30, 40, 70), dev.pollTimes())
}

func TestDevicePollBlocked(t *testing.T) {
	for _, errType := range []string{activities.ErrTypeHostKeyChanged, activities.ErrTypeAuthFailed, activities.ErrTypeHostKeyUnknown} {
		t.Run(errType, func(t *testing.T) {
			env, dev := harness(t)
			msg := "ssh 10.0.0.9:22: " + errType
			dev.answer = func(n int) error {
				if n == 2 {
					return temporal.NewNonRetryableApplicationError(msg, errType, nil)
				}
				return nil
			}
			var rejected error
			at(env, time.Hour, func() {
				st := status(t, env)
				require.True(t, st.Blocked)
				require.Equal(t, msg, st.BlockReason)
				require.True(t, st.NextPollAt.IsZero(), "a blocked loop has no next poll, got %v", st.NextPollAt)
				require.Equal(t, int64(2), st.Polls)
				require.False(t, st.Offline)

				env.UpdateWorkflow(workflows.UpdatePollNow, "poll-now-blocked", &testsuite.TestUpdateCallback{
					OnAccept:   func() { t.Error("poll-now accepted while blocked") },
					OnReject:   func(err error) { rejected = err },
					OnComplete: func(any, error) {},
				})
			})
			at(env, 6*time.Hour, func() { env.SignalWorkflow(workflows.SignalResume, nil) })
			at(env, 6*time.Hour+time.Second, func() {
				st := status(t, env)
				require.False(t, st.Blocked)
				require.Empty(t, st.BlockReason)
			})
			stopAt(env, 6*time.Hour+45*time.Second)
			run(env, 30*time.Second)
			requireCanceled(t, env)

			require.Error(t, rejected)
			require.Contains(t, rejected.Error(), msg)
			h := 6 * time.Hour
			require.Equal(t, []time.Duration{0, 30 * time.Second, h, h + 30*time.Second}, dev.pollTimes())
			require.Equal(t, 1, dev.attemptsOf(2), "a non-retryable error is not retried")
			require.Empty(t, dev.offlineCalls())
		})
	}
}

func TestDevicePollDeviceNotFoundEnds(t *testing.T) {
	env, dev := harness(t)
	dev.answer = func(n int) error {
		if n == 3 {
			return temporal.NewNonRetryableApplicationError("device deleted or disabled", activities.ErrTypeDeviceNotFound, nil)
		}
		return nil
	}
	// A safety net only: the loop must end by itself at 60s.
	stopAt(env, time.Hour)
	run(env, 30*time.Second)

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, seconds(0, 30, 60), dev.pollTimes())
	require.Equal(t, 1, dev.attemptsOf(3))
	require.Equal(t, start.Add(60*time.Second), env.Now().UTC())
}

// continuedAs decodes the input of the next run from the error the workflow ended with.
func continuedAs(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.DevicePollInput {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, err, &can, "workflow ended with %v, want continue-as-new", err)
	require.Equal(t, workflows.DevicePollWorkflowName, can.WorkflowType.Name)
	var in workflows.DevicePollInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &in))
	return in
}

func TestDevicePollContinueAsNew(t *testing.T) {
	t.Run("after pollsPerRun polls", func(t *testing.T) {
		env, dev := harness(t)
		const perRun = 500 // pollsPerRun
		dev.answer = func(n int) error {
			if n == perRun {
				return temporal.NewNonRetryableApplicationError("connect: connection refused", "SSH refused", nil)
			}
			return nil
		}
		at(env, 100*time.Second, func() { env.SignalWorkflow(workflows.SignalSetInterval, 20*time.Second) })
		// Safety net: the run must continue as new long before.
		stopAt(env, 24*time.Hour)
		run(env, 30*time.Second)

		in := continuedAs(t, env)
		require.Equal(t, deviceID, in.DeviceID)
		require.Zero(t, in.Interval, "the next run takes its interval from the carried state")
		require.NotNil(t, in.State)
		st := *in.State
		require.Equal(t, int64(perRun), st.Polls)
		require.Equal(t, 20*time.Second, st.Interval)
		require.Equal(t, 1, st.ConsecutiveFailures)
		require.Equal(t, "connect: connection refused", st.LastError)
		times := dev.pollTimes()
		require.Len(t, times, perRun)
		require.Equal(t, times[perRun-1], st.LastPollAt.Sub(start))
		// The run ends when poll 501 is due, so the next run polls at once.
		require.Equal(t, st.LastPollAt.Add(20*time.Second), st.NextPollAt)
		require.Equal(t, st.NextPollAt.UTC(), env.Now().UTC())
	})

	t.Run("suggested by the server", func(t *testing.T) {
		env, dev := harness(t)
		env.SetContinueAsNewSuggested(true)
		at(env, 10*time.Second, func() { env.SignalWorkflow(workflows.SignalPause, nil) })
		stopAt(env, time.Hour)
		run(env, 30*time.Second)

		in := continuedAs(t, env)
		require.NotNil(t, in.State)
		require.True(t, in.State.Paused)
		require.Equal(t, int64(1), in.State.Polls)
		require.Equal(t, 30*time.Second, in.State.Interval)
		require.Equal(t, seconds(0), dev.pollTimes())
	})
}

// TestDevicePollContinueAsNewKeepsLateSignals delivers signals in the same workflow task as the timer that ends
// the run: only drainSignals can see them before the run continues as new.
func TestDevicePollContinueAsNewKeepsLateSignals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signal string
		arg    any
		check  func(t *testing.T, st workflows.DevicePollState)
	}{
		{"pause", workflows.SignalPause, nil, func(t *testing.T, st workflows.DevicePollState) { require.True(t, st.Paused) }},
		{"set-interval", workflows.SignalSetInterval, 45 * time.Second, func(t *testing.T, st workflows.DevicePollState) {
			require.Equal(t, 45*time.Second, st.Interval)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := harness(t)
			env.SetContinueAsNewSuggested(true)
			// The first poll's timer fires at 30s; the signal is queued without a workflow task before it.
			at(env, 29*time.Second, func() { env.SignalWorkflowSkippingWorkflowTask(tc.signal, tc.arg) })
			stopAt(env, time.Hour)
			run(env, 30*time.Second)

			in := continuedAs(t, env)
			require.NotNil(t, in.State)
			tc.check(t, *in.State)
		})
	}
}

// TestDevicePollContinuedRun starts a run from carried state, as continue-as-new does.
func TestDevicePollContinuedRun(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state workflows.DevicePollState
		want  []time.Duration
	}{
		{"due now", workflows.DevicePollState{Interval: 20 * time.Second, Polls: 7, LastPollAt: start.Add(-20 * time.Second),
			NextPollAt: start}, seconds(0, 20, 40)},
		{"due later", workflows.DevicePollState{Interval: 20 * time.Second, Polls: 7, LastPollAt: start.Add(-5 * time.Second),
			NextPollAt: start.Add(15 * time.Second)}, seconds(15, 35)},
		{"paused", workflows.DevicePollState{Interval: 20 * time.Second, Polls: 7, Paused: true}, nil},
		{"blocked", workflows.DevicePollState{Interval: 20 * time.Second, Polls: 7, Blocked: true, BlockReason: "host key changed"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, dev := harness(t)
			at(env, time.Second, func() {
				st := status(t, env)
				require.Equal(t, tc.state.Paused, st.Paused)
				require.Equal(t, tc.state.Blocked, st.Blocked)
				require.Equal(t, tc.state.BlockReason, st.BlockReason)
				require.Equal(t, tc.state.Interval, st.Interval)
			})
			stopAt(env, 50*time.Second)
			st := tc.state
			env.ExecuteWorkflow(workflows.DevicePollWorkflowName, workflows.DevicePollInput{DeviceID: deviceID, State: &st})
			requireCanceled(t, env)
			require.Equal(t, tc.want, dev.pollTimes())
			if len(tc.want) > 0 {
				// The poll key goes on from the carried count, so a retried poll never reuses an old key.
				dev.mu.Lock()
				first := dev.attempts[0].Poll
				dev.mu.Unlock()
				require.Equal(t, 8, first)
			}
		})
	}
}

func TestEffectiveInterval(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		offline  bool
		failures int
		want     time.Duration
	}{
		{30 * time.Second, false, 0, 30 * time.Second},
		{30 * time.Second, false, 2, 30 * time.Second},
		{30 * time.Second, false, 9, 30 * time.Second}, // not marked offline yet: no back-off
		{30 * time.Second, true, 3, 30 * time.Second},
		{30 * time.Second, true, 4, time.Minute},
		{30 * time.Second, true, 5, 2 * time.Minute},
		{30 * time.Second, true, 6, 4 * time.Minute},
		{30 * time.Second, true, 7, workflows.MaxBackoff},
		{30 * time.Second, true, 1000, workflows.MaxBackoff},
		{time.Second, true, 10, 128 * time.Second},
		{time.Second, true, 20, workflows.MaxBackoff},
		{4 * time.Minute, true, 4, workflows.MaxBackoff},
		{workflows.MaxBackoff, true, 10, workflows.MaxBackoff},
		{10 * time.Minute, true, 10, 10 * time.Minute}, // a long interval is never shortened
		{time.Hour, false, 0, time.Hour},
	} {
		name := fmt.Sprintf("%v offline=%v failures=%d", tc.interval, tc.offline, tc.failures)
		t.Run(name, func(t *testing.T) {
			st := workflows.DevicePollState{Interval: tc.interval, Offline: tc.offline, ConsecutiveFailures: tc.failures}
			require.Equal(t, tc.want, st.EffectiveInterval())
		})
	}
}

func TestDevicePollWorkflowID(t *testing.T) {
	require.Equal(t, "device-poll/"+deviceID, workflows.DevicePollWorkflowID(deviceID))
}
