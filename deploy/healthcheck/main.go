// Command healthcheck is the container health probe of the Infrastructor image. The runtime image has no shell,
// curl or wget, so Docker's HEALTHCHECK runs this small static binary instead: it sends GET to the HTTP server
// named by INFRA_LISTEN (the same variable the server reads) and exits 0 on a 2xx answer, 1 otherwise.
//
// Usage:
//
//	healthcheck [PATH]
//
// PATH defaults to /readyz (PostgreSQL and Temporal reachable); /healthz checks only that the process answers.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// defaultListen matches the server's default INFRA_LISTEN.
const defaultListen = "127.0.0.1:9101"

func main() {
	path := "/readyz"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := check(context.Background(), os.Getenv("INFRA_LISTEN"), path, 5*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// probeURL turns a listen address into the URL to probe. A server listening on every interface (":9101",
// "0.0.0.0:9101", "[::]:9101") is probed on loopback, since the probe runs inside the same network namespace.
func probeURL(listen, path string) (string, error) {
	if listen == "" {
		listen = defaultListen
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("INFRA_LISTEN=%q: want host:port: %w", listen, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	if len(path) == 0 || path[0] != '/' {
		path = "/" + path
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

// check sends one GET and wants a 2xx status within timeout.
func check(ctx context.Context, listen, path string, timeout time.Duration) error {
	url, err := probeURL(listen, path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request for %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, body)
	}
	return nil
}
