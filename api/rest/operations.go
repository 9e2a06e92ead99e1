package rest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

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

// parseWait reads ?wait= (a duration up to MaxOperationWait).
func parseWait(c *fiber.Ctx) (time.Duration, error) {
	v := c.Query("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > service.MaxOperationWait {
		return 0, service.Invalid(map[string]string{"wait": fmt.Sprintf(`must be a duration up to %s, such as "30s"`, service.MaxOperationWait)})
	}
	return d, nil
}

// decodeAction reads a ContainerActionRequest body, naming each bad field.
func decodeAction(c *fiber.Ctx) (service.ContainerActionRequest, error) {
	var req service.ContainerActionRequest
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
	ref := strings.Clone(c.Params("ref"))
	return s.dockerAction(c, func() error {
		if err := docker.ValidRef(ref); err != nil {
			return service.Invalid(map[string]string{"ref": "must be a container name or ID: " + err.(*docker.ArgError).Reason})
		}
		return nil
	}, func(d *store.Device, req service.ContainerActionRequest) (*store.Operation, error) {
		setAudit(c, "container."+req.Action, "device/"+d.ID.String()+"/container/"+ref, map[string]any{"action": req.Action,
			"timeout": req.Timeout, "signal": req.Signal, "force": req.Force, "volumes": req.Volumes})
		return s.StartContainerAction(c.UserContext(), tokenOf(c), d.ID, ref, req)
	})
}

func (s *Server) composeAction(c *fiber.Ctx) error {
	project := strings.Clone(c.Params("project"))
	return s.dockerAction(c, func() error {
		if err := docker.ValidProject(project); err != nil {
			return service.Invalid(map[string]string{"project": "must be a compose project name: " + err.(*docker.ArgError).Reason})
		}
		return nil
	}, func(d *store.Device, req service.ContainerActionRequest) (*store.Operation, error) {
		setAudit(c, "compose."+req.Action, "device/"+d.ID.String()+"/compose/"+project, map[string]any{"action": req.Action})
		return s.StartComposeAction(c.UserContext(), tokenOf(c), d.ID, project, req)
	})
}

// dockerAction reads the device, checks the target (check), reads the action body and ?wait=, starts the operation
// with start (which audits it) and answers it.
func (s *Server) dockerAction(c *fiber.Ctx, check func() error,
	start func(*store.Device, service.ContainerActionRequest) (*store.Operation, error)) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	if err := check(); err != nil {
		return err
	}
	req, err := decodeAction(c)
	if err != nil {
		return err
	}
	wait, err := parseWait(c)
	if err != nil {
		return err
	}
	op, err := start(d, req)
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
			return c.Status(http.StatusOK).JSON(s.View(op))
		}
	}
	return c.Status(http.StatusAccepted).JSON(s.View(op))
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
		return service.Invalid(map[string]string{"project": "must be a compose project name: " + err.(*docker.ArgError).Reason})
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
		return service.Invalid(map[string]string{"working_dir": err.(*docker.ArgError).Reason})
	}
	ctx := c.UserContext()
	label, err := store.ComposeWorkingDir(ctx, s.Pool, d.ID, project)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return service.Invalid(map[string]string{"working_dir": fmt.Sprintf("no known container of compose project %s on this device carries the %s label; nothing to confirm",
			project, docker.LabelComposeWorkingDir)})
	case err != nil:
		return err
	case label != req.WorkingDir:
		return service.Invalid(map[string]string{"working_dir": fmt.Sprintf("does not match the project's %s label, %q",
			docker.LabelComposeWorkingDir, label)})
	}
	w := &store.ComposeWorkdir{DeviceID: d.ID, Project: project, WorkingDir: req.WorkingDir}
	var tokenID *uuid.UUID
	if tok := tokenOf(c); tok != nil {
		id := tok.ID
		tokenID, w.TokenName = &id, tok.Name
	}
	if err := store.ConfirmComposeWorkdir(ctx, s.Pool, w, tokenID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return service.NotFound("device")
		}
		return err
	}
	return c.JSON(w)
}

func (s *Server) loadOperation(c *fiber.Ctx) (*store.Operation, error) {
	return load(c, s, "operation", store.GetOperation)
}

func (s *Server) getOperation(c *fiber.Ctx) error {
	op, err := s.loadOperation(c)
	if err != nil {
		return err
	}
	return c.JSON(s.View(op))
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
	if f.Action != "" && !slices.Contains(activities.ContainerActions, f.Action) && !slices.Contains(activities.ComposeActions, f.Action) {
		fields["action"] = "must be one of " + strings.Join(append(append([]string{}, activities.ContainerActions...), activities.ActionUp, activities.ActionDown, activities.ActionPull), ", ")
	}
	if len(fields) > 0 {
		return service.Invalid(fields)
	}
	ops, next, err := store.ListOperations(c.UserContext(), s.Pool, f)
	if errors.Is(err, store.ErrBadCursor) {
		return service.Invalid(map[string]string{"cursor": "is not a cursor this API returned"})
	}
	if err != nil {
		return err
	}
	views := make([]service.OperationView, 0, len(ops))
	for _, o := range ops {
		views = append(views, s.View(o))
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
		return service.Errorf(http.StatusConflict, "operation_finished", "operation "+op.ID.String()+" already "+op.State)
	}
	operator := s.Workflows
	if err := operator.CancelContainerOperation(c.UserContext(), op.WorkflowID, op.RunID); err != nil {
		return err
	}
	return c.Status(http.StatusAccepted).JSON(s.View(op))
}
