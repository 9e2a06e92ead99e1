package activities

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/infrastructor/infrastructor/internal/docker"
)

// TestJudge checks the pure verdict on single observations of every action: reached, failed (with what was
// seen) or keep waiting.
func TestJudge(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	running, exited := docker.StateRunning, docker.StateExited
	one := func(state docker.State, started time.Time, restarts, exit int) OpSnapshot {
		return snap(state, started, restarts, exit)
	}
	seenUp := upTrack{since: t0, ref: one(running, t1, 0, 0).Containers[0]}
	tests := []struct {
		name    string
		action  string
		signal  string
		before  OpSnapshot
		cur     OpSnapshot
		now     time.Duration // after t0
		track   upTrack
		want    verdict
		failure string
	}{
		{name: "start: still created", action: ActionStart, before: one(docker.StateCreated, t0, 0, 0), cur: one(docker.StateCreated, t0, 0, 0), want: verdictFailed, failure: "is created (exit code 0) and did not start"},
		{name: "start: did not start", action: ActionStart, before: one(exited, t0, 0, 0), cur: one(exited, t0, 0, 1), want: verdictFailed, failure: "exited (exit code 1) and did not start"},
		{name: "start: exits right after start", action: ActionStart, before: one(exited, t0, 0, 0), cur: one(exited, t1, 0, 3), want: verdictFailed, failure: "exited with code 3 right after start"},
		{name: "start: dead right after start", action: ActionStart, before: one(exited, t0, 0, 0), cur: one(docker.StateDead, t1, 0, 139), want: verdictFailed, failure: "exited with code 139"},
		{name: "start: up, settling begins", action: ActionStart, before: one(exited, t0, 0, 0), cur: one(running, t1, 0, 0), want: verdictWait},
		{name: "start: settled", action: ActionStart, before: one(exited, t0, 0, 0), cur: one(running, t1, 0, 0), now: time.Second, track: seenUp, want: verdictReached},
		{name: "start: still settling", action: ActionStart, before: one(exited, t0, 0, 0), cur: one(running, t1, 0, 0), now: 500 * time.Millisecond, track: seenUp, want: verdictWait},
		{name: "start: restarted while settling", action: ActionStart, before: one(exited, t0, 0, 0), cur: one(running, t1.Add(time.Second), 1, 2), now: time.Second, track: seenUp, want: verdictFailed, failure: "restart loop: it started again (exit code 2, restarted 1 times)"},
		{name: "start: restart loop", action: ActionStart, before: one(exited, t0, 0, 0), cur: one(docker.StateRestarting, t1, 4, 1), want: verdictFailed, failure: "restart loop: exit code 1, restarted 4 times"},
		{name: "restart: StartedAt not moved yet", action: ActionRestart, before: one(running, t0, 0, 0), cur: one(running, t0, 0, 0), want: verdictWait},
		{name: "restart: StartedAt before the old one", action: ActionRestart, before: one(running, t1, 0, 0), cur: one(running, t0, 0, 0), want: verdictWait},
		{name: "restart: stopped and not started", action: ActionRestart, before: one(running, t0, 0, 0), cur: one(exited, t0, 0, 143), want: verdictFailed, failure: "did not start"},
		{name: "restart: StartedAt after, settling", action: ActionRestart, before: one(running, t0, 0, 0), cur: one(running, t1, 0, 0), want: verdictWait},
		{name: "restart: StartedAt after, settled", action: ActionRestart, before: one(running, t0, 0, 0), cur: one(running, t1, 0, 0), now: 2 * time.Second, track: seenUp, want: verdictReached},
		{name: "stop: still running", action: ActionStop, before: one(running, t0, 0, 0), cur: one(running, t0, 0, 0), want: verdictWait},
		{name: "stop: exited", action: ActionStop, before: one(running, t0, 0, 0), cur: one(exited, t0, 0, 0), want: verdictReached},
		{name: "stop: created", action: ActionStop, before: one(running, t0, 0, 0), cur: one(docker.StateCreated, t0, 0, 0), want: verdictReached},
		{name: "stop: dead", action: ActionStop, before: one(running, t0, 0, 0), cur: one(docker.StateDead, t0, 0, 0), want: verdictReached},
		{name: "pause: running", action: ActionPause, before: one(running, t0, 0, 0), cur: one(running, t0, 0, 0), want: verdictWait},
		{name: "pause: paused", action: ActionPause, before: one(running, t0, 0, 0), cur: one(docker.StatePaused, t0, 0, 0), want: verdictReached},
		{name: "pause: vanished", action: ActionPause, before: one(running, t0, 0, 0), cur: OpSnapshot{}, want: verdictFailed, failure: "container web disappeared after pause"},
		{name: "unpause: still paused", action: ActionUnpause, before: one(docker.StatePaused, t0, 0, 0), cur: one(docker.StatePaused, t0, 0, 0), want: verdictWait},
		{name: "unpause: running, same StartedAt counts", action: ActionUnpause, before: one(docker.StatePaused, t0, 0, 0), cur: one(running, t0, 0, 0), track: upTrack{since: t0, ref: one(running, t0, 0, 0).Containers[0]}, now: time.Second, want: verdictReached},
		{name: "unpause: exited", action: ActionUnpause, before: one(docker.StatePaused, t0, 0, 0), cur: one(exited, t0, 0, 137), want: verdictFailed, failure: "exited with code 137 right after unpause"},
		{name: "kill: still running", action: ActionKill, before: one(running, t0, 0, 0), cur: one(running, t0, 0, 0), want: verdictWait},
		{name: "kill: exited", action: ActionKill, before: one(running, t0, 0, 0), cur: one(exited, t0, 0, 137), want: verdictReached},
		{name: "kill 9: exited", action: ActionKill, signal: "9", before: one(running, t0, 0, 0), cur: one(exited, t0, 0, 137), want: verdictReached},
		{name: "kill SIGKILL: running", action: ActionKill, signal: "SIGKILL", before: one(running, t0, 0, 0), cur: one(running, t0, 0, 0), want: verdictWait},
		{name: "kill HUP: delivered", action: ActionKill, signal: "HUP", before: one(running, t0, 0, 0), cur: one(running, t0, 0, 0), want: verdictReached},
		{name: "remove: still there", action: ActionRemove, before: one(exited, t0, 0, 0), cur: one(exited, t0, 0, 0), want: verdictWait},
		{name: "remove: gone", action: ActionRemove, before: one(exited, t0, 0, 0), cur: OpSnapshot{}, want: verdictReached},
		{name: "unknown action waits", action: "explode", before: one(running, t0, 0, 0), cur: one(running, t0, 0, 0), want: verdictWait},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := VerifyInput{Op: ContainerOpInput{Ref: "web", Action: tc.action, Signal: tc.signal}, Before: tc.before, Settle: time.Second}
			got, failure, _ := judge(in, tc.cur, t0.Add(tc.now), tc.track)
			require.Equal(t, tc.want, got)
			if tc.failure == "" {
				require.Empty(t, failure)
			} else {
				require.Contains(t, failure, tc.failure)
			}
		})
	}
}

