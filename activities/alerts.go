package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

// EvaluateAlertsInput asks for the alert rules of a device to be evaluated after a poll attempt. Collected is
// the poll's time (PollDeviceResult.Collected) when it succeeded, zero when it failed; ErrorType is the failed
// poll's application error type.
type EvaluateAlertsInput struct {
	DeviceID  string
	Collected time.Time `json:",omitzero"`
	ErrorType string    `json:",omitempty"`
}

// Notice is one notification of one alert, delivered by a Notify workflow to each of its channels.
type Notice struct {
	AlertID     string
	Seq         int
	DeliveryIDs []int64
}

// WorkflowKey is the notice's part of its Notify workflow ID.
func (n Notice) WorkflowKey() string { return fmt.Sprintf("%s/%d", n.AlertID, n.Seq) }

// EvaluateAlertsResult says what changed; Notices are the notifications the workflow must start.
type EvaluateAlertsResult struct {
	Fired    int      `json:",omitempty"`
	Resolved int      `json:",omitempty"`
	Notices  []Notice `json:",omitempty"`
}

// orphanAfter is how long a queued delivery may wait without an attempt before the next evaluation hands it to
// a Notify workflow again (its first start was lost with an activity result).
const orphanAfter = time.Minute

// EvaluateAlerts evaluates every rule that applies to the device against its latest poll, in one transaction:
// states advance, alerts open, escalate and resolve, events are recorded and deliveries queued. A retried
// activity sees the states it already advanced, so it never fires twice.
func (a *Activities) EvaluateAlerts(ctx context.Context, in EvaluateAlertsInput) (*EvaluateAlertsResult, error) {
	if a.DB == nil {
		return nil, temporal.NewNonRetryableApplicationError("alerts: no database configured", ErrTypeInvalidInput, nil)
	}
	id, err := uuid.Parse(in.DeviceID)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("bad device id", ErrTypeInvalidInput, err)
	}
	now := a.now()
	var res *EvaluateAlertsResult
	err = pgx.BeginFunc(ctx, a.DB, func(tx pgx.Tx) error {
		res, err = a.evaluate(ctx, tx, id, in, now)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return &EvaluateAlertsResult{}, nil // the device was deleted meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("evaluate alerts of %s: %w", id, err)
	}
	return res, nil
}

