package service

import (
	"context"
	"fmt"

	"github.com/infrastructor/infrastructor/internal/store"
)

// InventoryFleet counts what the slow-cadence collection of #13 found across the fleet: pending security updates,
// devices asking for a reboot, and autostart VMs that are not running, with the devices or VMs concerned.
type InventoryFleet struct {
	store.UpdatesTotals
	StoppedAutostartVMs int `json:"stopped_autostart_vms"`
	// SecurityDevices, RebootDevices and StoppedVMs name them ("device" or "device/vm"), worst first, at most 20.
	SecurityDevices []string `json:"security_devices"`
	RebootDevices   []string `json:"reboot_devices"`
	StoppedVMs      []string `json:"stopped_vms"`
}

const inventoryFleetNames = 20

// InventoryFleet reads the fleet's inventory counts.
func (s *Service) InventoryFleet(ctx context.Context) (*InventoryFleet, error) {
	t, err := store.CountUpdates(ctx, s.Pool)
	if err != nil {
		return nil, err
	}
	f := &InventoryFleet{UpdatesTotals: *t, SecurityDevices: []string{}, RebootDevices: []string{}, StoppedVMs: []string{}}
	sec, err := store.ListUpdates(ctx, s.Pool, store.UpdatesFilter{SecurityOnly: true, Limit: inventoryFleetNames})
	if err != nil {
		return nil, err
	}
	for _, u := range sec {
		f.SecurityDevices = append(f.SecurityDevices, fmt.Sprintf("%s (%d)", u.DeviceName, u.Security))
	}
	reboot, err := store.ListUpdates(ctx, s.Pool, store.UpdatesFilter{RebootRequired: true, Limit: inventoryFleetNames})
	if err != nil {
		return nil, err
	}
	for _, u := range reboot {
		f.RebootDevices = append(f.RebootDevices, u.DeviceName)
	}
	if f.StoppedAutostartVMs, err = store.CountStoppedAutostartVMs(ctx, s.Pool); err != nil {
		return nil, err
	}
	vms, err := store.ListVMs(ctx, s.Pool, store.VMFilter{AutostartNotRunning: true, Limit: inventoryFleetNames})
	if err != nil {
		return nil, err
	}
	for _, v := range vms {
		f.StoppedVMs = append(f.StoppedVMs, v.DeviceName+"/"+v.Name+" ("+v.State+")")
	}
	return f, nil
}

// Lines is the fleet_health text of the inventory counts; nothing when all is well.
func (f *InventoryFleet) Lines() []string {
	var out []string
	if f.SecurityUpdates > 0 {
		out = append(out, fmt.Sprintf("Pending security updates: %d on %d devices: %v", f.SecurityUpdates, f.DevicesWithSecurity, f.SecurityDevices))
	}
	if f.RebootRequired > 0 {
		out = append(out, fmt.Sprintf("Reboot required: %d devices: %v", f.RebootRequired, f.RebootDevices))
	}
	if f.StoppedAutostartVMs > 0 {
		out = append(out, fmt.Sprintf("Autostart VMs not running: %d: %v", f.StoppedAutostartVMs, f.StoppedVMs))
	}
	return out
}
