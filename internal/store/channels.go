package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/notify"
)

// Channel is a notification channel. Token and Secret are never serialised; HasToken and HasSecret tell
// whether they are set. Config holds the settings of the types that need more than a URL (email, telegram); it
// holds no secret.
type Channel struct {
	ID            uuid.UUID     `json:"id"`
	Name          string        `json:"name"`
	Type          string        `json:"type"`
	URL           string        `json:"url"`
	Config        notify.Config `json:"config"`
	Token         string        `json:"-"`
	Secret        string        `json:"-"`
	HasToken      bool          `json:"has_token"`
	HasSecret     bool          `json:"has_secret"`
	MinSeverity   string        `json:"min_severity"`
	Enabled       bool          `json:"enabled"`
	RatePerMinute int           `json:"rate_per_minute"`
	CreatedAt     time.Time     `json:"created_at"`
	UpdatedAt     time.Time     `json:"updated_at"`
}

// String never shows the credentials, so a channel logged by mistake leaks nothing.
func (c Channel) String() string { return fmt.Sprintf("channel %s (%s %s)", c.Name, c.Type, c.ID) }

const channelColumns = `id, name, type, url, config, token, secret, min_severity, enabled, rate_per_minute, created_at, updated_at`

func scanChannel(row pgx.Row) (*Channel, error) {
	var c Channel
	if err := row.Scan(&c.ID, &c.Name, &c.Type, &c.URL, &c.Config, &c.Token, &c.Secret, &c.MinSeverity, &c.Enabled,
		&c.RatePerMinute, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, mapErr(err)
	}
	c.HasToken, c.HasSecret = c.Token != "", c.Secret != ""
	return &c, nil
}

// CreateChannel inserts c.
func CreateChannel(ctx context.Context, db DBTX, c *Channel) (*Channel, error) {
	if c.ID == uuid.Nil {
		c.ID = uuid.New()
	}
	return scanChannel(db.QueryRow(ctx, `INSERT INTO notification_channels (id, name, type, url, token, secret,
		min_severity, enabled, rate_per_minute, config) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING `+channelColumns,
		c.ID, c.Name, c.Type, c.URL, c.Token, c.Secret, c.MinSeverity, c.Enabled, c.RatePerMinute, c.Config))
}

// UpdateChannel writes every field of c.
func UpdateChannel(ctx context.Context, db DBTX, c *Channel) (*Channel, error) {
	return scanChannel(db.QueryRow(ctx, `UPDATE notification_channels SET name=$2, type=$3, url=$4, token=$5, secret=$6,
		min_severity=$7, enabled=$8, rate_per_minute=$9, config=$10, updated_at=now() WHERE id=$1 RETURNING `+channelColumns,
		c.ID, c.Name, c.Type, c.URL, c.Token, c.Secret, c.MinSeverity, c.Enabled, c.RatePerMinute, c.Config))
}

// GetChannel returns a channel with its credentials (for the sender; the API must not return them).
func GetChannel(ctx context.Context, db DBTX, id uuid.UUID) (*Channel, error) {
	return scanChannel(db.QueryRow(ctx, `SELECT `+channelColumns+` FROM notification_channels WHERE id = $1`, id))
}

// ListChannels returns every channel by name.
func ListChannels(ctx context.Context, db DBTX) ([]*Channel, error) {
	rows, qerr := db.Query(ctx, `SELECT `+channelColumns+` FROM notification_channels ORDER BY lower(name)`)
	return scanRows(scanChannel, rows, qerr)
}

// DeleteChannel removes a channel and its delivery history.
func DeleteChannel(ctx context.Context, db DBTX, id uuid.UUID) error {
	return execOne(db.Exec(ctx, `DELETE FROM notification_channels WHERE id = $1`, id))
}
