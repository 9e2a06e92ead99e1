package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
)

// LogTailWorkflowName is the registered name of LogTailWorkflow.
const LogTailWorkflowName = "LogTail"

// LogTailWorkflowID names the one tail of a source, however many clients and API replicas watch it: a device's
// journald with one set of filters (topic is the canonical topic, which holds them) or one container.
func LogTailWorkflowID(deviceID, topic string) string {
	sum := sha256.Sum256([]byte(topic))
	return "log-tail/" + deviceID + "/" + hex.EncodeToString(sum[:8])
}

// LogTailWorkflow runs a live log tail (#12): one long activity that follows the source over one SSH session and
// publishes its lines, heartbeating its resume point. A lost session fails the attempt and the retry resumes
// after the last published line; the tail ends when nobody has watched it for in.IdleAfter. The history holds
// the input and the outcome only, never a line.
func LogTailWorkflow(ctx workflow.Context, in activities.LogTailInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A tail lives as long as it is watched; an attempt that reaches this bound is retried from its heartbeat,
		// so the bound only refreshes the attempt.
		StartToCloseTimeout: 12 * time.Hour,
		HeartbeatTimeout:    activities.TailHeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    15 * time.Second,
			// Unlimited: every attempt first checks that someone still watches, and returns when nobody does.
			MaximumAttempts: 0,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput, activities.ErrTypeDeviceNotFound,
				activities.ErrTypeContainerNotFound, activities.ErrTypeCommandFailed, activities.ErrTypeHostKeyChanged,
				activities.ErrTypeHostKeyUnknown, activities.ErrTypeAuthFailed},
		},
	})
	var a *activities.Activities
	return workflow.ExecuteActivity(ctx, a.TailLogs, in).Get(ctx, nil)
}

// EnsureLogTail starts the tail of in.SourceID unless it runs already (conflict policy use-existing), so every
// watcher on every API replica shares one tail.
func (p *Client) EnsureLogTail(ctx context.Context, in activities.LogTailInput) error {
	_, err := p.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       in.SourceID,
		TaskQueue:                p.TaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, LogTailWorkflowName, in)
	if err != nil {
		return fmt.Errorf("start %s: %w", in.SourceID, err)
	}
	return nil
}
