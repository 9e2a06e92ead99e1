package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
)

// ZFSSnapshotsWorkflowName is the registered name of ZFSSnapshotsWorkflow.
const ZFSSnapshotsWorkflowName = "ZFSSnapshots"

// ZFSSnapshotsWorkflowID names one snapshot listing.
func ZFSSnapshotsWorkflowID(deviceID, fetchID string) string {
	return "zfs-snapshots/" + deviceID + "/" + fetchID
}

// ZFSSnapshotsWorkflow lists one page of a device's ZFS snapshots for the API, on request (#11): snapshot lists can
// hold 100,000 entries, so they are never part of the slow-cadence collection. The page goes to PostgreSQL; the
// history holds only its size.
func ZFSSnapshotsWorkflow(ctx workflow.Context, in activities.FetchSnapshotsInput) (*activities.FetchSnapshotsResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 45 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumAttempts:    2,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput, activities.ErrTypeDeviceNotFound,
				activities.ErrTypeCommandFailed, activities.ErrTypeBadCursor, activities.ErrTypeHostKeyChanged,
				activities.ErrTypeHostKeyUnknown, activities.ErrTypeAuthFailed},
		},
	})
	var a *activities.Activities
	var res activities.FetchSnapshotsResult
	if err := workflow.ExecuteActivity(ctx, a.FetchSnapshots, in).Get(ctx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// FetchSnapshots runs a ZFSSnapshots workflow and waits for it; the page is then in zfs_snapshot_fetches.
func (p *Client) FetchSnapshots(ctx context.Context, in activities.FetchSnapshotsInput) (*activities.FetchSnapshotsResult, error) {
	run, err := p.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       ZFSSnapshotsWorkflowID(in.DeviceID, in.FetchID),
		TaskQueue:                p.TaskQueue,
		WorkflowExecutionTimeout: 2 * time.Minute,
	}, ZFSSnapshotsWorkflowName, in)
	if err != nil {
		return nil, err
	}
	var res activities.FetchSnapshotsResult
	if err := run.Get(ctx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
