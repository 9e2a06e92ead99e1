package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/infrastructor/infrastructor/api"
	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/hub"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/infrastructor/infrastructor/internal/testenv"
	"github.com/infrastructor/infrastructor/internal/teststack"
)

// wsAPI is one API process with its own hub and LISTEN connection, as one replica behind a load balancer is.
type wsAPI struct {
	URL string // ws://host:port/ws
	Hub *hub.Hub
}

// startWSAPI runs an API server with a hub on db. Servers started on the same database are independent replicas.
func startWSAPI(t *testing.T, db *pgxpool.Pool, opts hub.Options, edit func(*config.Config)) *wsAPI {
	t.Helper()
	live := teststack.ServeLiveAPI(t, api.Deps{Pool: db}, opts, edit)
	return &wsAPI{URL: live.WSURL(), Hub: live.Hub}
}

// wsDatabase is a migrated test database with a token of each scope.
type wsDatabase struct {
	DB     *pgxpool.Pool
	Tokens map[string]string // scope -> secret
}

func newWSDatabase(t *testing.T) *wsDatabase {
	t.Helper()
	ctx := context.Background()
	db := testdb.Pool(t)
	d := &wsDatabase{DB: db, Tokens: map[string]string{}}
	for _, scope := range []string{store.ScopeRead, store.ScopeAdmin} {
		secret, err := store.NewSecret()
		require.NoError(t, err)
		_, err = store.CreateToken(ctx, db, "ws-"+scope, []string{scope}, nil, secret)
		require.NoError(t, err)
		d.Tokens[scope] = secret
	}
	return d
}

func (d *wsDatabase) device(t *testing.T, name string) uuid.UUID {
	t.Helper()
	dev, err := store.CreateDevice(context.Background(), d.DB, &store.Device{Name: name, Host: "192.0.2.1", Port: 22, User: "monitor",
		PollInterval: time.Minute, Enabled: true, HostKeyPolicy: "require_approval", Status: "unknown"})
	require.NoError(t, err)
	return dev.ID
}

// wsConn is a real WebSocket client.
type wsConn struct {
	t *testing.T
	c *websocket.Conn
}

func bearer(secret string) http.Header {
	return http.Header{"Authorization": {"Bearer " + secret}}
}

// dialWS opens a connection without reading anything.
func dialWS(t *testing.T, url string, header http.Header) (*wsConn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial(url, header)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return &wsConn{t: t, c: c}, resp, nil
}

// connect opens an authenticated connection and reads the welcome.
func (a *wsAPI) connect(t *testing.T, secret string) *wsConn {
	t.Helper()
	w, _, err := dialWS(t, a.URL, bearer(secret))
	require.NoError(t, err)
	require.Equal(t, "welcome", w.read().Type)
	return w
}

func (w *wsConn) send(msg string) {
	w.t.Helper()
	require.NoError(w.t, w.c.WriteMessage(websocket.TextMessage, []byte(msg)))
}

// next reads the next message within 10s.
func (w *wsConn) next() (hub.Message, error) { return w.nextWithin(10 * time.Second) }

// nextWithin reads the next message within d.
func (w *wsConn) nextWithin(d time.Duration) (hub.Message, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(d))
	_, raw, err := w.c.ReadMessage()
	if err != nil {
		return hub.Message{}, err
	}
	var m hub.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return hub.Message{}, fmt.Errorf("message %s: %w", raw, err)
	}
	return m, nil
}

func (w *wsConn) read() hub.Message {
	w.t.Helper()
	m, err := w.next()
	require.NoError(w.t, err)
	return m
}

// readWithin reads the next message within d: for updates that follow slow work on a loaded machine.
func (w *wsConn) readWithin(d time.Duration) hub.Message {
	w.t.Helper()
	m, err := w.nextWithin(d)
	require.NoError(w.t, err)
	return m
}

// subscribe subscribes and waits for the confirmation.
func (w *wsConn) subscribe(topics ...string) {
	w.t.Helper()
	b, _ := json.Marshal(map[string]any{"type": "subscribe", "topics": topics})
	w.send(string(b))
	require.Equal(w.t, "subscribed", w.read().Type)
}

