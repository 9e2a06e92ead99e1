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

// verifier judges successive snapshots of a target after an action.
type verifier struct {
	in VerifyInput
	// upSince and upRef track a started container through the settle period.
	upSince time.Time
	upRef   ContainerSnapshot
}

// check returns ok when the target is in its final state, or a failure message when it can no longer get
// there.
func (v *verifier) check(cur OpSnapshot, now time.Time) (ok bool, failure string) {
	op := v.in.Op
	if op.IsCompose() {
		return v.checkCompose(cur)
	}
	c, before := cur.one(), v.in.Before.one()
	if c == nil {
		if op.Action == ActionRemove {
			return true, ""
		}
		return false, fmt.Sprintf("container %s disappeared after %s", op.Ref, op.Action)
	}
	switch op.Action {
	case ActionRemove:
		return false, ""
	case ActionStop:
		return c.State == docker.StateExited || c.State == docker.StateCreated || c.State == docker.StateDead, ""
	case ActionPause:
		return c.State == docker.StatePaused, ""
	case ActionKill:
		if sig, _ := docker.NormalizeSignal(op.Signal); op.Signal == "" || sig == "SIGKILL" || sig == "9" {
			return c.State == docker.StateExited || c.State == docker.StateDead, ""
		}
		// Other signals may legitimately be handled by the process: delivery is all there is to verify.
		return true, ""
	case ActionUnpause:
		return v.settled(c, before, now, false)
	case ActionStart, ActionRestart:
		return v.settled(c, before, now, true)
	}
	return false, ""
}

// settled follows a container that should be running until it has stayed up for the settle period. With
// needNewStart the container must have started after before (a restart or start really happened).
func (v *verifier) settled(c, before *ContainerSnapshot, now time.Time, needNewStart bool) (bool, string) {
	started := before == nil || c.StartedAt.After(before.StartedAt) || !needNewStart
	if !started {
		if c.State == docker.StateRunning || c.State == docker.StateRestarting || c.State == docker.StatePaused {
			return false, "" // the action has not shown yet
		}
		return false, fmt.Sprintf("container %s is %s (exit code %d) and did not start", c.Name, c.State, c.ExitCode)
	}
	switch c.State {
	case docker.StateExited, docker.StateDead:
		return false, fmt.Sprintf("container %s exited with code %d right after %s", c.Name, c.ExitCode, v.in.Op.Action)
	case docker.StateRestarting:
		return false, fmt.Sprintf("container %s is in a restart loop: exit code %d, restarted %d times", c.Name, c.ExitCode, c.RestartCount)
	case docker.StateRunning:
	default:
		return false, ""
	}
	if v.upSince.IsZero() {
		v.upSince, v.upRef = now, *c
		return v.in.Settle <= 0, ""
	}
	if !c.StartedAt.Equal(v.upRef.StartedAt) || c.RestartCount != v.upRef.RestartCount {
		return false, fmt.Sprintf("container %s is in a restart loop: it started again (exit code %d, restarted %d times)", c.Name, c.ExitCode, c.RestartCount)
	}
	return now.Sub(v.upSince) >= v.in.Settle, ""
}

func (v *verifier) checkCompose(cur OpSnapshot) (bool, string) {
	switch v.in.Op.Action {
	case ActionDown:
		return len(cur.Containers) == 0, ""
	case ActionUp, ActionPull, ActionRestart:
		if len(cur.Containers) == 0 {
			return false, ""
		}
		for _, c := range cur.Containers {
			if c.State != docker.StateRunning {
				if c.State == docker.StateExited || c.State == docker.StateDead {
					return false, fmt.Sprintf("container %s of project %s exited with code %d", c.Name, v.in.Op.Project, c.ExitCode)
				}
				return false, ""
			}
		}
		if v.in.Op.Action == ActionRestart {
			return allRestarted(v.in.Before, cur), ""
		}
		return true, ""
	}
	return false, ""
}
