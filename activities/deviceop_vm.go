package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/virsh"
)

// VM operation bounds: how long a shutdown may take by default and at most, and how often Verify reads the state.
const (
	VMShutdownTimeout    = 120 * time.Second
	VMMaxShutdownTimeout = time.Hour
	vmPollEvery          = 2 * time.Second
	// vmSettleTimeout bounds the other actions' wait for their state (start, reboot, suspend, resume, destroy).
	vmSettleTimeout = 2 * time.Minute
)

// ErrTypeVMNotFound means the device has no such libvirt domain.
const ErrTypeVMNotFound = "VMNotFound"

// vmActions are the actions of the "vm" kind with the state each one leads to.
var vmActions = map[string]virsh.State{
	string(virsh.ActionStart):    virsh.StateRunning,
	string(virsh.ActionShutdown): virsh.StateShutOff,
	string(virsh.ActionReboot):   virsh.StateRunning,
	string(virsh.ActionSuspend):  virsh.StatePaused,
	string(virsh.ActionResume):   virsh.StateRunning,
}

// vmKind runs start, shutdown (waiting up to params.timeout seconds, then destroying when params.destroy_after is
// "true"), reboot, suspend and resume on a libvirt domain (Target) over qemu:///system, under sudo -n when the
// device's use_sudo is set.
type vmKind struct{}

func (vmKind) Kind() string { return "vm" }

func (vmKind) Validate(in DeviceOpInput) error {
	if err := virsh.ValidDomain(in.Target); err != nil {
		return &docker.ArgError{Arg: "name", Value: in.Target, Reason: "not a VM name: letters, digits and ._+:@- starting with a letter or digit"}
	}
	if _, ok := vmActions[in.Action]; !ok {
		return &docker.ArgError{Arg: "action", Value: in.Action, Reason: "must be start, shutdown, reboot, suspend or resume"}
	}
	for k, v := range in.Params {
		switch k {
		case "timeout":
			n, err := strconv.Atoi(v)
			if in.Action != string(virsh.ActionShutdown) || err != nil || n < 1 || time.Duration(n)*time.Second > VMMaxShutdownTimeout {
				return &docker.ArgError{Arg: "timeout", Value: v, Reason: "seconds between 1 and 3600, for shutdown only"}
			}
		case "destroy_after":
			if in.Action != string(virsh.ActionShutdown) || (v != "true" && v != "false") {
				return &docker.ArgError{Arg: "destroy_after", Value: v, Reason: "true or false, for shutdown only"}
			}
		default:
			return &docker.ArgError{Arg: k, Value: v, Reason: "unknown parameter (timeout, destroy_after)"}
		}
	}
	return nil
}

// vmState reads the domain's state; a domain virsh does not know is a non-retryable VMNotFound error.
func vmState(ctx context.Context, env *OpEnv) (virsh.State, string, error) {
	cmd, err := virsh.DomStateCommand(env.In.Target)
	if err != nil {
		return "", "", temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	res, err := env.Run(ctx, cmd)
	if err != nil {
		return "", "", err
	}
	if res.ExitCode != 0 {
		msg := firstLine(res.Stderr)
		if strings.Contains(msg, "failed to get domain") || strings.Contains(msg, "Domain not found") {
			return "", "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("no VM %s on %s", env.In.Target, env.Device.Name), ErrTypeVMNotFound, nil)
		}
		return "", "", temporal.NewApplicationError(fmt.Sprintf("virsh domstate %s: exit %d: %s", env.In.Target, res.ExitCode, msg), ErrTypeCommandFailed)
	}
	st, reason, err := virsh.ParseDomState(res.Stdout)
	if err != nil {
		return "", "", temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeCommandFailed, nil)
	}
	return st, reason, nil
}

func stateText(st virsh.State, reason string) string {
	if reason == "" {
		return string(st)
	}
	return string(st) + " (" + reason + ")"
}

