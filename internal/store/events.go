package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Event kinds recorded for devices.
const (
	EventDeviceOnline    = "device.online"
	EventDeviceOffline   = "device.offline"
	EventHostKeyPending  = "host_key.pending"
	EventHostKeyChanged  = "host_key.changed"
	EventHostKeyApproved = "host_key.approved"
	EventAuthFailed      = "device.auth_failed"
)

// Event is something that happened to a device.
type Event struct {
	ID       int64           `json:"id"`
	Time     time.Time       `json:"time"`
	DeviceID *uuid.UUID      `json:"device_id"`
	Kind     string          `json:"kind"`
	Severity string          `json:"severity"`
	Message  string          `json:"message"`
	Data     json.RawMessage `json:"data,omitempty"`
}

// InsertEvent records e and fills its ID and time.
func InsertEvent(ctx context.Context, db DBTX, e *Event) error {
	if e.Severity == "" {
		e.Severity = "info"
	}
	var data []byte
	if len(e.Data) > 0 {
		data = e.Data
	}
	if err := db.QueryRow(ctx, `INSERT INTO events (device_id, kind, severity, message, data)
		VALUES ($1,$2,$3,$4,$5) RETURNING id, time`, e.DeviceID, e.Kind, e.Severity, e.Message, data).Scan(&e.ID, &e.Time); err != nil {
		return mapErr(err)
	}
	msg := e.Message
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return Publish(ctx, db, TopicEvents, map[string]any{"id": e.ID, "device_id": e.DeviceID, "kind": e.Kind,
		"severity": e.Severity, "message": msg})
}

// EventFilter selects events; Before is the id cursor of the previous page.
type EventFilter struct {
	DeviceID *uuid.UUID
	Kind     string
	Severity string
	Since    *time.Time
	Until    *time.Time
	Before   int64
	Limit    int
}

// ListEvents returns events newest first and the next cursor (0 on the last page).
func ListEvents(ctx context.Context, db DBTX, f EventFilter) ([]*Event, int64, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := db.Query(ctx, `SELECT id, time, device_id, kind, severity, message, data FROM events
		WHERE ($1::uuid IS NULL OR device_id = $1) AND ($2 = '' OR kind = $2 OR kind LIKE $2 || '.%')
		AND ($3 = '' OR severity = $3) AND ($4::timestamptz IS NULL OR time >= $4)
		AND ($5::timestamptz IS NULL OR time < $5) AND ($6 = 0 OR id < $6)
		ORDER BY id DESC LIMIT $7`, f.DeviceID, f.Kind, f.Severity, f.Since, f.Until, f.Before, f.Limit+1)
	out, err := scanRows(func(row pgx.Row) (*Event, error) {
		var e Event
		var data []byte
		if err := row.Scan(&e.ID, &e.Time, &e.DeviceID, &e.Kind, &e.Severity, &e.Message, &data); err != nil {
			return nil, err
		}
		if len(data) > 0 {
			e.Data = data
		}
		return &e, nil
	}, rows, err)
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