func (a *Activities) evaluate(ctx context.Context, tx pgx.Tx, id uuid.UUID, in EvaluateAlertsInput, now time.Time) (*EvaluateAlertsResult, error) {
	dev, err := store.GetDevice(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	obs, err := observe(ctx, tx, dev, in, now)
	if err != nil {
		return nil, err
	}
	rules, err := store.ListAlertRules(ctx, tx)
	if err != nil {
		return nil, err
	}
	overrides, err := store.ListRuleOverrides(ctx, tx, nil, &id)
	if err != nil {
		return nil, err
	}
	byRule := map[uuid.UUID]*store.RuleOverride{}
	for _, o := range overrides {
		byRule[o.RuleID] = o
	}
	states, err := store.LoadAlertStates(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	windows, err := store.ListMaintenanceWindows(ctx, tx)
	if err != nil {
		return nil, err
	}
	var ws []alert.Window
	for _, w := range windows {
		ws = append(ws, w.Window())
	}
	n := &noticer{tx: tx, dev: dev, now: now, maintenance: alert.InMaintenance(ws, id.String(), dev.Tags, now)}
	if n.channels, err = store.ListChannels(ctx, tx); err != nil {
		return nil, err
	}

	res := &EvaluateAlertsResult{}
	for _, sr := range rules {
		var ov *alert.Override
		if o := byRule[sr.ID]; o != nil {
			ov = o.Override()
		}
		r := sr.Rule().WithOverride(ov)
		applies := r.Applies(id.String(), dev.Tags)
		readings, known := alert.Readings(r, obs)
		if !applies {
			// A rule disabled or narrowed while firing resolves its open alerts rather than leaving them firing.
			readings, known = nil, true
		}
		if !known {
			continue
		}
		subjects := map[string]*alert.Reading{}
		for i := range readings {
			subjects[readings[i].Subject] = &readings[i]
		}
		for k := range states {
			if k.RuleID == sr.ID {
				if _, ok := subjects[k.Subject]; !ok {
					subjects[k.Subject] = nil
				}
			}
		}
		names := make([]string, 0, len(subjects))
		for s := range subjects {
			names = append(names, s)
		}
		sort.Strings(names)
		for _, subject := range names {
			key := store.StateKey{RuleID: sr.ID, Subject: subject}
			prev := states[key]
			if !applies && prev.Firing == "" {
				prev = alert.State{}
			}
			next, tr := alert.Evaluate(r, subject, prev, subjects[subject], now)
			if !applies {
				next.Seen, next.Samples = false, nil
			}
			if err := n.apply(ctx, sr, subject, &next, prev, tr, res); err != nil {
				return nil, err
			}
			if err := store.SaveAlertState(ctx, tx, id, key, next); err != nil {
				return nil, err
			}
		}
	}
	orphans, err := orphanNotices(ctx, tx, id, now)
	if err != nil {
		return nil, err
	}
	for _, o := range orphans {
		if !slices.ContainsFunc(res.Notices, func(x Notice) bool { return x.WorkflowKey() == o.WorkflowKey() }) {
			res.Notices = append(res.Notices, o)
		}
	}
	return res, nil
}

// observe gathers what is known about the device after this poll attempt.
func observe(ctx context.Context, tx pgx.Tx, dev *store.Device, in EvaluateAlertsInput, now time.Time) (alert.Observation, error) {
	o := alert.Observation{Time: now, Reachable: !in.Collected.IsZero(), LastSeen: dev.CreatedAt}
	if dev.LastSeen != nil {
		o.LastSeen = *dev.LastSeen
	}
	switch {
	case o.Reachable:
		o.HostKeyKnown = true
	case in.ErrorType == ErrTypeHostKeyUnknown || in.ErrorType == ErrTypeHostKeyChanged:
		o.HostKeyKnown, o.HostKeyBlocked = true, true
	}
	if !o.Reachable {
		return o, nil
	}
	m, err := store.LoadPollMetrics(ctx, tx, dev.ID, in.Collected)
	if err != nil {
		return o, err
	}
	o.Metrics = m
	var caps collector.Capabilities
	if len(dev.Capabilities) > 0 && json.Unmarshal(dev.Capabilities, &caps) == nil {
		o.Cores = caps.CPUCount
	}
	var avail docker.Availability
	if len(dev.Docker) > 0 && json.Unmarshal(dev.Docker, &avail) == nil && avail.State == docker.Available {
		if o.Containers, err = store.LoadContainers(ctx, tx, dev.ID); err != nil {
			return o, err
		}
		o.ContainersKnown = true
	}
	return o, nil
}

// noticer records transitions: alerts, events, and the deliveries of the notices that are to be sent.
type noticer struct {
	tx          pgx.Tx
	dev         *store.Device
	now         time.Time
	maintenance bool
	channels    []*store.Channel
}

func (n *noticer) apply(ctx context.Context, rule *store.AlertRule, subject string, next *alert.State, prev alert.State,
	tr alert.Transition, res *EvaluateAlertsResult) error {
	if tr.Kind == alert.None {
		return nil
	}
	value := tr.Value
	var (
		al  *store.Alert
		err error
	)
	switch tr.Kind {
	case alert.Fired:
		pending := n.now
		if p := prev.PendingSince(); p != nil {
			pending = *p
		}
		al, err = store.OpenAlert(ctx, n.tx, &store.Alert{RuleID: rule.ID, DeviceID: n.dev.ID, Subject: subject,
			Severity: tr.Severity, Message: tr.Message, Value: &value, PendingSince: pending, FiredAt: n.now,
			InMaintenance: n.maintenance})
		if errors.Is(err, store.ErrConflict) {
			// The state was lost while its alert stayed open: take the open alert over instead of a duplicate.
			var aid uuid.UUID
			if qerr := n.tx.QueryRow(ctx, `SELECT id FROM alerts WHERE rule_id=$1 AND device_id=$2 AND subject=$3
				AND state='firing'`, rule.ID, n.dev.ID, subject).Scan(&aid); qerr != nil {
				return qerr
			}
			next.AlertID = aid.String()
			return nil
		}
		if err != nil {
			return err
		}
		next.AlertID = al.ID.String()
		res.Fired++
	case alert.Escalated, alert.Resolved:
		aid, perr := uuid.Parse(prev.AlertID)
		if perr != nil {
			return nil // firing state without a recorded alert (written by an older version): nothing to update
		}
		if tr.Kind == alert.Escalated {
			al, err = store.UpdateFiringAlert(ctx, n.tx, aid, tr.Severity, tr.Message, value)
		} else {
			al, err = store.ResolveAlert(ctx, n.tx, aid, n.now, value)
			res.Resolved++
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil // resolved or deleted by hand meanwhile
		}
		if err != nil {
			return err
		}
	}
	sev := tr.Severity
	if tr.Kind == alert.Resolved {
		sev = alert.SeverityInfo
	}
	data, _ := json.Marshal(map[string]any{"alert_id": al.ID, "rule_id": rule.ID, "rule": rule.Name, "subject": subject,
		"severity": tr.Severity, "value": value})
	devID := n.dev.ID
	if err := store.InsertEvent(ctx, n.tx, &store.Event{DeviceID: &devID, Kind: "alert." + string(tr.Kind), Severity: sev,
		Message: n.dev.Name + ": " + tr.Message, Data: data}); err != nil {
		return err
	}
	if !n.shouldSend(al, tr) {
		return nil
	}
	return n.queue(ctx, rule, al, tr, res)
}

// shouldSend decides whether a transition is notified: nothing inside a maintenance window or while silenced,
// no escalation of an acknowledged alert, and a resolved notice only for an alert whose earlier notices went out.
func (n *noticer) shouldSend(al *store.Alert, tr alert.Transition) bool {
	switch {
	case al.Silenced(n.now):
		return false
	case tr.Kind == alert.Resolved:
		return al.Notices > 0
	case al.InMaintenance || n.maintenance:
		return false
	case tr.Kind == alert.Escalated && al.AcknowledgedAt != nil:
		return false
	}
	return true
}

func (n *noticer) queue(ctx context.Context, rule *store.AlertRule, al *store.Alert, tr alert.Transition, res *EvaluateAlertsResult) error {
	var targets []*store.Channel
	for _, c := range n.channels {
		if !c.Enabled || alert.Rank(al.Severity) < alert.Rank(c.MinSeverity) {
			continue
		}
		if len(rule.Channels) > 0 && !slices.Contains(rule.Channels, c.ID) {
			continue
		}
		targets = append(targets, c)
	}
	if len(targets) == 0 {
		return nil
	}
	seq, err := store.NextNotice(ctx, n.tx, al.ID)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("[%s] %s: %s", noticeLabel(tr), n.dev.Name, rule.Name)
	if al.Subject != "" {
		title += " " + al.Subject
	}
	msg := n.dev.Name + ": " + tr.Message
	if tr.Kind == alert.Resolved {
		msg += fmt.Sprintf(" (resolved after %s)", n.now.Sub(al.FiredAt).Round(time.Second))
	}
	notice := Notice{AlertID: al.ID.String(), Seq: seq}
	aid := al.ID
	for _, c := range targets {
		d := &store.Delivery{AlertID: &aid, ChannelID: c.ID, Seq: seq, Kind: string(tr.Kind), Severity: tr.Severity,
			Title: title, Message: msg, CreatedAt: n.now}
		if _, err := store.InsertDelivery(ctx, n.tx, d); err != nil {
			return err
		}
		notice.DeliveryIDs = append(notice.DeliveryIDs, d.ID)
	}
	res.Notices = append(res.Notices, notice)
	return nil
}

func noticeLabel(tr alert.Transition) string {
	switch tr.Kind {
	case alert.Resolved:
		return "RESOLVED"
	case alert.Escalated:
		return "ESCALATED " + tr.Severity
	}
	return "FIRING " + tr.Severity
}

// orphanNotices are queued deliveries of the device's alerts that no attempt has touched for a while: their
// Notify workflow was never started (the activity result that named them was lost).
func orphanNotices(ctx context.Context, tx pgx.Tx, id uuid.UUID, now time.Time) ([]Notice, error) {
	rows, err := tx.Query(ctx, `SELECT n.alert_id, n.seq, n.id FROM notification_deliveries n JOIN alerts a ON a.id = n.alert_id
		WHERE a.device_id = $1 AND n.state = 'pending' AND n.attempts = 0 AND n.created_at < $2 AND n.created_at > $3
		ORDER BY n.alert_id, n.seq, n.id`, id, now.Add(-orphanAfter), now.Add(-NotifyScheduleToClose))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Notice
	for rows.Next() {
		var aid uuid.UUID
		var seq int
		var did int64
		if err := rows.Scan(&aid, &seq, &did); err != nil {
			return nil, err
		}
		if k := len(out) - 1; k >= 0 && out[k].AlertID == aid.String() && out[k].Seq == seq {
			out[k].DeliveryIDs = append(out[k].DeliveryIDs, did)
			continue
		}
		out = append(out, Notice{AlertID: aid.String(), Seq: seq, DeliveryIDs: []int64{did}})
	}
	return out, rows.Err()
}
