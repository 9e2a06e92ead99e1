package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/infrastructor/infrastructor/api/service"
	"github.com/infrastructor/infrastructor/internal/store"
)

// AuthFrom authenticates one request of any interface (iface: rest, websocket, mcp) from client address addr: it
// refuses an address that failed too often (429; wait is its Retry-After), audits failures (throttled), applies
// the token's request rate (429) and records the token's use (at most once a minute).
func (s *Gate) AuthFrom(ctx context.Context, iface, addr, target, secret string) (tok *store.Token, wait time.Duration, err error) {
	now := s.Now()
	if wait := s.Limits.FailureWait(addr, now); wait > 0 {
		s.AuditRefusal(service.Refusal{Action: service.AuditRateLimited, Iface: iface, Addr: addr, Target: target,
			Status: http.StatusTooManyRequests, Reason: "too many failed authentications"})
		return nil, wait, TooManyRequests(nil, wait, "too many failed authentications from this address")
	}
	tok, err = s.Authenticate(ctx, secret)
	var e *service.Error
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		if secret != "" { // only a wrong secret is a guess worth limiting; a missing one is a client still to log in
			s.Limits.Failed(addr, now, s.Config.AuthFailuresPerMinute)
		}
		s.AuditRefusal(service.Refusal{Action: service.AuditUnauthorized, Iface: iface, Addr: addr, Target: target,
			Status: http.StatusUnauthorized, Reason: e.Message})
		return nil, 0, err
	}
	if err != nil {
		return nil, 0, err
	}
	if wait := s.Limits.TokenWait(tok.ID, now, s.Config.TokenRequestsPerMinute); wait > 0 {
		s.AuditRefusal(service.Refusal{Action: service.AuditRateLimited, Iface: iface, Addr: addr, Target: target,
			Status: http.StatusTooManyRequests, Reason: "token request rate exceeded", Token: tok})
		return nil, wait, TooManyRequests(nil, wait, "too many requests with this token (INFRA_TOKEN_REQUESTS_PER_MINUTE)")
	}
	s.TouchToken(ctx, tok)
	return tok, 0, nil
}

// AuthRequest is authFrom for a Fiber request; a 401 carries WWW-Authenticate and a 429 Retry-After.
func (s *Gate) AuthRequest(c *fiber.Ctx, iface string) (*store.Token, error) {
	if c.Get(fiber.HeaderAuthorization) == "" && c.Cookies(service.SessionCookie) != "" {
		return s.AuthSession(c, iface) // the dashboard's session cookie (web_session.go)
	}
	tok, wait, err := s.AuthFrom(c.UserContext(), iface, c.IP(), c.Path(), service.BearerToken(c.Get(fiber.HeaderAuthorization)))
	if wait > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(service.RetryAfterSeconds(wait)))
	}
	var e *service.Error
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="infrastructor"`)
	}
	return tok, err
}

// TooManyRequests is the 429 answer; Retry-After (whole seconds, at least 1) goes on the response of c.
func TooManyRequests(c *fiber.Ctx, wait time.Duration, msg string) error {
	secs := service.RetryAfterSeconds(wait)
	if c != nil {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	}
	return service.Errorf(http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("%s; retry in %d s", msg, secs))
}
