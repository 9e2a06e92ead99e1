package hub

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

// listening starts h.Listen against a fresh test database and waits until it LISTENs.
func listening(t *testing.T, h *Hub, connect func(pool *pgxpool.Pool) Connector) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.PostgresURL(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- h.Listen(ctx, connect(pool)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-stopped:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Listen did not return after its context ended")
		}
	})
	require.Eventually(t, func() bool { return h.Stats().Listening }, 15*time.Second, 10*time.Millisecond)
	return pool
}

// next waits for c's next message.
func next(t *testing.T, c *Client) Message {
	t.Helper()
	select {
	case b := <-c.Messages():
		var m Message
		require.NoError(t, json.Unmarshal(b, &m))
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return Message{}
	}
}

func TestListenDeliversNotifications(t *testing.T) {
	t.Parallel()
	h := New(Options{})
	pool := listening(t, h, PoolConnector)
	c, err := h.Register("k")
	require.NoError(t, err)
	subscribe(t, c, "device.*.status")
	ctx := context.Background()

	// A notification inside a transaction arrives on commit only.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, store.Publish(ctx, tx, store.TopicDeviceStatus(devA), map[string]string{"status": "rolled back"}))
	require.NoError(t, tx.Rollback(ctx))
	require.NoError(t, store.Publish(ctx, pool, store.TopicDeviceMetrics(devA), map[string]int{"cpu": 1})) // not subscribed
	require.NoError(t, store.Publish(ctx, pool, store.TopicDeviceStatus(devA), map[string]string{"status": "online"}))

	m := next(t, c)
	require.Equal(t, TypeUpdate, m.Type)
	require.Equal(t, "device."+devA+".status", m.Topic)
	require.JSONEq(t, `{"status":"online"}`, string(m.Data))
	require.WithinDuration(t, time.Now(), m.Time, time.Minute)

	// Garbage on the channel is counted and skipped; the next good update still arrives.
	_, err = pool.Exec(ctx, `SELECT pg_notify($1, 'not json'), pg_notify($1, '{"topic":"device.x.status"}')`, store.UpdatesChannel)
	require.NoError(t, err)
	require.NoError(t, store.Publish(ctx, pool, store.TopicDeviceStatus(devB), map[string]string{"status": "offline"}))
	m = next(t, c)
	require.Equal(t, "device."+devB+".status", m.Topic)
	require.Equal(t, uint64(2), h.Stats().Malformed)
}

