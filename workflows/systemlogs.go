package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
)

// SystemLogsWorkflowName is the registered name of SystemLogsWorkflow.
const SystemLogsWorkflowName = "SystemLogs"

// SystemLogsWorkflowID names one system log search.
func SystemLogsWorkflowID(deviceID, fetchID string) string {
	return "system-logs/" + deviceID + "/" + fetchID
}

// SystemLogsWorkflow searches a device's system log for the API (which never talks SSH itself). The entries go
// to PostgreSQL; the history holds only their count.
func SystemLogsWorkflow(ctx workflow.Context, in activities.SystemLogsInput) (*activities.SystemLogsResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// The search command has its own bound (activities.SystemLogTimeout); this leaves room for the dial.
		StartToCloseTimeout: activities.SystemLogTimeout + 15*time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumAttempts:    2,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput, activities.ErrTypeDeviceNotFound,
				activities.ErrTypeCommandFailed, activities.ErrTypeHostKeyChanged, activities.ErrTypeHostKeyUnknown,
				activities.ErrTypeAuthFailed},
		},
	})
	var a *activities.Activities
	var res activities.SystemLogsResult
	if err := workflow.ExecuteActivity(ctx, a.SearchSystemLogs, in).Get(ctx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// SearchSystemLogs runs a SystemLogs workflow and waits for it; the entries are then in log_fetches under
// in.FetchID.
func (p *Client) SearchSystemLogs(ctx context.Context, in activities.SystemLogsInput) (*activities.SystemLogsResult, error) {
	run, err := p.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       SystemLogsWorkflowID(in.DeviceID, in.FetchID),
		TaskQueue:                p.TaskQueue,
		WorkflowExecutionTimeout: 2 * time.Minute,
	}, SystemLogsWorkflowName, in)
	if err != nil {
		return nil, err
	}
	var res activities.SystemLogsResult
	if err := run.Get(ctx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
