package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
)

// Authenticating must not write the token row on every request (#15): 100 requests write last_used_at at most
// once, counted by a trigger on the real table.
func TestTokenLastUsedIsWrittenAtMostOncePerMinute(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()
	_, err := ts.pool.Exec(ctx, `CREATE TABLE token_writes (id uuid);
		CREATE FUNCTION count_token_write() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN INSERT INTO token_writes VALUES (NEW.id); RETURN NEW; END $$;
		CREATE TRIGGER count_token_write AFTER UPDATE ON api_tokens FOR EACH ROW EXECUTE FUNCTION count_token_write();`)
	require.NoError(t, err)
	writes := func() int {
		var n int
		require.NoError(t, ts.pool.QueryRow(ctx, `SELECT count(*) FROM token_writes WHERE id = $1`, ts.tokens[ts.read].ID).Scan(&n))
		return n
	}

	for range 100 {
		ts.req("GET", "/api/v1/devices", ts.read, nil).requireStatus(t, http.StatusOK)
	}
	require.LessOrEqual(t, writes(), 1, "100 requests within a minute")
	var lastUsed *time.Time
	require.NoError(t, ts.pool.QueryRow(ctx, `SELECT last_used_at FROM api_tokens WHERE id = $1`, ts.tokens[ts.read].ID).Scan(&lastUsed))
	require.NotNil(t, lastUsed, "the use is still recorded")

	// A minute later the next request records the use again, once.
	ts.clock.Advance(61 * time.Second)
	before := writes()
	for range 10 {
		ts.req("GET", "/api/v1/devices", ts.read, nil).requireStatus(t, http.StatusOK)
	}
	require.Equal(t, before+1, writes())
}

// INFRA_TOKEN_DEFAULT_TTL gives tokens created without expires_at a lifetime; "never" and null still ask for none.
func TestTokenDefaultLifetime(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.cfg.TokenDefaultTTL = 24 * time.Hour
	create := func(body map[string]any) *store.Token {
		t.Helper()
		body["name"], body["scopes"] = "t", []string{"read"}
		var tok store.Token
		ts.req("POST", "/api/v1/tokens", ts.admin, body).requireStatus(t, http.StatusCreated).into(t, &tok)
		return &tok
	}
	tok := create(map[string]any{})
	require.NotNil(t, tok.ExpiresAt, "the default lifetime applies")
	require.WithinDuration(t, ts.clock.Now().Add(24*time.Hour), *tok.ExpiresAt, 2*time.Second)
	require.Nil(t, create(map[string]any{"expires_at": "never"}).ExpiresAt)
	require.Nil(t, create(map[string]any{"expires_at": nil}).ExpiresAt)
	at := ts.clock.Now().Add(time.Hour).UTC().Truncate(time.Second)
	require.True(t, at.Equal(*create(map[string]any{"expires_at": at.Format(time.RFC3339)}).ExpiresAt))
	e := ts.req("POST", "/api/v1/tokens", ts.admin, map[string]any{"name": "t", "scopes": []string{"read"}, "expires_at": "someday"}).
		requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
	require.Contains(t, e.Error.Fields["expires_at"], "never")

	ts.cfg.TokenDefaultTTL = 0
	require.Nil(t, create(map[string]any{}).ExpiresAt, "without a default, tokens do not expire")
}

// Failed authentications are limited per client address: past the limit every request from it, even with a good
// token, gets 429 with Retry-After in the envelope, until the budget refills (#15).
func TestFailedAuthenticationIsRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.cfg.AuthFailuresPerMinute = 3
	garbage, err := store.NewSecret()
	require.NoError(t, err)
	for range 3 {
		ts.req("GET", "/api/v1/devices", garbage, nil).requireStatus(t, http.StatusUnauthorized)
	}
	for _, secret := range []string{garbage, ts.read} {
		r := ts.req("GET", "/api/v1/devices", secret, nil).requireStatus(t, http.StatusTooManyRequests)
		require.Equal(t, "rate_limited", r.envelope(t).Error.Code)
		retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
		require.NoError(t, err, "Retry-After: %q", r.Header.Get("Retry-After"))
		require.InDelta(t, 20, retry, 1, "one failure refills every 20 s at 3 a minute")
	}
	// MCP is behind the same limit.
	ts.req("POST", "/mcp", ts.read, raw(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)).requireStatus(t, http.StatusTooManyRequests)

	ts.clock.Advance(21 * time.Second)
	ts.req("GET", "/api/v1/devices", ts.read, nil).requireStatus(t, http.StatusOK)
	// Missing tokens are refused but are no guesses, so they do not count.
	for range 5 {
		ts.req("GET", "/api/v1/devices", "", nil).requireStatus(t, http.StatusUnauthorized)
	}
	ts.req("GET", "/api/v1/devices", ts.read, nil).requireStatus(t, http.StatusOK)
}

