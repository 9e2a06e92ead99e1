// Package ws serves the live stream (/ws): subscriptions to the hub's topics and live log tails.
package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/api/httpx"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/hub"
	"github.com/infrastructor/infrastructor/internal/store"
)

// Server holds the WebSocket endpoint and the live log tails watched through this process.
type Server struct {
	*httpx.Gate
	// Watchers of live log tails on this process (#12).
	tails TailRegistry
}

const (
	// wsAuthTimeout is how long a connection without an Authorization header has to send its auth message.
	wsAuthTimeout = 5 * time.Second
	// wsReadLimit caps one client message; subscriptions are small, and a larger frame ends the connection (1009)
	// because it cannot be skipped.
	wsReadLimit = 16 << 10
	// wsMaxPatterns caps the subscriptions of one connection, so one client cannot make every Publish slow.
	wsMaxPatterns = 200
	// wsCloseGrace is how long the server waits for the client to answer its close frame before hanging up.
	wsCloseGrace = time.Second

	localWSAuthErr = "ws_auth_error"
)

// Client message types.
const (
	wsAuth        = "auth"
	wsSubscribe   = "subscribe"
	wsUnsubscribe = "unsubscribe"
	wsPing        = "ping"
)

// Error codes of "error" messages.
const (
	wsBadMessage      = "bad_message"
	wsUnknownType     = "unknown_type"
	wsInvalidTopic    = "invalid_topic"
	wsTooManyTopics   = "too_many_topics"
	wsAlreadyAuthed   = "already_authenticated"
	wsMissingTopics   = "missing_topics"
	wsBinaryMessage   = "binary_message"
	wsMaxIDBytes      = 64
	wsMaxTopicsPerMsg = 100
)

// wsRequest is a validated client message.
type wsRequest struct {
	Type     string
	ID       json.RawMessage
	Topics   []string // canonical forms of Patterns
	Patterns []hub.Pattern
	Token    string
}

// wsError is the data of an "error" message: {code, message}.
type wsError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// parseWSMessage decodes and validates one client message. The id, when the message has a readable one, is
// returned even with an error so the error answer can carry it. Messages never echo a token back.
func parseWSMessage(raw []byte) (wsRequest, *wsError) {
	// Decoding into a map first names unknown fields exactly (encoding/json has no typed error for them) and
	// rejects trailing data.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		msg := "want a JSON object {type, topics, id}"
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			msg = fmt.Sprintf("invalid JSON at byte %d; %s", syn.Offset, msg)
		}
		return wsRequest{}, &wsError{wsBadMessage, msg}
	}
	var in struct {
		Type   string
		ID     json.RawMessage
		Topics []string
		Token  string
	}
	targets := map[string]any{"type": &in.Type, "topics": &in.Topics, "token": &in.Token}
	in.ID = fields["id"]
	req := wsRequest{}
	if len(in.ID) > 0 && len(in.ID) <= wsMaxIDBytes && (in.ID[0] == '"' || in.ID[0] == '-' || in.ID[0] >= '0' && in.ID[0] <= '9') {
		req.ID = in.ID
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if name == "id" {
			continue
		}
		target, ok := targets[name]
		if !ok {
			return req, &wsError{wsBadMessage, fmt.Sprintf("unknown field %q; want type, topics, id (and token for auth)", truncate(name, 32))}
		}
		if err := json.Unmarshal(fields[name], target); err != nil {
			return req, &wsError{wsBadMessage, fmt.Sprintf("field %q has the wrong type", name)}
		}
	}
	req.Type = in.Type
	if len(in.ID) > 0 && req.ID == nil {
		return req, &wsError{wsBadMessage, fmt.Sprintf("id must be a string or a number of at most %d bytes", wsMaxIDBytes)}
	}
	switch in.Type {
	case wsAuth:
		if in.Token == "" {
			return req, &wsError{wsBadMessage, "auth needs a token"}
		}
		req.Token = in.Token
	case wsSubscribe, wsUnsubscribe:
		if len(in.Topics) == 0 {
			return req, &wsError{wsMissingTopics, in.Type + " needs a non-empty topics list"}
		}
		if len(in.Topics) > wsMaxTopicsPerMsg {
			return req, &wsError{wsTooManyTopics, fmt.Sprintf("at most %d topics per message", wsMaxTopicsPerMsg)}
		}
		var bad []string
		for _, t := range in.Topics {
			p, err := hub.ParsePattern(t)
			if err != nil {
				bad = append(bad, err.Error())
				continue
			}
			req.Patterns = append(req.Patterns, p)
			req.Topics = append(req.Topics, p.String())
		}
		if len(bad) > 0 {
			return req, &wsError{wsInvalidTopic, strings.Join(bad, "; ") +
				" (topics: device.<id>.metrics|status|containers|storage, device.*.<kind>, device.<id>.*, operations, events, " +
				"and live logs device.<id>.logs[?unit=&priority=&grep=], device.<id>.containers.<ref>.logs)"}
		}
	case wsPing:
	case "":
		return req, &wsError{wsBadMessage, "missing type"}
	default:
		return req, &wsError{wsUnknownType, fmt.Sprintf("unknown type %q; want subscribe, unsubscribe or ping", truncate(in.Type, 32))}
	}
	if in.Token != "" && in.Type != wsAuth {
		return req, &wsError{wsBadMessage, "token is only allowed in an auth message"}
	}
	return req, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// wsClose is why the server ends a connection.
