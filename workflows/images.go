package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
)

// Image update names.
const (
	ImageUpdatesWorkflowName = "ImageUpdates"
	ImageUpdatesScheduleID   = "infra-image-updates"
	// ImageUpdatesEvery is how often the fleet's image references are looked at; each is asked of its registry
	// only when its last answer is older than the image check interval (6 hours by default).
	ImageUpdatesEvery = 30 * time.Minute
)

// ImageUpdatesWorkflow asks registries which digest the tags of the fleet's running containers point at now, once
// per reference (see activities.CheckImageUpdates).
func ImageUpdatesWorkflow(ctx workflow.Context, in activities.CheckImageUpdatesInput) (*activities.CheckImageUpdatesResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 25 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2,
			MaximumInterval: 2 * time.Minute, MaximumAttempts: 3},
	})
	var a *activities.Activities
	var out activities.CheckImageUpdatesResult
	if err := workflow.ExecuteActivity(ctx, a.CheckImageUpdates, in).Get(ctx, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EnsureImageUpdatesSchedule creates the image update schedule unless it exists (every worker calls it at start;
// the first wins).
func EnsureImageUpdatesSchedule(ctx context.Context, c client.Client, taskQueue string) error {
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      ImageUpdatesScheduleID,
		Spec:    client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: ImageUpdatesEvery}}},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Action: &client.ScheduleWorkflowAction{
			ID:                       "image-updates",
			Workflow:                 ImageUpdatesWorkflowName,
			Args:                     []any{activities.CheckImageUpdatesInput{}},
			TaskQueue:                taskQueue,
			WorkflowExecutionTimeout: 30 * time.Minute,
		},
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", ImageUpdatesScheduleID, err)
	}
	return nil
}
