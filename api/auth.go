package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/internal/store"
)

const (
	localToken    = "token"
	localTarget   = "audit_target"
	localWorkflow = "audit_workflow"
	localDetail   = "audit_detail"
	localAction   = "audit_action"
)

// BearerToken extracts the secret of an "Authorization: Bearer" header, or "".
func BearerToken(header string) string {
	scheme, secret, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(secret)
}

// Authenticate resolves a bearer secret to a live token. It is shared by REST, WebSocket and MCP.
func (s *Server) Authenticate(ctx context.Context, secret string) (*store.Token, error) {
	if secret == "" {
		return nil, errorf(http.StatusUnauthorized, "unauthorized", "missing bearer token")
	}
	tok, err := store.TokenBySecret(ctx, s.pool, secret, s.now())
	if err == store.ErrNotFound {
		return nil, errorf(http.StatusUnauthorized, "unauthorized", "invalid, expired or revoked token")
	}
	if err != nil {
		return nil, err
	}
	return tok, nil
}

// authenticate is the middleware in front of every /api/v1 route.
func (s *Server) authenticate(c *fiber.Ctx) error {
	c.Set("Cache-Control", "no-store")
	tok, err := s.Authenticate(c.UserContext(), BearerToken(c.Get(fiber.HeaderAuthorization)))
	if err != nil {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="infrastructor"`)
		return err
	}
	c.Locals(localToken, tok)
	return c.Next()
}

// require returns a handler that lets the request through only with scope.
func require(scope string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		tok := tokenOf(c)
		if tok == nil || !tok.Has(scope) {
			return errorf(http.StatusForbidden, "forbidden", "this action needs a token with scope "+scope)
		}
		return c.Next()
	}
}

func tokenOf(c *fiber.Ctx) *store.Token {
	tok, _ := c.Locals(localToken).(*store.Token)
	return tok
}

// audited records every mutating request after it ran: token, action, target, outcome, and the workflow it
// started. Handlers name the target and workflow with setAudit; the route is the action otherwise.
func (s *Server) audited(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead || c.Method() == fiber.MethodOptions {
		return c.Next()
	}
	err := c.Next()
	status := c.Response().StatusCode()
	if err != nil {
		e, _ := toEnvelope(err) // the status the error handler will answer with
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
	if a, ok := c.Locals(localAction).(string); ok {
		rec.Action = a
	}
	if t, ok := c.Locals(localTarget).(string); ok {
		rec.Target = t
	}
	if w, ok := c.Locals(localWorkflow).(string); ok {
		rec.WorkflowID = &w
	}
	if d, ok := c.Locals(localDetail).(map[string]any); ok {
		rec.Detail, _ = json.Marshal(d)
	}
	if tok := tokenOf(c); tok != nil {
		id := tok.ID
		rec.TokenID, rec.TokenName = &id, tok.Name
	}
	// The audit write uses its own context so a client that hangs up does not erase the record.
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if aerr := store.InsertAudit(ctx, s.pool, rec); aerr != nil {
		s.log.Error("audit record lost", "action", rec.Action, "target", rec.Target, "err", aerr)
		if err == nil {
			return aerr
		}
	}
	return err
}

// setAudit names what a mutating handler acted on, for the audit record.
func setAudit(c *fiber.Ctx, action, target string, detail map[string]any) {
	c.Locals(localAction, action)
	c.Locals(localTarget, target)
	if detail != nil {
		c.Locals(localDetail, detail)
	}
}

func setAuditWorkflow(c *fiber.Ctx, workflowID string) { c.Locals(localWorkflow, workflowID) }

func parseID(c *fiber.Ctx, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, notFound(what)
	}
	return id, nil
}
