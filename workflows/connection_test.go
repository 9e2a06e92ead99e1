package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/infrastructor/infrastructor/internal/testenv"
)

// compressionSeen records the compression of every request a client sends.
type compressionSeen struct {
	mu   sync.Mutex
	seen map[string]int
}

func (c *compressionSeen) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return ctx
}
func (c *compressionSeen) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (c *compressionSeen) HandleConn(context.Context, stats.ConnStats) {}
func (c *compressionSeen) HandleRPC(_ context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.OutHeader); ok && h.Client {
		c.mu.Lock()
		c.seen[h.Compression]++
		c.mu.Unlock()
	}
}

// The setting reaches the wire: with "none" the requests to a real Temporal server go uncompressed (the SDK
// gzips them by default), with "gzip" they are gzipped.
func TestConnectionOptionsCompression(t *testing.T) {
	t.Parallel()
	addr := testenv.TemporalAddress(t)
	for setting, want := range map[string]string{"none": "", "gzip": "gzip"} {
		opts, err := ConnectionOptions(setting)
		require.NoError(t, err)
		rec := &compressionSeen{seen: map[string]int{}}
		opts.DialOptions = append(opts.DialOptions, grpc.WithStatsHandler(rec))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		c, err := client.DialContext(ctx, client.Options{HostPort: addr, ConnectionOptions: opts})
		require.NoError(t, err, setting)
		_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
		require.NoError(t, err)
		_, err = c.WorkflowService().GetSystemInfo(ctx, nil)
		c.Close()
		cancel()
		require.NoError(t, err)
		rec.mu.Lock()
		require.NotEmpty(t, rec.seen, setting)
		for comp, n := range rec.seen {
			require.Equal(t, want, comp, "%s: %d requests compressed with %q", setting, n, comp)
		}
		rec.mu.Unlock()
	}
	_, err := ConnectionOptions("zstd")
	require.ErrorContains(t, err, "zstd")
}

// BenchmarkTemporalCompression is the client's CPU per request to a real Temporal server with and without gzip:
// a signal carrying a 2 KB JSON payload (about a poll result's size) to a workflow that does not exist, so the
// server reads and decodes the request and keeps nothing. Reported as client-µs/op (user + system CPU of this
// process, which runs nothing else meanwhile):
//
//	go test -run '^$' -bench TemporalCompression -benchtime 2000x ./workflows/
func BenchmarkTemporalCompression(b *testing.B) {
	addr := testenv.TemporalAddress(b)
	payload := map[string]any{}
	for i := range 40 {
		payload[fmt.Sprintf("figure_%02d", i)] = strings.Repeat("x", 12) + fmt.Sprint(i*7919)
	}
	for _, setting := range []string{"none", "gzip"} {
		b.Run(setting, func(b *testing.B) {
			opts, err := ConnectionOptions(setting)
			require.NoError(b, err)
			c, err := client.Dial(client.Options{HostPort: addr, ConnectionOptions: opts})
			require.NoError(b, err)
			defer c.Close()
			ctx := context.Background()
			cpu := func() float64 {
				var ru syscall.Rusage
				require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
				return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
			}
			cpu0 := cpu()
			b.ResetTimer()
			for i := range b.N {
				// NotFound is the expected answer; any other error is a failure.
				err := c.SignalWorkflow(ctx, fmt.Sprintf("no-such-workflow-%d", i), "", "poll", payload)
				var nf *serviceerror.NotFound
				if !errors.As(err, &nf) {
					b.Fatalf("signal: %v", err)
				}
			}
			b.StopTimer()
			b.ReportMetric((cpu()-cpu0)/float64(b.N)*1e6, "client-µs/op")
		})
	}
}
