package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/systemd"
)

// showBlock is a hand-written `systemctl show -p ...` answer for one unit, in systemd's format (not recorded: no
// real systemd runs on the build machines; internal/systemd/testdata/SOURCE.md says the same of its inputs).
func showBlock(unit, load, active, sub, since string, pid int) string {
	return fmt.Sprintf("Id=%s\nDescription=Test %s\nLoadState=%s\nActiveState=%s\nSubState=%s\nActiveEnterTimestamp=%s\n"+
		"NRestarts=0\nMainPID=%d\nMemoryCurrent=1048576\n", unit, unit, load, active, sub, since, pid)
}

// fakeDevice answers the service kind's scripts from a queue of show answers and records the actions it ran.
type fakeDevice struct {
	shows    []string // successive answers to ShowScript; the last one repeats
	actExit  int
	actErr   string
	actions  []string
	showsRun int
}

func (f *fakeDevice) run(_ context.Context, script string) (*sshpool.Result, error) {
	if strings.Contains(script, "systemctl show") {
		i := min(f.showsRun, len(f.shows)-1)
		f.showsRun++
		return &sshpool.Result{Stdout: []byte(f.shows[i])}, nil
	}
	if strings.Contains(script, "exec ") {
		f.actions = append(f.actions, script[strings.LastIndex(script, "exec "):])
		return &sshpool.Result{ExitCode: f.actExit, Stderr: []byte(f.actErr)}, nil
	}
	return nil, errors.New("unexpected script")
}

func opEnv(f *fakeDevice, action, unit string, sudo bool) *OpEnv {
	return &OpEnv{Device: &store.Device{Name: "box", UseSudo: sudo},
		In:  DeviceOpInput{Kind: OpKindService, Target: unit, Action: action, Params: map[string]string{"timeout": "3"}},
		Run: f.run}
}

func appType(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	return ""
}

func TestServiceOpValidateNamesTheField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    DeviceOpInput
		field string
	}{
		{DeviceOpInput{Target: "nginx.service", Action: "mask"}, "action"},
		{DeviceOpInput{Target: "nginx;id.service", Action: "start"}, "unit"},
		{DeviceOpInput{Target: "nginx", Action: "start"}, "unit"},
		{DeviceOpInput{Target: "getty@.service", Action: "start"}, "unit"},
		{DeviceOpInput{Target: "nginx.service", Action: "start", Params: map[string]string{"timeout": "0"}}, "timeout"},
		{DeviceOpInput{Target: "nginx.service", Action: "start", Params: map[string]string{"force": "1"}}, "force"},
	} {
		err := serviceOp{}.Validate(tc.in)
		var ae *docker.ArgError
		require.ErrorAs(t, err, &ae, "%+v", tc.in)
		require.Equal(t, tc.field, ae.Arg)
	}
	require.NoError(t, serviceOp{}.Validate(DeviceOpInput{Target: "getty@tty1.service", Action: "restart",
		Params: map[string]string{"timeout": "600"}}))
}

