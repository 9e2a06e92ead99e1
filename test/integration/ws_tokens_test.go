package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/config"
	"github.com/infrastructor/infrastructor/internal/hub"
	"github.com/infrastructor/infrastructor/internal/store"
)

// A WebSocket stays open only while its token works (#15): revoking the token through the REST API of one replica
// closes its connections on every replica at once (1008, "token revoked"), long before the periodic re-check, and
// a token that expires is closed by the re-check (1008, "token expired").
func TestWebSocketClosesWhenItsTokenStopsWorking(t *testing.T) {
	t.Parallel()
	d := newWSDatabase(t)
	ctx := context.Background()
	slowRecheck := func(c *config.Config) { c.TokenRecheck = 10 * time.Minute }
	a1 := startWSAPI(t, d.DB, hub.Options{}, slowRecheck)
	a2 := startWSAPI(t, d.DB, hub.Options{}, slowRecheck)

	t.Run("revoked on another replica", func(t *testing.T) {
		secret, err := store.NewSecret()
		require.NoError(t, err)
		victim, err := store.CreateToken(ctx, d.DB, "victim", []string{store.ScopeRead}, nil, secret)
		require.NoError(t, err)
		w1 := a1.connect(t, secret)
		w2 := a2.connect(t, secret)
		bystander := a2.connect(t, d.Tokens[store.ScopeRead])
		w2.subscribe("events")

		rest := strings.Replace(strings.TrimSuffix(a1.URL, "/ws"), "ws://", "http://", 1)
		req, err := http.NewRequest("DELETE", rest+"/api/v1/tokens/"+victim.ID.String(), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+d.Tokens[store.ScopeAdmin])
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)

		start := time.Now()
		w1.expectClose(websocket.ClosePolicyViolation, "token revoked")
		w2.expectClose(websocket.ClosePolicyViolation, "token revoked")
		require.Less(t, time.Since(start), 10*time.Second, "closed on the revocation, not by the re-check")

		// Other tokens' connections stay, and the revoked token cannot connect again.
		bystander.send(`{"type":"ping"}`)
		require.Equal(t, "pong", bystander.read().Type)
		w, _, err := dialWS(t, a2.URL, bearer(secret))
		require.NoError(t, err)
		w.expectClose(websocket.ClosePolicyViolation, "invalid, expired or revoked token")
	})

	t.Run("expired", func(t *testing.T) {
		a := startWSAPI(t, d.DB, hub.Options{}, func(c *config.Config) { c.TokenRecheck = 200 * time.Millisecond })
		secret, err := store.NewSecret()
		require.NoError(t, err)
		expires := time.Now().Add(2 * time.Second)
		_, err = store.CreateToken(ctx, d.DB, "short", []string{store.ScopeRead}, &expires, secret)
		require.NoError(t, err)
		w := a.connect(t, secret)
		w.expectClose(websocket.ClosePolicyViolation, "token expired")
		require.False(t, time.Now().Before(expires), "not before the token expired")
	})

	t.Run("too many failed authentications", func(t *testing.T) {
		a := startWSAPI(t, d.DB, hub.Options{}, func(c *config.Config) { c.AuthFailuresPerMinute = 2 })
		for range 2 {
			w, _, err := dialWS(t, a.URL, nil)
			require.NoError(t, err)
			w.send(`{"type":"auth","token":"infra_not-a-token-at-all-0123456789"}`)
			w.expectClose(websocket.ClosePolicyViolation, "invalid, expired or revoked token")
		}
		_, resp, err := dialWS(t, a.URL, bearer(d.Tokens[store.ScopeRead]))
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		require.NotEmpty(t, resp.Header.Get("Retry-After"))
	})
}
