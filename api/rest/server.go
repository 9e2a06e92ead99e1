// Package rest serves the REST API under /api/v1 and its OpenAPI document over the shared service layer.
package rest

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"

	"github.com/infrastructor/infrastructor/api/httpx"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

// Server holds the REST handlers.
type Server struct{ *httpx.Gate }

// New builds the server over the shared gate.
func New(g *httpx.Gate) *Server { return &Server{Gate: g} }

// Mount mounts the REST API under /api/v1. Answers are compressed for clients that accept it (lists of a large
// fleet's devices or containers shrink several times); the fastest level, since they are small and made per request.
func (s *Server) Mount(app fiber.Router) {
	v1 := app.Group("/api/v1", compress.New(compress.Config{Level: compress.LevelBestSpeed}), s.tokenAuth, s.audited)
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
	v1.Use(func(c *fiber.Ctx) error { return service.NotFound("route") })
}
