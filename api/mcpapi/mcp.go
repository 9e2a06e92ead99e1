// Package mcpapi serves the MCP endpoint (/mcp) for LLM agents over the shared service layer: tools, resources
// and progress notifications.
package mcpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/infrastructor/infrastructor/api/httpx"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/hub"
	"github.com/infrastructor/infrastructor/internal/store"
)

// Server holds the MCP endpoint's dependencies.
type Server struct{ *httpx.Gate }

// New builds the server over the shared gate.
func New(g *httpx.Gate) *Server { return &Server{Gate: g} }

// MCPPath is where the MCP endpoint (streamable HTTP) is served.
const MCPPath = "/mcp"

// mcpInstructions is what an MCP client shows its model about this server.
const mcpInstructions = `Infrastructor watches a fleet of Linux machines over SSH and manages Docker containers on them.
Start with fleet_health or list_devices. Devices can be named by id or by name. Metrics are summarised (min/avg/max/last
and trend) per window; the resource infra://schema/metrics lists every metric and unit. Container actions run as
durable operations: container_action waits a bounded time, then returns the result or an operation id to pass to
get_operation.`

// mcpEndpoint is the MCP server at /mcp: tools, resources and prompts over the same stores and workflows as REST.
type mcpEndpoint struct {
	s    *Server
	srv  *server.MCPServer
	http *server.StreamableHTTPServer
}

type mcpCtxKey int

const (
	mcpTokenKey mcpCtxKey = iota
	mcpRemoteKey
)

func mcpToken(ctx context.Context) *store.Token {
	tok, _ := ctx.Value(mcpTokenKey).(*store.Token)
	return tok
}

// newMCP builds the MCP server with every tool, resource and prompt.
func (s *Server) newMCP() *mcpEndpoint {
	e := &mcpEndpoint{s: s}
	hooks := &server.Hooks{}
	hooks.AddBeforeCallTool(e.auditHiddenCall)
	e.srv = server.NewMCPServer("infrastructor", mcpServerVersion,
		server.WithHooks(hooks),
		server.WithInstructions(mcpInstructions),
		server.WithToolCapabilities(false),
		server.WithResourceCapabilities(false, false),
		server.WithPromptCapabilities(false),
		server.WithToolFilter(e.visibleTools),
		server.WithRecovery(),
	)
	e.addTools()
	e.addImageTools()
	e.addResources()
	e.addPrompts()
	// Stateless: every request carries its token and needs no server-side session, so any API replica behind a
	// load balancer can answer any request.
	e.http = server.NewStreamableHTTPServer(e.srv, server.WithStateLess(true), server.WithEndpointPath(MCPPath),
		server.WithStreamableHTTPLogger(s.Log))
	return e
}

// mcpServerVersion is the version MCP clients see in the server's implementation info.
const mcpServerVersion = "1.0.0"

// Mount serves the MCP endpoint on the Fiber app.
func (s *Server) Mount(app fiber.Router) {
	e := s.newMCP()
	app.All(MCPPath, e.handle)
}

// handle authenticates the request (401 without a valid token, before any MCP processing) and runs it through
// mcp-go, streaming progress notifications as they are sent.
func (e *mcpEndpoint) handle(c *fiber.Ctx) error {
	c.Set("Cache-Control", "no-store")
	// Every request authenticates (the endpoint is stateless), so a revoked token's next request is refused.
	tok, err := e.s.AuthRequest(c, "mcp")
	if err != nil {
		return err
	}
	switch c.Method() {
	case fiber.MethodPost, fiber.MethodDelete:
	default:
		// No standalone notification stream: the server sends notifications only while answering a request, so
		// a GET stream would be an idle connection held open forever (the transport allows 405 here).
		c.Set(fiber.HeaderAllow, "POST, DELETE")
		return service.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "use POST for MCP messages")
	}
	req := &server.HTTPRequest{
		Method: c.Method(),
		URL:    &url.URL{Path: MCPPath},
		Header: http.Header{},
		// Copies: Fiber reuses its buffers once the handler returns, and a stream outlives it.
		Body: append([]byte(nil), c.Body()...),
	}
	c.Request().Header.VisitAll(func(k, v []byte) { req.Header.Add(string(k), string(v)) })
	ctx := context.WithValue(context.WithoutCancel(c.UserContext()), mcpTokenKey, tok)
	ctx = context.WithValue(ctx, mcpRemoteKey, c.IP())
	return serveStreaming(c, ctx, func(ctx context.Context, w *streamResponse) {
		req.Context = ctx
		e.http.Handle(w, req)
	})
}