// expectClose reads until the server's close frame (within 30s) and checks its code and reason. The deadline is
// set here: the one a previous read left may have passed while the client deliberately did not read.
func (w *wsConn) expectClose(code int, reason string) {
	w.t.Helper()
	// A fresh deadline: the one left by an earlier read may have run out while the test was busy elsewhere
	// (flooding other clients on a loaded machine), which is no failure of the close.
	_ = w.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, _, err := w.c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		require.True(w.t, errors.As(err, &ce), "want a close frame, got %v", err)
		require.Equal(w.t, code, ce.Code, "close reason %q", ce.Text)
		require.Contains(w.t, ce.Text, reason)
		return
	}
}

func errorCode(t *testing.T, m hub.Message) string {
	t.Helper()
	require.Equal(t, "error", m.Type)
	var e struct{ Code, Message string }
	require.NoError(t, json.Unmarshal(m.Data, &e))
	require.NotEmpty(t, e.Message)
	return e.Code
}

func TestWebSocketAuthentication(t *testing.T) {
	t.Parallel()
	d := newWSDatabase(t)
	var logs lockedBuffer
	debug := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := startWSAPI(t, d.DB, hub.Options{Log: debug}, func(c *config.Config) { c.WSOrigins = []string{"https://dash.example"} })
	ctx := context.Background()
	expired := time.Now().Add(-time.Hour)
	expiredSecret, _ := store.NewSecret()
	_, err := store.CreateToken(ctx, d.DB, "expired", []string{store.ScopeAdmin}, &expired, expiredSecret)
	require.NoError(t, err)
	revokedSecret, _ := store.NewSecret()
	revoked, err := store.CreateToken(ctx, d.DB, "revoked", []string{store.ScopeAdmin}, nil, revokedSecret)
	require.NoError(t, err)
	_, err = store.RevokeToken(ctx, d.DB, revoked.ID)
	require.NoError(t, err)

	t.Run("header", func(t *testing.T) {
		w, _, err := dialWS(t, a.URL, bearer(d.Tokens[store.ScopeRead]))
		require.NoError(t, err)
		m := w.read()
		require.Equal(t, "welcome", m.Type)
		require.Contains(t, string(m.Data), `"ws-read"`)
		w.subscribe("events") // read scope suffices
	})
	t.Run("first message", func(t *testing.T) {
		w, _, err := dialWS(t, a.URL, nil)
		require.NoError(t, err)
		w.send(`{"type":"auth","token":"` + d.Tokens[store.ScopeRead] + `","id":"hello"}`)
		m := w.read()
		require.Equal(t, "welcome", m.Type)
		require.JSONEq(t, `"hello"`, string(m.ID))
		w.send(`{"type":"auth","token":"` + d.Tokens[store.ScopeRead] + `"}`)
		require.Equal(t, "already_authenticated", errorCode(t, w.read()))
	})
	for _, tt := range []struct {
		name   string
		header http.Header
		first  string // first message, when no header
		reason string
	}{
		{"wrong header token", bearer("not-a-token"), "", "invalid, expired or revoked token"},
		{"expired token", bearer(expiredSecret), "", "invalid, expired or revoked token"},
		{"revoked token", bearer(revokedSecret), "", "invalid, expired or revoked token"},
		{"header without bearer", http.Header{"Authorization": {"Basic " + d.Tokens[store.ScopeRead]}}, "", "missing bearer token"},
		{"wrong token in auth message", nil, `{"type":"auth","token":"not-a-token"}`, "invalid, expired or revoked token"},
		{"subscribe before auth", nil, `{"type":"subscribe","topics":["events"]}`, "authenticate first"},
		{"garbage before auth", nil, `hello`, "authenticate first"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, _, err := dialWS(t, a.URL, tt.header)
			require.NoError(t, err)
			if tt.first != "" {
				w.send(tt.first)
			}
			w.expectClose(websocket.ClosePolicyViolation, tt.reason)
		})
	}
	t.Run("no auth within the deadline", func(t *testing.T) {
		w, _, err := dialWS(t, a.URL+"?token="+d.Tokens[store.ScopeRead], nil) // a token in the URL is ignored
		require.NoError(t, err)
		start := time.Now()
		w.expectClose(websocket.ClosePolicyViolation, "authentication timed out")
		require.InDelta(t, 5, time.Since(start).Seconds(), 2)
	})
	t.Run("connection limit per token", func(t *testing.T) {
		a := startWSAPI(t, d.DB, hub.Options{MaxPerKey: 2}, nil)
		secret := d.Tokens[store.ScopeRead]
		first := a.connect(t, secret)
		a.connect(t, secret)
		w, _, err := dialWS(t, a.URL, bearer(secret))
		require.NoError(t, err)
		w.expectClose(websocket.ClosePolicyViolation, "too many connections for this token")
		require.NoError(t, first.c.Close())
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			w, _, err := dialWS(t, a.URL, bearer(secret))
			if !assert.NoError(c, err) {
				return
			}
			m, err := w.next()
			assert.NoError(c, err, "a closed connection frees its slot")
			assert.Equal(c, "welcome", m.Type)
		}, 10*time.Second, 50*time.Millisecond)
	})
	t.Run("origins", func(t *testing.T) {
		host := strings.TrimSuffix(strings.TrimPrefix(a.URL, "ws://"), "/ws")
		for _, tt := range []struct {
			origin string
			ok     bool
		}{
			{"", true},
			{"http://" + host, true}, // same origin
			{"https://dash.example", true},
			{"https://DASH.example/", true},
			{"https://evil.example", false},
			{"null", false},
		} {
			h := bearer(d.Tokens[store.ScopeRead])
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			w, resp, err := dialWS(t, a.URL, h)
			if tt.ok {
				require.NoError(t, err, tt.origin)
				require.Equal(t, "welcome", w.read().Type)
				continue
			}
			require.ErrorIs(t, err, websocket.ErrBadHandshake, tt.origin)
			require.Equal(t, http.StatusForbidden, resp.StatusCode)
		}
	})
	t.Run("plain GET", func(t *testing.T) {
		resp, err := http.Get(strings.Replace(a.URL, "ws://", "http://", 1))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUpgradeRequired, resp.StatusCode)
	})
	// The server logged the connections at debug level, without any secret.
	require.Contains(t, logs.String(), "WebSocket connected")
	for _, secret := range []string{d.Tokens[store.ScopeRead], d.Tokens[store.ScopeAdmin], expiredSecret, revokedSecret} {
		require.NotContains(t, logs.String(), secret)
	}
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWebSocketMessages: bad messages are answered with error codes on an open socket; subscribe, unsubscribe
// and ping work; updates follow the subscriptions.
func TestWebSocketMessages(t *testing.T) {
	t.Parallel()
	d := newWSDatabase(t)
	a := startWSAPI(t, d.DB, hub.Options{}, nil)
	w := a.connect(t, d.Tokens[store.ScopeRead])
	dev := d.device(t, "msg")

	for _, tt := range []struct{ msg, code string }{
		{`not json`, "bad_message"},
		{`{"type":"publish","topics":["events"]}`, "unknown_type"},
		{`{"type":"subscribe","topics":["device.not-a-uuid.status"]}`, "invalid_topic"},
		{`{"type":"subscribe","topics":["device.*.logs"]}`, "invalid_topic"},
		{`{"type":"subscribe","topics":[]}`, "missing_topics"},
		{`{"type":"subscribe","topic":"events"}`, "bad_message"},
	} {
		w.send(tt.msg)
		require.Equal(t, tt.code, errorCode(t, w.read()), tt.msg)
	}
	require.NoError(t, w.c.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping"}`)))
	require.Equal(t, "binary_message", errorCode(t, w.read()))

	w.send(`{"type":"ping","id":7}`)
	m := w.read()
	require.Equal(t, "pong", m.Type)
	require.JSONEq(t, `7`, string(m.ID))

	w.send(`{"type":"subscribe","topics":["device.` + strings.ToUpper(dev.String()) + `.status","events"],"id":"s"}`)
	m = w.read()
	require.Equal(t, "subscribed", m.Type)
	require.JSONEq(t, `{"topics":["device.`+dev.String()+`.status","events"],"subscriptions":["device.`+dev.String()+`.status","events"]}`, string(m.Data))

	ctx := context.Background()
	_, err := store.SetDeviceStatus(ctx, d.DB, dev, "online", "", nil)
	require.NoError(t, err)
	m = w.read()
	require.Equal(t, "update", m.Type)
	require.Equal(t, "device."+dev.String()+".status", m.Topic)
	require.Contains(t, string(m.Data), `"status":"online"`)
	require.False(t, m.Time.IsZero())

	// After unsubscribing from the status topic, the next update is the event published after it.
	w.send(`{"type":"unsubscribe","topics":["device.` + dev.String() + `.status"]}`)
	m = w.read()
	require.Equal(t, "unsubscribed", m.Type)
	require.JSONEq(t, `{"topics":["device.`+dev.String()+`.status"],"subscriptions":["events"]}`, string(m.Data))
	_, err = store.SetDeviceStatus(ctx, d.DB, dev, "offline", "test", nil)
	require.NoError(t, err)
	require.NoError(t, store.Publish(ctx, d.DB, store.TopicEvents, map[string]string{"kind": "test"}))
	m = w.read()
	require.Equal(t, "events", m.Topic)
}

// TestWebSocketPollMetricsArrive: a real device polled by the worker; a client of another API process gets its
// metrics and status within one interval.
func TestWebSocketPollMetricsArrive(t *testing.T) {
	t.Parallel()
	sshd := testenv.StartSSHD(t, testenv.SSHDOptions{})
	s := startStack(t, []ssh.Signer{sshd.ClientSigner})
	a := startWSAPI(t, s.DB, hub.Options{}, nil)
	w := a.connect(t, s.Token)
	w.subscribe("device.*.metrics", "device.*.status")

	start := time.Now()
	dev := s.createDevice("ws-poll", sshd.Host, sshd.Port, sshd.User, "trust_first_use")
	seen := map[string]bool{}
	for !seen["metrics"] || !seen["status"] {
		m := w.read()
		require.Equal(t, "update", m.Type)
		var data struct {
			DeviceID string `json:"device_id"`
			Status   string `json:"status"`
		}
		require.NoError(t, json.Unmarshal(m.Data, &data))
		require.Equal(t, dev.ID.String(), data.DeviceID)
		switch m.Topic {
		case "device." + dev.ID.String() + ".metrics":
			require.Contains(t, string(m.Data), "memory_used_percent")
			seen["metrics"] = true
		case "device." + dev.ID.String() + ".status":
			require.Equal(t, "online", data.Status)
			seen["status"] = true
		default:
			t.Fatalf("unexpected topic %s", m.Topic)
		}
	}
	require.Less(t, time.Since(start), pollInterval+5*time.Second)
}

// TestWebSocketFanOutTo200Clients: one status change reaches 200 concurrent clients.
func TestWebSocketFanOutTo200Clients(t *testing.T) {
	t.Parallel()
	const clients = 200
	d := newWSDatabase(t)
	a := startWSAPI(t, d.DB, hub.Options{MaxPerKey: clients}, nil)
	dev := d.device(t, "fan-out")
	conns := make([]*wsConn, clients)
	for i := range conns {
		conns[i] = a.connect(t, d.Tokens[store.ScopeRead])
		conns[i].subscribe("device.*.status")
	}
	require.Equal(t, clients, a.Hub.Stats().Clients)

	start := time.Now()
	_, err := store.SetDeviceStatus(context.Background(), d.DB, dev, "online", "", nil)
	require.NoError(t, err)
	errs := make(chan error, clients)
	for _, w := range conns {
		go func() {
			m, err := w.next()
			if err == nil && (m.Type != "update" || m.Topic != "device."+dev.String()+".status") {
				err = fmt.Errorf("got %s %s", m.Type, m.Topic)
			}
			errs <- err
		}()
	}
	for range clients {
		require.NoError(t, <-errs)
	}
	t.Logf("%d clients received the update within %s", clients, time.Since(start))
	require.Zero(t, a.Hub.Stats().Dropped)
}

// TestWebSocketSlowConsumer: a client that never reads is disconnected with "slow consumer" while the others keep
// receiving every update of a flood.
func TestWebSocketSlowConsumer(t *testing.T) {
	t.Parallel()
	d := newWSDatabase(t)
	a := startWSAPI(t, d.DB, hub.Options{SendBuffer: 64}, nil)
	dev := d.device(t, "flood")
	topic := "device." + dev.String() + ".metrics"

	slow := a.connect(t, d.Tokens[store.ScopeRead])
	slow.subscribe(topic)
	const fastClients = 3
	var received [fastClients]atomic.Int64
	var wg sync.WaitGroup
	fastErr := make(chan error, fastClients)
	for i := range fastClients {
		w := a.connect(t, d.Tokens[store.ScopeRead])
		w.subscribe(topic)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := w.next()
				if err != nil {
					fastErr <- err
					return
				}
				var data struct{ Seq int64 }
				if err := json.Unmarshal(m.Data, &data); err != nil || data.Seq != received[i].Load()+1 {
					fastErr <- fmt.Errorf("client %d: got %s after seq %d", i, m.Data, received[i].Load())
					return
				}
				received[i].Store(data.Seq)
			}
		}()
	}

	// Flood in batches of 50 updates of 2 KB, each batch published once every fast client has the previous one,
	// so only the client that does not read falls behind.
	ctx := context.Background()
	const batch = 50
	var sent int64
	// About two thousand updates fill the slow client's queue and socket buffers; with the race detector on a
	// loaded machine each batch's round trip to the fast clients can take seconds, so the bound is generous.
	deadline := time.Now().Add(4 * time.Minute)
	for a.Hub.Stats().Dropped == 0 {
		require.True(t, time.Now().Before(deadline), "the slow client was never dropped")
		_, err := d.DB.Exec(ctx, `SELECT pg_notify($1, json_build_object('topic', $2::text, 'time', now(),
			'data', json_build_object('seq', g, 'pad', repeat('x', 2000)))::text) FROM generate_series($3::bigint, $4::bigint) g`,
			store.UpdatesChannel, topic, sent+1, sent+batch)
		require.NoError(t, err)
		sent += batch
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			select {
			case err := <-fastErr:
				require.NoError(t, err)
			default:
			}
			for i := range fastClients {
				assert.Equal(c, sent, received[i].Load(), "fast client %d", i)
			}
		}, 30*time.Second, 5*time.Millisecond)
	}
	t.Logf("slow client dropped after %d updates", sent)
	require.Equal(t, uint64(1), a.Hub.Stats().Dropped)

	// The slow client finds the reason after what was already in its socket.
	slow.expectClose(websocket.ClosePolicyViolation, "slow consumer")
	require.Eventually(t, func() bool { return a.Hub.Stats().Clients == fastClients }, 30*time.Second, 10*time.Millisecond)

	// The others keep receiving.
	_, err := d.DB.Exec(ctx, `SELECT pg_notify($1, json_build_object('topic', $2::text, 'time', now(),
		'data', json_build_object('seq', $3::bigint))::text)`, store.UpdatesChannel, topic, sent+1)
	require.NoError(t, err)
	sent++
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for i := range fastClients {
			assert.Equal(c, sent, received[i].Load())
		}
	}, 10*time.Second, 5*time.Millisecond)
	select {
	case err := <-fastErr:
		t.Fatal(err)
	default:
	}
}

