-- Drives and pools (#11): the latest SMART state of every drive and the latest state of every ZFS pool and
-- dataset, time series of drive temperatures and counters and of pool capacity, snapshot listings fetched on
-- request, and the built-in check rules that alert on them.

-- One row per drive, keyed by device and serial so a disk moved between bays stays one disk. A drive whose serial
-- could not be read (standby, no permission, no SMART) is keyed 'path:<device path>' until it is read.
CREATE TABLE drives (
    device_id      uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    serial         text NOT NULL,
    device_path    text NOT NULL,
    type           text NOT NULL DEFAULT '',
    protocol       text NOT NULL DEFAULT '',
    model          text NOT NULL DEFAULT '',
    wwn            text NOT NULL DEFAULT '',
    firmware       text NOT NULL DEFAULT '',
    capacity_bytes bigint,
    rotation_rate  integer,
    temperature_c  integer,
    power_on_hours bigint,
    power_cycles   bigint,
    -- state: ok, standby, permission_denied, unsupported, usb_bridge, open_failed, error (internal/smart).
    state          text NOT NULL,
    -- health: ok, warning, failing, unknown; reasons say why in words.
    health         text NOT NULL,
    reasons        text[] NOT NULL DEFAULT '{}',
    -- smart is the whole parsed reading (internal/smart.Drive), also the previous reading the next verdict
    -- compares counters with.
    smart          jsonb NOT NULL,
    first_seen     timestamptz NOT NULL DEFAULT now(),
    read_at        timestamptz,
    collected_at   timestamptz NOT NULL,
    PRIMARY KEY (device_id, serial)
);
CREATE INDEX drives_health_idx ON drives (health);

CREATE TABLE zfs_pools (
    device_id         uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    name              text NOT NULL,
    -- state as zpool prints it: ONLINE, DEGRADED, FAULTED, OFFLINE, UNAVAIL, REMOVED, SUSPENDED.
    state             text NOT NULL,
    health            text NOT NULL,
    reasons           text[] NOT NULL DEFAULT '{}',
    size_bytes        bigint,
    alloc_bytes       bigint,
    free_bytes        bigint,
    fragmentation_pct real,
    capacity_pct      real,
    dedup             real,
    read_errors       bigint NOT NULL DEFAULT 0,
    write_errors      bigint NOT NULL DEFAULT 0,
    checksum_errors   bigint NOT NULL DEFAULT 0,
    data_errors       bigint,
    -- last_scrub_end is the end of the last completed scrub zpool status still shows.
    last_scrub_end    timestamptz,
    -- status is the whole parsed pool (internal/zfs.Pool): vdev tree, scan, status and action text.
    status            jsonb NOT NULL,
    collected_at      timestamptz NOT NULL,
    PRIMARY KEY (device_id, name)
);
CREATE INDEX zfs_pools_state_idx ON zfs_pools (state);

-- Datasets with their snapshot summary (count, oldest, newest, space only snapshots hold); the snapshots
-- themselves are listed on request (zfs_snapshot_fetches).
CREATE TABLE zfs_datasets (
    device_id          uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    name               text NOT NULL,
    pool               text NOT NULL,
    used_bytes         bigint,
    avail_bytes        bigint,
    refer_bytes        bigint,
    compress_ratio     real,
    mountpoint         text NOT NULL DEFAULT '',
    snapshot_count     bigint NOT NULL DEFAULT 0,
    snapshots_used     bigint NOT NULL DEFAULT 0,
    oldest_snapshot    text NOT NULL DEFAULT '',
    oldest_snapshot_at timestamptz,
    newest_snapshot    text NOT NULL DEFAULT '',
    newest_snapshot_at timestamptz,
    collected_at       timestamptz NOT NULL,
    PRIMARY KEY (device_id, name)
);

-- A page of snapshots fetched for the API through the ZFSSnapshots workflow; read once and deleted.
CREATE TABLE zfs_snapshot_fetches (
    id         uuid PRIMARY KEY,
    device_id  uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Time series, partitioned by day like the other *_metrics tables (infra_ensure_partitions finds them by name).
CREATE TABLE drive_metrics (
    device_id             uuid NOT NULL,
    time                  timestamptz NOT NULL,
    serial                text NOT NULL,
    temperature_c         real,
    power_on_hours        bigint,
    reallocated           bigint,
    pending               bigint,
    offline_uncorrectable bigint,
    reported_uncorrect    bigint,
    udma_crc_errors       bigint,
    media_errors          bigint,
    percentage_used       real,
    grown_defects         bigint,
    PRIMARY KEY (device_id, serial, time)
) PARTITION BY RANGE (time);

CREATE TABLE pool_metrics (
    device_id         uuid NOT NULL,
    time              timestamptz NOT NULL,
    pool              text NOT NULL,
    capacity_pct      real,
    size_bytes        bigint,
    alloc_bytes       bigint,
    free_bytes        bigint,
    fragmentation_pct real,
    PRIMARY KEY (device_id, pool, time)
) PARTITION BY RANGE (time);

SELECT infra_ensure_partitions(current_date - 1, 8);

-- With TimescaleDB the two tables become hypertables, as 0003 does for the others.
DO $$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY['drive_metrics', 'pool_metrics'] LOOP
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING ALL)', t || '_ht', t);
        EXECUTE format('DROP TABLE %I', t);
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t || '_ht', t);
        EXECUTE format('SELECT create_hypertable(%L, ''time'', chunk_time_interval => interval ''1 day'')', t);
        EXECUTE format('ALTER TABLE %I SET (timescaledb.compress, timescaledb.compress_segmentby = ''device_id'')', t);
        EXECUTE format('SELECT add_compression_policy(%L, interval ''2 days'')', t);
        EXECUTE format('SELECT add_retention_policy(%L, interval ''30 days'')', t);
    END LOOP;
