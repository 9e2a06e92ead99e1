package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/vocab"
)

// Event kinds of the services collection.
const (
	EventServiceChanged  = "service.changed"
	EventServiceFailed   = "service.failed"
	EventServiceGone     = "service.gone"
	EventSystemdMissing  = "systemd.unavailable"
	EventSystemdReturned = "systemd.available"
)

// TopicDeviceServices is vocab.TopicDeviceServices.
func TopicDeviceServices(id string) string { return vocab.TopicDeviceServices(id) }

// Service is the latest known state of one failed or watched unit on a device.
type Service struct {
	Unit        string     `json:"unit"`
	Description string     `json:"description"`
	LoadState   string     `json:"load_state"`
	ActiveState string     `json:"active_state"`
	SubState    string     `json:"sub_state"`
	ActiveSince *time.Time `json:"active_since"`
	NRestarts   *int64     `json:"n_restarts"`
	MainPID     int64      `json:"main_pid"`
	MemoryBytes *int64     `json:"memory_bytes"`
	Failed      bool       `json:"failed"`
	Watched     bool       `json:"watched"`
	// Level is the verdict: ok, warning (failed) or critical (watched and not active); Reason says why in words.
	Level     string    `json:"level"`
	Reason    string    `json:"reason"`
	FirstSeen time.Time `json:"first_seen"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SystemdState is what the last services collection learnt about systemd on a device.
type SystemdState struct {
	Available   bool      `json:"available"`
	FailedCount int       `json:"failed_count"`
	Truncated   bool      `json:"truncated"`
	CollectedAt time.Time `json:"collected_at"`
}

// ServiceChange is one difference between two services collections, for events and live updates.
type ServiceChange struct {
	Unit string `json:"unit"`
	// Kind is EventServiceChanged, EventServiceFailed or EventServiceGone.
	Kind     string `json:"kind"`
	From     string `json:"from,omitempty"`
	To       string `json:"to,omitempty"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

const serviceColumns = `unit, description, load_state, active_state, sub_state, active_since, n_restarts, main_pid,
	memory_bytes, failed, watched, level, reason, first_seen, updated_at`

func scanService(row pgx.Row) (*Service, error) {
	var s Service
	if err := row.Scan(&s.Unit, &s.Description, &s.LoadState, &s.ActiveState, &s.SubState, &s.ActiveSince,
		&s.NRestarts, &s.MainPID, &s.MemoryBytes, &s.Failed, &s.Watched, &s.Level, &s.Reason, &s.FirstSeen,
		&s.UpdatedAt); err != nil {
		return nil, mapErr(err)
	}
	return &s, nil
}

// levelRank orders services worst first.
func levelRank(l string) int {
	switch l {
	case "critical":
		return 0
	case "warning":
		return 1
	}
	return 2
}

// ListServices returns the device's failed and watched units, failed (and critical) first, then by name, and
// the systemd state (nil before the first services collection).
func ListServices(ctx context.Context, db DBTX, deviceID uuid.UUID) ([]*Service, *SystemdState, error) {
	rows, err := db.Query(ctx, `SELECT `+serviceColumns+` FROM device_services WHERE device_id = $1`, deviceID)
	if err != nil {
		return nil, nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Service, error) { return scanService(r) })
	if err != nil {
		return nil, nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := levelRank(out[i].Level), levelRank(out[j].Level); a != b {
			return a < b
		}
		if out[i].Failed != out[j].Failed {
			return out[i].Failed
		}
		return out[i].Unit < out[j].Unit
	})
	var st SystemdState
	err = db.QueryRow(ctx, `SELECT available, failed_count, truncated, collected_at FROM device_systemd
		WHERE device_id = $1`, deviceID).Scan(&st.Available, &st.FailedCount, &st.Truncated, &st.CollectedAt)
	if err == pgx.ErrNoRows {
		return out, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return out, &st, nil
}

