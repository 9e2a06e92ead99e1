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

// TestMCPStreamEndsWhenItsTokenIsRevoked: a tool call still streaming progress (as container_action does while an
// operation runs) is ended when the re-check finds its token revoked, and the model reads why (#15).
func TestMCPStreamEndsWhenItsTokenIsRevoked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db, tok, secret := withToken(t, "agent", store.ScopeRead)

	t.Cleanup(s.Close)
	e := s.newMCP()
	e.tool(mcp.NewTool("waits", annotations("waits", true, false, true, false)),
		func(ctx context.Context, call *toolCall) (*mcp.CallToolResult, error) {
			e.progress(ctx, call, 1, 2, "waiting")
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(30 * time.Second):
				return mcp.NewToolResultText("the stream was never ended"), nil
			}
		})
	url := serveMCP(t, s, e)

	c, err := client.NewStreamableHttpClient(url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + secret}))
	must.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	streaming := make(chan struct{}, 1)
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == string(mcp.MethodNotificationProgress) {
			streaming <- struct{}{}
		}
	})
	must.NoError(t, c.Start(ctx))
	_, err = c.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ProtocolVersion: mcp.LATEST_PROTOCOL_VERSION,
		ClientInfo: mcp.Implementation{Name: "revoke-test", Version: "1"}}})
	must.NoError(t, err)

	go func() {
		<-streaming
		if _, err := store.RevokeToken(ctx, db, tok.ID); err == nil {
			_ = s.RecheckTokens(ctx)
		}
	}()
	req := mcp.CallToolRequest{}
	req.Params.Name = "waits"
	req.Params.Meta = &mcp.Meta{ProgressToken: "p1"}
	start := time.Now()
	res, err := c.CallTool(ctx, req)
	must.NoError(t, err)
	must.Less(t, time.Since(start), 20*time.Second)
	must.True(t, res.IsError, "%v", res.Content)
	must.Contains(t, res.Content[0].(mcp.TextContent).Text, "token revoked")
	must.Empty(t, s.Streams.IDs(), "the ended stream is forgotten")
}
