package activities

import (
	"context"
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
	msg := quoteOutput([]byte(firstLine(e.res.Stderr)))
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
	if s := quoteOutput(res.Stderr); s != "" {
		return s
	}
	return quoteOutput(res.Stdout)
}
