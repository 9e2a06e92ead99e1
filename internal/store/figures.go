package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// latestFiguresSQL reads the key figures of every device (or only device $2) from its latest poll within $1.
//
// The latest poll's time is device_poll_state.updated_at (WritePoll sets it to the samples' time in the same
// transaction), so the poll is one primary-key lookup of its system row, which carries the filesystems' and
// sensors' values as arrays (migration 0020); the fullest filesystem's name comes from the device's sample_labels.
// A device whose latest poll predates 0020 shows its disk and temperature figures again from its next poll.
const latestFiguresSQL = `SELECT d.id, d.name, d.status, d.status_reason, d.last_seen,
	s.cpu_pct::float8, (100.0 * s.mem_used / nullif(s.mem_total, 0))::float8, s.load1::float8,
	f.pct, f.mountpoint, t.celsius
	FROM devices d
	LEFT JOIN device_poll_state p ON p.device_id = d.id AND p.updated_at > now() - $1::interval
	LEFT JOIN LATERAL (SELECT m.cpu_pct, m.mem_used, m.mem_total, m.load1, m.fs, m.temps, m.labels FROM system_metrics m
		WHERE m.device_id = p.device_id AND m.time = p.updated_at LIMIT 1) s ON true
	LEFT JOIN LATERAL (
		SELECT (100.0 * s.fs[i][2] / nullif(s.fs[i][2] + s.fs[i][3], 0))::float8 AS pct, l.mountpoints[i] AS mountpoint
		FROM sample_labels l, generate_subscripts(s.fs, 1) i
		WHERE l.device_id = p.device_id AND l.key = s.labels
		ORDER BY 1 DESC NULLS LAST LIMIT 1) f ON true
	LEFT JOIN LATERAL (SELECT max(x)::float8 AS celsius FROM unnest(s.temps) x) t ON true
	WHERE $2::uuid IS NULL OR d.id = $2
	ORDER BY lower(d.name)`

// DeviceFigures returns one device's latest key figures (looked back at most `within`), as FleetFigures does for
// every device, at the cost of that one device: a single device's read (MCP get_device) used to run the fleet-wide
// query and pick its row, which made it cost as much as the whole fleet's summary (#17). It returns ErrNotFound when there is no such device.
func DeviceFigures(ctx context.Context, db DBTX, id uuid.UUID, within time.Duration) (*LatestFigures, error) {
	figs, err := latestFigures(ctx, db, within, &id)
	if err != nil {
		return nil, err
	}
	if len(figs) == 0 {
		return nil, ErrNotFound
	}
	return figs[0], nil
}

func latestFigures(ctx context.Context, db DBTX, within time.Duration, id *uuid.UUID) ([]*LatestFigures, error) {
	ts, ok := db.(TxStarter)
	if !ok {
		return queryLatestFigures(ctx, db, within, id)
	}
	var out []*LatestFigures
	err := pgx.BeginFunc(ctx, ts, func(tx pgx.Tx) error {
		// The planner's estimate for a thousand devices' lateral lookups is far above jit_above_cost, and JIT then
		// compiles for seconds a query that runs in milliseconds (measured: 7.5 s of JIT for 0.3 s of execution).
		if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
			return err
		}
		var err error
		out, err = queryLatestFigures(ctx, tx, within, id)
		return err
	})
	return out, err
}

func queryLatestFigures(ctx context.Context, db DBTX, within time.Duration, id *uuid.UUID) ([]*LatestFigures, error) {
	rows, err := db.Query(ctx, latestFiguresSQL, within, id)
	return scanRows(func(row pgx.Row) (*LatestFigures, error) {
		var f LatestFigures
		if err := row.Scan(&f.DeviceID, &f.Name, &f.Status, &f.StatusReason, &f.LastSeen, &f.CPUPercent,
			&f.MemoryUsedPercent, &f.Load1, &f.DiskMaxPercent, &f.DiskMaxMount, &f.TempMaxCelsius); err != nil {
			return nil, err
		}
		return &f, nil
	}, rows, err)
}
