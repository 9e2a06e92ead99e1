package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/vocab"
)

// ContainerOperationWorkflowName is the registered name of ContainerOperationWorkflow.
const ContainerOperationWorkflowName = "ContainerOperation"

// Tunables of container operations.
const (
	// DefaultSettle is how long a started container must stay up before verify calls it started.
	DefaultSettle = time.Second
	// operationTimeout bounds a whole operation, whatever its steps do.
	operationTimeout = 2 * time.Hour
	// composeActTimeout bounds compose up/down/pull/restart, which may pull images.
	composeActTimeout = 30 * time.Minute
	// stepHeartbeatTimeout declares a long step's worker dead when it stops heartbeating; a retry on another
	// worker then takes over (the act step's idempotency check keeps it from acting twice).
	stepHeartbeatTimeout = 15 * time.Second
)

// ContainerOperationInput starts a ContainerOperation.
type ContainerOperationInput struct {
	activities.ContainerOpInput
	// Settle overrides DefaultSettle (tests).
	Settle time.Duration `json:",omitempty"`
}

// ContainerOperationResult is the workflow's result; the full result is stored with the operation.
type ContainerOperationResult struct {
	State   string
	Summary string
}

// nonRetryable lists the error types no retry can fix.
var nonRetryable = []string{activities.ErrTypeInvalidInput, activities.ErrTypeDeviceNotFound,
	activities.ErrTypeContainerNotFound, activities.ErrTypeInvalidState, activities.ErrTypePermissionDenied,
	activities.ErrTypeVerifyFailed, activities.ErrTypeHostKeyChanged, activities.ErrTypeHostKeyUnknown,
	activities.ErrTypeAuthFailed}

func retry(attempts int32) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 15 * time.Second,
		MaximumAttempts: attempts, NonRetryableErrorTypes: nonRetryable}
}

type containerOp struct {
	in    ContainerOperationInput
	start time.Time
	rec   activities.RecordInput
	log   log.Logger
}

// ContainerOperationWorkflow runs one action on a container or compose project in four steps, each an activity
// that writes its progress to the operation's row: precheck (the target exists and the action fits its state;
// already in the target state → success without acting), act (idempotent under retries), verify (the target
// reached the expected state) and record (the outcome). A cancelled operation is recorded as cancelled.
func ContainerOperationWorkflow(ctx workflow.Context, in ContainerOperationInput) (*ContainerOperationResult, error) {
	w := &containerOp{
		in:    in,
		start: workflow.Now(ctx),
		rec:   activities.RecordInput{OperationID: in.OperationID},
		log:   log.With(workflow.GetLogger(ctx), "device", in.DeviceID, "action", in.Action, "target", in.Ref+in.Project),
	}
	if in.Settle <= 0 {
		w.in.Settle = DefaultSettle
	}
	return w.run(ctx)
}

func (w *containerOp) run(ctx workflow.Context) (*ContainerOperationResult, error) {
	var a *activities.Activities
	op := w.in.ContainerOpInput

	var pre activities.PrecheckResult
	pctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, RetryPolicy: retry(3)})
	if err := workflow.ExecuteActivity(pctx, a.PrecheckContainerOp, op).Get(ctx, &pre); err != nil {
		return w.fail(ctx, activities.StepPrecheck, err)
	}
	w.rec.Before = &pre.Before
	if pre.Noop {
		w.rec.Noop = true
		return w.finish(ctx, vocab.OpSucceeded, "nothing to do: "+pre.Reason, "")
	}
	if op.IsCompose() {
		op.WorkingDir = pre.WorkingDir
	}

	actTimeout := time.Duration(op.StopTimeout())*time.Second + 2*time.Minute
	within := time.Duration(op.StopTimeout())*time.Second + time.Minute
	if op.IsCompose() {
		actTimeout, within = composeActTimeout, 5*time.Minute
	}
	var act activities.ActResult
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: actTimeout,
		HeartbeatTimeout:    stepHeartbeatTimeout,
		WaitForCancellation: true,
		RetryPolicy:         retry(3),
	})
	if err := workflow.ExecuteActivity(actx, a.ActContainerOp, activities.ActInput{Op: op, Before: pre.Before}).Get(ctx, &act); err != nil {
		return w.fail(ctx, activities.StepAct, err)
	}
	w.rec.Output, w.rec.AlreadyDone = act.Output, act.AlreadyDone

	var ver activities.VerifyResult
	vctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: within + 30*time.Second,
		HeartbeatTimeout:    stepHeartbeatTimeout,
		WaitForCancellation: true,
		RetryPolicy:         retry(3),
	})
	vin := activities.VerifyInput{Op: op, Before: pre.Before, Within: within, Settle: w.in.Settle}
	if err := workflow.ExecuteActivity(vctx, a.VerifyContainerOp, vin).Get(ctx, &ver); err != nil {
		return w.fail(ctx, activities.StepVerify, err)
	}
	w.rec.After = &ver.After
	summary := fmt.Sprintf("%s %s: %s", op.Action, targetLabel(op), ver.Summary)
	if act.AlreadyDone {
		summary += " (an earlier attempt had acted)"
	}
	return w.finish(ctx, vocab.OpSucceeded, summary, "")
}

