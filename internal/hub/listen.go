package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infrastructor/infrastructor/internal/store"
)

// ApplicationName names the listener's connection in pg_stat_activity.
const ApplicationName = "infrastructor-hub"

// Connector opens a new dedicated database connection for the listener.
type Connector func(ctx context.Context) (*pgx.Conn, error)

// PoolConnector opens connections with the settings of pool but outside it: LISTEN holds its connection for good,
// and a pooled connection would both take a slot from queries and be handed to someone else after a reconnect.
func PoolConnector(pool *pgxpool.Pool) Connector {
	return func(ctx context.Context) (*pgx.Conn, error) {
		cfg := pool.Config().ConnConfig.Copy()
		cfg.RuntimeParams["application_name"] = ApplicationName
		return pgx.ConnectConfig(ctx, cfg)
	}
}

// Listen feeds the hub from PostgreSQL: it LISTENs on store.UpdatesChannel and publishes every notification until
// ctx ends. When the connection drops it reconnects with exponential back-off (MinBackoff to MaxBackoff) while the
// hub keeps its clients, and then sends them a resync message, since updates in the gap are lost. It returns nil
// when ctx ends.
func (h *Hub) Listen(ctx context.Context, connect Connector) error {
	backoff := h.opts.MinBackoff
	connected := false // whether a connection was ever established, to tell a reconnect from the first connect
	var lostAt time.Time
	for ctx.Err() == nil {
		conn, err := h.listenConn(ctx, connect)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			h.log.Warn("live updates: cannot LISTEN; retrying", "in", backoff, "err", err)
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(backoff*2, h.opts.MaxBackoff)
			continue
		}
		backoff = h.opts.MinBackoff
		h.listening.Store(true)
		if connected {
			h.reconnects.Add(1)
			h.log.Info("live updates: listening again", "gap", time.Since(lostAt).Round(time.Millisecond))
			h.resync(lostAt, time.Now())
		}
		connected = true
		err = h.receive(ctx, conn)
		h.listening.Store(false)
		lostAt = time.Now()
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx)
		cancel()
		if ctx.Err() == nil {
			h.log.Warn("live updates: lost the database connection; reconnecting", "err", err)
		}
	}
	return nil
}

func (h *Hub) listenConn(ctx context.Context, connect Connector) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := connect(cctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{store.UpdatesChannel}.Sanitize()); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("LISTEN %s: %w", store.UpdatesChannel, err)
	}
	return conn, nil
}

// receive publishes notifications until the connection fails or ctx ends. A connection that goes quiet for
// HealthInterval is pinged, because a peer that vanished without a reset (a cut link) reports no error by itself.
func (h *Hub) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, h.opts.HealthInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			h.publishRaw(n.Payload)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// pgconn keeps a connection whose read merely timed out; make sure it is still alive.
			pctx, cancel := context.WithTimeout(ctx, min(5*time.Second, h.opts.HealthInterval))
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping after %s without notifications: %w", h.opts.HealthInterval, err)
			}
		default:
			return fmt.Errorf("wait for notification: %w", err)
		}
	}
}

func (h *Hub) publishRaw(payload string) {
	var n store.LiveUpdate
	if err := json.Unmarshal([]byte(payload), &n); err != nil || n.Topic == "" {
		h.malformed.Add(1)
		h.log.Warn("live updates: malformed notification ignored", "bytes", len(payload), "err", err)
		return
	}
	if len(n.Data) == 0 {
		n.Data = json.RawMessage("null")
	}
	h.Publish(n)
}

// resync tells every client that updates between from and to may be lost.
func (h *Hub) resync(from, to time.Time) {
	data, _ := json.Marshal(map[string]time.Time{"from": from.UTC(), "to": to.UTC()})
	msg, _ := json.Marshal(Message{Type: TypeResync, Time: to.UTC(), Data: data})
	h.broadcast(msg)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
