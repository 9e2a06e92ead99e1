package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Drive is the latest state of one drive of a device (#11), keyed by device and serial.
type Drive struct {
	DeviceID      uuid.UUID `json:"device_id"`
	DeviceName    string    `json:"device_name"`
	Serial        string    `json:"serial"`
	DevicePath    string    `json:"device_path"`
	Type          string    `json:"type"`
	Protocol      string    `json:"protocol"`
	Model         string    `json:"model"`
	WWN           string    `json:"wwn"`
	Firmware      string    `json:"firmware"`
	CapacityBytes *int64    `json:"capacity_bytes"`
	RotationRate  *int64    `json:"rotation_rate"`
	TemperatureC  *int64    `json:"temperature_c"`
	PowerOnHours  *int64    `json:"power_on_hours"`
	PowerCycles   *int64    `json:"power_cycles"`
	// State says whether SMART could be read (ok, standby, permission_denied, unsupported, usb_bridge,
	// open_failed, error); Health is the verdict (ok, warning, failing, unknown) and Reasons say why.
	State   string   `json:"state"`
	Health  string   `json:"health"`
	Reasons []string `json:"reasons"`
	// SMART is the whole parsed reading (internal/smart.Drive).
	SMART     json.RawMessage `json:"smart"`
	FirstSeen time.Time       `json:"first_seen"`
	// ReadAt is when SMART was last read (a drive in standby keeps its last reading).
	ReadAt      *time.Time `json:"read_at"`
	CollectedAt time.Time  `json:"collected_at"`
}

// DriveFilter selects drives; zero fields select all.
type DriveFilter struct {
	DeviceID *uuid.UUID
	Health   string
}

const driveColumns = `d.device_id, v.name, d.serial, d.device_path, d.type, d.protocol, d.model, d.wwn, d.firmware,
	d.capacity_bytes, d.rotation_rate, d.temperature_c, d.power_on_hours, d.power_cycles, d.state, d.health, d.reasons,
	d.smart, d.first_seen, d.read_at, d.collected_at`

func scanDrive(row pgx.CollectableRow) (Drive, error) {
	var d Drive
	var rot, temp *int32
	err := row.Scan(&d.DeviceID, &d.DeviceName, &d.Serial, &d.DevicePath, &d.Type, &d.Protocol, &d.Model, &d.WWN,
		&d.Firmware, &d.CapacityBytes, &rot, &temp, &d.PowerOnHours, &d.PowerCycles, &d.State, &d.Health,
		&d.Reasons, &d.SMART, &d.FirstSeen, &d.ReadAt, &d.CollectedAt)
	d.RotationRate, d.TemperatureC, d.Reasons = widen(rot), widen(temp), nonNil(d.Reasons)
	return d, err
}

func widen(p *int32) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}

// healthRank orders verdicts worst first.
const healthRank = `CASE %s WHEN 'failing' THEN 0 WHEN 'warning' THEN 1 WHEN 'unknown' THEN 2 ELSE 3 END`

// ListDrives returns the drives the filter selects, worst verdict first, then by device and path.
func ListDrives(ctx context.Context, db DBTX, f DriveFilter) ([]Drive, error) {
	return collect(ctx, db, scanDrive, `SELECT `+driveColumns+` FROM drives d JOIN devices v ON v.id = d.device_id
		WHERE ($1::uuid IS NULL OR d.device_id = $1) AND ($2 = '' OR d.health = $2)
		ORDER BY `+fmt.Sprintf(healthRank, "d.health")+`, v.name, d.device_path, d.serial`, f.DeviceID, f.Health)
}

// GetDrive returns one drive by serial.
func GetDrive(ctx context.Context, db DBTX, deviceID uuid.UUID, serial string) (*Drive, error) {
	return getOne(ctx, db, scanDrive, `SELECT `+driveColumns+` FROM drives d JOIN devices v ON v.id = d.device_id
		WHERE d.device_id = $1 AND d.serial = $2`, deviceID, serial)
}

// ReplaceDrives stores the drives of one collection: each is inserted or updated (first_seen kept), and drives of
// the device no longer present are deleted. It returns the serials it deleted.
func ReplaceDrives(ctx context.Context, db DBTX, deviceID uuid.UUID, drives []Drive) ([]string, error) {
	return replaceCollection(ctx, db, "drive", "drives", "serial", deviceID, drives, func(d Drive) string { return d.Serial },
		func(d Drive) error { return upsertDrive(ctx, db, deviceID, d) })
}

