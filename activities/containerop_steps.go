package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/store"
)

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

// RecordContainerOp writes the operation's outcome to its row. It is idempotent; the first outcome recorded
// wins.
func (a *Activities) RecordContainerOp(ctx context.Context, in RecordInput) error {
	return a.recordOutcome(ctx, in.OperationID, in.State, OperationResult{Summary: in.Summary, Noop: in.Noop,
		AlreadyDone: in.AlreadyDone, Before: in.Before, After: in.After, Output: in.Output,
		DurationMS: in.Duration.Milliseconds()}, in.Error, in.FinishedAt)
}
