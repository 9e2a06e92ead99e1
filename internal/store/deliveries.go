package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/vocab"
)

// Delivery states (defined in package vocab).
const (
	DeliveryPending = vocab.DeliveryPending
	DeliverySent    = vocab.DeliverySent
	DeliveryFailed  = vocab.DeliveryFailed
)

// Delivery is one notice to one channel.
type Delivery struct {
	ID        int64      `json:"id"`
	AlertID   *uuid.UUID `json:"alert_id"`
	ChannelID uuid.UUID  `json:"channel_id"`
	Seq       int        `json:"seq"`
	Kind      string     `json:"kind"`
	Severity  string     `json:"severity"`
	Title     string     `json:"title"`
	Message   string     `json:"message"`
	State     string     `json:"state"`
	Attempts  int        `json:"attempts"`
	LastError string     `json:"last_error"`
	CreatedAt time.Time  `json:"created_at"`
	SentAt    *time.Time `json:"sent_at"`
}

const deliveryColumns = `id, alert_id, channel_id, seq, kind, severity, title, message, state, attempts, last_error,
	created_at, sent_at`

func scanDelivery(row pgx.Row) (*Delivery, error) {
	var d Delivery
	if err := row.Scan(&d.ID, &d.AlertID, &d.ChannelID, &d.Seq, &d.Kind, &d.Severity, &d.Title, &d.Message, &d.State,
		&d.Attempts, &d.LastError, &d.CreatedAt, &d.SentAt); err != nil {
		return nil, mapErr(err)
	}
	return &d, nil
}

// InsertDelivery queues a notice for a channel and returns its ID; CreatedAt defaults to the database's clock.
func InsertDelivery(ctx context.Context, db DBTX, d *Delivery) (int64, error) {
	var created *time.Time
	if !d.CreatedAt.IsZero() {
		created = &d.CreatedAt
	}
	err := db.QueryRow(ctx, `INSERT INTO notification_deliveries (alert_id, channel_id, seq, kind, severity, title, message,
		created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,coalesce($8, now())) RETURNING id`, d.AlertID, d.ChannelID, d.Seq, d.Kind,
		d.Severity, d.Title, d.Message, created).Scan(&d.ID)
	return d.ID, mapErr(err)
}

// GetDelivery returns one delivery.
func GetDelivery(ctx context.Context, db DBTX, id int64) (*Delivery, error) {
	return scanDelivery(db.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM notification_deliveries WHERE id = $1`, id))
}

// LockDelivery returns a delivery locked for update inside tx, so two attempts never send it at once.
func LockDelivery(ctx context.Context, tx pgx.Tx, id int64) (*Delivery, error) {
	return scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM notification_deliveries WHERE id = $1 FOR UPDATE`, id))
}

// FinishDelivery records an attempt's outcome: state sent (with t), failed, or pending with the error.
func FinishDelivery(ctx context.Context, db DBTX, id int64, state, lastError string, t time.Time) error {
	var sent *time.Time
	if state == DeliverySent {
		sent = &t
	}
	return execOne(db.Exec(ctx, `UPDATE notification_deliveries SET state=$2, last_error=$3, sent_at=$4,
		attempts = attempts + 1 WHERE id = $1`, id, state, lastError, sent))
}

// EarlierPending reports whether an earlier notice of the same alert to the same channel is still pending
// (created within the last maxAge, so a notice whose workflow never ran cannot hold the queue forever).
func EarlierPending(ctx context.Context, db DBTX, d *Delivery, maxAge time.Duration, now time.Time) (bool, error) {
	if d.AlertID == nil {
		return false, nil
	}
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM notification_deliveries WHERE alert_id = $1 AND channel_id = $2
		AND seq < $3 AND state = 'pending' AND created_at > $4`, d.AlertID, d.ChannelID, d.Seq, now.Add(-maxAge)).Scan(&n)
	return n > 0, err
}

// SentSince counts the channel's deliveries sent at or after t, for its rate limit.
func SentSince(ctx context.Context, db DBTX, channelID uuid.UUID, t time.Time) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM notification_deliveries WHERE channel_id = $1 AND sent_at >= $2`,
		channelID, t).Scan(&n)
	return n, err
}

// DeliveryFilter selects deliveries; Before is the id cursor of the previous page.
type DeliveryFilter struct {
	ChannelID *uuid.UUID
	AlertID   *uuid.UUID
	State     string
	Before    int64
	Limit     int
}

// ListDeliveries returns deliveries newest first and the next cursor (0 on the last page).
func ListDeliveries(ctx context.Context, db DBTX, f DeliveryFilter) ([]*Delivery, int64, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, qerr := db.Query(ctx, `SELECT `+deliveryColumns+` FROM notification_deliveries
		WHERE ($1::uuid IS NULL OR channel_id = $1) AND ($2::uuid IS NULL OR alert_id = $2) AND ($3 = '' OR state = $3)
		AND ($4 = 0 OR id < $4) ORDER BY id DESC LIMIT $5`, f.ChannelID, f.AlertID, f.State, f.Before, f.Limit+1)
	out, err := scanRows(scanDelivery, rows, qerr)
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// AbandonDelivery marks a still pending delivery failed for good (its retries ran out), keeping the receiver's
// last error when there was one.
func AbandonDelivery(ctx context.Context, db DBTX, id int64, reason string) error {
	_, err := db.Exec(ctx, `UPDATE notification_deliveries SET state = 'failed',
		last_error = CASE WHEN last_error = '' THEN $2 ELSE last_error END WHERE id = $1 AND state = 'pending'`, id, reason)
	return err
}
