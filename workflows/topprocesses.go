package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
)

// TopProcessesWorkflowName is the registered name of TopProcessesWorkflow.
const TopProcessesWorkflowName = "TopProcesses"

// TopProcessesWorkflowID names one on-request process listing.
func TopProcessesWorkflowID(deviceID, fetchID string) string {
	return "top-processes/" + deviceID + "/" + fetchID
}

// TopProcessesWorkflow lists a device's top processes for the API (which never talks SSH itself). The listing
// goes to PostgreSQL; the history holds only its length, never a command line.
func TopProcessesWorkflow(ctx workflow.Context, in activities.TopProcessesInput) (*activities.TopProcessesResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumAttempts:    2,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput, activities.ErrTypeDeviceNotFound,
				activities.ErrTypeCommandFailed, activities.ErrTypeCommandRefused, activities.ErrTypeHostKeyChanged,
				activities.ErrTypeHostKeyUnknown, activities.ErrTypeAuthFailed},
		},
	})
	var a *activities.Activities
	var res activities.TopProcessesResult
	if err := workflow.ExecuteActivity(ctx, a.FetchTopProcesses, in).Get(ctx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
