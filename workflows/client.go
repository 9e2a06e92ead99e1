package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// Client starts, signals, queries and waits for every workflow of Infrastructor through a Temporal client: poll
// loops, container operations, log fetches, user schedules and test notices. The API and the worker use it;
// neither talks SSH.
type Client struct {
	Client    client.Client
	TaskQueue string
}

// StartPolling starts the device's poll loop unless it is already running, and brings a running loop's
// interval in line with the device. It returns the workflow ID.
// It needs no running worker: the start and the interval signal are stored by Temporal in one call.
func (p *Client) StartPolling(ctx context.Context, deviceID uuid.UUID, interval time.Duration) (string, error) {
	id := DevicePollWorkflowID(deviceID.String())
	_, err := p.Client.SignalWithStartWorkflow(ctx, id, SignalSetInterval, interval, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             p.TaskQueue,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, DevicePollWorkflowName, DevicePollInput{DeviceID: deviceID.String(), Interval: interval})
	if err != nil {
		return "", fmt.Errorf("start %s: %w", id, err)
	}
	return id, nil
}

// Signal sends a pause, resume or set-interval signal to the device's poll loop.
func (p *Client) Signal(ctx context.Context, deviceID uuid.UUID, name string, arg any) error {
	err := p.Client.SignalWorkflow(ctx, DevicePollWorkflowID(deviceID.String()), "", name, arg)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return ErrNotPolling
	}
	return err
}

// StopPolling ends the device's poll loop. A loop that does not run is not an error.
func (p *Client) StopPolling(ctx context.Context, id uuid.UUID) error {
	err := p.Client.TerminateWorkflow(ctx, DevicePollWorkflowID(id.String()), "", "device disabled or deleted")
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("stop polling %s: %w", id, err)
	}
	return nil
}

// ErrNotPolling means the device has no running poll loop (it is disabled, or the worker has not started it).
var ErrNotPolling = errors.New("device is not being polled")

// Update sends a poll-loop update (poll-now) and waits for its result.
func (p *Client) Update(ctx context.Context, id uuid.UUID, name string, args ...any) (client.WorkflowUpdateHandle, error) {
	h, err := p.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   DevicePollWorkflowID(id.String()),
		UpdateName:   name,
		Args:         args,
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, ErrNotPolling
	}
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", name, DevicePollWorkflowID(id.String()), err)
	}
	return h, nil
}

// Status queries the poll loop's state.
func (p *Client) Status(ctx context.Context, id uuid.UUID) (*DevicePollState, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := p.Client.QueryWorkflow(ctx, DevicePollWorkflowID(id.String()), "", QueryStatus)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, ErrNotPolling
	}
	if err != nil {
		return nil, err
	}
	var st DevicePollState
	if err := v.Get(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// PollNow asks the poll loop to poll at once and waits for the poll's summary.
func (p *Client) PollNow(ctx context.Context, id uuid.UUID) (*PollNowResult, error) {
	h, err := p.Update(ctx, id, UpdatePollNow)
	if err != nil {
		return nil, err
	}
	var res PollNowResult
	if err := h.Get(ctx, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
