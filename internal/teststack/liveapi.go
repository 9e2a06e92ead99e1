package teststack

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/infrastructor/infrastructor/api"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/hub"
)

// LiveAPI is an API process with its own hub and LISTEN connection on a loopback port, as one replica behind a
// load balancer is: the live stream (/ws) works on it. APIs started on the same database are independent replicas.
type LiveAPI struct {
	Addr   string // host:port
	Hub    *hub.Hub
	Server *api.Server
}

// URL is the API's base URL.
func (a *LiveAPI) URL() string { return "http://" + a.Addr }

// WSURL is the URL of its live stream.
func (a *LiveAPI) WSURL() string { return "ws://" + a.Addr + "/ws" }

// ServeLiveAPI starts a LiveAPI with deps (Config and Hub are made here: the default settings with a private data
// directory, changed by edit when set; a nil Log is the hub's, or warnings to standard error) and waits until its hub listens.
// It stops with the test.
func ServeLiveAPI(tb testing.TB, deps api.Deps, hubOpts hub.Options, edit func(*config.Config)) *LiveAPI {
	tb.Helper()
	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	if err != nil {
		tb.Fatalf("teststack: %v", err)
	}
	cfg.DataDir = tb.TempDir()
	if edit != nil {
		edit(cfg)
	}
	switch {
	case deps.Log == nil && hubOpts.Log != nil:
		deps.Log = hubOpts.Log
	case deps.Log == nil:
		deps.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if hubOpts.Log == nil {
		hubOpts.Log = deps.Log
	}
	h := hub.New(hubOpts)
	ctx, cancel := context.WithCancel(context.Background())
	listened := make(chan struct{})
	go func() { defer close(listened); _ = h.Listen(ctx, hub.PoolConnector(deps.Pool)) }()
	deps.Config, deps.Hub = cfg, h
	srv := api.New(deps)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("teststack: %v", err)
	}
	go func() { _ = srv.App().Listener(ln) }()
	tb.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		cancel()
		<-listened
		h.Close()
	})
	for deadline := time.Now().Add(30 * time.Second); !h.Stats().Listening; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("teststack: the hub never LISTENed")
		}
	}
	return &LiveAPI{Addr: ln.Addr().String(), Hub: h, Server: srv}
}

// LiveAPI starts a LiveAPI over the stack's database, workflows and secrets.
func (s *Stack) LiveAPI(tb testing.TB, edit func(*config.Config)) *LiveAPI {
	tb.Helper()
	return ServeLiveAPI(tb, api.Deps{Pool: s.DB, Workflows: s.Poller, Temporal: api.TemporalHealth{Client: s.TC},
		Secrets: s.Secrets}, hub.Options{}, edit)
}
