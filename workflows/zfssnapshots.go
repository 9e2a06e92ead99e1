package workflows

import (
	"context"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
)

// ZFSSnapshotsWorkflowName is the registered name of ZFSSnapshotsWorkflow.
const ZFSSnapshotsWorkflowName = "ZFSSnapshots"

// ZFSSnapshotsWorkflowID names one snapshot listing.
func ZFSSnapshotsWorkflowID(deviceID, fetchID string) string {
	return "zfs-snapshots/" + deviceID + "/" + fetchID
}

var zfsSnapshots = readWorkflow[activities.FetchSnapshotsInput, activities.FetchSnapshotsResult]{
	name:            ZFSSnapshotsWorkflowName,
	id:              ZFSSnapshotsWorkflowID,
	activity:        noActivities.FetchSnapshots,
	activityTimeout: 45 * time.Second,
	runTimeout:      2 * time.Minute,
	nonRetryable:    []string{activities.ErrTypeBadCursor},
}

// ZFSSnapshotsWorkflow lists one page of a device's ZFS snapshots for the API, on request (#11): snapshot lists can
// hold 100,000 entries, so they are never part of the slow-cadence collection. The page goes to PostgreSQL; the
// history holds only its size.
func ZFSSnapshotsWorkflow(ctx workflow.Context, in activities.FetchSnapshotsInput) (*activities.FetchSnapshotsResult, error) {
	return zfsSnapshots.run(ctx, in)
}

// FetchSnapshots runs a ZFSSnapshots workflow and waits for it; the page is then in zfs_snapshot_fetches.
func (p *Client) FetchSnapshots(ctx context.Context, in activities.FetchSnapshotsInput) (*activities.FetchSnapshotsResult, error) {
	return zfsSnapshots.execute(ctx, p, in.DeviceID, in.FetchID, in)
}
