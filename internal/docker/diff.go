package docker

import (
	"regexp"
	"sort"
)

// ChangeKind names what happened to a container between two inventories.
type ChangeKind string

// Container changes, recorded as events "container.<kind>".
const (
	ChangeCreated       ChangeKind = "created"
	ChangeStarted       ChangeKind = "started"
	ChangeStopped       ChangeKind = "stopped"
	ChangeDied          ChangeKind = "died"
	ChangePaused        ChangeKind = "paused"
	ChangeUnpaused      ChangeKind = "unpaused"
	ChangeRestarted     ChangeKind = "restarted"
	ChangeHealthChanged ChangeKind = "health_changed"
	ChangeRemoved       ChangeKind = "removed"
)

// Change is one difference between two inventories of a device's containers.
type Change struct {
	Kind        ChangeKind `json:"kind"`
	ContainerID string     `json:"container_id"`
	Name        string     `json:"name"`
	State       State      `json:"state,omitempty"`
	ExitCode    int        `json:"exit_code,omitempty"`
	Health      Health     `json:"health,omitempty"`
	PrevHealth  Health     `json:"previous_health,omitempty"`
	// Restarts is how many times the container restarted since the previous inventory (at least 1 for
	// ChangeRestarted).
	Restarts int `json:"restarts,omitempty"`
}

// Severity is how an event of this change is classed: a container that died with a non-zero code or turned
// unhealthy is a warning; everything else is information.
func (c Change) Severity() string {
	switch {
	case c.Kind == ChangeDied, c.Kind == ChangeHealthChanged && c.Health == HealthUnhealthy:
		return "warning"
	}
	return "info"
}

func stopped(s State) bool { return s == StateExited || s == StateDead || s == StateCreated }

// Diff lists what changed from old to cur (complete inventories of one device), ordered by container name.
// A restart is seen either in the restart count (restart policies) or in a later start time of a container
// that is running in both (manual restarts between two polls).
func Diff(old, cur []Container) []Change {
	prev := make(map[string]*Container, len(old))
	for i := range old {
		prev[old[i].ID] = &old[i]
	}
	var out []Change
	seen := make(map[string]bool, len(cur))
	for i := range cur {
		c := &cur[i]
		seen[c.ID] = true
		ch := Change{ContainerID: c.ID, Name: c.Name, State: c.State, ExitCode: c.ExitCode, Health: c.Health}
		o, ok := prev[c.ID]
		if !ok {
			ch.Kind = ChangeCreated
			out = append(out, ch)
			continue
		}
		restarts := c.RestartCount - o.RestartCount
		if restarts <= 0 && c.State == StateRunning && o.State == StateRunning &&
			!o.Started.IsZero() && c.Started.After(o.Started) {
			restarts = 1
		}
		switch {
		case restarts > 0:
			ch.Kind, ch.Restarts = ChangeRestarted, restarts
			out = append(out, ch)
		case o.State == StatePaused && c.State == StateRunning:
			ch.Kind = ChangeUnpaused
			out = append(out, ch)
		case o.State != StateRunning && c.State == StateRunning:
			ch.Kind = ChangeStarted
			out = append(out, ch)
		case o.State == StateRunning && c.State == StatePaused:
			ch.Kind = ChangePaused
			out = append(out, ch)
		}
		if !stopped(o.State) && (c.State == StateExited || c.State == StateDead) {
			ch.Kind = ChangeStopped
			if c.ExitCode != 0 {
				ch.Kind = ChangeDied
			}
			out = append(out, ch)
		}
		if c.Health != o.Health && c.Health != HealthNone && c.Health != "" {
			hc := ch
			hc.Kind, hc.PrevHealth = ChangeHealthChanged, o.Health
			out = append(out, hc)
		}
	}
	for _, o := range old {
		if !seen[o.ID] {
			out = append(out, Change{Kind: ChangeRemoved, ContainerID: o.ID, Name: o.Name, State: o.State})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// NeedsInspect reports whether a container seen in docker ps must be inspected again: it is new, its state,
// health or creation changed, or it may have restarted since (restarting, or up for under a minute), since ps
// shows neither restart counts nor start times.
func NeedsInspect(prev *Container, cur Container) bool {
	if prev == nil || prev.State != cur.State || prev.Health != cur.Health || !prev.Created.Equal(cur.Created) {
		return true
	}
	if cur.State == StateRestarting {
		return true
	}
	return cur.State == StateRunning && upRecently(cur.Status)
}

// upRecently matches docker's "Up Less than a second", "Up 1 second", "Up 42 seconds" (and the "(healthy)"
// suffixes), i.e. containers started within the last minute.
func upRecently(status string) bool {
	return upSecondsPattern.MatchString(status)
}

// upSecondsPattern matches the status docker ps shows for a container started less than a minute ago.
var upSecondsPattern = regexp.MustCompile(`^Up (Less than a second|About a second|\d+ seconds?)\b`)
