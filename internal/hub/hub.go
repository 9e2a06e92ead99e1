// Package hub fans live updates out to WebSocket clients. Each API process runs one Hub fed by one PostgreSQL
// LISTEN connection (see Listen), so every API replica delivers every update that any writer published with
// store.Publish. Fan-out never blocks: each client has a bounded queue, and a client whose queue is full is dropped
// as a slow consumer instead of slowing the hub or the other clients.
package hub

import (
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infrastructor/infrastructor/internal/store"
)

// Message is the envelope of every WebSocket message, in both directions: {type, topic, time, data}.
type Message struct {
	Type  string          `json:"type"`
	ID    json.RawMessage `json:"id,omitempty"` // echoes the id of the client message being answered
	Topic string          `json:"topic,omitempty"`
	Time  time.Time       `json:"time,omitzero"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Message types the server sends.
const (
	TypeUpdate = "update"
	// TypeResync tells clients that the hub lost its database connection for a while, so updates may have been
	// missed: re-read current state through the REST API. Data holds the interval.
	TypeResync = "resync"
)

// Reasons a client is dropped; Client.Err returns one of them.
var (
	ErrSlowConsumer = errors.New("slow consumer")
	ErrShutdown     = errors.New("server shutting down")
	// ErrTokenRevoked and ErrTokenExpired end the connections of a token that stopped working (see DropKey).
	ErrTokenRevoked = errors.New(store.TokenRevoked)
	ErrTokenExpired = errors.New(store.TokenExpired)
	// ErrSessionEnded ends the connections a dashboard session opened when it signs out (see DropSession).
	ErrSessionEnded = errors.New("signed out")
)

// Errors of Register.
var (
	ErrTooManyConnections = errors.New("too many connections for this token")
	ErrClosed             = errors.New("hub closed")
)

// Options tune the hub and the WebSocket connections it serves. Zero values take the defaults.
type Options struct {
	// SendBuffer is how many messages may wait for one client before it is dropped as a slow consumer (256).
	SendBuffer int
	// MaxPerKey limits the open connections per key (the API token) in this process (20); negative is unlimited.
	MaxPerKey int
	// PingInterval is how often the server pings each client (25s).
	PingInterval time.Duration
	// PongTimeout is how long a connection may stay silent (no pong, no message) before it is closed (60s).
	PongTimeout time.Duration
	// WriteTimeout bounds every write to a client (10s).
	WriteTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnects of the database listener (250ms, 10s).
	MinBackoff, MaxBackoff time.Duration
	// HealthInterval is how long the listener waits for a notification before it pings the database to detect a
	// dead connection that no error reported (30s).
	HealthInterval time.Duration
	Log            *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.SendBuffer <= 0 {
		o.SendBuffer = 256
	}
	if o.MaxPerKey == 0 {
		o.MaxPerKey = 20
	}
	def(&o.PingInterval, 25*time.Second)
	def(&o.PongTimeout, 60*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.MinBackoff, 250*time.Millisecond)
	def(&o.MaxBackoff, 10*time.Second)
	def(&o.HealthInterval, 30*time.Second)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Stats are the hub's counters, for tests and later for metrics.
type Stats struct {
	Clients    int    // registered clients
	Published  uint64 // updates received from the database
	Delivered  uint64 // messages queued to clients
	Dropped    uint64 // clients dropped as slow consumers
	Malformed  uint64 // notifications that were not a valid store.LiveUpdate
	Listening  bool   // the database listener is connected and LISTENing
	Reconnects uint64 // times the listener connected again after losing its connection
}

// Hub is the fan-out of one API process.
type Hub struct {
	opts Options
	log  *slog.Logger

	mu      sync.RWMutex
	clients map[*Client]struct{}
	perKey  map[string]int
	closed  bool

	revokeMu sync.RWMutex
	onRevoke []func(key string)

	published, delivered, dropped, malformed, reconnects atomic.Uint64
	listening                                            atomic.Bool
}

// New returns a hub without a database listener; run Listen to feed it.
func New(opts Options) *Hub {
	opts = opts.withDefaults()
	return &Hub{opts: opts, log: opts.Log, clients: map[*Client]struct{}{}, perKey: map[string]int{}}
}

// Options returns the hub's options with defaults filled in.
func (h *Hub) Options() Options { return h.opts }

// Stats returns a snapshot of the counters.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	n := len(h.clients)
	h.mu.RUnlock()
	return Stats{
		Clients:    n,
		Published:  h.published.Load(),
		Delivered:  h.delivered.Load(),
		Dropped:    h.dropped.Load(),
		Malformed:  h.malformed.Load(),
		Listening:  h.listening.Load(),
		Reconnects: h.reconnects.Load(),
	}
}

// Register adds a client for key (the API token's ID) unless key already has MaxPerKey clients or the hub is
// closed. The caller must Unregister it when the connection ends.
func (h *Hub) Register(key string) (*Client, error) { return h.RegisterSession(key, "") }

// RegisterSession is Register for a connection a dashboard session opened (its cookie stood for the token): signing
// out of that session ends it (DropSession), while the token's other connections stay.
func (h *Hub) RegisterSession(key, session string) (*Client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if h.opts.MaxPerKey > 0 && h.perKey[key] >= h.opts.MaxPerKey {
		return nil, ErrTooManyConnections
	}
	c := &Client{hub: h, key: key, session: session, send: make(chan []byte, h.opts.SendBuffer), done: make(chan struct{})}
	c.patterns.Store(&[]Pattern{})
	h.clients[c] = struct{}{}
	h.perKey[key]++
	return c, nil
}

// Unregister removes a client; it is safe to call more than once.
func (h *Hub) Unregister(c *Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	if h.perKey[c.key]--; h.perKey[c.key] <= 0 {
		delete(h.perKey, c.key)
	}
}

// Close drops every client with ErrShutdown and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	clients := make([]*Client, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	h.mu.Unlock()
	for _, c := range clients {
		c.drop(ErrShutdown)
	}
}

// DropKey ends every connection of key (the API token's ID) with reason, such as ErrTokenRevoked, which the
// connection sends as its close reason. It returns how many clients it dropped.
func (h *Hub) DropKey(key string, reason error) int {
	h.mu.RLock()
	var victims []*Client
	for c := range h.clients {
		if c.key == key {
			victims = append(victims, c)
		}
	}
	h.mu.RUnlock()
	n := 0
	for _, c := range victims {
		if c.drop(reason) {
			n++
		}
	}
	return n
}

// DropSession ends every connection dashboard session id opened, with ErrSessionEnded. It returns how many clients
// it dropped.
func (h *Hub) DropSession(id string) int {
	h.mu.RLock()
	var victims []*Client
	for c := range h.clients {
		if c.session != "" && c.session == id {
			victims = append(victims, c)
		}
	}
	h.mu.RUnlock()
	n := 0
	for _, c := range victims {
		if c.drop(ErrSessionEnded) {
			n++
		}
	}
	return n
}

// Keys returns the keys that have at least one connection, so their tokens can be checked again.
func (h *Hub) Keys() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, len(h.perKey))
	for k := range h.perKey {
		out = append(out, k)
	}
	return out
}

// OnRevoke registers fn to hear of every token revocation any process announced (store.TopicTokenRevoked), after
// the hub dropped that token's connections: other long-lived uses of the token (MCP streams) end there too.
func (h *Hub) OnRevoke(fn func(key string)) {
	h.revokeMu.Lock()
	defer h.revokeMu.Unlock()
	h.onRevoke = append(h.onRevoke, fn)
}

// revoked handles a store.TopicTokenRevoked notification.
func (h *Hub) revoked(n store.LiveUpdate) {
	var data struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(n.Data, &data); err != nil || data.ID == "" {
		h.malformed.Add(1)
		h.log.Warn("token revocation without a token id ignored", "err", err)
		return
	}
	if dropped := h.DropKey(data.ID, ErrTokenRevoked); dropped > 0 {
		h.log.Info("closed the WebSocket connections of a revoked token", "token_id", data.ID, "connections", dropped)
	}
	h.revokeMu.RLock()
	hooks := slices.Clone(h.onRevoke)
	h.revokeMu.RUnlock()
	for _, fn := range hooks {
		fn(data.ID)
	}
}

// sessionRevoked handles a store.TopicSessionRevoked notification.
func (h *Hub) sessionRevoked(n store.LiveUpdate) {
	var data struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(n.Data, &data); err != nil || data.ID == "" {
		h.malformed.Add(1)
		h.log.Warn("session sign-out without a session id ignored", "err", err)
		return
	}
	if dropped := h.DropSession(data.ID); dropped > 0 {
		h.log.Info("closed the WebSocket connections of a signed-out session", "connections", dropped)
	}
}

// Publish delivers one update to every client subscribed to its topic. It never blocks: the envelope is encoded
// once and queued to each client, and a client whose queue is full is dropped.
func (h *Hub) Publish(n store.LiveUpdate) {
	switch n.Topic {
	case store.TopicTokenRevoked:
		h.revoked(n)
		return
	case store.TopicSessionRevoked:
		h.sessionRevoked(n)
		return
	}
	t, err := ParseTopic(n.Topic)
	if err != nil {
		h.malformed.Add(1)
		h.log.Warn("live update with an unknown topic ignored", "topic", n.Topic, "err", err)
		return
	}
	h.published.Add(1)
	var msg []byte
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.clients {
		if !c.subscribed(t) {
			continue
		}
		if msg == nil {
			if msg, err = json.Marshal(Message{Type: TypeUpdate, Topic: t.String(), Time: n.Time, Data: n.Data}); err != nil {
				h.malformed.Add(1)
				h.log.Warn("live update not encodable", "topic", n.Topic, "err", err)
				return
			}
		}
		c.Send(msg)
	}
}

// broadcast queues msg to every client regardless of subscriptions.
func (h *Hub) broadcast(msg []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.clients {
		c.Send(msg)
	}
}

// Client is one WebSocket connection's side of the hub: its subscriptions and its bounded queue.
type Client struct {
	hub      *Hub
	key      string
	session  string                    // the dashboard session that opened the connection, if one did
	patterns atomic.Pointer[[]Pattern] // copy-on-write, so Publish reads without locks
	subMu    sync.Mutex                // serialises writers of patterns
	send     chan []byte
	done     chan struct{}
	once     sync.Once
	err      error
}

// Messages is the client's queue of encoded messages, to be written to the socket in order.
func (c *Client) Messages() <-chan []byte { return c.send }

// Done is closed when the hub drops the client (slow consumer, shutdown, token revoked or expired); Err then says
// why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the client was dropped (ErrSlowConsumer, ErrShutdown, or the reason given to DropKey) once Done is
// closed, nil before.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Send queues an encoded message (an update or a reply) without blocking. When the queue is full the client is
// dropped as a slow consumer and Send reports false.
func (c *Client) Send(msg []byte) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.send <- msg:
		c.hub.delivered.Add(1)
		return true
	default:
		if c.drop(ErrSlowConsumer) {
			c.hub.dropped.Add(1)
			c.hub.log.Info("WebSocket client dropped", "reason", ErrSlowConsumer.Error(), "queued", len(c.send))
		}
		return false
	}
}

// drop closes Done with reason err; only the first call counts and reports true.
func (c *Client) drop(err error) bool {
	dropped := false
	c.once.Do(func() {
		c.err = err
		close(c.done)
		dropped = true
	})
	return dropped
}

// Subscribe adds patterns (already subscribed ones are ignored) and returns how many the client now has.
func (c *Client) Subscribe(ps ...Pattern) int {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	cur := *c.patterns.Load()
	next := slices.Clone(cur)
	for _, p := range ps {
		if !slices.Contains(next, p) {
			next = append(next, p)
		}
	}
	c.patterns.Store(&next)
	return len(next)
}

// Unsubscribe removes patterns (unknown ones are ignored) and returns how many the client still has.
func (c *Client) Unsubscribe(ps ...Pattern) int {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	next := slices.DeleteFunc(slices.Clone(*c.patterns.Load()), func(p Pattern) bool { return slices.Contains(ps, p) })
	c.patterns.Store(&next)
	return len(next)
}

// Patterns returns the client's subscriptions.
func (c *Client) Patterns() []Pattern { return slices.Clone(*c.patterns.Load()) }

func (c *Client) subscribed(t Topic) bool {
	for _, p := range *c.patterns.Load() {
		if p.Match(t) {
			return true
		}
	}
	return false
}
