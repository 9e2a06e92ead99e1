package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/internal/store"
)

// Dashboard sessions (#14). The browser posts a pasted API token once (an HTML form, so no script ever holds it);
// the server answers with an HttpOnly, SameSite=Strict cookie naming a server-side session that acts with that
// token's scopes. Every interface that takes a bearer token (REST, /ws) also takes the cookie. A mutating request
// with the cookie must carry the session's CSRF token in X-CSRF-Token and come from this origin.
const (
	// sessionCookie names the dashboard's session cookie.
	sessionCookie = "infra_session"
	// csrfHeader carries the session's CSRF token on mutating requests.
	csrfHeader = "X-CSRF-Token"
	// webSessionTTL bounds a session; it never outlives its token either.
	webSessionTTL = 12 * time.Hour
	// webSessionKeep is how long ended sessions stay in the table before sign-ins sweep them.
	webSessionKeep = 7 * 24 * time.Hour

	localSession = "web_session"
)

// csrfFor derives the session's CSRF token from its cookie secret: a page that can read it is same-origin (the
// session endpoint is not readable cross-site), and a forger who cannot read the cookie cannot compute it.
func csrfFor(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("infrastructor dashboard csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sameOrigin reports whether the request's Origin header names this server. Without the header it reports
// requireOrigin's opposite: every browser sends Origin on cross-site and on mutating requests.
func sameOrigin(c *fiber.Ctx, requireOrigin bool) bool {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return !requireOrigin
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, string(c.Request().Host()))
}

func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

// authSession authenticates a request by its session cookie for iface (rest, websocket, web), with the limits a
// bearer token gets: refused addresses, failure counting, the token's request rate and its last use. A mutating
// REST request must also pass the CSRF check; a WebSocket must come from this origin.
func (s *Server) authSession(c *fiber.Ctx, iface string) (*store.Token, error) {
	now := s.now()
	addr, target := c.IP(), c.Path()
	if wait := s.limits.failureWait(addr, now); wait > 0 {
		s.auditRefusal(refusal{action: auditRateLimited, iface: iface, addr: addr, target: target,
			status: http.StatusTooManyRequests, reason: "too many failed authentications"})
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(wait)))
		return nil, tooManyRequests(nil, wait, "too many failed authentications from this address")
	}
	secret := c.Cookies(sessionCookie)
	sess, err := store.SessionBySecret(c.UserContext(), s.pool, secret, now)
	if errors.Is(err, store.ErrNotFound) {
		s.limits.failed(addr, now, s.cfg.AuthFailuresPerMinute)
		s.auditRefusal(refusal{action: auditUnauthorized, iface: iface, addr: addr, target: target,
			status: http.StatusUnauthorized, reason: "unknown, expired or signed-out dashboard session"})
		clearSessionCookie(c)
		return nil, errorf(http.StatusUnauthorized, "unauthorized", "the dashboard session expired or was signed out; sign in again")
	}
	if err != nil {
		return nil, err
	}
	tok := sess.Token
	forged := ""
	switch {
	case iface == "websocket" && !sameOrigin(c, true):
		forged = "a WebSocket with a session cookie must come from this server's origin"
	case iface != "websocket" && !safeMethod(c.Method()) && !sameOrigin(c, true):
		forged = "a request with a session cookie that changes something must come from this server's origin"
	case iface != "websocket" && !safeMethod(c.Method()) &&
		subtle.ConstantTimeCompare([]byte(c.Get(csrfHeader)), []byte(csrfFor(secret))) != 1:
		forged = "missing or wrong " + csrfHeader + " header (the dashboard sends the one GET /web/session returns)"
	}
	if forged != "" {
		s.auditRefusal(refusal{action: auditForbidden, iface: iface, addr: addr, target: target,
			status: http.StatusForbidden, reason: forged, token: tok})
		return nil, errorf(http.StatusForbidden, "csrf_refused", forged)
	}
	if wait := s.limits.tokenWait(tok.ID, now, s.cfg.TokenRequestsPerMinute); wait > 0 {
		s.auditRefusal(refusal{action: auditRateLimited, iface: iface, addr: addr, target: target,
			status: http.StatusTooManyRequests, reason: "token request rate exceeded", token: tok})
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(wait)))
		return nil, tooManyRequests(nil, wait, "too many requests with this token (INFRA_TOKEN_REQUESTS_PER_MINUTE)")
	}
	s.touchToken(c.UserContext(), tok)
	c.Locals(localSession, sess)
	return tok, nil
}

func (s *Server) setSessionCookie(c *fiber.Ctx, secret string, expires time.Time) {
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: secret, Path: "/", Expires: expires, HTTPOnly: true,
		SameSite: fiber.CookieSameSiteStrictMode, Secure: c.Protocol() == "https"})
}

func clearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: "", Path: "/", Expires: time.Unix(1, 0), MaxAge: -1,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode, Secure: c.Protocol() == "https"})
}

