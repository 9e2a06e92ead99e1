package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/api/httpx"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

func (s *Server) setSessionCookie(c *fiber.Ctx, secret string, expires time.Time) {
	c.Cookie(&fiber.Cookie{Name: service.SessionCookie, Value: secret, Path: "/", Expires: expires, HTTPOnly: true,
		SameSite: fiber.CookieSameSiteStrictMode, Secure: c.Protocol() == "https"})
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
	if !httpx.SameOrigin(c, false) {
		return fail("origin", service.Errorf(http.StatusForbidden, "csrf_refused", "sign in from this server's own page"))
	}
	var secret string
	if isForm {
		secret = strings.TrimSpace(c.FormValue("token"))
	} else {
		var in struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(c.Body(), &in); err != nil {
			return service.Invalid(map[string]string{"token": "is required: post {\"token\": \"...\"}"})
		}
		secret = strings.TrimSpace(in.Token)
	}
	if secret == "" {
		return fail("missing", service.Invalid(map[string]string{"token": "is required: paste an API token"}))
	}
	tok, wait, err := s.AuthFrom(c.UserContext(), "web", c.IP(), c.Path(), secret)
	if wait > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(service.RetryAfterSeconds(wait)))
	}
	var e *service.Error
	switch {
	case errors.As(err, &e) && e.Status == http.StatusTooManyRequests:
		return fail("rate_limited", err)
	case errors.As(err, &e) && e.Status == http.StatusUnauthorized:
		return fail("invalid", err)
	case err != nil:
		return err
	}
	now := s.Now()
	expires := now.Add(service.WebSessionTTL)
	if tok.ExpiresAt != nil && tok.ExpiresAt.Before(expires) {
		expires = *tok.ExpiresAt
	}
	sessionSecret, err := store.NewSessionSecret()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if _, err := store.DeleteEndedSessions(ctx, s.Pool, now.Add(-service.WebSessionKeep)); err != nil {
		s.Log.Warn("sweeping ended dashboard sessions failed", "err", err)
	}
	sess, err := store.CreateSession(ctx, s.Pool, tok.ID, sessionSecret, expires, c.IP(), c.Get(fiber.HeaderUserAgent))
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
	return webSessionView{TokenName: tok.Name, Scopes: tok.Scopes, ExpiresAt: sess.ExpiresAt, CSRF: service.CSRFFor(secret),
		TemporalUI: s.Config.TemporalUIURL, Namespace: s.Config.TemporalNamespace}
}

// webSession answers the page's "who am I": the session's token name, scopes, expiry and CSRF token, or 401.
func (s *Server) webSession(c *fiber.Ctx) error {
	webHeaders(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	if c.Cookies(service.SessionCookie) == "" {
		return service.Errorf(http.StatusUnauthorized, "unauthorized", "not signed in")
	}
	tok, err := s.AuthSession(c, "web")
	if err != nil {
		return err
	}
	sess, _ := c.Locals(service.LocalSession).(*store.Session)
	return c.JSON(s.sessionView(tok, sess, c.Cookies(service.SessionCookie)))
}

// webSignOut ends the session (CSRF-checked like every change) and clears the cookie.
func (s *Server) webSignOut(c *fiber.Ctx) error {
	webHeaders(c)
	c.Set(fiber.HeaderCacheControl, "no-store")
	if c.Cookies(service.SessionCookie) == "" {
		return c.SendStatus(http.StatusNoContent)
	}
	tok, err := s.AuthSession(c, "web")
	if err != nil {
		return err
	}
	sess, _ := c.Locals(service.LocalSession).(*store.Session)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), s.Config.ShutdownTimeout)
	defer cancel()
	if err := store.RevokeSession(ctx, s.Pool, sess.ID, s.Now()); err != nil {
		return err
	}
	s.auditSession(tok, c.IP(), "session.revoke", sess, http.StatusNoContent)
	httpx.ClearSessionCookie(c)
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) auditSession(tok *store.Token, addr, action string, sess *store.Session, status int) {
	id := tok.ID
	detail, _ := json.Marshal(map[string]any{"expires_at": sess.ExpiresAt, "interface": "web"})
	s.WriteAudit(&store.AuditRecord{TokenID: &id, TokenName: tok.Name, Action: action, Target: "session/" + sess.ID.String(),
		Outcome: "success", StatusCode: status, RemoteAddr: addr, Detail: detail})
}
