package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/infrastructor/infrastructor/internal/alert"
	"github.com/infrastructor/infrastructor/internal/collector"
	"github.com/infrastructor/infrastructor/internal/docker"
)

// LoadPollMetrics reads back the samples one poll committed at t (system, filesystems, temperatures), in the
// collector's form, for the alert evaluator. It returns an empty Metrics when the poll wrote no system row.
func LoadPollMetrics(ctx context.Context, db DBTX, deviceID uuid.UUID, t time.Time) (*collector.Metrics, error) {
	m := &collector.Metrics{Time: t}
	found, err := scanSystemSample(db.QueryRow(ctx, systemSampleSQL, deviceID, t), m)
	if err != nil {
		return nil, fmt.Errorf("load poll metrics of %s: %w", deviceID, err)
	}
	if !found {
		return m, nil
	}
	rows, err := db.Query(ctx, filesystemSampleSQL, deviceID, t)
	if err := scanFilesystemSamples(rows, err, m); err != nil {
		return nil, fmt.Errorf("load poll filesystems of %s: %w", deviceID, err)
	}
	rows, err = db.Query(ctx, temperatureSampleSQL, deviceID, t)
	if err := scanTemperatureSamples(rows, err, m); err != nil {
		return nil, fmt.Errorf("load poll temperatures of %s: %w", deviceID, err)
	}
	return m, nil
}

const (
	systemSampleSQL = `SELECT cpu_pct, cpu_cores, mem_total, mem_used, swap_total, swap_used, load1, load5, load15
		FROM system_metrics WHERE device_id = $1 AND time = $2`
	filesystemSampleSQL = `SELECT mountpoint, source, fstype, size_bytes, used_bytes, avail_bytes, inodes_total,
		inodes_used FROM filesystem_metrics WHERE device_id = $1 AND time = $2 ORDER BY mountpoint`
	temperatureSampleSQL = `SELECT sensor, celsius FROM temperature_metrics WHERE device_id = $1 AND time = $2
		ORDER BY sensor`
	containerSampleSQL = `SELECT detail FROM containers WHERE device_id = $1 ORDER BY name`
)

// scanSystemSample fills m from a system_metrics row; found is false when the poll wrote none.
func scanSystemSample(row pgx.Row, m *collector.Metrics) (found bool, err error) {
	var (
		cpu                                    *float32
		cores                                  []float32
		memTotal, memUsed, swapTotal, swapUsed *int64
		load1, load5, load15                   *float32
	)
	err = row.Scan(&cpu, &cores, &memTotal, &memUsed, &swapTotal, &swapUsed, &load1, &load5, &load15)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if cpu != nil {
		m.CPU = &collector.CPUMetrics{UsagePercent: float64(*cpu)}
		for i, c := range cores {
			m.CPU.Cores = append(m.CPU.Cores, collector.CoreMetrics{Core: i, UsagePercent: float64(c)})
		}
	}
	if memTotal != nil && memUsed != nil && *memTotal > 0 {
		m.Memory = &collector.MemoryMetrics{TotalBytes: uint64(*memTotal), UsedBytes: uint64(*memUsed),
			UsedPercent: 100 * float64(*memUsed) / float64(*memTotal)}
		if swapTotal != nil && swapUsed != nil && *swapTotal > 0 {
			m.Memory.SwapTotalBytes, m.Memory.SwapUsedBytes = uint64(*swapTotal), uint64(*swapUsed)
			m.Memory.SwapUsedPercent = 100 * float64(*swapUsed) / float64(*swapTotal)
		}
	}
	if load1 != nil && load5 != nil && load15 != nil {
		m.Load = &collector.LoadAvg{Load1: float64(*load1), Load5: float64(*load5), Load15: float64(*load15)}
	}
	return true, nil
}

