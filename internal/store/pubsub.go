package store

// Live updates travel from writers to every API replica's WebSocket hub over PostgreSQL LISTEN/NOTIFY. This file
// names that path "publish" so it is not confused with alert notices and the Notify workflow.

import (
	"context"
	"encoding/json"
	"time"

	"github.com/infrastructor/infrastructor/internal/vocab"
)

// UpdatesChannel is the PostgreSQL LISTEN/NOTIFY channel that carries live updates from writers (workers, API
// replicas) to every API replica's WebSocket hub.
const UpdatesChannel = "infra_updates"

// maxPayloadBytes keeps payloads well under PostgreSQL's 8000-byte NOTIFY limit; notifications carry IDs and key
// figures, and clients fetch details through the API.
const maxPayloadBytes = 7000

// LiveUpdate is one live update, the payload of a NOTIFY on UpdatesChannel.
type LiveUpdate struct {
	Topic string          `json:"topic"`
	Time  time.Time       `json:"time"`
	Data  json.RawMessage `json:"data"`
}

// TopicDeviceMetrics is vocab.TopicDeviceMetrics.
func TopicDeviceMetrics(id string) string { return vocab.TopicDeviceMetrics(id) }

// TopicDeviceStatus is vocab.TopicDeviceStatus.
func TopicDeviceStatus(id string) string { return vocab.TopicDeviceStatus(id) }

// TopicDeviceContainers is vocab.TopicDeviceContainers.
func TopicDeviceContainers(id string) string { return vocab.TopicDeviceContainers(id) }

// Topics without a device, defined in package vocab.
const (
	TopicOperations = vocab.TopicOperations
	TopicEvents     = vocab.TopicEvents
)

// Publish queues a live update on UpdatesChannel. Inside a transaction it is delivered on commit and dropped on rollback, so
// listeners never hear of a write that did not happen. A payload too large for NOTIFY is replaced by
// {"truncated":true}: the topic alone tells listeners to re-read.
func Publish(ctx context.Context, db DBTX, topic string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	n := LiveUpdate{Topic: topic, Time: time.Now().UTC(), Data: raw}
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if len(b) > maxPayloadBytes {
		n.Data = json.RawMessage(`{"truncated":true}`)
		if b, err = json.Marshal(n); err != nil {
			return err
		}
	}
	_, err = db.Exec(ctx, `SELECT pg_notify($1, $2)`, UpdatesChannel, string(b))
	return err
}
