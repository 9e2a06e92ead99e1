package service

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/infrastructor/infrastructor/internal/store"
)

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
	AuditUnauthorized = "auth.unauthorized"
	AuditForbidden    = "auth.forbidden"
	AuditRateLimited  = "auth.rate_limited"

	// Reads of sensitive data, recorded on every read by auditRead. System logs and process lists get their own
	// action here when they arrive.
	AuditReadContainerLogs = "read.container_logs"
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

// FailureWait is how long addr must wait because of its failed authentications; 0 when it may try.
func (l *authLimits) FailureWait(addr string, now time.Time) time.Duration {
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

// Failed counts a failed authentication of addr, which may fail perMin times a minute.
func (l *authLimits) Failed(addr string, now time.Time, perMin int) {
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

// TokenWait takes one request from the budget of the token, which may make perMin requests a minute (0: no
// limit), or returns how long until one is available.
func (l *authLimits) TokenWait(id uuid.UUID, now time.Time, perMin int) time.Duration {
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

// RetryAfterSeconds is a Retry-After value for wait: whole seconds, at least 1.
func RetryAfterSeconds(wait time.Duration) int {
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

// Refusal describes a refused request for its (throttled) audit record.
type Refusal struct {
	Action string // auditUnauthorized, auditForbidden or auditRateLimited
	Iface  string // rest, websocket, mcp
	Addr   string
	Target string
	Status int
	Reason string
	Token  *store.Token
}

// AuditRefusal records a refused request: at most one record per client address and kind of refusal per minute,
// carrying how many more there were since the previous one, so a flood of bad requests cannot flood the log.
func (s *Service) AuditRefusal(r Refusal) {
	ok, suppressed := s.refusals.admit(r.Addr+"|"+r.Action+"|"+r.Iface, s.Now())
	if !ok {
		return
	}
	outcome := "denied"
	if r.Status != http.StatusForbidden {
		outcome = "failure"
	}
	detail := map[string]any{"reason": r.Reason, "interface": r.Iface}
	if suppressed > 0 {
		detail["more_since_previous_record"] = suppressed
	}
	rec := &store.AuditRecord{Action: r.Action, Target: r.Target, Outcome: outcome, StatusCode: r.Status, RemoteAddr: r.Addr}
	rec.Detail, _ = json.Marshal(detail)
	if r.Token != nil {
		id := r.Token.ID
		rec.TokenID, rec.TokenName = &id, r.Token.Name
	}
	s.WriteAudit(rec)
}

// AuditRead records a read of sensitive data (container logs; later system logs and process lists): who read
// what. It is one helper so every such read, through REST or MCP, is recorded alike.
func (s *Service) AuditRead(tok *store.Token, addr, action, target string, detail map[string]any) {
	rec := &store.AuditRecord{Action: action, Target: target, Outcome: "success", StatusCode: http.StatusOK, RemoteAddr: addr}
	if detail != nil {
		rec.Detail, _ = json.Marshal(detail)
	}
	if tok != nil {
		id := tok.ID
		rec.TokenID, rec.TokenName = &id, tok.Name
	}
	s.WriteAudit(rec)
}

// WriteAudit stores rec with its own deadline, so a client that hangs up does not erase the record.
func (s *Service) WriteAudit(rec *store.AuditRecord) {
	ctx, cancel := context.WithTimeout(context.Background(), s.Config.ShutdownTimeout)
	defer cancel()
	if err := store.InsertAudit(ctx, s.Pool, rec); err != nil {
		s.Log.Error("audit record lost", "action", rec.Action, "target", rec.Target, "err", err)
	}
}

// TouchToken records the token's use at most once per tokenTouchEvery per process: authenticating is a read, and
// writing the token row on every request made each request a write.
func (s *Service) TouchToken(ctx context.Context, tok *store.Token) {
	now := s.Now()
	s.touchMu.Lock()
	last, seen := s.touched[tok.ID]
	if seen && now.Sub(last) < tokenTouchEvery {
		s.touchMu.Unlock()
		return
	}
	s.touched[tok.ID] = now
	s.touchMu.Unlock()
	if _, err := store.TouchToken(ctx, s.Pool, tok.ID, now, tokenTouchEvery); err != nil {
		s.Log.Warn("recording a token's last use failed", "token_id", tok.ID, "err", err)
	}
}
