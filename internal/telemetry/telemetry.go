// Package telemetry holds the Prometheus metrics of Infrastructor itself (not of the devices it watches).
package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry holds every metric below plus the Go runtime and process collectors. /metrics serves it.
var Registry = prometheus.NewRegistry()

var (
	// HTTPRequests counts API requests by route pattern, method and status code.
	HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "infrastructor_http_requests_total", Help: "HTTP requests by route, method and status code.",
	}, []string{"route", "method", "code"})
	// HTTPDuration observes API request latency by route pattern.
	HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "infrastructor_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"route"})
	// Polls counts device polls by outcome (ok, or the failure class).
	Polls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "infrastructor_polls_total", Help: "Device polls by outcome.",
	}, []string{"outcome"})
	// PollDuration observes how long a poll took, SSH and database write included.
	PollDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "infrastructor_poll_duration_seconds", Help: "Duration of one device poll, SSH and write included.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
	})
	// SamplesWritten counts time-series rows committed by polls.
	SamplesWritten = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "infrastructor_samples_written_total", Help: "Time-series rows committed by polls.",
	})
)

func init() {
	Registry.MustRegister(HTTPRequests, HTTPDuration, Polls, PollDuration, SamplesWritten,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}