// TestJudgeSettleTrack checks that the track judge returns starts the settle period at the first observation
// of a running container, and that without a settle period the first such observation is enough.
func TestJudgeSettleTrack(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := VerifyInput{Op: ContainerOpInput{Ref: "web", Action: ActionStart}, Before: snap(docker.StateExited, t0, 0, 0), Settle: time.Second}
	cur := snap(docker.StateRunning, t0.Add(time.Minute), 0, 0)
	v, _, track := judge(in, cur, t0, upTrack{})
	require.Equal(t, verdictWait, v)
	require.Equal(t, t0, track.since)
	require.Equal(t, cur.Containers[0], track.ref)
	v, _, _ = judge(in, cur, t0.Add(time.Second), track)
	require.Equal(t, verdictReached, v)

	in.Settle = 0
	v, _, _ = judge(in, cur, t0, upTrack{})
	require.Equal(t, verdictReached, v)
}

// TestJudgeCompose checks the verdicts on a compose project: every container running (restart: every one
// started anew), none for down, and a container that exited fails.
func TestJudgeCompose(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	two := func(s1, s2 docker.State, started1, started2 time.Time) OpSnapshot {
		return OpSnapshot{Containers: []ContainerSnapshot{{ID: "a", Name: "p_web_1", State: s1, StartedAt: started1},
			{ID: "b", Name: "p_db_1", State: s2, StartedAt: started2, ExitCode: 2}}}
	}
	running, exited := docker.StateRunning, docker.StateExited
	before := two(running, running, t0, t0)
	tests := []struct {
		name    string
		action  string
		cur     OpSnapshot
		want    verdict
		failure string
	}{
		{"up: no containers yet", ActionUp, OpSnapshot{}, verdictWait, ""},
		{"up: one still created", ActionUp, two(running, docker.StateCreated, t0, t0), verdictWait, ""},
		{"up: all running", ActionUp, two(running, running, t0, t0), verdictReached, ""},
		{"up: one exited", ActionUp, two(running, exited, t0, t0), verdictFailed, "container p_db_1 of project p exited with code 2"},
		{"pull: all running", ActionPull, two(running, running, t1, t1), verdictReached, ""},
		{"pull: one dead", ActionPull, two(running, docker.StateDead, t1, t1), verdictFailed, "p_db_1"},
		{"restart: none restarted", ActionRestart, before, verdictWait, ""},
		{"restart: one restarted", ActionRestart, two(running, running, t1, t0), verdictWait, ""},
		{"restart: all restarted", ActionRestart, two(running, running, t1, t1), verdictReached, ""},
		{"down: containers left", ActionDown, two(exited, exited, t0, t0), verdictWait, ""},
		{"down: none left", ActionDown, OpSnapshot{}, verdictReached, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := VerifyInput{Op: ContainerOpInput{Project: "p", Action: tc.action}, Before: before}
			got, failure, _ := judge(in, tc.cur, t0, upTrack{})
			require.Equal(t, tc.want, got)
			if tc.failure == "" {
				require.Empty(t, failure)
			} else {
				require.Contains(t, failure, tc.failure)
			}
		})
	}
}
