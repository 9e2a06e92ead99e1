// Package notifytest runs local receivers that speak the APIs notifications are sent to: HTTP servers in the
// shape of ntfy, Discord and Slack webhooks, the Telegram Bot API and a Matrix homeserver's send endpoint, and an SMTP server with STARTTLS (or
// implicit TLS) and a self-signed certificate. Each can go down (its listener closed: connections are refused)
// and come back on the same address, so tests can check delivery through an outage.
package notifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// HTTP service kinds.
const (
	Ntfy     = "ntfy"
	Discord  = "discord"
	Slack    = "slack"
	Telegram = "telegram"
	Matrix   = "matrix"
)

// Fixed parts of the receivers' URLs.
const (
	NtfyTopic      = "infra-alerts"
	DiscordWebhook = "/api/webhooks/112233445566778899/"
	SlackWebhook   = "/services/T0001/B0002/"
	TelegramChat   = "-1001234567890"
	MatrixRoom     = "!AbCdEfGhIjKlMnOp:example.org"
	matrixSend     = "/_matrix/client/v3/rooms/"
)

// listener is an address that can stop accepting connections and start again.
type listener struct {
	t    testing.TB
	addr string
	mu   sync.Mutex
	stop func()
}

func (l *listener) listen() net.Listener {
	l.t.Helper()
	var ln net.Listener
	var err error
	addr := l.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	// The port was just released by Down; a moment may pass before it can be bound again.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		l.t.Fatalf("notifytest: listen on %s: %v", addr, err)
	}
	l.addr = ln.Addr().String()
	return ln
}

// HTTPReceiver is an HTTP server in the shape of one service's message API. It checks the method, path, content
// type, credential and JSON body as the service does and answers like it.
type HTTPReceiver struct {
	Kind string
	// Secret is the credential the receiver accepts: ntfy's access token, the Discord or Slack webhook token (the
	// last path segment), the Telegram bot token, the Matrix access token.
	Secret string
	lis    listener

	mu       sync.Mutex
	got      []Received
	bad      []string
	limited  int
	requests int
	// txns are the Matrix transaction IDs seen, with the event each created; retransmits counts the sends
	// answered from it (the homeserver's idempotency: no second event).
	txns        map[string]string
	retransmits int
}

// Received is one accepted message.
type Received struct {
	Header http.Header
	Body   map[string]any
}

// NewHTTP starts a receiver of the kind accepting secret; it stops with the test.
func NewHTTP(t testing.TB, kind, secret string) *HTTPReceiver {
	t.Helper()
	r := &HTTPReceiver{Kind: kind, Secret: secret, lis: listener{t: t}}
	r.Up()
	t.Cleanup(r.Down)
	return r
}

// Up starts serving (again) on the receiver's address.
func (r *HTTPReceiver) Up() {
	r.lis.mu.Lock()
	defer r.lis.mu.Unlock()
	ln := r.lis.listen()
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	// The listener is closed here too: a Close that comes before Serve took it up would leave it open.
	r.lis.stop = func() { _ = srv.Close(); _ = ln.Close() }
}

// Down closes the listener and every connection: senders get "connection refused" until Up.
func (r *HTTPReceiver) Down() {
	r.lis.mu.Lock()
	defer r.lis.mu.Unlock()
	if r.lis.stop != nil {
		r.lis.stop()
		r.lis.stop = nil
	}
}

// Base is http://host:port of the receiver.
func (r *HTTPReceiver) Base() string { return "http://" + r.lis.addr }

// ChannelURL is the URL a channel of the receiver's kind is configured with: the topic URL for ntfy, the webhook
// URL for Discord and Slack, the Bot API server for Telegram.
func (r *HTTPReceiver) ChannelURL() string {
	switch r.Kind {
	case Ntfy:
		return r.Base() + "/" + NtfyTopic
	case Discord:
		return r.Base() + DiscordWebhook + r.Secret
	case Slack:
		return r.Base() + SlackWebhook + r.Secret
	}
	return r.Base()
}

// RateLimit makes the next n requests answer 429 the way the service does (the wait in the body for Discord and
// Telegram, in Retry-After for the others).
func (r *HTTPReceiver) RateLimit(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.limited = n
}

