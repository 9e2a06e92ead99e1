package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// temporalPostgresBinaries are what scripts/temporal-postgres.sh builds into bin/.
var temporalPostgresBinaries = []string{"temporal-server", "temporal-sql-tool", "temporal-ui-server"}

// needTemporalPostgres makes sure bin/ holds the Temporal server, its SQL tool and the UI server. Building them
// takes about ten minutes on two busy cores, too long to do unasked inside `make test`: the test builds them only
// when INFRA_TEST_TEMPORAL_POSTGRES=1 and otherwise skips, unless they are already built (`make temporal-postgres`).
func needTemporalPostgres(t *testing.T, root string) {
	t.Helper()
	missing := false
	for _, b := range temporalPostgresBinaries {
		if _, err := os.Stat(filepath.Join(root, "bin", b)); err != nil {
			missing = true
		}
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "temporal")); err != nil {
		missing = true // the CLI registers the namespace; `make test` builds it for the dev server anyway
	}
	if !missing {
		return
	}
	if os.Getenv("INFRA_TEST_TEMPORAL_POSTGRES") != "1" {
		t.Skip("the Temporal server on PostgreSQL is not built (bin/temporal-server, bin/temporal-sql-tool, " +
			"bin/temporal-ui-server); run `make temporal-postgres` (about ten minutes, once) or set " +
			"INFRA_TEST_TEMPORAL_POSTGRES=1 to let this test build it")
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "temporal")); err != nil {
		testenv.TemporalAddress(t) // builds bin/temporal under the harness's lock
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "temporal-postgres.sh"), "build")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "temporal-postgres.sh build:\n%s", out)
}

