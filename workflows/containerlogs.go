package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
)

// ContainerLogsWorkflowName is the registered name of ContainerLogsWorkflow.
const ContainerLogsWorkflowName = "ContainerLogs"

// ContainerLogsWorkflowID names one log fetch.
func ContainerLogsWorkflowID(deviceID, fetchID string) string {
	return "container-logs/" + deviceID + "/" + fetchID
}

var containerLogs = readWorkflow[activities.FetchLogsInput, activities.FetchLogsResult]{
	name:            ContainerLogsWorkflowName,
	id:              ContainerLogsWorkflowID,
	activity:        noActivities.FetchLogs,
	activityTimeout: 30 * time.Second,
	runTimeout:      time.Minute,
	nonRetryable:    []string{activities.ErrTypeContainerNotFound},
}

// ContainerLogsWorkflow fetches a container's logs for the API (which never talks SSH itself). The lines go to
// PostgreSQL; the history holds only their count.
func ContainerLogsWorkflow(ctx workflow.Context, in activities.FetchLogsInput) (*activities.FetchLogsResult, error) {
	return containerLogs.run(ctx, in)
}

// FetchLogs runs a ContainerLogs workflow and waits for it; the lines are then in log_fetches under in.FetchID.
func (p *Client) FetchLogs(ctx context.Context, in activities.FetchLogsInput) (*activities.FetchLogsResult, error) {
	return containerLogs.execute(ctx, p, in.DeviceID, in.FetchID, in)
}
