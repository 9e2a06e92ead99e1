package api_test

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/api"
	"github.com/infrastructor/infrastructor/internal/store"
)

func TestAuthRejectsMissingAndBadTokens(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ts.cfg.AuthFailuresPerMinute = 1000 // this test fails on purpose, many times from one address
	garbage, err := store.NewSecret()   // well-formed but never stored
	require.NoError(t, err)
	tests := []struct {
		name, header string
	}{
		{"no header", ""},
		{"empty bearer", "Bearer "},
		{"basic auth", "Basic YWRtaW46YWRtaW4="},
		{"garbage", "Bearer garbage"},
		{"unknown secret", "Bearer " + garbage},
		{"secret without scheme", ts.admin},
		{"secret with a suffix", "Bearer " + ts.admin + "x"},
		{"long junk", "Bearer " + strings.Repeat("z", 200)},
	}
	for _, tc := range tests {
		for _, route := range []struct{ method, path string }{{"GET", "/api/v1/devices"}, {"POST", "/api/v1/devices"},
			{"GET", "/api/v1/no-such-route"}, {"DELETE", "/api/v1/tokens/" + newID()}} {
			r := ts.req(route.method, route.path, "", map[string]any{}, "Authorization", tc.header).
				requireStatus(t, http.StatusUnauthorized)
			require.Equal(t, "unauthorized", r.envelope(t).Error.Code, "%s %s %s", tc.name, route.method, route.path)
			require.Equal(t, `Bearer realm="infrastructor"`, r.Header.Get("WWW-Authenticate"))
		}
	}
	// The scheme is case-insensitive.
	ts.req("GET", "/api/v1/devices", "", nil, "Authorization", "bearer "+ts.admin).requireStatus(t, http.StatusOK)
	// Unknown routes answer 404 only after authentication.
	ts.req("GET", "/api/v1/no-such-route", ts.read, nil).requireStatus(t, http.StatusNotFound)
}

func TestScopes(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	d := ts.createDevice("quiet", map[string]any{"enabled": false})
	tests := []struct {
		method, path string
		body         any
		need         string
		ok           int // status for a token that has the scope
	}{
		{"GET", "/api/v1/devices", nil, store.ScopeRead, http.StatusOK},
		{"GET", "/api/v1/devices/" + d.ID, nil, store.ScopeRead, http.StatusOK},
		{"GET", "/api/v1/openapi.json", nil, store.ScopeRead, http.StatusOK},
		// The device is not polled, so operate-scoped actions conflict, but they are allowed.
		{"POST", "/api/v1/devices/" + d.ID + "/pause", nil, store.ScopeOperate, http.StatusConflict},
		{"POST", "/api/v1/devices/" + d.ID + "/resume", nil, store.ScopeOperate, http.StatusConflict},
		{"PATCH", "/api/v1/devices/" + d.ID, map[string]any{"description": "x"}, store.ScopeAdmin, http.StatusOK},
		{"POST", "/api/v1/devices", map[string]any{}, store.ScopeAdmin, http.StatusUnprocessableEntity},
		{"GET", "/api/v1/tokens", nil, store.ScopeAdmin, http.StatusOK},
		{"GET", "/api/v1/audit", nil, store.ScopeAdmin, http.StatusOK},
		{"DELETE", "/api/v1/tokens/" + newID(), nil, store.ScopeAdmin, http.StatusNotFound},
	}
	tokens := map[string]string{store.ScopeRead: ts.read, store.ScopeOperate: ts.operate, store.ScopeAdmin: ts.admin}
	for _, tc := range tests {
		for scope, secret := range tokens {
			r := ts.req(tc.method, tc.path, secret, tc.body)
			if store.ScopeRank[scope] >= store.ScopeRank[tc.need] {
				require.Equal(t, tc.ok, r.Status, "%s %s with %s: %s", tc.method, tc.path, scope, r.Body)
			} else {
				require.Equal(t, http.StatusForbidden, r.Status, "%s %s with %s: %s", tc.method, tc.path, scope, r.Body)
				e := r.envelope(t)
				require.Equal(t, "forbidden", e.Error.Code)
				require.Contains(t, e.Error.Message, tc.need)
			}
		}
	}
}

