package httpx

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

// SameOrigin reports whether the request's Origin header names this server. Without the header it reports
// requireOrigin's opposite: every browser sends Origin on cross-site and on mutating requests.
func SameOrigin(c *fiber.Ctx, requireOrigin bool) bool {
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

// AuthSession authenticates a request by its session cookie for iface (rest, websocket, web), with the limits a
// bearer token gets: refused addresses, failure counting, the token's request rate and its last use. A mutating
// REST request must also pass the CSRF check; a WebSocket must come from this origin.
func (s *Gate) AuthSession(c *fiber.Ctx, iface string) (*store.Token, error) {
	now := s.Now()
	addr, target := c.IP(), c.Path()
	if wait := s.Limits.FailureWait(addr, now); wait > 0 {
		s.AuditRefusal(service.Refusal{Action: service.AuditRateLimited, Iface: iface, Addr: addr, Target: target,
			Status: http.StatusTooManyRequests, Reason: "too many failed authentications"})
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(service.RetryAfterSeconds(wait)))
		return nil, TooManyRequests(nil, wait, "too many failed authentications from this address")
	}
	secret := c.Cookies(service.SessionCookie)
	sess, err := store.SessionBySecret(c.UserContext(), s.Pool, secret, now)
	if errors.Is(err, store.ErrNotFound) {
		s.Limits.Failed(addr, now, s.Config.AuthFailuresPerMinute)
		s.AuditRefusal(service.Refusal{Action: service.AuditUnauthorized, Iface: iface, Addr: addr, Target: target,
			Status: http.StatusUnauthorized, Reason: "unknown, expired or signed-out dashboard session"})
		ClearSessionCookie(c)
		return nil, service.Errorf(http.StatusUnauthorized, "unauthorized", "the dashboard session expired or was signed out; sign in again")
	}
	if err != nil {
		return nil, err
	}
	tok := sess.Token
	forged := ""
	switch {
	case iface == "websocket" && !SameOrigin(c, true):
		forged = "a WebSocket with a session cookie must come from this server's origin"
	case iface != "websocket" && !safeMethod(c.Method()) && !SameOrigin(c, true):
		forged = "a request with a session cookie that changes something must come from this server's origin"
	case iface != "websocket" && !safeMethod(c.Method()) &&
		subtle.ConstantTimeCompare([]byte(c.Get(service.CSRFHeader)), []byte(service.CSRFFor(secret))) != 1:
		forged = "missing or wrong " + service.CSRFHeader + " header (the dashboard sends the one GET /web/session returns)"
	}
	if forged != "" {
		s.AuditRefusal(service.Refusal{Action: service.AuditForbidden, Iface: iface, Addr: addr, Target: target,
			Status: http.StatusForbidden, Reason: forged, Token: tok})
		return nil, service.Errorf(http.StatusForbidden, "csrf_refused", forged)
	}
	if wait := s.Limits.TokenWait(tok.ID, now, s.Config.TokenRequestsPerMinute); wait > 0 {
		s.AuditRefusal(service.Refusal{Action: service.AuditRateLimited, Iface: iface, Addr: addr, Target: target,
			Status: http.StatusTooManyRequests, Reason: "token request rate exceeded", Token: tok})
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(service.RetryAfterSeconds(wait)))
		return nil, TooManyRequests(nil, wait, "too many requests with this token (INFRA_TOKEN_REQUESTS_PER_MINUTE)")
	}
	s.TouchToken(c.UserContext(), tok)
	c.Locals(service.LocalSession, sess)
	return tok, nil
}

// ClearSessionCookie makes the browser forget the session cookie.
func ClearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{Name: service.SessionCookie, Value: "", Path: "/", Expires: time.Unix(1, 0), MaxAge: -1,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode, Secure: c.Protocol() == "https"})
}
