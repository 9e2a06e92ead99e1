package api_test

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/store"
)

// The test requests' host (httptest.NewRequest): the dashboard's own origin.
const selfOrigin = "http://example.com"

func TestDashboardAssetsAndHeaders(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	r := ts.req("GET", "/", "", nil).requireStatus(t, 200)
	require.Equal(t, "text/html; charset=utf-8", r.Header.Get("Content-Type"))
	csp := r.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self';")
	require.Contains(t, csp, "frame-ancestors 'none'")
	require.NotContains(t, csp, "unsafe-inline")
	require.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "DENY", r.Header.Get("X-Frame-Options"))
	require.Equal(t, "same-origin", r.Header.Get("Referrer-Policy"))
	require.Contains(t, string(r.Body), `<script type="module" src="/assets/app.js">`)
	require.NotContains(t, string(r.Body), "<script>", "no inline script")

	js := ts.req("GET", "/assets/app.js", "", nil).requireStatus(t, 200)
	require.Equal(t, "text/javascript; charset=utf-8", js.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", js.Header.Get("Cache-Control"))
	etag := js.Header.Get("ETag")
	require.NotEmpty(t, etag)
	ts.req("GET", "/assets/app.js", "", nil, "If-None-Match", etag).requireStatus(t, 304)

	gz := ts.req("GET", "/assets/pages.js", "", nil, "Accept-Encoding", "gzip").requireStatus(t, 200)
	require.Equal(t, "gzip", gz.Header.Get("Content-Encoding"))
	zr, err := gzip.NewReader(strings.NewReader(string(gz.Body)))
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, string(ts.req("GET", "/assets/pages.js", "", nil).Body), string(plain))

	ts.req("GET", "/assets/nope.js", "", nil).requireStatus(t, 404)
	ts.req("GET", "/assets/index.html", "", nil).requireStatus(t, 404)
	ts.req("GET", "/assets/../../go.mod", "", nil).requireStatus(t, 404)
}

// signIn posts the sign-in form as the dashboard's page does and returns the session cookie's value.
func signIn(t *testing.T, ts *testServer, token string) string {
	t.Helper()
	r := ts.req("POST", "/web/session", "", raw("token="+url.QueryEscape(token)), "Content-Type", "application/x-www-form-urlencoded",
		"Origin", selfOrigin).requireStatus(t, http.StatusSeeOther)
	require.Equal(t, "/", r.Header.Get("Location"))
	c := sessionCookie(t, r)
	require.NotNil(t, c, "no session cookie set")
	return c.Value
}

func sessionCookie(t *testing.T, r *response) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == "infra_session" && c.Value != "" {
			return c
		}
	}
	return nil
}