func scanFilesystemSamples(rows pgx.Rows, qerr error, m *collector.Metrics) error {
	if qerr != nil {
		return qerr
	}
	defer rows.Close()
	for rows.Next() {
		var fs collector.FilesystemMetrics
		var size, used, avail int64
		var itotal, iused *int64
		if err := rows.Scan(&fs.Mount, &fs.Source, &fs.FSType, &size, &used, &avail, &itotal, &iused); err != nil {
			return err
		}
		fs.SizeBytes, fs.UsedBytes, fs.AvailBytes = uint64(size), uint64(used), uint64(avail)
		if used+avail > 0 {
			fs.UsedPercent = 100 * float64(used) / float64(used+avail)
		}
		if itotal != nil && iused != nil && *itotal > 0 {
			p := 100 * float64(*iused) / float64(*itotal)
			fs.InodesTotal, fs.InodesUsed, fs.InodesUsedPercent = uint64(*itotal), uint64(*iused), &p
		}
		m.Filesystems = append(m.Filesystems, fs)
	}
	return rows.Err()
}

func scanTemperatureSamples(rows pgx.Rows, qerr error, m *collector.Metrics) error {
	if qerr != nil {
		return qerr
	}
	defer rows.Close()
	for rows.Next() {
		var tm collector.Temperature
		var c float32
		if err := rows.Scan(&tm.Sensor, &c); err != nil {
			return err
		}
		tm.Celsius = float64(c)
		m.Temperatures = append(m.Temperatures, tm)
	}
	return rows.Err()
}

func scanContainerDetails(rows pgx.Rows, qerr error) ([]docker.Container, error) {
	return scanRows(func(row pgx.Row) (docker.Container, error) {
		var raw []byte
		var c docker.Container
		if err := row.Scan(&raw); err != nil {
			return c, err
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return c, fmt.Errorf("container detail: %w", err)
		}
		return c, nil
	}, rows, qerr)
}

// BatchSender sends several queries in one round trip (a pgx.Tx, connection or pool).
type BatchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// PendingDelivery is a queued, never attempted delivery of one of a device's alerts.
type PendingDelivery struct {
	AlertID uuid.UUID
	Seq     int
	ID      int64
}

// AlertInputs is what one alert evaluation of a device reads besides the poll's samples.
type AlertInputs struct {
	Device    *Device
	Rules     []*AlertRule
	Overrides []*RuleOverride
	// States are the device's evaluator states, locked for update when the batch runs in a transaction.
	States   map[StateKey]alert.State
	Windows  []*MaintenanceWindow
	Channels []*Channel
	// Stale are the device's deliveries still pending and never attempted that were created between the two
	// times given to LoadAlertInputs, ordered by alert, seq and ID.
	Stale []*PendingDelivery
}