// TestListenSurvivesATerminatedConnection kills the listener's backend: the hub keeps its clients, connects again,
// tells them to resync, and delivers again.
func TestListenSurvivesATerminatedConnection(t *testing.T) {
	t.Parallel()
	h := New(Options{MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	pool := listening(t, h, PoolConnector)
	c, err := h.Register("k")
	require.NoError(t, err)
	subscribe(t, c, "events")
	ctx := context.Background()

	for round := 1; round <= 2; round++ {
		var killed int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1`, ApplicationName).Scan(&killed))
		require.Equal(t, 1, killed, "one listener connection per hub")
		require.Eventually(t, func() bool { return h.Stats().Reconnects == uint64(round) && h.Stats().Listening },
			15*time.Second, 10*time.Millisecond)
		m := next(t, c)
		require.Equal(t, TypeResync, m.Type)
		var gap struct{ From, To time.Time }
		require.NoError(t, json.Unmarshal(m.Data, &gap))
		require.False(t, gap.To.Before(gap.From))

		require.NoError(t, store.Publish(ctx, pool, store.TopicEvents, map[string]int{"round": round}))
		m = next(t, c)
		require.Equal(t, "events", m.Topic)
		require.JSONEq(t, `{"round":`+string(rune('0'+round))+`}`, string(m.Data))
	}
	require.Equal(t, 1, h.Stats().Clients)
	require.NoError(t, c.Err())
}

// TestListenRetriesUntilTheDatabaseAnswers: a connector that fails (database down) is retried with back-off.
func TestListenRetriesUntilTheDatabaseAnswers(t *testing.T) {
	t.Parallel()
	h := New(Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	var attempts atomic.Int32
	flaky := func(pool *pgxpool.Pool) Connector {
		real := PoolConnector(pool)
		return func(ctx context.Context) (*pgx.Conn, error) {
			if attempts.Add(1) <= 3 {
				return nil, errors.New("connection refused")
			}
			return real(ctx)
		}
	}
	pool := listening(t, h, flaky)
	require.Equal(t, int32(4), attempts.Load())
	require.Equal(t, uint64(0), h.Stats().Reconnects, "failed first attempts are not reconnects")

	c, err := h.Register("k")
	require.NoError(t, err)
	subscribe(t, c, "operations")
	require.NoError(t, store.Publish(context.Background(), pool, store.TopicOperations, map[string]string{"id": "op"}))
	require.Equal(t, "operations", next(t, c).Topic)
}

// TestListenDetectsASilentDeadConnection: a link that silently stops carrying packets (no reset, no error) is
// found by the listener's ping after HealthInterval, and the listener connects again.
func TestListenDetectsASilentDeadConnection(t *testing.T) {
	t.Parallel()
	h := New(Options{HealthInterval: 200 * time.Millisecond, MinBackoff: 10 * time.Millisecond})
	var proxy *blackholeProxy
	viaProxy := func(pool *pgxpool.Pool) Connector {
		proxy = newBlackholeProxy(t, pool)
		return func(ctx context.Context) (*pgx.Conn, error) {
			cfg := pool.Config().ConnConfig.Copy()
			cfg.RuntimeParams["application_name"] = ApplicationName
			cfg.Host, cfg.Port = "127.0.0.1", proxy.port
			return pgx.ConnectConfig(ctx, cfg)
		}
	}
	pool := listening(t, h, viaProxy)
	c, err := h.Register("k")
	require.NoError(t, err)
	subscribe(t, c, "events")

	proxy.cut()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, uint64(1), h.Stats().Reconnects)
		assert.True(c, h.Stats().Listening)
	}, 15*time.Second, 10*time.Millisecond)
	require.Equal(t, TypeResync, next(t, c).Type)
	require.NoError(t, store.Publish(context.Background(), pool, store.TopicEvents, map[string]int{"n": 1}))
	require.Equal(t, "events", next(t, c).Topic)
}

// blackholeProxy forwards TCP to the test database; cut makes the connections open at that moment swallow
// everything in both directions while staying open, like a link that went dark. New connections work.
type blackholeProxy struct {
	port  uint16
	mu    sync.Mutex
	holes []*atomic.Bool
}

func newBlackholeProxy(t *testing.T, pool *pgxpool.Pool) *blackholeProxy {
	t.Helper()
	cfg := pool.Config().ConnConfig
	if strings.HasPrefix(cfg.Host, "/") {
		t.Skip("the test database is on a Unix socket; the proxy needs TCP")
	}
	upstream := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &blackholeProxy{port: uint16(ln.Addr().(*net.TCPAddr).Port)}
	var conns []net.Conn
	var connsMu sync.Mutex
	t.Cleanup(func() {
		_ = ln.Close()
		connsMu.Lock()
		defer connsMu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = down.Close()
				continue
			}
			connsMu.Lock()
			conns = append(conns, down, up)
			connsMu.Unlock()
			hole := &atomic.Bool{}
			p.mu.Lock()
			p.holes = append(p.holes, hole)
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if err != nil {
						_ = dst.Close()
						return
					}
					if !hole.Load() {
						if _, err := dst.Write(buf[:n]); err != nil {
							return
						}
					}
				}
			}
			go pipe(up, down)
			go pipe(down, up)
		}
	}()
	return p
}

func (p *blackholeProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range p.holes {
		h.Store(true)
	}
}