// Messages are the accepted messages' bodies in arrival order.
func (r *HTTPReceiver) Messages() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]map[string]any, 0, len(r.got))
	for _, g := range r.got {
		out = append(out, g.Body)
	}
	return out
}

// Received are the accepted messages with their headers.
func (r *HTTPReceiver) Received() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.got...)
}

// Retransmits counts the Matrix sends that repeated a transaction ID and were answered with the first send's
// event instead of a new message.
func (r *HTTPReceiver) Retransmits() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.retransmits
}

// Refusals are the reasons of the requests the receiver turned away.
func (r *HTTPReceiver) Refusals() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bad...)
}

// Text is the message text of an accepted body, whatever the service calls it.
func Text(kind string, body map[string]any) string {
	switch kind {
	case Discord:
		embeds, _ := body["embeds"].([]any)
		if len(embeds) == 0 {
			return ""
		}
		e, _ := embeds[0].(map[string]any)
		title, _ := e["title"].(string)
		desc, _ := e["description"].(string)
		return title + "\n" + desc
	case Ntfy:
		title, _ := body["title"].(string)
		msg, _ := body["message"].(string)
		return title + "\n" + msg
	case Matrix:
		s, _ := body["body"].(string)
		return s
	}
	s, _ := body["text"].(string)
	return s
}

