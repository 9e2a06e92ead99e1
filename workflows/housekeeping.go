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

// Housekeeping names.
const (
	HousekeepingWorkflowName = "Housekeeping"
	HousekeepingScheduleID   = "infra-housekeeping"
	// HousekeepingEvery is how often housekeeping runs: often enough that rollups trail the raw data by minutes.
	HousekeepingEvery = 10 * time.Minute
)

// HousekeepingWorkflow keeps storage bounded and long-range queries fast: partitions ahead, rollups refreshed,
// data past retention dropped. Each step is its own activity so the Temporal UI shows what each did.
func HousekeepingWorkflow(ctx workflow.Context) (*activities.HousekeepingResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2,
			MaximumInterval: time.Minute, MaximumAttempts: 5},
	})
	var a *activities.Activities
	var out activities.HousekeepingResult
	if err := workflow.ExecuteActivity(ctx, a.EnsurePartitionsAhead).Get(ctx, &out.PartitionsCreated); err != nil {
		return nil, err
	}
	var rollups activities.HousekeepingResult
	if err := workflow.ExecuteActivity(ctx, a.RefreshRollups).Get(ctx, &rollups); err != nil {
		return nil, err
	}
	out.HourlyRollupRows, out.DailyRollupRows = rollups.HourlyRollupRows, rollups.DailyRollupRows
	if err := workflow.ExecuteActivity(ctx, a.ApplyRetention).Get(ctx, &out.Pruned); err != nil {
		return nil, err
	}
	return &out, nil
}

// EnsureHousekeepingSchedule creates the housekeeping schedule unless it exists (every worker calls it at start;
// the first wins). A new schedule runs once at once.
func EnsureHousekeepingSchedule(ctx context.Context, c client.Client, taskQueue string) error {
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:                 HousekeepingScheduleID,
		Spec:               client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: HousekeepingEvery}}},
		Overlap:            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		TriggerImmediately: true,
		Action: &client.ScheduleWorkflowAction{
			ID:                       "housekeeping",
			Workflow:                 HousekeepingWorkflowName,
			TaskQueue:                taskQueue,
			WorkflowExecutionTimeout: 30 * time.Minute,
		},
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", HousekeepingScheduleID, err)
	}
	return nil
}
