package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

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

// authFrom authenticates one request of any interface (iface: rest, websocket, mcp) from client address addr: it
// refuses an address that failed too often (429; wait is its Retry-After), audits failures (throttled), applies
// the token's request rate (429) and records the token's use (at most once a minute).
func (s *Server) authFrom(ctx context.Context, iface, addr, target, secret string) (tok *store.Token, wait time.Duration, err error) {
	now := s.now()
	if wait := s.limits.failureWait(addr, now); wait > 0 {
		s.auditRefusal(refusal{action: auditRateLimited, iface: iface, addr: addr, target: target,
			status: http.StatusTooManyRequests, reason: "too many failed authentications"})
		return nil, wait, tooManyRequests(nil, wait, "too many failed authentications from this address")
	}
	tok, err = s.Authenticate(ctx, secret)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		if secret != "" { // only a wrong secret is a guess worth limiting; a missing one is a client still to log in
			s.limits.failed(addr, now, s.cfg.AuthFailuresPerMinute)
		}
		s.auditRefusal(refusal{action: auditUnauthorized, iface: iface, addr: addr, target: target,
			status: http.StatusUnauthorized, reason: e.Message})
		return nil, 0, err
	}
	if err != nil {
		return nil, 0, err
	}
	if wait := s.limits.tokenWait(tok.ID, now, s.cfg.TokenRequestsPerMinute); wait > 0 {
		s.auditRefusal(refusal{action: auditRateLimited, iface: iface, addr: addr, target: target,
			status: http.StatusTooManyRequests, reason: "token request rate exceeded", token: tok})
		return nil, wait, tooManyRequests(nil, wait, "too many requests with this token (INFRA_TOKEN_REQUESTS_PER_MINUTE)")
	}
	s.touchToken(ctx, tok)
	return tok, 0, nil
}

// authRequest is authFrom for a Fiber request; a 401 carries WWW-Authenticate and a 429 Retry-After.
func (s *Server) authRequest(c *fiber.Ctx, iface string) (*store.Token, error) {
	if c.Get(fiber.HeaderAuthorization) == "" && c.Cookies(sessionCookie) != "" {
		return s.authSession(c, iface) // the dashboard's session cookie (web_session.go)
	}
	tok, wait, err := s.authFrom(c.UserContext(), iface, c.IP(), c.Path(), BearerToken(c.Get(fiber.HeaderAuthorization)))
	if wait > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(wait)))
	}
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="infrastructor"`)
	}
	return tok, err
}

// tokenAuth is the middleware in front of every /api/v1 route.
func (s *Server) tokenAuth(c *fiber.Ctx) error {
	c.Set("Cache-Control", "no-store")
	tok, err := s.authRequest(c, "rest")
	if err != nil {
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
		return s.auditedRead(c)
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

// auditedRead runs a read and records it only when it was refused for want of scope (throttled per address: a
// token probing what it may read must not fill the log).
func (s *Server) auditedRead(c *fiber.Ctx) error {
	err := c.Next()
	e, _ := toEnvelope(err)
	if err != nil && e.Status == http.StatusForbidden {
		s.auditRefusal(refusal{action: auditForbidden, iface: "rest", addr: c.IP(), target: c.Path(),
			status: http.StatusForbidden, reason: e.Message, token: tokenOf(c)})
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