// TestWebSocketTwoAPIProcesses: two API processes on one database each deliver every update to their clients.
func TestWebSocketTwoAPIProcesses(t *testing.T) {
	t.Parallel()
	d := newWSDatabase(t)
	a1 := startWSAPI(t, d.DB, hub.Options{}, nil)
	a2 := startWSAPI(t, d.DB, hub.Options{}, nil)
	var listeners int
	require.NoError(t, d.DB.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, hub.ApplicationName).Scan(&listeners))
	require.Equal(t, 2, listeners, "one LISTEN connection per API process")

	dev := d.device(t, "replicas")
	w1 := a1.connect(t, d.Tokens[store.ScopeRead])
	w2 := a2.connect(t, d.Tokens[store.ScopeAdmin])
	w1.subscribe("device.*.status")
	w2.subscribe("device." + dev.String() + ".*")
	_, err := store.SetDeviceStatus(context.Background(), d.DB, dev, "offline", "test", nil)
	require.NoError(t, err)
	for _, w := range []*wsConn{w1, w2} {
		m := w.read()
		require.Equal(t, "update", m.Type)
		require.Equal(t, "device."+dev.String()+".status", m.Topic)
	}
}

// TestWebSocketSurvivesDatabaseDisconnect: the hub's LISTEN connection is terminated; clients stay connected, are
// told to resync, and receive updates again.
func TestWebSocketSurvivesDatabaseDisconnect(t *testing.T) {
	t.Parallel()
	d := newWSDatabase(t)
	a := startWSAPI(t, d.DB, hub.Options{MinBackoff: 50 * time.Millisecond}, nil)
	w := a.connect(t, d.Tokens[store.ScopeRead])
	w.subscribe("events")
	ctx := context.Background()

	var killed int
	require.NoError(t, d.DB.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, hub.ApplicationName).Scan(&killed))
	require.Equal(t, 1, killed)
	require.Equal(t, "resync", w.read().Type)
	require.Equal(t, uint64(1), a.Hub.Stats().Reconnects)
	require.NoError(t, store.Publish(ctx, d.DB, store.TopicEvents, map[string]string{"after": "reconnect"}))
	m := w.read()
	require.Equal(t, "update", m.Type)
	require.JSONEq(t, `{"after":"reconnect"}`, string(m.Data))
}