// Requests per token are limited too; other tokens are not affected.
func TestTokenRequestRateIsLimited(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.cfg.TokenRequestsPerMinute = 5
	for range 5 {
		ts.req("GET", "/api/v1/devices", ts.read, nil).requireStatus(t, http.StatusOK)
	}
	r := ts.req("GET", "/api/v1/devices", ts.read, nil).requireStatus(t, http.StatusTooManyRequests)
	require.Equal(t, "rate_limited", r.envelope(t).Error.Code)
	require.Equal(t, "12", r.Header.Get("Retry-After"))
	ts.req("GET", "/api/v1/devices", ts.operate, nil).requireStatus(t, http.StatusOK)
	ts.clock.Advance(12 * time.Second)
	ts.req("GET", "/api/v1/devices", ts.read, nil).requireStatus(t, http.StatusOK)
}

// 401s and refused reads are audited, at most once a minute per address and kind, with the count of the others.
func TestRefusalsAreAuditedThrottled(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.cfg.AuthFailuresPerMinute = 1000
	garbage, err := store.NewSecret()
	require.NoError(t, err)
	byAction := func(action string) []*store.AuditRecord {
		var out []*store.AuditRecord
		for _, r := range ts.auditRecords() {
			if r.Action == action {
				out = append(out, r)
			}
		}
		return out
	}
	for range 3 {
		ts.req("GET", "/api/v1/devices", garbage, nil).requireStatus(t, http.StatusUnauthorized)
	}
	recs := byAction("auth.unauthorized")
	require.Len(t, recs, 1)
	require.Equal(t, http.StatusUnauthorized, recs[0].StatusCode)
	require.Equal(t, "/api/v1/devices", recs[0].Target)
	require.NotEmpty(t, recs[0].RemoteAddr)
	require.NotContains(t, string(recs[0].Detail), garbage, "the secret is never recorded")

	ts.clock.Advance(61 * time.Second)
	ts.req("GET", "/api/v1/devices", garbage, nil).requireStatus(t, http.StatusUnauthorized)
	recs = byAction("auth.unauthorized")
	require.Len(t, recs, 2)
	var detail map[string]any
	require.NoError(t, json.Unmarshal(recs[0].Detail, &detail))
	require.EqualValues(t, 2, detail["more_since_previous_record"])

	// A read the token's scope does not allow.
	for range 3 {
		ts.req("GET", "/api/v1/tokens", ts.read, nil).requireStatus(t, http.StatusForbidden)
	}
	recs = byAction("auth.forbidden")
	require.Len(t, recs, 1)
	require.Equal(t, "reader", recs[0].TokenName)
	require.Equal(t, "denied", recs[0].Outcome)
}

// MCP authenticates every request: a revoked token is refused at its next request.
func TestMCPRefusesARevokedTokenAtItsNextRequest(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	secret := ts.token("agent", store.ScopeRead, nil)
	list := raw(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	accept := []string{"Accept", "application/json, text/event-stream"}
	ts.req("POST", "/mcp", secret, list, accept...).requireStatus(t, http.StatusOK)
	ts.req("DELETE", "/api/v1/tokens/"+ts.tokens[secret].ID.String(), ts.admin, nil).requireStatus(t, http.StatusOK)
	r := ts.req("POST", "/mcp", secret, list, accept...).requireStatus(t, http.StatusUnauthorized)
	require.Equal(t, `Bearer realm="infrastructor"`, r.Header.Get("WWW-Authenticate"))
}

// Calling an MCP tool the token's scope hides is refused by mcp-go as an unknown tool, and audited (throttled).
func TestMCPHiddenToolCallIsAudited(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	call := raw(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pause_polling","arguments":{"device":"x"}}}`)
	for range 2 {
		r := ts.req("POST", "/mcp", ts.read, call, "Accept", "application/json, text/event-stream").requireStatus(t, http.StatusOK)
		require.Contains(t, string(r.Body), "not found")
	}
	var recs []*store.AuditRecord
	for _, r := range ts.auditRecords() {
		if r.Action == "auth.forbidden" {
			recs = append(recs, r)
		}
	}
	require.Len(t, recs, 1)
	require.Equal(t, "mcp.pause_polling", recs[0].Target)
	require.Equal(t, "reader", recs[0].TokenName)
}
