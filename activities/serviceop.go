package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/systemd"
)

// OpKindService is the device operation kind of systemd unit actions: start, stop, restart, reload.
const OpKindService = "service"

// ErrTypeUnitNotFound means the device has no such systemd unit (or no systemd at all).
const ErrTypeUnitNotFound = "UnitNotFound"

// Bounds of the time a service action waits for its unit to settle (the "timeout" param, in seconds).
const (
	defaultServiceSettle = 90 * time.Second
	maxServiceSettle     = 10 * time.Minute
)

// servicePollEvery is how often Verify reads the unit's state while it settles.
const servicePollEvery = time.Second

// serviceOp starts, stops, restarts or reloads one systemd unit through systemctl (sudo -n when the device says
// so). Precheck reads the unit (it must exist; start on an active unit and stop on an inactive one are no-ops),
// Act runs systemctl once (a retried restart that finds the unit restarted since precheck does not restart it
// again), Verify waits until the unit is active (start, restart, reload) or inactive (stop).
type serviceOp struct{}

func (serviceOp) Kind() string { return OpKindService }

// Validate checks the unit (systemd's grammar, not a template), the action and the timeout param. Its errors are
// *docker.ArgError naming the field ("unit", "action", "timeout"), as the API reports them.
func (serviceOp) Validate(in DeviceOpInput) error {
	_, err := serviceOpArgs(in)
	var se *systemd.ArgError
	if errors.As(err, &se) {
		return &docker.ArgError{Arg: se.Arg, Value: se.Value, Reason: se.Reason}
	}
	return err
}

