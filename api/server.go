// Package api is the API process's HTTP server: it builds the service layer (api/service) and mounts every
// interface on one Fiber app: REST (api/rest), MCP (api/mcpapi), the live stream (api/ws) and the dashboard
// (api/dashboard), next to health checks and metrics. It never talks SSH: anything that touches a device goes
// through a Temporal workflow.
package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/api/dashboard"
	"github.com/infrastructor/infrastructor/api/httpx"
	"github.com/infrastructor/infrastructor/api/mcpapi"
	"github.com/infrastructor/infrastructor/api/rest"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/api/ws"
)

// Deps is what the server needs from the process that runs it.
type Deps = service.Deps

// Workflows is the API's client of every workflow (workflows.Client in production).
type Workflows = service.Workflows

// HealthChecker reports whether a dependency (Temporal) answers.
type HealthChecker = service.HealthChecker

// Server is the API process's HTTP server: every interface mounted on one Fiber app over one service layer.
type Server struct {
	*service.Service
	app  *fiber.App
	live *ws.Server
}

// New builds the service layer and mounts every interface on one app: health and metrics, the live stream (/ws),
// MCP (/mcp), the dashboard (/) and REST (/api/v1).
func New(d Deps) *Server {
	svc := service.New(d)
	gate := &httpx.Gate{Service: svc}
	s := &Server{Service: svc, live: ws.New(gate)}
	s.app = fiber.New(fiber.Config{
		AppName:               "infrastructor",
		ErrorHandler:          httpx.ErrorHandler(d.Log),
		BodyLimit:             d.Config.MaxBodyBytes,
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		StrictRouting:         false,
	})
	s.app.Use(observe, gate.Deadline)
	s.app.Get("/metrics", s.metricsHandler())
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/readyz", s.readyz)
	s.app.Get("/ws", s.live.Handler())
	mcpapi.New(gate).Mount(s.app)
	dashboard.New(gate).Mount(s.app)
	rest.New(gate).Mount(s.app)
	return s
}

// App exposes the Fiber app, for tests (app.Test) and for mounting more interfaces.
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Shutdown stops accepting requests and waits for those in flight, up to ctx's deadline.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Close()
	s.live.Close()
	return s.app.ShutdownWithContext(ctx)
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz answers 200 only when PostgreSQL and Temporal both answer, else 503 naming what is down.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	checks := fiber.Map{}
	ok := true
	if err := s.Pool.Ping(ctx); err != nil {
		checks["postgres"] = "down"
		ok = false
		s.Log.Warn("readiness: PostgreSQL unreachable", "err", err)
	} else {
		checks["postgres"] = "ok"
	}
	if s.Temporal == nil {
		checks["temporal"] = "not configured"
		ok = false
	} else if err := s.Temporal.CheckHealth(ctx); err != nil {
		checks["temporal"] = "down"
		ok = false
		s.Log.Warn("readiness: Temporal unreachable", "err", err)
	} else {
		checks["temporal"] = "ok"
	}
	if !ok {
		return c.Status(http.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "checks": checks})
	}
	return c.JSON(fiber.Map{"status": "ok", "checks": checks})
}
