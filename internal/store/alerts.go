package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
)

// Event kinds of alerts, recorded in events (and so pushed on the events topic).
const (
	EventAlertFiring    = "alert.firing"
	EventAlertEscalated = "alert.escalated"
	EventAlertResolved  = "alert.resolved"
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

// StateKey identifies one evaluated subject of a device.
type StateKey struct {
	RuleID  uuid.UUID
	Subject string
}

// LoadAlertStates returns the evaluator states of a device, locked for update when db is a transaction.
func LoadAlertStates(ctx context.Context, db DBTX, deviceID uuid.UUID) (map[StateKey]alert.State, error) {
	rows, err := db.Query(ctx, `SELECT rule_id, subject, state FROM alert_states WHERE device_id = $1 FOR UPDATE`, deviceID)
	return scanStates(rows, err)
}

func scanStates(rows pgx.Rows, qerr error) (map[StateKey]alert.State, error) {
	if qerr != nil {
		return nil, qerr
	}
	defer rows.Close()
	out := map[StateKey]alert.State{}
	for rows.Next() {
		var k StateKey
		var raw []byte
		var s alert.State
		if err := rows.Scan(&k.RuleID, &k.Subject, &raw); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("alert state %s/%s: %w", k.RuleID, k.Subject, err)
		}
		out[k] = s
	}
	return out, rows.Err()
}

// SaveAlertState stores a subject's state, or deletes it when it is idle.
func SaveAlertState(ctx context.Context, db DBTX, deviceID uuid.UUID, k StateKey, s alert.State) error {
	return SaveAlertStates(ctx, db, deviceID, map[StateKey]alert.State{k: s})
}

// SaveAlertStates stores the given states of a device in at most two statements: one upsert of every state
// that carries something, one delete of every idle one. Callers pass only the states that changed, so a poll
// that changes nothing issues no SQL.
func SaveAlertStates(ctx context.Context, db DBTX, deviceID uuid.UUID, states map[StateKey]alert.State) error {
	var putRules, delRules []uuid.UUID
	var putSubjects, putStates, delSubjects []string
	for k, s := range states {
		if s.Idle() {
			delRules, delSubjects = append(delRules, k.RuleID), append(delSubjects, k.Subject)
			continue
		}
		raw, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("encode alert state %s/%s: %w", k.RuleID, k.Subject, err)
		}
		putRules, putSubjects, putStates = append(putRules, k.RuleID), append(putSubjects, k.Subject), append(putStates, string(raw))
	}
	if len(delRules) > 0 {
		if _, err := db.Exec(ctx, `DELETE FROM alert_states s USING unnest($2::uuid[], $3::text[]) AS d(rule_id, subject)
			WHERE s.device_id = $1 AND s.rule_id = d.rule_id AND s.subject = d.subject`,
			deviceID, delRules, delSubjects); err != nil {
			return fmt.Errorf("delete alert states of %s: %w", deviceID, mapErr(err))
		}
	}
	if len(putRules) > 0 {
		if _, err := db.Exec(ctx, `INSERT INTO alert_states (rule_id, device_id, subject, state)
			SELECT u.rule_id, $1, u.subject, u.state::jsonb FROM unnest($2::uuid[], $3::text[], $4::text[])
				AS u(rule_id, subject, state)
			ON CONFLICT (rule_id, device_id, subject) DO UPDATE SET state = excluded.state, updated_at = now()`,
			deviceID, putRules, putSubjects, putStates); err != nil {
			return fmt.Errorf("save alert states of %s: %w", deviceID, mapErr(err))
		}
	}
	return nil
}