func serviceOpArgs(in DeviceOpInput) (time.Duration, error) {
	if _, err := systemd.ParseAction(in.Action); err != nil {
		return 0, err
	}
	kind, err := systemd.CheckUnit("unit", in.Target)
	if err != nil {
		return 0, err
	}
	if kind == systemd.Template {
		return 0, &systemd.ArgError{Arg: "unit", Value: in.Target, Reason: "a template unit cannot be " + in.Action +
			"ed; name an instance such as foo@bar.service"}
	}
	settle := defaultServiceSettle
	for k, v := range in.Params {
		if k != "timeout" {
			return 0, &systemd.ArgError{Arg: k, Value: v, Reason: "unknown parameter"}
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || time.Duration(n)*time.Second > maxServiceSettle {
			return 0, &systemd.ArgError{Arg: "timeout", Value: v, Reason: fmt.Sprintf("must be 1-%d seconds", int(maxServiceSettle.Seconds()))}
		}
		settle = time.Duration(n) * time.Second
	}
	return settle, nil
}

// readUnit asks systemctl show about one unit. A device without systemd or a unit it does not know is a
// non-retryable ErrTypeUnitNotFound.
func readUnit(ctx context.Context, env *OpEnv) (systemd.UnitState, error) {
	script, err := systemd.ShowScript(env.In.Target)
	if err != nil {
		return systemd.UnitState{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	res, err := env.Run(ctx, script)
	if err != nil {
		return systemd.UnitState{}, err
	}
	if res.ExitCode != 0 {
		return systemd.UnitState{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("systemctl show %s on %s failed: %s",
			env.In.Target, env.Device.Name, quoteOutput([]byte(firstLine(res.Stderr)))), ErrTypeCommandFailed, nil)
	}
	shown, err := systemd.ParseShow(res.Stdout)
	if errors.Is(err, systemd.ErrNotAvailable) {
		return systemd.UnitState{}, temporal.NewNonRetryableApplicationError("device "+env.Device.Name+
			" does not run systemd", ErrTypeUnitNotFound, nil)
	}
	if err != nil {
		return systemd.UnitState{}, err
	}
	for _, u := range shown.Units {
		if u.Unit == env.In.Target {
			if u.LoadState == "not-found" {
				break
			}
			return u, nil
		}
	}
	return systemd.UnitState{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("unit %s not found on %s",
		env.In.Target, env.Device.Name), ErrTypeUnitNotFound, nil)
}

// describeUnit is the short state shown as the operation's before and after: "active/running since <time>".
func describeUnit(u systemd.UnitState) string {
	s := u.ActiveState
	if u.SubState != "" {
		s += "/" + u.SubState
	}
	if u.ActiveSince != nil && u.ActiveState == "active" {
		s += " since " + u.ActiveSince.UTC().Format(time.RFC3339Nano)
	}
	if u.MainPID > 0 {
		s += " pid " + strconv.FormatInt(u.MainPID, 10)
	}
	return s
}

// sinceOf takes the "since" time back out of describeUnit's text.
func sinceOf(before string) (time.Time, bool) {
	_, rest, ok := strings.Cut(before, " since ")
	if !ok {
		return time.Time{}, false
	}
	ts, _, _ := strings.Cut(rest, " ")
	t, err := time.Parse(time.RFC3339Nano, ts)
	return t, err == nil
}

func isActive(state string) bool {
	return state == "active" || state == "reloading" || state == "refreshing"
}

func (serviceOp) Precheck(ctx context.Context, env *OpEnv) (*OpPrecheck, error) {
	u, err := readUnit(ctx, env)
	if err != nil {
		return nil, err
	}
	pre := &OpPrecheck{Before: describeUnit(u)}
	switch systemd.Action(env.In.Action) {
	case systemd.Start:
		if u.ActiveState == "active" {
			pre.Noop, pre.Reason = true, "unit "+env.In.Target+" is already active"
		}
	case systemd.Stop:
		// A failed unit runs nothing either; systemctl stop would leave it failed.
		if u.ActiveState == "inactive" || u.ActiveState == "failed" {
			pre.Noop, pre.Reason = true, "unit "+env.In.Target+" is already "+u.ActiveState+" (not running)"
		}
	case systemd.Reload:
		if !isActive(u.ActiveState) {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("unit %s is %s: only an active unit can be "+
				"reloaded; start it instead", env.In.Target, u.ActiveState), ErrTypeInvalidInput, nil)
		}
	}
	return pre, nil
}

func (serviceOp) Act(ctx context.Context, env *OpEnv) (*OpAct, error) {
	return serviceAct(ctx, env, activity.IsActivity(ctx) && activity.GetInfo(ctx).Attempt > 1)
}

// serviceAct is Act; retry says an earlier attempt may have acted.
func serviceAct(ctx context.Context, env *OpEnv, retry bool) (*OpAct, error) {
	if systemd.Action(env.In.Action) == systemd.Restart && retry {
		// An earlier attempt may have restarted the unit before the worker lost it: a newer active-since than
		// precheck saw means it did, and restarting again would bounce the service twice.
		if before, ok := sinceOf(env.Before); ok {
			u, err := readUnit(ctx, env)
			if err != nil {
				return nil, err
			}
			if u.ActiveSince != nil && u.ActiveSince.After(before) {
				return &OpAct{AlreadyDone: true}, nil
			}
		}
	}
	script, err := systemd.ActionScript(env.In.Action, env.In.Target, env.Device.UseSudo)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	res, err := env.Run(ctx, script)
	if err != nil {
		return nil, err
	}
	out := quoteOutput(append(append([]byte{}, res.Stdout...), res.Stderr...))
	if res.ExitCode != 0 {
		// systemctl also fails when the job ran and the unit failed (a service that exits at start): that is the
		// verify step's finding, with the unit's state. Anything else (sudo wanting a password, access denied)
		// is the action failing.
		if u, rerr := readUnit(ctx, env); rerr == nil && u.ActiveState == "failed" {
			return &OpAct{Output: out}, nil
		}
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("systemctl %s %s on %s failed (exit %d): %s",
			env.In.Action, env.In.Target, env.Device.Name, res.ExitCode, quoteOutput([]byte(firstLine(res.Stderr)))),
			ErrTypeCommandFailed, nil)
	}
	return &OpAct{Output: out}, nil
}

func (serviceOp) Verify(ctx context.Context, env *OpEnv) (*OpVerify, error) {
	settle, err := serviceOpArgs(env.In)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	action := systemd.Action(env.In.Action)
	before, haveBefore := sinceOf(env.Before)
	deadline := time.Now().Add(settle)
	for {
		u, err := readUnit(ctx, env)
		if err != nil {
			return nil, err
		}
		now := describeUnit(u)
		done, failed := false, ""
		switch action {
		case systemd.Stop:
			// A unit whose process exits with an error on SIGTERM ends failed rather than inactive: it is stopped
			// all the same, and the summary says how it ended.
			done = u.ActiveState == "inactive" || u.ActiveState == "failed"
		default:
			done = u.ActiveState == "active"
			// A restart is done when the unit became active again after precheck, not when it still is.
			if done && action == systemd.Restart && haveBefore && (u.ActiveSince == nil || !u.ActiveSince.After(before)) {
				done = false
			}
			if u.ActiveState == "failed" {
				failed = "unit " + env.In.Target + " failed to become active: " + now
				if u.NRestarts != nil && *u.NRestarts > 0 {
					failed += fmt.Sprintf(" (%d automatic restarts)", *u.NRestarts)
				}
			}
		}
		if failed != "" {
			return nil, temporal.NewNonRetryableApplicationError(failed, ErrTypeVerifyFailed, nil, now)
		}
		if done {
			return &OpVerify{Summary: "unit is " + now, After: now}, nil
		}
		if time.Now().After(deadline) {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("unit %s did not settle within %s: %s",
				env.In.Target, settle, now), ErrTypeVerifyFailed, nil, now)
		}
		if env.Progress != nil {
			env.Progress(ctx, "waiting: unit is "+now)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(servicePollEvery):
		}
	}
}