// upsertDrive inserts or updates one drive of a device.
func upsertDrive(ctx context.Context, db DBTX, deviceID uuid.UUID, d Drive) error {
	_, err := db.Exec(ctx, `INSERT INTO drives (device_id, serial, device_path, type, protocol, model, wwn,
		firmware, capacity_bytes, rotation_rate, temperature_c, power_on_hours, power_cycles, state, health, reasons,
		smart, first_seen, read_at, collected_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$18)
		ON CONFLICT (device_id, serial) DO UPDATE SET device_path = $3, type = $4, protocol = $5, model = $6,
		wwn = $7, firmware = $8, capacity_bytes = $9, rotation_rate = $10, temperature_c = $11,
		power_on_hours = $12, power_cycles = $13, state = $14, health = $15, reasons = $16, smart = $17,
		read_at = $19, collected_at = $18`,
		deviceID, d.Serial, d.DevicePath, d.Type, d.Protocol, d.Model, d.WWN, d.Firmware, d.CapacityBytes,
		d.RotationRate, d.TemperatureC, d.PowerOnHours, d.PowerCycles, d.State, d.Health, nonNil(d.Reasons), d.SMART,
		d.CollectedAt, d.ReadAt)
	return err
}

// DriveSample is one reading of a drive's temperature and key counters, for the time series.
type DriveSample struct {
	Time                 time.Time `json:"time"`
	Serial               string    `json:"serial"`
	TemperatureC         *float64  `json:"temperature_c"`
	PowerOnHours         *int64    `json:"power_on_hours"`
	Reallocated          *int64    `json:"reallocated_sectors"`
	Pending              *int64    `json:"pending_sectors"`
	OfflineUncorrectable *int64    `json:"offline_uncorrectable"`
	ReportedUncorrect    *int64    `json:"reported_uncorrectable"`
	UDMACRCErrors        *int64    `json:"udma_crc_errors"`
	MediaErrors          *int64    `json:"media_errors"`
	PercentageUsed       *float64  `json:"percentage_used"`
	GrownDefects         *int64    `json:"grown_defects"`
}

// InsertDriveSamples appends readings to drive_metrics; a retried collection with the same time is ignored.
func InsertDriveSamples(ctx context.Context, db DBTX, deviceID uuid.UUID, samples []DriveSample) error {
	for _, s := range samples {
		if err := ensurePartition(ctx, db, s.Time); err != nil {
			return err
		}
		if _, err := db.Exec(ctx, `INSERT INTO drive_metrics (device_id, time, serial, temperature_c, power_on_hours,
			reallocated, pending, offline_uncorrectable, reported_uncorrect, udma_crc_errors, media_errors,
			percentage_used, grown_defects) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
			ON CONFLICT DO NOTHING`, deviceID, s.Time, s.Serial, s.TemperatureC, s.PowerOnHours, s.Reallocated,
			s.Pending, s.OfflineUncorrectable, s.ReportedUncorrect, s.UDMACRCErrors, s.MediaErrors, s.PercentageUsed,
			s.GrownDefects); err != nil {
			return fmt.Errorf("drive sample %s: %w", s.Serial, mapErr(err))
		}
	}
	return nil
}

// DriveHistory returns a drive's readings since the given time, oldest first, at most limit.
func DriveHistory(ctx context.Context, db DBTX, deviceID uuid.UUID, serial string, since time.Time, limit int) ([]DriveSample, error) {
	return collect(ctx, db, scanDriveSample, `SELECT time, serial, temperature_c, power_on_hours, reallocated, pending,
		offline_uncorrectable, reported_uncorrect, udma_crc_errors, media_errors, percentage_used, grown_defects
		FROM (SELECT * FROM drive_metrics WHERE device_id = $1 AND serial = $2 AND time >= $3 ORDER BY time DESC LIMIT $4) s
		ORDER BY time`, deviceID, serial, since, limit)
}

func scanDriveSample(row pgx.CollectableRow) (DriveSample, error) {
	var s DriveSample
	var temp, used *float32
	err := row.Scan(&s.Time, &s.Serial, &temp, &s.PowerOnHours, &s.Reallocated, &s.Pending, &s.OfflineUncorrectable,
		&s.ReportedUncorrect, &s.UDMACRCErrors, &s.MediaErrors, &used, &s.GrownDefects)
	s.TemperatureC, s.PercentageUsed = f64(temp), f64(used)
	return s, err
}

