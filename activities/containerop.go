package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
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

// opContext is the device and target an operation step works on.
type opContext struct {
	dev    *store.Device
	target sshpool.Target
	opID   uuid.UUID
}

func (a *Activities) loadOp(ctx context.Context, in ContainerOpInput) (*opContext, error) {
	if err := in.Validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	devID, err1 := uuid.Parse(in.DeviceID)
	opID, err2 := uuid.Parse(in.OperationID)
	if err := errors.Join(err1, err2); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("bad id", ErrTypeInvalidInput, err)
	}
	var dev *store.Device
	err := awaitDB(ctx, func(ctx context.Context) (err error) { dev, err = store.GetDevice(ctx, a.DB, devID); return err })
	if errors.Is(err, store.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError("device not found", ErrTypeDeviceNotFound, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("load device %s: %w", devID, err)
	}
	if err := refuseReadOnly(dev); err != nil {
		return nil, err
	}
	target, err := TargetOf(dev)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	return &opContext{dev: dev, target: target, opID: opID}, nil
}

// step records a step as running (with its attempt) and returns a function that records how it ended. A step
// of an operation that has already finished (cancelled meanwhile) is not recorded again.
func (a *Activities) step(ctx context.Context, opID uuid.UUID, name string) (func(err error, detail string), error) {
	attempt := 1
	if activity.IsActivity(ctx) {
		attempt = int(activity.GetInfo(ctx).Attempt)
	}
	started := a.now().UTC()
	st := store.OperationStep{Name: name, State: store.StepRunning, Attempt: attempt, StartedAt: started}
	if err := awaitDB(ctx, func(ctx context.Context) error { _, err := store.SetOperationStep(ctx, a.DB, opID, st); return err }); err != nil &&
		!errors.Is(err, store.ErrOperationFinished) {
		return nil, fmt.Errorf("record step %s of operation %s: %w", name, opID, err)
	}
	return func(err error, detail string) {
		end := a.now().UTC()
		st.FinishedAt, st.State, st.Detail = &end, store.StepSucceeded, detail
		if err != nil {
			st.State, st.Detail = store.StepFailed, err.Error()
		}
		// The step's own outcome is what matters; a lost progress note is logged, not fatal, and uses a context
		// of its own so a cancelled step still records that it ended.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, werr := store.SetOperationStep(wctx, a.DB, opID, st); werr != nil && !errors.Is(werr, store.ErrOperationFinished) {
			a.logger().Warn("operation step not recorded", "operation", opID, "step", name, "err", werr)
		}
	}, nil
}

func (a *Activities) logger() interface {
	Warn(msg string, args ...any)
} {
	if a.Log != nil {
		return a.Log
	}
	return noopLog{}
}

type noopLog struct{}

func (noopLog) Warn(string, ...any) {}

// heartbeat reports liveness every heartbeatEvery until the returned stop is called. Outside an activity (direct
// calls in tests) it does nothing.
func heartbeat(ctx context.Context, what string) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, what)
			}
		}
	}()
	return func() { close(done) }
}

// errDockerCommand is a docker command that ran on a device where docker works and still failed; the caller
// decides what that means (a vanished container, a refused action).
type errDockerCommand struct {
	res *sshpool.Result
	err error
}

func (e *errDockerCommand) Error() string {
	msg := strings.TrimSpace(firstLine(e.res.Stderr))
	if msg == "" {
		msg = e.err.Error()
	}
	return msg
}

func (e *errDockerCommand) Unwrap() error { return e.err }

