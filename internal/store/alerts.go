package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/vocab"
)

// Event kinds of alerts, recorded in events (and so pushed on the events topic).
const (
	EventAlertFiring    = "alert.firing"
	EventAlertEscalated = "alert.escalated"
	EventAlertResolved  = "alert.resolved"
)

// Alert states (defined in package vocab).
const (
	AlertFiring   = vocab.AlertFiring
	AlertResolved = vocab.AlertResolved
)

// Alert is one firing episode of a rule on a device's subject.
type Alert struct {
	ID             uuid.UUID  `json:"id"`
	RuleID         uuid.UUID  `json:"rule_id"`
	RuleName       string     `json:"rule"`
	DeviceID       uuid.UUID  `json:"device_id"`
	DeviceName     string     `json:"device"`
	Subject        string     `json:"subject"`
	Severity       string     `json:"severity"`
	State          string     `json:"state"`
	Message        string     `json:"message"`
	Value          *float64   `json:"value"`
	PendingSince   time.Time  `json:"pending_since"`
	FiredAt        time.Time  `json:"fired_at"`
	ResolvedAt     *time.Time `json:"resolved_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	AcknowledgedBy *string    `json:"acknowledged_by"`
	SilencedUntil  *time.Time `json:"silenced_until"`
	InMaintenance  bool       `json:"in_maintenance"`
	Notices        int        `json:"notices"`
}

// Silenced reports whether notices of the alert are held back at t.
func (a *Alert) Silenced(t time.Time) bool {
	return a.SilencedUntil != nil && t.Before(*a.SilencedUntil)
}

const alertColumns = `a.id, a.rule_id, r.name, a.device_id, d.name, a.subject, a.severity, a.state, a.message, a.value,
	a.pending_since, a.fired_at, a.resolved_at, a.acknowledged_at, a.acknowledged_by, a.silenced_until,
	a.in_maintenance, a.notices`

const alertFrom = ` FROM alerts a JOIN alert_rules r ON r.id = a.rule_id JOIN devices d ON d.id = a.device_id`

func scanAlert(row pgx.Row) (*Alert, error) {
	var a Alert
	if err := row.Scan(&a.ID, &a.RuleID, &a.RuleName, &a.DeviceID, &a.DeviceName, &a.Subject, &a.Severity, &a.State,
		&a.Message, &a.Value, &a.PendingSince, &a.FiredAt, &a.ResolvedAt, &a.AcknowledgedAt, &a.AcknowledgedBy,
		&a.SilencedUntil, &a.InMaintenance, &a.Notices); err != nil {
		return nil, mapErr(err)
	}
	return &a, nil
}

// GetAlert returns one alert.
func GetAlert(ctx context.Context, db DBTX, id uuid.UUID) (*Alert, error) {
	return scanAlert(db.QueryRow(ctx, `SELECT `+alertColumns+alertFrom+` WHERE a.id = $1`, id))
}

// OpenAlert records a newly firing alert and returns it.
func OpenAlert(ctx context.Context, db DBTX, a *Alert) (*Alert, error) {
	if a.ID == uuid.Nil {
		a.ID = uuid.New()
	}
	_, err := db.Exec(ctx, `INSERT INTO alerts (id, rule_id, device_id, subject, severity, state, message, value,
		pending_since, fired_at, in_maintenance) VALUES ($1,$2,$3,$4,$5,'firing',$6,$7,$8,$9,$10)`,
		a.ID, a.RuleID, a.DeviceID, a.Subject, a.Severity, a.Message, a.Value, a.PendingSince, a.FiredAt, a.InMaintenance)
	if err != nil {
		return nil, mapErr(err)
	}
	return GetAlert(ctx, db, a.ID)
}

// UpdateFiringAlert records an escalation (severity, message, value) of a firing alert.
func UpdateFiringAlert(ctx context.Context, db DBTX, id uuid.UUID, severity, message string, value float64) (*Alert, error) {
	if err := execOne(db.Exec(ctx, `UPDATE alerts SET severity=$2, message=$3, value=$4, updated_at=now()
		WHERE id=$1 AND state='firing'`, id, severity, message, value)); err != nil {
		return nil, err
	}
	return GetAlert(ctx, db, id)
}

// ResolveAlert marks a firing alert resolved at t.
func ResolveAlert(ctx context.Context, db DBTX, id uuid.UUID, t time.Time, value float64) (*Alert, error) {
	if err := execOne(db.Exec(ctx, `UPDATE alerts SET state='resolved', resolved_at=$2, value=$3, updated_at=now()
		WHERE id=$1 AND state='firing'`, id, t, value)); err != nil {
		return nil, err
	}
	return GetAlert(ctx, db, id)
}

// NextNotice numbers the next notice of an alert (1, 2, ...), so its deliveries can be sent in order.
func NextNotice(ctx context.Context, db DBTX, id uuid.UUID) (int, error) {
	var n int
	err := db.QueryRow(ctx, `UPDATE alerts SET notices = notices + 1 WHERE id = $1 RETURNING notices`, id).Scan(&n)
	return n, mapErr(err)
}

// AlertFilter selects alerts. State "" means firing ones and those resolved since Since.
type AlertFilter struct {
	State    string
	Severity string
	DeviceID *uuid.UUID
	RuleID   *uuid.UUID
	Since    *time.Time
	Before   *time.Time // cursor: fired_at of the last alert of the previous page
	Limit    int
	// FiringFirst lists firing alerts before resolved ones (then newest first). The cursor follows fired_at only,
	// so a caller that pages must leave it off.
	FiringFirst bool
}

// ListAlerts returns alerts newest first and the cursor of the next page.
func ListAlerts(ctx context.Context, db DBTX, f AlertFilter) ([]*Alert, *time.Time, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, qerr := db.Query(ctx, `SELECT `+alertColumns+alertFrom+`
		WHERE ($1 = '' OR a.state = $1) AND ($2::uuid IS NULL OR a.device_id = $2)
		AND ($3::timestamptz IS NULL OR a.state = 'firing' OR a.resolved_at >= $3)
		AND ($4::timestamptz IS NULL OR a.fired_at < $4)
		AND ($6 = '' OR a.severity = $6) AND ($7::uuid IS NULL OR a.rule_id = $7)
		ORDER BY ($8::boolean AND a.state = 'firing') DESC, a.fired_at DESC, a.id LIMIT $5`,
		f.State, f.DeviceID, f.Since, f.Before, f.Limit+1, f.Severity, f.RuleID, f.FiringFirst)
	out, err := scanRows(scanAlert, rows, qerr)
	if err != nil {
		return nil, nil, err
	}
	var next *time.Time
	if len(out) > f.Limit {
		out = out[:f.Limit]
		t := out[len(out)-1].FiredAt
		next = &t
	}
	return out, next, nil
}

// AcknowledgeAlert records who acknowledged an alert; escalations of an acknowledged alert are not sent.
func AcknowledgeAlert(ctx context.Context, db DBTX, id uuid.UUID, by string, t time.Time) (*Alert, error) {
	if err := execOne(db.Exec(ctx, `UPDATE alerts SET acknowledged_at=$2, acknowledged_by=$3, updated_at=now() WHERE id=$1`,
		id, t, by)); err != nil {
		return nil, err
	}
	return GetAlert(ctx, db, id)
}

// SilenceAlert holds back the alert's notices until the given time (nil lifts the silence).
func SilenceAlert(ctx context.Context, db DBTX, id uuid.UUID, until *time.Time) (*Alert, error) {
	if err := execOne(db.Exec(ctx, `UPDATE alerts SET silenced_until=$2, updated_at=now() WHERE id=$1`, id, until)); err != nil {
		return nil, err
	}
	return GetAlert(ctx, db, id)
}