func f64(p *float32) *float64 {
	if p == nil {
		return nil
	}
	v := float64(*p)
	return &v
}

// Pool is the latest state of one ZFS pool of a device.
type Pool struct {
	DeviceID   uuid.UUID `json:"device_id"`
	DeviceName string    `json:"device_name"`
	Name       string    `json:"name"`
	// State is as zpool prints it (ONLINE, DEGRADED, FAULTED, OFFLINE, UNAVAIL, REMOVED, SUSPENDED); Health is the
	// verdict (ok, warning, failing, unknown) and Reasons say why.
	State            string     `json:"state"`
	Health           string     `json:"health"`
	Reasons          []string   `json:"reasons"`
	SizeBytes        *int64     `json:"size_bytes"`
	AllocBytes       *int64     `json:"alloc_bytes"`
	FreeBytes        *int64     `json:"free_bytes"`
	FragmentationPct *float64   `json:"fragmentation_percent"`
	CapacityPct      *float64   `json:"capacity_percent"`
	Dedup            *float64   `json:"dedup"`
	ReadErrors       int64      `json:"read_errors"`
	WriteErrors      int64      `json:"write_errors"`
	ChecksumErrors   int64      `json:"checksum_errors"`
	DataErrors       *int64     `json:"data_errors"`
	LastScrubEnd     *time.Time `json:"last_scrub_end"`
	// Status is the whole parsed pool (internal/zfs.Pool): the vdev tree, the scan, the status and action text.
	Status      json.RawMessage `json:"status"`
	CollectedAt time.Time       `json:"collected_at"`
}

// PoolFilter selects pools; zero fields select all.
type PoolFilter struct {
	DeviceID *uuid.UUID
	State    string
}

const poolColumns = `p.device_id, v.name, p.name, p.state, p.health, p.reasons, p.size_bytes, p.alloc_bytes,
	p.free_bytes, p.fragmentation_pct, p.capacity_pct, p.dedup, p.read_errors, p.write_errors, p.checksum_errors,
	p.data_errors, p.last_scrub_end, p.status, p.collected_at`

func scanPool(row pgx.CollectableRow) (Pool, error) {
	var p Pool
	var frag, capacity, dedup *float32
	err := row.Scan(&p.DeviceID, &p.DeviceName, &p.Name, &p.State, &p.Health, &p.Reasons, &p.SizeBytes, &p.AllocBytes,
		&p.FreeBytes, &frag, &capacity, &dedup, &p.ReadErrors, &p.WriteErrors, &p.ChecksumErrors, &p.DataErrors,
		&p.LastScrubEnd, &p.Status, &p.CollectedAt)
	p.FragmentationPct, p.CapacityPct, p.Dedup, p.Reasons = f64(frag), f64(capacity), f64(dedup), nonNil(p.Reasons)
	return p, err
}

// ListPools returns the pools the filter selects, worst verdict first.
func ListPools(ctx context.Context, db DBTX, f PoolFilter) ([]Pool, error) {
	return collect(ctx, db, scanPool, `SELECT `+poolColumns+` FROM zfs_pools p JOIN devices v ON v.id = p.device_id
		WHERE ($1::uuid IS NULL OR p.device_id = $1) AND ($2 = '' OR p.state = $2)
		ORDER BY `+fmt.Sprintf(healthRank, "p.health")+`, v.name, p.name`, f.DeviceID, f.State)
}

// GetPool returns one pool by name.
func GetPool(ctx context.Context, db DBTX, deviceID uuid.UUID, name string) (*Pool, error) {
	return getOne(ctx, db, scanPool, `SELECT `+poolColumns+` FROM zfs_pools p JOIN devices v ON v.id = p.device_id
		WHERE p.device_id = $1 AND p.name = $2`, deviceID, name)
}

// ReplacePools stores the pools of one collection and deletes the device's pools no longer present (exported or
// destroyed). It returns the names it deleted.
func ReplacePools(ctx context.Context, db DBTX, deviceID uuid.UUID, pools []Pool) ([]string, error) {
	return replaceCollection(ctx, db, "pool", "zfs_pools", "name", deviceID, pools, func(p Pool) string { return p.Name },
		func(p Pool) error { return upsertPool(ctx, db, deviceID, p) })
}

