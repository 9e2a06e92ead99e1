// Package mcp_test drives the MCP endpoint /mcp of a whole running Infrastructor (PostgreSQL, Temporal, the
// worker and the API in this process; a device that is a real sshd driving a real Docker engine) with two
// independent clients: mcp-go's Go client and the official TypeScript SDK (client.mjs, run with node).
package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/activities"
	"github.com/infrastructor/infrastructor/api/mcpapi"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
	"github.com/infrastructor/infrastructor/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Tool names by kind: what each scope must and must not see.
var (
	readTools = []string{"check_updates", "fleet_health", "get_alert", "get_container", "get_container_logs",
		"get_device", "get_drive_health", "get_metrics", "get_network_topology", "get_operation",
		"get_service_dependencies", "get_system_logs", "get_top_processes", "get_vm_status", "get_zfs_snapshots",
		"get_zfs_status", "list_alerts", "list_containers", "list_devices", "list_docker_networks", "list_events",
		"list_image_updates", "list_operations", "list_schedules", "list_services", "verify_zfs_integrity"}
	writeTools = []string{"acknowledge_alert", "container_action", "pause_polling", "poll_device_now",
		"refresh_package_lists", "resume_polling", "run_smart_selftest", "service_action", "silence_alert",
		"start_zfs_scrub", "trigger_schedule", "vm_action"}
	adminTools = []string{"create_schedule", "update_schedule"}
)

// system is one running Infrastructor plus a read-only API replica on the same database.
type system struct {
	DB          *pgxpool.Pool
	URL         string // MCP endpoint of the normal server
	ReadOnlyURL string // MCP endpoint of a server with INFRA_MCP_READONLY=true
	Admin       string // token secrets by scope
	Operate     string
	Read        string
}

// startSystem starts the worker and the API (and a read-only API) against the test's PostgreSQL database and
// Temporal task queue. signers are the SSH client keys the worker logs in with.
func startSystem(tb testing.TB, signers []ssh.Signer) *system {
	tb.Helper()
	s := teststack.Start(tb, teststack.WithSigners(signers...), teststack.WithSSHTimeouts(5*time.Second, 30*time.Second),
		teststack.WithReadOnlyMCP(), teststack.WithTokenPrefix("mcp"))
	return &system{DB: s.DB, URL: s.URL, ReadOnlyURL: s.ReadOnlyURL + mcpapi.MCPPath, Admin: s.Token, Operate: s.OperateToken,
		Read: s.ReadToken}
}

func (s *system) base() string { return s.URL }

func (s *system) mcpURL() string { return s.URL + mcpapi.MCPPath }

// rest sends a REST request with the admin token and decodes the answer into out.
func (s *system) rest(tb testing.TB, method, path string, body, out any) int {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(tb, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base()+path, rd)
	require.NoError(tb, err)
	req.Header.Set("Authorization", "Bearer "+s.Admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	if out != nil && len(raw) > 0 {
		require.NoError(tb, json.Unmarshal(raw, out), "body: %s", raw)
	}
	return resp.StatusCode
}

// notifications collects the progress notifications a client receives, with their arrival times.
type notifications struct {
	mu    sync.Mutex
	items []progressNote
}

type progressNote struct {
	Message string
	At      time.Time
}

func (n *notifications) add(msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.items = append(n.items, progressNote{Message: msg, At: time.Now()})
}

// takeAtLeast takes the notifications once at least count arrived, or what arrived within 10 s: the client hands
// notifications to its handler on their own goroutines, so the last one may land just after the call's result.
func (n *notifications) takeAtLeast(count int) []progressNote {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		n.mu.Lock()
		ready := len(n.items) >= count
		n.mu.Unlock()
		if ready {
			break
		}
	}
	return n.take()
}

func (n *notifications) take() []progressNote {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.items
	n.items = nil
	return out
}

