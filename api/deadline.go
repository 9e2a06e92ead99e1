package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// deadline bounds every request's context by INFRA_REQUEST_TIMEOUT (#15), so a stalled PostgreSQL or Temporal turns
// into a 503 with Retry-After instead of a request that hangs as long as the client waits. Requests that wait on
// purpose (?wait= on operations) get their longest wait on top. The WebSocket is long-lived by design and bounded
// by its own heartbeats; MCP bounds each tool call itself (see mcpEndpoint.tool), since its stream outlives the
// handler.
func (s *Server) deadline(c *fiber.Ctx) error {
	if c.Path() == "/ws" {
		return c.Next()
	}
	d := s.cfg.RequestTimeout
	if d <= 0 {
		d = 30 * time.Second // a Config built by hand in a test
	}
	if c.Query("wait") != "" {
		d += MaxOperationWait
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), d)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}
