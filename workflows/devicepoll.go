// Package workflows holds Infrastructor's Temporal workflows. Everything here is deterministic: time, sleeps,
// concurrency and randomness come from the workflow package, and all I/O happens in activities.
package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
)

// DevicePoll message names.
const (
	DevicePollWorkflowName = "DevicePoll"
	QueryStatus            = "status"
	SignalPause            = "pause"
	SignalResume           = "resume"
	SignalSetInterval      = "set-interval"
	UpdatePollNow          = "poll-now"
)

// Tunables of the poll loop.
const (
	// OfflineAfter consecutive failed polls the device is marked offline and polls back off.
	OfflineAfter = 3
	// MaxBackoff caps the poll interval of an offline device.
	MaxBackoff = 5 * time.Minute
	// pollsPerRun bounds one run's history; the loop continues as new after this many polls even when the
	// server does not suggest it yet, so each run's history stays small enough to read in the UI.
	pollsPerRun = 500
)

// DevicePollWorkflowID is the workflow ID of a device's poll loop.
func DevicePollWorkflowID(deviceID string) string { return "device-poll/" + deviceID }

// DevicePollInput starts (or continues) a device's poll loop.
type DevicePollInput struct {
	DeviceID string
	Interval time.Duration
	// State is carried over continue-as-new; nil on the first run.
	State *DevicePollState `json:",omitempty"`
}

// DevicePollState is the whole state of the loop, answered by the status query and carried over
// continue-as-new.
type DevicePollState struct {
	Interval            time.Duration
	Paused              bool
	Blocked             bool
	BlockReason         string `json:",omitempty"`
	Offline             bool
	ConsecutiveFailures int
	LastPollAt          time.Time
	LastSummary         string `json:",omitempty"`
	LastError           string `json:",omitempty"`
	Polls               int64
	// NextPollAt is when the loop will poll next (zero while paused or blocked).
	NextPollAt time.Time
	// InventoryInterval is the device's slow-collection cadence as the last poll read it (zero: the default).
	InventoryInterval time.Duration `json:",omitempty"`
	// LastInventoryAt is when the last slow-cadence collection started; LastInventory and LastInventoryError
	// are its outcome.
	LastInventoryAt    time.Time `json:",omitzero"`
	LastInventory      string    `json:",omitempty"`
	LastInventoryError string    `json:",omitempty"`
}

// EffectiveInterval is the wait before the next poll: the configured interval, doubled for every failure past
// OfflineAfter while the device is offline, up to MaxBackoff (or the interval itself when that is longer).
func (s *DevicePollState) EffectiveInterval() time.Duration {
	iv := s.Interval
	if !s.Offline {
		return iv
	}
	ceiling := MaxBackoff
	if iv > ceiling {
		return iv
	}
	for i := OfflineAfter; i < s.ConsecutiveFailures && iv < ceiling; i++ {
		iv *= 2
	}
	return min(iv, ceiling)
}

// PollNowResult is the answer of the poll-now update.
type PollNowResult struct {
	Summary string
	Error   string `json:",omitempty"`
}

type devicePoll struct {
	deviceID string
	firstRun string
	// pollsThisRun counts this run's polls (state.Polls counts across continue-as-new).
	pollsThisRun int
	state        DevicePollState
	wake         bool // set by handlers to end the current wait early
	// collecting is true while a slow-cadence collection runs; collectNow asks for one at once (poll-now).
	collecting bool
	collectNow bool
	mu         workflow.Mutex
	log        log.Logger
}

// DevicePollWorkflow is the entity loop of one device: poll, wait for the interval on a durable timer, repeat.
// Updates pause, resume, set the interval or poll at once; the status query answers the state. Consecutive
// failures mark the device offline and back off; host-key and authentication failures block the loop until
// an administrator resumes it.
func DevicePollWorkflow(ctx workflow.Context, in DevicePollInput) error {
	w := &devicePoll{
		deviceID: in.DeviceID,
		firstRun: workflow.GetInfo(ctx).FirstRunID,
		mu:       workflow.NewMutex(ctx),
		log:      log.With(workflow.GetLogger(ctx), "device", in.DeviceID),
	}
	if in.State != nil {
		w.state = *in.State
	}
	if in.Interval > 0 {
		w.state.Interval = in.Interval
	}
	if w.state.Interval <= 0 {
		return temporal.NewNonRetryableApplicationError("interval must be positive", activities.ErrTypeInvalidInput, nil)
	}
	if err := w.registerHandlers(ctx); err != nil {
		return err
	}
	return w.run(ctx)
}