// webSessionView is what the page learns about its session: never the token, only its name and scopes, and the
// CSRF token to send with changes.
type webSessionView struct {
	TokenName  string    `json:"token_name"`
	Scopes     []string  `json:"scopes"`
	ExpiresAt  time.Time `json:"expires_at"`
	CSRF       string    `json:"csrf"`
	TemporalUI string    `json:"temporal_ui"`
	Namespace  string    `json:"temporal_namespace"`
}

// webSignIn exchanges a pasted token for a session. An HTML form post (the dashboard's sign-in) is answered with
// a redirect to the page, carrying only an error code when it failed; a JSON post with the session view.
func (s *Server) webSignIn(c *fiber.Ctx) error {
	webHeaders(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	isForm := strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationForm)
	fail := func(code string, err error) error {
		if isForm {
			return c.Redirect("/?signin_error="+url.QueryEscape(code), http.StatusSeeOther)
		}
		return err
	}
	// A sign-in posted from another site would sign the browser in as the forger's token (login CSRF).
	if !sameOrigin(c, false) {
		return fail("origin", errorf(http.StatusForbidden, "csrf_refused", "sign in from this server's own page"))
	}
	var secret string
	if isForm {
		secret = strings.TrimSpace(c.FormValue("token"))
	} else {
		var in struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(c.Body(), &in); err != nil {
			return invalid(map[string]string{"token": "is required: post {\"token\": \"...\"}"})
		}
		secret = strings.TrimSpace(in.Token)
	}
	if secret == "" {
		return fail("missing", invalid(map[string]string{"token": "is required: paste an API token"}))
	}
	tok, wait, err := s.authFrom(c.UserContext(), "web", c.IP(), c.Path(), secret)
	if wait > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(wait)))
	}
	var e *Error
	switch {
	case errors.As(err, &e) && e.Status == http.StatusTooManyRequests:
		return fail("rate_limited", err)
	case errors.As(err, &e) && e.Status == http.StatusUnauthorized:
		return fail("invalid", err)
	case err != nil:
		return err
	}
	now := s.now()
	expires := now.Add(webSessionTTL)
	if tok.ExpiresAt != nil && tok.ExpiresAt.Before(expires) {
		expires = *tok.ExpiresAt
	}
	sessionSecret, err := store.NewSessionSecret()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if _, err := store.DeleteEndedSessions(ctx, s.pool, now.Add(-webSessionKeep)); err != nil {
		s.log.Warn("sweeping ended dashboard sessions failed", "err", err)
	}
	sess, err := store.CreateSession(ctx, s.pool, tok.ID, sessionSecret, expires, c.IP(), c.Get(fiber.HeaderUserAgent))
	if err != nil {
		return err
	}
	s.auditSession(tok, c.IP(), "session.create", sess, http.StatusOK)
	s.setSessionCookie(c, sessionSecret, expires)
	if isForm {
		return c.Redirect("/", http.StatusSeeOther)
	}
	return c.JSON(s.sessionView(tok, sess, sessionSecret))
}

func (s *Server) sessionView(tok *store.Token, sess *store.Session, secret string) webSessionView {
	return webSessionView{TokenName: tok.Name, Scopes: tok.Scopes, ExpiresAt: sess.ExpiresAt, CSRF: csrfFor(secret),
		TemporalUI: s.cfg.TemporalUIURL, Namespace: s.cfg.TemporalNamespace}
}

// webSession answers the page's "who am I": the session's token name, scopes, expiry and CSRF token, or 401.
func (s *Server) webSession(c *fiber.Ctx) error {
	webHeaders(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	if c.Cookies(sessionCookie) == "" {
		return errorf(http.StatusUnauthorized, "unauthorized", "not signed in")
	}
	tok, err := s.authSession(c, "web")
	if err != nil {
		return err
	}
	sess, _ := c.Locals(localSession).(*store.Session)
	return c.JSON(s.sessionView(tok, sess, c.Cookies(sessionCookie)))
}

// webSignOut ends the session (CSRF-checked like every change) and clears the cookie.
func (s *Server) webSignOut(c *fiber.Ctx) error {
	webHeaders(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	if c.Cookies(sessionCookie) == "" {
		return c.SendStatus(http.StatusNoContent)
	}
	tok, err := s.authSession(c, "web")
	if err != nil {
		return err
	}
	sess, _ := c.Locals(localSession).(*store.Session)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := store.RevokeSession(ctx, s.pool, sess.ID, s.now()); err != nil {
		return err
	}
	s.auditSession(tok, c.IP(), "session.revoke", sess, http.StatusNoContent)
	clearSessionCookie(c)
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) auditSession(tok *store.Token, addr, action string, sess *store.Session, status int) {
	id := tok.ID
	detail, _ := json.Marshal(map[string]any{"expires_at": sess.ExpiresAt, "interface": "web"})
	s.writeAudit(&store.AuditRecord{TokenID: &id, TokenName: tok.Name, Action: action, Target: "session/" + sess.ID.String(),
		Outcome: "success", StatusCode: status, RemoteAddr: addr, Detail: detail})
}