func TestServiceOpSteps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	since := "Thu 2026-12-03 10:00:00 UTC"
	later := "Thu 2026-12-03 10:05:00.250000 UTC"
	active := showBlock("web.service", "loaded", "active", "running", since, 10)

	t.Run("precheck", func(t *testing.T) {
		for _, tc := range []struct {
			action, show string
			noop         bool
			errType      string
		}{
			{"start", active, true, ""},
			{"restart", active, false, ""},
			{"stop", showBlock("web.service", "loaded", "inactive", "dead", "", 0), true, ""},
			{"stop", showBlock("web.service", "loaded", "failed", "failed", "", 0), true, ""},
			{"reload", showBlock("web.service", "loaded", "inactive", "dead", "", 0), false, ErrTypeInvalidInput},
			{"start", showBlock("web.service", "not-found", "inactive", "dead", "", 0), false, ErrTypeUnitNotFound},
			{"start", "@@infra:systemctl:na@@\n", false, ErrTypeUnitNotFound},
		} {
			f := &fakeDevice{shows: []string{tc.show}}
			pre, err := serviceOp{}.Precheck(ctx, opEnv(f, tc.action, "web.service", false))
			if tc.errType != "" {
				require.Equal(t, tc.errType, appType(err), "%s: %v", tc.action, err)
				continue
			}
			require.NoError(t, err)
			require.Equal(t, tc.noop, pre.Noop, tc.action)
		}
	})

	t.Run("act runs systemctl once, through sudo -n when asked", func(t *testing.T) {
		f := &fakeDevice{shows: []string{active}}
		_, err := serviceOp{}.Act(ctx, opEnv(f, "restart", "web.service", true))
		require.NoError(t, err)
		require.Equal(t, []string{"exec sudo -n systemctl restart --no-ask-password -- web.service\n"}, f.actions)
		f = &fakeDevice{shows: []string{active}}
		_, err = serviceOp{}.Act(ctx, opEnv(f, "stop", "web.service", false))
		require.NoError(t, err)
		require.Equal(t, []string{"exec systemctl stop --no-ask-password -- web.service\n"}, f.actions)
	})

	t.Run("act: a retried restart does not restart again when the first attempt did", func(t *testing.T) {
		u, _ := systemd.ParseTimestamp(since)
		env := func(f *fakeDevice) *OpEnv {
			e := opEnv(f, "restart", "web.service", false)
			e.Before = describeUnit(systemd.UnitState{ActiveState: "active", SubState: "running", ActiveSince: &u})
			return e
		}
		f := &fakeDevice{shows: []string{showBlock("web.service", "loaded", "active", "running", later, 11)}}
		res, err := serviceAct(ctx, env(f), true)
		require.NoError(t, err)
		require.True(t, res.AlreadyDone)
		require.Empty(t, f.actions)
		f = &fakeDevice{shows: []string{active}}
		res, err = serviceAct(ctx, env(f), true)
		require.NoError(t, err)
		require.False(t, res.AlreadyDone)
		require.Len(t, f.actions, 1, "the earlier attempt had not restarted it")
	})

	t.Run("act: a refused sudo fails; a unit that failed to start is left to verify", func(t *testing.T) {
		f := &fakeDevice{shows: []string{active}, actExit: 1, actErr: "sudo: a password is required\n"}
		_, err := serviceOp{}.Act(ctx, opEnv(f, "restart", "web.service", true))
		require.Equal(t, ErrTypeCommandFailed, appType(err))
		require.Contains(t, err.Error(), "sudo: a password is required")
		f = &fakeDevice{shows: []string{showBlock("web.service", "loaded", "failed", "failed", "", 0)}, actExit: 1,
			actErr: "Job for web.service failed because the control process exited with error code.\n"}
		res, err := serviceOp{}.Act(ctx, opEnv(f, "start", "web.service", false))
		require.NoError(t, err)
		require.Contains(t, res.Output, "Job for web.service failed")
	})

	t.Run("verify", func(t *testing.T) {
		u, ok := systemd.ParseTimestamp(since)
		require.True(t, ok)
		beforeActive := describeUnit(systemd.UnitState{ActiveState: "active", SubState: "running", ActiveSince: &u, MainPID: 10})
		for _, tc := range []struct {
			name, action, before string
			shows                []string
			errType, want        string
		}{
			{"restart: waits for a new active-since", "restart", beforeActive,
				[]string{active, showBlock("web.service", "loaded", "activating", "start", "", 0),
					showBlock("web.service", "loaded", "active", "running", later, 11)}, "", "active/running since 2026-12-03T10:05:00.25Z pid 11"},
			{"restart: the same active-since never settles", "restart", beforeActive, []string{active}, ErrTypeVerifyFailed, "did not settle"},
			{"start: failed", "start", "inactive/dead", []string{showBlock("web.service", "loaded", "failed", "failed", "", 0)},
				ErrTypeVerifyFailed, "failed to become active"},
			{"stop: inactive", "stop", beforeActive, []string{showBlock("web.service", "loaded", "deactivating", "stop-sigterm", "", 10),
				showBlock("web.service", "loaded", "inactive", "dead", "", 0)}, "", "inactive/dead"},
			{"stop: ended failed is stopped too", "stop", beforeActive, []string{showBlock("web.service", "loaded", "failed", "failed", "", 0)},
				"", "failed/failed"},
			{"reload: active", "reload", beforeActive, []string{active}, "", "active/running since 2026-12-03T10:00:00Z pid 10"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				f := &fakeDevice{shows: tc.shows}
				env := opEnv(f, tc.action, "web.service", false)
				env.Before = tc.before
				start := time.Now()
				res, err := serviceOp{}.Verify(ctx, env)
				if tc.errType != "" {
					require.Equal(t, tc.errType, appType(err), "%v", err)
					require.Contains(t, err.Error(), tc.want)
					return
				}
				require.NoError(t, err)
				require.Equal(t, tc.want, res.After)
				require.Less(t, time.Since(start), 3*time.Second)
			})
		}
	})
}

func TestServiceChecksAndSummary(t *testing.T) {
	t.Parallel()
	r := &servicesResult{Available: true, Failed: 2, Watched: 2, WatchedOK: 1, Verdicts: systemd.Judge(
		[]systemd.FailedUnit{{Unit: "backup.service", Active: "failed", Sub: "failed"}, {Unit: "nginx.service", Active: "failed", Sub: "failed"}},
		[]string{"nginx.service", "ssh.service"},
		[]systemd.UnitState{{Unit: "nginx.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed"},
			{Unit: "ssh.service", LoadState: "loaded", ActiveState: "active", SubState: "running"}})}
	checks := serviceChecks(r)
	// A watched unit that failed is critical once, not also a failed-unit warning.
	require.Equal(t, []alert.Reading{{Subject: "backup.service", Value: 1}}, checks[alert.CheckUnitFailed])
	require.ElementsMatch(t, []alert.Reading{{Subject: "nginx.service", Value: 1}, {Subject: "ssh.service", Value: 0}},
		checks[alert.CheckWatchedUnitInactive])
	require.Equal(t, "2 failed units, 1/2 watched units active", servicesSummary(r))

	none := serviceChecks(&servicesResult{})
	require.Empty(t, none[alert.CheckUnitFailed], "a device without systemd resolves earlier alerts")
	require.Contains(t, none, alert.CheckWatchedUnitInactive)
	require.Equal(t, "systemd not available", servicesSummary(&servicesResult{}))
}
