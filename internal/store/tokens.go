package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Scopes, from least to most powerful. A token with a scope also holds every scope below it.
const (
	ScopeRead    = "read"
	ScopeOperate = "operate"
	ScopeAdmin   = "admin"
)

// ScopeRank orders scopes so that admin implies operate implies read.
var ScopeRank = map[string]int{ScopeRead: 1, ScopeOperate: 2, ScopeAdmin: 3}

// TokenPrefix starts every secret, so leaked tokens are easy to recognise in scanners and logs.
const TokenPrefix = "infra_"

// Token is an API token without its secret.
type Token struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// Has reports whether the token grants scope (directly or through a stronger one).
func (t *Token) Has(scope string) bool {
	for _, s := range t.Scopes {
		if ScopeRank[s] >= ScopeRank[scope] {
			return true
		}
	}
	return false
}

// HashSecret is the stored form of a token secret. Secrets carry 256 random bits, so a plain SHA-256 suffices:
// there is nothing to brute-force that a slow hash would protect.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewSecret returns a fresh random token secret.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

const tokenColumns = `id, name, scopes, prefix, created_at, expires_at, revoked_at, last_used_at`

func scanToken(row pgx.Row) (*Token, error) {
	var t Token
	if err := row.Scan(&t.ID, &t.Name, &t.Scopes, &t.Prefix, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.LastUsedAt); err != nil {
		return nil, mapErr(err)
	}
	return &t, nil
}

// CreateToken stores a token for secret (only its hash is kept).
func CreateToken(ctx context.Context, db DBTX, name string, scopes []string, expires *time.Time, secret string) (*Token, error) {
	prefix := secret
	if len(prefix) > len(TokenPrefix)+6 {
		prefix = prefix[:len(TokenPrefix)+6]
	}
	return scanToken(db.QueryRow(ctx, `INSERT INTO api_tokens (id, name, scopes, secret_hash, prefix, expires_at)
		VALUES ($1,$2,$3,$4,$5,$6) RETURNING `+tokenColumns, uuid.New(), name, scopes, HashSecret(secret), prefix, expires))
}

// TokenBySecret returns the live token whose secret is secret: not revoked and not expired at now.
func TokenBySecret(ctx context.Context, db DBTX, secret string, now time.Time) (*Token, error) {
	if !strings.HasPrefix(secret, TokenPrefix) && len(secret) < 32 {
		return nil, ErrNotFound
	}
	return scanToken(db.QueryRow(ctx, `UPDATE api_tokens SET last_used_at = $3
		WHERE secret_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
		RETURNING `+tokenColumns, HashSecret(secret), now, now.Truncate(time.Second)))
}

// ListTokens returns every token, newest first.
func ListTokens(ctx context.Context, db DBTX) ([]*Token, error) {
	rows, err := db.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken marks the token revoked; revoking twice is not an error.
func RevokeToken(ctx context.Context, db DBTX, id uuid.UUID) (*Token, error) {
	return scanToken(db.QueryRow(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
		WHERE id = $1 RETURNING `+tokenColumns, id))
}

// CountTokens returns the number of tokens ever created (revoked ones included).
func CountTokens(ctx context.Context, db DBTX) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM api_tokens`).Scan(&n)
	return n, err
}

// EnsureTokenSecret stores secret as an admin token named name unless a token with that secret exists.
func EnsureTokenSecret(ctx context.Context, db DBTX, name, secret string) error {
	_, err := db.Exec(ctx, `INSERT INTO api_tokens (id, name, scopes, secret_hash, prefix)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (secret_hash) DO NOTHING`,
		uuid.New(), name, []string{ScopeAdmin}, HashSecret(secret), secret[:min(len(secret), len(TokenPrefix)+6)])
	return err
}
