package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/pkgupdate"
)

// DeviceUpdates is the latest package-update check of a device (#13).
type DeviceUpdates struct {
	DeviceID      uuid.UUID          `json:"device_id"`
	DeviceName    string             `json:"device_name,omitempty"`
	Manager       string             `json:"manager"`
	Total         int                `json:"total"`
	Security      int                `json:"security"`
	SecurityKnown bool               `json:"security_known"`
	Updates       []pkgupdate.Update `json:"updates"`
	Truncated     bool               `json:"truncated,omitempty"`
	Reboot        string             `json:"reboot"`
	RebootPkgs    []string           `json:"reboot_packages"`
	Failed        bool               `json:"failed"`
	Messages      []string           `json:"messages"`
	CheckedAt     time.Time          `json:"checked_at"`
	ListsUpdated  *time.Time         `json:"lists_updated_at"`
	ListsAge      *time.Duration     `json:"-"`
	SecuritySince *time.Time         `json:"security_pending_since"`
	RebootSince   *time.Time         `json:"reboot_required_since"`
}

// MarshalJSON adds lists_age as a duration string ("3h0m0s") and in seconds.
func (u DeviceUpdates) MarshalJSON() ([]byte, error) {
	type plain DeviceUpdates
	var age *string
	var ageSec *float64
	if u.ListsAge != nil {
		s := u.ListsAge.String()
		f := u.ListsAge.Seconds()
		age, ageSec = &s, &f
	}
	return json.Marshal(struct {
		plain
		ListsAge    *string  `json:"lists_age"`
		ListsAgeSec *float64 `json:"lists_age_seconds"`
	}{plain(u), age, ageSec})
}

// UpdatesStreaks are the starts of the current "security updates pending" and "reboot required" streaks.
type UpdatesStreaks struct {
	Security      int
	Reboot        string
	SecuritySince *time.Time
	RebootSince   *time.Time
	Found         bool
}

// GetUpdatesStreaks returns what the previous check stored (Found false on the first check), locking the row.
func GetUpdatesStreaks(ctx context.Context, db DBTX, device uuid.UUID) (UpdatesStreaks, error) {
	var s UpdatesStreaks
	err := db.QueryRow(ctx, `SELECT security, reboot, security_pending_since, reboot_required_since
		FROM device_updates WHERE device_id = $1 FOR UPDATE`, device).Scan(&s.Security, &s.Reboot, &s.SecuritySince, &s.RebootSince)
	if err == pgx.ErrNoRows {
		return s, nil
	}
	if err != nil {
		return s, mapErr(err)
	}
	s.Found = true
	return s, nil
}

// SaveUpdates stores the latest check of a device, replacing the previous one.
func SaveUpdates(ctx context.Context, db DBTX, u *DeviceUpdates) error {
	list, err := json.Marshal(u.Updates)
	if err != nil {
		return err
	}
	var ageMS *int64
	if u.ListsAge != nil {
		ms := u.ListsAge.Milliseconds()
		ageMS = &ms
	}
	pkgs, msgs := u.RebootPkgs, u.Messages
	if pkgs == nil {
		pkgs = []string{}
	}
	if msgs == nil {
		msgs = []string{}
	}
	_, err = db.Exec(ctx, `INSERT INTO device_updates (device_id, manager, total, security, security_known, updates,
		truncated, reboot, reboot_packages, failed, messages, checked_at, lists_updated_at, lists_age_ms,
		security_pending_since, reboot_required_since)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)
		ON CONFLICT (device_id) DO UPDATE SET manager=EXCLUDED.manager, total=EXCLUDED.total,
		security=EXCLUDED.security, security_known=EXCLUDED.security_known, updates=EXCLUDED.updates,
		truncated=EXCLUDED.truncated, reboot=EXCLUDED.reboot, reboot_packages=EXCLUDED.reboot_packages,
		failed=EXCLUDED.failed, messages=EXCLUDED.messages, checked_at=EXCLUDED.checked_at,
		lists_updated_at=EXCLUDED.lists_updated_at, lists_age_ms=EXCLUDED.lists_age_ms,
		security_pending_since=EXCLUDED.security_pending_since, reboot_required_since=EXCLUDED.reboot_required_since`,
		u.DeviceID, u.Manager, u.Total, u.Security, u.SecurityKnown, list, u.Truncated, u.Reboot, pkgs, u.Failed, msgs,
		u.CheckedAt, u.ListsUpdated, ageMS, u.SecuritySince, u.RebootSince)
	return mapErr(err)
}

