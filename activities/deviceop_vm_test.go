package activities

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/testdb"
	"github.com/infrastructor/infrastructor/internal/testenv"
)

func TestVMKindValidate(t *testing.T) {
	k := vmKind{}
	ok := DeviceOpInput{Kind: "vm", Target: "web01", Action: "shutdown", Params: map[string]string{"timeout": "30", "destroy_after": "true"}}
	require.NoError(t, k.Validate(ok))
	for field, in := range map[string]DeviceOpInput{
		"name":          {Target: "-x", Action: "start"},
		"action":        {Target: "web01", Action: "undefine"},
		"timeout":       {Target: "web01", Action: "start", Params: map[string]string{"timeout": "30"}},
		"destroy_after": {Target: "web01", Action: "shutdown", Params: map[string]string{"destroy_after": "yes"}},
		"color":         {Target: "web01", Action: "shutdown", Params: map[string]string{"color": "red"}},
	} {
		err := k.Validate(in)
		var ae *docker.ArgError
		require.True(t, errors.As(err, &ae), field)
		require.Equal(t, field, ae.Arg)
	}
	require.Error(t, k.Validate(DeviceOpInput{Target: "web01", Action: "shutdown", Params: map[string]string{"timeout": "3601"}}))
}

// TestVMKindOverSSH carries VM actions through precheck, act and verify over a real sshd against libvirt's test
// driver (state kept between virsh processes): a guest that ignores the shutdown request is destroyed after the
// timeout when asked to, an action already done is a no-op, an act retried after it took effect does not act
// again, an unknown VM is a non-retryable error.
func TestVMKindOverSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sshd")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for the test sshd")
	}
	bin, state := testenv.PersistentVirsh(t, testenv.FakeVM{Name: "web01", Running: true, Stubborn: true}, testenv.FakeVM{Name: "db01", Running: true})
	db := testdb.Pool(t)
	dev, run := sshDevice(t, db, "kvm-ops", "SetEnv PATH="+bin+":/usr/bin:/bin")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress []string
	env := func(target, action string, params map[string]string) *OpEnv {
		return &OpEnv{Device: dev, In: DeviceOpInput{Kind: "vm", Target: target, Action: action, Params: params}, Run: run,
			Progress: func(_ context.Context, s string) { progress = append(progress, s) }}
	}
	k := vmKind{}

	// A stubborn guest: shutdown times out, then destroy.
	e := env("web01", "shutdown", map[string]string{"timeout": "3", "destroy_after": "true"})
	pre, err := k.Precheck(ctx, e)
	require.NoError(t, err)
	require.False(t, pre.Noop)
	require.True(t, strings.HasPrefix(pre.Before, "running"), pre.Before) // reasons do not survive the fixture's processes
	act, err := k.Act(ctx, e)
	require.NoError(t, err)
	require.False(t, act.AlreadyDone)
	ver, err := k.Verify(ctx, e)
	require.NoError(t, err)
	require.Contains(t, ver.Summary, "was destroyed")
	require.True(t, strings.HasPrefix(ver.After, "shut off"), ver.After)
	require.Equal(t, "5", testenv.VirshState(t, state, "web01"))
	require.Len(t, progress, 2)

	// Without destroy_after the operation fails verification and the VM keeps running.
	e = env("web01", "start", nil)
	_, err = k.Act(ctx, e)
	require.NoError(t, err)
	e = env("web01", "shutdown", map[string]string{"timeout": "2"})
	_, err = k.Act(ctx, e)
	require.NoError(t, err)
	_, err = k.Verify(ctx, e)
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app))
	require.Equal(t, ErrTypeVerifyFailed, app.Type())
	require.Equal(t, "1", testenv.VirshState(t, state, "web01"))

	// A cooperative guest shuts down; shutting it down again is a no-op; an act retried after the effect is done.
	e = env("db01", "shutdown", nil)
	_, err = k.Act(ctx, e)
	require.NoError(t, err)
	ver, err = k.Verify(ctx, e)
	require.NoError(t, err)
	require.Equal(t, "VM db01 is shut off", ver.Summary)
	pre, err = k.Precheck(ctx, e)
	require.NoError(t, err)
	require.True(t, pre.Noop)
	act, err = k.Act(ctx, e)
	require.NoError(t, err)
	require.True(t, act.AlreadyDone)

	// Suspend and resume; resume of a running VM is a no-op; start of a paused one is refused.
	e = env("web01", "suspend", nil)
	_, err = k.Act(ctx, e)
	require.NoError(t, err)
	_, err = k.Verify(ctx, e)
	require.NoError(t, err)
	_, err = k.Precheck(ctx, env("web01", "start", nil))
	require.True(t, errors.As(err, &app))
	require.True(t, app.NonRetryable())
	e = env("web01", "resume", nil)
	_, err = k.Act(ctx, e)
	require.NoError(t, err)
	ver, err = k.Verify(ctx, e)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(ver.After, "running"), ver.After)
	pre, err = k.Precheck(ctx, e)
	require.NoError(t, err)
	require.True(t, pre.Noop)

	_, err = k.Precheck(ctx, env("ghost", "start", nil))
	require.True(t, errors.As(err, &app))
	require.Equal(t, ErrTypeVMNotFound, app.Type())
}
