// Package notify sends notifications to Gotify and ntfy servers, generic webhooks, Discord, Slack, Telegram and
// Matrix rooms, and by mail over SMTP. It knows nothing of alerts'
// storage or of Temporal: callers (the Notify workflow's activity) load the channel, build the Message and
// decide from the error class whether to retry.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Channel types.
const (
	TypeGotify  = "gotify"
	TypeWebhook = "webhook"
)

// Webhook headers. The signature is "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<body>" under the
// channel's secret; receivers should check it with Verify and reject old timestamps.
const (
	HeaderDelivery  = "X-Infrastructor-Delivery"
	HeaderTimestamp = "X-Infrastructor-Timestamp"
	HeaderSignature = "X-Infrastructor-Signature"
	// HeaderGotifyKey carries a Gotify application token.
	HeaderGotifyKey = "X-Gotify-Key"
)

// Channel is where a message goes. Token and Secret are credentials: never log them. For Discord and Slack the
// token is the webhook URL (see URLIsCredential).
type Channel struct {
	Type   string
	URL    string
	Token  string
	Secret string
	Config Config
}

// Message is one notification. DeliveryID is unique per message and channel, so a receiver can drop a
// message delivered twice (a send whose answer was lost is retried).
type Message struct {
	DeliveryID int64     `json:"delivery_id"`
	Kind       string    `json:"kind"` // firing, escalated, resolved or test
	Severity   string    `json:"severity"`
	Title      string    `json:"title"`
	Text       string    `json:"message"`
	AlertID    string    `json:"alert_id,omitempty"`
	RuleID     string    `json:"rule_id,omitempty"`
	RuleName   string    `json:"rule,omitempty"`
	DeviceID   string    `json:"device_id,omitempty"`
	DeviceName string    `json:"device,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	Time       time.Time `json:"time"`
}

// RejectedError means the receiver refused the message for good (a bad token, a wrong URL): retrying cannot
// help.
type RejectedError struct {
	Status int
	Body   string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("rejected with HTTP %d: %s", e.Status, e.Body)
}

// TemporaryError means the receiver could not take the message now (down, overloaded, rate limiting); a later
// attempt may succeed. RetryAfter is the receiver's hint, zero when it gave none.
type TemporaryError struct {
	Status     int // 0 when no HTTP answer came
	RetryAfter time.Duration
	Err        error
}

func (e *TemporaryError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("not delivered: %v", e.Err)
	}
	return fmt.Sprintf("not delivered: HTTP %d: %v", e.Status, e.Err)
}

func (e *TemporaryError) Unwrap() error { return e.Err }

// Sender posts messages over HTTP.
type Sender struct {
	// HTTP is the client used; nil means NewClient(Targets, 20 s), built once. A client given here is used as
	// it is: it should not follow redirects or reach forbidden targets either.
	HTTP *http.Client
	// Targets are the addresses the default client may reach.
	Targets Targets
	// Now stamps webhook signatures (time.Now when nil).
	Now func() time.Time
	// RootCAs are the authorities SMTP servers' certificates are checked against; nil means the system's.
	RootCAs *x509.CertPool

	once sync.Once
	def  *http.Client
}

// Send delivers m to ch. Errors are *RejectedError, *TemporaryError, or a plain error for a bad channel (an
// unknown type, or a URL whose address is forbidden: errors.Is(err, ErrForbiddenTarget)).
func (s *Sender) Send(ctx context.Context, ch Channel, m Message) error {
	var (
		url  string
		body []byte
		hdr  = http.Header{"Content-Type": {"application/json"}}
		err  error
	)
	switch ch.Type {
	case TypeGotify:
		url = strings.TrimSuffix(ch.URL, "/") + "/message"
		body, err = json.Marshal(gotifyMessage{Title: m.Title, Message: m.Text, Priority: Priority(m),
			Extras: map[string]any{"infrastructor::notification": m}})
		hdr.Set(HeaderGotifyKey, ch.Token)
	case TypeWebhook:
		url = ch.URL
		body, err = json.Marshal(m)
		hdr.Set(HeaderDelivery, strconv.FormatInt(m.DeliveryID, 10))
		if ch.Secret != "" {
			ts := strconv.FormatInt(s.now().Unix(), 10)
			hdr.Set(HeaderTimestamp, ts)
			hdr.Set(HeaderSignature, Sign(ch.Secret, ts, body))
		}
	case TypeEmail:
		return s.sendEmail(ctx, ch, m)
	default:
		var extra http.Header
		url, body, extra, err = chatRequest(ch, m)
		for k, v := range extra {
			hdr[k] = v
		}
	}
	if err != nil {
		return fmt.Errorf("encode %s message: %w", ch.Type, err)
	}
	method := http.MethodPost
	if ch.Type == TypeMatrix {
		method = http.MethodPut // the transaction ID in the path makes the send idempotent
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		// The parse error quotes the URL, which holds the credential for Discord, Slack and Telegram.
		return fmt.Errorf("send to %s channel: bad URL: %s", ch.Type, redact(err.Error(), ch.credentials()...))
	}
	req.Header = hdr
	resp, err := s.client().Do(req)
	if err != nil {
		// Strip the URL: it may carry credentials in its query.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		if errors.Is(err, ErrForbiddenTarget) {
			// Configuration, not a passing fault: retrying cannot help.
			return fmt.Errorf("send to %s channel: %w", ch.Type, err)
		}
		return &TemporaryError{Err: err}
	}
	defer resp.Body.Close()
	// Read past the 300 bytes kept, so a credential cut at the boundary is still recognised and hidden.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, int64(300+len(ch.Token)+len(ch.Secret))))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	snippet := redact(string(raw), ch.credentials()...)
	if len(snippet) > 300 {
		snippet = snippet[:300]
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		// Not followed (see NewClient). Only the Location's host is told: its query may hold credentials.
		where := "another URL"
		if loc, err := resp.Location(); err == nil {
			where = loc.Scheme + "://" + loc.Host
		}
		return &RejectedError{Status: code, Body: "redirects are not followed (to " + where +
			"); set the channel's URL to the final address"}
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		wait := retryAfter(resp.Header.Get("Retry-After"), s.now())
		if wait == 0 && code == http.StatusTooManyRequests {
			wait = retryAfterBody(string(raw))
		}
		return &TemporaryError{Status: code, RetryAfter: wait, Err: errors.New(strings.TrimSpace(snippet))}
	default:
		return &RejectedError{Status: code, Body: strings.TrimSpace(snippet)}
	}
}

// credentials are the strings no error may show: the token and secret, and for a webhook URL that is a credential
// its path and the token segment in it, which a receiver may echo on their own.
func (ch Channel) credentials() []string {
	out := []string{ch.Token, ch.Secret}
	if URLIsCredential(ch.Type) {
		if u, err := url.Parse(ch.Token); err == nil {
			out = append(out, u.EscapedPath(), u.Path)
			if i := strings.LastIndexByte(strings.TrimSuffix(u.Path, "/"), '/'); i >= 0 && len(u.Path)-i > 8 {
				out = append(out, strings.TrimSuffix(u.Path, "/")[i+1:])
			}
		}
	}
	// Longest first, so a shorter credential inside a longer one does not leave the rest showing.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// redact hides credentials a receiver echoed back (a URL pointing at the wrong service may answer with the
// request it got): the answer is kept with the delivery and in workflow history.
func redact(s string, credentials ...string) string {
	for _, c := range credentials {
		if c != "" {
			s = strings.ReplaceAll(s, c, "[redacted]")
		}
	}
	return s
}

type gotifyMessage struct {
	Title    string         `json:"title"`
	Message  string         `json:"message"`
	Priority int            `json:"priority"`
	Extras   map[string]any `json:"extras,omitempty"`
}

// Priority maps a message to Gotify's priority scale: critical 8, warning 5, resolved and info 2.
func Priority(m Message) int {
	if m.Kind == "resolved" {
		return 2
	}
	switch m.Severity {
	case "critical":
		return 8
	case "warning":
		return 5
	}
	return 2
}

func (s *Sender) client() *http.Client {
	if s.HTTP != nil {
		return s.HTTP
	}
	// One client per Sender, so connections to a receiver are reused across deliveries.
	s.once.Do(func() { s.def = NewClient(s.Targets, 20*time.Second) })
	return s.def
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Sign is the webhook signature of body sent at timestamp (unix seconds, as sent in HeaderTimestamp).
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature means a webhook's signature does not match its body, or its timestamp is too old.
var ErrBadSignature = errors.New("bad webhook signature")

// Verify checks a received webhook: the signature over the timestamp and body, and a timestamp within maxAge
// of now (so a captured request cannot be replayed later).
func Verify(secret string, h http.Header, body []byte, now time.Time, maxAge time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no timestamp", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > maxAge || d < -maxAge {
		return fmt.Errorf("%w: timestamp %s is too far from now", ErrBadSignature, ts)
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return ErrBadSignature
	}
	return nil
}