func (w *devicePoll) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (DevicePollState, error) { return w.state, nil }); err != nil {
		return err
	}
	// Pause, resume and interval changes are signals: they need no running worker to be accepted, so the API
	// answers at once and the loop applies them when it runs.
	// The goroutine waits on a condition rather than blocking in a receive: a blocked receive takes a signal out
	// of its channel as soon as it is delivered, before the goroutine runs, so a signal that came in the
	// workflow task that continues as new was invisible to drainSignals and lost with the run.
	workflow.Go(ctx, func(ctx workflow.Context) {
		for workflow.Await(ctx, func() bool { return signalsPending(ctx) }) == nil {
			w.drainSignals(ctx)
		}
	})
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdatePollNow,
		func(ctx workflow.Context) (PollNowResult, error) {
			res, err := w.poll(ctx)
			// Restart the wait from this poll, also after a failure: it may have blocked the loop or started
			// the back-off. A poll-now also collects the slow-cadence data at once.
			w.wake, w.collectNow = true, err == nil
			if err != nil {
				// The activity's own words: the API shows this to the caller, and the wrapping names the
				// worker's identity and history event IDs.
				return PollNowResult{Error: rootMessage(err)}, nil
			}
			return PollNowResult{Summary: res.Summary}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context) error {
			if w.state.Blocked {
				return fmt.Errorf("device is blocked: %s", w.state.BlockReason)
			}
			return nil
		}},
	)
}

func (w *devicePoll) addSignals(ctx workflow.Context, sel workflow.Selector) {
	sel.AddReceive(workflow.GetSignalChannel(ctx, SignalPause), func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		w.state.Paused, w.wake = true, true
	})
	sel.AddReceive(workflow.GetSignalChannel(ctx, SignalResume), func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		w.state.Paused, w.state.Blocked, w.state.BlockReason, w.wake = false, false, "", true
		w.state.NextPollAt = time.Time{} // resuming polls at once, also a loop that was not paused
	})
	sel.AddReceive(workflow.GetSignalChannel(ctx, SignalSetInterval), func(c workflow.ReceiveChannel, _ bool) {
		var iv time.Duration
		c.Receive(ctx, &iv)
		if iv >= time.Second && iv <= 24*time.Hour && iv != w.state.Interval {
			w.state.Interval, w.wake = iv, true
		}
	})
}

// signalsPending reports whether a pause, resume or set-interval signal waits in its channel.
func signalsPending(ctx workflow.Context) bool {
	for _, name := range []string{SignalPause, SignalResume, SignalSetInterval} {
		if workflow.GetSignalChannel(ctx, name).Len() > 0 {
			return true
		}
	}
	return false
}

// drainSignals applies every signal already delivered, so none is lost across continue-as-new.
func (w *devicePoll) drainSignals(ctx workflow.Context) {
	for {
		sel := workflow.NewSelector(ctx)
		w.addSignals(ctx, sel)
		if !sel.HasPending() {
			return
		}
		sel.Select(ctx)
	}
}

func (w *devicePoll) run(ctx workflow.Context) error {
	for {
		// A wake-up is not a poll: after a poll-now or an interval change the loop only recomputes when the next
		// poll is due. A zero NextPollAt (first run, or after pause or block) means at once.
		if !w.state.Paused && !w.state.Blocked && !workflow.Now(ctx).Before(w.state.NextPollAt) {
			if _, err := w.poll(ctx); err != nil && isDeviceGone(err) {
				w.log.Info("device no longer exists; poll loop ends")
				return nil
			}
		}
		w.maybeCollect(ctx)
		w.wake = false
		if w.state.Paused || w.state.Blocked {
			w.state.NextPollAt = time.Time{}
			if err := workflow.Await(ctx, func() bool { return w.wake }); err != nil {
				return err
			}
		} else {
			// The interval counts from the last poll, whoever ran it.
			w.state.NextPollAt = w.state.LastPollAt.Add(w.state.EffectiveInterval())
			if wait := w.state.NextPollAt.Sub(workflow.Now(ctx)); wait > 0 {
				if _, err := workflow.AwaitWithTimeout(ctx, wait, func() bool { return w.wake }); err != nil {
					return err
				}
			}
		}
		if w.pollsThisRun > 0 && (workflow.GetInfo(ctx).GetContinueAsNewSuggested() || w.pollsThisRun >= pollsPerRun) {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && !w.collecting }); err != nil {
				return err
			}
			w.drainSignals(ctx)
			st := w.state
			return workflow.NewContinueAsNewError(ctx, DevicePollWorkflow, DevicePollInput{DeviceID: w.deviceID, State: &st})
		}
	}
}

