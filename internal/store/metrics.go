package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
)

// PollWrite is everything one poll stores, in one transaction.
type PollWrite struct {
	DeviceID uuid.UUID
	PollKey  string
	// Time is when the samples were taken (the worker's clock at collection; device clocks drift).
	Time     time.Time
	Metrics  collector.Metrics
	Counters *collector.Counters
	// Capabilities, when non-nil, replace the device's stored capabilities.
	Capabilities any
	Summary      string
	// Containers, when non-nil, is the docker part of the poll.
	Containers *ContainerWrite
	// Within, when set, runs last in the poll's transaction (not for a duplicate): work that must commit with the
	// samples or not at all, such as the alert evaluation of the poll (#17). Its error rolls the poll back.
	Within func(ctx context.Context, tx pgx.Tx) error
}

// PollOutcome tells what WritePoll did.
type PollOutcome struct {
	// Duplicate is true when a poll with the same key was already committed (a retried activity): nothing was
	// written again.
	Duplicate bool
	// PreviousStatus is the device status before this poll set it online.
	PreviousStatus string
	// Rows is the number of samples written: the system sample and one per filesystem, disk, interface, sensor and
	// container (one row each before migration 0020; now two rows hold them all).
	Rows int64
}

// LoadPollCounters returns the counters of the device's last committed poll and its containers' cgroup counters
// (each nil when there are none), in one read: what LoadCounters and LoadContainerCounters return.
func LoadPollCounters(ctx context.Context, db DBTX, id uuid.UUID) (*collector.Counters, *docker.CgroupSnapshot, error) {
	var raw, rawContainers []byte
	err := db.QueryRow(ctx, `SELECT counters, container_counters FROM device_poll_state WHERE device_id = $1`, id).
		Scan(&raw, &rawContainers)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	// Counters in an old shape only cost one poll's rates.
	var c *collector.Counters
	if len(raw) > 0 {
		c = &collector.Counters{}
		if json.Unmarshal(raw, c) != nil {
			c = nil
		}
	}
	var cs *docker.CgroupSnapshot
	if len(rawContainers) > 0 {
		cs = &docker.CgroupSnapshot{}
		if json.Unmarshal(rawContainers, cs) != nil {
			cs = nil
		}
	}
	return c, cs, nil
}

// LoadCounters returns the counters of the device's last committed poll, or nil.
func LoadCounters(ctx context.Context, db DBTX, id uuid.UUID) (*collector.Counters, error) {
	var raw []byte
	err := db.QueryRow(ctx, `SELECT counters FROM device_poll_state WHERE device_id = $1`, id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) || len(raw) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c collector.Counters
	if err := json.Unmarshal(raw, &c); err != nil {
		// Counters in an old shape only cost one poll's rates.
		return nil, nil
	}
	return &c, nil
}