type wsClose struct {
	code   int
	reason string
}

// Handler returns the handler of GET /ws: it checks the origin and a bearer header before upgrading, then hands
// the connection to serveWS.
func (s *Server) Handler() fiber.Handler {
	upgrade := websocket.New(s.serveWS, websocket.Config{
		// Origins are checked before the upgrade (wsOriginAllowed), with same-origin support the library lacks.
		Origins: []string{"*"},
	})
	return func(c *fiber.Ctx) error {
		if s.Hub == nil {
			return service.Errorf(http.StatusServiceUnavailable, "unavailable", "live updates are not enabled on this server")
		}
		if !websocket.IsWebSocketUpgrade(c) {
			return service.Errorf(http.StatusUpgradeRequired, "upgrade_required", "GET /ws needs a WebSocket upgrade")
		}
		if !s.wsOriginAllowed(c) {
			return service.Errorf(http.StatusForbidden, "forbidden", "origin not allowed; see INFRA_WS_ORIGINS")
		}
		c.Set("Cache-Control", "no-store")
		// An address that failed too often is refused before the upgrade, whether or not it sends a header.
		if wait := s.Limits.FailureWait(c.IP(), s.Now()); wait > 0 {
			s.AuditRefusal(service.Refusal{Action: service.AuditRateLimited, Iface: "websocket", Addr: c.IP(), Target: c.Path(),
				Status: http.StatusTooManyRequests, Reason: "too many failed authentications"})
			return httpx.TooManyRequests(c, wait, "too many failed authentications from this address")
		}
		// The dashboard's session cookie (web_session.go) stands for a bearer header, from this origin only.
		if c.Get(fiber.HeaderAuthorization) != "" || c.Cookies(service.SessionCookie) != "" {
			// A bad header is answered after the upgrade, with a close code, like a bad auth message: browsers
			// cannot read the status of a refused upgrade.
			tok, err := s.AuthRequest(c, "websocket")
			var e *service.Error
			switch {
			case err == nil:
				c.Locals(service.LocalToken, tok)
			case errors.As(err, &e) && e.Status == http.StatusUnauthorized:
				c.Locals(localWSAuthErr, e.Message)
			default:
				return err // 429 and internal errors keep their status
			}
		}
		return upgrade(c)
	}
}

// wsOriginAllowed lets through clients without an Origin header (not browsers), same-origin pages, and the origins
// listed in INFRA_WS_ORIGINS ("*" for any). Browsers send cookies but not our bearer tokens cross-site, yet a
// page could still get a user to paste a token, so cross-site pages are refused unless configured.
func (s *Server) wsOriginAllowed(c *fiber.Ctx) bool {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, string(c.Request().Host())) {
		return true
	}
	origin = strings.TrimRight(origin, "/")
	for _, o := range s.Config.WSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// serveWS runs one connection: authentication, then a reader (this goroutine) handling client messages and a
