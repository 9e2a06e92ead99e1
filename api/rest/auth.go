package rest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/api/httpx"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

// tokenAuth is the middleware in front of every /api/v1 route.
func (s *Server) tokenAuth(c *fiber.Ctx) error {
	c.Set("Cache-Control", "no-store")
	tok, err := s.AuthRequest(c, "rest")
	if err != nil {
		return err
	}
	c.Locals(service.LocalToken, tok)
	return c.Next()
}

// require returns a handler that lets the request through only with scope.
func require(scope string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		tok := tokenOf(c)
		if tok == nil || !tok.Has(scope) {
			return service.Errorf(http.StatusForbidden, "forbidden", "this action needs a token with scope "+scope)
		}
		return c.Next()
	}
}

func tokenOf(c *fiber.Ctx) *store.Token {
	tok, _ := c.Locals(service.LocalToken).(*store.Token)
	return tok
}

// audited records every mutating request after it ran: token, action, target, outcome, and the workflow it
// started. Handlers name the target and workflow with setAudit; the route is the action otherwise.
func (s *Server) audited(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead || c.Method() == fiber.MethodOptions {
		return s.auditedRead(c)
	}
	err := c.Next()
	status := c.Response().StatusCode()
	if err != nil {
		e, _ := httpx.ToEnvelope(err) // the status the error handler will answer with
		status = e.Status
	}
	rec := &store.AuditRecord{
		Action:     c.Method() + " " + c.Route().Path,
		Target:     c.Path(),
		Outcome:    "success",
		StatusCode: status,
		RemoteAddr: c.IP(),
	}
	if status >= 400 {
		rec.Outcome = "failure"
		if status == http.StatusForbidden {
			rec.Outcome = "denied"
		}
	}
	if a, ok := c.Locals(service.LocalAction).(string); ok {
		rec.Action = a
	}
	if t, ok := c.Locals(service.LocalTarget).(string); ok {
		rec.Target = t
	}
	if w, ok := c.Locals(service.LocalWorkflow).(string); ok {
		rec.WorkflowID = &w
	}
	if d, ok := c.Locals(service.LocalDetail).(map[string]any); ok {
		rec.Detail, _ = json.Marshal(d)
	}
	if tok := tokenOf(c); tok != nil {
		id := tok.ID
		rec.TokenID, rec.TokenName = &id, tok.Name
	}
	// The audit write uses its own context so a client that hangs up does not erase the record.
	ctx, cancel := context.WithTimeout(context.Background(), s.Config.ShutdownTimeout)
	defer cancel()
	if aerr := store.InsertAudit(ctx, s.Pool, rec); aerr != nil {
		s.Log.Error("audit record lost", "action", rec.Action, "target", rec.Target, "err", aerr)
		if err == nil {
			return aerr
		}
	}
	return err
}

// auditedRead runs a read and records it only when it was refused for want of scope (throttled per address: a
// token probing what it may read must not fill the log).
func (s *Server) auditedRead(c *fiber.Ctx) error {
	err := c.Next()
	e, _ := httpx.ToEnvelope(err)
	if err != nil && e.Status == http.StatusForbidden {
		s.AuditRefusal(service.Refusal{Action: service.AuditForbidden, Iface: "rest", Addr: c.IP(), Target: c.Path(),
			Status: http.StatusForbidden, Reason: e.Message, Token: tokenOf(c)})
	}
	return err
}

// setAudit names what a mutating handler acted on, for the audit record.
func setAudit(c *fiber.Ctx, action, target string, detail map[string]any) {
	c.Locals(service.LocalAction, action)
	c.Locals(service.LocalTarget, target)
	if detail != nil {
		c.Locals(service.LocalDetail, detail)
	}
}

func setAuditWorkflow(c *fiber.Ctx, workflowID string) { c.Locals(service.LocalWorkflow, workflowID) }

// load resolves the :id of a route to the stored thing get reads, answering 404 naming what for an ID that is not
// one or names nothing.
func load[T any](c *fiber.Ctx, s *Server, what string, get func(context.Context, store.DBTX, uuid.UUID) (T, error)) (T, error) {
	var zero T
	id, err := parseID(c, what)
	if err != nil {
		return zero, err
	}
	v, err := get(c.UserContext(), s.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return zero, service.NotFound(what)
	}
	return v, err
}

func parseID(c *fiber.Ctx, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, service.NotFound(what)
	}
	return id, nil
}
