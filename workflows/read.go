package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
)

// readWorkflow is the one shape of the short read workflows the API runs on request (ContainerLogs, ZFSSnapshots,
// TopProcesses, SystemLogs): a single activity reads from the device, writes what it read to PostgreSQL and
// returns a small summary, which is all the history holds. The API never talks SSH itself, so it starts the
// workflow through the Client and waits for it.
//
// Each read workflow is one value of this type; its exported workflow function and Client method only hand over to
// run and execute, so the workflow type keeps its registered name and the activity its name.
type readWorkflow[In, Out any] struct {
	// name is the registered workflow type name.
	name string
	// id names one execution from the device and the fetch it serves.
	id func(deviceID, fetchID string) string
	// activity is a method value of *activities.Activities: the SDK registers and schedules the activity under
	// the method's name, and the compiler checks its input and result types against the workflow's.
	activity func(context.Context, In) (*Out, error)
	// activityTimeout bounds one attempt of the activity (start to close).
	activityTimeout time.Duration
	// runTimeout bounds the whole execution, as started by the Client.
	runTimeout time.Duration
	// nonRetryable are the error types, beyond readNonRetryable, that a second attempt cannot fix.
	nonRetryable []string
}

// readNonRetryable are the error types no read workflow retries: the request or the device is wrong, the command
// failed on the device, or the device's host key or credentials need an operator.
var readNonRetryable = []string{activities.ErrTypeInvalidInput, activities.ErrTypeDeviceNotFound,
	activities.ErrTypeCommandFailed, activities.ErrTypeHostKeyChanged, activities.ErrTypeHostKeyUnknown,
	activities.ErrTypeAuthFailed}

// noActivities is the receiver of the activity method values in readWorkflow.activity; workflow code only names
// activities, so it is never dereferenced.
var noActivities *activities.Activities

// run is the workflow: one activity, tried twice at most (a dropped connection deserves a second attempt; the
// read is idempotent).
func (r readWorkflow[In, Out]) run(ctx workflow.Context, in In) (*Out, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: r.activityTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumAttempts:        2,
			NonRetryableErrorTypes: append(append([]string(nil), readNonRetryable...), r.nonRetryable...),
		},
	})
	var res Out
	if err := workflow.ExecuteActivity(ctx, r.activity, in).Get(ctx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// execute starts the workflow for one fetch of a device and waits for its result.
func (r readWorkflow[In, Out]) execute(ctx context.Context, p *Client, deviceID, fetchID string, in In) (*Out, error) {
	run, err := p.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       r.id(deviceID, fetchID),
		TaskQueue:                p.TaskQueue,
		WorkflowExecutionTimeout: r.runTimeout,
	}, r.name, in)
	if err != nil {
		return nil, err
	}
	var res Out
	if err := run.Get(ctx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
