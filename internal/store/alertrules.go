package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/alert"
)

// AlertRule is a stored alert rule. Durations are stored in milliseconds and shown as Go duration strings.
type AlertRule struct {
	ID                uuid.UUID     `json:"id"`
	Name              string        `json:"name"`
	Kind              string        `json:"kind"`
	Metric            string        `json:"metric,omitempty"`
	Condition         string        `json:"condition,omitempty"`
	Warning           *float64      `json:"warning"`
	Critical          *float64      `json:"critical"`
	Severity          string        `json:"severity"`
	Duration          time.Duration `json:"-"`
	ClearFor          time.Duration `json:"-"`
	HysteresisPercent float64       `json:"hysteresis_percent"`
	Restarts          int           `json:"restarts,omitempty"`
	Window            time.Duration `json:"-"`
	Scope             string        `json:"scope"`
	ScopeTag          string        `json:"scope_tag,omitempty"`
	ScopeDevice       *uuid.UUID    `json:"scope_device,omitempty"`
	Channels          []uuid.UUID   `json:"channels"`
	Enabled           bool          `json:"enabled"`
	Builtin           bool          `json:"builtin"`
	CreatedAt         time.Time     `json:"created_at"`
	UpdatedAt         time.Time     `json:"updated_at"`
}

// MarshalJSON writes durations as strings ("5m0s").
func (r AlertRule) MarshalJSON() ([]byte, error) {
	type plain AlertRule
	if r.Channels == nil {
		r.Channels = []uuid.UUID{}
	}
	out := struct {
		plain
		Duration string `json:"duration"`
		ClearFor string `json:"clear_for"`
		Window   string `json:"window,omitempty"`
	}{plain: plain(r), Duration: r.Duration.String(), ClearFor: r.ClearFor.String()}
	if r.Window > 0 {
		out.Window = r.Window.String()
	}
	return json.Marshal(out)
}

// Rule converts the stored rule to the evaluator's form.
func (r *AlertRule) Rule() alert.Rule {
	out := alert.Rule{ID: r.ID.String(), Name: r.Name, Kind: alert.Kind(r.Kind), Metric: r.Metric, Condition: r.Condition,
		Warning: r.Warning, Critical: r.Critical, Severity: r.Severity, Duration: r.Duration, ClearFor: r.ClearFor,
		HysteresisPercent: r.HysteresisPercent, Restarts: r.Restarts, Window: r.Window, Scope: r.Scope,
		ScopeTag: r.ScopeTag, Enabled: r.Enabled}
	if r.ScopeDevice != nil {
		out.ScopeDevice = r.ScopeDevice.String()
	}
	return out
}

const ruleColumns = `id, name, kind, metric, condition, warning, critical, severity, duration_ms, clear_for_ms,
	hysteresis_percent, restarts, window_ms, scope, scope_tag, scope_device, channels, enabled, builtin, created_at, updated_at`

func scanRule(row pgx.Row) (*AlertRule, error) {
	var r AlertRule
	var dur, clear, win int64
	if err := row.Scan(&r.ID, &r.Name, &r.Kind, &r.Metric, &r.Condition, &r.Warning, &r.Critical, &r.Severity, &dur,
		&clear, &r.HysteresisPercent, &r.Restarts, &win, &r.Scope, &r.ScopeTag, &r.ScopeDevice, &r.Channels,
		&r.Enabled, &r.Builtin, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, mapErr(err)
	}
	r.Duration, r.ClearFor, r.Window = ms(dur), ms(clear), ms(win)
	return &r, nil
}

func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

// ListAlertRules returns every rule, built-in ones first, then by name.
func ListAlertRules(ctx context.Context, db DBTX) ([]*AlertRule, error) {
	rows, qerr := db.Query(ctx, `SELECT `+ruleColumns+` FROM alert_rules ORDER BY builtin DESC, lower(name)`)
	return scanRows(scanRule, rows, qerr)
}

// GetAlertRule returns one rule.
func GetAlertRule(ctx context.Context, db DBTX, id uuid.UUID) (*AlertRule, error) {
	return scanRule(db.QueryRow(ctx, `SELECT `+ruleColumns+` FROM alert_rules WHERE id = $1`, id))
}

// CreateAlertRule inserts r (a new ID when r.ID is nil).
func CreateAlertRule(ctx context.Context, db DBTX, r *AlertRule) (*AlertRule, error) {
	if r.ID == uuid.Nil {
		r.ID = uuid.New()
	}
	if r.Channels == nil {
		r.Channels = []uuid.UUID{}
	}
	return scanRule(db.QueryRow(ctx, `INSERT INTO alert_rules (id, name, kind, metric, condition, warning, critical,
		severity, duration_ms, clear_for_ms, hysteresis_percent, restarts, window_ms, scope, scope_tag, scope_device,
		channels, enabled) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18) RETURNING `+ruleColumns,
		r.ID, r.Name, r.Kind, r.Metric, r.Condition, r.Warning, r.Critical, r.Severity, r.Duration.Milliseconds(),
		r.ClearFor.Milliseconds(), r.HysteresisPercent, r.Restarts, r.Window.Milliseconds(), r.Scope, r.ScopeTag,
		r.ScopeDevice, r.Channels, r.Enabled))
}

