package rest

import (
	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

// systemLogRoutes registers the system log search (#12).
func (s *Server) systemLogRoutes(v1 fiber.Router) {
	v1.Get("/devices/:id/logs", require(store.ScopeRead), s.systemLogs)
}

// systemLogs searches a device's system log through a SystemLogs workflow (the API never talks SSH) and answers
// with the entries, oldest first.
func (s *Server) systemLogs(c *fiber.Ctx) error {
	d, err := s.loadDevice(c)
	if err != nil {
		return err
	}
	q, fields := service.SystemLogQuery(func(k string) string { return c.Query(k) }, s.Now())
	if len(fields) > 0 {
		return service.Invalid(fields)
	}
	res, err := s.SearchSystemLogs(c.UserContext(), d, q)
	if err != nil {
		return err
	}
	s.AuditRead(tokenOf(c), c.IP(), service.AuditReadSystemLogs, "device/"+d.ID.String()+"/logs", service.SystemLogAuditDetail("rest", q, res))
	return c.JSON(service.SystemLogAnswer(d, res))
}