// LoadAlertInputs reads the device, every rule, the device's overrides and states, every maintenance window and
// channel, and the deliveries of its alerts left pending without an attempt that were created in
// (staleAfter, staleBefore), in one round trip. Evaluation runs after every poll of every device, so round
// trips, not the size of these small tables, are its cost. It returns ErrNotFound when the device is gone.
func LoadAlertInputs(ctx context.Context, db BatchSender, deviceID uuid.UUID, staleAfter, staleBefore time.Time) (*AlertInputs, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT `+deviceColumns+` FROM devices WHERE id = $1`, deviceID)
	b.Queue(`SELECT ` + ruleColumns + ` FROM alert_rules ORDER BY builtin DESC, lower(name)`)
	b.Queue(`SELECT rule_id, device_id, warning, critical, duration_ms, enabled FROM alert_rule_overrides
		WHERE device_id = $1 ORDER BY rule_id`, deviceID)
	b.Queue(`SELECT rule_id, subject, state FROM alert_states WHERE device_id = $1 FOR UPDATE`, deviceID)
	b.Queue(`SELECT ` + windowColumns + ` FROM maintenance_windows ORDER BY created_at`)
	b.Queue(`SELECT ` + channelColumns + ` FROM notification_channels ORDER BY lower(name)`)
	b.Queue(`SELECT n.alert_id, n.seq, n.id FROM notification_deliveries n JOIN alerts a ON a.id = n.alert_id
		WHERE a.device_id = $1 AND n.state = 'pending' AND n.attempts = 0 AND n.created_at < $2 AND n.created_at > $3
		ORDER BY n.alert_id, n.seq, n.id`, deviceID, staleBefore, staleAfter)
	br := db.SendBatch(ctx, b)
	in, err := readAlertInputs(br)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = mapErr(cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("load alert inputs of %s: %w", deviceID, err)
	}
	return in, nil
}

func readAlertInputs(br pgx.BatchResults) (*AlertInputs, error) {
	var in AlertInputs
	var err error
	if in.Device, err = scanDevice(br.QueryRow()); err != nil {
		return nil, err
	}
	rows, qerr := br.Query()
	if in.Rules, err = scanRows(scanRule, rows, qerr); err != nil {
		return nil, err
	}
	rows, qerr = br.Query()
	if in.Overrides, err = scanRows(scanOverride, rows, qerr); err != nil {
		return nil, err
	}
	rows, qerr = br.Query()
	if in.States, err = scanStates(rows, qerr); err != nil {
		return nil, err
	}
	rows, qerr = br.Query()
	if in.Windows, err = scanRows(scanWindow, rows, qerr); err != nil {
		return nil, err
	}
	rows, qerr = br.Query()
	if in.Channels, err = scanRows(scanChannel, rows, qerr); err != nil {
		return nil, err
	}
	rows, qerr = br.Query()
	if in.Stale, err = scanRows(func(row pgx.Row) (*PendingDelivery, error) {
		var d PendingDelivery
		return &d, row.Scan(&d.AlertID, &d.Seq, &d.ID)
	}, rows, qerr); err != nil {
		return nil, err
	}
	return &in, nil
}

// LoadPollSamples reads back, in one round trip, the samples a poll committed at t that need asks for: the
// metrics (empty when the poll wrote no system row, as LoadPollMetrics) and the container inventory (nil unless
// asked for). Nothing is read when need asks for nothing.
func LoadPollSamples(ctx context.Context, db BatchSender, deviceID uuid.UUID, t time.Time, need alert.Needs) (*collector.Metrics, []docker.Container, error) {
	m := &collector.Metrics{Time: t}
	anyMetric := need.System || need.Filesystems || need.Temperatures
	if !anyMetric && !need.Containers {
		return m, nil, nil
	}
	b := &pgx.Batch{}
	if anyMetric {
		// The system row decides whether the poll wrote samples at all, so it is read for any metric.
		b.Queue(systemSampleSQL, deviceID, t)
		if need.Filesystems {
			b.Queue(filesystemSampleSQL, deviceID, t)
		}
		if need.Temperatures {
			b.Queue(temperatureSampleSQL, deviceID, t)
		}
	}
	if need.Containers {
		b.Queue(containerSampleSQL, deviceID)
	}
	br := db.SendBatch(ctx, b)
	containers, err := readPollSamples(br, m, need, anyMetric)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load poll samples of %s at %s: %w", deviceID, t.Format(time.RFC3339Nano), err)
	}
	return m, containers, nil
}

func readPollSamples(br pgx.BatchResults, m *collector.Metrics, need alert.Needs, anyMetric bool) ([]docker.Container, error) {
	if anyMetric {
		found, err := scanSystemSample(br.QueryRow(), m)
		if err != nil {
			return nil, err
		}
		// Results of a batch are read in order, so the rows of a poll without a system row are read and dropped.
		if need.Filesystems {
			rows, qerr := br.Query()
			if err := scanFilesystemSamples(rows, qerr, m); err != nil {
				return nil, err
			}
		}
		if need.Temperatures {
			rows, qerr := br.Query()
			if err := scanTemperatureSamples(rows, qerr, m); err != nil {
				return nil, err
			}
		}
		if !found {
			m.Filesystems, m.Temperatures = nil, nil
		}
	}
	if !need.Containers {
		return nil, nil
	}
	rows, qerr := br.Query()
	return scanContainerDetails(rows, qerr)
}
