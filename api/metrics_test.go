package api_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMetricsCountRequestsByRoute(t *testing.T) {
	t.Parallel()
	env := newServer(t)
	for range 3 {
		resp, err := env.app.Test(httptest.NewRequest("GET", "/healthz", nil), -1)
		require.NoError(t, err)
		resp.Body.Close()
	}
	resp, err := env.app.Test(httptest.NewRequest("GET", "/metrics", nil), -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, "body: %s", body)
	var line string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, `infrastructor_http_requests_total{code="200",method="GET",route="/healthz"}`) {
			line = l
		}
	}
	require.NotEmpty(t, line, "no counter for /healthz in:\n%s", body)
	require.Contains(t, string(body), "go_goroutines")
}