// watchedOf is the device's watch list as stored: sorted, without duplicates, never null.
func watchedOf(d *Device) []string { return sortedUnique(d.WatchedUnits) }

// WatchedUnits returns the units the device watches: its own list and those of its tags, sorted, without
// duplicates.
func WatchedUnits(ctx context.Context, db DBTX, deviceID uuid.UUID) ([]string, error) {
	var units []string
	err := db.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT u ORDER BY u), '{}') FROM (
		SELECT unnest(watched_units) AS u FROM devices WHERE id = $1
		UNION SELECT unnest(t.units) FROM tag_watched_units t JOIN devices d ON t.tag = ANY(d.tags) WHERE d.id = $1) w`,
		deviceID).Scan(&units)
	if err != nil {
		return nil, mapErr(err)
	}
	return units, nil
}

// DeviceWatchedUnits returns the device's own watch list (without its tags').
func DeviceWatchedUnits(ctx context.Context, db DBTX, deviceID uuid.UUID) ([]string, error) {
	var units []string
	if err := db.QueryRow(ctx, `SELECT watched_units FROM devices WHERE id = $1`, deviceID).Scan(&units); err != nil {
		return nil, mapErr(err)
	}
	return units, nil
}

// SetDeviceWatchedUnits replaces the device's own watch list; units must be validated unit names.
func SetDeviceWatchedUnits(ctx context.Context, db DBTX, deviceID uuid.UUID, units []string) error {
	units = sortedUnique(units)
	tag, err := db.Exec(ctx, `UPDATE devices SET watched_units = $2, updated_at = now() WHERE id = $1`, deviceID, units)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// TagWatchedUnits returns every tag-level watch list, by tag.
func TagWatchedUnits(ctx context.Context, db DBTX) (map[string][]string, error) {
	rows, err := db.Query(ctx, `SELECT tag, units FROM tag_watched_units ORDER BY tag`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var tag string
		var units []string
		if err := rows.Scan(&tag, &units); err != nil {
			return nil, err
		}
		out[tag] = units
	}
	return out, rows.Err()
}

// SetTagWatchedUnits replaces the watch list of every device tagged tag; an empty list removes it.
func SetTagWatchedUnits(ctx context.Context, db DBTX, tag string, units []string) error {
	units = sortedUnique(units)
	if len(units) == 0 {
		_, err := db.Exec(ctx, `DELETE FROM tag_watched_units WHERE tag = $1`, tag)
		return mapErr(err)
	}
	_, err := db.Exec(ctx, `INSERT INTO tag_watched_units (tag, units) VALUES ($1, $2)
		ON CONFLICT (tag) DO UPDATE SET units = excluded.units, updated_at = now()`, tag, units)
	return mapErr(err)
}

func sortedUnique(units []string) []string {
	out := slices.Clone(units)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// ReplaceServices stores the result of one services collection: the systemd state and the latest state of every
// failed or watched unit (units no longer in services are deleted). It returns what changed since the previous
// collection, and records each change as an event. Call it in a transaction; the first collection on a device
// reports failed and not-ok units only, so adding a device does not flood the event log.
func ReplaceServices(ctx context.Context, db DBTX, deviceID uuid.UUID, sd SystemdState, services []Service) ([]ServiceChange, error) {
	prevRows, err := ListServicesMap(ctx, db, deviceID)
	if err != nil {
		return nil, err
	}
	var prevSD SystemdState
	first := false
	err = db.QueryRow(ctx, `SELECT available FROM device_systemd WHERE device_id = $1`, deviceID).Scan(&prevSD.Available)
	if err == pgx.ErrNoRows {
		first = true
	} else if err != nil {
		return nil, err
	}
	if _, err := db.Exec(ctx, `INSERT INTO device_systemd (device_id, available, failed_count, truncated, collected_at)
		VALUES ($1,$2,$3,$4,$5) ON CONFLICT (device_id) DO UPDATE SET available = excluded.available,
		failed_count = excluded.failed_count, truncated = excluded.truncated, collected_at = excluded.collected_at`,
		deviceID, sd.Available, sd.FailedCount, sd.Truncated, sd.CollectedAt); err != nil {
		return nil, fmt.Errorf("store systemd state: %w", err)
	}
	var changes []ServiceChange
	if !first && prevSD.Available != sd.Available {
		c := ServiceChange{Kind: EventSystemdReturned, Severity: "info", Message: "systemd is available again"}
		if !sd.Available {
			c = ServiceChange{Kind: EventSystemdMissing, Severity: "warning",
				Message: "systemd is no longer available on the device: units are not watched"}
		}
		changes = append(changes, c)
	}
	seen := map[string]bool{}
	for _, s := range services {
		seen[s.Unit] = true
		if _, err := db.Exec(ctx, `INSERT INTO device_services (device_id, unit, description, load_state, active_state,
			sub_state, active_since, n_restarts, main_pid, memory_bytes, failed, watched, level, reason, first_seen, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$15)
			ON CONFLICT (device_id, unit) DO UPDATE SET description = excluded.description, load_state = excluded.load_state,
			active_state = excluded.active_state, sub_state = excluded.sub_state, active_since = excluded.active_since,
			n_restarts = excluded.n_restarts, main_pid = excluded.main_pid, memory_bytes = excluded.memory_bytes,
			failed = excluded.failed, watched = excluded.watched, level = excluded.level, reason = excluded.reason,
			updated_at = excluded.updated_at`,
			deviceID, s.Unit, s.Description, s.LoadState, s.ActiveState, s.SubState, s.ActiveSince, s.NRestarts,
			s.MainPID, s.MemoryBytes, s.Failed, s.Watched, s.Level, s.Reason, sd.CollectedAt); err != nil {
			return nil, fmt.Errorf("store unit %s: %w", s.Unit, err)
		}
		if c, ok := serviceChange(prevRows[s.Unit], &s, first); ok {
			changes = append(changes, c)
		}
	}
	for unit, p := range prevRows {
		if seen[unit] {
			continue
		}
		if _, err := db.Exec(ctx, `DELETE FROM device_services WHERE device_id = $1 AND unit = $2`, deviceID, unit); err != nil {
			return nil, err
		}
		// A failed unit that left the list recovered (or was reset); a watch list change is not worth an event.
		if p.Failed && sd.Available {
			changes = append(changes, ServiceChange{Unit: unit, Kind: EventServiceGone, From: stateText(p), Severity: "info",
				Message: fmt.Sprintf("unit %s is no longer failed", unit)})
		}
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].Unit < changes[j].Unit })
	for _, c := range changes {
		data, _ := json.Marshal(map[string]string{"unit": c.Unit, "from": c.From, "to": c.To})
		e := &Event{DeviceID: &deviceID, Kind: c.Kind, Severity: c.Severity, Message: c.Message, Data: data}
		if err := InsertEvent(ctx, db, e); err != nil {
			return nil, err
		}
	}
	return changes, nil
}

// ListServicesMap returns the device's stored units by name.
func ListServicesMap(ctx context.Context, db DBTX, deviceID uuid.UUID) (map[string]*Service, error) {
	rows, err := db.Query(ctx, `SELECT `+serviceColumns+` FROM device_services WHERE device_id = $1`, deviceID)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Service, error) { return scanService(r) })
	if err != nil {
		return nil, err
	}
	out := make(map[string]*Service, len(list))
	for _, s := range list {
		out[s.Unit] = s
	}
	return out, nil
}

func stateText(s *Service) string {
	if s.SubState == "" {
		return s.ActiveState
	}
	return s.ActiveState + "/" + s.SubState
}

// serviceChange compares a unit's previous and new state: a change of active/sub state or of the restart count is
// an event. On the first collection only units that are not ok are reported.
func serviceChange(prev, cur *Service, first bool) (ServiceChange, bool) {
	c := ServiceChange{Unit: cur.Unit, To: stateText(cur), Kind: EventServiceChanged, Severity: "info"}
	if cur.Level == "critical" || cur.Level == "warning" {
		c.Severity = cur.Level
	}
	if cur.Failed || cur.ActiveState == "failed" {
		c.Kind = EventServiceFailed
	}
	switch {
	case prev == nil:
		if first && cur.Level == "ok" {
			return c, false
		}
		c.Message = fmt.Sprintf("unit %s: %s (%s)", cur.Unit, c.To, cur.Reason)
		return c, cur.Level != "ok" || !first
	case stateText(prev) != stateText(cur):
		c.From = stateText(prev)
		c.Message = fmt.Sprintf("unit %s: %s → %s", cur.Unit, c.From, c.To)
		return c, true
	case prev.NRestarts != nil && cur.NRestarts != nil && *cur.NRestarts > *prev.NRestarts:
		c.From = c.To
		c.Message = fmt.Sprintf("unit %s restarted %d times since the last collection (%d in all)", cur.Unit,
			*cur.NRestarts-*prev.NRestarts, *cur.NRestarts)
		if c.Severity == "info" {
			c.Severity = "warning"
		}
		return c, true
	}
	return c, false
}

// ProcessSnapshot is a stored top-processes listing.
type ProcessSnapshot struct {
	ID        uuid.UUID       `json:"id"`
	DeviceID  uuid.UUID       `json:"device_id"`
	TakenAt   time.Time       `json:"taken_at"`
	Requested bool            `json:"-"`
	Body      json.RawMessage `json:"body"`
}

// processSnapshotRetention is how long collection snapshots are kept; requested ones live until read or an hour.
const processSnapshotRetention = 7 * 24 * time.Hour

// InsertProcessSnapshot stores s (idempotent on its ID) and drops the device's snapshots past retention.
func InsertProcessSnapshot(ctx context.Context, db DBTX, s *ProcessSnapshot) error {
	if _, err := db.Exec(ctx, `INSERT INTO process_snapshots (id, device_id, taken_at, requested, body)
		VALUES ($1,$2,$3,$4,$5) ON CONFLICT (id) DO UPDATE SET body = excluded.body, taken_at = excluded.taken_at`,
		s.ID, s.DeviceID, s.TakenAt, s.Requested, []byte(s.Body)); err != nil {
		return mapErr(err)
	}
	_, err := db.Exec(ctx, `DELETE FROM process_snapshots WHERE device_id = $1 AND
		((NOT requested AND taken_at < $2) OR (requested AND taken_at < $3))`,
		s.DeviceID, s.TakenAt.Add(-processSnapshotRetention), s.TakenAt.Add(-time.Hour))
	return mapErr(err)
}

// TakeProcessSnapshot returns a requested snapshot and deletes it: an answer is read once.
func TakeProcessSnapshot(ctx context.Context, db DBTX, id uuid.UUID) (*ProcessSnapshot, error) {
	var s ProcessSnapshot
	err := db.QueryRow(ctx, `DELETE FROM process_snapshots WHERE id = $1 AND requested
		RETURNING id, device_id, taken_at, requested, body`, id).Scan(&s.ID, &s.DeviceID, &s.TakenAt, &s.Requested, &s.Body)
	if err != nil {
		return nil, mapErr(err)
	}
	return &s, nil
}

// LatestProcessSnapshot returns the device's newest collection snapshot.
func LatestProcessSnapshot(ctx context.Context, db DBTX, deviceID uuid.UUID) (*ProcessSnapshot, error) {
	var s ProcessSnapshot
	err := db.QueryRow(ctx, `SELECT id, device_id, taken_at, requested, body FROM process_snapshots
		WHERE device_id = $1 AND NOT requested ORDER BY taken_at DESC LIMIT 1`, deviceID).
		Scan(&s.ID, &s.DeviceID, &s.TakenAt, &s.Requested, &s.Body)
	if err != nil {
		return nil, mapErr(err)
	}
	return &s, nil
}
