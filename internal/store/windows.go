package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/alert"
)

// MaintenanceWindow is a stored maintenance window.
type MaintenanceWindow struct {
	ID        uuid.UUID     `json:"id"`
	Name      string        `json:"name"`
	DeviceID  *uuid.UUID    `json:"device_id"`
	Tag       string        `json:"tag,omitempty"`
	StartsAt  *time.Time    `json:"starts_at,omitempty"`
	EndsAt    *time.Time    `json:"ends_at,omitempty"`
	Weekdays  []int         `json:"weekdays,omitempty"`
	StartTime string        `json:"start_time,omitempty"`
	Duration  time.Duration `json:"-"`
	TimeZone  string        `json:"time_zone"`
	CreatedAt time.Time     `json:"created_at"`
}

// MarshalJSON writes the duration as a string.
func (w MaintenanceWindow) MarshalJSON() ([]byte, error) {
	type plain MaintenanceWindow
	var d string
	if w.Duration > 0 {
		d = w.Duration.String()
	}
	return json.Marshal(struct {
		plain
		Duration string `json:"duration,omitempty"`
	}{plain(w), d})
}

// Window converts to the evaluator's form.
func (w *MaintenanceWindow) Window() alert.Window {
	out := alert.Window{Tag: w.Tag, StartsAt: w.StartsAt, EndsAt: w.EndsAt, StartTime: w.StartTime, Duration: w.Duration,
		TimeZone: w.TimeZone}
	if w.DeviceID != nil {
		out.DeviceID = w.DeviceID.String()
	}
	for _, d := range w.Weekdays {
		out.Weekdays = append(out.Weekdays, time.Weekday(d))
	}
	return out
}

const windowColumns = `id, name, device_id, tag, starts_at, ends_at, weekdays, start_time, duration_ms, time_zone, created_at`

func scanWindow(row pgx.Row) (*MaintenanceWindow, error) {
	var w MaintenanceWindow
	var d int64
	var days []int32
	if err := row.Scan(&w.ID, &w.Name, &w.DeviceID, &w.Tag, &w.StartsAt, &w.EndsAt, &days, &w.StartTime, &d,
		&w.TimeZone, &w.CreatedAt); err != nil {
		return nil, mapErr(err)
	}
	w.Duration = ms(d)
	for _, x := range days {
		w.Weekdays = append(w.Weekdays, int(x))
	}
	return &w, nil
}

// CreateMaintenanceWindow inserts w.
func CreateMaintenanceWindow(ctx context.Context, db DBTX, w *MaintenanceWindow) (*MaintenanceWindow, error) {
	if w.ID == uuid.Nil {
		w.ID = uuid.New()
	}
	days := make([]int32, 0, len(w.Weekdays))
	for _, d := range w.Weekdays {
		days = append(days, int32(d))
	}
	return scanWindow(db.QueryRow(ctx, `INSERT INTO maintenance_windows (id, name, device_id, tag, starts_at, ends_at,
		weekdays, start_time, duration_ms, time_zone) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING `+windowColumns,
		w.ID, w.Name, w.DeviceID, w.Tag, w.StartsAt, w.EndsAt, days, w.StartTime, w.Duration.Milliseconds(), w.TimeZone))
}

// ListMaintenanceWindows returns every window.
func ListMaintenanceWindows(ctx context.Context, db DBTX) ([]*MaintenanceWindow, error) {
	rows, qerr := db.Query(ctx, `SELECT `+windowColumns+` FROM maintenance_windows ORDER BY created_at`)
	return scanRows(scanWindow, rows, qerr)
}

// DeleteMaintenanceWindow removes a window.
func DeleteMaintenanceWindow(ctx context.Context, db DBTX, id uuid.UUID) error {
	return execOne(db.Exec(ctx, `DELETE FROM maintenance_windows WHERE id = $1`, id))
}

// GetMaintenanceWindow returns one window.
func GetMaintenanceWindow(ctx context.Context, db DBTX, id uuid.UUID) (*MaintenanceWindow, error) {
	return scanWindow(db.QueryRow(ctx, `SELECT `+windowColumns+` FROM maintenance_windows WHERE id = $1`, id))
}

// UpdateMaintenanceWindow replaces every field of window w.ID but its creation time. Alert evaluation reads the
// windows at every run, so the change applies from the next poll on.
func UpdateMaintenanceWindow(ctx context.Context, db DBTX, w *MaintenanceWindow) (*MaintenanceWindow, error) {
	days := make([]int32, 0, len(w.Weekdays))
	for _, d := range w.Weekdays {
		days = append(days, int32(d))
	}
	return scanWindow(db.QueryRow(ctx, `UPDATE maintenance_windows SET name = $2, device_id = $3, tag = $4, starts_at = $5,
		ends_at = $6, weekdays = $7, start_time = $8, duration_ms = $9, time_zone = $10 WHERE id = $1 RETURNING `+windowColumns,
		w.ID, w.Name, w.DeviceID, w.Tag, w.StartsAt, w.EndsAt, days, w.StartTime, w.Duration.Milliseconds(), w.TimeZone))
}