// runDocker runs a docker command on the device. SSH failures are classified as for polls; a command that fails is
// followed by a probe of docker itself, so an unusable docker (permission denied on the socket, no daemon, not
// installed) is reported as such and only a genuine docker refusal comes back as *errDockerCommand.
func (a *Activities) runDocker(ctx context.Context, oc *opContext, cmd string) (*sshpool.Result, error) {
	if deadline, ok := ctx.Deadline(); ok {
		// The step's own deadline (sized from the stop timeout, or long for compose pulls) bounds the command,
		// not the pool's default for short commands.
		ctx = sshpool.WithCommandTimeout(ctx, time.Until(deadline))
	}
	res, err := a.runDockerCommand(ctx, oc.dev, oc.target, cmd)
	if err == nil {
		return res, nil
	}
	if refused := wrapperRefusal(oc.dev, "docker command", res); refused != nil {
		return nil, refused
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if sshpool.KindOf(err) != sshpool.CommandFailed || res == nil {
		return nil, a.sshFailure(ctx, oc.dev, err)
	}
	probe, perr := a.runDockerCommand(ctx, oc.dev, oc.target, docker.Probe())
	if perr != nil && (sshpool.KindOf(perr) != sshpool.CommandFailed || probe == nil) {
		return nil, a.sshFailure(ctx, oc.dev, perr)
	}
	avail := docker.ClassifyProbe(probe.Stdout, probe.Stderr, probe.ExitCode)
	switch avail.State {
	case docker.Available:
		return res, &errDockerCommand{res: res, err: err}
	case docker.PermissionDenied:
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("docker on %s: permission denied: %s", oc.dev.Name, avail.Detail), ErrTypePermissionDenied, nil)
	case docker.Absent:
		return nil, temporal.NewNonRetryableApplicationError("docker is not installed on "+oc.dev.Name, ErrTypeDockerUnavailable, nil)
	default:
		return nil, temporal.NewApplicationError(fmt.Sprintf("docker on %s unavailable (%s): %s", oc.dev.Name, avail.State, avail.Detail), ErrTypeDockerUnavailable)
	}
}

// inspectContainer returns the container's current state, or nil when the device has no such container.
func (a *Activities) inspectContainer(ctx context.Context, oc *opContext, ref string) (*docker.Container, error) {
	cmd, err := docker.Inspect(ref)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	res, err := a.runDocker(ctx, oc, cmd)
	var dc *errDockerCommand
	switch {
	case errors.As(err, &dc):
		// docker inspect exits 1 and prints [] for a container that does not exist; the probe has shown that
		// docker itself works, so an empty answer means "no such container".
		cs, perr := docker.ParseInspect(res.Stdout)
		if perr == nil && len(cs) == 0 {
			return nil, nil
		}
		return nil, temporal.NewApplicationError("docker inspect "+ref+" on "+oc.dev.Name+": "+dc.Error(), ErrTypeCommandFailed)
	case err != nil:
		return nil, err
	}
	cs, err := docker.ParseInspect(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("inspect %s on %s: %w", ref, oc.dev.Name, err)
	}
	if len(cs) == 0 {
		return nil, nil
	}
	return &cs[0], nil
}

// snapshot returns the operation target's current state.
func (a *Activities) snapshot(ctx context.Context, oc *opContext, in ContainerOpInput) (OpSnapshot, error) {
	if in.IsCompose() {
		return a.composeSnapshot(ctx, oc, in.Project)
	}
	c, err := a.inspectContainer(ctx, oc, in.Ref)
	if err != nil || c == nil {
		return OpSnapshot{Containers: []ContainerSnapshot{}}, err
	}
	return OpSnapshot{Containers: []ContainerSnapshot{snapshotOf(*c)}}, nil
}