func TestDashboardSignIn(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	form := func(token, origin string) *response {
		return ts.req("POST", "/web/session", "", raw("token="+url.QueryEscape(token)),
			"Content-Type", "application/x-www-form-urlencoded", "Origin", origin)
	}

	// A wrong token, a missing one, and a post from another site get no cookie, only a code for the page to explain.
	for _, c := range []struct{ token, origin, code string }{
		{"infra_wrong-token-000000000000000000000000000000", selfOrigin, "invalid"},
		{"", selfOrigin, "missing"},
		{ts.admin, "http://evil.example", "origin"},
	} {
		r := form(c.token, c.origin).requireStatus(t, http.StatusSeeOther)
		require.Equal(t, "/?signin_error="+c.code, r.Header.Get("Location"))
		require.Nil(t, sessionCookie(t, r))
	}

	r := form(ts.admin, selfOrigin).requireStatus(t, http.StatusSeeOther)
	c := sessionCookie(t, r)
	require.NotNil(t, c)
	require.True(t, c.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, c.SameSite)
	require.False(t, c.Secure, "plain HTTP cannot carry a Secure cookie")
	require.Equal(t, "/", c.Path)
	require.WithinDuration(t, ts.clock.Now().Add(12*time.Hour), c.Expires, time.Minute)
	require.NotContains(t, c.Value, ts.admin)

	// The page learns the token's name, scopes and the CSRF token, never the token.
	info := ts.req("GET", "/web/session", "", nil, "Cookie", "infra_session="+c.Value).requireStatus(t, 200)
	var v struct {
		TokenName string   `json:"token_name"`
		Scopes    []string `json:"scopes"`
		CSRF      string   `json:"csrf"`
	}
	info.into(t, &v)
	require.Equal(t, []string{"admin"}, v.Scopes)
	require.NotEmpty(t, v.CSRF)
	require.NotContains(t, string(info.Body), ts.admin)
	require.Equal(t, "no-store", info.Header.Get("Cache-Control"))
	ts.req("GET", "/web/session", "", nil).requireStatus(t, 401)

	// JSON clients get the view directly.
	var j struct {
		Scopes []string `json:"scopes"`
	}
	ts.req("POST", "/web/session", "", map[string]string{"token": ts.read}).requireStatus(t, 200).into(t, &j)
	require.Equal(t, []string{"read"}, j.Scopes)

	// Sign-ins are audited with the token.
	var n int
	require.NoError(t, ts.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM audit_log WHERE action = 'session.create' AND outcome = 'success'`).Scan(&n))
	require.Equal(t, 2, n)
}

func TestDashboardSessionCSRFAndScope(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	sess := signIn(t, ts, ts.admin)
	cookie := "infra_session=" + sess
	var v struct {
		CSRF string `json:"csrf"`
	}
	ts.req("GET", "/web/session", "", nil, "Cookie", cookie).requireStatus(t, 200).into(t, &v)

	// Reads need only the cookie.
	ts.req("GET", "/api/v1/devices", "", nil, "Cookie", cookie).requireStatus(t, 200)

	// Changes need this origin and the session's CSRF token.
	body := map[string]any{"name": "made-in-the-dashboard", "scopes": []string{"read"}}
	for _, c := range []struct{ name, origin, csrf string }{
		{"no CSRF header", selfOrigin, ""},
		{"wrong CSRF token", selfOrigin, v.CSRF + "x"},
		{"another site", "http://evil.example", v.CSRF},
		{"no origin", "", v.CSRF},
	} {
		r := ts.req("POST", "/api/v1/tokens", "", body, "Cookie", cookie, "Origin", c.origin, "X-CSRF-Token", c.csrf)
		require.Equal(t, 403, r.Status, c.name)
		require.Equal(t, "csrf_refused", r.envelope(t).Error.Code, c.name)
	}
	ts.req("POST", "/api/v1/tokens", "", body, "Cookie", cookie, "Origin", selfOrigin, "X-CSRF-Token", v.CSRF).requireStatus(t, 201)
	var actor string
	require.NoError(t, ts.pool.QueryRow(context.Background(),
		`SELECT token_name FROM audit_log WHERE action = 'token.create' AND outcome = 'success' ORDER BY id DESC LIMIT 1`).Scan(&actor))
	require.Equal(t, "admin", actor, "the change is audited under the session's token")
	var refused int
	require.NoError(t, ts.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM audit_log WHERE action = 'auth.forbidden' AND token_name = 'admin'`).Scan(&refused))
	require.Positive(t, refused, "forged requests are audited")

	// A read session passes the CSRF check and is still refused by scope.
	rs := "infra_session=" + signIn(t, ts, ts.read)
	var rv struct {
		CSRF string `json:"csrf"`
	}
	ts.req("GET", "/web/session", "", nil, "Cookie", rs).requireStatus(t, 200).into(t, &rv)
	r := ts.req("POST", "/api/v1/tokens", "", body, "Cookie", rs, "Origin", selfOrigin, "X-CSRF-Token", rv.CSRF)
	require.Equal(t, 403, r.Status)
	require.Equal(t, "forbidden", r.envelope(t).Error.Code)
	require.NotEqual(t, v.CSRF, rv.CSRF, "each session has its own CSRF token")

	// A bearer token still works without any CSRF header: it is not sent by browsers on their own.
	ts.req("POST", "/api/v1/tokens", ts.admin, map[string]any{"name": "bearer", "scopes": []string{"read"}}).requireStatus(t, 201)
}

func TestDashboardSessionEnds(t *testing.T) {
	t.Parallel()
	ts := newServer(t)
	get := func(sess string) int {
		return ts.req("GET", "/api/v1/devices", "", nil, "Cookie", "infra_session="+sess).Status
	}

	// Sign-out revokes the session on the server (CSRF-checked like any change) and clears the cookie.
	a := signIn(t, ts, ts.admin)
	var v struct {
		CSRF string `json:"csrf"`
	}
	ts.req("GET", "/web/session", "", nil, "Cookie", "infra_session="+a).requireStatus(t, 200).into(t, &v)
	ts.req("DELETE", "/web/session", "", nil, "Cookie", "infra_session="+a, "Origin", selfOrigin).requireStatus(t, 403)
	require.Equal(t, 200, get(a))
	out := ts.req("DELETE", "/web/session", "", nil, "Cookie", "infra_session="+a, "Origin", selfOrigin, "X-CSRF-Token", v.CSRF).requireStatus(t, 204)
	require.Contains(t, out.Header.Get("Set-Cookie"), "infra_session=;")
	require.Equal(t, 401, get(a))

	// It expires.
	b := signIn(t, ts, ts.admin)
	require.Equal(t, 200, get(b))
	ts.clock.Advance(12*time.Hour + time.Second)
	require.Equal(t, 401, get(b))

	// It ends with its token.
	c := signIn(t, ts, ts.operate)
	require.Equal(t, 200, get(c))
	tok := ts.tokens[ts.operate]
	_, err := store.RevokeToken(context.Background(), ts.pool, tok.ID)
	require.NoError(t, err)
	require.Equal(t, 401, get(c))

	// A made-up cookie is an authentication failure.
	require.Equal(t, 401, get("not-a-session"))
}
