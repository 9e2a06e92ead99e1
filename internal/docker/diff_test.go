package docker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDiff(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	run := Container{ID: "a1", Name: "web", State: StateRunning, Health: HealthHealthy, Started: t0}
	kinds := func(ch []Change) []ChangeKind {
		var out []ChangeKind
		for _, c := range ch {
			out = append(out, c.Kind)
		}
		return out
	}
	with := func(c Container, f func(*Container)) Container { f(&c); return c }

	tests := []struct {
		name     string
		old, cur []Container
		want     []ChangeKind
	}{
		{"nothing changed", []Container{run}, []Container{run}, nil},
		{"new container", nil, []Container{run}, []ChangeKind{ChangeCreated}},
		{"removed", []Container{run}, nil, []ChangeKind{ChangeRemoved}},
		{"stopped cleanly", []Container{run}, []Container{with(run, func(c *Container) { c.State = StateExited })}, []ChangeKind{ChangeStopped}},
		{"died", []Container{run}, []Container{with(run, func(c *Container) { c.State, c.ExitCode = StateExited, 137 })}, []ChangeKind{ChangeDied}},
		{"started", []Container{with(run, func(c *Container) { c.State = StateExited })}, []Container{run}, []ChangeKind{ChangeStarted}},
		{"paused", []Container{run}, []Container{with(run, func(c *Container) { c.State = StatePaused })}, []ChangeKind{ChangePaused}},
		{"unpaused", []Container{with(run, func(c *Container) { c.State = StatePaused })}, []Container{run}, []ChangeKind{ChangeUnpaused}},
		{"restart policy count", []Container{run}, []Container{with(run, func(c *Container) { c.RestartCount = 3 })}, []ChangeKind{ChangeRestarted}},
		{"manual restart seen in start time", []Container{run}, []Container{with(run, func(c *Container) { c.Started = t0.Add(time.Minute) })}, []ChangeKind{ChangeRestarted}},
		{"unhealthy", []Container{run}, []Container{with(run, func(c *Container) { c.Health = HealthUnhealthy })}, []ChangeKind{ChangeHealthChanged}},
		{"created never started is not a stop", []Container{with(run, func(c *Container) { c.State = StateCreated })},
			[]Container{with(run, func(c *Container) { c.State = StateExited })}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, kinds(Diff(tt.old, tt.cur)))
		})
	}
	died := Diff([]Container{run}, []Container{with(run, func(c *Container) { c.State, c.ExitCode = StateExited, 2 })})
	require.Equal(t, "warning", died[0].Severity())
	require.Equal(t, 2, died[0].ExitCode)
	restarted := Diff([]Container{run}, []Container{with(run, func(c *Container) { c.RestartCount = 4 })})
	require.Equal(t, 4, restarted[0].Restarts)
}

func TestNeedsInspect(t *testing.T) {
	prev := Container{ID: "a1", State: StateRunning, Status: "Up 3 hours", Health: HealthNone}
	require.True(t, NeedsInspect(nil, prev))
	require.False(t, NeedsInspect(&prev, prev))
	require.True(t, NeedsInspect(&prev, Container{ID: "a1", State: StateExited, Health: HealthNone}))
	require.True(t, NeedsInspect(&prev, Container{ID: "a1", State: StateRunning, Status: "Up 12 seconds", Health: HealthNone}))
	require.True(t, NeedsInspect(&prev, Container{ID: "a1", State: StateRunning, Status: "Up Less than a second", Health: HealthNone}))
	require.False(t, NeedsInspect(&prev, Container{ID: "a1", State: StateRunning, Status: "Up 2 minutes", Health: HealthNone}))
}