// UpdateAlertRule writes every editable field of r.
func UpdateAlertRule(ctx context.Context, db DBTX, r *AlertRule) (*AlertRule, error) {
	if r.Channels == nil {
		r.Channels = []uuid.UUID{}
	}
	return scanRule(db.QueryRow(ctx, `UPDATE alert_rules SET name=$2, kind=$3, metric=$4, condition=$5, warning=$6,
		critical=$7, severity=$8, duration_ms=$9, clear_for_ms=$10, hysteresis_percent=$11, restarts=$12, window_ms=$13,
		scope=$14, scope_tag=$15, scope_device=$16, channels=$17, enabled=$18, updated_at=now() WHERE id=$1
		RETURNING `+ruleColumns,
		r.ID, r.Name, r.Kind, r.Metric, r.Condition, r.Warning, r.Critical, r.Severity, r.Duration.Milliseconds(),
		r.ClearFor.Milliseconds(), r.HysteresisPercent, r.Restarts, r.Window.Milliseconds(), r.Scope, r.ScopeTag,
		r.ScopeDevice, r.Channels, r.Enabled))
}

// DeleteAlertRule removes a rule with its states and alerts.
func DeleteAlertRule(ctx context.Context, db DBTX, id uuid.UUID) error {
	return execOne(db.Exec(ctx, `DELETE FROM alert_rules WHERE id = $1`, id))
}

// RuleOverride is a per-device override of a rule.
type RuleOverride struct {
	RuleID   uuid.UUID      `json:"rule_id"`
	DeviceID uuid.UUID      `json:"device_id"`
	Warning  *float64       `json:"warning"`
	Critical *float64       `json:"critical"`
	Duration *time.Duration `json:"-"`
	Enabled  *bool          `json:"enabled"`
}

// MarshalJSON writes the duration as a string or null.
func (o RuleOverride) MarshalJSON() ([]byte, error) {
	type plain RuleOverride
	var d *string
	if o.Duration != nil {
		s := o.Duration.String()
		d = &s
	}
	return json.Marshal(struct {
		plain
		Duration *string `json:"duration"`
	}{plain(o), d})
}

// SetRuleOverride creates or replaces the override of a rule for a device.
func SetRuleOverride(ctx context.Context, db DBTX, o *RuleOverride) error {
	var d *int64
	if o.Duration != nil {
		v := o.Duration.Milliseconds()
		d = &v
	}
	_, err := db.Exec(ctx, `INSERT INTO alert_rule_overrides (rule_id, device_id, warning, critical, duration_ms, enabled)
		VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (rule_id, device_id) DO UPDATE SET warning=excluded.warning,
		critical=excluded.critical, duration_ms=excluded.duration_ms, enabled=excluded.enabled`,
		o.RuleID, o.DeviceID, o.Warning, o.Critical, d, o.Enabled)
	return mapErr(err)
}

// DeleteRuleOverride removes a device's override of a rule.
func DeleteRuleOverride(ctx context.Context, db DBTX, ruleID, deviceID uuid.UUID) error {
	return execOne(db.Exec(ctx, `DELETE FROM alert_rule_overrides WHERE rule_id = $1 AND device_id = $2`, ruleID, deviceID))
}

// ListRuleOverrides returns the overrides of a rule (ruleID set) or of a device (deviceID set).
func ListRuleOverrides(ctx context.Context, db DBTX, ruleID, deviceID *uuid.UUID) ([]*RuleOverride, error) {
	rows, qerr := db.Query(ctx, `SELECT rule_id, device_id, warning, critical, duration_ms, enabled FROM alert_rule_overrides
		WHERE ($1::uuid IS NULL OR rule_id = $1) AND ($2::uuid IS NULL OR device_id = $2) ORDER BY rule_id, device_id`,
		ruleID, deviceID)
	return scanRows(scanOverride, rows, qerr)
}

func scanOverride(row pgx.Row) (*RuleOverride, error) {
	var o RuleOverride
	var d *int64
	if err := row.Scan(&o.RuleID, &o.DeviceID, &o.Warning, &o.Critical, &d, &o.Enabled); err != nil {
		return nil, err
	}
	if d != nil {
		v := ms(*d)
		o.Duration = &v
	}
	return &o, nil
}

// Override converts to the evaluator's form.
func (o *RuleOverride) Override() *alert.Override {
	return &alert.Override{Warning: o.Warning, Critical: o.Critical, Duration: o.Duration, Enabled: o.Enabled}
}