// composeProject lists a project's containers (any state) by compose's project label, and their working dir.
func (a *Activities) composeContainers(ctx context.Context, oc *opContext, project string) ([]docker.Container, error) {
	if err := docker.ValidProject(project); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	cmd := docker.Join("docker", "ps", "-a", "--no-trunc", "--filter", "label="+docker.LabelComposeProject+"="+project,
		"--format", "{{json .}}")
	res, err := a.runDocker(ctx, oc, cmd)
	var dc *errDockerCommand
	if errors.As(err, &dc) {
		return nil, temporal.NewApplicationError("docker ps on "+oc.dev.Name+": "+dc.Error(), ErrTypeCommandFailed)
	}
	if err != nil {
		return nil, err
	}
	list, err := docker.ParsePS(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("list compose project %s on %s: %w", project, oc.dev.Name, err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(list))
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	cmd, err = docker.Inspect(ids...)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	res, err = a.runDocker(ctx, oc, cmd)
	if errors.As(err, &dc) {
		// A container removed between ps and inspect: inspect still prints the others.
		res, err = dc.res, nil
	}
	if err != nil {
		return nil, err
	}
	cs, err := docker.ParseInspect(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("inspect compose project %s on %s: %w", project, oc.dev.Name, err)
	}
	return cs, nil
}

func (a *Activities) composeSnapshot(ctx context.Context, oc *opContext, project string) (OpSnapshot, error) {
	cs, err := a.composeContainers(ctx, oc, project)
	snap := OpSnapshot{Containers: []ContainerSnapshot{}}
	for _, c := range cs {
		snap.Containers = append(snap.Containers, snapshotOf(c))
	}
	return snap, err
}

func invalidState(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrTypeInvalidState, nil)
}

// PrecheckContainerOp checks that the target exists and that the action makes sense in its state, and captures
// the state the later steps compare against. It marks the operation running.
func (a *Activities) PrecheckContainerOp(ctx context.Context, in ContainerOpInput) (res *PrecheckResult, err error) {
	oc, err := a.loadOp(ctx, in)
	if err != nil {
		return nil, err
	}
	done, err := a.step(ctx, oc.opID, StepPrecheck)
	if err != nil {
		return nil, err
	}
	defer func() {
		detail := ""
		if res != nil {
			detail = res.Before.String()
			if res.Noop {
				detail += "; nothing to do: " + res.Reason
			}
		}
		done(err, detail)
	}()
	if in.IsCompose() {
		return a.precheckCompose(ctx, oc, in)
	}
	c, err := a.inspectContainer(ctx, oc, in.Ref)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("container %s not found on %s", in.Ref, oc.dev.Name), ErrTypeContainerNotFound, nil)
	}
	res = &PrecheckResult{Before: OpSnapshot{Containers: []ContainerSnapshot{snapshotOf(*c)}}}
	noop := func(reason string) (*PrecheckResult, error) {
		res.Noop, res.Reason = true, reason
		return res, nil
	}
	name, st := c.Name, c.State
	switch in.Action {
	case ActionStart:
		switch st {
		case docker.StateRunning:
			return noop("already running")
		case docker.StatePaused:
			return nil, invalidState("container %s is paused: unpause it instead of starting it", name)
		case docker.StateRemoving, docker.StateDead:
			return nil, invalidState("container %s is %s and cannot be started", name, st)
		}
	case ActionStop:
		switch st {
		case docker.StateExited, docker.StateCreated, docker.StateDead:
			return noop("already stopped (" + string(st) + ")")
		case docker.StateRemoving:
			return nil, invalidState("container %s is being removed", name)
		}
	case ActionRestart:
		switch st {
		case docker.StatePaused:
			return nil, invalidState("container %s is paused: unpause it before restarting", name)
		case docker.StateRemoving, docker.StateDead:
			return nil, invalidState("container %s is %s and cannot be restarted", name, st)
		}
	case ActionPause:
		switch st {
		case docker.StatePaused:
			return noop("already paused")
		case docker.StateRunning:
		default:
			return nil, invalidState("container %s is %s: only a running container can be paused", name, st)
		}
	case ActionUnpause:
		switch st {
		case docker.StateRunning:
			return noop("not paused (running)")
		case docker.StatePaused:
		default:
			return nil, invalidState("container %s is %s, not paused", name, st)
		}
	case ActionKill:
		if st != docker.StateRunning && st != docker.StatePaused && st != docker.StateRestarting {
			return nil, invalidState("container %s is %s: only a running container can be killed", name, st)
		}
	case ActionRemove:
		if !in.Force && (st == docker.StateRunning || st == docker.StatePaused || st == docker.StateRestarting) {
			return nil, invalidState("container %s is %s: stop it first or remove with force", name, st)
		}
		if st == docker.StateRemoving {
			return nil, invalidState("container %s is already being removed", name)
		}
	}
	return res, nil
}

