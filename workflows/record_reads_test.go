package workflows_test

import (
	"context"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/workflows"
)

// The histories of the ZFS snapshot listing (#11) and of device operations that fail or are cancelled (#16).
func init() {
	stubbedActivities = append(stubbedActivities, "FetchSnapshots")
	for _, h := range []struct {
		file   string
		record func(t *testing.T, path string)
	}{
		{"zfssnapshots.json", recordZFSSnapshots},
		{"deviceop_failure.json", recordDeviceOpFailure},
		{"deviceop_cancel.json", recordDeviceOpCancel},
	} {
		recordedHistories = append(recordedHistories, struct {
			files  []string
			record func(t *testing.T, paths ...string)
		}{[]string{h.file}, func(t *testing.T, p ...string) { h.record(t, p[0]) }})
	}
}

// recordZFSSnapshots records one page of a snapshot listing: one activity whose result is a count, never a name.
func recordZFSSnapshots(t *testing.T, path string) {
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"FetchSnapshots": func(context.Context, []any) (any, error) {
			return activities.FetchSnapshotsResult{Snapshots: 2, More: true}, nil
		},
	})
	r.run(path, "zfs-snapshots/replay", workflows.ZFSSnapshotsWorkflowName,
		activities.FetchSnapshotsInput{FetchID: "f1", DeviceID: recDevice, Dataset: "tank/media", Limit: 2}, false)
}

func recDeviceOp() workflows.DeviceOperationInput {
	return workflows.DeviceOperationInput{DeviceOpInput: activities.DeviceOpInput{OperationID: recOperation,
		DeviceID: recDevice, Kind: "zfs_scrub", Target: "tank", Action: "scrub"}}
}

func precheckDeviceOpOK(context.Context, []any) (any, error) {
	return activities.OpPrecheck{Before: "no scrub running"}, nil
}

func actDeviceOpOK(context.Context, []any) (any, error) {
	return activities.OpAct{Output: "scrub started"}, nil
}

// recordDeviceOpFailure records a device operation whose job is found failed by verify (not retried); the failure
// is recorded.
func recordDeviceOpFailure(t *testing.T, path string) {
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"PrecheckDeviceOp": precheckDeviceOpOK,
		"ActDeviceOp":      actDeviceOpOK,
		"VerifyDeviceOp": func(context.Context, []any) (any, error) {
			return nil, temporal.NewNonRetryableApplicationError("scrub of tank stopped with 3 errors",
				activities.ErrTypeVerifyFailed, nil)
		},
	})
	r.run(path, recDeviceOp().WorkflowID(), workflows.DeviceOperationWorkflowName, recDeviceOp(), true)
}

// recordDeviceOpCancel cancels a device operation while verify follows its job; the step heartbeats, so it learns
// of the cancellation, and the workflow records the operation as cancelled.
func recordDeviceOpCancel(t *testing.T, path string) {
	following, verify := heartbeatUntilCancelled()
	r := newRecorder(t, testenv.TemporalAddress(t), map[string]stubFunc{
		"PrecheckDeviceOp": precheckDeviceOpOK,
		"ActDeviceOp":      actDeviceOpOK,
		"VerifyDeviceOp":   verify,
	})
	r.runCancelled(path, recDeviceOp().WorkflowID(), workflows.DeviceOperationWorkflowName, recDeviceOp(), following)
}
