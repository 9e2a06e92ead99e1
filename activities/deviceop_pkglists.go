package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/pkgupdate"
)

// packageListsKind refreshes a device's package lists (apt-get update, dnf/yum makecache, apk update): the
// explicit, audited operation behind refresh_package_lists; the update check itself never refreshes anything.
// It needs root: the device's use_sudo (sudo -n), or root as the login user. Verify runs the update check again
// and stores it, so the counts and the lists' age are current when the operation ends.
type packageListsKind struct{}

func (packageListsKind) Kind() string { return "package_lists" }

func (packageListsKind) Validate(in DeviceOpInput) error {
	if in.Target != "" {
		return &docker.ArgError{Arg: "target", Value: in.Target, Reason: "must be empty: the package lists are device-wide"}
	}
	if in.Action != "refresh" {
		return &docker.ArgError{Arg: "action", Value: in.Action, Reason: "must be refresh"}
	}
	for k, v := range in.Params {
		return &docker.ArgError{Arg: k, Value: v, Reason: "unknown parameter (refresh takes none)"}
	}
	return nil
}

// checkUpdates runs the read-only update check on the device.
func checkUpdates(ctx context.Context, env *OpEnv) (*pkgupdate.Report, error) {
	res, err := env.Run(ctx, pkgupdate.Script())
	if err != nil {
		return nil, err
	}
	rep, err := pkgupdate.Parse(res.Stdout)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("update check on %s: %v", env.Device.Name, err), ErrTypeCommandFailed, nil)
	}
	return rep, nil
}

func listsText(rep *pkgupdate.Report) string {
	s := string(rep.Manager)
	if rep.ListsUpdatedAt.IsZero() {
		return s + ", lists never fetched"
	}
	return s + ", lists " + rep.ListsAge.Round(time.Second).String() + " old"
}

func (packageListsKind) Precheck(ctx context.Context, env *OpEnv) (*OpPrecheck, error) {
	if !env.Device.UseSudo && env.Device.User != "root" {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("refreshing the package lists of %s needs root: "+
			"set the device's use_sudo (with a sudo rule for the refresh command) or log in as root", env.Device.Name), ErrTypeInvalidInput, nil)
	}
	rep, err := checkUpdates(ctx, env)
	if err != nil {
		return nil, err
	}
	if _, err := pkgupdate.RefreshScript(rep.Manager, false); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s (%s): %v", env.Device.Name, rep.Manager, err), ErrTypeInvalidInput, nil)
	}
	return &OpPrecheck{Before: listsText(rep)}, nil
}

// Act refreshes the lists. Refreshing twice is harmless, so a retried attempt simply refreshes again.
func (packageListsKind) Act(ctx context.Context, env *OpEnv) (*OpAct, error) {
	manager, _, _ := strings.Cut(env.Before, ",")
	script, err := pkgupdate.RefreshScript(pkgupdate.Manager(manager), env.Device.UseSudo)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidInput, nil)
	}
	res, err := env.Run(ctx, script)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("refresh on %s: exit %d: %s", env.Device.Name,
			res.ExitCode, lastLines(res)), ErrTypeCommandFailed, nil)
	}
	return &OpAct{Output: string(res.Stdout)}, nil
}

// Verify checks the updates again from the refreshed lists and, with a database, stores that check as the
// updates collector would, so the counts and the lists' age are current when the operation ends.
func (packageListsKind) Verify(ctx context.Context, env *OpEnv) (*OpVerify, error) {
	rep, err := checkUpdates(ctx, env)
	if err != nil {
		return nil, err
	}
	if rep.Failed {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("update check after the refresh failed: %s",
			strings.Join(rep.Messages, "; ")), ErrTypeVerifyFailed, errors.New("check failed"))
	}
	if env.DB != nil {
		if _, err := collectUpdates(ctx, env.DB, env.Device, time.Now(), env.Run); err != nil {
			return nil, err
		}
	}
	return &OpVerify{Summary: "package lists refreshed: " + updatesSummary(rep), After: listsText(rep)}, nil
}
