package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/vocab"
)

// Scopes (defined in package vocab), from least to most powerful. A token with a scope also holds every scope below it.
const (
	ScopeRead    = vocab.ScopeRead
	ScopeOperate = vocab.ScopeOperate
	ScopeAdmin   = vocab.ScopeAdmin
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
	// Bootstrap marks the token stored from INFRA_ADMIN_TOKEN; setting a new secret there revokes it.
	Bootstrap bool `json:"bootstrap"`
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

const tokenColumns = `id, name, scopes, prefix, created_at, expires_at, revoked_at, last_used_at, bootstrap`

func scanToken(row pgx.Row) (*Token, error) {
	var t Token
	if err := row.Scan(&t.ID, &t.Name, &t.Scopes, &t.Prefix, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.LastUsedAt, &t.Bootstrap); err != nil {
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

// TokenBySecret returns the live token whose secret is secret: not revoked and not expired at now. It only reads:
// recording the use is TouchToken's job, rate-limited by the caller, so that authenticating does not write a row
// on every request.
func TokenBySecret(ctx context.Context, db DBTX, secret string, now time.Time) (*Token, error) {
	if !strings.HasPrefix(secret, TokenPrefix) && len(secret) < 32 {
		return nil, ErrNotFound
	}
	return scanToken(db.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens
		WHERE secret_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`, HashSecret(secret), now))
}

// TouchToken records that the token was used at, unless the stored last_used_at is less than every old: several
// API processes may each touch a token, and the condition keeps the row from being rewritten by each of them. It
// reports whether the row was written.
func TouchToken(ctx context.Context, db DBTX, id uuid.UUID, at time.Time, every time.Duration) (bool, error) {
	at = at.Truncate(time.Second)
	tag, err := db.Exec(ctx, `UPDATE api_tokens SET last_used_at = $2
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)`, id, at, at.Add(-every))
	return tag.RowsAffected() > 0, err
}

// Reasons a token stops working, as TokensGone reports them.
const (
	TokenRevoked = "token revoked"
	TokenExpired = "token expired"
)

// TopicTokenRevoked is heard by every API process when a token is revoked (see vocab.TopicTokenRevoked).
const TopicTokenRevoked = vocab.TopicTokenRevoked

// TokensGone returns, of ids, the tokens that no longer work at now, with the reason (TokenRevoked or TokenExpired;
// a token that no longer exists counts as revoked).
func TokensGone(ctx context.Context, db DBTX, ids []uuid.UUID, now time.Time) (map[uuid.UUID]string, error) {
	out := map[uuid.UUID]string{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT i.id, t.id IS NULL OR t.revoked_at IS NOT NULL,
		t.expires_at IS NOT NULL AND t.expires_at <= $2
		FROM unnest($1::uuid[]) AS i(id) LEFT JOIN api_tokens t ON t.id = i.id`, ids, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var revoked, expired bool
		if err := rows.Scan(&id, &revoked, &expired); err != nil {
			return nil, err
		}
		switch {
		case revoked:
			out[id] = TokenRevoked
		case expired:
			out[id] = TokenExpired
		}
	}
	return out, rows.Err()
}

// ListTokens returns every token, newest first.
func ListTokens(ctx context.Context, db DBTX) ([]*Token, error) {
	rows, err := db.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at DESC, id`)
	return scanRows(scanToken, rows, err)
}

// RevokeToken marks the token revoked; revoking twice is not an error. Every API process is told (on commit, when
// db is a transaction), so connections that authenticated with the token end at once.
func RevokeToken(ctx context.Context, db DBTX, id uuid.UUID) (*Token, error) {
	tok, err := scanToken(db.QueryRow(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
		WHERE id = $1 RETURNING `+tokenColumns, id))
	if err != nil {
		return nil, err
	}
	return tok, notifyRevoked(ctx, db, id)
}

func notifyRevoked(ctx context.Context, db DBTX, id uuid.UUID) error {
	return Publish(ctx, db, TopicTokenRevoked, map[string]string{"id": id.String()})
}

// CountTokens returns the number of tokens ever created (revoked ones included).
func CountTokens(ctx context.Context, db DBTX) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM api_tokens`).Scan(&n)
	return n, err
}

// ErrBootstrapRevoked is returned by EnsureBootstrapToken when the configured secret belongs to a revoked token.
var ErrBootstrapRevoked = errors.New("the configured bootstrap token was revoked")

// EnsureBootstrapToken stores secret as the admin bootstrap token named name unless it is stored already, and
// revokes every bootstrap token created before it: setting a new INFRA_ADMIN_TOKEN retires the old secret. Only
// older ones are revoked, so an API process still running with the old secret during a rolling restart cannot
// revoke the new one; a secret that was revoked stays revoked (ErrBootstrapRevoked). It returns the IDs it revoked.
func EnsureBootstrapToken(ctx context.Context, db TxStarter, name, secret string) ([]uuid.UUID, error) {
	var revoked []uuid.UUID
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// Replicas starting together with the same new secret serialise here.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('infra_bootstrap_token'))"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO api_tokens (id, name, scopes, secret_hash, prefix, bootstrap)
			VALUES ($1, $2, $3, $4, $5, true) ON CONFLICT (secret_hash) DO NOTHING`,
			uuid.New(), name, []string{ScopeAdmin}, HashSecret(secret), secret[:min(len(secret), len(TokenPrefix)+6)]); err != nil {
			return err
		}
		var id uuid.UUID
		var created time.Time
		var gone bool
		if err := tx.QueryRow(ctx, `UPDATE api_tokens SET bootstrap = true WHERE secret_hash = $1
			RETURNING id, created_at, revoked_at IS NOT NULL`, HashSecret(secret)).Scan(&id, &created, &gone); err != nil {
			return err
		}
		if gone {
			return ErrBootstrapRevoked
		}
		rows, err := tx.Query(ctx, `UPDATE api_tokens SET revoked_at = now()
			WHERE bootstrap AND revoked_at IS NULL AND id <> $1 AND created_at <= $2 RETURNING id`, id, created)
		if err != nil {
			return err
		}
		if revoked, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
			return err
		}
		for _, old := range revoked {
			if err := notifyRevoked(ctx, tx, old); err != nil {
				return err
			}
		}
		return nil
	})
	return revoked, err
}
