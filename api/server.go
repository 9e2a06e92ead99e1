// Package api serves Infrastructor's HTTP interfaces: REST under /api/v1, health checks and metrics.
// It never talks SSH: anything that touches a device goes through a Temporal workflow.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/hub"
	"github.com/infrastructor/infrastructor/internal/secret"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/workflows"
)

// Workflows is the API's client of every workflow (workflows.Client in production): it starts, stops and steers
// the durable poll loop of a device, fetches logs, runs container operations, manages user schedules and sends
// test notices. StartPolling is idempotent and returns the workflow ID; StopPolling of a device that is not
// polled is not an error; the other poll-loop calls return workflows.ErrNotPolling when the device has no
// running loop.
type Workflows interface {
	StartPolling(ctx context.Context, id uuid.UUID, interval time.Duration) (string, error)
	StopPolling(ctx context.Context, id uuid.UUID) error
	Signal(ctx context.Context, id uuid.UUID, name string, arg any) error
	PollNow(ctx context.Context, id uuid.UUID) (*workflows.PollNowResult, error)
	Status(ctx context.Context, id uuid.UUID) (*workflows.DevicePollState, error)
	FetchLogs(ctx context.Context, in activities.FetchLogsInput) (*activities.FetchLogsResult, error)
	Operator
	Scheduler
	TestSender
}

// HealthChecker reports whether a dependency (Temporal) answers.
type HealthChecker interface {
	CheckHealth(ctx context.Context) error
}

// Deps is what the server needs from the process that runs it.
type Deps struct {
	Config *config.Config
	Pool   *pgxpool.Pool
	// Workflows runs everything that touches a device; without it the schedule and test-send routes answer 503.
	Workflows Workflows
	Temporal  HealthChecker
	Log       *slog.Logger
	Now       func() time.Time
	// Hub fans live updates out to /ws clients; without one /ws answers 503.
	Hub *hub.Hub
	// Secrets encrypts notification channels' credentials; without it channels with a token or secret cannot be
	// saved.
	Secrets *secret.Box
	// OpKinds replaces the product's device operation kinds the API validates against (tests; nil: the product's).
	OpKinds []activities.OpKind
}

// Server holds the handlers' dependencies.
type Server struct {
	cfg      *config.Config
	pool     *pgxpool.Pool
	wf       Workflows
	temporal HealthChecker
	log      *slog.Logger
	now      func() time.Time
	app      *fiber.App
	hub      *hub.Hub
	secrets  *secret.Box
	opKinds  []activities.OpKind

	// Tokens (#15): rate limits, throttled refusal records, coalesced last-use writes, and the streams to end
	// when a token stops working.
	limits    authLimits
	refusals  auditThrottle
	touchMu   sync.Mutex
	touched   map[uuid.UUID]time.Time
	streams   tokenStreams
	stopWatch context.CancelFunc
	// Watchers of live log tails on this process (#12).
	tails tailRegistry
}

// New builds the server and its routes.
func New(d Deps) *Server {
	s := &Server{cfg: d.Config, pool: d.Pool, wf: d.Workflows, temporal: d.Temporal, log: d.Log, now: d.Now, hub: d.Hub,
		secrets: d.Secrets, opKinds: d.OpKinds}
	if s.now == nil {
		s.now = time.Now
	}
	s.touched = map[uuid.UUID]time.Time{}
	s.startTokenWatch()
	s.app = fiber.New(fiber.Config{
		AppName:               "infrastructor",
		ErrorHandler:          errorHandler(d.Log),
		BodyLimit:             d.Config.MaxBodyBytes,
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		StrictRouting:         false,
	})
	s.mount()
	return s
}

// App exposes the Fiber app, for tests (app.Test) and for mounting more interfaces.
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Shutdown stops accepting requests and waits for those in flight, up to ctx's deadline.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopWatch()
	s.stopTails()
	return s.app.ShutdownWithContext(ctx)
}

// mount puts every interface on the app.
func (s *Server) mount() {
	s.app.Use(observe, s.deadline)
	s.app.Get("/metrics", s.metricsHandler())
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/readyz", s.readyz)
	s.app.Get("/ws", s.websocket())
	s.mountMCP(s.app)
	s.webRoutes(s.app)
	s.routes(s.app)
}

// routes mounts the REST API under /api/v1.
func (s *Server) routes(app fiber.Router) {
	v1 := app.Group("/api/v1", s.tokenAuth, s.audited)
	read, operate, admin := require(store.ScopeRead), require(store.ScopeOperate), require(store.ScopeAdmin)

	v1.Get("/openapi.json", read, s.openapi)

	v1.Get("/devices", read, s.listDevices)
	v1.Post("/devices", admin, s.createDevice)
	v1.Post("/devices/import", admin, s.importDevices)
	v1.Get("/devices/:id", read, s.getDevice)
	v1.Patch("/devices/:id", admin, s.updateDevice)
	v1.Delete("/devices/:id", admin, s.deleteDevice)

	v1.Get("/devices/:id/status", read, s.deviceStatus)
	v1.Get("/devices/:id/metrics", read, s.deviceMetrics)
	v1.Post("/devices/:id/poll", operate, s.pollNow)
	v1.Post("/devices/:id/pause", operate, s.pausePolling)
	v1.Post("/devices/:id/resume", operate, s.resumePolling)
	v1.Get("/devices/:id/host-keys", read, s.listHostKeys)
	v1.Post("/devices/:id/host-key/approve", admin, s.approveHostKey)
	v1.Get("/fleet/summary", read, s.fleetSummary)
	v1.Get("/events", read, s.listEvents)

	s.containerRoutes(v1)
	s.imageRoutes(v1)
	s.operationRoutes(v1)
	s.alertRoutes(v1)
	s.channelRoutes(v1)
	s.scheduleRoutes(v1)
	s.storageRoutes(v1)
	s.systemLogRoutes(v1)
	s.serviceRoutes(v1)
	s.inventoryRoutes(v1)

	v1.Get("/tokens", admin, s.listTokens)
	v1.Post("/tokens", admin, s.createToken)
	v1.Delete("/tokens/:id", admin, s.revokeToken)

	v1.Get("/audit", admin, s.listAudit)

	// Unknown /api/v1 paths answer with the envelope, after authentication (so they reveal nothing).
	v1.Use(func(c *fiber.Ctx) error { return notFound("route") })
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
	if err := s.pool.Ping(ctx); err != nil {
		checks["postgres"] = "down"
		ok = false
		s.log.Warn("readiness: PostgreSQL unreachable", "err", err)
	} else {
		checks["postgres"] = "ok"
	}
	if s.temporal == nil {
		checks["temporal"] = "not configured"
		ok = false
	} else if err := s.temporal.CheckHealth(ctx); err != nil {
		checks["temporal"] = "down"
		ok = false
		s.log.Warn("readiness: Temporal unreachable", "err", err)
	} else {
		checks["temporal"] = "ok"
	}
	if !ok {
		return c.Status(http.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "checks": checks})
	}
	return c.JSON(fiber.Map{"status": "ok", "checks": checks})
}
