package workflows

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/vocab"
)

// NotifyWorkflowName is the registered name of the Notify workflow.
const NotifyWorkflowName = "Notify"

// NotifyWorkflowID is the workflow ID of one notice: notify/<alert-id>/<seq>, or notify/test/<delivery-id>.
// One ID per notice means a notice is started at most once however often its start is retried.
func NotifyWorkflowID(key string) string { return "notify/" + key }

// NotifyInput names a notice's deliveries, one per channel. Only IDs: messages and credentials stay in the
// database.
type NotifyInput struct {
	Key         string
	DeliveryIDs []int64
}

// NotifyResult counts the outcomes.
type NotifyResult struct {
	Sent   int
	Failed int
}

// notifyActivityOptions retry a delivery for up to a day with a back-off capped at five minutes: a channel that
// is down for an hour gets the notice a few minutes after it is back.
func notifyActivityOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: activities.NotifyScheduleToClose,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    5 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
			// The day-long schedule-to-close is the real bound (about 300 attempts); the cap is explicit so no
			// environment substitutes a small default for "unlimited".
			MaximumAttempts: 1000,
			NonRetryableErrorTypes: []string{activities.ErrTypeNotificationRejected, activities.ErrTypeInvalidInput,
				activities.ErrTypeDeviceNotFound},
		},
	}
}

// NotifyWorkflow delivers one notice to each of its channels, in parallel across channels. Each delivery is
// retried until it lands or a day has passed; the activity sends a notice only after the earlier notices of the
// same alert reached that channel, so they arrive in order, and never sends one twice.
func NotifyWorkflow(ctx workflow.Context, in NotifyInput) (*NotifyResult, error) {
	logger := workflow.GetLogger(ctx)
	actx := workflow.WithActivityOptions(ctx, notifyActivityOptions())
	var a *activities.Activities
	res := &NotifyResult{}
	wg := workflow.NewWaitGroup(ctx)
	for _, id := range in.DeliveryIDs {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			var out activities.DeliverResult
			err := workflow.ExecuteActivity(actx, a.DeliverNotification, activities.DeliverInput{DeliveryID: id}).Get(ctx, &out)
			if err == nil {
				if out.State == vocab.DeliverySent {
					res.Sent++
				}
				return
			}
			res.Failed++
			logger.Warn("notification not delivered", "notice", in.Key, "delivery", id, "err", err)
			fctx := workflow.WithActivityOptions(ctx, shortActivityOptions)
			if ferr := workflow.ExecuteActivity(fctx, a.FailDelivery, activities.DeliverInput{DeliveryID: id},
				rootMessage(err)).Get(ctx, nil); ferr != nil {
				logger.Error("could not record the failed delivery", "delivery", id, "err", ferr)
			}
		})
	}
	wg.Wait(ctx)
	return res, nil
}

// startNotices starts a Notify workflow per notice as an abandoned child, so it outlives the poll loop's run,
// and waits until each has started (a child not yet started would be lost by continue-as-new). A notice whose
// workflow already exists is not started again.
func startNotices(ctx workflow.Context, notices []activities.Notice) {
	for _, n := range notices {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            NotifyWorkflowID(n.WorkflowKey()),
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowRunTimeout:    activities.NotifyScheduleToClose + time.Hour,
		})
		f := workflow.ExecuteChildWorkflow(cctx, NotifyWorkflowName, NotifyInput{Key: n.WorkflowKey(), DeliveryIDs: n.DeliveryIDs})
		if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Info("notify workflow not started", "notice", n.WorkflowKey(), "err", err)
		}
	}
}

// Notifier starts Notify workflows from outside a workflow (the API's test-send).
type Notifier struct {
	Client    client.Client
	TaskQueue string
}

// SendTest starts the Notify workflow of a queued test delivery and waits up to ctx's deadline for its outcome.
func (n *Notifier) SendTest(ctx context.Context, deliveryID int64) (*NotifyResult, error) {
	key := fmt.Sprintf("test/%d", deliveryID)
	run, err := n.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        NotifyWorkflowID(key),
		TaskQueue: n.TaskQueue,
		// A test is for now: a minute of retries, not a day.
		WorkflowExecutionTimeout: 2 * time.Minute,
	}, NotifyWorkflowName, NotifyInput{Key: key, DeliveryIDs: []int64{deliveryID}})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", NotifyWorkflowID(key), err)
	}
	var res NotifyResult
	if err := run.Get(ctx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// SendTest runs the Notify workflow of a queued test delivery (see Notifier.SendTest); it lets the API
// serve the test-send endpoint.
func (p *Client) SendTest(ctx context.Context, deliveryID int64) (*NotifyResult, error) {
	return (&Notifier{Client: p.Client, TaskQueue: p.TaskQueue}).SendTest(ctx, deliveryID)
}
