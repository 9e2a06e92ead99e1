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

// DeviceOperationWorkflowName is the registered name of DeviceOperationWorkflow.
const DeviceOperationWorkflowName = "DeviceOperation"

// Bounds of device operations. A scrub of a large pool or a long SMART self-test takes hours, so the verify step
// may follow its job for up to deviceOpFollowTimeout; a worker that dies meanwhile is noticed within the heartbeat
// timeout and another one takes over (the kind's verify reads the job's progress on the device, so nothing is
// repeated). The heartbeat timeout also bounds how long a cancellation takes to reach the step: the SDK sends
// heartbeats at most every 80 % of it, and a cancellation rides on a heartbeat's answer.
const (
	deviceOpTimeout       = 50 * time.Hour
	deviceOpFollowTimeout = 48 * time.Hour
	deviceOpActTimeout    = 10 * time.Minute
	deviceOpHeartbeat     = stepHeartbeatTimeout
)

// DeviceOperationInput starts a DeviceOperation.
type DeviceOperationInput struct {
	activities.DeviceOpInput
}

// DeviceOperationWorkflow runs one device operation (a scrub, a self-test, a service or VM action, a package-list
// refresh) through its kind's precheck, act and verify steps and records the outcome, like ContainerOperation:
// already in the target state → success without acting; a cancelled operation is recorded as cancelled (the
// kind's verify stops the job it follows when its context is cancelled, e.g. `zpool scrub -s`).
func DeviceOperationWorkflow(ctx workflow.Context, in DeviceOperationInput) (*ContainerOperationResult, error) {
	start := workflow.Now(ctx)
	op := in.DeviceOpInput
	rec := activities.DeviceOpRecord{OperationID: op.OperationID}
	logger := log.With(workflow.GetLogger(ctx), "device", op.DeviceID, "kind", op.Kind, "action", op.Action, "target", op.Target)
	var a *activities.Activities

	finish := func(state, summary, errMsg string) (*ContainerOperationResult, error) {
		// A disconnected context, so a cancelled operation is still recorded.
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		dctx = workflow.WithActivityOptions(dctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: retry(20)})
		now := workflow.Now(ctx)
		rec.State, rec.Summary, rec.Error = state, summary, errMsg
		rec.Duration, rec.FinishedAt = now.Sub(start), now
		if err := workflow.ExecuteActivity(dctx, a.RecordDeviceOp, rec).Get(dctx, nil); err != nil {
			return nil, fmt.Errorf("record operation %s: %w", op.OperationID, err)
		}
		return &ContainerOperationResult{State: state, Summary: summary}, nil
	}
	fail := func(step string, err error) (*ContainerOperationResult, error) {
		if temporal.IsCanceledError(err) || errors.Is(ctx.Err(), workflow.ErrCanceled) {
			if _, rerr := finish(vocab.OpCancelled, "cancelled during "+step, "cancelled during "+step); rerr != nil {
				return nil, rerr
			}
			return nil, err
		}
		msg := err.Error()
		var app *temporal.ApplicationError
		if errors.As(err, &app) {
			msg = app.Message()
		}
		var te *temporal.TimeoutError
		if errors.As(err, &te) {
			msg = fmt.Sprintf("%s timed out (%s)", step, te.TimeoutType())
		}
		logger.Warn("device operation failed", "step", step, "error", msg)
		if _, rerr := finish(vocab.OpFailed, step+" failed: "+msg, step+": "+msg); rerr != nil {
			return nil, rerr
		}
		return nil, err
	}

	var pre activities.OpPrecheck
	pctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 2 * time.Minute, RetryPolicy: retry(3)})
	if err := workflow.ExecuteActivity(pctx, a.PrecheckDeviceOp, op).Get(ctx, &pre); err != nil {
		return fail(activities.StepPrecheck, err)
	}
	rec.Before = pre.Before
	if pre.Noop {
		rec.Noop = true
		return finish(vocab.OpSucceeded, "nothing to do: "+pre.Reason, "")
	}
	step := activities.DeviceOpStepInput{Op: op, Before: pre.Before}

	var act activities.OpAct
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: deviceOpActTimeout,
		HeartbeatTimeout:    stepHeartbeatTimeout,
		WaitForCancellation: true,
		RetryPolicy:         retry(3),
	})
	if err := workflow.ExecuteActivity(actx, a.ActDeviceOp, step).Get(ctx, &act); err != nil {
		return fail(activities.StepAct, err)
	}
	rec.Output, rec.AlreadyDone = act.Output, act.AlreadyDone

	var ver activities.OpVerify
	vctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: deviceOpFollowTimeout,
		HeartbeatTimeout:    deviceOpHeartbeat,
		WaitForCancellation: true,
		RetryPolicy:         retry(5),
	})
	if err := workflow.ExecuteActivity(vctx, a.VerifyDeviceOp, step).Get(ctx, &ver); err != nil {
		return fail(activities.StepVerify, err)
	}
	rec.After = ver.After
	summary := fmt.Sprintf("%s %s: %s", op.Action, deviceOpLabel(op), ver.Summary)
	if act.AlreadyDone {
		summary += " (an earlier attempt had acted)"
	}
	return finish(vocab.OpSucceeded, summary, "")
}

func deviceOpLabel(op activities.DeviceOpInput) string {
	if op.Target == "" {
		return op.Kind
	}
	return op.Kind + " " + op.Target
}

// StartDeviceOperation starts a device operation's workflow. It fails with ErrOperationRunning while another
// operation on the same device, kind and target runs.
func (p *Client) StartDeviceOperation(ctx context.Context, in DeviceOperationInput) (string, error) {
	id := in.WorkflowID()
	run, err := p.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                p.TaskQueue,
		WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		WorkflowExecutionTimeout:                 deviceOpTimeout,
	}, DeviceOperationWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return "", ErrOperationRunning
	}
	if err != nil {
		return "", fmt.Errorf("start %s: %w", id, err)
	}
	return run.GetRunID(), nil
}
