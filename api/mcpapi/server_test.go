package mcpapi

import (
	"github.com/infrastructor/infrastructor/api/httpx"
	"github.com/infrastructor/infrastructor/api/service"
)

// testServer is the MCP endpoint over a service built from d.
func testServer(d service.Deps) *Server { return New(&httpx.Gate{Service: service.New(d)}) }
