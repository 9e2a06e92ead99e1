package api

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/infrastructor/infrastructor/internal/telemetry"
)

// metricsHandler serves the process's own Prometheus metrics. Like /healthz it needs no token: it holds no
// device data, only request, poll and runtime counters; keep the port private or scrape through a proxy.
func metricsHandler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(telemetry.Registry, promhttp.HandlerOpts{}))
}

// observe counts every request by route pattern (never the raw path, which would explode the label space).
func observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	route := c.Route().Path
	code := c.Response().StatusCode()
	if err != nil {
		e, _ := toEnvelope(err)
		code = e.Status
	}
	// Fiber's strings point into buffers it reuses for the next request: copy them before they become label
	// values that the registry keeps.
	route, method := strings.Clone(route), strings.Clone(c.Method())
	telemetry.HTTPRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	telemetry.HTTPDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	return err
}