// Alert states.
const (
	AlertFiring   = "firing"
	AlertResolved = "resolved"
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
	DeviceID *uuid.UUID
	Since    *time.Time
	Before   *time.Time // cursor: fired_at of the last alert of the previous page
	Limit    int
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
		ORDER BY a.fired_at DESC, a.id LIMIT $5`, f.State, f.DeviceID, f.Since, f.Before, f.Limit+1)
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

// Channel is a notification channel. Token and Secret are never serialised; HasToken and HasSecret tell
// whether they are set.
type Channel struct {
	ID            uuid.UUID `json:"id"`
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	URL           string    `json:"url"`
	Token         string    `json:"-"`
	Secret        string    `json:"-"`
	HasToken      bool      `json:"has_token"`
	HasSecret     bool      `json:"has_secret"`
	MinSeverity   string    `json:"min_severity"`
	Enabled       bool      `json:"enabled"`
	RatePerMinute int       `json:"rate_per_minute"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// String never shows the credentials, so a channel logged by mistake leaks nothing.
func (c Channel) String() string { return fmt.Sprintf("channel %s (%s %s)", c.Name, c.Type, c.ID) }

const channelColumns = `id, name, type, url, token, secret, min_severity, enabled, rate_per_minute, created_at, updated_at`

func scanChannel(row pgx.Row) (*Channel, error) {
	var c Channel
	if err := row.Scan(&c.ID, &c.Name, &c.Type, &c.URL, &c.Token, &c.Secret, &c.MinSeverity, &c.Enabled,
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
		min_severity, enabled, rate_per_minute) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING `+channelColumns,
		c.ID, c.Name, c.Type, c.URL, c.Token, c.Secret, c.MinSeverity, c.Enabled, c.RatePerMinute))
}

// UpdateChannel writes every field of c.
func UpdateChannel(ctx context.Context, db DBTX, c *Channel) (*Channel, error) {
	return scanChannel(db.QueryRow(ctx, `UPDATE notification_channels SET name=$2, type=$3, url=$4, token=$5, secret=$6,
		min_severity=$7, enabled=$8, rate_per_minute=$9, updated_at=now() WHERE id=$1 RETURNING `+channelColumns,
		c.ID, c.Name, c.Type, c.URL, c.Token, c.Secret, c.MinSeverity, c.Enabled, c.RatePerMinute))
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

// Delivery states.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
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

// scanRows scans every row of a query with scan.
func scanRows[T any](scan func(pgx.Row) (*T, error), rows pgx.Rows, err error) ([]*T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func execOne(tag interface{ RowsAffected() int64 }, err error) error {
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// LoadPollMetrics reads back the samples one poll committed at t (system, filesystems, temperatures), in the
// collector's form, for the alert evaluator. It returns an empty Metrics when the poll wrote no system row.
func LoadPollMetrics(ctx context.Context, db DBTX, deviceID uuid.UUID, t time.Time) (*collector.Metrics, error) {
	m := &collector.Metrics{Time: t}
	found, err := scanSystemSample(db.QueryRow(ctx, systemSampleSQL, deviceID, t), m)
	if err != nil {
		return nil, fmt.Errorf("load poll metrics of %s: %w", deviceID, err)
	}
	if !found {
		return m, nil
	}
	rows, err := db.Query(ctx, filesystemSampleSQL, deviceID, t)
	if err := scanFilesystemSamples(rows, err, m); err != nil {
		return nil, fmt.Errorf("load poll filesystems of %s: %w", deviceID, err)
	}
	rows, err = db.Query(ctx, temperatureSampleSQL, deviceID, t)
	if err := scanTemperatureSamples(rows, err, m); err != nil {
		return nil, fmt.Errorf("load poll temperatures of %s: %w", deviceID, err)
	}
	return m, nil
}

const (
	systemSampleSQL = `SELECT cpu_pct, cpu_cores, mem_total, mem_used, swap_total, swap_used, load1, load5, load15
		FROM system_metrics WHERE device_id = $1 AND time = $2`
	filesystemSampleSQL = `SELECT mountpoint, source, fstype, size_bytes, used_bytes, avail_bytes, inodes_total,
		inodes_used FROM filesystem_metrics WHERE device_id = $1 AND time = $2 ORDER BY mountpoint`
	temperatureSampleSQL = `SELECT sensor, celsius FROM temperature_metrics WHERE device_id = $1 AND time = $2
		ORDER BY sensor`
	containerSampleSQL = `SELECT detail FROM containers WHERE device_id = $1 ORDER BY name`
)

// scanSystemSample fills m from a system_metrics row; found is false when the poll wrote none.
func scanSystemSample(row pgx.Row, m *collector.Metrics) (found bool, err error) {
	var (
		cpu                                    *float32
		cores                                  []float32
		memTotal, memUsed, swapTotal, swapUsed *int64
		load1, load5, load15                   *float32
	)
	err = row.Scan(&cpu, &cores, &memTotal, &memUsed, &swapTotal, &swapUsed, &load1, &load5, &load15)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if cpu != nil {
		m.CPU = &collector.CPUMetrics{UsagePercent: float64(*cpu)}
		for i, c := range cores {
			m.CPU.Cores = append(m.CPU.Cores, collector.CoreMetrics{Core: i, UsagePercent: float64(c)})
		}
	}
	if memTotal != nil && memUsed != nil && *memTotal > 0 {
		m.Memory = &collector.MemoryMetrics{TotalBytes: uint64(*memTotal), UsedBytes: uint64(*memUsed),
			UsedPercent: 100 * float64(*memUsed) / float64(*memTotal)}
		if swapTotal != nil && swapUsed != nil && *swapTotal > 0 {
			m.Memory.SwapTotalBytes, m.Memory.SwapUsedBytes = uint64(*swapTotal), uint64(*swapUsed)
			m.Memory.SwapUsedPercent = 100 * float64(*swapUsed) / float64(*swapTotal)
		}
	}
	if load1 != nil && load5 != nil && load15 != nil {
		m.Load = &collector.LoadAvg{Load1: float64(*load1), Load5: float64(*load5), Load15: float64(*load15)}
	}
	return true, nil
}

func scanFilesystemSamples(rows pgx.Rows, qerr error, m *collector.Metrics) error {
	if qerr != nil {
		return qerr
	}
	defer rows.Close()
	for rows.Next() {
		var fs collector.FilesystemMetrics
		var size, used, avail int64
		var itotal, iused *int64
		if err := rows.Scan(&fs.Mount, &fs.Source, &fs.FSType, &size, &used, &avail, &itotal, &iused); err != nil {
			return err
		}
		fs.SizeBytes, fs.UsedBytes, fs.AvailBytes = uint64(size), uint64(used), uint64(avail)
		if used+avail > 0 {
			fs.UsedPercent = 100 * float64(used) / float64(used+avail)
		}
		if itotal != nil && iused != nil && *itotal > 0 {
			p := 100 * float64(*iused) / float64(*itotal)
			fs.InodesTotal, fs.InodesUsed, fs.InodesUsedPercent = uint64(*itotal), uint64(*iused), &p
		}
		m.Filesystems = append(m.Filesystems, fs)
	}
	return rows.Err()
}

func scanTemperatureSamples(rows pgx.Rows, qerr error, m *collector.Metrics) error {
	if qerr != nil {
		return qerr
	}
	defer rows.Close()
	for rows.Next() {
		var tm collector.Temperature
		var c float32
		if err := rows.Scan(&tm.Sensor, &c); err != nil {
			return err
		}
		tm.Celsius = float64(c)
		m.Temperatures = append(m.Temperatures, tm)
	}
	return rows.Err()
}

func scanContainerDetails(rows pgx.Rows, qerr error) ([]docker.Container, error) {
	if qerr != nil {
		return nil, qerr
	}
	defer rows.Close()
	var out []docker.Container
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var c docker.Container
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("container detail: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// BatchSender sends several queries in one round trip (a pgx.Tx, connection or pool).
type BatchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// PendingDelivery is a queued, never attempted delivery of one of a device's alerts.
type PendingDelivery struct {
	AlertID uuid.UUID
	Seq     int
	ID      int64
}

// AlertInputs is what one alert evaluation of a device reads besides the poll's samples.
type AlertInputs struct {
	Device    *Device
	Rules     []*AlertRule
	Overrides []*RuleOverride
	// States are the device's evaluator states, locked for update when the batch runs in a transaction.
	States   map[StateKey]alert.State
	Windows  []*MaintenanceWindow
	Channels []*Channel
	// Stale are the device's deliveries still pending and never attempted that were created between the two
	// times given to LoadAlertInputs, ordered by alert, seq and ID.
	Stale []*PendingDelivery
}

// LoadAlertInputs reads the device, every rule, the device's overrides and states, every maintenance window and
// channel, and the deliveries of its alerts left pending without an attempt that were created in
// (staleAfter, staleBefore), in one round trip. Evaluation runs after every poll of every device, so round
// trips, not the size of these small tables, are its cost. It returns ErrNotFound when the device is gone.
func LoadAlertInputs(ctx context.Context, db BatchSender, deviceID uuid.UUID, staleAfter, staleBefore time.Time) (*AlertInputs, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT `+deviceColumns+` FROM devices WHERE id = $1`, deviceID)
	b.Queue(`SELECT ` + ruleColumns + ` FROM alert_rules ORDER BY builtin DESC, lower(name)`)
	b.Queue(`SELECT rule_id, device_id, warning, critical, duration_ms, enabled FROM alert_rule_overrides
		WHERE device_id = $1 ORDER BY rule_id`, deviceID)
	b.Queue(`SELECT rule_id, subject, state FROM alert_states WHERE device_id = $1 FOR UPDATE`, deviceID)
	b.Queue(`SELECT ` + windowColumns + ` FROM maintenance_windows ORDER BY created_at`)
	b.Queue(`SELECT ` + channelColumns + ` FROM notification_channels ORDER BY lower(name)`)
	b.Queue(`SELECT n.alert_id, n.seq, n.id FROM notification_deliveries n JOIN alerts a ON a.id = n.alert_id
		WHERE a.device_id = $1 AND n.state = 'pending' AND n.attempts = 0 AND n.created_at < $2 AND n.created_at > $3
		ORDER BY n.alert_id, n.seq, n.id`, deviceID, staleBefore, staleAfter)
	br := db.SendBatch(ctx, b)
	in, err := readAlertInputs(br)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = mapErr(cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("load alert inputs of %s: %w", deviceID, err)
	}
	return in, nil
}

