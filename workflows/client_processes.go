package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/infrastructor/infrastructor/activities"
)

// FetchTopProcesses runs a TopProcesses workflow and waits for it; the listing is then in process_snapshots under
// in.FetchID.
func (p *Client) FetchTopProcesses(ctx context.Context, in activities.TopProcessesInput) (*activities.TopProcessesResult, error) {
	run, err := p.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       TopProcessesWorkflowID(in.DeviceID, in.FetchID),
		TaskQueue:                p.TaskQueue,
		WorkflowExecutionTimeout: time.Minute,
	}, TopProcessesWorkflowName, in)
	if err != nil {
		return nil, err
	}
	var res activities.TopProcessesResult
	if err := run.Get(ctx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