// upsertPool inserts or updates one pool of a device.
func upsertPool(ctx context.Context, db DBTX, deviceID uuid.UUID, p Pool) error {
	_, err := db.Exec(ctx, `INSERT INTO zfs_pools (device_id, name, state, health, reasons, size_bytes,
		alloc_bytes, free_bytes, fragmentation_pct, capacity_pct, dedup, read_errors, write_errors, checksum_errors,
		data_errors, last_scrub_end, status, collected_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)
		ON CONFLICT (device_id, name) DO UPDATE SET state = $3, health = $4, reasons = $5, size_bytes = $6,
		alloc_bytes = $7, free_bytes = $8, fragmentation_pct = $9, capacity_pct = $10, dedup = $11,
		read_errors = $12, write_errors = $13, checksum_errors = $14, data_errors = $15,
		last_scrub_end = coalesce($16, zfs_pools.last_scrub_end), status = $17, collected_at = $18`,
		deviceID, p.Name, p.State, p.Health, nonNil(p.Reasons), p.SizeBytes, p.AllocBytes, p.FreeBytes,
		p.FragmentationPct, p.CapacityPct, p.Dedup, p.ReadErrors, p.WriteErrors, p.ChecksumErrors, p.DataErrors,
		p.LastScrubEnd, p.Status, p.CollectedAt)
	return err
}

// PoolSample is one reading of a pool's space, for the time series.
type PoolSample struct {
	Pool             string
	CapacityPct      *float64
	SizeBytes        *int64
	AllocBytes       *int64
	FreeBytes        *int64
	FragmentationPct *float64
}

// InsertPoolSamples appends readings to pool_metrics; a retried collection with the same time is ignored.
func InsertPoolSamples(ctx context.Context, db DBTX, deviceID uuid.UUID, at time.Time, samples []PoolSample) error {
	if len(samples) == 0 {
		return nil
	}
	if err := ensurePartition(ctx, db, at); err != nil {
		return err
	}
	for _, s := range samples {
		if _, err := db.Exec(ctx, `INSERT INTO pool_metrics (device_id, time, pool, capacity_pct, size_bytes,
			alloc_bytes, free_bytes, fragmentation_pct) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING`,
			deviceID, at, s.Pool, s.CapacityPct, s.SizeBytes, s.AllocBytes, s.FreeBytes, s.FragmentationPct); err != nil {
			return fmt.Errorf("pool sample %s: %w", s.Pool, mapErr(err))
		}
	}
	return nil
}

// Dataset is a ZFS filesystem or volume with its snapshot summary.
type Dataset struct {
	DeviceID         uuid.UUID  `json:"device_id"`
	Name             string     `json:"name"`
	Pool             string     `json:"pool"`
	UsedBytes        *int64     `json:"used_bytes"`
	AvailBytes       *int64     `json:"avail_bytes"`
	ReferBytes       *int64     `json:"refer_bytes"`
	CompressRatio    *float64   `json:"compress_ratio"`
	Mountpoint       string     `json:"mountpoint"`
	SnapshotCount    int64      `json:"snapshot_count"`
	SnapshotsUsed    int64      `json:"snapshots_used_bytes"`
	OldestSnapshot   string     `json:"oldest_snapshot"`
	OldestSnapshotAt *time.Time `json:"oldest_snapshot_at"`
	NewestSnapshot   string     `json:"newest_snapshot"`
	NewestSnapshotAt *time.Time `json:"newest_snapshot_at"`
	CollectedAt      time.Time  `json:"collected_at"`
}

// ReplaceDatasets stores the datasets of one collection, replacing the device's previous list.
func ReplaceDatasets(ctx context.Context, db DBTX, deviceID uuid.UUID, ds []Dataset) error {
	if _, err := db.Exec(ctx, `DELETE FROM zfs_datasets WHERE device_id = $1`, deviceID); err != nil {
		return mapErr(err)
	}
	rows := make([][]any, 0, len(ds))
	for _, d := range ds {
		var ratio *float32
		if d.CompressRatio != nil {
			r := float32(*d.CompressRatio)
			ratio = &r
		}
		rows = append(rows, []any{deviceID, d.Name, d.Pool, d.UsedBytes, d.AvailBytes, d.ReferBytes, ratio,
			d.Mountpoint, d.SnapshotCount, d.SnapshotsUsed, d.OldestSnapshot, d.OldestSnapshotAt, d.NewestSnapshot,
			d.NewestSnapshotAt, d.CollectedAt})
	}
	_, err := db.CopyFrom(ctx, pgx.Identifier{"zfs_datasets"}, []string{"device_id", "name", "pool", "used_bytes",
		"avail_bytes", "refer_bytes", "compress_ratio", "mountpoint", "snapshot_count", "snapshots_used",
		"oldest_snapshot", "oldest_snapshot_at", "newest_snapshot", "newest_snapshot_at", "collected_at"},
		pgx.CopyFromRows(rows))
	return mapErr(err)
}