// visibleTools hides the write tools from tokens without the operate scope, and from everyone in read-only mode.
// mcp-go applies the same filter to tools/call, so a hidden tool cannot be called either.
func (e *mcpEndpoint) visibleTools(ctx context.Context, tools []mcp.Tool) []mcp.Tool {
	out := make([]mcp.Tool, 0, len(tools))
	for _, t := range tools {
		if e.allowed(ctx, t) {
			out = append(out, t)
		}
	}
	return out
}

// allowed says whether the request's token may see and call t: read tools always; write tools with scope
// operate (admin for mcpAdminTools), never in read-only mode.
func (e *mcpEndpoint) allowed(ctx context.Context, t mcp.Tool) bool {
	if !isWriteTool(t) {
		return true
	}
	tok := mcpToken(ctx)
	need := store.ScopeOperate
	if mcpAdminTools[t.Name] {
		need = store.ScopeAdmin
	}
	return !e.s.Config.MCPReadOnly && tok != nil && tok.Has(need)
}

// auditHiddenCall records (throttled) a call of a tool the token may not use: mcp-go answers it as an unknown tool
// before any handler runs, so this hook is the only place that sees the refusal (#15).
func (e *mcpEndpoint) auditHiddenCall(ctx context.Context, _ any, req *mcp.CallToolRequest) {
	t := e.srv.GetTool(req.Params.Name)
	if t == nil || e.allowed(ctx, t.Tool) {
		return
	}
	remote, _ := ctx.Value(mcpRemoteKey).(string)
	e.s.AuditRefusal(service.Refusal{Action: service.AuditForbidden, Iface: "mcp", Addr: remote, Target: "mcp." + req.Params.Name,
		Status: http.StatusForbidden, Reason: "the token's scope or the read-only mode hides this tool", Token: mcpToken(ctx)})
}

// isWriteTool: every tool not marked read-only changes something.
func isWriteTool(t mcp.Tool) bool {
	return t.Annotations.ReadOnlyHint == nil || !*t.Annotations.ReadOnlyHint
}

// toolCall is what a tool handler sees: the request, its decoded arguments and, for write tools, the audit
// record to fill in.
type toolCall struct {
	req mcp.CallToolRequest
	// tool is the called tool's definition: its schema bounds the arguments (see typedTool).
	tool  mcp.Tool
	audit *mcpAudit
}

// mcpAudit is what a write tool names for its audit record.
type mcpAudit struct {
	target   string
	workflow string
	detail   map[string]any
	// failed marks a call that ran but whose effect failed (an operation that ended failed), answered with isError.
	failed bool
}

// toolHandler returns a result or an error; an *Error becomes a tool error the model reads (isError), anything
// else is logged and reported as an internal error.
type toolHandler func(ctx context.Context, call *toolCall) (*mcp.CallToolResult, error)

// tool registers a tool. Write tools (not read-only) are checked for the operate scope again at call time and
// audited like REST: token, action mcp.<tool>, target, outcome and workflow.
func (e *mcpEndpoint) tool(t mcp.Tool, h toolHandler) {
	write := isWriteTool(t)
	e.srv.AddTool(t, func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		call := &toolCall{req: req, tool: t, audit: &mcpAudit{}}
		if tok := mcpToken(ctx); tok != nil {
			// A call may stream for minutes (container_action's progress); it ends when the token is revoked or
			// expires meanwhile, with a result that says so (cancelling the whole request would end the stream
			// without any answer).
			var cancel context.CancelCauseFunc
			ctx, cancel = context.WithCancelCause(ctx)
			defer cancel(nil)
			defer e.s.Streams.Add(tok.ID, cancel)()
		}
		if !e.allowed(ctx, t) {
			// Unreachable through the filter; kept so a filter change can never open a write path.
			res := mcp.NewToolResultError(t.Name + " needs a token with a stronger scope, and the server must not be read-only")
			e.writeAudit(ctx, t.Name, call, http.StatusForbidden)
			return res, nil
		}
		res, err := e.callBounded(ctx, t, h, call)
		status := http.StatusOK
		if cause := context.Cause(ctx); err != nil && (errors.Is(cause, hub.ErrTokenRevoked) || errors.Is(cause, hub.ErrTokenExpired)) {
			err = service.Errorf(http.StatusUnauthorized, "unauthorized", cause.Error()+
				": this response was ended; anything already started goes on, check it with a valid token")
		}
		if err != nil {
			// The same classes as REST: an outage of PostgreSQL or Temporal is a tool error saying to retry.
			ae, ok := httpx.ToEnvelope(err)
			if !ok {
				e.s.Log.Error("MCP tool failed", "tool", t.Name, "err", err)
				ae = service.Errorf(http.StatusInternalServerError, "internal", "internal error (logged on the server); retry later")
			} else if ae.Status == http.StatusServiceUnavailable {
				e.s.Log.Warn("MCP tool failed: dependency unavailable", "tool", t.Name, "err", err)
			}
			status = ae.Status
			msg := ae.Message
			for _, k := range slices.Sorted(maps.Keys(ae.Fields)) {
				msg += "; " + k + " " + ae.Fields[k]
			}
			res = mcp.NewToolResultError(msg)
			res.StructuredContent = map[string]any{"error": map[string]any{"code": ae.Code, "message": msg, "fields": ae.Fields}}
		}
		if write {
			e.writeAudit(ctx, t.Name, call, status)
		}
		return res, nil
	})
}

