package service

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/infrastructor/infrastructor/internal/deps"
	"github.com/infrastructor/infrastructor/internal/netinfo"
	"github.com/infrastructor/infrastructor/internal/store"
)

// NetworkOf reads a device's stored network description (#13), or a 404 when none was collected yet.
func (s *Service) NetworkOf(ctx context.Context, d *store.Device) (*store.DeviceNetwork, error) {
	n, err := store.GetNetwork(ctx, s.Pool, d.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("network of device " + d.Name + " (not collected yet: it is read at the device's inventory interval)")
	}
	return n, err
}

// depsContainer turns a stored container into what the dependency analysis reads.
func depsContainer(r *store.ContainerRow) deps.Container {
	c := deps.Container{Container: r.Container, DependsOn: deps.ParseDependsOn(r.Labels[deps.LabelDependsOn])}
	if r.NetworkContainer != "" {
		c.NetworkMode = "container:" + r.NetworkContainer
	}
	for _, l := range r.Links {
		target, alias, _ := strings.Cut(l, ":")
		c.Links = append(c.Links, deps.Link{Target: target, Alias: alias})
	}
	return c
}

// deviceContainers returns the stored containers of one device (or, with nil, of all) for the analyses.
func (s *Service) deviceContainers(ctx context.Context, device *uuid.UUID) ([]*store.ContainerRow, error) {
	rows, _, err := store.ListContainers(ctx, s.Pool, store.ContainerFilter{DeviceID: device, Limit: deps.MaxContainers})
	return rows, err
}

// Dependencies answers what container ref of d needs, what needs it and what it shares, from the last poll.
func (s *Service) Dependencies(ctx context.Context, d *store.Device, ref string) (*deps.Dependencies, error) {
	rows, err := s.deviceContainers(ctx, &d.ID)
	if err != nil {
		return nil, err
	}
	cs := make([]deps.Container, 0, len(rows))
	for _, r := range rows {
		cs = append(cs, depsContainer(r))
	}
	g, err := deps.Analyze(cs)
	if err != nil {
		return nil, err
	}
	out, err := g.For(ref)
	if err != nil {
		return nil, NotFound("container " + ref + " on device " + d.Name)
	}
	return out, nil
}

// Topology builds the network topology of one device (or the fleet, with nil) from the stored networks and
// containers.
func (s *Service) Topology(ctx context.Context, d *store.Device) (*deps.Topology, error) {
	var id *uuid.UUID
	if d != nil {
		id = &d.ID
	}
	nets, err := store.ListNetworks(ctx, s.Pool, id)
	if err != nil {
		return nil, err
	}
	rows, err := s.deviceContainers(ctx, id)
	if err != nil {
		return nil, err
	}
	byDevice := map[uuid.UUID][]deps.Container{}
	names := map[uuid.UUID]string{}
	for _, r := range rows {
		byDevice[r.DeviceID] = append(byDevice[r.DeviceID], depsContainer(r))
		names[r.DeviceID] = r.DeviceName
	}
	hosts := make([]deps.HostInput, 0, len(nets))
	for _, n := range nets {
		hosts = append(hosts, deps.HostInput{Device: n.DeviceName, Host: &netinfo.Host{Interfaces: n.Interfaces,
			DefaultRoutes: n.DefaultRoutes}, DockerNetworks: n.DockerNetworks, Containers: byDevice[n.DeviceID]})
		delete(byDevice, n.DeviceID)
	}
	// Devices whose network was not collected yet still show their published ports.
	for dev, cs := range byDevice {
		hosts = append(hosts, deps.HostInput{Device: names[dev], Containers: cs})
	}
	return deps.BuildTopology(hosts), nil
}
