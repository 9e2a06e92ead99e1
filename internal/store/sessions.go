package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/google/uuid"
	"github.com/infrastructor/infrastructor/internal/vocab"
)

// Session is a dashboard sign-in (#14): a browser's cookie standing for one API token. It acts with the token's
// scopes, and ends at its expiry, at sign-out, or when its token is revoked, expires or is deleted.
type Session struct {
	ID        uuid.UUID  `json:"id"`
	TokenID   uuid.UUID  `json:"token_id"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	// Token is the session's token as it is now.
	Token *Token `json:"-"`
}

// NewSessionSecret returns a fresh random cookie secret. It carries no token prefix: it is not a bearer token.
func NewSessionSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateSession stores a session of token tokenID for secret (only its hash is kept) until expires.
func CreateSession(ctx context.Context, db DBTX, tokenID uuid.UUID, secret string, expires time.Time, remoteAddr, userAgent string) (*Session, error) {
	s := &Session{ID: uuid.New(), TokenID: tokenID, ExpiresAt: expires}
	err := db.QueryRow(ctx, `INSERT INTO dashboard_sessions (id, secret_hash, token_id, expires_at, remote_addr, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
		s.ID, HashSecret(secret), tokenID, expires, remoteAddr, truncateText(userAgent, 256)).Scan(&s.CreatedAt)
	if err != nil {
		return nil, mapErr(err)
	}
	return s, nil
}

// SessionBySecret returns the live session of secret with its token, or ErrNotFound when the session is unknown,
// expired or signed out, or its token no longer works.
func SessionBySecret(ctx context.Context, db DBTX, secret string, now time.Time) (*Session, error) {
	if secret == "" || len(secret) > 128 {
		return nil, ErrNotFound
	}
	var s Session
	var t Token
	err := db.QueryRow(ctx, `SELECT s.id, s.token_id, s.created_at, s.expires_at,
			t.id, t.name, t.scopes, t.prefix, t.created_at, t.expires_at, t.revoked_at, t.last_used_at, t.bootstrap
		FROM dashboard_sessions s JOIN api_tokens t ON t.id = s.token_id
		WHERE s.secret_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
			AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)`, HashSecret(secret), now).
		Scan(&s.ID, &s.TokenID, &s.CreatedAt, &s.ExpiresAt,
			&t.ID, &t.Name, &t.Scopes, &t.Prefix, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.LastUsedAt, &t.Bootstrap)
	if err != nil {
		return nil, mapErr(err)
	}
	s.Token = &t
	return &s, nil
}

// RevokeSession ends session id (sign-out); ending an ended session is not an error.
func RevokeSession(ctx context.Context, db DBTX, id uuid.UUID, now time.Time) error {
	if _, err := db.Exec(ctx, `UPDATE dashboard_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, now); err != nil {
		return err
	}
	return Publish(ctx, db, TopicSessionRevoked, map[string]string{"id": id.String()})
}

// TopicSessionRevoked is heard by every API process when a session signs out (see vocab.TopicSessionRevoked).
const TopicSessionRevoked = vocab.TopicSessionRevoked

// DeleteEndedSessions removes sessions that expired or were signed out before cutoff and returns how many.
func DeleteEndedSessions(ctx context.Context, db DBTX, cutoff time.Time) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM dashboard_sessions WHERE expires_at < $1 OR revoked_at < $1`, cutoff)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
