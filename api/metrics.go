package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/infrastructor/infrastructor/api/httpx"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/telemetry"
)

// metricsHandler serves the process's own Prometheus metrics: request, poll and runtime counters and the database
// pool's statistics. It holds no device data; when INFRA_METRICS_TOKEN is set it requires that token (and only
// that one: an API token is not a scraper's credential), else it is open like /healthz, for a private port.
func (s *Server) metricsHandler() fiber.Handler {
	var extra []prometheus.Collector
	if s.Pool != nil {
		extra = append(extra, telemetry.NewPoolCollector(s.Pool))
	}
	serve := adaptor.HTTPHandler(promhttp.HandlerFor(telemetry.Gatherer(extra...), promhttp.HandlerOpts{}))
	return func(c *fiber.Ctx) error {
		if !telemetry.Authorized(c.Get(fiber.HeaderAuthorization), s.Config.MetricsToken) {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="infrastructor-metrics"`)
			return service.Errorf(http.StatusUnauthorized, "unauthorized", "/metrics needs the metrics token (INFRA_METRICS_TOKEN)")
		}
		return serve(c)
	}
}

// observe counts every request by route pattern (never the raw path, which would explode the label space).
func observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	route := c.Route().Path
	code := c.Response().StatusCode()
	if err != nil {
		e, _ := httpx.ToEnvelope(err)
		code = e.Status
	}
	// Fiber's strings point into buffers it reuses for the next request: copy them before they become label
	// values that the registry keeps.
	route, method := strings.Clone(route), strings.Clone(c.Method())
	telemetry.HTTPRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	telemetry.HTTPDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	return err
}