func (a *Activities) precheckCompose(ctx context.Context, oc *opContext, in ContainerOpInput) (*PrecheckResult, error) {
	cs, err := a.composeContainers(ctx, oc, in.Project)
	if err != nil {
		return nil, err
	}
	// Only a directory an operator confirmed is used, and only while the containers' labels, as the device shows
	// them now, still agree with it: any image can set the label (#15).
	confirmed := ""
	if w, err := store.ConfirmedComposeWorkdir(ctx, a.DB, oc.dev.ID, in.Project); err == nil {
		confirmed = w.WorkingDir
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("compose project %s: confirmed working directory: %w", in.Project, err)
	}
	labels := []string{in.WorkingDir}
	res := &PrecheckResult{Before: OpSnapshot{Containers: []ContainerSnapshot{}}, WorkingDir: confirmed}
	for _, c := range cs {
		res.Before.Containers = append(res.Before.Containers, snapshotOf(c))
		labels = append(labels, c.ComposeWorkingDir)
	}
	for _, label := range labels {
		if _, err := checkWorkdirLabel(in.Project, label, confirmed); err != nil {
			var ue *UnconfirmedWorkdirError
			if errors.As(err, &ue) {
				return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s on %s: %s", err, oc.dev.Name,
					ue.HowToConfirm(oc.dev.ID.String())), ErrTypeWorkdirUnconfirmed, nil)
			}
			return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
		}
	}
	switch in.Action {
	case ActionDown:
		if len(cs) == 0 {
			res.Noop, res.Reason = true, "project "+in.Project+" has no containers"
		}
		return res, nil
	case ActionRestart:
		if len(cs) == 0 {
			return nil, invalidState("compose project %s has no containers on %s to restart; use up", in.Project, oc.dev.Name)
		}
	}
	if res.WorkingDir == "" {
		return nil, invalidState("the working directory of compose project %s on %s is unknown (no container carries the %s label and none was confirmed)",
			in.Project, oc.dev.Name, docker.LabelComposeWorkingDir)
	}
	return res, nil
}

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

// ActContainerOp performs the action. It is safe to retry: it first looks at the container, and when an earlier
// attempt's action has already taken effect (a restart's StartedAt moved on) it does not act again. A retried
// restart whose effect is not visible yet waits up to the grace period for it before acting, because the first
// attempt's restart may still be stopping the container on the device.
func (a *Activities) ActContainerOp(ctx context.Context, in ActInput) (res *ActResult, err error) {
	oc, err := a.loadOp(ctx, in.Op)
	if err != nil {
		return nil, err
	}
	done, err := a.step(ctx, oc.opID, StepAct)
	if err != nil {
		return nil, err
	}
	defer func() {
		detail := ""
		if res != nil {
			detail = "acted"
			if res.AlreadyDone {
				detail = "an earlier attempt had already acted; not repeated"
			}
		}
		done(err, detail)
	}()
	stop := heartbeat(ctx, StepAct)
	defer stop()
	if in.Op.IsCompose() {
		return a.actCompose(ctx, oc, in)
	}
	attempt := 1
	if activity.IsActivity(ctx) {
		attempt = int(activity.GetInfo(ctx).Attempt)
	}
	before := in.Before.one()
	cur, err := a.inspectContainer(ctx, oc, in.Op.Ref)
	if err != nil {
		return nil, err
	}
	if actDone(in.Op, before, cur) {
		return &ActResult{AlreadyDone: true}, nil
	}
	if cur == nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("container %s no longer exists on %s", in.Op.Ref, oc.dev.Name), ErrTypeContainerNotFound, nil)
	}
	if attempt > 1 && in.Op.Action == ActionRestart {
		if cur, err = a.awaitEarlierRestart(ctx, oc, in, before); err != nil {
			return nil, err
		}
		if actDone(in.Op, before, cur) {
			return &ActResult{AlreadyDone: true}, nil
		}
	}
	cmd, err := containerCommand(in.Op)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	out, err := a.runDocker(ctx, oc, cmd)
	var dc *errDockerCommand
	if errors.As(err, &dc) {
		// The command may have failed because the state changed under it (stopped meanwhile, removed): look again.
		cur, ierr := a.inspectContainer(ctx, oc, in.Op.Ref)
		if ierr == nil && actDone(in.Op, before, cur) {
			return &ActResult{AlreadyDone: true, Output: capOutput(dc.res)}, nil
		}
		if ierr == nil && cur == nil {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("container %s no longer exists on %s", in.Op.Ref, oc.dev.Name), ErrTypeContainerNotFound, nil)
		}
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("docker %s %s on %s failed: %s", in.Op.Action, in.Op.Ref, oc.dev.Name, dc.Error()), ErrTypeCommandFailed, nil)
	}
	if err != nil {
		return nil, err
	}
	return &ActResult{Output: capOutput(out)}, nil
}

