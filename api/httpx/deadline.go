package httpx

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/infrastructor/infrastructor/api/service"
)

// Deadline bounds every request's context by INFRA_REQUEST_TIMEOUT (#15), so a stalled PostgreSQL or Temporal
// turns into a 503 with Retry-After instead of a request that hangs as long as the client waits. Requests that
// wait on purpose (?wait= on operations, poll now, a channel's test notice) get their longest wait on top. The
// WebSocket is long-lived by design and bounded by its own heartbeats; MCP bounds each tool call itself (see
// mcpEndpoint.callBounded), since its stream outlives the handler.
func (s *Gate) Deadline(c *fiber.Ctx) error {
	if c.Path() == "/ws" {
		return c.Next()
	}
	d := s.Config.RequestTimeout
	if d <= 0 {
		d = 30 * time.Second // a Config built by hand in a test
	}
	d += ownWait(c)
	ctx, cancel := context.WithTimeout(c.UserContext(), d)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// ownWait is how long a request waits on purpose, on top of the deadline: the route has not been matched yet when
// the deadline is set, so the few waiting routes are recognised by method and path.
func ownWait(c *fiber.Ctx) time.Duration {
	if c.Query("wait") != "" {
		return service.MaxOperationWait
	}
	if c.Method() == fiber.MethodPost {
		path := strings.TrimRight(c.Path(), "/")
		switch {
		case strings.HasPrefix(path, "/api/v1/devices/") && strings.HasSuffix(path, "/poll"):
			return service.PollNowTimeout
		case strings.HasPrefix(path, "/api/v1/notification-channels/") && strings.HasSuffix(path, "/test"):
			return service.TestSendWait
		}
	}
	return 0
}
