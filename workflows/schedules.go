package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/vocab"
)

// User schedule names.
const (
	ScheduledActionWorkflowName = "ScheduledAction"
	// scheduledRunTimeout bounds one run: a fleet of slow compose updates, one after the other.
	scheduledRunTimeout = 6 * time.Hour

	// scheduleSkipsChange versions the run that may be given targets to skip (only_with_updates, #13): the
	// run asks BeginScheduledRun for them, and records them as skipped without running anything.
	scheduleSkipsChange  = "schedule-skipped-targets"
	scheduleSkipsVersion = 1
)

// UserScheduleID is the Temporal schedule ID of a user schedule.
func UserScheduleID(id string) string { return "user-schedule/" + id }

// userScheduleRunID is the workflow ID prefix of a schedule's runs; Temporal appends each run's time.
func userScheduleRunID(id string) string { return "user-schedule-run/" + id }

// ScheduledActionInput is one run of a user schedule. Only the ID: the run reads the schedule's current action
// (and its tag's current devices) when it starts.
type ScheduledActionInput struct {
	ScheduleID string
}

// ScheduledActionResult summarises a run.
type ScheduledActionResult struct {
	State    string
	Outcomes []activities.TargetOutcome
}

// ScheduledActionWorkflow runs a user schedule's action: a ContainerOperation child workflow per device for
// container and compose actions (the same operations the API starts, so they show in /operations and never run
// at once with a manual one), or an image prune activity. Targets BeginScheduledRun marks as skipped (a compose
// project without image updates) run nothing. Across a tag at most Concurrency devices run at
// once; with StopOnFailure, no new device starts after the first failure.
func ScheduledActionWorkflow(ctx workflow.Context, in ScheduledActionInput) (*ScheduledActionResult, error) {
	var a *activities.Activities
	wfID := workflow.GetInfo(ctx).WorkflowExecution.ID
	short := workflow.WithActivityOptions(ctx, shortActivityOptions)
	// Runs from before skipped targets existed replay without the marker and never asked for skips.
	canSkip := workflow.GetVersion(ctx, scheduleSkipsChange, workflow.DefaultVersion, scheduleSkipsVersion) >= scheduleSkipsVersion
	var plan activities.BeginScheduledRunResult
	if err := workflow.ExecuteActivity(short, a.BeginScheduledRun, activities.BeginScheduledRunInput{
		ScheduleID: in.ScheduleID, WorkflowID: wfID, CanSkip: canSkip}).Get(ctx, &plan); err != nil {
		return nil, err
	}
	log := workflow.GetLogger(ctx)
	res := &ScheduledActionResult{State: vocab.RunSucceeded, Outcomes: make([]activities.TargetOutcome, len(plan.Targets))}
	failed := false
	running := 0
	sel := workflow.NewSelector(ctx)
	for i, t := range plan.Targets {
		res.Outcomes[i] = activities.TargetOutcome{DeviceID: t.DeviceID, DeviceName: t.DeviceName, Project: t.Project,
			State: vocab.RunSkipped, Summary: t.Skipped}
		if t.Op != nil {
			res.Outcomes[i].OperationID = t.Op.OperationID
		}
		if t.DeviceOp != nil {
			res.Outcomes[i].OperationID = t.DeviceOp.OperationID
		}
	}
	for i := range plan.Targets {
		if plan.Targets[i].Skipped != "" {
			continue // nothing to do there (no image updates): recorded as skipped with the reason, using no slot
		}
		for running >= plan.Concurrency {
			sel.Select(ctx)
			running--
			// Take in every other result that is already there, so a failure that finished together with a
			// success stops the run before another device starts.
			for running > 0 && sel.HasPending() {
				sel.Select(ctx)
				running--
			}
		}
		if failed && plan.StopOnFailure {
			break
		}
		i, t := i, plan.Targets[i]
		running++
		fut, read := runTarget(ctx, t)
		sel.AddFuture(fut, func(f workflow.Future) {
			out := &res.Outcomes[i]
			summary, err := read(f)
			if err != nil {
				out.State, out.Error = vocab.RunFailed, rootMessage(err)
				failed = true
				log.Warn("scheduled action failed", "device", t.DeviceName, "err", out.Error)
				if opID := out.OperationID; opID != "" && isStartFailure(err) {
					fctx := workflow.WithActivityOptions(ctx, shortActivityOptions)
					_ = workflow.ExecuteActivity(fctx, a.FailScheduledOperation, opID,
						"not started: "+out.Error).Get(ctx, nil)
				}
				return
			}
			out.State, out.Summary = vocab.RunSucceeded, summary
		})
	}
	for ; running > 0; running-- {
		sel.Select(ctx)
	}
	errMsg := ""
	if failed {
		res.State, errMsg = vocab.RunFailed, "one or more devices failed"
	}
	if err := workflow.ExecuteActivity(short, a.FinishScheduledRun, activities.FinishScheduledRunInput{WorkflowID: wfID,
		State: res.State, Outcomes: res.Outcomes, Error: errMsg}).Get(ctx, nil); err != nil {
		return nil, err
	}
	if failed {
		return res, temporal.NewNonRetryableApplicationError(errMsg, "ScheduledActionFailed", nil, res)
	}
	return res, nil
}