// connect opens an initialised mcp-go client with the token.
func connect(tb testing.TB, url, token string) (*mcpclient.Client, *notifications) {
	tb.Helper()
	c, err := mcpclient.NewStreamableHttpClient(url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Close() })
	notes := &notifications{}
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == string(mcp.MethodNotificationProgress) {
			msg, _ := n.Params.AdditionalFields["message"].(string)
			notes.add(msg)
		}
	})
	ctx := context.Background()
	require.NoError(tb, c.Start(ctx))
	_, err = c.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ProtocolVersion: mcp.LATEST_PROTOCOL_VERSION,
		ClientInfo: mcp.Implementation{Name: "infrastructor-go-test", Version: "1"}}})
	require.NoError(tb, err)
	return c, notes
}

func call(tb testing.TB, c *mcpclient.Client, name string, args map[string]any, progressToken any) *mcp.CallToolResult {
	tb.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	if progressToken != nil {
		req.Params.Meta = &mcp.Meta{ProgressToken: progressToken}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := c.CallTool(ctx, req)
	require.NoError(tb, err, "tool %s", name)
	return res
}

func textOf(r *mcp.CallToolResult) string {
	var parts []string
	for _, c := range r.Content {
		if t, ok := mcp.AsTextContent(c); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// structured decodes a result's structured content into out.
func structured(tb testing.TB, r *mcp.CallToolResult, out any) {
	tb.Helper()
	b, err := json.Marshal(r.StructuredContent)
	require.NoError(tb, err)
	require.NoError(tb, json.Unmarshal(b, out), "%s", b)
}

func toolNames(tb testing.TB, c *mcpclient.Client) []string {
	tb.Helper()
	res, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	require.NoError(tb, err)
	var out []string
	for _, t := range res.Tools {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return out
}

// dockerDevice is a device whose sshd login drives a private Docker engine, with one busy container.
type dockerDevice struct {
	ID        uuid.UUID
	Name      string
	Container string
	engine    *testenv.DockerEngine
}

// busyLoop keeps a container running; as PID 1 busybox sh ignores SIGTERM, so stop waits for its timeout.
// Its lines are long enough that a few exceed get_container_logs' smallest size cap.
const busyLoop = `trap "" TERM; i=0; while :; do i=$((i+1)); echo tick $i ................................................................; sleep 1; done`

func startDockerDevice(t *testing.T) (*system, *dockerDevice) {
	t.Helper()
	engine := testenv.StartDocker(t)
	img := testenv.TestImage(t)
	name := testenv.ContainerName(t, "busy")
	engine.Docker(t, "run", "-d", "--name", name, "--network", "none", img, "sh", "-c", busyLoop)
	t.Cleanup(func() { _, _ = engine.TryDocker(nil, "rm", "-f", "-v", name) })
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{ExtraConfig: []string{engine.SetEnv()}})
	sys := startSystem(t, []ssh.Signer{sshd.ClientSigner})
	var dev struct {
		ID   uuid.UUID `json:"id"`
		Name string    `json:"name"`
	}
	devName := "mcp-" + strings.ToLower(uuid.NewString()[:8])
	require.Equal(t, http.StatusCreated, sys.rest(t, "POST", "/api/v1/devices", map[string]any{"name": devName, "host": sshd.Host,
		"port": sshd.Port, "user": sshd.User, "poll_interval": "5s", "host_key_policy": "trust_first_use"}, &dev))
	d := &dockerDevice{ID: dev.ID, Name: dev.Name, Container: name, engine: engine}
	// Online, with metrics and the container inventoried: the read tools have real data to show.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var n int
		assert.NoError(c, sys.DB.QueryRow(context.Background(), `SELECT count(*) FROM containers WHERE device_id = $1 AND name = $2`, d.ID, name).Scan(&n))
		assert.Equal(c, 1, n)
		var st string
		assert.NoError(c, sys.DB.QueryRow(context.Background(), `SELECT status FROM devices WHERE id = $1`, d.ID).Scan(&st))
		assert.Equal(c, store.StatusOnline, st)
		// CPU usage is a rate: it needs two polls.
		assert.NoError(c, sys.DB.QueryRow(context.Background(), `SELECT count(*) FROM system_metrics WHERE device_id = $1 AND cpu_pct IS NOT NULL`, d.ID).Scan(&n))
		assert.Positive(c, n)
	}, 60*time.Second, 250*time.Millisecond)
	return sys, d
}

func TestMCP(t *testing.T) {
	sys, dev := startDockerDevice(t)

	t.Run("refused without a valid token", func(t *testing.T) {
		for _, token := range []string{"", "infra_not-a-real-token"} {
			req, err := http.NewRequest("POST", sys.mcpURL(), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
		}
		c, err := mcpclient.NewStreamableHttpClient(sys.mcpURL())
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Start(context.Background()))
		_, err = c.Initialize(context.Background(), mcp.InitializeRequest{Params: mcp.InitializeParams{ProtocolVersion: mcp.LATEST_PROTOCOL_VERSION}})
		require.Error(t, err)
	})

	t.Run("tools per scope and read-only mode", func(t *testing.T) {
		all := append(append([]string{}, readTools...), writeTools...)
		sort.Strings(all)
		withAdmin := append(append([]string{}, all...), adminTools...)
		sort.Strings(withAdmin)
		tests := []struct {
			name, url, token string
			want             []string
		}{
			{"read token", sys.mcpURL(), sys.Read, readTools},
			{"operate token", sys.mcpURL(), sys.Operate, all},
			{"admin token", sys.mcpURL(), sys.Admin, withAdmin},
			{"operate token, read-only server", sys.ReadOnlyURL, sys.Operate, readTools},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, _ := connect(t, tt.url, tt.token)
				require.Equal(t, tt.want, toolNames(t, c))
			})
		}
		// A hidden tool cannot be called either, and nothing is audited.
		c, _ := connect(t, sys.mcpURL(), sys.Read)
		req := mcp.CallToolRequest{}
		req.Params.Name = "pause_polling"
		req.Params.Arguments = map[string]any{"device": dev.Name}
		_, err := c.CallTool(context.Background(), req)
		require.Error(t, err)
		var n int
		require.NoError(t, sys.DB.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'mcp.pause_polling'`).Scan(&n))
		require.Zero(t, n)
	})

	t.Run("annotations are truthful", func(t *testing.T) {
		c, _ := connect(t, sys.mcpURL(), sys.Operate)
		res, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
		require.NoError(t, err)
		for _, tool := range res.Tools {
			a := tool.Annotations
			require.NotNil(t, a.ReadOnlyHint, tool.Name)
			require.NotNil(t, a.DestructiveHint, tool.Name)
			require.NotNil(t, a.IdempotentHint, tool.Name)
			require.NotNil(t, a.OpenWorldHint, tool.Name)
			write := false
			for _, w := range writeTools {
				write = write || w == tool.Name
			}
			require.Equal(t, !write, *a.ReadOnlyHint, tool.Name)
			require.Equal(t, tool.Name == "container_action" || tool.Name == "trigger_schedule" || tool.Name == "service_action" ||
				tool.Name == "vm_action", *a.DestructiveHint, tool.Name)
			require.NotEmpty(t, tool.Description, tool.Name)
		}
	})

	c, notes := connect(t, sys.mcpURL(), sys.Operate)

	t.Run("read tools on a polled device", func(t *testing.T) {
		res := call(t, c, "list_devices", nil, nil)
		require.False(t, res.IsError, textOf(res))
		require.Contains(t, textOf(res), dev.Name)
		require.Contains(t, textOf(res), "online")

		for _, ref := range []string{dev.Name, dev.ID.String()} {
			res = call(t, c, "get_device", map[string]any{"device": ref}, nil)
			require.False(t, res.IsError, textOf(res))
			var got struct {
				Device struct {
					ID     uuid.UUID `json:"id"`
					Status string    `json:"status"`
				} `json:"device"`
				Latest   map[string]any `json:"latest"`
				PollLoop map[string]any `json:"poll_loop"`
			}
			structured(t, res, &got)
			require.Equal(t, dev.ID, got.Device.ID)
			require.NotNil(t, got.Latest["cpu_percent"], textOf(res))
			require.NotNil(t, got.PollLoop, textOf(res))
		}

		res = call(t, c, "get_metrics", map[string]any{"device": dev.Name, "metric": "memory", "window": "15m"}, nil)
		require.False(t, res.IsError, textOf(res))
		var m struct {
			Series []mcpapi.SeriesSummary `json:"series"`
		}
		structured(t, res, &m)
		names := map[string]bool{}
		for _, s := range m.Series {
			names[s.Name] = true
			require.LessOrEqual(t, s.Min, s.Avg)
			require.LessOrEqual(t, s.Avg, s.Max)
		}
		require.True(t, names["used_percent"], textOf(res))
		require.Contains(t, textOf(res), "used_percent (percent): min")

		res = call(t, c, "fleet_health", nil, nil)
		require.False(t, res.IsError, textOf(res))
		var fh mcpapi.FleetHealth
		structured(t, res, &fh)
		require.Len(t, fh.Devices, 1)
		require.Equal(t, dev.ID, fh.Devices[0].DeviceID)

		res = call(t, c, "list_containers", map[string]any{"device": dev.Name, "state": "running"}, nil)
		require.False(t, res.IsError, textOf(res))
		require.Contains(t, textOf(res), dev.Container)

		res = call(t, c, "get_container", map[string]any{"device": dev.Name, "container": dev.Container}, nil)
		require.False(t, res.IsError, textOf(res))
		require.Contains(t, textOf(res), "running")

		res = call(t, c, "get_container_logs", map[string]any{"device": dev.Name, "container": dev.Container, "tail": 3}, nil)
		require.False(t, res.IsError, textOf(res))
		require.Contains(t, textOf(res), "tick ")
		var logs struct {
			Lines []activities.LogLine `json:"lines"`
		}
		structured(t, res, &logs)
		require.NotEmpty(t, logs.Lines)
		require.LessOrEqual(t, len(logs.Lines), 3)

		res = call(t, c, "get_container_logs", map[string]any{"device": dev.Name, "container": dev.Container, "tail": 50, "max_bytes": 256}, nil)
		require.False(t, res.IsError, textOf(res))
		require.Contains(t, textOf(res), "cut to fit the size cap")

		res = call(t, c, "list_events", map[string]any{"device": dev.Name}, nil)
		require.False(t, res.IsError, textOf(res))
		require.Contains(t, textOf(res), "device.online")

		// The test device has journalctl but no journal files, no syslog files and no logread: the search runs
		// over SSH and says so (the sources themselves are tested in package activities).
		res = call(t, c, "get_system_logs", map[string]any{"device": dev.Name, "priority": "err", "since": "1h", "limit": 5}, nil)
		require.False(t, res.IsError, textOf(res))
		var sl struct {
			Source  string `json:"source"`
			Entries []any  `json:"entries"`
		}
		structured(t, res, &sl)
		require.Contains(t, []string{"journald", "syslog", "messages", "logread", "none"}, sl.Source)
		require.LessOrEqual(t, len(sl.Entries), 5)
		require.Contains(t, textOf(res), "entries from "+sl.Source+" on "+dev.Name)
	})

	t.Run("errors the model reads are tool results", func(t *testing.T) {
		tests := []struct {
			tool string
			args map[string]any
			want string
		}{
			{"get_device", map[string]any{"device": "no-such-device"}, "call list_devices"},
			{"get_container", map[string]any{"device": dev.Name, "container": "no-such-container"}, "call list_containers"},
			{"get_container_logs", map[string]any{"device": dev.Name, "container": "no-such-container"}, "call list_containers"},
			{"get_metrics", map[string]any{"device": dev.Name, "metric": "cpu", "window": "forever"}, "window must be"},
			{"get_system_logs", map[string]any{"device": dev.Name, "unit": "nginx;id"}, "unit:"},
			{"get_system_logs", map[string]any{"device": dev.Name, "since": "yesterday"}, "since:"},
			{"get_system_logs", map[string]any{"device": dev.Name, "grep": "a\nb"}, "grep:"},
			{"get_operation", map[string]any{"id": uuid.NewString()}, "list_operations"},
			{"container_action", map[string]any{"device": dev.Name, "action": "restart"}, "exactly one of container"},
			{"container_action", map[string]any{"device": dev.Name, "container": "ghost", "action": "restart"}, "poll_device_now first"},
			{"container_action", map[string]any{"device": dev.Name, "container": dev.Container, "action": "explode"}, "action"},
		}
		for _, tt := range tests {
			res := call(t, c, tt.tool, tt.args, nil)
			require.True(t, res.IsError, "%s %v: %s", tt.tool, tt.args, textOf(res))
			require.Contains(t, textOf(res), tt.want)
		}
	})

	t.Run("resources", func(t *testing.T) {
		ctx := context.Background()
		list, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
		require.NoError(t, err)
		var uris []string
		for _, r := range list.Resources {
			uris = append(uris, r.URI)
		}
		require.ElementsMatch(t, []string{"infra://alerts", "infra://devices", "infra://schema/metrics"}, uris)
		tmpls, err := c.ListResourceTemplates(ctx, mcp.ListResourceTemplatesRequest{})
		require.NoError(t, err)
		require.Len(t, tmpls.ResourceTemplates, 3)

		read := func(uri string) string {
			req := mcp.ReadResourceRequest{}
			req.Params.URI = uri
			res, err := c.ReadResource(ctx, req)
			require.NoError(t, err, uri)
			require.Len(t, res.Contents, 1)
			tc, ok := mcp.AsTextResourceContents(res.Contents[0])
			require.True(t, ok)
			return tc.Text
		}
		require.Contains(t, read("infra://devices"), dev.Name)
		require.Contains(t, read("infra://devices/"+dev.ID.String()), `"poll_loop"`)
		require.Contains(t, read("infra://devices/"+dev.Name+"/containers"), dev.Container)
		var schema struct {
			Metrics []store.MetricInfo `json:"metrics"`
		}
		require.NoError(t, json.Unmarshal([]byte(read("infra://schema/metrics")), &schema))
		var metricNames []string
		for _, m := range schema.Metrics {
			metricNames = append(metricNames, m.Name)
			require.NotEmpty(t, m.Values)
			for _, v := range m.Values {
				require.NotEmpty(t, v.Unit, "%s.%s", m.Name, v.Name)
			}
		}
		require.Equal(t, store.MetricNames(), metricNames)

		req := mcp.ReadResourceRequest{}
		req.Params.URI = "infra://operations/" + uuid.NewString()
		_, err = c.ReadResource(ctx, req)
		require.Error(t, err)
		req.Params.URI = "infra://devices/no-such-device"
		_, err = c.ReadResource(ctx, req)
		require.Error(t, err)
	})

	t.Run("prompts", func(t *testing.T) {
		ctx := context.Background()
		list, err := c.ListPrompts(ctx, mcp.ListPromptsRequest{})
		require.NoError(t, err)
		var names []string
		for _, p := range list.Prompts {
			names = append(names, p.Name)
		}
		require.ElementsMatch(t, []string{"analyze_device", "troubleshoot_container", "fleet_health_check"}, names)
		tests := []struct {
			name  string
			args  map[string]string
			tools []string
		}{
			{"analyze_device", map[string]string{"device": dev.Name}, []string{"get_device", "get_metrics", "list_containers", "get_system_logs"}},
			{"troubleshoot_container", map[string]string{"device": dev.Name, "container": dev.Container}, []string{"get_container", "get_container_logs", "list_events", "get_system_logs"}},
			{"fleet_health_check", nil, []string{"fleet_health", "get_device", "list_events"}},
		}
		for _, tt := range tests {
			req := mcp.GetPromptRequest{}
			req.Params.Name, req.Params.Arguments = tt.name, tt.args
			res, err := c.GetPrompt(ctx, req)
			require.NoError(t, err, tt.name)
			require.NotEmpty(t, res.Messages)
			text, ok := mcp.AsTextContent(res.Messages[0].Content)
			require.True(t, ok)
			last := -1
			for _, tool := range tt.tools {
				i := strings.Index(text.Text, tool)
				require.Greater(t, i, last, "%s names %s after the previous tool", tt.name, tool)
				last = i
			}
		}
	})

	t.Run("polling tools are audited", func(t *testing.T) {
		res := call(t, c, "poll_device_now", map[string]any{"device": dev.Name}, "poll-1")
		require.False(t, res.IsError, textOf(res))
		require.Contains(t, textOf(res), "Polled "+dev.Name)
		got := notes.takeAtLeast(2)
		require.Len(t, got, 2, "%v", got)
		require.Contains(t, got[0].Message, "asking the poll loop")

		res = call(t, c, "pause_polling", map[string]any{"device": dev.ID.String()}, nil)
		require.False(t, res.IsError, textOf(res))
		res = call(t, c, "resume_polling", map[string]any{"device": dev.Name}, nil)
		require.False(t, res.IsError, textOf(res))
		res = call(t, c, "pause_polling", map[string]any{"device": "no-such-device"}, nil)
		require.True(t, res.IsError)

		type rec struct {
			Action, Target, Outcome, Token string
			Workflow                       *string
			Status                         int
		}
		rows, err := sys.DB.Query(context.Background(), `SELECT action, target, outcome, token_name, workflow_id, status_code
			FROM audit_log WHERE action LIKE 'mcp.%' AND action <> 'mcp.container_action' ORDER BY id`)
		require.NoError(t, err)
		var recs []rec
		for rows.Next() {
			var r rec
			require.NoError(t, rows.Scan(&r.Action, &r.Target, &r.Outcome, &r.Token, &r.Workflow, &r.Status))
			recs = append(recs, r)
		}
		require.NoError(t, rows.Err())
		wf := workflows.DevicePollWorkflowID(dev.ID.String())
		target := "device/" + dev.ID.String()
		require.Len(t, recs, 4)
		for i, want := range []rec{
			{Action: "mcp.poll_device_now", Target: target, Outcome: "success", Token: "mcp-operate", Workflow: &wf, Status: 200},
			{Action: "mcp.pause_polling", Target: target, Outcome: "success", Token: "mcp-operate", Workflow: &wf, Status: 200},
			{Action: "mcp.resume_polling", Target: target, Outcome: "success", Token: "mcp-operate", Workflow: &wf, Status: 200},
			{Action: "mcp.pause_polling", Target: mcpapi.MCPPath, Outcome: "failure", Token: "mcp-operate", Status: 404},
		} {
			require.Equal(t, want, recs[i], "audit record %d", i)
		}
	})

	t.Run("container_action restarts with progress, then a conflict", func(t *testing.T) {
		notes.take()
		sent := time.Now()
		res := call(t, c, "container_action", map[string]any{"device": dev.Name, "container": dev.Container, "action": "restart",
			"timeout": 1, "wait_seconds": 60}, "restart-1")
		resultAt := time.Now()
		require.False(t, res.IsError, textOf(res))
		require.Contains(t, textOf(res), "succeeded")
		var op struct {
			ID         uuid.UUID  `json:"id"`
			State      string     `json:"state"`
			WorkflowID string     `json:"workflow_id"`
			StartedAt  *time.Time `json:"started_at"`
			FinishedAt *time.Time `json:"finished_at"`
		}
		structured(t, res, &op)
		require.Equal(t, store.OpSucceeded, op.State)
		got := notes.takeAtLeast(3)
		require.GreaterOrEqual(t, len(got), 3, "%v", got)
		require.Contains(t, got[0].Message, "started: restart")
		// Streaming, not buffering: the first notification reached the client while the operation still ran, so it
		// arrived at least half the operation's own run time before the result (a buffered reply delivers both
		// together).
		took := op.FinishedAt.Sub(*op.StartedAt)
		require.Greater(t, took, 500*time.Millisecond, "restart with a 1s grace period of a TERM-ignoring container")
		require.True(t, got[0].At.After(sent))
		require.Greater(t, resultAt.Sub(got[0].At), took/2, "first progress at %s, result at %s", got[0].At, resultAt)

		var n int
		require.NoError(t, sys.DB.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'mcp.container_action'
			AND outcome = 'success' AND workflow_id = $1 AND detail->>'operation_id' = $2`, op.WorkflowID, op.ID.String()).Scan(&n))
		require.Equal(t, 1, n)

		// A slow stop (the container ignores TERM for 5 s) returns its id at once; a restart meanwhile conflicts.
		res = call(t, c, "container_action", map[string]any{"device": dev.Name, "container": dev.Container, "action": "stop",
			"timeout": 5, "wait_seconds": 0}, nil)
		require.False(t, res.IsError, textOf(res))
		structured(t, res, &op)
		require.Contains(t, textOf(res), "get_operation")
		res = call(t, c, "container_action", map[string]any{"device": dev.Name, "container": dev.Container, "action": "restart"}, nil)
		require.True(t, res.IsError, textOf(res))
		require.Contains(t, textOf(res), "already running")
		require.Contains(t, textOf(res), op.ID.String())

		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			res := call(t, c, "get_operation", map[string]any{"id": op.ID.String()}, nil)
			var got struct {
				State string `json:"state"`
			}
			structured(t, res, &got)
			assert.Equal(ct, store.OpSucceeded, got.State)
		}, 30*time.Second, 250*time.Millisecond)
		res = call(t, c, "list_operations", map[string]any{"device": dev.Name}, nil)
		require.False(t, res.IsError, textOf(res))
		require.Contains(t, textOf(res), op.ID.String())
		require.Contains(t, textOf(res), "by mcp-operate")
		require.NoError(t, sys.DB.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'mcp.container_action'
			AND outcome = 'failure' AND status_code = 409`).Scan(&n))
		require.Equal(t, 1, n)
		dev.engine.Docker(t, "start", dev.Container)
	})

	t.Run("schedule tools: list, create and update (admin only), trigger", func(t *testing.T) {
		admin, _ := connect(t, sys.mcpURL(), sys.Admin)
		res := call(t, c, "list_schedules", nil, nil)
		require.False(t, res.IsError, textOf(res))
		require.Contains(t, textOf(res), "0 schedule(s)")

		// The operate token does not even see create_schedule; calling it anyway fails.
		req := mcp.CallToolRequest{}
		req.Params.Name = "create_schedule"
		req.Params.Arguments = map[string]any{"name": "x", "spec": map[string]any{"every": "24h"}, "action": map[string]any{"type": "image_prune", "tag": "t"}}
		_, err := c.CallTool(context.Background(), req)
		require.Error(t, err)

		res = call(t, admin, "create_schedule", map[string]any{"name": "nightly-prune",
			"spec":   map[string]any{"cron": "0 3 * * *", "time_zone": "UTC"},
			"action": map[string]any{"type": "image_prune", "tag": "no-device-has-this-tag", "stop_on_failure": true}}, nil)
		require.False(t, res.IsError, textOf(res))
		require.Contains(t, textOf(res), "Created schedule nightly-prune")
		bad := call(t, admin, "create_schedule", map[string]any{"name": "broken",
			"spec": map[string]any{"cron": "not a cron"}, "action": map[string]any{"type": "image_prune", "tag": "t"}}, nil)
		require.True(t, bad.IsError, "an invalid spec is a tool error the model can read")

		res = call(t, c, "list_schedules", nil, nil)
		require.Contains(t, textOf(res), "nightly-prune [active]")
		// Edited by name: the spec changes, Temporal's next runs follow; a spec Temporal refuses changes nothing.
		res = call(t, admin, "update_schedule", map[string]any{"schedule": "nightly-prune", "spec": map[string]any{"every": "7m"}}, nil)
		require.False(t, res.IsError, textOf(res))
		require.Contains(t, textOf(res), "Updated schedule nightly-prune")
		res = call(t, c, "list_schedules", nil, nil)
		require.Contains(t, textOf(res), "every 7m")
		bad = call(t, admin, "update_schedule", map[string]any{"schedule": "nightly-prune", "spec": map[string]any{"cron": "99 99 * * *"}}, nil)
		require.True(t, bad.IsError, "a spec Temporal refuses is a tool error")
		res = call(t, c, "list_schedules", nil, nil)
		require.Contains(t, textOf(res), "every 7m", "the refused edit changed nothing")
		res = call(t, c, "trigger_schedule", map[string]any{"schedule": "nightly-prune"}, nil)
		require.False(t, res.IsError, textOf(res))
		res = call(t, c, "trigger_schedule", map[string]any{"schedule": "no-such-schedule"}, nil)
		require.True(t, res.IsError)
		require.Contains(t, textOf(res), "list_schedules")

		var actions []string
		rows, err := sys.DB.Query(context.Background(), `SELECT action || ' ' || outcome || ' ' || token_name FROM audit_log
			WHERE action IN ('mcp.create_schedule', 'mcp.update_schedule', 'mcp.trigger_schedule') ORDER BY id`)
		require.NoError(t, err)
		for rows.Next() {
			var a string
			require.NoError(t, rows.Scan(&a))
			actions = append(actions, a)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []string{"mcp.create_schedule success mcp-admin", "mcp.create_schedule failure mcp-admin",
			"mcp.update_schedule success mcp-admin", "mcp.update_schedule failure mcp-admin",
			"mcp.trigger_schedule success mcp-operate", "mcp.trigger_schedule failure mcp-operate"}, actions)
	})

	t.Run("TypeScript SDK client", func(t *testing.T) {
		runNodeClient(t, sys, dev)
	})
}

// runNodeClient runs client.mjs with node against the system (installing its npm packages first when missing) and
// checks its summary.
func runNodeClient(t *testing.T, sys *system, dev *dockerDevice) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (apt-get install -y nodejs npm); the TypeScript SDK client test needs it")
	}
	dir, err := filepath.Abs(".")
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		npm, err := exec.LookPath("npm")
		require.NoError(t, err, "npm is needed to install the TypeScript SDK")
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "npm ci: %s", out)
	}
	// The container must be running and inventoried again after the previous subtest's stop.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var state string
		assert.NoError(c, sys.DB.QueryRow(context.Background(), `SELECT state FROM containers WHERE device_id = $1 AND name = $2`,
			dev.ID, dev.Container).Scan(&state))
		assert.Equal(c, "running", state)
	}, 30*time.Second, 250*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", sys.mcpURL(), sys.Operate, dev.Name, dev.Container)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	require.NoError(t, err, "client.mjs failed:\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var summary struct {
		Refused  bool     `json:"refused_without_token"`
		Tools    []string `json:"tools"`
		Progress []string `json:"progress"`
		Restart  string   `json:"restart"`
		Conflict string   `json:"conflict"`
		Stop     string   `json:"stop"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &summary), stdout.String())
	require.True(t, summary.Refused)
	all := append(append([]string{}, readTools...), writeTools...)
	sort.Strings(all)
	require.Equal(t, all, summary.Tools)
	require.GreaterOrEqual(t, len(summary.Progress), 2)
	require.Equal(t, store.OpSucceeded, summary.Restart)
	require.Contains(t, summary.Conflict, "already running")
	require.Equal(t, store.OpSucceeded, summary.Stop)
}
