package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/netinfo"
)

// DeviceNetwork is the network description of a device as of the last collection (#13).
type DeviceNetwork struct {
	DeviceID      uuid.UUID           `json:"device_id"`
	DeviceName    string              `json:"device_name,omitempty"`
	Interfaces    []netinfo.Interface `json:"interfaces"`
	DefaultRoutes []netinfo.Route     `json:"default_routes"`
	Errors        []string            `json:"errors"`
	Truncated     bool                `json:"truncated"`
	// DockerNetworks is nil when the device has no Docker or its networks could not be read (DockerError).
	DockerNetworks []netinfo.DockerNetwork `json:"docker_networks"`
	DockerError    string                  `json:"docker_error"`
	CollectedAt    time.Time               `json:"collected_at"`
}

// SaveNetwork stores the network description of a device, replacing the previous one.
func SaveNetwork(ctx context.Context, db DBTX, n *DeviceNetwork) error {
	ifs, err := json.Marshal(n.Interfaces)
	if err != nil {
		return err
	}
	routes, err := json.Marshal(n.DefaultRoutes)
	if err != nil {
		return err
	}
	var nets []byte
	if n.DockerNetworks != nil {
		if nets, err = json.Marshal(n.DockerNetworks); err != nil {
			return err
		}
	}
	errs := n.Errors
	if errs == nil {
		errs = []string{}
	}
	_, err = db.Exec(ctx, `INSERT INTO device_networks (device_id, interfaces, default_routes, errors, truncated,
		docker_networks, docker_error, collected_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
		ON CONFLICT (device_id) DO UPDATE SET interfaces=EXCLUDED.interfaces, default_routes=EXCLUDED.default_routes,
		errors=EXCLUDED.errors, truncated=EXCLUDED.truncated, docker_networks=EXCLUDED.docker_networks,
		docker_error=EXCLUDED.docker_error, collected_at=EXCLUDED.collected_at`,
		n.DeviceID, ifs, routes, errs, n.Truncated, nets, n.DockerError, n.CollectedAt)
	return mapErr(err)
}

func scanNetwork(row pgx.Row) (*DeviceNetwork, error) {
	var n DeviceNetwork
	var ifs, routes, nets []byte
	if err := row.Scan(&n.DeviceID, &n.DeviceName, &ifs, &routes, &n.Errors, &n.Truncated, &nets, &n.DockerError,
		&n.CollectedAt); err != nil {
		return nil, mapErr(err)
	}
	n.Interfaces, n.DefaultRoutes = []netinfo.Interface{}, []netinfo.Route{}
	if err := json.Unmarshal(ifs, &n.Interfaces); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(routes, &n.DefaultRoutes); err != nil {
		return nil, err
	}
	if len(nets) > 0 {
		if err := json.Unmarshal(nets, &n.DockerNetworks); err != nil {
			return nil, err
		}
	}
	return &n, nil
}

const networkColumns = `n.device_id, d.name, n.interfaces, n.default_routes, n.errors, n.truncated, n.docker_networks,
	n.docker_error, n.collected_at`

// GetNetwork returns the network description of a device, ErrNotFound before the first collection.
func GetNetwork(ctx context.Context, db DBTX, device uuid.UUID) (*DeviceNetwork, error) {
	return scanNetwork(db.QueryRow(ctx, `SELECT `+networkColumns+` FROM device_networks n JOIN devices d ON d.id = n.device_id
		WHERE n.device_id = $1`, device))
}

// ListNetworks returns the network descriptions of every device (or of one), by device name.
func ListNetworks(ctx context.Context, db DBTX, device *uuid.UUID) ([]*DeviceNetwork, error) {
	rows, err := db.Query(ctx, `SELECT `+networkColumns+` FROM device_networks n JOIN devices d ON d.id = n.device_id
		WHERE ($1::uuid IS NULL OR n.device_id = $1) ORDER BY d.name`, device)
	return scanRows(scanNetwork, rows, err)
}