// callBounded runs h under a deadline (#15): the request's own context is detached from the HTTP exchange (a
// stream outlives the handler), so without one a stalled database would hang the call forever. Read tools get
// INFRA_REQUEST_TIMEOUT; write tools may also wait for their operation (container_action's wait_seconds).
func (e *mcpEndpoint) callBounded(ctx context.Context, t mcp.Tool, h toolHandler, call *toolCall) (*mcp.CallToolResult, error) {
	d := e.s.Config.RequestTimeout
	if d <= 0 {
		d = 30 * time.Second // a Config built by hand in a test
	}
	if isWriteTool(t) {
		d += mcpMaxActionWait
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return h(ctx, call)
}

func (e *mcpEndpoint) writeAudit(ctx context.Context, name string, call *toolCall, status int) {
	rec := &store.AuditRecord{Action: "mcp." + name, Target: call.audit.target, Outcome: "success", StatusCode: status}
	switch {
	case status == http.StatusForbidden:
		rec.Outcome = "denied"
	case status >= 400 || call.audit.failed:
		rec.Outcome = "failure"
	}
	if rec.Target == "" {
		rec.Target = MCPPath
	}
	if call.audit.workflow != "" {
		rec.WorkflowID = &call.audit.workflow
	}
	detail := map[string]any{"arguments": call.req.GetArguments()}
	for k, v := range call.audit.detail {
		detail[k] = v
	}
	rec.Detail, _ = json.Marshal(detail)
	rec.RemoteAddr, _ = ctx.Value(mcpRemoteKey).(string)
	if tok := mcpToken(ctx); tok != nil {
		id := tok.ID
		rec.TokenID, rec.TokenName = &id, tok.Name
	}
	// Its own context: a client that hangs up must not erase the record.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.s.Config.ShutdownTimeout)
	defer cancel()
	if err := store.InsertAudit(actx, e.s.Pool, rec); err != nil {
		e.s.Log.Error("audit record lost", "action", rec.Action, "target", rec.Target, "err", err)
	}
}

// progress sends a progress notification when the client asked for them (a progress token in the request).
func (e *mcpEndpoint) progress(ctx context.Context, call *toolCall, step, total float64, msg string) {
	meta := call.req.Params.Meta
	if meta == nil || meta.ProgressToken == nil {
		return
	}
	err := e.srv.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), map[string]any{
		"progressToken": meta.ProgressToken, "progress": step, "total": total, "message": msg})
	if err != nil {
		e.s.Log.Debug("MCP progress notification not sent", "err", err)
	}
}

// bind decodes the tool's arguments into v, or answers with a tool error naming the problem.
func bind(call *toolCall, v any) error {
	if err := call.req.BindArguments(v); err != nil {
		return service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "invalid arguments: "+err.Error())
	}
	return nil
}

// resolveDevice finds a device by id or name.
func (e *mcpEndpoint) resolveDevice(ctx context.Context, ref string) (*store.Device, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, service.Errorf(http.StatusUnprocessableEntity, "invalid_input", "device is required: a device name or id (list_devices shows them)")
	}
	var d *store.Device
	var err error
	if id, perr := uuid.Parse(ref); perr == nil {
		d, err = store.GetDevice(ctx, e.s.Pool, id)
	} else {
		d, err = store.GetDeviceByName(ctx, e.s.Pool, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, service.Errorf(http.StatusNotFound, "not_found", fmt.Sprintf("no device named or with id %q; call list_devices to see the devices", ref))
	}
	return d, err
}

// ago renders how long before now t was, for the model ("42s ago", "never").
func ago(now time.Time, t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	d := now.Sub(*t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1fh ago", d.Hours())
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func boolPtr(b bool) *bool { return &b }

// annotations sets every hint explicitly, so a client never falls back to the spec's pessimistic defaults by
// accident.
func annotations(title string, readOnly, destructive, idempotent, openWorld bool) mcp.ToolOption {
	return mcp.WithToolAnnotation(mcp.ToolAnnotation{Title: title, ReadOnlyHint: boolPtr(readOnly),
		DestructiveHint: boolPtr(destructive), IdempotentHint: boolPtr(idempotent), OpenWorldHint: boolPtr(openWorld)})
}