func TestRevokedAndExpiredTokens(t *testing.T) {
	t.Parallel()
	ts := newServer(t)

	// A token created through the API with an expiry works until the server's clock passes it.
	var created struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	expires := ts.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	ts.req("POST", "/api/v1/tokens", ts.admin, map[string]any{"name": "short-lived", "scopes": []string{"read"}, "expires_at": expires}).
		requireStatus(t, http.StatusCreated).into(t, &created)
	ts.req("GET", "/api/v1/devices", created.Token, nil).requireStatus(t, http.StatusOK)
	ts.clock.Advance(2 * time.Hour)
	require.Equal(t, "unauthorized", ts.req("GET", "/api/v1/devices", created.Token, nil).
		requireStatus(t, http.StatusUnauthorized).envelope(t).Error.Code)

	// A token stored with an expiry in the past never works.
	past := ts.clock.Now().Add(-time.Minute)
	old := ts.token("expired", store.ScopeAdmin, &past)
	ts.req("GET", "/api/v1/devices", old, nil).requireStatus(t, http.StatusUnauthorized)

	// A revoked token stops working at once; revoking again is harmless.
	victim := ts.token("victim", store.ScopeAdmin, nil)
	ts.req("GET", "/api/v1/tokens", victim, nil).requireStatus(t, http.StatusOK)
	id := ts.tokens[victim].ID.String()
	var revoked store.Token
	ts.req("DELETE", "/api/v1/tokens/"+id, ts.admin, nil).requireStatus(t, http.StatusOK).into(t, &revoked)
	require.NotNil(t, revoked.RevokedAt)
	ts.req("GET", "/api/v1/devices", victim, nil).requireStatus(t, http.StatusUnauthorized)
	var again store.Token
	ts.req("DELETE", "/api/v1/tokens/"+id, ts.admin, nil).requireStatus(t, http.StatusOK).into(t, &again)
	require.Equal(t, revoked.RevokedAt.Unix(), again.RevokedAt.Unix(), "the first revocation time stays")

	// A token can revoke itself, and is then refused.
	ts.req("DELETE", "/api/v1/tokens/"+ts.tokens[ts.admin].ID.String(), ts.admin, nil).requireStatus(t, http.StatusOK)
	ts.req("GET", "/api/v1/devices", ts.admin, nil).requireStatus(t, http.StatusUnauthorized)
}