func (vmKind) Precheck(ctx context.Context, env *OpEnv) (*OpPrecheck, error) {
	st, reason, err := vmState(ctx, env)
	if err != nil {
		return nil, err
	}
	before := stateText(st, reason)
	refuse := func(why string) (*OpPrecheck, error) {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("cannot %s VM %s: %s", env.In.Action, env.In.Target, why), ErrTypeInvalidInput, nil)
	}
	switch virsh.Action(env.In.Action) {
	case virsh.ActionStart:
		switch {
		case st == virsh.StateRunning:
			return &OpPrecheck{Noop: true, Reason: "already running", Before: before}, nil
		case st == virsh.StatePaused:
			return refuse("it is paused; resume it")
		}
	case virsh.ActionShutdown:
		if !st.Active() {
			return &OpPrecheck{Noop: true, Reason: "already " + string(st), Before: before}, nil
		}
	case virsh.ActionReboot:
		if st != virsh.StateRunning {
			return refuse("it is " + string(st))
		}
	case virsh.ActionSuspend:
		switch {
		case st == virsh.StatePaused:
			return &OpPrecheck{Noop: true, Reason: "already paused", Before: before}, nil
		case st != virsh.StateRunning:
			return refuse("it is " + string(st))
		}
	case virsh.ActionResume:
		switch {
		case st == virsh.StateRunning:
			return &OpPrecheck{Noop: true, Reason: "already running", Before: before}, nil
		case st != virsh.StatePaused:
			return refuse("it is " + string(st))
		}
	}
	return &OpPrecheck{Before: before}, nil
}

// runVirsh runs a domain action; a non-zero exit is a non-retryable CommandFailed error with virsh's message.
func runVirsh(ctx context.Context, env *OpEnv, a virsh.Action) (string, error) {
	cmd, err := virsh.ActionCommand(a, env.In.Target, env.Device.UseSudo)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	res, err := env.Run(ctx, cmd)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("virsh %s %s: exit %d: %s", a, env.In.Target,
			res.ExitCode, firstLine(res.Stderr)), ErrTypeCommandFailed, nil)
	}
	return strings.TrimSpace(string(res.Stdout)), nil
}

// Act checks the state again before acting, so a retried attempt after a lost answer does not act twice: the
// target state reached (or, for a shutdown, the guest already shutting down) means an earlier attempt acted. A
// reboot leaves no such trace; it is the one action a retry may repeat.
func (vmKind) Act(ctx context.Context, env *OpEnv) (*OpAct, error) {
	st, _, err := vmState(ctx, env)
	if err != nil {
		return nil, err
	}
	a := virsh.Action(env.In.Action)
	switch {
	case a == virsh.ActionShutdown && (st == virsh.StateInShutdown || !st.Active()),
		a != virsh.ActionReboot && a != virsh.ActionShutdown && st == vmActions[env.In.Action]:
		return &OpAct{AlreadyDone: true}, nil
	}
	out, err := runVirsh(ctx, env, a)
	if err != nil {
		return nil, err
	}
	return &OpAct{Output: out}, nil
}

// waitState polls the domain until it is in want, up to timeout.
func waitState(ctx context.Context, env *OpEnv, want virsh.State, timeout time.Duration) (virsh.State, string, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, reason, err := vmState(ctx, env)
		if err != nil {
			return "", "", err
		}
		if st == want || time.Now().After(deadline) {
			return st, reason, nil
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(vmPollEvery):
		}
	}
}

func (vmKind) Verify(ctx context.Context, env *OpEnv) (*OpVerify, error) {
	want := vmActions[env.In.Action]
	timeout := vmSettleTimeout
	if env.In.Action == string(virsh.ActionShutdown) {
		timeout = VMShutdownTimeout
		if v, ok := env.In.Params["timeout"]; ok {
			n, _ := strconv.Atoi(v)
			timeout = time.Duration(n) * time.Second
		}
		env.Progress(ctx, fmt.Sprintf("waiting up to %s for %s to power off", timeout, env.In.Target))
	}
	st, reason, err := waitState(ctx, env, want, timeout)
	if err != nil {
		return nil, err
	}
	if st == want {
		return &OpVerify{Summary: fmt.Sprintf("VM %s is %s", env.In.Target, want), After: stateText(st, reason)}, nil
	}
	if env.In.Action == string(virsh.ActionShutdown) && env.In.Params["destroy_after"] == "true" {
		env.Progress(ctx, fmt.Sprintf("%s still %s after %s: destroying (forced power-off)", env.In.Target, st, timeout))
		if _, err := runVirsh(ctx, env, virsh.ActionDestroy); err != nil {
			// The guest may have powered off between the last read and the destroy.
			if cur, _, serr := vmState(ctx, env); serr != nil || cur.Active() {
				return nil, err
			}
		}
		st, reason, err = waitState(ctx, env, virsh.StateShutOff, vmSettleTimeout)
		if err != nil {
			return nil, err
		}
		if st == virsh.StateShutOff {
			return &OpVerify{Summary: fmt.Sprintf("VM %s did not power off within %s and was destroyed", env.In.Target, timeout),
				After: stateText(st, reason)}, nil
		}
	}
	return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("VM %s is %s, not %s, after %s", env.In.Target,
		stateText(st, reason), want, timeout), ErrTypeVerifyFailed, errors.New("state not reached"))
}