// poll runs one poll activity and folds its outcome into the state. The mutex keeps a poll-now update and the
// loop from polling the same device at once.
func (w *devicePoll) poll(ctx workflow.Context) (*activities.PollDeviceResult, error) {
	if err := w.mu.Lock(ctx); err != nil {
		return nil, err
	}
	defer w.mu.Unlock()

	w.state.Polls++
	w.pollsThisRun++
	in := activities.PollDeviceInput{DeviceID: w.deviceID, PollKey: fmt.Sprintf("%s/%d", w.firstRun, w.state.Polls)}
	// The poll evaluates the alert rules itself, in its own transaction and from the samples it holds (#17), so a
	// quiet poll is one workflow task, one marker and one timer. Histories from before replay the separate
	// evaluation after each poll.
	in.EvaluateAlerts = workflow.GetVersion(ctx, alertsInPollVersion, workflow.DefaultVersion, 1) >= 1
	// A local activity: the poll runs inside the workflow task that the timer woke, so each poll costs one
	// workflow task and about six history events instead of a separately dispatched activity task (about
	// eleven events), which is most of the Temporal server's work per poll. The UI shows it as a marker with
	// the same one-line result.
	actx := workflow.WithLocalActivityOptions(ctx, pollActivityOptions(w.state.Interval))
	var a *activities.Activities
	var res activities.PollDeviceResult
	err := workflow.ExecuteLocalActivity(actx, a.PollDevice, in).Get(ctx, &res)
	if err == nil && res.AlertsEvaluated {
		defer startNotices(ctx, res.Notices) // still under the mutex, as the separate evaluation's
	} else {
		// A failed poll (the offline and host-key rules look at failures), an old history, or a poll whose own
		// evaluation failed: the separate evaluation, after MarkOffline below, still under the mutex.
		defer w.evaluateAlerts(ctx, res.Collected, err)
	}
	w.state.LastPollAt = workflow.Now(ctx)
	if err == nil {
		w.state.LastSummary, w.state.LastError = res.Summary, ""
		w.state.ConsecutiveFailures, w.state.Offline = 0, false
		w.state.InventoryInterval = res.InventoryInterval
		return &res, nil
	}

	w.state.LastError = rootMessage(err)
	w.state.ConsecutiveFailures++
	switch errorType(err) {
	case activities.ErrTypeDeviceNotFound:
		return nil, err
	case activities.ErrTypeHostKeyUnknown, activities.ErrTypeHostKeyChanged, activities.ErrTypeAuthFailed:
		// The activity already stored the offered key, set the device blocked and recorded the event.
		w.state.Blocked, w.state.BlockReason = true, w.state.LastError
		w.log.Warn("device blocked", "reason", w.state.LastError)
		return nil, err
	}
	if w.state.ConsecutiveFailures >= OfflineAfter && !w.state.Offline {
		w.state.Offline = true
		mctx := workflow.WithActivityOptions(ctx, shortActivityOptions)
		if merr := workflow.ExecuteActivity(mctx, a.MarkOffline, activities.MarkOfflineInput{
			DeviceID: w.deviceID, Failures: w.state.ConsecutiveFailures, Reason: w.state.LastError,
		}).Get(ctx, nil); merr != nil {
			w.log.Error("could not mark device offline", "err", merr)
		}
	}
	return nil, err
}

// collectInventoryVersion guards the slow-cadence collection added to DevicePoll, so histories recorded before it
// replay.
const collectInventoryVersion = "collect-inventory"

// DefaultInventoryInterval is the slow collection's cadence when the poll has not read the device's own.
const DefaultInventoryInterval = 10 * time.Minute

