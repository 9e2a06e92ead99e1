package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProbeURL(t *testing.T) {
	tests := []struct {
		listen, path, want string
		wantErr            bool
	}{
		{"", "/readyz", "http://127.0.0.1:9101/readyz", false},
		{"0.0.0.0:9101", "/readyz", "http://127.0.0.1:9101/readyz", false},
		{":8080", "healthz", "http://127.0.0.1:8080/healthz", false},
		{"[::]:9101", "/readyz", "http://[::1]:9101/readyz", false},
		{"10.1.2.3:9101", "/readyz", "http://10.1.2.3:9101/readyz", false},
		{"no-port", "/readyz", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			got, err := probeURL(tt.listen, tt.path)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		wantErr bool
	}{
		{"ready", http.StatusOK, false},
		{"not ready", http.StatusServiceUnavailable, true},
		{"not found", http.StatusNotFound, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, "/readyz", r.URL.Path)
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			err := check(context.Background(), srv.Listener.Addr().String(), "/readyz", 5*time.Second)
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
		})
	}
}

func TestCheckRefusedAndTimeout(t *testing.T) {
	// A port nobody listens on: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	require.Error(t, check(context.Background(), addr, "/readyz", 2*time.Second))

	// A server that never answers: the timeout ends the probe.
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer srv.Close()
	defer close(hang)
	start := time.Now()
	require.Error(t, check(context.Background(), srv.Listener.Addr().String(), "/readyz", 200*time.Millisecond))
	require.Less(t, time.Since(start), 5*time.Second)
}
