package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/secret"
)

// ChannelSecretSweep is what SealChannelSecrets found.
type ChannelSecretSweep struct {
	// Sealed counts the credentials that were stored in the clear and are now encrypted.
	Sealed int
	// Unreadable names the channels whose sealed credentials the key does not open (a different key).
	Unreadable []string
}

// SealChannelSecrets encrypts channel tokens and secrets still stored in the clear (saved before encryption at
// rest existed, #15) and checks that the key opens the sealed ones. It runs at start-up, in Go because SQL has
// no key; it is idempotent, and each row is rewritten only if it still holds the value read, so a channel saved
// meanwhile through the API is not overwritten.
func SealChannelSecrets(ctx context.Context, db DBTX, box *secret.Box) (*ChannelSecretSweep, error) {
	type row struct {
		id            uuid.UUID
		name          string
		token, secret string
	}
	rows, err := db.Query(ctx, `SELECT id, name, token, secret FROM notification_channels ORDER BY lower(name)`)
	all, err := scanRows(func(pr pgx.Row) (row, error) {
		var r row
		if err := pr.Scan(&r.id, &r.name, &r.token, &r.secret); err != nil {
			return r, err
		}
		return r, nil
	}, rows, err)
	if err != nil {
		return nil, fmt.Errorf("read channel credentials: %w", mapErr(err))
	}
	res := &ChannelSecretSweep{}
	for _, r := range all {
		token, secretValue, n := r.token, r.secret, 0
		unreadable := false
		for _, v := range []*string{&token, &secretValue} {
			if *v == "" {
				continue
			}
			if secret.IsSealed(*v) {
				if _, err := box.Open(*v); err != nil {
					unreadable = true
				}
				continue
			}
			sealed, err := box.Seal(*v)
			if err != nil {
				return nil, fmt.Errorf("seal credentials of channel %s: %w", r.id, err)
			}
			*v, n = sealed, n+1
		}
		if unreadable {
			res.Unreadable = append(res.Unreadable, r.name)
		}
		if n == 0 {
			continue
		}
		tag, err := db.Exec(ctx, `UPDATE notification_channels SET token = $2, secret = $3
			WHERE id = $1 AND token = $4 AND secret = $5`, r.id, token, secretValue, r.token, r.secret)
		if err != nil {
			return nil, fmt.Errorf("seal credentials of channel %s: %w", r.id, mapErr(err))
		}
		if tag.RowsAffected() == 1 {
			res.Sealed += n
		}
	}
	return res, nil
}
