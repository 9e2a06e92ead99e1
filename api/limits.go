package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/infrastructor/infrastructor/internal/store"
)

// Limits, throttles and audit records of authentication (#15). They are kept in memory per API process: N replicas
// behind a load balancer allow up to N times the configured rates, which is still a bound, and sharing counters
// through PostgreSQL would put a write on every request.

const (
	// tokenTouchEvery is how often a token's last_used_at is written at most, per process (and, through the
	// condition in store.TouchToken, across processes).
	tokenTouchEvery = time.Minute
	// auditThrottleEvery is how often one client address gets at most one audit record per kind of refusal; the
	// record counts the refusals since the previous one.
	auditThrottleEvery = time.Minute
	// limiterSweepEvery is how often idle limiters are forgotten.
	limiterSweepEvery = time.Minute
)

// Audit actions of refusals and sensitive reads.
const (
	auditUnauthorized = "auth.unauthorized"
	auditForbidden    = "auth.forbidden"
	auditRateLimited  = "auth.rate_limited"

	// Reads of sensitive data, recorded on every read by auditRead. System logs and process lists get their own
	// action here when they arrive.
	auditReadContainerLogs = "read.container_logs"
)

// authLimits are the per-process rate limits: failed authentications per client address and requests per token.
type authLimits struct {
	mu       sync.Mutex
	failures map[string]*rate.Limiter
	tokens   map[uuid.UUID]*rate.Limiter
	swept    time.Time
}

func perMinute(n int) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(float64(n)/60), n)
}

// sweep forgets limiters that are full again (idle ones), so memory follows the active clients only. Callers
// hold mu.
func (l *authLimits) sweep(now time.Time) {
	if now.Sub(l.swept) < limiterSweepEvery {
		return
	}
	l.swept = now
	for k, lim := range l.failures {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(l.failures, k)
		}
	}
	for k, lim := range l.tokens {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(l.tokens, k)
		}
	}
}

// failureWait is how long addr must wait because of its failed authentications; 0 when it may try.
func (l *authLimits) failureWait(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.failures[addr]
	if lim == nil {
		return 0
	}
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(lim.Limit()) * float64(time.Second))
}

// failed counts a failed authentication of addr, which may fail perMin times a minute.
func (l *authLimits) failed(addr string, now time.Time, perMin int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	if l.failures == nil {
		l.failures = map[string]*rate.Limiter{}
	}
	lim := l.failures[addr]
	if lim == nil {
		lim = perMinute(perMin)
		l.failures[addr] = lim
	}
	lim.AllowN(now, 1)
}

// tokenWait takes one request from the budget of the token, which may make perMin requests a minute (0: no
// limit), or returns how long until one is available.
func (l *authLimits) tokenWait(id uuid.UUID, now time.Time, perMin int) time.Duration {
	if perMin <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	if l.tokens == nil {
		l.tokens = map[uuid.UUID]*rate.Limiter{}
	}
	lim := l.tokens[id]
	if lim == nil {
		lim = perMinute(perMin)
		l.tokens[id] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// tooManyRequests is the 429 answer; Retry-After (whole seconds, at least 1) goes on the response of c.
func tooManyRequests(c *fiber.Ctx, wait time.Duration, msg string) error {
	secs := retryAfterSeconds(wait)
	if c != nil {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	}
	return errorf(http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("%s; retry in %d s", msg, secs))
}

func retryAfterSeconds(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// auditThrottle admits at most one audit record per key per auditThrottleEvery and counts the rest.
type auditThrottle struct {
	mu   sync.Mutex
	last map[string]*throttled
}

type throttled struct {
	at         time.Time
	suppressed int
}

// admit reports whether a record for key may be written at now, and how many were suppressed since the last one.
func (a *auditThrottle) admit(key string, now time.Time) (bool, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil {
		a.last = map[string]*throttled{}
	}
	if len(a.last) > 10000 { // forget old entries; an attacker rotating addresses must not grow this forever
		for k, e := range a.last {
			if now.Sub(e.at) >= auditThrottleEvery {
				delete(a.last, k)
			}
		}
	}
	e := a.last[key]
	if e != nil && now.Sub(e.at) < auditThrottleEvery {
		e.suppressed++
		return false, 0
	}
	n := 0
	if e != nil {
		n = e.suppressed
	}
	a.last[key] = &throttled{at: now}
	return true, n
}

// refusal describes a refused request for its (throttled) audit record.
type refusal struct {
	action string // auditUnauthorized, auditForbidden or auditRateLimited
	iface  string // rest, websocket, mcp
	addr   string
	target string
	status int
	reason string
	token  *store.Token
}

// auditRefusal records a refused request: at most one record per client address and kind of refusal per minute,
// carrying how many more there were since the previous one, so a flood of bad requests cannot flood the log.
func (s *Server) auditRefusal(r refusal) {
	ok, suppressed := s.refusals.admit(r.addr+"|"+r.action+"|"+r.iface, s.now())
	if !ok {
		return
	}
	outcome := "denied"
	if r.status != http.StatusForbidden {
		outcome = "failure"
	}
	detail := map[string]any{"reason": r.reason, "interface": r.iface}
	if suppressed > 0 {
		detail["more_since_previous_record"] = suppressed
	}
	rec := &store.AuditRecord{Action: r.action, Target: r.target, Outcome: outcome, StatusCode: r.status, RemoteAddr: r.addr}
	rec.Detail, _ = json.Marshal(detail)
	if r.token != nil {
		id := r.token.ID
		rec.TokenID, rec.TokenName = &id, r.token.Name
	}
	s.writeAudit(rec)
}

// auditRead records a read of sensitive data (container logs; later system logs and process lists): who read
// what. It is one helper so every such read, through REST or MCP, is recorded alike.
func (s *Server) auditRead(tok *store.Token, addr, action, target string, detail map[string]any) {
	rec := &store.AuditRecord{Action: action, Target: target, Outcome: "success", StatusCode: http.StatusOK, RemoteAddr: addr}
	if detail != nil {
		rec.Detail, _ = json.Marshal(detail)
	}
	if tok != nil {
		id := tok.ID
		rec.TokenID, rec.TokenName = &id, tok.Name
	}
	s.writeAudit(rec)
}

// writeAudit stores rec with its own deadline, so a client that hangs up does not erase the record.
func (s *Server) writeAudit(rec *store.AuditRecord) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := store.InsertAudit(ctx, s.pool, rec); err != nil {
		s.log.Error("audit record lost", "action", rec.Action, "target", rec.Target, "err", err)
	}
}

// touchToken records the token's use at most once per tokenTouchEvery per process: authenticating is a read, and
// writing the token row on every request made each request a write.
func (s *Server) touchToken(ctx context.Context, tok *store.Token) {
	now := s.now()
	s.touchMu.Lock()
	last, seen := s.touched[tok.ID]
	if seen && now.Sub(last) < tokenTouchEvery {
		s.touchMu.Unlock()
		return
	}
	s.touched[tok.ID] = now
	s.touchMu.Unlock()
	if _, err := store.TouchToken(ctx, s.pool, tok.ID, now, tokenTouchEvery); err != nil {
		s.log.Warn("recording a token's last use failed", "token_id", tok.ID, "err", err)
	}
}
