package activities

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/docker"
)

func intp(n int) *int { return &n }

func TestContainerOpInputValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   ContainerOpInput
		arg  string // "" = valid
	}{
		{"restart with timeout", ContainerOpInput{Ref: "web", Action: ActionRestart, Timeout: intp(5)}, ""},
		{"kill with signal number", ContainerOpInput{Ref: "web", Action: ActionKill, Signal: "9"}, ""},
		{"remove with force", ContainerOpInput{Ref: "0123456789ab", Action: ActionRemove, Force: true, Volumes: true}, ""},
		{"compose pull", ContainerOpInput{Project: "demo", Action: ActionPull, WorkingDir: "/srv/demo"}, ""},
		{"injection in ref", ContainerOpInput{Ref: "web;reboot", Action: ActionStop}, "ref"},
		{"option as ref", ContainerOpInput{Ref: "--privileged", Action: ActionStart}, "ref"},
		{"unknown action", ContainerOpInput{Ref: "web", Action: "explode"}, "action"},
		{"compose action on a container", ContainerOpInput{Ref: "web", Action: ActionUp}, "action"},
		{"container action on a project", ContainerOpInput{Project: "demo", Action: ActionKill}, "action"},
		{"timeout too long", ContainerOpInput{Ref: "web", Action: ActionStop, Timeout: intp(3601)}, "timeout"},
		{"timeout on start", ContainerOpInput{Ref: "web", Action: ActionStart, Timeout: intp(1)}, "timeout"},
		{"bad signal", ContainerOpInput{Ref: "web", Action: ActionKill, Signal: "$(reboot)"}, "signal"},
		{"signal on stop", ContainerOpInput{Ref: "web", Action: ActionStop, Signal: "TERM"}, "signal"},
		{"force on stop", ContainerOpInput{Ref: "web", Action: ActionStop, Force: true}, "force"},
		{"bad project", ContainerOpInput{Project: "Demo;x", Action: ActionUp}, "project"},
		{"relative workdir", ContainerOpInput{Project: "demo", Action: ActionUp, WorkingDir: "srv"}, "workdir"},
		{"ref and project", ContainerOpInput{Ref: "web", Project: "demo", Action: ActionUp}, "ref"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Validate()
			if tc.arg == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, docker.ErrInvalidArgument)
			var ae *docker.ArgError
			require.True(t, errors.As(err, &ae))
			require.Equal(t, tc.arg, ae.Arg)
		})
	}
}

func snap(state docker.State, started time.Time, restarts, exit int) OpSnapshot {
	return OpSnapshot{Containers: []ContainerSnapshot{{ID: "abc", Name: "web", State: state, StartedAt: started, RestartCount: restarts, ExitCode: exit}}}
}

// TestVerifier feeds the verifier the snapshots a real engine shows after an action and checks its verdict at
// each step.
func TestVerifier(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	t2 := t1.Add(time.Second)
	type obs struct {
		s       OpSnapshot
		at      time.Duration
		ok      bool
		failure string
	}
	tests := []struct {
		name   string
		action string
		signal string
		before OpSnapshot
		seen   []obs
	}{
		{"restart settles", ActionRestart, "", snap(docker.StateRunning, t0, 0, 0), []obs{
			{s: snap(docker.StateRunning, t0, 0, 0), at: 0},           // not restarted yet
			{s: snap(docker.StateRunning, t1, 0, 0), at: time.Second}, // restarted, settling
			{s: snap(docker.StateRunning, t1, 0, 0), at: 2 * time.Second, ok: true},
		}},
		{"exits right after start", ActionStart, "", snap(docker.StateExited, t0, 0, 0), []obs{
			{s: snap(docker.StateExited, t1, 0, 3), failure: "exited with code 3 right after start"},
		}},
		{"not started at all", ActionStart, "", snap(docker.StateExited, t0, 0, 0), []obs{
			{s: snap(docker.StateExited, t0, 0, 1), failure: "did not start"},
		}},
		{"crash loop seen while settling", ActionRestart, "", snap(docker.StateRunning, t0, 2, 3), []obs{
			{s: snap(docker.StateRunning, t1, 2, 3), at: 0},
			{s: snap(docker.StateRunning, t2, 3, 3), at: 500 * time.Millisecond, failure: "restart loop"},
		}},
		{"crash loop seen restarting", ActionRestart, "", snap(docker.StateRunning, t0, 2, 3), []obs{
			{s: snap(docker.StateRestarting, t1, 3, 3), failure: "restart loop"},
		}},
		{"stop", ActionStop, "", snap(docker.StateRunning, t0, 0, 0), []obs{
			{s: snap(docker.StateRunning, t0, 0, 0)},
			{s: snap(docker.StateExited, t0, 0, 137), ok: true},
		}},
		{"kill with HUP only delivers", ActionKill, "HUP", snap(docker.StateRunning, t0, 0, 0), []obs{
			{s: snap(docker.StateRunning, t0, 0, 0), ok: true},
		}},
		{"kill waits for the exit", ActionKill, "", snap(docker.StateRunning, t0, 0, 0), []obs{
			{s: snap(docker.StateRunning, t0, 0, 0)},
			{s: snap(docker.StateExited, t0, 0, 137), ok: true},
		}},
		{"remove", ActionRemove, "", snap(docker.StateExited, t0, 0, 0), []obs{
			{s: snap(docker.StateExited, t0, 0, 0)},
			{s: OpSnapshot{}, ok: true},
		}},
		{"a container vanishing after pause", ActionPause, "", snap(docker.StateRunning, t0, 0, 0), []obs{
			{s: OpSnapshot{}, failure: "disappeared"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &verifier{in: VerifyInput{Op: ContainerOpInput{Ref: "web", Action: tc.action, Signal: tc.signal}, Before: tc.before, Settle: time.Second}}
			for i, o := range tc.seen {
				ok, failure := v.check(o.s, t0.Add(o.at))
				require.Equal(t, o.ok, ok, "observation %d", i)
				if o.failure == "" {
					require.Empty(t, failure, "observation %d", i)
				} else {
					require.Contains(t, failure, o.failure, "observation %d", i)
				}
			}
		})
	}
}

func TestComposeVerifier(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	two := func(s1, s2 docker.State, started time.Time) OpSnapshot {
		return OpSnapshot{Containers: []ContainerSnapshot{{ID: "a", Name: "p_web_1", State: s1, StartedAt: started},
			{ID: "b", Name: "p_db_1", State: s2, StartedAt: started}}}
	}
	before := two(docker.StateRunning, docker.StateRunning, t0)
	v := &verifier{in: VerifyInput{Op: ContainerOpInput{Project: "p", Action: ActionRestart}, Before: before}}
	ok, _ := v.check(before, t0)
	require.False(t, ok, "nothing restarted yet")
	ok, _ = v.check(two(docker.StateRunning, docker.StateRunning, t0.Add(time.Minute)), t0)
	require.True(t, ok)

	v.in.Op.Action = ActionUp
	_, failure := v.check(two(docker.StateRunning, docker.StateExited, t0), t0)
	require.Contains(t, failure, "p_db_1")
	v.in.Op.Action = ActionDown
	ok, _ = v.check(OpSnapshot{}, t0)
	require.True(t, ok)
}
