package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gotify is an HTTP receiver that implements Gotify's message API: POST /message with X-Gotify-Key, 401 on a
// bad key.
type gotify struct {
	mu   sync.Mutex
	key  string
	got  []map[string]any
	fail int // answer 503 to this many requests first
}

func (g *gotify) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/message" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get(HeaderGotifyKey) != g.key {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"Unauthorized","errorCode":401,"errorDescription":"you need to provide a valid access token"}`)
		return
	}
	if g.fail > 0 {
		g.fail--
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	g.got = append(g.got, m)
	_, _ = io.WriteString(w, `{"id":1}`)
}

// lo is a sender allowed to reach the test receivers on 127.0.0.1.
func lo() *Sender { return &Sender{Targets: Targets{AllowLoopback: true}} }

var msg = Message{DeliveryID: 42, Kind: "firing", Severity: "critical", Title: "nas: cpu", Text: "cpu at 97.0%",
	AlertID: "a1", DeviceID: "d1", Time: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}

func TestGotify(t *testing.T) {
	g := &gotify{key: "app-token", fail: 1}
	srv := httptest.NewServer(g)
	defer srv.Close()
	s := lo()
	ctx := context.Background()

	err := s.Send(ctx, Channel{Type: TypeGotify, URL: srv.URL + "/", Token: "app-token"}, msg)
	var temp *TemporaryError
	require.ErrorAs(t, err, &temp)
	require.Equal(t, http.StatusServiceUnavailable, temp.Status)
	require.Equal(t, 7*time.Second, temp.RetryAfter)

	require.NoError(t, s.Send(ctx, Channel{Type: TypeGotify, URL: srv.URL, Token: "app-token"}, msg))
	require.Len(t, g.got, 1)
	require.Equal(t, "nas: cpu", g.got[0]["title"])
	require.Equal(t, "cpu at 97.0%", g.got[0]["message"])
	require.EqualValues(t, 8, g.got[0]["priority"])
	extra := g.got[0]["extras"].(map[string]any)["infrastructor::notification"].(map[string]any)
	require.Equal(t, "a1", extra["alert_id"])
	require.Equal(t, "d1", extra["device_id"])

	err = s.Send(ctx, Channel{Type: TypeGotify, URL: srv.URL, Token: "wrong"}, msg)
	var rej *RejectedError
	require.ErrorAs(t, err, &rej)
	require.Equal(t, http.StatusUnauthorized, rej.Status)
	require.Len(t, g.got, 1)
}

func TestWebhookSignature(t *testing.T) {
	var mu sync.Mutex
	var verified []Message
	now := time.Unix(1_800_000_000, 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := Verify("s3cret", r.Header, body, now, 5*time.Minute); err != nil {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		var m Message
		require.NoError(t, json.Unmarshal(body, &m))
		require.Equal(t, "42", r.Header.Get(HeaderDelivery))
		mu.Lock()
		verified = append(verified, m)
		mu.Unlock()
	}))
	defer srv.Close()
	ctx := context.Background()
	at := func(t time.Time) *Sender {
		return &Sender{Targets: Targets{AllowLoopback: true}, Now: func() time.Time { return t }}
	}

	require.NoError(t, at(now).Send(ctx, Channel{Type: TypeWebhook, URL: srv.URL, Secret: "s3cret"}, msg))
	require.Equal(t, []Message{msg}, verified)

	tests := []struct {
		name   string
		sender *Sender
		secret string
	}{
		{"wrong secret", at(now), "other"},
		{"no signature", at(now), ""},
		{"replayed an hour later", at(now.Add(-time.Hour)), "s3cret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.sender.Send(ctx, Channel{Type: TypeWebhook, URL: srv.URL, Secret: tc.secret}, msg)
			var rej *RejectedError
			require.ErrorAs(t, err, &rej)
			require.Equal(t, http.StatusForbidden, rej.Status)
		})
	}
	require.Len(t, verified, 1)
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"a":1}`)
	h := http.Header{}
	h.Set(HeaderTimestamp, "1800000000")
	h.Set(HeaderSignature, Sign("k", "1800000000", body))
	require.NoError(t, Verify("k", h, body, now, time.Minute))
	require.ErrorIs(t, Verify("k", h, []byte(`{"a":2}`), now, time.Minute), ErrBadSignature)
	require.ErrorIs(t, Verify("x", h, body, now, time.Minute), ErrBadSignature)
	require.ErrorIs(t, Verify("k", h, body, now.Add(2*time.Minute), time.Minute), ErrBadSignature)
	h.Del(HeaderTimestamp)
	require.ErrorIs(t, Verify("k", h, body, now, time.Minute), ErrBadSignature)
}

func TestSendFailures(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())

	err = lo().Send(ctx, Channel{Type: TypeWebhook, URL: down}, msg)
	var temp *TemporaryError
	require.ErrorAs(t, err, &temp, "connection refused is temporary")
	require.Zero(t, temp.Status)

	codes := map[int]bool{500: true, 502: true, 429: true, 408: true, 400: false, 404: false, 410: false}
	for code, temporary := range codes {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
		err := lo().Send(ctx, Channel{Type: TypeWebhook, URL: srv.URL}, msg)
		srv.Close()
		var rej *RejectedError
		require.Equal(t, temporary, errors.As(err, &temp), "HTTP %d", code)
		require.Equal(t, !temporary, errors.As(err, &rej), "HTTP %d", code)
	}
	require.Error(t, lo().Send(ctx, Channel{Type: "fax", URL: down}, msg))
}

func TestPriority(t *testing.T) {
	require.Equal(t, 8, Priority(Message{Kind: "firing", Severity: "critical"}))
	require.Equal(t, 5, Priority(Message{Kind: "escalated", Severity: "warning"}))
	require.Equal(t, 2, Priority(Message{Kind: "resolved", Severity: "critical"}))
	require.Equal(t, 2, Priority(Message{Kind: "test", Severity: "info"}))
}

// TestRedirectNotFollowed: a receiver that redirects must not get the token forwarded to another host (Go's
// client strips only Authorization and Cookie on a cross-host redirect, not X-Gotify-Key).
func TestRedirectNotFollowed(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Header.Get(HeaderGotifyKey))
		mu.Unlock()
	}))
	defer other.Close()
	_, port, err := net.SplitHostPort(other.Listener.Addr().String())
	require.NoError(t, err)
	elsewhere := "http://localhost:" + port // another host name and port
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer first.Close()

	s := lo()
	err = s.Send(context.Background(), Channel{Type: TypeGotify, URL: first.URL, Token: "app-token"}, msg)
	var rej *RejectedError
	require.ErrorAs(t, err, &rej, "a redirect is a failed delivery")
	require.Equal(t, http.StatusTemporaryRedirect, rej.Status)
	require.Contains(t, rej.Error(), "redirect")
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, leaked, "the redirect target must not be contacted")
}

// TestErrorsNeverCarryCredentials: a receiver that echoes the request (a wrong URL pointing at some other service)
// must not get the token into the error, which is stored with the delivery and recorded in workflow history.
func TestErrorsNeverCarryCredentials(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusServiceUnavailable} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			_, _ = io.WriteString(w, "unexpected request with key "+r.Header.Get(HeaderGotifyKey))
		}))
		err := lo().Send(context.Background(), Channel{Type: TypeGotify, URL: srv.URL, Token: "Echoed-Token-9"}, msg)
		srv.Close()
		require.Error(t, err)
		require.NotContains(t, err.Error(), "Echoed-Token-9", "HTTP %d", code)
		require.Contains(t, err.Error(), "unexpected request with key", "HTTP %d: the rest of the answer is kept", code)
	}
}