// TestWebSocketHeartbeat: the server pings; a client that stops answering is closed after PongTimeout, one that
// answers stays; a hub shutdown closes clients with "going away".
func TestWebSocketHeartbeat(t *testing.T) {
	t.Parallel()
	d := newWSDatabase(t)
	a := startWSAPI(t, d.DB, hub.Options{PingInterval: 100 * time.Millisecond, PongTimeout: 500 * time.Millisecond}, nil)

	alive := a.connect(t, d.Tokens[store.ScopeRead])
	var pings atomic.Int32
	alive.c.SetPingHandler(func(data string) error {
		pings.Add(1)
		return alive.c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	mute := a.connect(t, d.Tokens[store.ScopeRead])
	var mutePings atomic.Int32
	mute.c.SetPingHandler(func(string) error { mutePings.Add(1); return nil }) // reads, never answers

	muteDone := make(chan error, 1)
	go func() {
		for {
			if _, err := mute.next(); err != nil {
				muteDone <- err
				return
			}
		}
	}()
	aliveDone := make(chan error, 1)
	go func() {
		for {
			if _, err := alive.next(); err != nil {
				aliveDone <- err
				return
			}
		}
	}()
	select {
	case err := <-muteDone:
		require.Error(t, err, "the silent client is closed")
		require.GreaterOrEqual(t, mutePings.Load(), int32(2))
	case <-time.After(10 * time.Second):
		t.Fatal("a client that never answers pings was not closed")
	}
	require.GreaterOrEqual(t, pings.Load(), int32(4), "pings every 100ms")
	require.Eventually(t, func() bool { return a.Hub.Stats().Clients == 1 }, 5*time.Second, 10*time.Millisecond)

	a.Hub.Close()
	err := <-aliveDone
	var ce *websocket.CloseError
	require.True(t, errors.As(err, &ce), "got %v", err)
	require.Equal(t, websocket.CloseGoingAway, ce.Code)
	require.Equal(t, "server shutting down", ce.Text)
}

// TestWebSocketEndsWithItsSession: signing out of the dashboard closes the live streams that session opened, in
// every tab and on every API replica, while the same token's other connections stay open.
func TestWebSocketEndsWithItsSession(t *testing.T) {
	d := newWSDatabase(t)
	a := startWSAPI(t, d.DB, hub.Options{}, nil)
	b := startWSAPI(t, d.DB, hub.Options{}, nil)
	base := "http://" + strings.TrimSuffix(strings.TrimPrefix(a.URL, "ws://"), "/ws")
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// Sign in as the dashboard does: the token is exchanged for a session cookie.
	form := strings.NewReader("token=" + url.QueryEscape(d.Tokens[store.ScopeRead]))
	req, err := http.NewRequest("POST", base+"/web/session", form)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "infra_session" {
			cookie = c
		}
	}
	require.NotNil(t, cookie, "no session cookie")

	// Two tabs on one replica and one on the other, by cookie; and a bearer connection of the same token.
	var tabs []*wsConn
	for _, api := range []*wsAPI{a, a, b} {
		// A browser sends the page's origin; the cookie counts only from the server's own.
		origin := "http://" + strings.TrimSuffix(strings.TrimPrefix(api.URL, "ws://"), "/ws")
		w, _, err := dialWS(t, api.URL, http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}, "Origin": {origin}})
		require.NoError(t, err)
		require.Equal(t, "welcome", w.read().Type)
		tabs = append(tabs, w)
	}
	other := a.connect(t, d.Tokens[store.ScopeRead])

	// Sign out (CSRF-checked).
	req, err = http.NewRequest("GET", base+"/web/session", nil)
	require.NoError(t, err)
	req.AddCookie(cookie)
	resp, err = client.Do(req)
	require.NoError(t, err)
	var sess struct {
		CSRF string `json:"csrf"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&sess))
	resp.Body.Close()
	req, err = http.NewRequest("DELETE", base+"/web/session", nil)
	require.NoError(t, err)
	req.AddCookie(cookie)
	req.Header.Set("Origin", base)
	req.Header.Set("X-CSRF-Token", sess.CSRF)
	resp, err = client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	for _, w := range tabs {
		w.expectClose(websocket.ClosePolicyViolation, "signed out")
	}
	other.send(`{"type":"ping","id":"still-here"}`)
	require.Equal(t, "pong", other.read().Type, "the token's bearer connection stays open")
}
