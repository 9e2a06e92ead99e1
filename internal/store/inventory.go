package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// InventoryRun is the last run of one slow-cadence collector on a device.
type InventoryRun struct {
	Collector   string     `json:"collector"`
	CollectedAt time.Time  `json:"collected_at"`
	OK          bool       `json:"ok"`
	Summary     string     `json:"summary"`
	Error       string     `json:"error,omitempty"`
	LastOK      *time.Time `json:"last_ok_at"`
}

// InventoryRuns returns the last run of each collector on the device, by collector name.
func InventoryRuns(ctx context.Context, db DBTX, deviceID uuid.UUID) (map[string]InventoryRun, error) {
	rows, err := db.Query(ctx, `SELECT collector, collected_at, ok, summary, error, last_ok_at
		FROM device_inventory WHERE device_id = $1`, deviceID)
	if err != nil {
		return nil, mapErr(err)
	}
	runs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (InventoryRun, error) {
		var r InventoryRun
		err := row.Scan(&r.Collector, &r.CollectedAt, &r.OK, &r.Summary, &r.Error, &r.LastOK)
		return r, err
	})
	if err != nil {
		return nil, mapErr(err)
	}
	out := make(map[string]InventoryRun, len(runs))
	for _, r := range runs {
		out[r.Collector] = r
	}
	return out, nil
}

// RecordInventoryRun stores a collector's run; a failed run keeps the time of the last one that worked.
func RecordInventoryRun(ctx context.Context, db DBTX, deviceID uuid.UUID, r InventoryRun) error {
	_, err := db.Exec(ctx, `INSERT INTO device_inventory (device_id, collector, collected_at, ok, summary, error, last_ok_at)
		VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $4 THEN $3::timestamptz END)
		ON CONFLICT (device_id, collector) DO UPDATE SET collected_at = $3, ok = $4, summary = $5, error = $6,
			last_ok_at = CASE WHEN $4 THEN $3::timestamptz ELSE device_inventory.last_ok_at END`,
		deviceID, r.Collector, r.CollectedAt, r.OK, r.Summary, r.Error)
	return mapErr(err)
}
