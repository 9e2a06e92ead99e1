package activities

import (
	"fmt"
	"time"

	"github.com/infrastructor/infrastructor/internal/docker"
)

// actDone reports whether the state cur shows that the action has already taken effect since before.
func actDone(in ContainerOpInput, before *ContainerSnapshot, cur *docker.Container) bool {
	if cur == nil {
		return in.Action == ActionRemove
	}
	switch in.Action {
	case ActionStart, ActionUnpause:
		return cur.State == docker.StateRunning
	case ActionStop, ActionKill:
		return cur.State != docker.StateRunning && cur.State != docker.StatePaused && cur.State != docker.StateRestarting
	case ActionRestart:
		return before != nil && cur.Started.After(before.StartedAt)
	case ActionPause:
		return cur.State == docker.StatePaused
	}
	return false
}

func allRestarted(before, cur OpSnapshot) bool {
	if len(cur.Containers) == 0 {
		return false
	}
	prev := before.byID()
	for _, c := range cur.Containers {
		if p, ok := prev[c.ID]; ok && !c.StartedAt.After(p.StartedAt) {
			return false
		}
	}
	return true
}

// verdict is the verify step's judgement of one observation of the target.
type verdict int

const (
	// verdictWait: the target has not reached the action's state yet and still may.
	verdictWait verdict = iota
	// verdictReached: the target is in the state the action leads to.
	verdictReached
	// verdictFailed: the target can no longer get there (exited right after start, crash loop, vanished).
	verdictFailed
)

// upTrack is all that judging remembers between observations: since when a started container has been seen up,
// and how it looked then. The zero value means it has not been seen up yet.
type upTrack struct {
	since time.Time
	ref   ContainerSnapshot
}

// judge decides from one observation of the target (cur, seen at now), the action and the state before it
// (in.Op, in.Before) and what earlier observations left (track) whether the action's target state is reached,
// has failed (with a message saying what was seen) or is still to be waited for. It does no I/O, so every
// verdict can be tested without a device; the returned track goes with the next observation.
func judge(in VerifyInput, cur OpSnapshot, now time.Time, track upTrack) (verdict, string, upTrack) {
	op := in.Op
	if op.IsCompose() {
		v, failure := judgeCompose(in, cur)
		return v, failure, track
	}
	c, before := cur.one(), in.Before.one()
	if c == nil {
		if op.Action == ActionRemove {
			return verdictReached, "", track
		}
		return verdictFailed, fmt.Sprintf("container %s disappeared after %s", op.Ref, op.Action), track
	}
	reachedIf := func(ok bool) (verdict, string, upTrack) {
		if ok {
			return verdictReached, "", track
		}
		return verdictWait, "", track
	}
	switch op.Action {
	case ActionRemove:
		return verdictWait, "", track
	case ActionStop:
		return reachedIf(c.State == docker.StateExited || c.State == docker.StateCreated || c.State == docker.StateDead)
	case ActionPause:
		return reachedIf(c.State == docker.StatePaused)
	case ActionKill:
		if sig, _ := docker.NormalizeSignal(op.Signal); op.Signal == "" || sig == "SIGKILL" || sig == "9" {
			return reachedIf(c.State == docker.StateExited || c.State == docker.StateDead)
		}
		// Other signals may legitimately be handled by the process: delivery is all there is to verify.
		return verdictReached, "", track
	case ActionUnpause:
		return judgeSettled(in, c, before, now, track, false)
	case ActionStart, ActionRestart:
		return judgeSettled(in, c, before, now, track, true)
	}
	return verdictWait, "", track
}

// judgeSettled follows a container that should be running until it has stayed up for in.Settle (same StartedAt,
// no restarts). With needNewStart the container must have started after before (a restart or start really
// happened).
func judgeSettled(in VerifyInput, c, before *ContainerSnapshot, now time.Time, track upTrack, needNewStart bool) (verdict, string, upTrack) {
	started := before == nil || c.StartedAt.After(before.StartedAt) || !needNewStart
	if !started {
		if c.State == docker.StateRunning || c.State == docker.StateRestarting || c.State == docker.StatePaused {
			return verdictWait, "", track // the action has not shown yet
		}
		return verdictFailed, fmt.Sprintf("container %s is %s (exit code %d) and did not start", c.Name, c.State, c.ExitCode), track
	}
	switch c.State {
	case docker.StateExited, docker.StateDead:
		return verdictFailed, fmt.Sprintf("container %s exited with code %d right after %s", c.Name, c.ExitCode, in.Op.Action), track
	case docker.StateRestarting:
		return verdictFailed, fmt.Sprintf("container %s is in a restart loop: exit code %d, restarted %d times", c.Name, c.ExitCode, c.RestartCount), track
	case docker.StateRunning:
	default:
		return verdictWait, "", track
	}
	if track.since.IsZero() {
		track = upTrack{since: now, ref: *c}
		if in.Settle <= 0 {
			return verdictReached, "", track
		}
		return verdictWait, "", track
	}
	if !c.StartedAt.Equal(track.ref.StartedAt) || c.RestartCount != track.ref.RestartCount {
		return verdictFailed, fmt.Sprintf("container %s is in a restart loop: it started again (exit code %d, restarted %d times)", c.Name, c.ExitCode, c.RestartCount), track
	}
	if now.Sub(track.since) >= in.Settle {
		return verdictReached, "", track
	}
	return verdictWait, "", track
}

// judgeCompose is judge for a compose project: every container running (and, for restart, started anew), or
// none for down. A container that exited fails the operation.
func judgeCompose(in VerifyInput, cur OpSnapshot) (verdict, string) {
	switch in.Op.Action {
	case ActionDown:
		if len(cur.Containers) == 0 {
			return verdictReached, ""
		}
		return verdictWait, ""
	case ActionUp, ActionPull, ActionRestart:
		if len(cur.Containers) == 0 {
			return verdictWait, ""
		}
		for _, c := range cur.Containers {
			if c.State != docker.StateRunning {
				if c.State == docker.StateExited || c.State == docker.StateDead {
					return verdictFailed, fmt.Sprintf("container %s of project %s exited with code %d", c.Name, in.Op.Project, c.ExitCode)
				}
				return verdictWait, ""
			}
		}
		if in.Op.Action == ActionRestart && !allRestarted(in.Before, cur) {
			return verdictWait, ""
		}
		return verdictReached, ""
	}
	return verdictWait, ""
}

// verifier judges successive snapshots of a target after an action, carrying judge's track between them.
type verifier struct {
	in VerifyInput
	up upTrack
}

// check returns ok when the target is in its final state, or a failure message when it can no longer get
// there.
func (v *verifier) check(cur OpSnapshot, now time.Time) (ok bool, failure string) {
	var verdict verdict
	verdict, failure, v.up = judge(v.in, cur, now, v.up)
	return verdict == verdictReached, failure
}
