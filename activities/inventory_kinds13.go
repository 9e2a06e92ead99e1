package activities

import (
	"context"
	"time"
)

// The inventory collectors of #13: package updates, VMs and networks. Their work is in inventory_updates.go,
// inventory_vms.go and inventory_network.go; these adapt it to InventoryCollector.

func (c *collected) outcome() *InventoryOutcome {
	if c == nil {
		return nil
	}
	return &InventoryOutcome{Summary: c.summary, Checks: c.checks}
}

// updatesCollector checks pending package updates from the cached lists (read-only, no root).
type updatesCollector struct{}

func (updatesCollector) Name() string         { return "updates" }
func (updatesCollector) Every() time.Duration { return UpdatesEvery }
func (updatesCollector) Collect(ctx context.Context, env *InventoryEnv) (*InventoryOutcome, error) {
	c, err := collectUpdates(ctx, env.DB, env.Device, env.Now, env.Run)
	return c.outcome(), err
}

// vmsCollector lists the libvirt domains of devices that have virsh.
type vmsCollector struct{}

func (vmsCollector) Name() string         { return "vms" }
func (vmsCollector) Every() time.Duration { return 0 }
func (vmsCollector) Collect(ctx context.Context, env *InventoryEnv) (*InventoryOutcome, error) {
	c, err := collectVMs(ctx, env.DB, env.Device, env.Now, env.Run)
	return c.outcome(), err
}

// networkCollector reads interfaces, default routes and Docker networks.
type networkCollector struct{}

func (networkCollector) Name() string         { return "network" }
func (networkCollector) Every() time.Duration { return 0 }
func (networkCollector) Collect(ctx context.Context, env *InventoryEnv) (*InventoryOutcome, error) {
	c, err := collectNetwork(ctx, env.DB, env.Device, env.Now, env.Run)
	return c.outcome(), err
}