// maybeCollect starts the slow-cadence collection (drives, pools, services, updates, VMs, networks) when it is
// due: the device answered its last poll and the inventory interval has passed since the last collection, or a
// poll-now asked for one. The collection is a regular activity of its own, visible as such in the Temporal UI,
// and runs alongside the loop: polls go on at their interval while it reads slow tools (smartctl, package
// managers). Its check alerts' notices start Notify workflows like the poll's.
func (w *devicePoll) maybeCollect(ctx workflow.Context) {
	if w.collecting || w.state.Paused || w.state.Blocked || w.state.ConsecutiveFailures > 0 || w.state.LastPollAt.IsZero() {
		return
	}
	every := w.state.InventoryInterval
	if every <= 0 {
		every = DefaultInventoryInterval
	}
	now := workflow.Now(ctx)
	if !w.collectNow && !w.state.LastInventoryAt.IsZero() && now.Sub(w.state.LastInventoryAt) < every {
		return
	}
	if workflow.GetVersion(ctx, collectInventoryVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	in := activities.CollectInventoryInput{DeviceID: w.deviceID, Force: w.collectNow}
	w.collecting, w.collectNow, w.state.LastInventoryAt = true, false, now
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 20 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumAttempts: 2,
			NonRetryableErrorTypes: []string{activities.ErrTypeDeviceNotFound, activities.ErrTypeInvalidInput}},
	})
	var a *activities.Activities
	f := workflow.ExecuteActivity(actx, a.CollectInventory, in)
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { w.collecting = false }()
		var res activities.CollectInventoryResult
		if err := f.Get(ctx, &res); err != nil {
			w.state.LastInventoryError = rootMessage(err)
			w.log.Warn("inventory collection failed", "err", w.state.LastInventoryError)
			return
		}
		w.state.LastInventory, w.state.LastInventoryError = res.Summary, ""
		startNotices(ctx, res.Notices)
	})
}

// evaluateAlertsVersion guards the alert evaluation added to DevicePoll, so histories recorded before it replay.
const evaluateAlertsVersion = "evaluate-alerts"

// alertsInPollVersion guards the evaluation moving into a successful poll's own local activity (#17).
const alertsInPollVersion = "alerts-in-poll"

// evaluateAlerts runs the device's alert rules after a poll attempt (collected is the successful poll's time,
// pollErr the failure otherwise) and starts a Notify workflow per notice. It is a local activity: it runs every
// poll and is small. A failure is logged, never fails the poll loop.
func (w *devicePoll) evaluateAlerts(ctx workflow.Context, collected time.Time, pollErr error) {
	if workflow.GetVersion(ctx, evaluateAlertsVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	in := activities.EvaluateAlertsInput{DeviceID: w.deviceID}
	if pollErr == nil {
		in.Collected = collected
	} else {
		in.ErrorType = errorType(pollErr)
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput}},
	})
	var a *activities.Activities
	var res activities.EvaluateAlertsResult
	if err := workflow.ExecuteLocalActivity(lctx, a.EvaluateAlerts, in).Get(ctx, &res); err != nil {
		w.log.Warn("alert evaluation failed", "err", err)
		return
	}
	startNotices(ctx, res.Notices)
}

// pollActivityOptions bounds one poll by the interval: a poll that cannot finish before the next one is due
// has failed. There is no second attempt: the next poll is the retry, and the loop counts failures to decide
// when a device is offline (the activity itself redials once when a pooled connection turns out dead).
func pollActivityOptions(interval time.Duration) workflow.LocalActivityOptions {
	timeout := min(max(interval, 10*time.Second), 2*time.Minute)
	return workflow.LocalActivityOptions{
		StartToCloseTimeout:    timeout,
		ScheduleToCloseTimeout: timeout + 5*time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			MaximumAttempts: 1,
		},
	}
}

// shortActivityOptions suit small database writes.
var shortActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 15 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		MaximumAttempts:        10,
		NonRetryableErrorTypes: []string{activities.ErrTypeDeviceNotFound, activities.ErrTypeInvalidInput},
	},
}

func errorType(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	return ""
}

func isDeviceGone(err error) bool { return errorType(err) == activities.ErrTypeDeviceNotFound }

// rootMessage is the innermost error message: the activity's own words, without Temporal's wrapping.
func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
