package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// TestWorkerServesItsOwnMetrics: `infrastructor worker` alone (the split deployment) serves /metrics with the poll
// counters it records and its database pool, behind INFRA_METRICS_TOKEN (#15).
func TestWorkerServesItsOwnMetrics(t *testing.T) {
	t.Parallel()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	token := strings.Repeat("s", 40)
	runRole(t, "worker", "INFRA_WORKER_METRICS_LISTEN="+addr, "INFRA_METRICS_TOKEN="+token)
	body := scrape(t, "http://"+addr+"/metrics", token)
	for _, metric := range []string{"infrastructor_poll_duration_seconds_count", "infrastructor_samples_written_total",
		"infrastructor_db_pool_max_conns 24", "infrastructor_db_pool_acquires_total", "go_goroutines"} {
		require.True(t, strings.Contains(body, "\n"+metric), "%s missing from the worker's /metrics", metric)
	}
	status, b, err := get("http://"+addr+"/metrics", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, status)
	require.NotContains(t, b, "go_goroutines")
}

// TestUpServesWorkerCountersOnTheAPI: `infrastructor up` is one process, so the API's /metrics carries the
// worker's poll counters and the shared pool, and no second listener is opened.
func TestUpServesWorkerCountersOnTheAPI(t *testing.T) {
	t.Parallel()
	api := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	workerAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	runRole(t, "up", "INFRA_LISTEN="+api, "INFRA_WORKER_METRICS_LISTEN="+workerAddr)
	body := scrape(t, "http://"+api+"/metrics", "")
	for _, metric := range []string{"infrastructor_poll_duration_seconds_count", "infrastructor_db_pool_max_conns 40"} {
		require.True(t, strings.Contains(body, "\n"+metric), "%s missing from /metrics of up", metric)
	}
	_, _, err := get("http://"+workerAddr+"/metrics", "")
	require.Error(t, err, "up must not open the worker's own metrics listener")
}

// runRole runs the binary in role against a fresh, migrated database and the test Temporal server until the test
// ends.
func runRole(t *testing.T, role string, env ...string) {
	t.Helper()
	dbURL := testenv.PostgresURL(t)
	code, _, stderr := runBinary(t, map[string]string{"INFRA_DATABASE_URL": dbURL}, "migrate", "up")
	require.Equal(t, 0, code, stderr)
	var logs bytes.Buffer
	cmd := exec.Command(binary(t), role)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"INFRA_DATABASE_URL=" + dbURL,
		"INFRA_TEMPORAL_ADDRESS=" + testenv.TemporalAddress(t),
		"INFRA_TASK_QUEUE=" + testenv.TaskQueue(t),
		"INFRA_DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
		"INFRA_SSH_AGENT=false",
		"INFRA_LOG_FORMAT=text",
	}, env...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", role, logs.String())
		}
	})
}

// scrape waits for url to answer 200 (start-up waits for PostgreSQL and Temporal) and returns the body.
func scrape(t *testing.T, url, token string) string {
	t.Helper()
	auth := ""
	if token != "" {
		auth = "Bearer " + token
	}
	var body string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		status, b, err := get(url, auth)
		require.NoError(c, err)
		require.Equal(c, http.StatusOK, status)
		body = b
	}, 2*time.Minute, 200*time.Millisecond, "%s never answered", url)
	return body
}

func get(url, auth string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, "", err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
