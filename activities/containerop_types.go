package activities

import (
	"fmt"
	"strings"
	"time"

	"github.com/infrastructor/infrastructor/internal/docker"
)

// Application error types of container operations, in addition to those in types.go.
const (
	// ErrTypeInvalidState means the action makes no sense in the container's current state (unpause a running
	// container that is not paused is a no-op, but start a paused one is an error).
	ErrTypeInvalidState = "InvalidState"
	// ErrTypePermissionDenied means the SSH user may not use the device's docker socket.
	ErrTypePermissionDenied = "PermissionDenied"
	// ErrTypeDockerUnavailable means docker is absent or its daemon does not answer; retryable unless absent.
	ErrTypeDockerUnavailable = "DockerUnavailable"
	// ErrTypeVerifyFailed means the action ran but the container did not reach the expected state.
	ErrTypeVerifyFailed = "VerifyFailed"
)

// Container actions.
const (
	ActionStart   = "start"
	ActionStop    = "stop"
	ActionRestart = "restart"
	ActionPause   = "pause"
	ActionUnpause = "unpause"
	ActionKill    = "kill"
	ActionRemove  = "remove"
)

// Compose project actions; restart is shared with containers.
const (
	ActionUp   = "up"
	ActionDown = "down"
	ActionPull = "pull"
)

// ContainerActions and ComposeActions list the valid actions in display order.
var (
	ContainerActions = []string{ActionStart, ActionStop, ActionRestart, ActionPause, ActionUnpause, ActionKill, ActionRemove}
	ComposeActions   = []string{ActionUp, ActionDown, ActionPull, ActionRestart}
)

// Operation step names, as stored in operations.steps.
const (
	StepPrecheck = "precheck"
	StepAct      = "act"
	StepVerify   = "verify"
	StepRecord   = "record"
)

// DefaultStopTimeout is docker's own grace period for stop and restart when none is given.
const DefaultStopTimeout = 10

// ContainerOpInput is one operation on a container (Ref) or a compose project (Project). The workflow passes it
// to every step; the steps write their progress to the operation's row.
type ContainerOpInput struct {
	OperationID string
	DeviceID    string
	Ref         string `json:",omitempty"`
	Project     string `json:",omitempty"`
	// WorkingDir is the compose project's directory on the device (its compose file) as the caller found it
	// confirmed; precheck uses the confirmed directory and refuses one the containers' labels contradict.
	WorkingDir string `json:",omitempty"`
	Action     string
	// Timeout is the stop/restart grace period in seconds; nil means DefaultStopTimeout.
	Timeout *int   `json:",omitempty"`
	Signal  string `json:",omitempty"`
	Force   bool   `json:",omitempty"`
	Volumes bool   `json:",omitempty"`
}

// IsCompose reports whether the operation is on a compose project.
func (in ContainerOpInput) IsCompose() bool { return in.Project != "" }

// StopTimeout is the grace period in seconds.
func (in ContainerOpInput) StopTimeout() int {
	if in.Timeout == nil {
		return DefaultStopTimeout
	}
	return *in.Timeout
}