func (r *HTTPReceiver) refuse(w http.ResponseWriter, code int, reason, body string) {
	r.bad = append(r.bad, reason)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

func (r *HTTPReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	raw, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	want := http.MethodPost
	if r.Kind == Matrix {
		want = http.MethodPut
	}
	if req.Method != want {
		r.refuse(w, http.StatusMethodNotAllowed, "method "+req.Method, `{"error":"method not allowed"}`)
		return
	}
	if ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); ct != "application/json" {
		r.refuse(w, http.StatusBadRequest, "content type "+req.Header.Get("Content-Type"), `{"error":"not JSON"}`)
		return
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		r.refuse(w, http.StatusBadRequest, "body: "+err.Error(), `{"error":"bad JSON"}`)
		return
	}
	if r.limited > 0 {
		r.limited--
		switch r.Kind {
		case Discord:
			r.refuse(w, http.StatusTooManyRequests, "rate limited", `{"message":"You are being rate limited.","retry_after":1.5,"global":false}`)
		case Telegram:
			r.refuse(w, http.StatusTooManyRequests, "rate limited",
				`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}`)
		case Matrix:
			r.refuse(w, http.StatusTooManyRequests, "rate limited", `{"errcode":"M_LIMIT_EXCEEDED","error":"Too Many Requests","retry_after_ms":2500}`)
		default:
			w.Header().Set("Retry-After", "2")
			r.refuse(w, http.StatusTooManyRequests, "rate limited", `{"error":"rate limited"}`)
		}
		return
	}
	switch r.Kind {
	case Ntfy:
		// ntfy's JSON publishing: POST to the server root with the topic in the body.
		if req.URL.Path != "/" {
			r.refuse(w, http.StatusNotFound, "path "+req.URL.Path, `{"code":40401,"http":404,"error":"page not found"}`)
			return
		}
		if r.Secret != "" && req.Header.Get("Authorization") != "Bearer "+r.Secret {
			r.refuse(w, http.StatusUnauthorized, "authorization", `{"code":40101,"http":401,"error":"unauthorized"}`)
			return
		}
		if body["topic"] != NtfyTopic {
			r.refuse(w, http.StatusBadRequest, fmt.Sprintf("topic %v", body["topic"]), `{"code":40009,"http":400,"error":"invalid topic"}`)
			return
		}
		if _, ok := body["message"].(string); !ok {
			r.refuse(w, http.StatusBadRequest, "no message", `{"code":40000,"http":400,"error":"bad request"}`)
			return
		}
		r.accept(req, body)
		_, _ = fmt.Fprintf(w, `{"id":"m%d","event":"message","topic":%q}`, len(r.got), NtfyTopic)
	case Discord:
		if req.URL.Path != DiscordWebhook+r.Secret {
			r.refuse(w, http.StatusUnauthorized, "path "+req.URL.Path, `{"message":"Invalid Webhook Token","code":50027}`)
			return
		}
		embeds, _ := body["embeds"].([]any)
		if content, _ := body["content"].(string); len(embeds) == 0 && content == "" {
			r.refuse(w, http.StatusBadRequest, "empty message", `{"message":"Cannot send an empty message","code":50006}`)
			return
		}
		r.accept(req, body)
		w.WriteHeader(http.StatusNoContent)
	case Slack:
		if req.URL.Path != SlackWebhook+r.Secret {
			w.WriteHeader(http.StatusForbidden)
			r.bad = append(r.bad, "path "+req.URL.Path)
			_, _ = io.WriteString(w, "invalid_token")
			return
		}
		if text, _ := body["text"].(string); text == "" {
			w.WriteHeader(http.StatusBadRequest)
			r.bad = append(r.bad, "no text")
			_, _ = io.WriteString(w, "invalid_payload")
			return
		}
		r.accept(req, body)
		_, _ = io.WriteString(w, "ok")
	case Telegram:
		if req.URL.Path != "/bot"+r.Secret+"/sendMessage" {
			r.refuse(w, http.StatusUnauthorized, "path", `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
			return
		}
		if body["chat_id"] != TelegramChat {
			r.refuse(w, http.StatusBadRequest, fmt.Sprintf("chat %v", body["chat_id"]),
				`{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`)
			return
		}
		if text, _ := body["text"].(string); text == "" {
			r.refuse(w, http.StatusBadRequest, "no text", `{"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}`)
			return
		}
		r.accept(req, body)
		_, _ = fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"chat":{"id":%s},"date":%d}}`, len(r.got), TelegramChat, time.Now().Unix())
	case Matrix:
		r.serveMatrix(w, req, body)
	default:
		r.refuse(w, http.StatusNotFound, "unknown kind", `{}`)
	}
}

// serveMatrix answers PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId} as a homeserver does: the
// access token as a bearer token, the room ID percent-encoded in the path, and a transaction ID seen before
// answered with the event it created, without a second message.
func (r *HTTPReceiver) serveMatrix(w http.ResponseWriter, req *http.Request, body map[string]any) {
	if req.Header.Get("Authorization") != "Bearer "+r.Secret {
		r.refuse(w, http.StatusUnauthorized, "authorization", `{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token passed."}`)
		return
	}
	rest, ok := strings.CutPrefix(req.URL.EscapedPath(), matrixSend)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 4 || parts[1] != "send" || parts[2] != "m.room.message" || parts[3] == "" {
		r.refuse(w, http.StatusNotFound, "path "+req.URL.EscapedPath(), `{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}`)
		return
	}
	room, err1 := url.PathUnescape(parts[0])
	txn, err2 := url.PathUnescape(parts[3])
	if err1 != nil || err2 != nil || room != MatrixRoom {
		r.refuse(w, http.StatusForbidden, "room "+parts[0], `{"errcode":"M_FORBIDDEN","error":"User is not in the room"}`)
		return
	}
	if ev, seen := r.txns[txn]; seen {
		r.retransmits++
		_, _ = fmt.Fprintf(w, `{"event_id":%q}`, ev)
		return
	}
	if text, _ := body["body"].(string); text == "" || body["msgtype"] == nil {
		r.refuse(w, http.StatusBadRequest, "no body", `{"errcode":"M_BAD_JSON","error":"'body' and 'msgtype' are required"}`)
		return
	}
	r.accept(req, body)
	ev := fmt.Sprintf("$event%d:example.org", len(r.got))
	if r.txns == nil {
		r.txns = map[string]string{}
	}
	r.txns[txn] = ev
	_, _ = fmt.Fprintf(w, `{"event_id":%q}`, ev)
}

func (r *HTTPReceiver) accept(req *http.Request, body map[string]any) {
	r.got = append(r.got, Received{Header: req.Header.Clone(), Body: body})
}

// Mail is one message the SMTP server accepted.
type Mail struct {
	From string
	To   []string
	Data string
	// TLS tells whether the session was encrypted when the message was sent.
	TLS bool
	// User is who logged in ("" when nobody did).
	User string
	Msg  *mail.Message
}

// SMTPOptions shape the SMTP server.
type SMTPOptions struct {
	// Username and Password are the only login accepted; empty accepts mail without login.
	Username, Password string
	// NoTLS offers no STARTTLS (a server a STARTTLS channel must refuse to use); ImplicitTLS speaks TLS from the
	// first byte (port 465 style).
	NoTLS, ImplicitTLS bool
	// TempFailRcpt answers the next n RCPT commands with 451 (a temporary failure).
	TempFailRcpt int
}

// SMTPServer is an SMTP server with a self-signed certificate for 127.0.0.1 and localhost.
type SMTPServer struct {
	// Roots trusts the server's certificate.
	Roots *x509.CertPool
	opts  SMTPOptions
	tls   *tls.Config
	lis   listener

	mu   sync.Mutex
	got  []Mail
	fail int
}

// NewSMTP starts an SMTP server; it stops with the test.
func NewSMTP(t testing.TB, opts SMTPOptions) *SMTPServer {
	t.Helper()
	cert, roots := selfSigned(t)
	s := &SMTPServer{Roots: roots, opts: opts, tls: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		lis: listener{t: t}, fail: opts.TempFailRcpt}
	s.Up()
	t.Cleanup(s.Down)
	return s
}

// Host and Port are where the server listens.
func (s *SMTPServer) Host() string { h, _, _ := net.SplitHostPort(s.lis.addr); return h }

// Port is the server's port.
func (s *SMTPServer) Port() int {
	_, p, _ := net.SplitHostPort(s.lis.addr)
	var n int
	_, _ = fmt.Sscan(p, &n)
	return n
}

// Up starts serving (again) on the server's address.
func (s *SMTPServer) Up() {
	s.lis.mu.Lock()
	defer s.lis.mu.Unlock()
	ln := s.lis.listen()
	if s.opts.ImplicitTLS {
		ln = tls.NewListener(ln, s.tls)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s, c: c}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	if !s.opts.NoTLS && !s.opts.ImplicitTLS {
		srv.TLSConfig = s.tls
	}
	// Logins are refused on an unencrypted session unless the server offers no TLS at all.
	srv.AllowInsecureAuth = s.opts.NoTLS
	go func() { _ = srv.Serve(ln) }()
	s.lis.stop = func() { _ = srv.Close(); _ = ln.Close() }
}

// Down closes the listener and every session: connections are refused until Up.
func (s *SMTPServer) Down() {
	s.lis.mu.Lock()
	defer s.lis.mu.Unlock()
	if s.lis.stop != nil {
		s.lis.stop()
		s.lis.stop = nil
	}
}

// Mails are the accepted messages in arrival order.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.got...)
}

// Subjects are the decoded subjects of the accepted messages.
func (s *SMTPServer) Subjects() []string {
	var out []string
	dec := new(mime.WordDecoder)
	for _, m := range s.Mails() {
		subj, err := dec.DecodeHeader(m.Msg.Header.Get("Subject"))
		if err != nil {
			subj = m.Msg.Header.Get("Subject")
		}
		out = append(out, subj)
	}
	return out
}

type smtpSession struct {
	s    *SMTPServer
	c    *smtp.Conn
	user string
	from string
	to   []string
}

func (x *smtpSession) AuthMechanisms() []string {
	if x.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != x.s.opts.Username || password != x.s.opts.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}
		}
		x.user = username
		return nil
	}), nil
}

func (x *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.opts.Username != "" && x.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	x.from = from
	return nil
}

func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	if x.s.fail > 0 {
		x.s.fail--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	x.to = append(x.to, to)
	return nil
}

func (x *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "malformed message: " + err.Error()}
	}
	_, isTLS := x.c.TLSConnectionState()
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	x.s.got = append(x.s.got, Mail{From: x.from, To: x.to, Data: string(raw), TLS: isTLS, User: x.user, Msg: msg})
	return nil
}

func (x *smtpSession) Reset()        { x.from, x.to = "", nil }
func (x *smtpSession) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost, and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "notifytest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