// writer draining the client's queue and pinging.
func (s *Server) serveWS(conn *websocket.Conn) {
	opts := s.Hub.Options()
	conn.SetReadLimit(wsReadLimit)
	tok, id, fail := s.wsAuthenticate(conn)
	if fail != nil {
		s.wsCloseHandshake(conn, *fail)
		return
	}
	if !tok.Has(store.ScopeRead) {
		s.AuditRefusal(service.Refusal{Action: service.AuditForbidden, Iface: "websocket", Addr: conn.IP(), Target: "/ws",
			Status: http.StatusForbidden, Reason: "this token lacks scope read", Token: tok})
		s.wsCloseHandshake(conn, wsClose{websocket.ClosePolicyViolation, "this token lacks scope read"})
		return
	}
	var session string
	if sess, ok := conn.Locals(service.LocalSession).(*store.Session); ok {
		session = sess.ID.String()
	}
	client, err := s.Hub.RegisterSession(tok.ID.String(), session)
	switch {
	case errors.Is(err, hub.ErrTooManyConnections):
		s.wsCloseHandshake(conn, wsClose{websocket.ClosePolicyViolation, err.Error()})
		return
	case err != nil:
		s.wsCloseHandshake(conn, wsClose{websocket.CloseGoingAway, hub.ErrShutdown.Error()})
		return
	}
	defer s.Hub.Unregister(client)
	defer s.unwatchAllTails(client)
	s.Log.Debug("WebSocket connected", "token", tok.Name, "remote", conn.IP())

	welcome, _ := json.Marshal(map[string]any{"token": tok.Name, "scopes": tok.Scopes,
		"ping_interval": opts.PingInterval.String(), "max_topics": wsMaxPatterns})
	client.Send(wsEncode(hub.Message{Type: "welcome", ID: id, Time: s.Now().UTC(), Data: welcome}))

	readerDone := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.wsWrite(conn, client, opts, readerDone)
	}()

	extend := func() { _ = conn.SetReadDeadline(time.Now().Add(opts.PongTimeout)) }
	extend()
	conn.SetPongHandler(func(string) error { extend(); return nil })
	for {
		mt, raw, err := conn.ReadMessage()
		if err != nil {
			break
		}
		extend()
		if mt != websocket.TextMessage {
			client.Send(wsErrorMessage(nil, wsError{wsBinaryMessage, "send JSON text messages"}))
			continue
		}
		s.wsHandle(client, tok, conn.IP(), raw)
	}
	close(readerDone)
	<-writerDone
	s.Log.Debug("WebSocket disconnected", "token", tok.Name, "remote", conn.IP(), "dropped", client.Err())
}

// wsAuthenticate returns the token authenticated by the header, or reads the first message, which must be
// {"type":"auth","token":"..."}, within wsAuthTimeout. It returns the id of that message for the welcome.
func (s *Server) wsAuthenticate(conn *websocket.Conn) (*store.Token, json.RawMessage, *wsClose) {
	if msg, ok := conn.Locals(localWSAuthErr).(string); ok {
		return nil, nil, &wsClose{websocket.ClosePolicyViolation, msg}
	}
	if tok, ok := conn.Locals(service.LocalToken).(*store.Token); ok {
		return tok, nil, nil
	}
	_ = conn.SetReadDeadline(time.Now().Add(wsAuthTimeout))
	mt, raw, err := conn.ReadMessage()
	if err != nil {
		return nil, nil, &wsClose{websocket.ClosePolicyViolation, "authentication timed out"}
	}
	req, werr := parseWSMessage(raw)
	if mt != websocket.TextMessage || werr != nil || req.Type != wsAuth {
		return nil, nil, &wsClose{websocket.ClosePolicyViolation, `authenticate first: {"type":"auth","token":"..."}`}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wsAuthTimeout)
	defer cancel()
	tok, _, err := s.AuthFrom(ctx, "websocket", conn.IP(), "/ws", req.Token)
	var e *service.Error
	switch {
	case err == nil:
		return tok, req.ID, nil
	case errors.As(err, &e) && e.Status == http.StatusTooManyRequests:
		return nil, nil, &wsClose{websocket.CloseTryAgainLater, e.Message}
	case errors.As(err, &e) && e.Status == http.StatusUnauthorized:
		return nil, nil, &wsClose{websocket.ClosePolicyViolation, e.Message}
	default:
		s.Log.Error("WebSocket authentication failed", "remote", conn.IP(), "err", err)
		return nil, nil, &wsClose{websocket.CloseInternalServerErr, "internal error; see the server log"}
	}
}

// wsCloseHandshake sends a close frame and waits briefly for the client's answer before the connection is torn
// down: closing with unread client data in the socket would reset it and could lose the close frame.
func (s *Server) wsCloseHandshake(conn *websocket.Conn, why wsClose) {
	deadline := time.Now().Add(wsCloseGrace)
	if err := conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(why.code, why.reason), deadline); err != nil {
		return
	}
	_ = conn.SetReadDeadline(deadline)
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