// Validate checks the action and its arguments; errors wrap docker.ErrInvalidArgument and name the argument.
func (in ContainerOpInput) Validate() error {
	bad := func(arg, value, reason string) error {
		return &docker.ArgError{Arg: arg, Value: value, Reason: reason}
	}
	if in.IsCompose() {
		if in.Ref != "" {
			return bad("ref", in.Ref, "a compose operation names a project, not a container")
		}
		if err := docker.ValidProject(in.Project); err != nil {
			return err
		}
		if in.WorkingDir != "" {
			if err := docker.ValidWorkdir(in.WorkingDir); err != nil {
				return err
			}
		}
		if !contains(ComposeActions, in.Action) {
			return bad("action", in.Action, "not one of "+strings.Join(ComposeActions, ", "))
		}
		if in.Signal != "" || in.Force || in.Volumes || in.Timeout != nil {
			return bad("action", in.Action, "compose actions take no timeout, signal, force or volumes")
		}
		return nil
	}
	if err := docker.ValidRef(in.Ref); err != nil {
		return err
	}
	if !contains(ContainerActions, in.Action) {
		return bad("action", in.Action, "not one of "+strings.Join(ContainerActions, ", "))
	}
	if in.Timeout != nil {
		if in.Action != ActionStop && in.Action != ActionRestart {
			return bad("timeout", fmt.Sprint(*in.Timeout), "only stop and restart take a timeout")
		}
		if err := docker.ValidTimeout(*in.Timeout); err != nil {
			return err
		}
	}
	if in.Signal != "" {
		if in.Action != ActionKill {
			return bad("signal", in.Signal, "only kill takes a signal")
		}
		if _, err := docker.NormalizeSignal(in.Signal); err != nil {
			return err
		}
	}
	if (in.Force || in.Volumes) && in.Action != ActionRemove {
		return bad("force", in.Action, "only remove takes force and volumes")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ContainerSnapshot is the part of a container's state an operation compares before and after.
type ContainerSnapshot struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	State        docker.State  `json:"state"`
	Health       docker.Health `json:"health,omitempty"`
	ExitCode     int           `json:"exit_code"`
	RestartCount int           `json:"restart_count"`
	StartedAt    time.Time     `json:"started_at,omitzero"`
	FinishedAt   time.Time     `json:"finished_at,omitzero"`
}

func snapshotOf(c docker.Container) ContainerSnapshot {
	return ContainerSnapshot{ID: c.ID, Name: c.Name, State: c.State, Health: c.Health, ExitCode: c.ExitCode,
		RestartCount: c.RestartCount, StartedAt: c.Started, FinishedAt: c.Finished}
}

// OpSnapshot is the state of an operation's target: the container, or every container of a compose project.
// An empty list means the container does not exist (or the project has none).
type OpSnapshot struct {
	Containers []ContainerSnapshot `json:"containers"`
}

// one returns the single container of a container operation, or nil when it does not exist.
func (s OpSnapshot) one() *ContainerSnapshot {
	if len(s.Containers) == 0 {
		return nil
	}
	return &s.Containers[0]
}

func (s OpSnapshot) byID() map[string]ContainerSnapshot {
	m := make(map[string]ContainerSnapshot, len(s.Containers))
	for _, c := range s.Containers {
		m[c.ID] = c
	}
	return m
}

// String describes the snapshot in one line for results and errors.
func (s OpSnapshot) String() string {
	if len(s.Containers) == 0 {
		return "no container"
	}
	parts := make([]string, 0, len(s.Containers))
	for _, c := range s.Containers {
		p := c.Name + " " + string(c.State)
		if c.State == docker.StateExited || c.State == docker.StateDead || c.State == docker.StateRestarting {
			p += fmt.Sprintf(" (exit code %d)", c.ExitCode)
		}
		if c.RestartCount > 0 {
			p += fmt.Sprintf(" restarts=%d", c.RestartCount)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// PrecheckResult is what the precheck step found.
type PrecheckResult struct {
	Before OpSnapshot
	// Noop is set when the target is already in the state the action leads to (stop on a stopped container):
	// the operation succeeds without acting.
	Noop   bool   `json:",omitempty"`
	Reason string `json:",omitempty"`
	// WorkingDir is the compose project's confirmed directory (see ComposeWorkdir).
	WorkingDir string `json:",omitempty"`
}

// ActInput is the act step's input: the operation and the state precheck saw, which a retried act compares with
// the current state to find out whether an earlier attempt already acted.
type ActInput struct {
	Op     ContainerOpInput
	Before OpSnapshot
}

// ActResult is the act step's outcome.
type ActResult struct {
	// Output is the command's output, trimmed and capped.
	Output string `json:",omitempty"`
	// AlreadyDone is set when an earlier attempt's action had already taken effect, so this attempt did not act.
	AlreadyDone bool `json:",omitempty"`
}

// VerifyInput asks the verify step to wait for the state the action leads to.
type VerifyInput struct {
	Op     ContainerOpInput
	Before OpSnapshot
	// Within bounds the wait; the step fails with what it saw when it passes.
	Within time.Duration
	// Settle is how long a started container must stay up (same StartedAt, no restarts) to count as started,
	// so a container that exits or crash-loops right after start is reported, not mistaken for a success.
	Settle time.Duration
	// PollEvery is the inspect interval.
	PollEvery time.Duration
}

// VerifyResult is the state the target reached.
type VerifyResult struct {
	After   OpSnapshot
	Summary string
}

// RecordInput is the final outcome of an operation, written to its row by the record step.
type RecordInput struct {
	OperationID string
	State       string
	Before      *OpSnapshot `json:",omitempty"`
	After       *OpSnapshot `json:",omitempty"`
	Noop        bool        `json:",omitempty"`
	AlreadyDone bool        `json:",omitempty"`
	Summary     string      `json:",omitempty"`
	Output      string      `json:",omitempty"`
	Error       string      `json:",omitempty"`
	Duration    time.Duration
	FinishedAt  time.Time
}

// OperationResult is the result document stored with a finished operation.
type OperationResult struct {
	Summary     string      `json:"summary"`
	Noop        bool        `json:"noop,omitempty"`
	AlreadyDone bool        `json:"already_done,omitempty"`
	Before      *OpSnapshot `json:"before,omitempty"`
	After       *OpSnapshot `json:"after,omitempty"`
	Output      string      `json:"output,omitempty"`
	DurationMS  int64       `json:"duration_ms"`
}

// maxOpOutput caps the command output kept with an operation.
const maxOpOutput = 4000

// heartbeatEvery is how often long steps report liveness; the workflow's heartbeat timeout is a few times this.
const heartbeatEvery = 2 * time.Second
