package mcp_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/internal/store"
)

// BenchmarkMCPReadTool measures one list_devices call over a fleet of 50 stored devices, end to end: HTTP,
// token check, mcp-go, PostgreSQL and the answer's text and structured forms. It reports the p50 and p99
// latency of the calls besides the mean.
func BenchmarkMCPReadTool(b *testing.B) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(b, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(b, err)
	sys := startSystem(b, []ssh.Signer{signer})
	ctx := context.Background()
	for i := range 50 {
		// Disabled: stored devices without poll loops, so the benchmark measures the MCP path alone.
		_, err := store.CreateDevice(ctx, sys.DB, &store.Device{Name: fmt.Sprintf("bench-%02d", i), Host: "192.0.2.1", Port: 22,
			User: "bench", DeviceType: "linux", Tags: []string{"bench"}, PollInterval: time.Minute, Enabled: false,
			HostKeyPolicy: store.PolicyRequireApproval})
		require.NoError(b, err)
	}
	c, _ := connect(b, sys.mcpURL(), sys.Read)
	res := call(b, c, "list_devices", nil, nil)
	require.False(b, res.IsError, textOf(res))

	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		res := call(b, c, "list_devices", nil, nil)
		durations = append(durations, time.Since(start))
		if res.IsError {
			b.Fatal(textOf(res))
		}
	}
	b.StopTimer()
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	pct := func(p float64) float64 {
		return float64(durations[int(p*float64(len(durations)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