// runTarget starts one device's part of a run and returns its future (a child workflow's or an activity's, so
// results that arrive together are all ready together) and how to read a one-line summary from it.
func runTarget(ctx workflow.Context, t activities.ScheduleTarget) (workflow.Future, func(workflow.Future) (string, error)) {
	var a *activities.Activities
	if t.Prune {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Minute,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3, InitialInterval: 5 * time.Second,
				NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput, activities.ErrTypeDeviceNotFound,
					activities.ErrTypeCommandFailed, activities.ErrTypeHostKeyChanged, activities.ErrTypeHostKeyUnknown,
					activities.ErrTypeAuthFailed}}})
		f := workflow.ExecuteActivity(actx, a.PruneImages, activities.PruneImagesInput{DeviceID: t.DeviceID})
		return f, func(f workflow.Future) (string, error) {
			var out activities.PruneImagesResult
			err := f.Get(ctx, &out)
			return out.Summary, err
		}
	}
	if t.DeviceOp != nil {
		// A scrub can outlast the run's timeout: it is abandoned then, not cancelled, and finishes on its own
		// (its operation records the result).
		dctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            t.DeviceOp.WorkflowID(),
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		})
		f := workflow.ExecuteChildWorkflow(dctx, DeviceOperationWorkflowName, DeviceOperationInput{DeviceOpInput: *t.DeviceOp})
		return f, func(f workflow.Future) (string, error) {
			var out ContainerOperationResult
			err := f.Get(ctx, &out)
			if err == nil && out.State != vocab.OpSucceeded {
				err = fmt.Errorf("%s", out.Summary)
			}
			return out.Summary, err
		}
	}
	op := *t.Op
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            op.WorkflowID(),
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
	})
	f := workflow.ExecuteChildWorkflow(cctx, ContainerOperationWorkflowName, ContainerOperationInput{ContainerOpInput: op})
	return f, func(f workflow.Future) (string, error) {
		var out ContainerOperationResult
		err := f.Get(ctx, &out)
		if err == nil && out.State != vocab.OpSucceeded {
			err = fmt.Errorf("%s", out.Summary)
		}
		return out.Summary, err
	}
}

// isStartFailure reports whether a child workflow never started (its ID was busy with another operation).
func isStartFailure(err error) bool { return temporal.IsWorkflowExecutionAlreadyStartedError(err) }

// UserScheduleOptions is a user schedule as Temporal runs it.
type UserScheduleOptions struct {
	ID       string
	Cron     string
	Every    time.Duration
	Offset   time.Duration
	TimeZone string
	// Overlap is skip (default), buffer_one, allow_all or cancel_other.
	Overlap string
	Paused  bool
}

