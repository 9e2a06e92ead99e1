package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// Operator starts, waits for and cancels ContainerOperation and DeviceOperation workflows (workflows.Client in
// production).
type Operator interface {
	StartContainerOperation(ctx context.Context, workflowID string, in workflows.ContainerOperationInput) (string, error)
	StartDeviceOperation(ctx context.Context, in workflows.DeviceOperationInput) (string, error)
	WaitContainerOperation(ctx context.Context, workflowID, runID string) error
	CancelContainerOperation(ctx context.Context, workflowID, runID string) error
}

// MaxOperationWait bounds ?wait= on action requests.
const MaxOperationWait = 5 * time.Minute

// operationStartTimeout bounds the call that starts an operation's workflow.
const operationStartTimeout = 15 * time.Second

// ContainerActionRequest is the body of POST .../containers/{ref}/actions and .../compose/{project}/actions.
type ContainerActionRequest struct {
	Action string `json:"action"`
	// Timeout is the stop/restart grace period in seconds (0..3600; default 10).
	Timeout *int `json:"timeout,omitempty"`
	// Signal is kill's signal (name or number; default KILL).
	Signal string `json:"signal,omitempty"`
	// Force and Volumes are remove's options.
	Force   bool `json:"force,omitempty"`
	Volumes bool `json:"volumes,omitempty"`
}

// OperationView is an operation as the API shows it: the stored row and a link to its workflow's history.
type OperationView struct {
	*store.Operation
	TemporalUI string `json:"temporal_ui"`
}

// View adds the Temporal UI link to an operation.
func (s *Service) View(o *store.Operation) OperationView {
	return OperationView{Operation: o, TemporalUI: s.Config.TemporalUIURL + "/namespaces/" + s.Config.TemporalNamespace +
		"/workflows/" + o.WorkflowID}
}

// argField maps a validation error of the docker package to the request field it came from.
func argField(err error) map[string]string {
	var ae *docker.ArgError
	if errors.As(err, &ae) {
		name := ae.Arg
		switch name {
		case "workdir":
			name = "working_dir"
		}
		return map[string]string{name: ae.Reason}
	}
	return map[string]string{"body": err.Error()}
}

// checkContainerOp validates a container or compose operation and its device: known, and not read-only.
func (s *Service) checkContainerOp(ctx context.Context, in activities.ContainerOpInput, deviceID uuid.UUID) error {
	if err := in.Validate(); err != nil {
		return Invalid(argField(err))
	}
	dev, err := store.GetDevice(ctx, s.Pool, deviceID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return NotFound("device")
	case err != nil:
		return err
	case dev.ReadOnly:
		return ReadOnlyDevice(dev)
	}
	return nil
}