// ListDatasets returns a device's datasets (of one pool when pool is not ""), by name.
func ListDatasets(ctx context.Context, db DBTX, deviceID uuid.UUID, pool string) ([]Dataset, error) {
	return collect(ctx, db, scanDataset, `SELECT device_id, name, pool, used_bytes, avail_bytes, refer_bytes, compress_ratio,
		mountpoint, snapshot_count, snapshots_used, oldest_snapshot, oldest_snapshot_at, newest_snapshot,
		newest_snapshot_at, collected_at FROM zfs_datasets WHERE device_id = $1 AND ($2 = '' OR pool = $2)
		ORDER BY name`, deviceID, pool)
}

func scanDataset(row pgx.CollectableRow) (Dataset, error) {
	var d Dataset
	var ratio *float32
	err := row.Scan(&d.DeviceID, &d.Name, &d.Pool, &d.UsedBytes, &d.AvailBytes, &d.ReferBytes, &ratio, &d.Mountpoint,
		&d.SnapshotCount, &d.SnapshotsUsed, &d.OldestSnapshot, &d.OldestSnapshotAt, &d.NewestSnapshot,
		&d.NewestSnapshotAt, &d.CollectedAt)
	d.CompressRatio = f64(ratio)
	return d, err
}

// StorageSummary counts the fleet's drives by verdict and pools by state, for the fleet summary.
type StorageSummary struct {
	DrivesByHealth map[string]int `json:"drives_by_health"`
	PoolsByState   map[string]int `json:"pools_by_state"`
	PoolsByHealth  map[string]int `json:"pools_by_health"`
}

// SummarizeStorage counts drives and pools.
func SummarizeStorage(ctx context.Context, db DBTX) (*StorageSummary, error) {
	s := &StorageSummary{DrivesByHealth: map[string]int{}, PoolsByState: map[string]int{}, PoolsByHealth: map[string]int{}}
	for _, q := range []struct {
		sql string
		m   map[string]int
	}{
		{`SELECT health, count(*) FROM drives GROUP BY 1`, s.DrivesByHealth},
		{`SELECT state, count(*) FROM zfs_pools GROUP BY 1`, s.PoolsByState},
		{`SELECT health, count(*) FROM zfs_pools GROUP BY 1`, s.PoolsByHealth},
	} {
		counts, err := collect(ctx, db, pgx.RowToStructByPos[struct {
			Key string
			N   int
		}], q.sql)
		if err != nil {
			return nil, err
		}
		for _, c := range counts {
			q.m[c.Key] = c.N
		}
	}
	return s, nil
}

// ClampInt64 converts a count or size a device reported to PostgreSQL's bigint, saturating at its maximum.
func ClampInt64(p *uint64) *int64 {
	if p == nil {
		return nil
	}
	v := int64(math.MaxInt64)
	if *p < math.MaxInt64 {
		v = int64(*p)
	}
	return &v
}

// replaceCollection stores one collection of a device's items of a kind (drives by serial, pools by name): each item
// is written with upsert, then the device's rows of table whose key column holds none of the items' keys are
// deleted. It returns the deleted keys, for the events that say what went away.
func replaceCollection[T any](ctx context.Context, db DBTX, kind, table, keyColumn string, deviceID uuid.UUID, items []T,
	key func(T) string, upsert func(T) error) ([]string, error) {
	keep := make([]string, 0, len(items))
	for _, it := range items {
		keep = append(keep, key(it))
		if err := upsert(it); err != nil {
			return nil, fmt.Errorf("store %s %s: %w", kind, key(it), mapErr(err))
		}
	}
	return collect(ctx, db, pgx.RowTo[string], `DELETE FROM `+table+` WHERE device_id = $1 AND NOT (`+keyColumn+
		` = ANY($2)) RETURNING `+keyColumn, deviceID, keep)
}

// nonNil makes a missing list of reasons an empty one: the columns are NOT NULL and the API shows [].
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