// awaitEarlierRestart gives a restart sent by an earlier attempt (whose worker died) the time to finish: the
// grace period plus a margin. It returns the container's state at the end.
func (a *Activities) awaitEarlierRestart(ctx context.Context, oc *opContext, in ActInput, before *ContainerSnapshot) (*docker.Container, error) {
	deadline := a.now().Add(time.Duration(in.Op.StopTimeout())*time.Second + 10*time.Second)
	for {
		cur, err := a.inspectContainer(ctx, oc, in.Op.Ref)
		if err != nil || cur == nil || actDone(in.Op, before, cur) || !a.now().Before(deadline) {
			return cur, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func containerCommand(in ContainerOpInput) (string, error) {
	switch in.Action {
	case ActionStart:
		return docker.Start(in.Ref)
	case ActionStop:
		return docker.Stop(in.Ref, in.StopTimeout())
	case ActionRestart:
		return docker.Restart(in.Ref, in.StopTimeout())
	case ActionPause:
		return docker.Pause(in.Ref)
	case ActionUnpause:
		return docker.Unpause(in.Ref)
	case ActionKill:
		sig := in.Signal
		if sig == "" {
			sig = "KILL"
		}
		return docker.Kill(in.Ref, sig)
	case ActionRemove:
		return docker.Remove(in.Ref, in.Force, in.Volumes)
	}
	return "", &docker.ArgError{Arg: "action", Value: in.Action, Reason: "unknown"}
}

func (a *Activities) actCompose(ctx context.Context, oc *opContext, in ActInput) (*ActResult, error) {
	op := in.Op
	attempt := 1
	if activity.IsActivity(ctx) {
		attempt = int(activity.GetInfo(ctx).Attempt)
	}
	if attempt > 1 && op.Action == ActionRestart {
		// Like a single restart: an earlier attempt's restart has taken effect when every container started anew.
		cur, err := a.composeSnapshot(ctx, oc, op.Project)
		if err != nil {
			return nil, err
		}
		if allRestarted(in.Before, cur) {
			return &ActResult{AlreadyDone: true}, nil
		}
	}
	var cmds []string
	var err error
	add := func(cmd string, e error) {
		cmds = append(cmds, cmd)
		err = errors.Join(err, e)
	}
	switch op.Action {
	case ActionUp:
		add(docker.ComposeUp(op.Project, op.WorkingDir))
	case ActionDown:
		add(docker.ComposeDown(op.Project, op.WorkingDir))
	case ActionRestart:
		add(docker.ComposeRestart(op.Project, op.WorkingDir))
	case ActionPull:
		// Pull, then recreate what changed, as "pull" alone would leave the old containers running.
		add(docker.ComposePull(op.Project, op.WorkingDir))
		add(docker.ComposeUp(op.Project, op.WorkingDir))
	}
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	var out strings.Builder
	for _, cmd := range cmds {
		res, err := a.runDocker(ctx, oc, cmd)
		var dc *errDockerCommand
		if errors.As(err, &dc) {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("compose %s of %s on %s failed: %s",
				op.Action, op.Project, oc.dev.Name, lastLines(dc.res)), ErrTypeCommandFailed, nil)
		}
		if err != nil {
			return nil, err
		}
		out.WriteString(capOutput(res))
		out.WriteString("\n")
	}
	return &ActResult{Output: strings.TrimSpace(out.String())}, nil
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

// capOutput returns a command's output for the operation's result: stdout then stderr, trimmed and capped.
func capOutput(res *sshpool.Result) string {
	if res == nil {
		return ""
	}
	s := strings.TrimSpace(strings.TrimSpace(string(res.Stdout)) + "\n" + strings.TrimSpace(string(res.Stderr)))
	if len(s) > maxOpOutput {
		s = s[:maxOpOutput] + "…"
	}
	return s
}

// lastLines returns the end of a failed command's error output, where tools such as compose put the reason.
func lastLines(res *sshpool.Result) string {
	s := strings.TrimSpace(string(res.Stderr))
	if s == "" {
		s = strings.TrimSpace(string(res.Stdout))
	}
	if len(s) > 500 {
		s = "…" + s[len(s)-500:]
	}
	return s
}

// VerifyContainerOp waits until the target reaches the state the action leads to, and fails with what it saw
// when it does not within in.Within: a container that exits right after start is reported with its exit code,
// one that crash-loops with its restart count.
func (a *Activities) VerifyContainerOp(ctx context.Context, in VerifyInput) (res *VerifyResult, err error) {
	oc, err := a.loadOp(ctx, in.Op)
	if err != nil {
		return nil, err
	}
	done, err := a.step(ctx, oc.opID, StepVerify)
	if err != nil {
		return nil, err
	}
	defer func() {
		detail := ""
		if res != nil {
			detail = res.Summary
		}
		done(err, detail)
	}()
	stop := heartbeat(ctx, StepVerify)
	defer stop()
	if in.PollEvery <= 0 {
		in.PollEvery = 300 * time.Millisecond
	}
	if in.Within <= 0 {
		in.Within = time.Minute
	}
	deadline := a.now().Add(in.Within)
	v := &verifier{in: in}
	for {
		cur, err := a.snapshot(ctx, oc, in.Op)
		if err != nil {
			return nil, err
		}
		ok, failure := v.check(cur, a.now())
		if failure != "" {
			return nil, temporal.NewNonRetryableApplicationError(failure, ErrTypeVerifyFailed, nil, cur)
		}
		if ok {
			return &VerifyResult{After: cur, Summary: cur.String()}, nil
		}
		if !a.now().Before(deadline) {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s did not reach the expected state within %s; last seen: %s",
				targetName(in.Op), in.Within, cur), ErrTypeVerifyFailed, nil, cur)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(in.PollEvery):
		}
	}
}

func targetName(in ContainerOpInput) string {
	if in.IsCompose() {
		return "compose project " + in.Project
	}
	return "container " + in.Ref
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

// RecordContainerOp writes the operation's outcome to its row. It is idempotent; the first outcome recorded
// wins.
func (a *Activities) RecordContainerOp(ctx context.Context, in RecordInput) error {
	opID, err := uuid.Parse(in.OperationID)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("bad operation id", ErrTypeInvalidInput, err)
	}
	done, err := a.step(ctx, opID, StepRecord)
	if err != nil {
		return err
	}
	done(nil, in.State)
	result, err := json.Marshal(OperationResult{Summary: in.Summary, Noop: in.Noop, AlreadyDone: in.AlreadyDone,
		Before: in.Before, After: in.After, Output: in.Output, DurationMS: in.Duration.Milliseconds()})
	if err != nil {
		return err
	}
	_, err = store.FinishOperation(ctx, a.DB, opID, in.State, result, in.Error, in.FinishedAt)
	if errors.Is(err, store.ErrOperationFinished) || errors.Is(err, store.ErrNotFound) {
		// Already recorded differently (cancelled through the API meanwhile), or the device and its operations
		// were deleted: nothing left to write.
		return nil
	}
	return err
}
