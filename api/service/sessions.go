package service

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// Dashboard sessions (#14). The browser posts a pasted API token once (an HTML form, so no script ever holds it);
// the server answers with an HttpOnly, SameSite=Strict cookie naming a server-side session that acts with that
// token's scopes. Every interface that takes a bearer token (REST, /ws) also takes the cookie. A mutating request
// with the cookie must carry the session's CSRF token in X-CSRF-Token and come from this origin.
const (
	// SessionCookie names the dashboard's session cookie.
	SessionCookie = "infra_session"
	// CSRFHeader carries the session's CSRF token on mutating requests.
	CSRFHeader = "X-CSRF-Token"
	// WebSessionTTL bounds a session; it never outlives its token either.
	WebSessionTTL = 12 * time.Hour
	// WebSessionKeep is how long ended sessions stay in the table before sign-ins sweep them.
	WebSessionKeep = 7 * 24 * time.Hour

	LocalSession = "web_session"
)

// CSRFFor derives the session's CSRF token from its cookie secret: a page that can read it is same-origin (the
// session endpoint is not readable cross-site), and a forger who cannot read the cookie cannot compute it.
func CSRFFor(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("infrastructor dashboard csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
