package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/infrastructor/infrastructor/api/mcpapi"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/require"
)

// TestFaultHostileInputComposeWorkdir checks that a compose working directory taken from a container label, which
// any image can set, is never used before an admin confirms it, that a confirmation must name exactly what the
// label says, that a changed label needs a new confirmation, and that a label no shell-safe path can be is
// refused naming the field.
func TestFaultHostileInputComposeWorkdir(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	d := ts.createDevice("compose-host", map[string]any{"enabled": false})
	setLabel := func(dir string) {
		t.Helper()
		_, err := ts.pool.Exec(context.Background(), `INSERT INTO containers (device_id, container_id, name, image, state,
			compose_project, detail) VALUES ($1, 'abc', 'demo-web-1', 'img', 'running', 'demo', jsonb_build_object('compose_working_dir', $2::text))
			ON CONFLICT (device_id, container_id) DO UPDATE SET detail = EXCLUDED.detail, updated_at = now()`, d.ID, dir)
		require.NoError(t, err)
	}
	actions := "/api/v1/devices/" + d.ID + "/compose/demo/actions"
	confirm := "/api/v1/devices/" + d.ID + "/compose/demo/confirm"

	setLabel("/srv/demo")
	e := ts.req("POST", actions, ts.operate, map[string]any{"action": "up"}).requireStatus(t, http.StatusConflict).envelope(t)
	require.Equal(t, "working_dir_unconfirmed", e.Error.Code)
	require.Contains(t, e.Error.Message, "/srv/demo")
	require.Contains(t, e.Error.Message, confirm, "the message names the route that confirms it")

	// MCP shares the rule and says the same.
	base := ts.listen()
	mc, err := client.NewStreamableHttpClient(base+mcpapi.MCPPath, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + ts.operate}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mc.Close() })
	ctx := context.Background()
	require.NoError(t, mc.Start(ctx))
	_, err = mc.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ProtocolVersion: mcp.LATEST_PROTOCOL_VERSION,
		ClientInfo: mcp.Implementation{Name: "compose-test", Version: "1"}}})
	require.NoError(t, err)
	call := mcp.CallToolRequest{}
	call.Params.Name = "container_action"
	call.Params.Arguments = map[string]any{"device": d.ID, "action": "up", "project": "demo", "wait_seconds": 0}
	res, err := mc.CallTool(ctx, call)
	require.NoError(t, err)
	require.True(t, res.IsError)
	text := fmt.Sprint(res.Content)
	require.Contains(t, text, "/srv/demo")
	require.Contains(t, text, confirm)
	require.NotContains(t, text, "retry later", "an unconfirmed directory does not go away by waiting")

	// Only an admin confirms, and only what the label says.
	ts.req("POST", confirm, ts.operate, map[string]any{"working_dir": "/srv/demo"}).requireStatus(t, http.StatusForbidden)
	e = ts.req("POST", confirm, ts.admin, map[string]any{"working_dir": "/srv/other"}).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
	require.Contains(t, e.Error.Fields["working_dir"], "does not match")
	e = ts.req("POST", confirm, ts.admin, map[string]any{}).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
	require.Contains(t, e.Error.Fields, "working_dir")
	ts.req("POST", "/api/v1/devices/"+d.ID+"/compose/Bad_Name/confirm", ts.admin, map[string]any{"working_dir": "/srv/demo"}).
		requireStatus(t, http.StatusUnprocessableEntity)
	ts.req("POST", "/api/v1/devices/"+newID()+"/compose/demo/confirm", ts.admin, map[string]any{"working_dir": "/srv/demo"}).
		requireStatus(t, http.StatusNotFound)

	var w struct {
		Project    string `json:"project"`
		WorkingDir string `json:"working_dir"`
		TokenName  string `json:"token_name"`
	}
	ts.req("POST", confirm, ts.admin, map[string]any{"working_dir": "/srv/demo"}).requireStatus(t, http.StatusOK).into(t, &w)
	require.Equal(t, "demo", w.Project)
	require.Equal(t, "/srv/demo", w.WorkingDir)
	require.Equal(t, "admin", w.TokenName)
	rec := ts.auditRecords()[0]
	require.Equal(t, "compose.confirm_working_dir", rec.Action)
	require.Equal(t, "device/"+d.ID+"/compose/demo", rec.Target)
	require.Equal(t, "success", rec.Outcome)
	require.Contains(t, string(rec.Detail), "/srv/demo")

	var op struct {
		Params map[string]any `json:"params"`
	}
	ts.req("POST", actions, ts.operate, map[string]any{"action": "up"}).requireStatus(t, http.StatusAccepted).into(t, &op)
	require.Equal(t, "/srv/demo", op.Params["working_dir"])

	// An image that relabels the project needs a new confirmation.
	setLabel("/srv/elsewhere")
	e = ts.req("POST", actions, ts.operate, map[string]any{"action": "down"}).requireStatus(t, http.StatusConflict).envelope(t)
	require.Contains(t, e.Error.Message, "/srv/elsewhere")
	require.Contains(t, e.Error.Message, "/srv/demo")

	// A label that is no acceptable path can be neither used nor confirmed.
	for _, hostile := range []string{`/srv/x\'; touch /tmp/pwned; #`, `/srv/x'; touch /tmp/pwned; '`} {
		setLabel(hostile)
		e = ts.req("POST", actions, ts.operate, map[string]any{"action": "up"}).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
		require.Contains(t, e.Error.Fields, "working_dir")
		e = ts.req("POST", confirm, ts.admin, map[string]any{"working_dir": hostile}).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
		require.Contains(t, e.Error.Fields, "working_dir")
	}
}