func targetLabel(op activities.ContainerOpInput) string {
	if op.IsCompose() {
		return "compose project " + op.Project
	}
	return op.Ref
}

// fail records a failed or cancelled operation and ends the workflow with the step's error.
func (w *containerOp) fail(ctx workflow.Context, step string, err error) (*ContainerOperationResult, error) {
	if temporal.IsCanceledError(err) || errors.Is(ctx.Err(), workflow.ErrCanceled) {
		if _, rerr := w.finish(ctx, vocab.OpCancelled, "cancelled during "+step, "cancelled during "+step); rerr != nil {
			return nil, rerr
		}
		return nil, err
	}
	msg := err.Error()
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		msg = app.Message()
		var after activities.OpSnapshot
		if app.Type() == activities.ErrTypeVerifyFailed && app.HasDetails() && app.Details(&after) == nil {
			w.rec.After = &after
		}
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		msg = fmt.Sprintf("%s timed out (%s)", step, te.TimeoutType())
	}
	w.log.Warn("container operation failed", "step", step, "error", msg)
	if _, rerr := w.finish(ctx, vocab.OpFailed, step+" failed: "+msg, step+": "+msg); rerr != nil {
		return nil, rerr
	}
	return nil, err
}

// finish runs the record step. It uses a disconnected context so a cancelled operation is still recorded.
func (w *containerOp) finish(ctx workflow.Context, state, summary, errMsg string) (*ContainerOperationResult, error) {
	var a *activities.Activities
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	dctx = workflow.WithActivityOptions(dctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: retry(20)})
	now := workflow.Now(ctx)
	w.rec.State, w.rec.Summary, w.rec.Error = state, summary, errMsg
	w.rec.Duration, w.rec.FinishedAt = now.Sub(w.start), now
	if err := workflow.ExecuteActivity(dctx, a.RecordContainerOp, w.rec).Get(dctx, nil); err != nil {
		return nil, fmt.Errorf("record operation %s: %w", w.in.OperationID, err)
	}
	return &ContainerOperationResult{State: state, Summary: summary}, nil
}

// ErrOperationRunning means another operation holds the same container or compose project.
var ErrOperationRunning = errors.New("another operation is running on this target")

// StartContainerOperation starts the operation's workflow under workflowID. It fails with ErrOperationRunning
// while another operation on the same target runs; a new operation may start once the previous one closed.
func (p *Client) StartContainerOperation(ctx context.Context, workflowID string, in ContainerOperationInput) (string, error) {
	run, err := p.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       workflowID,
		TaskQueue:                                p.TaskQueue,
		WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		WorkflowExecutionTimeout:                 operationTimeout,
	}, ContainerOperationWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return "", ErrOperationRunning
	}
	if err != nil {
		return "", fmt.Errorf("start %s: %w", workflowID, err)
	}
	return run.GetRunID(), nil
}

// WaitContainerOperation waits until the operation's workflow has closed (whatever its outcome, which is stored
// with the operation) or ctx ends, returning ctx's error then.
func (p *Client) WaitContainerOperation(ctx context.Context, workflowID, runID string) error {
	err := p.Client.GetWorkflow(ctx, workflowID, runID).Get(ctx, nil)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("wait for %s: %w", workflowID, err)
	}
	return nil
}

// CancelContainerOperation asks a running operation to stop; it records itself as cancelled.
func (p *Client) CancelContainerOperation(ctx context.Context, workflowID, runID string) error {
	if err := p.Client.CancelWorkflow(ctx, workflowID, runID); err != nil {
		return fmt.Errorf("cancel %s: %w", workflowID, err)
	}
	return nil
}
