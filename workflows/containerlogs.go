package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
)

// ContainerLogsWorkflowName is the registered name of ContainerLogsWorkflow.
const ContainerLogsWorkflowName = "ContainerLogs"

// ContainerLogsWorkflowID names one log fetch.
func ContainerLogsWorkflowID(deviceID, fetchID string) string {
	return "container-logs/" + deviceID + "/" + fetchID
}

// ContainerLogsWorkflow fetches a container's logs for the API (which never talks SSH itself). The lines go to
// PostgreSQL; the history holds only their count.
func ContainerLogsWorkflow(ctx workflow.Context, in activities.FetchLogsInput) (*activities.FetchLogsResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumAttempts:    2,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput, activities.ErrTypeDeviceNotFound,
				activities.ErrTypeContainerNotFound, activities.ErrTypeCommandFailed, activities.ErrTypeHostKeyChanged,
				activities.ErrTypeHostKeyUnknown, activities.ErrTypeAuthFailed},
		},
	})
	var a *activities.Activities
	var res activities.FetchLogsResult
	if err := workflow.ExecuteActivity(ctx, a.FetchLogs, in).Get(ctx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
