package alert

import "time"

// State is the evaluator's memory of one (rule, device, subject). It is stored as JSON between polls.
type State struct {
	// WarnSince and CritSince are when the value last rose to the warning / critical level and stayed there.
	WarnSince *time.Time `json:"warn_since,omitempty"`
	CritSince *time.Time `json:"crit_since,omitempty"`
	// Firing is the severity the subject fires at, "" when not firing.
	Firing string `json:"firing,omitempty"`
	// AlertID is the open alert's ID while firing (set by the caller when it records the alert).
	AlertID string    `json:"alert_id,omitempty"`
	FiredAt time.Time `json:"fired_at,omitzero"`
	// ClearSince is when a firing subject's condition last became clear.
	ClearSince *time.Time `json:"clear_since,omitempty"`
	Value      float64    `json:"value"`
	// Seen records that a container was present once, for CondMissing.
	Seen bool `json:"seen,omitempty"`
	// Samples are recent counter readings, for CondRestarting.
	Samples []Sample `json:"samples,omitempty"`
}

// Sample is one counter reading.
type Sample struct {
	T time.Time `json:"t"`
	N float64   `json:"n"`
}

// PendingSince is when the condition began to hold, or nil.
func (s *State) PendingSince() *time.Time {
	if s.WarnSince != nil {
		return s.WarnSince
	}
	return s.CritSince
}

// Idle reports whether the state carries nothing worth storing.
func (s *State) Idle() bool {
	return s.WarnSince == nil && s.CritSince == nil && s.Firing == "" && s.ClearSince == nil && !s.Seen &&
		len(s.Samples) == 0
}

// TransitionKind is what changed in one evaluation.
type TransitionKind string

// Transitions. Only these are notified.
const (
	None      TransitionKind = ""
	Fired     TransitionKind = "firing"
	Escalated TransitionKind = "escalated"
	Resolved  TransitionKind = "resolved"
)

// Transition is the outcome of one evaluation.
type Transition struct {
	Kind     TransitionKind
	Severity string
	Value    float64
	Message  string
}

// Evaluate advances the state of one subject ("" for device-wide rules) by one reading at now. rd is nil when the subject is absent from a
// known observation (an unmounted filesystem, a removed container): the condition then counts as clear, except
// for CondMissing, where absence after presence is the condition.
func Evaluate(r Rule, subject string, prev State, rd *Reading, now time.Time) (State, Transition) {
	s := prev
	value := 0.0
	switch {
	case r.Kind == KindContainer && r.Condition == CondMissing:
		if rd != nil {
			s.Seen = true
		} else if s.Seen {
			value = 1
		}
	case rd != nil && rd.Counter:
		value = s.countIncrease(rd.Value, now, r.Window)
	case rd != nil:
		value = rd.Value
	default:
		s.Samples = nil
	}
	s.Value = value

	warn, crit := levels(r)
	h := 1 - r.HysteresisPercent/100
	// A level already reached stays reached until the value falls below its threshold lowered by the hysteresis.
	active := func(thr *float64, since *time.Time, lvl string) bool {
		if thr == nil {
			return false
		}
		t := *thr
		if since != nil || Rank(s.Firing) >= Rank(lvl) {
			t *= h
		}
		return value >= t
	}
	critOn := active(crit, s.CritSince, SeverityCritical)
	warnOn := active(warn, s.WarnSince, SeverityWarning) || (critOn && warn != nil)
	s.WarnSince = track(s.WarnSince, warnOn, now)
	s.CritSince = track(s.CritSince, critOn, now)

	due := ""
	switch {
	case s.CritSince != nil && now.Sub(*s.CritSince) >= r.Duration:
		due = SeverityCritical
	case s.WarnSince != nil && now.Sub(*s.WarnSince) >= r.Duration:
		due = SeverityWarning
	}

	tr := Transition{Value: value}
	switch {
	case Rank(due) > Rank(s.Firing):
		tr.Kind, tr.Severity = Fired, due
		if s.Firing != "" {
			tr.Kind = Escalated
		} else {
			s.FiredAt = now
		}
		s.Firing, s.ClearSince = due, nil
	case s.Firing != "" && !warnOn && !critOn:
		if s.ClearSince == nil {
			c := now
			s.ClearSince = &c
		}
		if now.Sub(*s.ClearSince) >= r.ClearFor {
			tr.Kind, tr.Severity = Resolved, s.Firing
			s.Firing, s.AlertID, s.ClearSince, s.FiredAt = "", "", nil, time.Time{}
		}
	case s.Firing != "":
		s.ClearSince = nil
	}
	if tr.Kind != None {
		tr.Message = Describe(r, subject, value)
	}
	return s, tr
}

// levels are the rule's thresholds; condition rules fire at their severity once the value reaches 1 (or more
// restarts than allowed).
func levels(r Rule) (warn, crit *float64) {
	// Check rules carry thresholds like metric rules (pool capacity 80/90 %, drive temperature 50/60 °C).
	if r.Kind == KindMetric || r.Kind == KindOffline || r.Kind == KindCheck {
		return r.Warning, r.Critical
	}
	one := 1.0
	if r.Kind == KindContainer && r.Condition == CondRestarting {
		one = float64(r.Restarts) + 1
	}
	if r.Severity == SeverityWarning {
		return &one, nil
	}
	return nil, &one
}

func track(since *time.Time, on bool, now time.Time) *time.Time {
	switch {
	case !on:
		return nil
	case since == nil:
		return &now
	}
	return since
}

// countIncrease records a counter reading and returns how much it rose over the readings within the window
// (polls are frequent compared with any useful window, so the oldest reading in it is a fair baseline). A
// counter that went down (the container was recreated) starts afresh.
func (s *State) countIncrease(n float64, now time.Time, window time.Duration) float64 {
	if len(s.Samples) > 0 && n < s.Samples[len(s.Samples)-1].N {
		s.Samples = nil
	}
	s.Samples = append(s.Samples, Sample{T: now, N: n})
	cut := 0
	for cut < len(s.Samples)-1 && now.Sub(s.Samples[cut].T) > window {
		cut++
	}
	s.Samples = s.Samples[cut:]
	return n - s.Samples[0].N
}
