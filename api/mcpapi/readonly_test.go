package mcpapi

import (
	"context"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	must "github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
)

// TestMCPContainerActionOnReadOnlyDevice: the container_action tool answers an operation on a read-only device
// with a tool error that says so (not "wait and retry"), before any operation starts.
func TestMCPContainerActionOnReadOnlyDevice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db, _, secret := withToken(t, "operator", store.ScopeOperate)
	dev, err := store.CreateDevice(ctx, db, &store.Device{Name: "monitor-only", Host: "192.0.2.10", Port: 22, User: "monitor",
		DeviceType: "linux", PollInterval: 30 * time.Second, HostKeyPolicy: store.PolicyRequireApproval, ReadOnly: true})
	must.NoError(t, err)

	c, err := client.NewStreamableHttpClient(serveMCP(t, s, s.newMCP()), transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + secret}))
	must.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	must.NoError(t, c.Start(ctx))
	_, err = c.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ProtocolVersion: mcp.LATEST_PROTOCOL_VERSION,
		ClientInfo: mcp.Implementation{Name: "read-only-test", Version: "1"}}})
	must.NoError(t, err)

	for _, args := range []map[string]any{
		{"device": dev.Name, "container": "web", "action": "restart"},
		{"device": dev.Name, "project": "demo", "action": "up"},
	} {
		req := mcp.CallToolRequest{}
		req.Params.Name = "container_action"
		req.Params.Arguments = args
		res, err := c.CallTool(ctx, req)
		must.NoError(t, err)
		must.True(t, res.IsError, "%v", res.Content)
		text := res.Content[0].(mcp.TextContent).Text
		must.Contains(t, text, "read-only")
		must.NotContains(t, text, "retry later")
	}
	ops, _, err := store.ListOperations(ctx, db, store.OperationFilter{})
	must.NoError(t, err)
	must.Empty(t, ops, "no operation was recorded")
}
