package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/store"
	"github.com/infrastructor/infrastructor/internal/virsh"
)

// CheckVMAutostart is the check of autostart VMs that are not running (one subject per VM, reading 1).
const CheckVMAutostart = "vm_autostart_not_running"

// VirshURI is the libvirt connection Infrastructor reads and acts on (virsh.SystemURI).
const VirshURI = virsh.SystemURI

// TopicDeviceVMs is the live-update topic of a device's VMs.
func TopicDeviceVMs(id string) string { return "device." + id + ".vms" }

// vmInventoryScript is the fixed read script of the vms collector.
func vmInventoryScript() string { return virsh.SystemInventoryScript() }

// collectVMs lists the device's libvirt domains, stores them, writes events for domains that appeared,
// disappeared or changed state, and returns the autostart check. A device without virsh stores "not available"
// and returns an empty check (nothing to alert on); a failed listing keeps the last domains and returns no
// check, so alert states stay as they were.
func collectVMs(ctx context.Context, db *pgxpool.Pool, dev *store.Device, now time.Time, run runScript) (*collected, error) {
	res, err := run(ctx, vmInventoryScript())
	if err != nil {
		return nil, fmt.Errorf("vms %s: %w", dev.Name, err)
	}
	inv, err := virsh.ParseInventory(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("vms %s: %w (exit %d)", dev.Name, err, res.ExitCode)
	}
	now = now.UTC()
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// The first collection describes what is there; only later ones report domains as new.
	_, err = store.GetVMHost(ctx, tx, dev.ID)
	first := errors.Is(err, store.ErrNotFound)
	if err != nil && !first {
		return nil, err
	}
	if err := store.SaveVMHost(ctx, tx, &store.VMHost{DeviceID: dev.ID, Available: inv.Available, Error: inv.Error,
		Truncated: inv.Truncated, CollectedAt: now}); err != nil {
		return nil, err
	}
	out := &collected{checks: map[string][]alert.Reading{}}
	switch {
	case !inv.Available:
		if err := store.ReplaceVMs(ctx, tx, dev.ID, nil); err != nil {
			return nil, err
		}
		out.summary = "virsh not installed"
		out.checks[CheckVMAutostart] = nil
	case inv.Error != "":
		out.summary = "virsh: " + inv.Error
	default:
		prev, err := store.VMStates(ctx, tx, dev.ID)
		if err != nil {
			return nil, err
		}
		vms := make([]store.VM, 0, len(inv.Domains))
		running := 0
		for _, d := range inv.Domains {
			v := store.VM{DeviceID: dev.ID, Name: d.Name, UUID: d.UUID, State: string(d.State), VCPUs: d.VCPUs,
				MaxMemoryKiB: int64(d.MaxMemoryKiB), UsedMemoryKiB: int64(d.UsedMemoryKiB), Autostart: d.Autostart,
				Persistent: d.Persistent, OSType: d.OSType, Disks: d.Disks, Interfaces: d.Interfaces, Error: d.Error,
				StateSince: now, CollectedAt: now}
			if d.State == virsh.StateRunning {
				running++
			}
			old, seen := prev[d.Name]
			switch {
			case !seen:
				if !first {
					e := &store.Event{DeviceID: &dev.ID, Kind: EventVMDefined, Severity: "info",
						Message: fmt.Sprintf("%s: VM %s found (%s)", dev.Name, d.Name, d.State)}
					if err := store.InsertEvent(ctx, tx, e); err != nil {
						return nil, err
					}
				}
			case d.Error != "" || d.State == "":
				// An unreadable domain keeps its last known state.
				v.State, v.StateSince = old.State, old.StateSince
			case old.State == string(d.State):
				v.StateSince = old.StateSince
			default:
				sev := "info"
				if d.Autostart && d.State != virsh.StateRunning {
					sev = "warning"
				}
				e := &store.Event{DeviceID: &dev.ID, Kind: EventVMState, Severity: sev,
					Message: fmt.Sprintf("%s: VM %s %s → %s", dev.Name, d.Name, old.State, d.State)}
				if err := store.InsertEvent(ctx, tx, e); err != nil {
					return nil, err
				}
			}
			delete(prev, d.Name)
			vms = append(vms, v)
		}
		for name := range prev {
			e := &store.Event{DeviceID: &dev.ID, Kind: EventVMUndefined, Severity: "info",
				Message: fmt.Sprintf("%s: VM %s no longer defined", dev.Name, name)}
			if err := store.InsertEvent(ctx, tx, e); err != nil {
				return nil, err
			}
		}
		if err := store.ReplaceVMs(ctx, tx, dev.ID, vms); err != nil {
			return nil, err
		}
		var rs []alert.Reading
		for _, name := range inv.AutostartNotRunning() {
			rs = append(rs, alert.Reading{Subject: name, Value: 1})
		}
		out.checks[CheckVMAutostart] = rs
		out.summary = fmt.Sprintf("%d VMs (%d running)", len(vms), running)
		if len(rs) > 0 {
			out.summary += fmt.Sprintf(", %d autostart VMs not running", len(rs))
		}
	}
	if err := store.Publish(ctx, tx, TopicDeviceVMs(dev.ID.String()), map[string]any{"device_id": dev.ID,
		"summary": out.summary}); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return out, nil
}
