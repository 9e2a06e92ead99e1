package mcpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mark3labs/mcp-go/mcp"
	must "github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/store"
)

// TestMCPToolSaysDatabaseUnavailable: a tool whose database is down answers with a tool error the model can act on
// ("database unavailable; retry"), not an internal error (#15).
func TestMCPToolSaysDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must.NoError(t, err)
	addr := ln.Addr().String()
	must.NoError(t, ln.Close())
	pool, err := pgxpool.New(context.Background(), "postgres://infrastructor@"+addr+"/x?sslmode=disable")
	must.NoError(t, err)
	t.Cleanup(pool.Close)
	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	must.NoError(t, err)
	s := testServer(service.Deps{Config: cfg, Pool: pool, Log: slog.New(slog.DiscardHandler)})
	e := s.newMCP()

	// Past authentication (the token is already resolved), so the tool itself meets the outage.
	ctx := context.WithValue(context.Background(), mcpTokenKey, &store.Token{ID: uuid.New(), Name: "t", Scopes: []string{store.ScopeRead}})
	msg := e.srv.HandleMessage(ctx, json.RawMessage(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_devices","arguments":{}}}`))
	b, err := json.Marshal(msg)
	must.NoError(t, err)
	var out struct {
		Result mcp.CallToolResult `json:"result"`
	}
	must.NoError(t, json.Unmarshal(b, &out), "%s", b)
	must.True(t, out.Result.IsError, "%s", b)
	must.Contains(t, string(b), "database unavailable; retry")
	must.False(t, strings.Contains(string(b), "127.0.0.1"), "the tool error leaks the database address: %s", b)
}
