package mcpapi

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/mcptest"
	"github.com/mark3labs/mcp-go/server"
	must "github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
)

// mcpHarness is the MCP tools of a real Server on a fresh migrated database, served in-process by mcp-go's test
// server and called as a token of one scope.
type mcpHarness struct {
	pool *pgxpool.Pool
	c    *client.Client
}

func newMCPHarness(t *testing.T, scope string) *mcpHarness {
	t.Helper()
	pool := testdb.Pool(t)
	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	must.NoError(t, err)
	secret, err := store.NewSecret()
	must.NoError(t, err)
	tok, err := store.CreateToken(context.Background(), pool, scope, []string{scope}, nil, secret)
	must.NoError(t, err)

	e := testServer(service.Deps{Config: cfg, Pool: pool, Log: slog.New(slog.DiscardHandler)}).newMCP()
	ts := mcptest.NewUnstartedServer(t)
	for _, st := range e.srv.ListTools() {
		ts.AddTool(st.Tool, st.Handler)
	}
	ts.AddServerOptions(server.WithToolFilter(e.visibleTools))
	// The test server derives every request's context from this one, as the HTTP endpoint adds the token to it.
	must.NoError(t, ts.Start(context.WithValue(t.Context(), mcpTokenKey, tok)))
	t.Cleanup(ts.Close)
	return &mcpHarness{pool: pool, c: ts.Client()}
}

// call calls a tool and returns its result and text; a protocol error fails the test.
func (h *mcpHarness) call(t *testing.T, tool string, args map[string]any) (*mcp.CallToolResult, string) {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = tool, args
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := h.c.CallTool(ctx, req)
	must.NoError(t, err)
	var text []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			text = append(text, tc.Text)
		}
	}
	return res, strings.Join(text, "\n")
}

func (h *mcpHarness) device(t *testing.T, name string) *store.Device {
	t.Helper()
	d, err := store.CreateDevice(context.Background(), h.pool, &store.Device{Name: name, Host: "192.0.2.10", Port: 22,
		User: "monitor", DeviceType: "linux", PollInterval: 30 * time.Second, HostKeyPolicy: store.PolicyRequireApproval})
	must.NoError(t, err)
	return d
}

// count is the "count" of a list tool's structured result.
func count(t *testing.T, res *mcp.CallToolResult) int {
	t.Helper()
	m, ok := res.StructuredContent.(map[string]any)
	must.True(t, ok, "structured content: %#v", res.StructuredContent)
	n, ok := m["count"].(float64)
	must.True(t, ok, "count: %#v", m["count"])
	return int(n)
}

func TestMCPToolHandlers(t *testing.T) {
	t.Parallel()
	h := newMCPHarness(t, store.ScopeRead)
	dev := h.device(t, "web-1")

	t.Run("a read tool returns data", func(t *testing.T) {
		res, text := h.call(t, "list_devices", nil)
		must.False(t, res.IsError, text)
		must.Contains(t, text, "web-1")
		must.Equal(t, 1, count(t, res))

		res, text = h.call(t, "get_metrics", map[string]any{"device": dev.ID.String(), "metric": "cpu", "window": "15m"})
		must.False(t, res.IsError, text)
		must.Contains(t, text, "cpu of web-1")
	})

	t.Run("an unknown device is a tool error naming what to do", func(t *testing.T) {
		for _, tool := range []string{"get_metrics", "list_containers", "list_events", "list_operations"} {
			res, text := h.call(t, tool, map[string]any{"device": "no-such-device", "metric": "cpu"})
			must.True(t, res.IsError, "%s: %s", tool, text)
			must.Contains(t, text, `no device named or with id "no-such-device"; call list_devices`, tool)
		}
		res, text := h.call(t, "get_metrics", map[string]any{"device": "  ", "metric": "cpu"})
		must.True(t, res.IsError, text)
		must.Contains(t, text, "device is required")
	})

	t.Run("a value outside the schema's enum is a tool error", func(t *testing.T) {
		for _, tt := range []struct {
			tool string
			args map[string]any
			want string
		}{
			{"list_devices", map[string]any{"status": "asleep"}, "status must be online, offline, blocked or unknown"},
			{"list_containers", map[string]any{"state": "gone"}, "state must be created, running, paused, restarting, removing, exited or dead"},
			{"list_events", map[string]any{"severity": "dire"}, "severity must be info, warning or critical"},
			{"list_operations", map[string]any{"state": "done"}, "state must be pending, running, succeeded, failed or cancelled"},
			{"get_metrics", map[string]any{"device": "web-1", "metric": "mood"}, "metric must be one of cpu, cpu_cores, memory, load, disk"},
			{"get_metrics", map[string]any{"device": "web-1"}, "metric must be one of"},
		} {
			res, text := h.call(t, tt.tool, tt.args)
			must.True(t, res.IsError, "%s %v: %s", tt.tool, tt.args, text)
			must.Contains(t, text, tt.want)
		}
	})

	t.Run("arguments of the wrong type are a tool error", func(t *testing.T) {
		res, text := h.call(t, "list_devices", map[string]any{"limit": "many"})
		must.True(t, res.IsError, text)
		must.Contains(t, text, "invalid arguments")
	})

	t.Run("limit defaults and is capped by the schema", func(t *testing.T) {
		ctx := context.Background()
		for i := range 205 {
			must.NoError(t, store.InsertEvent(ctx, h.pool, &store.Event{DeviceID: &dev.ID, Kind: "device.online",
				Message: fmt.Sprintf("event %d", i)}))
		}
		for _, tt := range []struct {
			limit any
			want  int
		}{{nil, 50}, {0, 50}, {-3, 50}, {7, 7}, {100000, 200}} {
			args := map[string]any{"device": "web-1"}
			if tt.limit != nil {
				args["limit"] = tt.limit
			}
			res, text := h.call(t, "list_events", args)
			must.False(t, res.IsError, text)
			must.Equal(t, tt.want, count(t, res), "limit %v", tt.limit)
			must.Contains(t, text, "Older events exist")
		}
	})
}

// TestMCPWriteToolsHiddenFromReadToken: a read token neither sees nor can call the write tools; an operate
// token sees them.
func TestMCPWriteToolsHiddenFromReadToken(t *testing.T) {
	t.Parallel()
	names := func(h *mcpHarness) map[string]bool {
		res, err := h.c.ListTools(t.Context(), mcp.ListToolsRequest{})
		must.NoError(t, err)
		out := map[string]bool{}
		for _, tl := range res.Tools {
			out[tl.Name] = true
		}
		return out
	}
	read := newMCPHarness(t, store.ScopeRead)
	read.device(t, "web-1")
	seen := names(read)
	must.True(t, seen["list_devices"])
	for _, w := range []string{"container_action", "poll_device_now", "pause_polling", "resume_polling", "trigger_schedule", "create_schedule"} {
		must.False(t, seen[w], "%s is listed for a read token", w)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = "pause_polling"
	req.Params.Arguments = map[string]any{"device": "web-1"}
	res, err := read.c.CallTool(t.Context(), req)
	if err == nil {
		must.True(t, res.IsError, "a read token called pause_polling: %v", res.Content)
	}

	operate := newMCPHarness(t, store.ScopeOperate)
	seen = names(operate)
	must.True(t, seen["container_action"])
	must.True(t, seen["pause_polling"])
	must.False(t, seen["create_schedule"], "create_schedule needs admin")
}
