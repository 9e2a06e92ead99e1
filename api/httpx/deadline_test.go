package httpx

import (
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	must "github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/config"
)

// TestRequestDeadlines: every request gets INFRA_REQUEST_TIMEOUT, routes that wait on purpose get their wait on
// top, and the WebSocket none.
func TestRequestDeadlines(t *testing.T) {
	t.Parallel()
	cfg, err := config.LoadFrom(func(k string) (string, bool) {
		if k == "INFRA_REQUEST_TIMEOUT" {
			return "10s", true
		}
		return "", false
	})
	must.NoError(t, err)
	s := &Gate{Service: &service.Service{Deps: service.Deps{Config: cfg}}}
	app := fiber.New()
	app.Use(s.Deadline)
	app.All("/*", func(c *fiber.Ctx) error {
		dl, ok := c.UserContext().Deadline()
		if !ok {
			return c.SendString("none")
		}
		return c.SendString(time.Until(dl).Round(time.Second).String())
	})
	for _, tt := range []struct{ method, path, want string }{
		{"GET", "/api/v1/devices", "10s"},
		{"POST", "/api/v1/devices/0b6a/containers/web/actions?wait=30s", (10*time.Second + service.MaxOperationWait).String()},
		{"POST", "/api/v1/devices/0b6a/poll", (10*time.Second + service.PollNowTimeout).String()},
		{"POST", "/api/v1/notification-channels/0b6a/test", (10*time.Second + service.TestSendWait).String()},
		{"GET", "/api/v1/devices/0b6a/poll", "10s"},
		{"POST", "/mcp", "10s"},
		{"GET", "/ws", "none"},
	} {
		resp, err := app.Test(httptest.NewRequest(tt.method, tt.path, nil), -1)
		must.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		must.NoError(t, err)
		resp.Body.Close()
		must.Equal(t, tt.want, string(b), "%s %s", tt.method, tt.path)
	}
}
