package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/api"
	"github.com/infrastructor/infrastructor/internal/config"
)

// stalledPostgres is a TCP server that accepts connections and never answers, like a PostgreSQL that is stopped
// (SIGSTOP) or behind a black-holed link: connections open, nothing comes back.
func stalledPostgres(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// downPostgres is an address where nothing listens: connections are refused, as when PostgreSQL is stopped.
func downPostgres(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// outageServer is an API server whose database is at addr, configured by env (INFRA_* settings).
func outageServer(t *testing.T, addr string, env map[string]string) *api.Server {
	t.Helper()
	cfg, err := config.LoadFrom(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	pool, err := pgxpool.New(context.Background(), "postgres://infrastructor@"+addr+"/infrastructor?sslmode=disable")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return api.New(api.Deps{Config: cfg, Pool: pool, Temporal: &health{}, Log: quiet})
}

// send runs one request through the app with a bound that is far above the request deadline under test, so a
// hanging request fails the test instead of hanging it.
func send(t *testing.T, app interface {
	Test(*http.Request, ...int) (*http.Response, error)
}, r *http.Request) (*response, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := app.Test(r, int((30 * time.Second).Milliseconds()))
	require.NoError(t, err, "the request did not answer within 30s")
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b}, time.Since(start)
}

func mcpInitialize(token string) *http.Request {
	r := httptest.NewRequest("POST", "/mcp", strings.NewReader(
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// TestStalledDatabaseAnswers503WithinDeadline: a database that accepts connections and never answers must not hang
// requests; each answers 503 with Retry-After once INFRA_REQUEST_TIMEOUT has passed (#15).
func TestStalledDatabaseAnswers503WithinDeadline(t *testing.T) {
	t.Parallel()
	srv := outageServer(t, stalledPostgres(t), map[string]string{"INFRA_REQUEST_TIMEOUT": "2s"})
	for _, r := range []*http.Request{
		func() *http.Request {
			r := httptest.NewRequest("GET", "/api/v1/devices", nil)
			r.Header.Set("Authorization", "Bearer "+strings.Repeat("x", 40))
			return r
		}(),
		mcpInitialize(strings.Repeat("y", 40)),
	} {
		t.Run(r.URL.Path, func(t *testing.T) {
			resp, took := send(t, srv.App(), r)
			require.Equal(t, http.StatusServiceUnavailable, resp.Status, "body: %s", resp.Body)
			require.Equal(t, "5", resp.Header.Get("Retry-After"))
			e := requireEnvelope(t, resp)
			require.Equal(t, "unavailable", e.Error.Code)
			require.Less(t, took, 15*time.Second, "answered long after the 2s deadline")
			require.GreaterOrEqual(t, took, 2*time.Second, "answered before the database could have timed out")
		})
	}
}

// TestDatabaseDownAnswers503WithRetryAfter: with PostgreSQL down, REST and MCP answer 503 with Retry-After and a
// message saying to retry, not a 500 (#15).
func TestDatabaseDownAnswers503WithRetryAfter(t *testing.T) {
	t.Parallel()
	srv := outageServer(t, downPostgres(t), nil)
	rest := httptest.NewRequest("GET", "/api/v1/devices", nil)
	rest.Header.Set("Authorization", "Bearer "+strings.Repeat("x", 40))
	for _, r := range []*http.Request{rest, mcpInitialize(strings.Repeat("y", 40))} {
		t.Run(r.URL.Path, func(t *testing.T) {
			resp, _ := send(t, srv.App(), r)
			require.Equal(t, http.StatusServiceUnavailable, resp.Status, "body: %s", resp.Body)
			require.Equal(t, "5", resp.Header.Get("Retry-After"))
			e := requireEnvelope(t, resp)
			require.Equal(t, "unavailable", e.Error.Code)
			require.Contains(t, e.Error.Message, "database unavailable")
		})
	}
	// The health endpoints keep answering: liveness says the process is fine, readiness names the database.
	resp, _ := send(t, srv.App(), httptest.NewRequest("GET", "/healthz", nil))
	require.Equal(t, http.StatusOK, resp.Status)
	resp, _ = send(t, srv.App(), httptest.NewRequest("GET", "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, resp.Status)
	require.Contains(t, string(resp.Body), `"postgres":"down"`)
}

// TestMetricsExposePoolStatistics: /metrics carries the database pool's statistics (#15).
func TestMetricsExposePoolStatistics(t *testing.T) {
	t.Parallel()
	env := newServer(t)
	env.req("GET", "/api/v1/devices", env.read, nil).requireStatus(t, http.StatusOK)
	resp := env.req("GET", "/metrics", "", nil).requireStatus(t, http.StatusOK)
	body := string(resp.Body)
	for _, name := range []string{"acquired_conns", "idle_conns", "total_conns", "max_conns", "acquires_total",
		"acquire_duration_seconds_total", "empty_acquires_total", "canceled_acquires_total"} {
		require.True(t, strings.Contains(body, "\ninfrastructor_db_pool_"+name+" "), "pool statistic %s missing from /metrics", name)
	}
	require.False(t, strings.Contains(body, "\ninfrastructor_db_pool_acquires_total 0\n"), "the requests above acquired connections")
}

// TestMetricsTokenRequired: with INFRA_METRICS_TOKEN set, /metrics answers only to that token, not to API tokens.
func TestMetricsTokenRequired(t *testing.T) {
	t.Parallel()
	metricsToken := strings.Repeat("m", 40)
	srv := outageServer(t, downPostgres(t), map[string]string{"INFRA_METRICS_TOKEN": metricsToken})
	get := func(auth string) *response {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		resp, _ := send(t, srv.App(), r)
		return resp
	}
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + metricsToken + "x", "Basic " + metricsToken} {
		resp := get(auth)
		require.Equal(t, http.StatusUnauthorized, resp.Status, "Authorization %q: %s", auth, resp.Body)
		requireEnvelope(t, resp)
		require.NotContains(t, string(resp.Body), "go_goroutines")
	}
	resp := get("Bearer " + metricsToken)
	require.Equal(t, http.StatusOK, resp.Status)
	require.Contains(t, string(resp.Body), "go_goroutines")
}
