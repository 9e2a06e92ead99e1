package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
)

// TopProcessesWorkflowName is the registered name of TopProcessesWorkflow.
const TopProcessesWorkflowName = "TopProcesses"

// TopProcessesWorkflowID names one on-request process listing.
func TopProcessesWorkflowID(deviceID, fetchID string) string {
	return "top-processes/" + deviceID + "/" + fetchID
}

var topProcesses = readWorkflow[activities.TopProcessesInput, activities.TopProcessesResult]{
	name:            TopProcessesWorkflowName,
	id:              TopProcessesWorkflowID,
	activity:        noActivities.FetchTopProcesses,
	activityTimeout: 30 * time.Second,
	runTimeout:      time.Minute,
	nonRetryable:    []string{activities.ErrTypeCommandRefused},
}

// TopProcessesWorkflow lists a device's top processes for the API (which never talks SSH itself). The listing
// goes to PostgreSQL; the history holds only its length, never a command line.
func TopProcessesWorkflow(ctx workflow.Context, in activities.TopProcessesInput) (*activities.TopProcessesResult, error) {
	return topProcesses.run(ctx, in)
}

// FetchTopProcesses runs a TopProcesses workflow and waits for it; the listing is then in process_snapshots under
// in.FetchID.
func (p *Client) FetchTopProcesses(ctx context.Context, in activities.TopProcessesInput) (*activities.TopProcessesResult, error) {
	return topProcesses.execute(ctx, p, in.DeviceID, in.FetchID, in)
}
