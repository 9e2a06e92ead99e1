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
	dbURL := testenv.PostgresURL(t)
	code, _, stderr := runBinary(t, map[string]string{"INFRA_DATABASE_URL": dbURL}, "migrate", "up")
	require.Equal(t, 0, code, stderr)

	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	token := strings.Repeat("s", 40)
	var logs bytes.Buffer
	cmd := exec.Command(binary(t), "worker")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"INFRA_DATABASE_URL=" + dbURL,
		"INFRA_TEMPORAL_ADDRESS=" + testenv.TemporalAddress(t),
		"INFRA_TASK_QUEUE=" + testenv.TaskQueue(t),
		"INFRA_DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
		"INFRA_SSH_AGENT=false",
		"INFRA_LOG_FORMAT=text",
		"INFRA_WORKER_METRICS_LISTEN=" + addr,
		"INFRA_METRICS_TOKEN=" + token,
	}
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
			t.Logf("worker output:\n%s", logs.String())
		}
	})

	get := func(auth string) (int, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/metrics", nil)
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
	var body string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		status, b, err := get("Bearer " + token)
		require.NoError(c, err)
		require.Equal(c, http.StatusOK, status)
		body = b
	}, 2*time.Minute, 200*time.Millisecond, "the worker's /metrics never answered")
	for _, metric := range []string{"infrastructor_poll_duration_seconds_count", "infrastructor_samples_written_total",
		"infrastructor_db_pool_max_conns 24", "infrastructor_db_pool_acquires_total", "go_goroutines"} {
		require.True(t, strings.Contains(body, "\n"+metric), "%s missing from the worker's /metrics", metric)
	}
	status, b, err := get("")
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, status)
	require.NotContains(t, b, "go_goroutines")
}