func readAlertInputs(br pgx.BatchResults) (*AlertInputs, error) {
	var in AlertInputs
	var err error
	if in.Device, err = scanDevice(br.QueryRow()); err != nil {
		return nil, err
	}
	rows, qerr := br.Query()
	if in.Rules, err = scanRows(scanRule, rows, qerr); err != nil {
		return nil, err
	}
	rows, qerr = br.Query()
	if in.Overrides, err = scanRows(scanOverride, rows, qerr); err != nil {
		return nil, err
	}
	rows, qerr = br.Query()
	if in.States, err = scanStates(rows, qerr); err != nil {
		return nil, err
	}
	rows, qerr = br.Query()
	if in.Windows, err = scanRows(scanWindow, rows, qerr); err != nil {
		return nil, err
	}
	rows, qerr = br.Query()
	if in.Channels, err = scanRows(scanChannel, rows, qerr); err != nil {
		return nil, err
	}
	rows, qerr = br.Query()
	if in.Stale, err = scanRows(func(row pgx.Row) (*PendingDelivery, error) {
		var d PendingDelivery
		return &d, row.Scan(&d.AlertID, &d.Seq, &d.ID)
	}, rows, qerr); err != nil {
		return nil, err
	}
	return &in, nil
}

// LoadPollSamples reads back, in one round trip, the samples a poll committed at t that need asks for: the
// metrics (empty when the poll wrote no system row, as LoadPollMetrics) and the container inventory (nil unless
// asked for). Nothing is read when need asks for nothing.
func LoadPollSamples(ctx context.Context, db BatchSender, deviceID uuid.UUID, t time.Time, need alert.Needs) (*collector.Metrics, []docker.Container, error) {
	m := &collector.Metrics{Time: t}
	anyMetric := need.System || need.Filesystems || need.Temperatures
	if !anyMetric && !need.Containers {
		return m, nil, nil
	}
	b := &pgx.Batch{}
	if anyMetric {
		// The system row decides whether the poll wrote samples at all, so it is read for any metric.
		b.Queue(systemSampleSQL, deviceID, t)
		if need.Filesystems {
			b.Queue(filesystemSampleSQL, deviceID, t)
		}
		if need.Temperatures {
			b.Queue(temperatureSampleSQL, deviceID, t)
		}
	}
	if need.Containers {
		b.Queue(containerSampleSQL, deviceID)
	}
	br := db.SendBatch(ctx, b)
	containers, err := readPollSamples(br, m, need, anyMetric)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load poll samples of %s at %s: %w", deviceID, t.Format(time.RFC3339Nano), err)
	}
	return m, containers, nil
}

