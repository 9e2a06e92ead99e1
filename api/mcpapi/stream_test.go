package mcpapi

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	must "github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
)

// serveApp serves app on a real loopback listener and returns its base URL.
func serveApp(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return "http://" + ln.Addr().String()
}

// TestServeStreamingDeliversBeforeTheHandlerEnds: a handler that flushes a first chunk and then waits until the
// client has read it only finishes if the chunk really reached the client while the handler still ran. A
// buffering bridge (like Fiber's net/http adaptor) deadlocks here and the test fails at its deadline.
func TestServeStreamingDeliversBeforeTheHandlerEnds(t *testing.T) {
	t.Parallel()
	clientRead := make(chan struct{})
	handlerDone := make(chan error, 1)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/stream", func(c *fiber.Ctx) error {
		return serveStreaming(c, context.Background(), func(ctx context.Context, w *streamResponse) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("X-Early", "yes")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("data: first\n\n"))
			w.Flush()
			select {
			case <-clientRead:
				_, _ = w.Write([]byte("data: second\n\n"))
				w.Flush()
				handlerDone <- nil
			case <-time.After(20 * time.Second):
				handlerDone <- errors.New("the client never saw the first chunk: the response was buffered")
			}
		})
	})
	url := serveApp(t, app)

	resp, err := http.Get(url + "/stream")
	must.NoError(t, err)
	defer resp.Body.Close()
	must.Equal(t, http.StatusOK, resp.StatusCode)
	must.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	must.Equal(t, "yes", resp.Header.Get("X-Early"))
	rd := bufio.NewReader(resp.Body)
	line, err := rd.ReadString('\n')
	must.NoError(t, err)
	must.Equal(t, "data: first\n", line)
	close(clientRead)
	rest := ""
	for {
		l, err := rd.ReadString('\n')
		rest += l
		if err != nil {
			break
		}
	}
	must.NoError(t, <-handlerDone)
	must.Equal(t, "\ndata: second\n\n", rest)
}

// TestServeStreamingPlainAndHangUp: a handler that never flushes is answered like any Fiber response (status,
// headers, body); a client that hangs up during a stream cancels the handler's context and fails its writes.
func TestServeStreamingPlainAndHangUp(t *testing.T) {
	t.Parallel()
	cancelled := make(chan error, 1)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/plain", func(c *fiber.Ctx) error {
		return serveStreaming(c, context.Background(), func(ctx context.Context, w *streamResponse) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"ok":true}`))
		})
	})
	app.Get("/hangup", func(c *fiber.Ctx) error {
		return serveStreaming(c, context.Background(), func(ctx context.Context, w *streamResponse) {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("data: x\n\n"))
			w.Flush()
			// Keep writing until the bridge notices the client is gone.
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			deadline := time.After(20 * time.Second)
			for {
				select {
				case <-ctx.Done():
					_, err := w.Write([]byte("late"))
					cancelled <- err
					return
				case <-tick.C:
					_, _ = w.Write([]byte("data: tick\n\n"))
					w.Flush()
				case <-deadline:
					cancelled <- errors.New("handler context never cancelled")
					return
				}
			}
		})
	})
	url := serveApp(t, app)

	resp, err := http.Get(url + "/plain")
	must.NoError(t, err)
	body := make([]byte, 64)
	n, _ := resp.Body.Read(body)
	resp.Body.Close()
	must.Equal(t, http.StatusAccepted, resp.StatusCode)
	must.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	must.Equal(t, `{"ok":true}`, string(body[:n]))

	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	must.NoError(t, err)
	_, err = conn.Write([]byte("GET /hangup HTTP/1.1\r\nHost: x\r\n\r\n"))
	must.NoError(t, err)
	line, err := bufio.NewReader(conn).ReadString('\n')
	must.NoError(t, err)
	must.Contains(t, line, "200")
	must.NoError(t, conn.Close())
	must.ErrorIs(t, <-cancelled, errClientGone)
}

// TestMCPProgressStreamsThroughFiber runs a tool through the real /mcp handler (authentication, mcp-go, the
// bridge) whose result depends on the client having received its progress notification first: with a buffered
// response the tool would give up waiting and answer with an error.
func TestMCPProgressStreamsThroughFiber(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _, _, secret := withToken(t, "stream", store.ScopeRead)

	e := s.newMCP()
	seen := make(chan struct{})
	e.srv.AddTool(mcp.NewTool("gated", annotations("gated", true, false, true, false)),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			e.progress(ctx, &toolCall{req: req}, 1, 2, "waiting for the client to see this")
			select {
			case <-seen:
				return mcp.NewToolResultText("the client saw the progress before the result"), nil
			case <-time.After(20 * time.Second):
				return mcp.NewToolResultError("the progress notification did not reach the client before the result"), nil
			}
		})
	url := serveMCP(t, s, e)

	c, err := client.NewStreamableHttpClient(url, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + secret}))
	must.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	var progress []string
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == string(mcp.MethodNotificationProgress) {
			progress = append(progress, n.Params.AdditionalFields["message"].(string))
			close(seen)
		}
	})
	must.NoError(t, c.Start(ctx))
	_, err = c.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ProtocolVersion: mcp.LATEST_PROTOCOL_VERSION,
		ClientInfo: mcp.Implementation{Name: "stream-test", Version: "1"}}})
	must.NoError(t, err)
	req := mcp.CallToolRequest{}
	req.Params.Name = "gated"
	req.Params.Meta = &mcp.Meta{ProgressToken: "p1"}
	res, err := c.CallTool(ctx, req)
	must.NoError(t, err)
	must.False(t, res.IsError, "%v", res.Content)
	must.Equal(t, []string{"waiting for the client to see this"}, progress)
}
