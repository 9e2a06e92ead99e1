// Package worker runs Infrastructor's Temporal worker: it registers the workflows and activities on the task
// queue and makes sure every enabled device has its poll loop.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/notify"
	"github.com/infrastructor/infrastructor/internal/secret"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// Deps is everything a worker needs from the process that runs it. The product (cmd/infrastructor) and the
// test stack (internal/teststack) both build their worker from it, so they run the same start-up.
type Deps struct {
	// Temporal is the client the worker polls its task queue with; the caller owns it.
	Temporal  client.Client
	TaskQueue string
	// DB is the database the activities read and write; the caller owns it.
	DB  *pgxpool.Pool
	Log *slog.Logger
	// SSH configures the pool the activities reach devices through. Its HostKeys is left empty: the worker
	// checks host keys against the keys pinned in DB.
	SSH sshpool.Config
	// Secrets opens notification channels' credentials (see activities.Activities.Secrets).
	Secrets *secret.Box
	// Notify sends notifications; nil means a sender that refuses loopback receivers.
	Notify *notify.Sender
	// ImageCheckInterval is how long a registry's answer for an image reference is trusted (see
	// activities.Activities.ImageCheckInterval).
	ImageCheckInterval time.Duration
	// Collectors and OpKinds replace the product's inventory collectors and device operation kinds (tests).
	Collectors []activities.InventoryCollector
	OpKinds    []activities.OpKind
}

// Worker is a Temporal worker with every workflow and activity registered, and the SSH pool its activities use.
type Worker struct {
	w   worker.Worker
	ssh *sshpool.Pool
}

// New builds the worker's SSH pool and activities and registers them with every workflow on d.TaskQueue. It
// does not start polling the task queue (see Start).
func New(d Deps) (*Worker, error) {
	if d.Temporal == nil || d.DB == nil || d.Log == nil || d.TaskQueue == "" {
		return nil, errors.New("worker: Temporal, TaskQueue, DB and Log are required")
	}
	sshCfg := d.SSH
	sshCfg.HostKeys = &activities.HostKeys{DB: d.DB}
	ssh, err := sshpool.New(sshCfg)
	if err != nil {
		return nil, err
	}
	acts := &activities.Activities{DB: d.DB, SSH: ssh, Log: d.Log, Secrets: d.Secrets, Notify: d.Notify,
		Collectors: d.Collectors, OpKinds: d.OpKinds, ImageCheckInterval: d.ImageCheckInterval,
		// One copy of the alert configuration per worker process, checked against its version at every evaluation.
		AlertConfig: &store.AlertConfigCache{}}
	return &Worker{w: register(d.Temporal, d.TaskQueue, acts), ssh: ssh}, nil
}

// register builds a Temporal worker on taskQueue with every workflow and the activities registered.
func register(c client.Client, taskQueue string, acts *activities.Activities) worker.Worker {
	w := worker.New(c, taskQueue, worker.Options{
		// Polls are short and I/O bound; many may wait on SSH at once.
		MaxConcurrentActivityExecutionSize: 500,
		WorkerStopTimeout:                  10 * time.Second,
	})
	w.RegisterWorkflowWithOptions(workflows.DevicePollWorkflow, workflowRegisterOptions(workflows.DevicePollWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.ContainerLogsWorkflow, workflowRegisterOptions(workflows.ContainerLogsWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.ZFSSnapshotsWorkflow, workflowRegisterOptions(workflows.ZFSSnapshotsWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.TopProcessesWorkflow, workflowRegisterOptions(workflows.TopProcessesWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.HousekeepingWorkflow, workflowRegisterOptions(workflows.HousekeepingWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.ContainerOperationWorkflow, workflowRegisterOptions(workflows.ContainerOperationWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.DeviceOperationWorkflow, workflowRegisterOptions(workflows.DeviceOperationWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.ImageUpdatesWorkflow, workflowRegisterOptions(workflows.ImageUpdatesWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.NotifyWorkflow, workflowRegisterOptions(workflows.NotifyWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.ScheduledActionWorkflow, workflowRegisterOptions(workflows.ScheduledActionWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.SystemLogsWorkflow, workflowRegisterOptions(workflows.SystemLogsWorkflowName))
	w.RegisterWorkflowWithOptions(workflows.LogTailWorkflow, workflowRegisterOptions(workflows.LogTailWorkflowName))
	w.RegisterActivity(acts)
	return w
}

// Start starts polling the task queue; it does not block.
func (w *Worker) Start() error {
	if err := w.w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	return nil
}

// Stop stops polling the task queue, waits for running activities up to the stop timeout, then closes the SSH
// pool. Call it once, also when Start failed.
func (w *Worker) Stop() {
	w.w.Stop()
	_ = w.ssh.Close()
}

// SSH is the pool the activities reach devices through.
func (w *Worker) SSH() *sshpool.Pool { return w.ssh }

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