// WritePoll commits one poll: its samples (copySamples), the counters for the next poll, the device's last_seen and
// online status, and the capabilities. A poll whose key was already committed writes nothing (idempotent
// under activity retries). The device row is locked for the transaction so two writers of one device queue.
func WritePoll(ctx context.Context, db TxStarter, w *PollWrite) (*PollOutcome, error) {
	out := &PollOutcome{}
	// Partitions are created outside the poll's transaction: DDL there would hold locks that every other
	// device's write waits for.
	if err := ensurePartition(ctx, db, w.Time); err != nil {
		return nil, err
	}
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var lastKey *string
		err := tx.QueryRow(ctx, `SELECT d.status, s.last_poll_key FROM devices d
			LEFT JOIN device_poll_state s ON s.device_id = d.id WHERE d.id = $1 FOR UPDATE OF d`, w.DeviceID).
			Scan(&out.PreviousStatus, &lastKey)
		if err != nil {
			return mapErr(err)
		}
		if lastKey != nil && *lastKey == w.PollKey {
			out.Duplicate = true
			return nil
		}
		n, err := copySamples(ctx, tx, w)
		if err != nil {
			return err
		}
		out.Rows = n
		counters, err := json.Marshal(w.Counters)
		if err != nil {
			return err
		}
		// The container part's counters and listing time go into the same row in the same statement: one row
		// version per poll, not two.
		var containerCounters []byte
		var listed *time.Time
		if c := w.Containers; c != nil {
			if c.Counters != nil {
				if containerCounters, err = json.Marshal(c.Counters); err != nil {
					return err
				}
			}
			if c.List != nil {
				listed = &w.Time
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO device_poll_state (device_id, last_poll_key, counters, summary, updated_at,
			container_counters, containers_listed_at) VALUES ($1,$2,$3,$4,$5,$6,$7)
			ON CONFLICT (device_id) DO UPDATE SET last_poll_key = excluded.last_poll_key,
			counters = excluded.counters, summary = excluded.summary, updated_at = excluded.updated_at,
			container_counters = coalesce(excluded.container_counters, device_poll_state.container_counters),
			containers_listed_at = coalesce(excluded.containers_listed_at, device_poll_state.containers_listed_at)`,
			w.DeviceID, w.PollKey, counters, w.Summary, w.Time, containerCounters, listed); err != nil {
			return err
		}
		if w.Containers != nil {
			if err := writeContainers(ctx, tx, w.DeviceID, w.Time, w.Containers); err != nil {
				return err
			}
		}
		var caps []byte
		if w.Capabilities != nil {
			if caps, err = json.Marshal(w.Capabilities); err != nil {
				return err
			}
		}
		// A host-key block stays until an administrator approves a key (which sets the status back to unknown):
		// a poll whose session ran on the connection from before the key changed, and commits after another
		// session's handshake found the new key, must not set the device online again.
		// Docker's availability goes with the status: the row is updated anyway.
		var avail []byte
		if w.Containers != nil {
			if avail, err = json.Marshal(w.Containers.Docker); err != nil {
				return err
			}
		}
		var status string
		if err = tx.QueryRow(ctx, `UPDATE devices SET
			status = CASE WHEN status = 'blocked' AND status_reason LIKE '%host key%' THEN status ELSE 'online' END,
			status_reason = CASE WHEN status = 'blocked' AND status_reason LIKE '%host key%' THEN status_reason ELSE '' END,
			last_seen = greatest(last_seen, $2), capabilities = coalesce($3, capabilities),
			docker = coalesce($4::jsonb, docker) WHERE id = $1
			RETURNING status`, w.DeviceID, w.Time, caps, avail).Scan(&status); err != nil {
			return err
		}
		if err := Publish(ctx, tx, TopicDeviceMetrics(w.DeviceID.String()), keyFigures(w)); err != nil {
			return err
		}
		if out.PreviousStatus == StatusOnline || status != StatusOnline {
			return w.runWithin(ctx, tx)
		}
		if err := Publish(ctx, tx, TopicDeviceStatus(w.DeviceID.String()), map[string]string{
			"device_id": w.DeviceID.String(), "status": StatusOnline, "previous_status": out.PreviousStatus}); err != nil {
			return err
		}
		id := w.DeviceID
		data, _ := json.Marshal(map[string]string{"previous_status": out.PreviousStatus})
		if err := InsertEvent(ctx, tx, &Event{DeviceID: &id, Kind: EventDeviceOnline, Data: data,
			Message: "device is online (was " + out.PreviousStatus + ")"}); err != nil {
			return err
		}
		return w.runWithin(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// copySamples writes the poll's samples in the compact shape of migration 0020: one system_metrics row carrying
// the per-filesystem, per-disk, per-interface and per-sensor values as arrays, one container_poll_metrics row for
// the running containers, and the names those arrays are in the order of (sample_labels, only when new), all in
// one round trip. It returns the number of samples (the system sample and one per entity).
func copySamples(ctx context.Context, tx pgx.Tx, w *PollWrite) (int64, error) {
	m, id, t := &w.Metrics, w.DeviceID, w.Time
	c := compact(w)
	key := c.labels.key()
	b := &pgx.Batch{}
	queueLabels(b, id, &c.labels, key, t)

	sys := []any{id, t, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil,
		key, orNil(c.fs), orNil(c.diskio), orNil(c.net), orNil(c.temps)}
	if c := m.CPU; c != nil {
		cores := make([]float32, len(c.Cores))
		for i, core := range c.Cores {
			cores[i] = float32(core.UsagePercent)
		}
		sys[2], sys[3], sys[4], sys[5] = float32(c.UsagePercent), float32(c.IOWaitPercent), float32(c.StealPercent), cores
	}
	if mem := m.Memory; mem != nil {
		sys[6], sys[7], sys[8] = int64(mem.TotalBytes), int64(mem.UsedBytes), int64(mem.AvailableBytes)
		sys[9], sys[10] = int64(mem.SwapTotalBytes), int64(mem.SwapUsedBytes)
	}
	if l := m.Load; l != nil {
		sys[11], sys[12], sys[13] = float32(l.Load1), float32(l.Load5), float32(l.Load15)
	}
	if m.UptimeSeconds != nil {
		sys[14] = *m.UptimeSeconds
	}
	if m.Processes != nil {
		sys[15] = int32(*m.Processes)
	}
	b.Queue(`INSERT INTO system_metrics (device_id, time, cpu_pct, cpu_iowait_pct, cpu_steal_pct,
		cpu_cores, mem_total, mem_used, mem_available, swap_total, swap_used, load1, load5, load15, uptime_s, procs,
		labels, fs, diskio, net, temps) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)`,
		sys...)
	if len(c.pids) > 0 {
		b.Queue(`INSERT INTO container_poll_metrics (device_id, time, labels, stats, mem, pids)
			VALUES ($1,$2,$3,$4,$5,$6)`, id, t, key, c.stats, c.mem, c.pids)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("write samples: %w", err)
	}
	return 1 + c.entities, nil
}

// knownPartitions remembers, per database handle, the days whose partitions this process has ensured, so the
// common case costs no query.
var knownPartitions sync.Map

// ensurePartition makes sure the daily partitions for t's day (and the next) exist. Housekeeping creates
// them ahead; this covers a worker that runs past the prepared range.
func ensurePartition(ctx context.Context, db DBTX, t time.Time) error {
	day := fmt.Sprintf("%p/%s", db, t.UTC().Format("2006-01-02"))
	if _, ok := knownPartitions.Load(day); ok {
		return nil
	}
	if _, err := EnsurePartitions(ctx, db, t.UTC().AddDate(0, 0, -1), 2); err != nil {
		return err
	}
	knownPartitions.Store(day, true)
	return nil
}

// EnsurePartitions creates the daily partitions of every time-series table for the days from `from` to
// `from` + `days` (both included) and returns how many it created.
// On TimescaleDB (no partitioned tables) it does nothing.
func EnsurePartitions(ctx context.Context, db DBTX, from time.Time, days int) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT infra_ensure_partitions($1::date, $2)`, from.UTC().Format("2006-01-02"), days).Scan(&n)
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return 0, fmt.Errorf("ensure partitions: %s", pg.Message)
	}
	return n, err
}

// keyFigures is the small summary of a poll that live listeners get.
func keyFigures(w *PollWrite) map[string]any {
	m := &w.Metrics
	out := map[string]any{"device_id": w.DeviceID.String(), "time": w.Time, "summary": w.Summary}
	if m.CPU != nil {
		out["cpu_percent"] = m.CPU.UsagePercent
	}
	if m.Memory != nil {
		out["memory_used_percent"] = m.Memory.UsedPercent
	}
	if m.Load != nil {
		out["load1"] = m.Load.Load1
	}
	var fsMax float64
	for _, f := range m.Filesystems {
		fsMax = max(fsMax, f.UsedPercent)
	}
	if len(m.Filesystems) > 0 {
		out["disk_max_used_percent"] = fsMax
	}
	return out
}
