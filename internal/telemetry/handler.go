package telemetry

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Gatherer returns what /metrics serves: Registry plus the process's own collectors (its database pool), kept out
// of the global Registry so that several servers in one test binary do not collide.
func Gatherer(extra ...prometheus.Collector) prometheus.Gatherer {
	if len(extra) == 0 {
		return Registry
	}
	own := prometheus.NewRegistry()
	own.MustRegister(extra...)
	return prometheus.Gatherers{Registry, own}
}

// Authorized says whether an Authorization header carries the metrics token. An empty token leaves /metrics open
// (the default, for a private port). The comparison takes the same time for every wrong token.
func Authorized(header, token string) bool {
	if token == "" {
		return true
	}
	scheme, secret, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(secret)), []byte(token)) == 1
}

// Handler serves g in the Prometheus text format, requiring token when it is set (INFRA_METRICS_TOKEN).
func Handler(g prometheus.Gatherer, token string) http.Handler {
	metrics := promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Authorized(r.Header.Get("Authorization"), token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="infrastructor-metrics"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthorized","message":"/metrics needs the metrics token (INFRA_METRICS_TOKEN)"}}`))
			return
		}
		metrics.ServeHTTP(w, r)
	})
}
