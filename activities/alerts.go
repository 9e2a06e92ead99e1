package activities

import (
	"bytes"
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
	// Checks are the readings of a slow-cadence collection (never set by the poll loop): when set, only check
	// rules are evaluated, from these readings.
	Checks map[string][]alert.Reading `json:"-"`
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
	return a.evaluateWith(ctx, tx, id, in, now, readBack(in.Collected))
}

// evaluateWith is evaluate with the poll's samples supplied by samples rather than read back (#17).
func (a *Activities) evaluateWith(ctx context.Context, tx pgx.Tx, id uuid.UUID, in EvaluateAlertsInput, now time.Time, samples pollSamples) (*EvaluateAlertsResult, error) {
	// Every evaluation reads its inputs in one round trip and its samples in a second one; unchanged states
	// are not written back, so a quiet poll costs two round trips besides the transaction's own.
	inputs, err := store.LoadAlertInputsCached(ctx, tx, a.AlertConfig, id, now.Add(-NotifyScheduleToClose), now.Add(-orphanAfter))
	if err != nil {
		return nil, err
	}
	dev := inputs.Device
	byRule := map[uuid.UUID]*store.RuleOverride{}
	for _, o := range inputs.Overrides {
		byRule[o.RuleID] = o
	}
	type ruleCase struct {
		stored  *store.AlertRule
		rule    alert.Rule
		applies bool
	}
	cases := make([]ruleCase, 0, len(inputs.Rules))
	var needs alert.Needs
	for _, sr := range inputs.Rules {
		var ov *alert.Override
		if o := byRule[sr.ID]; o != nil {
			ov = o.Override()
		}
		r := sr.Rule().WithOverride(ov)
		if (in.Checks != nil) != (r.Kind == alert.KindCheck) {
			// Check rules are evaluated at collections, the others after polls.
			continue
		}
		c := ruleCase{stored: sr, rule: r, applies: r.Applies(id.String(), dev.Tags)}
		if c.applies {
			needs.Add(r.Needs())
		}
		cases = append(cases, c)
	}
	obs, err := observe(ctx, tx, dev, in, now, needs, samples)
	if err != nil {
		return nil, err
	}
	var ws []alert.Window
	for _, w := range inputs.Windows {
		ws = append(ws, w.Window())
	}
	n := &noticer{tx: tx, dev: dev, now: now, maintenance: alert.InMaintenance(ws, id.String(), dev.Tags, now),
		channels: inputs.Channels}

	states := inputs.States
	changed := map[store.StateKey]alert.State{}
	res := &EvaluateAlertsResult{}
	for _, c := range cases {
		sr, r, applies := c.stored, c.rule, c.applies
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
			stored, had := states[key]
			prev := stored
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
			if stateChanged(stored, had, next) {
				changed[key] = next
			}
		}
	}
	if len(changed) > 0 {
		if err := store.SaveAlertStates(ctx, tx, id, changed); err != nil {
			return nil, err
		}
	}
	for _, o := range orphanNotices(inputs.Stale) {
		if !slices.ContainsFunc(res.Notices, func(x Notice) bool { return x.WorkflowKey() == o.WorkflowKey() }) {
			res.Notices = append(res.Notices, o)
		}
	}
	return res, nil
}

// stateChanged reports whether next must be written: a stored state that differs from it (or is now idle, to
// be deleted), or a new state that carries something. Most subjects of most polls stay idle or unchanged, and
// skipping their writes is most of the evaluation's database cost.
func stateChanged(stored alert.State, had bool, next alert.State) bool {
	if !had {
		return !next.Idle()
	}
	if next.Idle() {
		return true
	}
	// Both sides encode the same way (stored was decoded from this encoding), so equal bytes mean equal states.
	a, aerr := json.Marshal(stored)
	b, berr := json.Marshal(next)
	return aerr != nil || berr != nil || !bytes.Equal(a, b)
}

// observe gathers what is known about the device after this poll attempt, reading back only the samples that
// the applicable rules need.
func observe(ctx context.Context, tx pgx.Tx, dev *store.Device, in EvaluateAlertsInput, now time.Time, needs alert.Needs, samples pollSamples) (alert.Observation, error) {
	o := alert.Observation{Time: now, Reachable: !in.Collected.IsZero(), LastSeen: dev.CreatedAt, Checks: in.Checks}
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
	var caps collector.Capabilities
	if len(dev.Capabilities) > 0 && json.Unmarshal(dev.Capabilities, &caps) == nil {
		o.Cores = caps.CPUCount
	}
	var avail docker.Availability
	o.ContainersKnown = len(dev.Docker) > 0 && json.Unmarshal(dev.Docker, &avail) == nil && avail.State == docker.Available
	needs.Containers = needs.Containers && o.ContainersKnown
	m, containers, err := samples(ctx, tx, dev, needs)
	if err != nil {
		return o, err
	}
	o.Metrics, o.Containers = m, containers
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

// orphanNotices groups queued deliveries of the device's alerts that no attempt has touched for a while into
// notices: their Notify workflow was never started (the activity result that named them was lost).
func orphanNotices(stale []*store.PendingDelivery) []Notice {
	var out []Notice
	for _, d := range stale {
		if k := len(out) - 1; k >= 0 && out[k].AlertID == d.AlertID.String() && out[k].Seq == d.Seq {
			out[k].DeliveryIDs = append(out[k].DeliveryIDs, d.ID)
			continue
		}
		out = append(out, Notice{AlertID: d.AlertID.String(), Seq: d.Seq, DeliveryIDs: []int64{d.ID}})
	}
	return out
}