// StartContainerAction validates an action on a device's container, records the operation (pending, with the
// token) and starts its workflow. The MCP layer shares it with REST. Errors are *Error values ready for the
// envelope (404 device, 422 invalid input, 409 another operation running or a read-only device, 503 no Temporal); the returned
// operation is set whenever one was created.
func (s *Service) StartContainerAction(ctx context.Context, tok *store.Token, deviceID uuid.UUID, ref string, req ContainerActionRequest) (*store.Operation, error) {
	in := activities.ContainerOpInput{DeviceID: deviceID.String(), Ref: ref, Action: req.Action, Timeout: req.Timeout,
		Signal: req.Signal, Force: req.Force, Volumes: req.Volumes}
	if err := s.checkContainerOp(ctx, in, deviceID); err != nil {
		return nil, err
	}
	// One spelling per container, so an operation by ID and one by name collide as they should.
	if row, err := store.GetContainer(ctx, s.Pool, deviceID, ref); err == nil {
		in.Ref = row.Name
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	params := map[string]any{"timeout": req.Timeout, "signal": req.Signal, "force": req.Force, "volumes": req.Volumes}
	return s.startOperation(ctx, tok, in.WorkflowID(), in.Ref, in, params)
}

// StartComposeAction is StartContainerAction for a compose project (up, down, pull, restart). The project's
// working directory comes from the compose labels of its stored containers.
func (s *Service) StartComposeAction(ctx context.Context, tok *store.Token, deviceID uuid.UUID, project string, req ContainerActionRequest) (*store.Operation, error) {
	in := activities.ContainerOpInput{DeviceID: deviceID.String(), Project: project, Action: req.Action, Timeout: req.Timeout,
		Signal: req.Signal, Force: req.Force, Volumes: req.Volumes}
	if err := s.checkContainerOp(ctx, in, deviceID); err != nil {
		return nil, err
	}
	dir, err := activities.ComposeWorkdir(ctx, s.Pool, deviceID, project)
	var ue *activities.UnconfirmedWorkdirError
	switch {
	case errors.As(err, &ue):
		return nil, Errorf(http.StatusConflict, "working_dir_unconfirmed", ue.Error()+": "+ue.HowToConfirm(deviceID.String()))
	case errors.Is(err, docker.ErrInvalidArgument):
		return nil, Invalid(map[string]string{"working_dir": "the project's " + docker.LabelComposeWorkingDir +
			" label is not an acceptable path: " + err.(*docker.ArgError).Reason})
	case err != nil:
		return nil, err
	}
	in.WorkingDir = dir
	params := map[string]any{"working_dir": in.WorkingDir}
	return s.startOperation(ctx, tok, in.WorkflowID(), "compose:"+project, in, params)
}

// ReadOnlyDevice is the answer to an operation on a read-only device: 409, before any workflow starts, since the
// worker would refuse it anyway and the device's key may not even allow it.
func ReadOnlyDevice(dev *store.Device) error {
	return Errorf(http.StatusConflict, "device_read_only", "device "+dev.Name+" is read-only: operations are refused (PATCH read_only to false to allow them)")
}

func (s *Service) startOperation(ctx context.Context, tok *store.Token, workflowID, target string, in activities.ContainerOpInput, params map[string]any) (*store.Operation, error) {
	op := &store.Operation{ID: uuid.New(), WorkflowID: workflowID, DeviceID: uuid.MustParse(in.DeviceID), Target: target, Action: in.Action}
	return s.launchOperation(ctx, tok, op, params, func(ctx context.Context) (string, error) {
		in.OperationID = op.ID.String()
		return s.Workflows.StartContainerOperation(ctx, workflowID, workflows.ContainerOperationInput{ContainerOpInput: in})
	})
}

// StartDeviceOperation validates a device operation (a scrub, a self-test, a service or VM action ...) against
// its kind, records it (pending, with the token) and starts its DeviceOperation workflow. REST and MCP share it;
// errors are ready for the envelope like StartContainerAction's.
func (s *Service) StartDeviceOperation(ctx context.Context, tok *store.Token, dev *store.Device, in activities.DeviceOpInput) (*store.Operation, error) {
	in.DeviceID = dev.ID.String()
	if err := activities.ValidateDeviceOp(s.OpKinds, in); err != nil {
		return nil, Invalid(argField(err))
	}
	if dev.ReadOnly {
		return nil, ReadOnlyDevice(dev)
	}
	op := &store.Operation{ID: uuid.New(), WorkflowID: in.WorkflowID(), DeviceID: dev.ID, Kind: in.Kind, Target: in.Target,
		Action: in.Action}
	params := map[string]any{}
	for k, v := range in.Params {
		params[k] = v
	}
	return s.launchOperation(ctx, tok, op, params, func(ctx context.Context) (string, error) {
		in.OperationID = op.ID.String()
		return s.Workflows.StartDeviceOperation(ctx, workflows.DeviceOperationInput{DeviceOpInput: in})
	})
}

// launchOperation stores op as pending and starts its workflow with start; an operation already running on the
// same target is a 409 naming it.
func (s *Service) launchOperation(ctx context.Context, tok *store.Token, op *store.Operation, params map[string]any,
	start func(ctx context.Context) (string, error)) (*store.Operation, error) {
	var err error
	if op.Params, err = marshalParams(params); err != nil {
		return nil, err
	}
	if tok != nil {
		id := tok.ID
		op.TokenID, op.TokenName = &id, tok.Name
	}
	if err := store.CreateOperation(ctx, s.Pool, op); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, operationStartTimeout)
	defer cancel()
	runID, err := start(sctx)
	if errors.Is(err, workflows.ErrOperationRunning) {
		// The previous operation on the target may have recorded its outcome and not yet closed its workflow (a
		// moment's work): wait for that close, then start again, rather than answer 409 for a finished operation.
		if _, aerr := store.OtherActiveOperation(ctx, s.Pool, op.WorkflowID, op.ID); errors.Is(aerr, store.ErrNotFound) {
			wctx, wcancel := context.WithTimeout(sctx, 5*time.Second)
			if s.Workflows.WaitContainerOperation(wctx, op.WorkflowID, "") == nil {
				runID, err = start(sctx)
			}
			wcancel()
		}
	}
	if err != nil {
		// The row of an operation that never started would only confuse: drop it (the audit log keeps the
		// attempt).
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer dcancel()
		if derr := store.DeleteOperation(dctx, s.Pool, op.ID); derr != nil {
			s.Log.Warn("could not drop an operation that did not start", "operation", op.ID, "err", derr)
		}
		if errors.Is(err, workflows.ErrOperationRunning) {
			msg := "another operation is already running on " + op.Target
			if cur, cerr := store.ActiveOperation(dctx, s.Pool, op.WorkflowID); cerr == nil {
				msg = fmt.Sprintf("operation %s (%s, %s) is already running on %s; workflow %s", cur.ID, cur.Action, cur.State, op.Target, op.WorkflowID)
			}
			return op, Errorf(http.StatusConflict, "operation_running", msg)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return op, Errorf(http.StatusServiceUnavailable, "unavailable", "Temporal did not accept the operation in time")
		}
		return op, err
	}
	if err := store.SetOperationRunID(ctx, s.Pool, op.ID, runID); err != nil {
		return op, err
	}
	op.RunID = runID
	return store.GetOperation(ctx, s.Pool, op.ID)
}

// WaitOperation waits up to d for the operation to finish and returns its latest state (finished or not). The
// MCP layer shares it with REST.
func (s *Service) WaitOperation(ctx context.Context, id uuid.UUID, d time.Duration) (*store.Operation, error) {
	op, err := store.GetOperation(ctx, s.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("operation")
	}
	if err != nil || store.OpFinal(op.State) || d <= 0 {
		return op, err
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := s.Workflows.WaitContainerOperation(wctx, op.WorkflowID, op.RunID); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.Log.Warn("waiting for an operation failed", "operation", id, "err", err)
	}
	return store.GetOperation(ctx, s.Pool, id)
}

func marshalParams(p map[string]any) ([]byte, error) {
	clean := map[string]any{}
	for k, v := range p {
		switch x := v.(type) {
		case *int:
			if x != nil {
				clean[k] = *x
			}
		case string:
			if x != "" {
				clean[k] = x
			}
		case bool:
			if x {
				clean[k] = x
			}
		default:
			clean[k] = v
		}
	}
	return json.Marshal(clean)
}