func readPollSamples(br pgx.BatchResults, m *collector.Metrics, need alert.Needs, anyMetric bool) ([]docker.Container, error) {
	if anyMetric {
		found, err := scanSystemSample(br.QueryRow(), m)
		if err != nil {
			return nil, err
		}
		// Results of a batch are read in order, so the rows of a poll without a system row are read and dropped.
		if need.Filesystems {
			rows, qerr := br.Query()
			if err := scanFilesystemSamples(rows, qerr, m); err != nil {
				return nil, err
			}
		}
		if need.Temperatures {
			rows, qerr := br.Query()
			if err := scanTemperatureSamples(rows, qerr, m); err != nil {
				return nil, err
			}
		}
		if !found {
			m.Filesystems, m.Temperatures = nil, nil
		}
	}
	if !need.Containers {
		return nil, nil
	}
	rows, qerr := br.Query()
	return scanContainerDetails(rows, qerr)
}

// AbandonDelivery marks a still pending delivery failed for good (its retries ran out), keeping the receiver's
// last error when there was one.
func AbandonDelivery(ctx context.Context, db DBTX, id int64, reason string) error {
	_, err := db.Exec(ctx, `UPDATE notification_deliveries SET state = 'failed',
		last_error = CASE WHEN last_error = '' THEN $2 ELSE last_error END WHERE id = $1 AND state = 'pending'`, id, reason)
	return err
}
