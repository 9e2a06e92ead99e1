package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
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

// operationRoutes registers container actions and the operations resource.
func (s *Server) operationRoutes(v1 fiber.Router) {
	read, operate := require(store.ScopeRead), require(store.ScopeOperate)
	v1.Post("/devices/:id/containers/:ref/actions", operate, s.containerAction)
	v1.Post("/devices/:id/compose/:project/actions", operate, s.composeAction)
	v1.Post("/devices/:id/operations", operate, s.deviceOperation)
	v1.Post("/devices/:id/compose/:project/confirm", require(store.ScopeAdmin), s.confirmComposeWorkdir)
	v1.Get("/operations", read, s.listOperations)
	v1.Get("/operations/:id", read, s.getOperation)
	v1.Post("/operations/:id/cancel", operate, s.cancelOperation)
}

// view adds the Temporal UI link to an operation.
func (s *Server) view(o *store.Operation) OperationView {
	return OperationView{Operation: o, TemporalUI: s.cfg.TemporalUIURL + "/namespaces/" + s.cfg.TemporalNamespace +
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

// parseWait reads ?wait= (a duration up to MaxOperationWait).
func parseWait(c *fiber.Ctx) (time.Duration, error) {
	v := c.Query("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > MaxOperationWait {
		return 0, invalid(map[string]string{"wait": fmt.Sprintf(`must be a duration up to %s, such as "30s"`, MaxOperationWait)})
	}
	return d, nil
}

// decodeAction reads a ContainerActionRequest body, naming each bad field.
func decodeAction(c *fiber.Ctx) (ContainerActionRequest, error) {
	var req ContainerActionRequest
	raw, err := decodeObject(c)
	if err != nil {
		return req, err
	}
	fd := newFieldDecoder(raw)
	if !fd.get("action", &req.Action, "a string") && fd.errs["action"] == "" {
		fd.fail("action", "is required")
	}
	var timeout int
	if fd.get("timeout", &timeout, "a number of seconds") {
		req.Timeout = &timeout
	}
	fd.get("signal", &req.Signal, "a string such as \"TERM\" or \"9\"")
	fd.get("force", &req.Force, "true or false")
	fd.get("volumes", &req.Volumes, "true or false")
	return req, fd.finish()
}

func (s *Server) containerAction(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	ref := strings.Clone(c.Params("ref"))
	if err := docker.ValidRef(ref); err != nil {
		return invalid(map[string]string{"ref": "must be a container name or ID: " + err.(*docker.ArgError).Reason})
	}
	req, err := decodeAction(c)
	if err != nil {
		return err
	}
	wait, err := parseWait(c)
	if err != nil {
		return err
	}
	setAudit(c, "container."+req.Action, "device/"+d.ID.String()+"/container/"+ref, map[string]any{"action": req.Action,
		"timeout": req.Timeout, "signal": req.Signal, "force": req.Force, "volumes": req.Volumes})
	op, err := s.StartContainerAction(c.UserContext(), tokenOf(c), d.ID, ref, req)
	if op != nil {
		setAuditWorkflow(c, op.WorkflowID)
	}
	if err != nil {
		return err
	}
	return s.answerOperation(c, op, wait)
}

func (s *Server) composeAction(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	project := strings.Clone(c.Params("project"))
	if err := docker.ValidProject(project); err != nil {
		return invalid(map[string]string{"project": "must be a compose project name: " + err.(*docker.ArgError).Reason})
	}
	req, err := decodeAction(c)
	if err != nil {
		return err
	}
	wait, err := parseWait(c)
	if err != nil {
		return err
	}
	setAudit(c, "compose."+req.Action, "device/"+d.ID.String()+"/compose/"+project, map[string]any{"action": req.Action})
	op, err := s.StartComposeAction(c.UserContext(), tokenOf(c), d.ID, project, req)
	if op != nil {
		setAuditWorkflow(c, op.WorkflowID)
	}
	if err != nil {
		return err
	}
	return s.answerOperation(c, op, wait)
}

// answerOperation answers a started operation: 200 with the finished operation when it ended within wait, else
// 202 with its current state and a Location to poll.
func (s *Server) answerOperation(c *fiber.Ctx, op *store.Operation, wait time.Duration) error {
	c.Set(fiber.HeaderLocation, "/api/v1/operations/"+op.ID.String())
	if wait > 0 {
		done, err := s.WaitOperation(c.UserContext(), op.ID, wait)
		if err != nil {
			return err
		}
		op = done
		if store.OpFinal(op.State) {
			return c.Status(http.StatusOK).JSON(s.view(op))
		}
	}
	return c.Status(http.StatusAccepted).JSON(s.view(op))
}

// StartContainerAction validates an action on a device's container, records the operation (pending, with the
// token) and starts its workflow. The MCP layer shares it with REST. Errors are *Error values ready for the
// envelope (404 device, 422 invalid input, 409 another operation running or a read-only device, 503 no Temporal); the returned
// operation is set whenever one was created.
func (s *Server) StartContainerAction(ctx context.Context, tok *store.Token, deviceID uuid.UUID, ref string, req ContainerActionRequest) (*store.Operation, error) {
	in := activities.ContainerOpInput{DeviceID: deviceID.String(), Ref: ref, Action: req.Action, Timeout: req.Timeout,
		Signal: req.Signal, Force: req.Force, Volumes: req.Volumes}
	if err := in.Validate(); err != nil {
		return nil, invalid(argField(err))
	}
	if dev, err := store.GetDevice(ctx, s.pool, deviceID); errors.Is(err, store.ErrNotFound) {
		return nil, notFound("device")
	} else if err != nil {
		return nil, err
	} else if dev.ReadOnly {
		return nil, readOnlyDevice(dev)
	}
	// One spelling per container, so an operation by ID and one by name collide as they should.
	if row, err := store.GetContainer(ctx, s.pool, deviceID, ref); err == nil {
		in.Ref = row.Name
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	params := map[string]any{"timeout": req.Timeout, "signal": req.Signal, "force": req.Force, "volumes": req.Volumes}
	return s.startOperation(ctx, tok, in.WorkflowID(), in.Ref, in, params)
}

// StartComposeAction is StartContainerAction for a compose project (up, down, pull, restart). The project's
// working directory comes from the compose labels of its stored containers.
func (s *Server) StartComposeAction(ctx context.Context, tok *store.Token, deviceID uuid.UUID, project string, req ContainerActionRequest) (*store.Operation, error) {
	in := activities.ContainerOpInput{DeviceID: deviceID.String(), Project: project, Action: req.Action, Timeout: req.Timeout,
		Signal: req.Signal, Force: req.Force, Volumes: req.Volumes}
	if err := in.Validate(); err != nil {
		return nil, invalid(argField(err))
	}
	if dev, err := store.GetDevice(ctx, s.pool, deviceID); errors.Is(err, store.ErrNotFound) {
		return nil, notFound("device")
	} else if err != nil {
		return nil, err
	} else if dev.ReadOnly {
		return nil, readOnlyDevice(dev)
	}
	dir, err := activities.ComposeWorkdir(ctx, s.pool, deviceID, project)
	var ue *activities.UnconfirmedWorkdirError
	switch {
	case errors.As(err, &ue):
		return nil, errorf(http.StatusConflict, "working_dir_unconfirmed", ue.Error()+": "+ue.HowToConfirm(deviceID.String()))
	case errors.Is(err, docker.ErrInvalidArgument):
		return nil, invalid(map[string]string{"working_dir": "the project's " + docker.LabelComposeWorkingDir +
			" label is not an acceptable path: " + err.(*docker.ArgError).Reason})
	case err != nil:
		return nil, err
	}
	in.WorkingDir = dir
	params := map[string]any{"working_dir": in.WorkingDir}
	return s.startOperation(ctx, tok, in.WorkflowID(), "compose:"+project, in, params)
}

// readOnlyDevice is the answer to an operation on a read-only device: 409, before any workflow starts, since the
// worker would refuse it anyway and the device's key may not even allow it.
func readOnlyDevice(dev *store.Device) error {
	return errorf(http.StatusConflict, "device_read_only", "device "+dev.Name+" is read-only: operations are refused (PATCH read_only to false to allow them)")
}

// ComposeConfirmRequest is the body of POST /devices/{id}/compose/{project}/confirm.
type ComposeConfirmRequest struct {
	// WorkingDir must be what the project's com.docker.compose.project.working_dir label says.
	WorkingDir string `json:"working_dir"`
}

// confirmComposeWorkdir lets an admin confirm the working directory a compose project's containers name in their
// label, once per device and project; compose actions use no other directory (#15). The directory must be the
// label's, so a confirmation cannot point compose anywhere the device did not name.
func (s *Server) confirmComposeWorkdir(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	project := strings.Clone(c.Params("project"))
	if err := docker.ValidProject(project); err != nil {
		return invalid(map[string]string{"project": "must be a compose project name: " + err.(*docker.ArgError).Reason})
	}
	raw, err := decodeObject(c)
	if err != nil {
		return err
	}
	var req ComposeConfirmRequest
	fd := newFieldDecoder(raw)
	if !fd.get("working_dir", &req.WorkingDir, "a string") && fd.errs["working_dir"] == "" {
		fd.fail("working_dir", "is required")
	}
	if err := fd.finish(); err != nil {
		return err
	}
	setAudit(c, "compose.confirm_working_dir", "device/"+d.ID.String()+"/compose/"+project, map[string]any{"working_dir": req.WorkingDir})
	if err := docker.ValidWorkdir(req.WorkingDir); err != nil {
		return invalid(map[string]string{"working_dir": err.(*docker.ArgError).Reason})
	}
	ctx := c.UserContext()
	label, err := store.ComposeWorkingDir(ctx, s.pool, d.ID, project)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return invalid(map[string]string{"working_dir": fmt.Sprintf("no known container of compose project %s on this device carries the %s label; nothing to confirm",
			project, docker.LabelComposeWorkingDir)})
	case err != nil:
		return err
	case label != req.WorkingDir:
		return invalid(map[string]string{"working_dir": fmt.Sprintf("does not match the project's %s label, %q",
			docker.LabelComposeWorkingDir, label)})
	}
	w := &store.ComposeWorkdir{DeviceID: d.ID, Project: project, WorkingDir: req.WorkingDir}
	var tokenID *uuid.UUID
	if tok := tokenOf(c); tok != nil {
		id := tok.ID
		tokenID, w.TokenName = &id, tok.Name
	}
	if err := store.ConfirmComposeWorkdir(ctx, s.pool, w, tokenID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("device")
		}
		return err
	}
	return c.JSON(w)
}

func (s *Server) startOperation(ctx context.Context, tok *store.Token, workflowID, target string, in activities.ContainerOpInput, params map[string]any) (*store.Operation, error) {
	op := &store.Operation{ID: uuid.New(), WorkflowID: workflowID, DeviceID: uuid.MustParse(in.DeviceID), Target: target, Action: in.Action}
	return s.launchOperation(ctx, tok, op, params, func(ctx context.Context) (string, error) {
		in.OperationID = op.ID.String()
		return s.wf.StartContainerOperation(ctx, workflowID, workflows.ContainerOperationInput{ContainerOpInput: in})
	})
}

// StartDeviceOperation validates a device operation (a scrub, a self-test, a service or VM action ...) against
// its kind, records it (pending, with the token) and starts its DeviceOperation workflow. REST and MCP share it;
// errors are ready for the envelope like StartContainerAction's.
func (s *Server) StartDeviceOperation(ctx context.Context, tok *store.Token, dev *store.Device, in activities.DeviceOpInput) (*store.Operation, error) {
	in.DeviceID = dev.ID.String()
	if err := activities.ValidateDeviceOp(s.opKinds, in); err != nil {
		return nil, invalid(argField(err))
	}
	if dev.ReadOnly {
		return nil, readOnlyDevice(dev)
	}
	op := &store.Operation{ID: uuid.New(), WorkflowID: in.WorkflowID(), DeviceID: dev.ID, Kind: in.Kind, Target: in.Target,
		Action: in.Action}
	params := map[string]any{}
	for k, v := range in.Params {
		params[k] = v
	}
	return s.launchOperation(ctx, tok, op, params, func(ctx context.Context) (string, error) {
		in.OperationID = op.ID.String()
		return s.wf.StartDeviceOperation(ctx, workflows.DeviceOperationInput{DeviceOpInput: in})
	})
}

// launchOperation stores op as pending and starts its workflow with start; an operation already running on the
// same target is a 409 naming it.
func (s *Server) launchOperation(ctx context.Context, tok *store.Token, op *store.Operation, params map[string]any,
	start func(ctx context.Context) (string, error)) (*store.Operation, error) {
	var err error
	if op.Params, err = marshalParams(params); err != nil {
		return nil, err
	}
	if tok != nil {
		id := tok.ID
		op.TokenID, op.TokenName = &id, tok.Name
	}
	if err := store.CreateOperation(ctx, s.pool, op); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, operationStartTimeout)
	defer cancel()
	runID, err := start(sctx)
	if errors.Is(err, workflows.ErrOperationRunning) {
		// The previous operation on the target may have recorded its outcome and not yet closed its workflow (a
		// moment's work): wait for that close, then start again, rather than answer 409 for a finished operation.
		if _, aerr := store.OtherActiveOperation(ctx, s.pool, op.WorkflowID, op.ID); errors.Is(aerr, store.ErrNotFound) {
			wctx, wcancel := context.WithTimeout(sctx, 5*time.Second)
			if s.wf.WaitContainerOperation(wctx, op.WorkflowID, "") == nil {
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
		if derr := store.DeleteOperation(dctx, s.pool, op.ID); derr != nil {
			s.log.Warn("could not drop an operation that did not start", "operation", op.ID, "err", derr)
		}
		if errors.Is(err, workflows.ErrOperationRunning) {
			msg := "another operation is already running on " + op.Target
			if cur, cerr := store.ActiveOperation(dctx, s.pool, op.WorkflowID); cerr == nil {
				msg = fmt.Sprintf("operation %s (%s, %s) is already running on %s; workflow %s", cur.ID, cur.Action, cur.State, op.Target, op.WorkflowID)
			}
			return op, errorf(http.StatusConflict, "operation_running", msg)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return op, errorf(http.StatusServiceUnavailable, "unavailable", "Temporal did not accept the operation in time")
		}
		return op, err
	}
	if err := store.SetOperationRunID(ctx, s.pool, op.ID, runID); err != nil {
		return op, err
	}
	op.RunID = runID
	return store.GetOperation(ctx, s.pool, op.ID)
}

// WaitOperation waits up to d for the operation to finish and returns its latest state (finished or not). The
// MCP layer shares it with REST.
func (s *Server) WaitOperation(ctx context.Context, id uuid.UUID, d time.Duration) (*store.Operation, error) {
	op, err := store.GetOperation(ctx, s.pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("operation")
	}
	if err != nil || store.OpFinal(op.State) || d <= 0 {
		return op, err
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := s.wf.WaitContainerOperation(wctx, op.WorkflowID, op.RunID); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.log.Warn("waiting for an operation failed", "operation", id, "err", err)
	}
	return store.GetOperation(ctx, s.pool, id)
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

func (s *Server) loadOperation(c *fiber.Ctx) (*store.Operation, error) {
	id, err := parseID(c, "operation")
	if err != nil {
		return nil, err
	}
	op, err := store.GetOperation(c.UserContext(), s.pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("operation")
	}
	return op, err
}

func (s *Server) getOperation(c *fiber.Ctx) error {
	op, err := s.loadOperation(c)
	if err != nil {
		return err
	}
	return c.JSON(s.view(op))
}

func (s *Server) listOperations(c *fiber.Ctx) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	f := store.OperationFilter{State: c.Query("state"), Action: c.Query("action"), Cursor: cursor, Limit: limit}
	fields := map[string]string{}
	if v := c.Query("device_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			fields["device_id"] = "must be a device id (UUID)"
		}
		f.DeviceID = &id
	}
	switch f.State {
	case "", store.OpPending, store.OpRunning, store.OpSucceeded, store.OpFailed, store.OpCancelled:
	default:
		fields["state"] = "must be pending, running, succeeded, failed or cancelled"
	}
	if f.Action != "" && !contains(activities.ContainerActions, f.Action) && !contains(activities.ComposeActions, f.Action) {
		fields["action"] = "must be one of " + strings.Join(append(append([]string{}, activities.ContainerActions...), activities.ActionUp, activities.ActionDown, activities.ActionPull), ", ")
	}
	if len(fields) > 0 {
		return invalid(fields)
	}
	ops, next, err := store.ListOperations(c.UserContext(), s.pool, f)
	if errors.Is(err, store.ErrBadCursor) {
		return invalid(map[string]string{"cursor": "is not a cursor this API returned"})
	}
	if err != nil {
		return err
	}
	views := make([]OperationView, 0, len(ops))
	for _, o := range ops {
		views = append(views, s.view(o))
	}
	var nc *string
	if next != "" {
		nc = &next
	}
	return c.JSON(page(views, nc))
}

// cancelOperation asks a running operation to stop. The operation records itself as cancelled when its current
// step has stopped; an action already sent to the device is not undone.
func (s *Server) cancelOperation(c *fiber.Ctx) error {
	op, err := s.loadOperation(c)
	if err != nil {
		return err
	}
	setAudit(c, "operation.cancel", "operation/"+op.ID.String(), map[string]any{"action": op.Action, "target": op.Target})
	setAuditWorkflow(c, op.WorkflowID)
	if store.OpFinal(op.State) {
		return errorf(http.StatusConflict, "operation_finished", "operation "+op.ID.String()+" already "+op.State)
	}
	operator := s.wf
	if err := operator.CancelContainerOperation(c.UserContext(), op.WorkflowID, op.RunID); err != nil {
		return err
	}
	return c.Status(http.StatusAccepted).JSON(s.view(op))
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