const updatesColumns = `u.device_id, d.name, u.manager, u.total, u.security, u.security_known, u.updates, u.truncated,
	u.reboot, u.reboot_packages, u.failed, u.messages, u.checked_at, u.lists_updated_at, u.lists_age_ms,
	u.security_pending_since, u.reboot_required_since`

func scanUpdates(row pgx.Row) (*DeviceUpdates, error) {
	var u DeviceUpdates
	var list []byte
	var ageMS *int64
	if err := row.Scan(&u.DeviceID, &u.DeviceName, &u.Manager, &u.Total, &u.Security, &u.SecurityKnown, &list, &u.Truncated,
		&u.Reboot, &u.RebootPkgs, &u.Failed, &u.Messages, &u.CheckedAt, &u.ListsUpdated, &ageMS, &u.SecuritySince,
		&u.RebootSince); err != nil {
		return nil, mapErr(err)
	}
	u.Updates = []pkgupdate.Update{}
	if len(list) > 0 {
		if err := json.Unmarshal(list, &u.Updates); err != nil {
			return nil, err
		}
	}
	if ageMS != nil {
		d := time.Duration(*ageMS) * time.Millisecond
		u.ListsAge = &d
	}
	return &u, nil
}

// GetUpdates returns the latest check of a device, ErrNotFound when none ran yet.
func GetUpdates(ctx context.Context, db DBTX, device uuid.UUID) (*DeviceUpdates, error) {
	return scanUpdates(db.QueryRow(ctx, `SELECT `+updatesColumns+` FROM device_updates u JOIN devices d ON d.id = u.device_id
		WHERE u.device_id = $1`, device))
}

// UpdatesFilter selects devices for ListUpdates.
type UpdatesFilter struct {
	// SecurityOnly keeps devices with pending security updates; Pending those with any pending update.
	SecurityOnly bool
	Pending      bool
	// RebootRequired keeps devices that ask for a reboot.
	RebootRequired bool
	Limit          int
}

// ListUpdates returns the latest check of every device, security first: most pending security updates, then
// most pending updates, then by name.
func ListUpdates(ctx context.Context, db DBTX, f UpdatesFilter) ([]*DeviceUpdates, error) {
	if f.Limit <= 0 {
		f.Limit = 500
	}
	rows, err := db.Query(ctx, `SELECT `+updatesColumns+` FROM device_updates u JOIN devices d ON d.id = u.device_id
		WHERE (NOT $1 OR u.security > 0) AND (NOT $2 OR u.total > 0) AND (NOT $3 OR u.reboot = 'required')
		ORDER BY u.security DESC, u.total DESC, d.name LIMIT $4`, f.SecurityOnly, f.Pending, f.RebootRequired, f.Limit)
	return scanRows(scanUpdates, rows, err)
}

// UpdatesTotals counts, over the fleet, devices with pending security updates and devices requiring a reboot.
type UpdatesTotals struct {
	DevicesWithSecurity int `json:"devices_with_security_updates"`
	SecurityUpdates     int `json:"security_updates"`
	DevicesWithUpdates  int `json:"devices_with_updates"`
	RebootRequired      int `json:"reboot_required"`
}

// CountUpdates returns the fleet's update totals.
func CountUpdates(ctx context.Context, db DBTX) (*UpdatesTotals, error) {
	var t UpdatesTotals
	err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE security > 0), coalesce(sum(security), 0),
		count(*) FILTER (WHERE total > 0), count(*) FILTER (WHERE reboot = 'required') FROM device_updates`).
		Scan(&t.DevicesWithSecurity, &t.SecurityUpdates, &t.DevicesWithUpdates, &t.RebootRequired)
	return &t, mapErr(err)
}