// overlapPolicy maps the API's names to Temporal's.
func overlapPolicy(name string) enumspb.ScheduleOverlapPolicy {
	switch name {
	case "buffer_one":
		return enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE
	case "allow_all":
		return enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL
	case "cancel_other":
		return enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER
	}
	return enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
}

// CreateUserSchedule creates the Temporal schedule of a user schedule. Temporal validates the cron expression
// and the time zone; its error is returned as is.
func (p *Client) CreateUserSchedule(ctx context.Context, o UserScheduleOptions) error {
	spec := userScheduleSpec(o)
	_, err := p.Client.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      UserScheduleID(o.ID),
		Spec:    spec,
		Overlap: overlapPolicy(o.Overlap),
		Paused:  o.Paused,
		Action: &client.ScheduleWorkflowAction{
			ID:                       userScheduleRunID(o.ID),
			Workflow:                 ScheduledActionWorkflowName,
			Args:                     []any{ScheduledActionInput{ScheduleID: o.ID}},
			TaskQueue:                p.TaskQueue,
			WorkflowExecutionTimeout: scheduledRunTimeout,
		},
	})
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", UserScheduleID(o.ID), err)
	}
	return nil
}

// ScheduleInfo is what Temporal knows of a user schedule: whether it is paused, its next times and its
// recent runs' workflow IDs.
type ScheduleInfo struct {
	Paused     bool        `json:"paused"`
	NextRuns   []time.Time `json:"next_runs"`
	RecentRuns []string    `json:"recent_workflow_ids"`
	Note       string      `json:"note,omitempty"`
}

// DescribeUserSchedule describes a user schedule's Temporal schedule.
func (p *Client) DescribeUserSchedule(ctx context.Context, id string) (*ScheduleInfo, error) {
	d, err := p.Client.ScheduleClient().GetHandle(ctx, UserScheduleID(id)).Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe schedule %s: %w", UserScheduleID(id), err)
	}
	out := &ScheduleInfo{Paused: d.Schedule.State.Paused, Note: d.Schedule.State.Note, NextRuns: d.Info.NextActionTimes}
	for _, r := range d.Info.RecentActions {
		if r.StartWorkflowResult != nil {
			out.RecentRuns = append(out.RecentRuns, r.StartWorkflowResult.WorkflowID)
		}
	}
	return out, nil
}

// PauseUserSchedule pauses or resumes a user schedule.
func (p *Client) PauseUserSchedule(ctx context.Context, id string, pause bool, note string) error {
	h := p.Client.ScheduleClient().GetHandle(ctx, UserScheduleID(id))
	var err error
	if pause {
		err = h.Pause(ctx, client.SchedulePauseOptions{Note: note})
	} else {
		err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
	}
	if err != nil {
		return fmt.Errorf("pause=%v schedule %s: %w", pause, UserScheduleID(id), err)
	}
	return nil
}

// TriggerUserSchedule runs a user schedule now (its overlap policy applies).
func (p *Client) TriggerUserSchedule(ctx context.Context, id string) error {
	if err := p.Client.ScheduleClient().GetHandle(ctx, UserScheduleID(id)).Trigger(ctx, client.ScheduleTriggerOptions{
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_UNSPECIFIED}); err != nil {
		return fmt.Errorf("trigger schedule %s: %w", UserScheduleID(id), err)
	}
	return nil
}

// DeleteUserSchedule deletes a user schedule's Temporal schedule; one already gone is not an error.
func (p *Client) DeleteUserSchedule(ctx context.Context, id string) error {
	err := p.Client.ScheduleClient().GetHandle(ctx, UserScheduleID(id)).Delete(ctx)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("delete schedule %s: %w", UserScheduleID(id), err)
	}
	return nil
}
