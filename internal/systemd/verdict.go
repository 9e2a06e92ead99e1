package systemd

import (
	"fmt"
	"sort"
)

// Level is how serious a unit's state is.
type Level string

// Levels, from fine to worst. They match the alert severities of the product.
const (
	OK       Level = "ok"
	Warning  Level = "warning"
	Critical Level = "critical"
)

// Verdict is the judgement on one unit, with the reason in words.
type Verdict struct {
	Unit    string `json:"unit"`
	Level   Level  `json:"level"`
	Watched bool   `json:"watched,omitempty"`
	Reason  string `json:"reason"`
}

// Judge combines the failed list and the states of the watched units: a watched unit that is not active is
// critical (whatever else is true of it), any other failed unit is a warning, a watched active unit is ok.
// A watched unit absent from states is critical too: its state could not be read. The result is sorted worst
// first, then by unit name, so it is stable for events and alerts.
func Judge(failed []FailedUnit, watched []string, states []UnitState) []Verdict {
	byUnit := make(map[string]UnitState, len(states))
	for _, s := range states {
		byUnit[s.Unit] = s
	}
	seen := make(map[string]bool)
	var out []Verdict
	for _, w := range watched {
		if seen[w] {
			continue
		}
		seen[w] = true
		v := Verdict{Unit: w, Watched: true}
		s, ok := byUnit[w]
		switch {
		case !ok:
			v.Level, v.Reason = Critical, "watched unit: state not reported by systemctl"
		case s.LoadState == "not-found":
			v.Level, v.Reason = Critical, "watched unit does not exist on the device (load state not-found)"
		case s.ActiveState == "active" || s.ActiveState == "reloading" || s.ActiveState == "refreshing":
			v.Level, v.Reason = OK, fmt.Sprintf("watched unit is %s (%s)", s.ActiveState, s.SubState)
		case s.ActiveState == "failed":
			v.Level, v.Reason = Critical, fmt.Sprintf("watched unit failed (%s)", s.SubState)
		default:
			v.Level, v.Reason = Critical, fmt.Sprintf("watched unit is not active: %s (%s)", s.ActiveState, s.SubState)
		}
		out = append(out, v)
	}
	for _, f := range failed {
		if seen[f.Unit] {
			continue
		}
		seen[f.Unit] = true
		out = append(out, Verdict{Unit: f.Unit, Level: Warning,
			Reason: fmt.Sprintf("unit failed (%s/%s)", f.Active, f.Sub)})
	}
	rank := map[Level]int{Critical: 0, Warning: 1, OK: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Level] != rank[out[j].Level] {
			return rank[out[i].Level] < rank[out[j].Level]
		}
		return out[i].Unit < out[j].Unit
	})
	return out
}