// wsWrite writes the client's queued messages in order and pings, every write under a deadline. When the hub
// drops the client it sends the reason as a close frame instead of the rest of the queue.
func (s *Server) wsWrite(conn *websocket.Conn, client *hub.Client, opts hub.Options, readerDone <-chan struct{}) {
	ping := time.NewTicker(opts.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-client.Done():
			s.wsDropped(conn, client.Err(), opts, readerDone)
			return
		default:
		}
		select {
		case <-readerDone:
			return
		case <-client.Done():
		case msg := <-client.Messages():
			_ = conn.SetWriteDeadline(time.Now().Add(opts.WriteTimeout))
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				_ = conn.Close()
				return
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(opts.WriteTimeout)); err != nil {
				_ = conn.Close()
				return
			}
		}
	}
}

func (s *Server) wsDropped(conn *websocket.Conn, reason error, opts hub.Options, readerDone <-chan struct{}) {
	code := websocket.ClosePolicyViolation
	if errors.Is(reason, hub.ErrShutdown) {
		code = websocket.CloseGoingAway
	}
	msg := websocket.FormatCloseMessage(code, reason.Error())
	if err := conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(opts.WriteTimeout)); err == nil {
		// The reader ends when the client answers the close frame.
		t := time.NewTimer(wsCloseGrace)
		defer t.Stop()
		select {
		case <-readerDone:
		case <-t.C:
		}
	}
	_ = conn.Close()
}

// wsHandle answers one client message through the client's queue.
func (s *Server) wsHandle(client *hub.Client, tok *store.Token, addr string, raw []byte) {
	req, werr := parseWSMessage(raw)
	if werr != nil {
		client.Send(wsErrorMessage(req.ID, *werr))
		return
	}
	switch req.Type {
	case wsAuth:
		client.Send(wsErrorMessage(req.ID, wsError{wsAlreadyAuthed, "this connection is already authenticated"}))
	case wsPing:
		client.Send(wsEncode(hub.Message{Type: "pong", ID: req.ID, Time: s.Now().UTC()}))
	case wsSubscribe:
		if n := len(client.Patterns()) + len(req.Patterns); n > wsMaxPatterns {
			client.Send(wsErrorMessage(req.ID, wsError{wsTooManyTopics, fmt.Sprintf("at most %d subscriptions per connection", wsMaxPatterns)}))
			return
		}
		// Log topics start (or join) live tails (#12), within the limits per token and per device: reserved first
		// (a refusal subscribes nothing), started after the confirmation (see reserveTails).
		pending, err := s.reserveTails(client, tok, req.Patterns)
		if err != nil {
			client.Send(wsErrorMessage(req.ID, s.wsTailError(err)))
			return
		}
		client.Subscribe(req.Patterns...)
		client.Send(wsTopicsMessage("subscribed", req.ID, req.Topics, client.Patterns()))
		if failed, err := s.startTails(client, tok, addr, pending); err != nil {
			client.Unsubscribe(failed...)
			client.Send(wsErrorMessage(req.ID, s.wsTailError(err)))
		}
	case wsUnsubscribe:
		client.Unsubscribe(req.Patterns...)
		s.unwatchTails(client, req.Patterns)
		client.Send(wsTopicsMessage("unsubscribed", req.ID, req.Topics, client.Patterns()))
	}
}

// wsTopicsMessage answers subscribe and unsubscribe with the topics of the request and all current subscriptions.
func wsTopicsMessage(typ string, id json.RawMessage, topics []string, now []hub.Pattern) []byte {
	all := make([]string, len(now))
	for i, p := range now {
		all[i] = p.String()
	}
	data, _ := json.Marshal(map[string][]string{"topics": topics, "subscriptions": all})
	return wsEncode(hub.Message{Type: typ, ID: id, Data: data})
}

func wsErrorMessage(id json.RawMessage, e wsError) []byte {
	data, _ := json.Marshal(e)
	return wsEncode(hub.Message{Type: "error", ID: id, Data: data})
}

func wsEncode(m hub.Message) []byte {
	b, _ := json.Marshal(m)
	return b
}

// New builds the WebSocket endpoint over the shared gate.
func New(g *httpx.Gate) *Server { return &Server{Gate: g} }
