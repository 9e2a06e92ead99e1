//go:build pprof

package main

// Built with -tags pprof (make bin/infrastructor-pprof), the binary serves Go's profiling endpoints on
// $BENCH_PPROF_LISTEN, for finding what a poll costs (docs/performance.md): the bench sets it on the worker it
// profiles. The product build carries no profiler.

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // the point of this build
	"os"
	"time"
)

func init() {
	addr := os.Getenv("BENCH_PPROF_LISTEN")
	if addr == "" {
		return
	}
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second}
	go func() { slog.Warn("pprof server", "err", srv.ListenAndServe()) }()
}
