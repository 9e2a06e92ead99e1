package activities

import (
	"context"

	"go.temporal.io/sdk/temporal"

	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/sshpool"
	"github.com/infrastructor/infrastructor/internal/store"
)

// ErrTypeDeviceReadOnly is the application error type of an operation refused because its device is read-only.
// It is non-retryable: the device's key on the device side allows monitoring only, so retrying cannot help.
const ErrTypeDeviceReadOnly = "DeviceReadOnly"

// refuseReadOnly returns the non-retryable error every operation step (container and compose actions, image
// prune) returns on a read-only device, before anything dials it (#15).
func refuseReadOnly(dev *store.Device) error {
	if !dev.ReadOnly {
		return nil
	}
	return temporal.NewNonRetryableApplicationError("device "+dev.Name+" is read-only: operations are refused",
		ErrTypeDeviceReadOnly, nil)
}

// runDockerCommand runs a command built by package docker on dev, pointed at the device's docker_host (a socket
// proxy) when one is set.
func (a *Activities) runDockerCommand(ctx context.Context, dev *store.Device, target sshpool.Target, cmd string) (*sshpool.Result, error) {
	host := ""
	if dev.DockerHost != nil {
		host = *dev.DockerHost
	}
	full, err := docker.WithDockerHost(cmd, host)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("device "+dev.Name+": "+err.Error(), ErrTypeInvalidInput, nil)
	}
	return a.SSH.Run(ctx, target, full, nil)
}
