package mcpapi

import (
	"context"
	"log/slog"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/infrastructor/infrastructor/api/httpx"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/jackc/pgx/v5/pgxpool"
	must "github.com/stretchr/testify/require"
)

// testServer is the MCP endpoint over a service built from d.
func testServer(d service.Deps) *Server { return New(&httpx.Gate{Service: service.New(d)}) }

// withToken is an MCP server on a fresh migrated database holding one token of scope, whose secret it returns.
func withToken(t *testing.T, name, scope string) (s *Server, db *pgxpool.Pool, tok *store.Token, secret string) {
	t.Helper()
	db = testdb.Pool(t)
	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	must.NoError(t, err)
	secret, err = store.NewSecret()
	must.NoError(t, err)
	tok, err = store.CreateToken(context.Background(), db, name, []string{scope}, nil, secret)
	must.NoError(t, err)
	return testServer(service.Deps{Config: cfg, Pool: db, Log: slog.New(slog.DiscardHandler)}), db, tok, secret
}

// serveMCP serves e at MCPPath on a real listener, as the API mounts it, and returns the endpoint's URL.
func serveMCP(t *testing.T, s *Server, e *mcpEndpoint) string {
	t.Helper()
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ErrorHandler: httpx.ErrorHandler(s.Log)})
	app.All(MCPPath, e.handle)
	return serveApp(t, app) + MCPPath
}