// TestTemporalOnPostgres runs the profile of `make run TEMPORAL=postgres`: scripts/temporal-postgres.sh sets up
// Temporal's two databases on the test PostgreSQL server and starts the real Temporal server and its UI;
// `infrastructor up` polls a device over real OpenSSH through it. Then the Temporal server is restarted, and the
// device's poll loop must go on: the same workflow still running, its history growing, new samples stored.
func TestTemporalOnPostgres(t *testing.T) {
	root := testenv.RepoRoot(t)
	needTemporalPostgres(t, root)
	ctx := context.Background()

	// Temporal's databases live next to the test's own database on the same server, under names of their own.
	dbURL := testenv.PostgresURL(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	suffix := randomSuffix(t, 4)
	mainDB, visDB := "temporal_"+suffix, "temporal_visibility_"+suffix
	t.Cleanup(func() {
		// Registered first, so it runs after the Temporal server stopped.
		admin := *u
		admin.Path = "/postgres"
		conn, err := pgx.Connect(context.Background(), admin.String())
		if err != nil {
			t.Errorf("drop Temporal databases: %v", err)
			return
		}
		defer conn.Close(context.Background())
		for _, db := range []string{mainDB, visDB} {
			if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
				t.Errorf("drop database %s: %v", db, err)
			}
		}
	})

	// The script derives every service's port from the frontend's: +1, +2, +6, +10, and 300 below each.
	script := filepath.Join(root, "scripts", "temporal-postgres.sh")
	stateDir := t.TempDir()
	var env []string
	var address string
	var uiPort int
	runScript := func(arg string) {
		t.Helper()
		cmd := exec.Command(script, arg)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "temporal-postgres.sh %s:\n%s", arg, out)
	}
	// startServer starts the Temporal server and waits until its frontend is healthy, failing at once with the
	// server's log if it exits.
	startServer := func() *process {
		t.Helper()
		cmd := exec.Command(script, "server")
		cmd.Env = env
		p := start(t, "temporal-server", cmd)
		waitFor(t, "Temporal server healthy", 2*time.Minute, p, func() error { return temporalHealthy(address) })
		return p
	}
	var server *process
	for attempt := 0; ; attempt++ {
		frontend := freePortBlock(t, 0, 1, 2, 6, 10, -300, -299, -298, -294, 1000)
		uiPort = frontend + 1000
		address = fmt.Sprintf("127.0.0.1:%d", frontend)
		env = cleanEnv(
			"TEMPORAL_DB_URL=postgres://"+u.User.String()+"@"+u.Host+"/",
			"TEMPORAL_DB_NAME="+mainDB,
			"TEMPORAL_VISIBILITY_DB_NAME="+visDB,
			"TEMPORAL_ADDRESS="+address,
			fmt.Sprintf("TEMPORAL_UI_PORT=%d", uiPort),
			"TEMPORAL_STATE_DIR="+stateDir,
			"TEMPORAL_HISTORY_SHARDS=4",
		)
		runScript("setup")
		runScript("setup") // again, as every `make run` does: a no-op on an up-to-date schema
		cmd := exec.Command(script, "server")
		cmd.Env = env
		server = start(t, "temporal-server", cmd)
		err := waitUntil(2*time.Minute, server, func() error { return temporalHealthy(address) })
		if err == nil {
			break
		}
		// Another program may have bound one of the nine ports since they were checked: try another block.
		require.Less(t, attempt, 2, "Temporal server did not start: %v\n%s", err, server.tail())
		server.stop(t, syscall.SIGKILL)
	}
	runScript("namespace")

	uiCmd := exec.Command(script, "ui")
	uiCmd.Env = env
	ui := start(t, "temporal-ui-server", uiCmd)
	uiURL := fmt.Sprintf("http://127.0.0.1:%d", uiPort)
	waitFor(t, "Temporal UI", time.Minute, ui, wantStatus(uiURL+"/", 200))
	// The UI's API proxies to our frontend, so it lists the namespace registered there.
	waitFor(t, "Temporal UI lists the namespace", time.Minute, ui, func() error {
		body, err := getBody(uiURL + "/api/v1/namespaces")
		if err != nil {
			return err
		}
		if !strings.Contains(body, `"default"`) {
			return fmt.Errorf("namespace default not listed: %.300s", body)
		}
		return nil
	})

	// Infrastructor itself, built from this tree, polling a real sshd through this Temporal server.
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{})
	bin := buildStatic(t, "test")
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	token := "test-" + randomSuffix(t, 20)
	infraCmd := exec.Command(filepath.Join(bin, "infrastructor"), "up")
	infraCmd.Env = cleanEnv(
		"INFRA_DATABASE_URL="+dbURL,
		"INFRA_TEMPORAL_ADDRESS="+address,
		"INFRA_TASK_QUEUE="+testenv.TaskQueue(t),
		"INFRA_LISTEN="+listen,
		"INFRA_DATA_DIR="+t.TempDir(),
		"INFRA_ADMIN_TOKEN="+token,
		"INFRA_SSH_KEY="+sshd.ClientKeyPath,
		"INFRA_SSH_AGENT=false",
		"INFRA_LOG_FORMAT=text",
	)
	infra := start(t, "infrastructor", infraCmd)
	apiURL := "http://" + listen
	waitFor(t, "infrastructor ready", 2*time.Minute, infra, wantStatus(apiURL+"/readyz", 200))

	var dev struct {
		ID string `json:"id"`
	}
	code, body := apiDo(t, token, http.MethodPost, apiURL+"/api/v1/devices", map[string]any{
		"name": "box", "host": sshd.Host, "port": sshd.Port, "user": sshd.User,
		"poll_interval": "5s", "host_key_policy": "trust_first_use",
	})
	require.Equal(t, http.StatusCreated, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &dev))

	db, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	samples := func() int {
		var n int
		require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM system_metrics WHERE device_id = $1`, dev.ID).Scan(&n))
		return n
	}
	atLeast := func(n int) func() error {
		return func() error {
			if got := samples(); got < n {
				return fmt.Errorf("%d samples, want %d", got, n)
			}
			return nil
		}
	}
	waitFor(t, "two polls", time.Minute, infra, atLeast(2))

	tc, err := client.Dial(client.Options{HostPort: address, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	workflowID := "device-poll/" + dev.ID
	before, err := tc.DescribeWorkflowExecution(ctx, workflowID, "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, before.WorkflowExecutionInfo.Status)

	// Restart the Temporal server: a graceful stop, then the same configuration and databases again.
	server.stop(t, syscall.SIGINT)
	server = startServer()

	n := samples()
	waitFor(t, "polls after the restart", 90*time.Second, server, atLeast(n+2))
	after, err := tc.DescribeWorkflowExecution(ctx, workflowID, "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, after.WorkflowExecutionInfo.Status)
	if after.WorkflowExecutionInfo.Execution.RunId == before.WorkflowExecutionInfo.Execution.RunId {
		require.Greater(t, after.WorkflowExecutionInfo.HistoryLength, before.WorkflowExecutionInfo.HistoryLength,
			"the poll loop's history did not grow after the restart")
	}
	waitFor(t, "infrastructor ready after the restart", time.Minute, infra, wantStatus(apiURL+"/readyz", 200))
}

// temporalHealthy asks the frontend at address for its health.
func temporalHealthy(address string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: address, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

// apiDo sends a JSON request with a bearer token and returns the status and body.
func apiDo(t *testing.T, token, method, url string, body any) (int, string) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out bytes.Buffer
	_, err = out.ReadFrom(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out.String()
}

// getBody returns the body of a GET that answers 200.
func getBody(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(resp.Body); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return out.String(), nil
}
