package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
)

// SystemLogsWorkflowName is the registered name of SystemLogsWorkflow.
const SystemLogsWorkflowName = "SystemLogs"

// SystemLogsWorkflowID names one system log search.
func SystemLogsWorkflowID(deviceID, fetchID string) string {
	return "system-logs/" + deviceID + "/" + fetchID
}

var systemLogs = readWorkflow[activities.SystemLogsInput, activities.SystemLogsResult]{
	name:     SystemLogsWorkflowName,
	id:       SystemLogsWorkflowID,
	activity: noActivities.SearchSystemLogs,
	// The search command has its own bound (activities.SystemLogTimeout); this leaves room for the dial.
	activityTimeout: activities.SystemLogTimeout + 15*time.Second,
	runTimeout:      2 * time.Minute,
}

// SystemLogsWorkflow searches a device's system log for the API (which never talks SSH itself). The entries go
// to PostgreSQL; the history holds only their count.
func SystemLogsWorkflow(ctx workflow.Context, in activities.SystemLogsInput) (*activities.SystemLogsResult, error) {
	return systemLogs.run(ctx, in)
}

// SearchSystemLogs runs a SystemLogs workflow and waits for it; the entries are then in log_fetches under
// in.FetchID.
func (p *Client) SearchSystemLogs(ctx context.Context, in activities.SystemLogsInput) (*activities.SystemLogsResult, error) {
	return systemLogs.execute(ctx, p, in.DeviceID, in.FetchID, in)
}
