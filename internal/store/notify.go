package store

import (
	"context"
	"encoding/json"
	"time"
)

// NotifyChannel is the PostgreSQL LISTEN/NOTIFY channel that carries live updates from writers (workers, API
// replicas) to every API replica's WebSocket hub.
const NotifyChannel = "infra_updates"

// maxNotifyBytes keeps payloads well under PostgreSQL's 8000-byte NOTIFY limit; notifications carry IDs and key
// figures, and clients fetch details through the API.
const maxNotifyBytes = 7000

// Notification is one live update.
type Notification struct {
	Topic string          `json:"topic"`
	Time  time.Time       `json:"time"`
	Data  json.RawMessage `json:"data"`
}

// Topics of live updates.
func TopicDeviceMetrics(id string) string    { return "device." + id + ".metrics" }
func TopicDeviceStatus(id string) string     { return "device." + id + ".status" }
func TopicDeviceContainers(id string) string { return "device." + id + ".containers" }

// Topics without a device.
const (
	TopicOperations = "operations"
	TopicEvents     = "events"
)

// Notify queues a live update. Inside a transaction it is delivered on commit and dropped on rollback, so
// listeners never hear of a write that did not happen. A payload too large for NOTIFY is replaced by
// {"truncated":true}: the topic alone tells listeners to re-read.
func Notify(ctx context.Context, db DBTX, topic string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	n := Notification{Topic: topic, Time: time.Now().UTC(), Data: raw}
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if len(b) > maxNotifyBytes {
		n.Data = json.RawMessage(`{"truncated":true}`)
		if b, err = json.Marshal(n); err != nil {
			return err
		}
	}
	_, err = db.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, string(b))
	return err
}