func TestTokens(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	ctx := context.Background()

	var created struct {
		store.Token
		Secret string `json:"token"`
	}
	r := ts.req("POST", "/api/v1/tokens", ts.admin, map[string]any{"name": "ci", "scopes": []string{"operate", "read", "operate"}}).
		requireStatus(t, http.StatusCreated)
	r.into(t, &created)
	require.True(t, strings.HasPrefix(created.Secret, store.TokenPrefix), "secret %q", created.Secret)
	require.Equal(t, "ci", created.Name)
	require.Equal(t, []string{"operate", "read"}, created.Scopes)
	require.Equal(t, "/api/v1/tokens/"+created.ID.String(), r.Header.Get("Location"))
	require.True(t, strings.HasPrefix(created.Secret, created.Prefix) && len(created.Prefix) < len(created.Secret)/2,
		"prefix %q identifies the secret without revealing it", created.Prefix)
	random := strings.TrimPrefix(created.Secret, created.Prefix)

	// The new token works with its scopes.
	ts.req("GET", "/api/v1/devices", created.Secret, nil).requireStatus(t, http.StatusOK)
	ts.req("GET", "/api/v1/tokens", created.Secret, nil).requireStatus(t, http.StatusForbidden)

	// The list shows it without any secret.
	r = ts.req("GET", "/api/v1/tokens", ts.admin, nil).requireStatus(t, http.StatusOK)
	require.NotContains(t, string(r.Body), random)
	require.NotContains(t, string(r.Body), `"token"`)
	var list struct {
		Items []map[string]any `json:"items"`
	}
	r.into(t, &list)
	require.Len(t, list.Items, 4) // admin, operator, reader, ci
	require.Equal(t, "ci", list.Items[0]["name"], "newest first")
	for _, item := range list.Items {
		require.NotContains(t, item, "secret_hash")
	}

	// The database holds only a hash: neither the secret nor its random part, in any encoding, appears.
	rows, err := ts.pool.Query(ctx, `SELECT row_to_json(t)::text FROM api_tokens t`)
	require.NoError(t, err)
	var dump strings.Builder
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		dump.WriteString(line)
	}
	require.NoError(t, rows.Err())
	for _, needle := range []string{created.Secret, random, hex.EncodeToString([]byte(created.Secret)), hex.EncodeToString([]byte(random))} {
		require.NotContains(t, dump.String(), needle)
	}
	var hash []byte
	require.NoError(t, ts.pool.QueryRow(ctx, `SELECT secret_hash FROM api_tokens WHERE id = $1`, created.ID).Scan(&hash))
	require.Equal(t, store.HashSecret(created.Secret), hash)

	// Validation.
	bad := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"scopes": []string{"read"}}, "name"},
		{map[string]any{"name": "has space", "scopes": []string{"read"}}, "name"},
		{map[string]any{"name": "x"}, "scopes"},
		{map[string]any{"name": "x", "scopes": []string{}}, "scopes"},
		{map[string]any{"name": "x", "scopes": []string{"root"}}, "scopes"},
		{map[string]any{"name": "x", "scopes": "admin"}, "scopes"},
		{map[string]any{"name": "x", "scopes": []string{"read"}, "expires_at": "tomorrow"}, "expires_at"},
		{map[string]any{"name": "x", "scopes": []string{"read"}, "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"},
		{map[string]any{"name": "x", "scopes": []string{"read"}, "secret": "mine"}, "secret"},
	}
	for _, tc := range bad {
		e := ts.req("POST", "/api/v1/tokens", ts.admin, tc.body).requireStatus(t, http.StatusUnprocessableEntity).envelope(t)
		require.NotEmpty(t, e.Error.Fields[tc.field], "%v: %v", tc.body, e.Error.Fields)
	}
	ts.req("POST", "/api/v1/tokens", ts.admin, raw(`{"name":"x","scopes":["read"]}`), "Content-Type", "text/plain").
		requireStatus(t, http.StatusUnsupportedMediaType)
	for _, id := range []string{newID(), "nope"} {
		ts.req("DELETE", "/api/v1/tokens/"+id, ts.admin, nil).requireStatus(t, http.StatusNotFound)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	var body struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	ts.req("GET", "/healthz", "", nil).requireStatus(t, http.StatusOK).into(t, &body)
	require.Equal(t, "ok", body.Status)

	ts.req("GET", "/readyz", "", nil).requireStatus(t, http.StatusOK).into(t, &body)
	require.Equal(t, map[string]string{"postgres": "ok", "temporal": "ok"}, body.Checks)

	ts.health.set(errors.New("connection refused: dial tcp 127.0.0.1:7233"))
	r := ts.req("GET", "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.Status)
	r.into(t, &body)
	require.Equal(t, map[string]string{"postgres": "ok", "temporal": "down"}, body.Checks)
	require.NotContains(t, string(r.Body), "7233", "the cause goes to the log, not the client")
	ts.health.set(nil)
	ts.req("GET", "/readyz", "", nil).requireStatus(t, http.StatusOK)

	// Without a Temporal checker the server is not ready either.
	noTemporal := api.New(api.Deps{Config: ts.cfg, Pool: ts.pool, Log: quiet})
	resp, err := noTemporal.App().Test(mustRequest(t, "GET", "/readyz"), -1)
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	resp.Body.Close()

	// With the database gone, liveness still answers and readiness names PostgreSQL.
	ts.pool.Close()
	ts.req("GET", "/healthz", "", nil).requireStatus(t, http.StatusOK)
	r = ts.req("GET", "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.Status)
	r.into(t, &body)
	require.Equal(t, "down", body.Checks["postgres"])
}

func mustRequest(t *testing.T, method, path string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, path, nil)
	require.NoError(t, err)
	return r
}
