package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/virsh"
)

// VMHost is whether a device has virsh, and the error of its last domain listing (#13).
type VMHost struct {
	DeviceID    uuid.UUID `json:"device_id"`
	Available   bool      `json:"available"`
	Error       string    `json:"error"`
	Truncated   bool      `json:"truncated"`
	CollectedAt time.Time `json:"collected_at"`
}

// VM is one libvirt domain of a device as of the last collection.
type VM struct {
	DeviceID      uuid.UUID         `json:"device_id"`
	DeviceName    string            `json:"device_name,omitempty"`
	Name          string            `json:"name"`
	UUID          string            `json:"uuid"`
	State         string            `json:"state"`
	VCPUs         int               `json:"vcpus"`
	MaxMemoryKiB  int64             `json:"max_memory_kib"`
	UsedMemoryKiB int64             `json:"used_memory_kib"`
	Autostart     bool              `json:"autostart"`
	Persistent    bool              `json:"persistent"`
	OSType        string            `json:"os_type"`
	Disks         []virsh.Disk      `json:"disks"`
	Interfaces    []virsh.Interface `json:"interfaces"`
	Error         string            `json:"error"`
	StateSince    time.Time         `json:"state_since"`
	CollectedAt   time.Time         `json:"collected_at"`
}

// SaveVMHost stores the virsh availability of a device.
func SaveVMHost(ctx context.Context, db DBTX, h *VMHost) error {
	_, err := db.Exec(ctx, `INSERT INTO device_vm_hosts (device_id, available, error, truncated, collected_at)
		VALUES ($1,$2,$3,$4,$5) ON CONFLICT (device_id) DO UPDATE SET available=EXCLUDED.available,
		error=EXCLUDED.error, truncated=EXCLUDED.truncated, collected_at=EXCLUDED.collected_at`,
		h.DeviceID, h.Available, h.Error, h.Truncated, h.CollectedAt)
	return mapErr(err)
}

// GetVMHost returns the virsh availability of a device, ErrNotFound before the first collection.
func GetVMHost(ctx context.Context, db DBTX, device uuid.UUID) (*VMHost, error) {
	var h VMHost
	err := db.QueryRow(ctx, `SELECT device_id, available, error, truncated, collected_at FROM device_vm_hosts
		WHERE device_id = $1`, device).Scan(&h.DeviceID, &h.Available, &h.Error, &h.Truncated, &h.CollectedAt)
	if err != nil {
		return nil, mapErr(err)
	}
	return &h, nil
}

// VMStates returns the stored state and state_since of each domain of a device, locking the rows.
func VMStates(ctx context.Context, db DBTX, device uuid.UUID) (map[string]VM, error) {
	rows, err := db.Query(ctx, `SELECT name, state, state_since, autostart FROM device_vms WHERE device_id = $1 FOR UPDATE`, device)
	list, err := scanRows(func(row pgx.Row) (VM, error) {
		var v VM
		err := row.Scan(&v.Name, &v.State, &v.StateSince, &v.Autostart)
		return v, err
	}, rows, err)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make(map[string]VM, len(list))
	for _, v := range list {
		out[v.Name] = v
	}
	return out, nil
}

// ReplaceVMs stores the domains of a device, removing those no longer listed.
func ReplaceVMs(ctx context.Context, db DBTX, device uuid.UUID, vms []VM) error {
	names := make([]string, 0, len(vms))
	for _, v := range vms {
		names = append(names, v.Name)
		disks, err := json.Marshal(v.Disks)
		if err != nil {
			return err
		}
		ifs, err := json.Marshal(v.Interfaces)
		if err != nil {
			return err
		}
		if _, err := db.Exec(ctx, `INSERT INTO device_vms (device_id, name, uuid, state, vcpus, max_memory_kib,
			used_memory_kib, autostart, persistent, os_type, disks, interfaces, error, state_since, collected_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)
			ON CONFLICT (device_id, name) DO UPDATE SET uuid=EXCLUDED.uuid, state=EXCLUDED.state, vcpus=EXCLUDED.vcpus,
			max_memory_kib=EXCLUDED.max_memory_kib, used_memory_kib=EXCLUDED.used_memory_kib,
			autostart=EXCLUDED.autostart, persistent=EXCLUDED.persistent, os_type=EXCLUDED.os_type,
			disks=EXCLUDED.disks, interfaces=EXCLUDED.interfaces, error=EXCLUDED.error,
			state_since=EXCLUDED.state_since, collected_at=EXCLUDED.collected_at`,
			device, v.Name, v.UUID, v.State, v.VCPUs, v.MaxMemoryKiB, v.UsedMemoryKiB, v.Autostart, v.Persistent,
			v.OSType, disks, ifs, v.Error, v.StateSince, v.CollectedAt); err != nil {
			return mapErr(err)
		}
	}
	_, err := db.Exec(ctx, `DELETE FROM device_vms WHERE device_id = $1 AND NOT (name = ANY($2))`, device, names)
	return mapErr(err)
}

const vmColumns = `v.device_id, d.name, v.name, v.uuid, v.state, v.vcpus, v.max_memory_kib, v.used_memory_kib,
	v.autostart, v.persistent, v.os_type, v.disks, v.interfaces, v.error, v.state_since, v.collected_at`

func scanVM(row pgx.Row) (*VM, error) {
	var v VM
	var disks, ifs []byte
	if err := row.Scan(&v.DeviceID, &v.DeviceName, &v.Name, &v.UUID, &v.State, &v.VCPUs, &v.MaxMemoryKiB, &v.UsedMemoryKiB,
		&v.Autostart, &v.Persistent, &v.OSType, &disks, &ifs, &v.Error, &v.StateSince, &v.CollectedAt); err != nil {
		return nil, mapErr(err)
	}
	v.Disks, v.Interfaces = []virsh.Disk{}, []virsh.Interface{}
	if err := json.Unmarshal(disks, &v.Disks); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(ifs, &v.Interfaces); err != nil {
		return nil, err
	}
	return &v, nil
}

// VMFilter selects VMs; a nil DeviceID means every device.
type VMFilter struct {
	DeviceID *uuid.UUID
	// AutostartNotRunning keeps autostart domains that are not running.
	AutostartNotRunning bool
	Limit               int
}

// ListVMs returns VMs by device name and VM name.
func ListVMs(ctx context.Context, db DBTX, f VMFilter) ([]*VM, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	rows, err := db.Query(ctx, `SELECT `+vmColumns+` FROM device_vms v JOIN devices d ON d.id = v.device_id
		WHERE ($1::uuid IS NULL OR v.device_id = $1) AND (NOT $2 OR (v.autostart AND v.state <> 'running' AND v.error = ''))
		ORDER BY d.name, v.name LIMIT $3`, f.DeviceID, f.AutostartNotRunning, f.Limit)
	return scanRows(scanVM, rows, err)
}

// GetVM returns one VM of a device.
func GetVM(ctx context.Context, db DBTX, device uuid.UUID, name string) (*VM, error) {
	return scanVM(db.QueryRow(ctx, `SELECT `+vmColumns+` FROM device_vms v JOIN devices d ON d.id = v.device_id
		WHERE v.device_id = $1 AND v.name = $2`, device, name))
}

// CountStoppedAutostartVMs counts autostart VMs that are not running, fleet-wide.
func CountStoppedAutostartVMs(ctx context.Context, db DBTX) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM device_vms WHERE autostart AND state <> 'running' AND error = ''`).Scan(&n)
	return n, mapErr(err)
}
