package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/docker"
	"github.com/infrastructor/infrastructor/internal/netinfo"
	"github.com/infrastructor/infrastructor/internal/store"
)

// TopicDeviceNetwork is the live-update topic of a device's interfaces and Docker networks.
func TopicDeviceNetwork(id string) string { return "device." + id + ".network" }

// dockerAvailable reports whether the device's last poll found a working Docker daemon.
func dockerAvailable(dev *store.Device) bool {
	if len(dev.Docker) == 0 {
		return false
	}
	var a docker.Availability
	return json.Unmarshal(dev.Docker, &a) == nil && a.State == docker.Available
}

// collectNetwork reads the device's interfaces and default routes, and its Docker networks when the last poll
// found Docker, and stores them. A failed Docker listing is stored as docker_error; the interfaces still count.
func collectNetwork(ctx context.Context, db *pgxpool.Pool, dev *store.Device, now time.Time, run runScript) (*collected, error) {
	res, err := run(ctx, netinfo.Script())
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", dev.Name, err)
	}
	host, err := netinfo.Parse(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("network %s: %w (exit %d)", dev.Name, err, res.ExitCode)
	}
	n := &store.DeviceNetwork{DeviceID: dev.ID, Interfaces: host.Interfaces, DefaultRoutes: host.DefaultRoutes,
		Errors: host.Errors, Truncated: host.Truncated, CollectedAt: now.UTC()}
	if dockerAvailable(dev) {
		cmd := netinfo.DockerNetworksCommand()
		if dev.DockerHost != nil {
			if cmd, err = docker.WithDockerHost(cmd, *dev.DockerHost); err != nil {
				return nil, fmt.Errorf("network %s: %w", dev.Name, err)
			}
		}
		res, err := run(ctx, cmd)
		switch {
		case err != nil:
			n.DockerError = err.Error()
		case res.ExitCode != 0:
			n.DockerError = fmt.Sprintf("docker network inspect: exit %d: %s", res.ExitCode, firstLine(res.Stderr))
		default:
			nets, trunc, err := netinfo.ParseDockerNetworks(res.Stdout)
			if err != nil {
				n.DockerError = err.Error()
			} else {
				n.DockerNetworks = nets
				n.Truncated = n.Truncated || trunc
			}
		}
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := store.SaveNetwork(ctx, tx, n); err != nil {
		return nil, err
	}
	summary := fmt.Sprintf("%d interfaces", len(n.Interfaces))
	if n.DockerNetworks != nil {
		summary += fmt.Sprintf(", %d docker networks", len(n.DockerNetworks))
	}
	if len(n.Errors) > 0 {
		summary += ", " + n.Errors[0]
	}
	if n.DockerError != "" {
		summary += ", docker: " + n.DockerError
	}
	if err := store.Publish(ctx, tx, TopicDeviceNetwork(dev.ID.String()), map[string]any{"device_id": dev.ID,
		"summary": summary}); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return &collected{summary: summary, checks: map[string][]alert.Reading{}}, nil
}