END
$$;

-- Built-in check rules (internal/alert/checks_storage.go names the checks). Booleans read 1 when bad.
INSERT INTO alert_rules (id, name, kind, metric, condition, warning, critical, severity, duration_ms, clear_for_ms, hysteresis_percent, builtin, enabled) VALUES
    ('00000000-0000-4000-a000-000000000011', 'drive-failing', 'check', '', 'drive_failing', NULL, 1, 'critical', 0, 0, 0, true, true),
    ('00000000-0000-4000-a000-000000000012', 'drive-warning', 'check', '', 'drive_warning', 1, NULL, 'warning', 0, 0, 0, true, true),
    ('00000000-0000-4000-a000-000000000013', 'drive-temperature', 'check', '', 'drive_temperature', 50, 60, 'critical', 0, 0, 5, true, true),
    ('00000000-0000-4000-a000-000000000014', 'pool-not-online', 'check', '', 'pool_not_online', NULL, 1, 'critical', 0, 0, 0, true, true),
    ('00000000-0000-4000-a000-000000000015', 'pool-capacity', 'check', '', 'pool_capacity', 80, 90, 'critical', 0, 0, 2, true, true),
    ('00000000-0000-4000-a000-000000000016', 'pool-errors', 'check', '', 'pool_errors', NULL, 1, 'critical', 0, 0, 0, true, true),
    ('00000000-0000-4000-a000-000000000017', 'pool-scrub-age', 'check', '', 'pool_scrub_age', 35, NULL, 'warning', 0, 0, 0, true, true),
    -- Off by default: datasets without automatic snapshots would all fire. The rule covers every dataset (rules
    -- carry no dataset pattern); scope it to devices or tags, or override it per device.
    ('00000000-0000-4000-a000-000000000018', 'snapshot-age', 'check', '', 'snapshot_age', 48, NULL, 'warning', 0, 0, 0, true, false);
