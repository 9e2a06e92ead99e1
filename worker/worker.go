// Package worker runs Infrastructor's Temporal worker: it registers the workflows and activities on the task
// queue and makes sure every enabled device has its poll loop.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// New builds a worker on taskQueue with every workflow and the activities registered.
func New(c client.Client, taskQueue string, acts *activities.Activities) worker.Worker {
	w := worker.New(c, taskQueue, worker.Options{
		// Polls are short and I/O bound; many may wait on SSH at once.
		MaxConcurrentActivityExecutionSize: 500,
		WorkerStopTimeout:                  10 * time.Second,
	})
	w.RegisterWorkflowWithOptions(workflows.DevicePollWorkflow, workflowRegisterOptions(workflows.DevicePollWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.ContainerLogsWorkflow, workflowRegisterOptions(workflows.ContainerLogsWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.HousekeepingWorkflow, workflowRegisterOptions(workflows.HousekeepingWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.ContainerOperationWorkflow, workflowRegisterOptions(workflows.ContainerOperationWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.NotifyWorkflow, workflowRegisterOptions(workflows.NotifyWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.ScheduledActionWorkflow, workflowRegisterOptions(workflows.ScheduledActionWorkflowName))
	w.RegisterActivity(acts)
	return w
}

// StartPollingAll (re)starts the poll loop of every enabled device. Starting is idempotent: a loop that is
// already running is left alone.
func StartPollingAll(ctx context.Context, db store.DBTX, p *workflows.Client, log *slog.Logger) error {
	enabled := true
	devices, _, err := store.ListDevices(ctx, db, store.DeviceFilter{Enabled: &enabled})
	if err != nil {
		return fmt.Errorf("list enabled devices: %w", err)
	}
	for _, d := range devices {
		if _, err := p.StartPolling(ctx, d.ID, d.PollInterval); err != nil {
			return fmt.Errorf("start polling %s: %w", d.Name, err)
		}
	}
	log.Info("poll loops ensured", "devices", len(devices))
	return nil
}

func workflowRegisterOptions(name string) workflow.RegisterOptions {
	return workflow.RegisterOptions{Name: name}
}
