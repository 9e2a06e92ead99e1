package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
