-- Compact samples (#17): one row per poll instead of one per filesystem, disk, interface, sensor and container.
--
-- A row costs about 100 bytes before its values (tuple header, line pointer, device and time, an index entry), and
-- a poll wrote 17 of them, each repeating its mountpoint, sensor or container ID as text. Now the system row
-- carries the per-filesystem, per-disk, per-interface and per-sensor values as arrays, a poll's running containers
-- go into one container_poll_metrics row, and the names the arrays are in the order of (mountpoints, disks,
-- interfaces, sensors, containers) are stored once per device in sample_labels, referenced by a key that changes
-- only when the set of names does. Rates are real (7 significant digits) instead of double precision.
--
-- filesystem_metrics, diskio_metrics, network_metrics, temperature_metrics and container_metrics become views with
-- their old columns, so every reader (metric queries, rollups, alert inputs) reads them as before. Samples written
-- before this migration stay where they are, in the tables renamed <name>_v1, which the views also read; retention
-- empties them (housekeeping drops their partitions or chunks) and an installation that has none drops them here.

-- Container rows are written only when they change (#17); the time of the device's last container listing says
-- until when an unchanged row was seen as it is.
ALTER TABLE device_poll_state ADD COLUMN containers_listed_at timestamptz;

-- The names of a device's per-entity values, in array order. key is derived from the names (the writer hashes
-- them), so the same set of names is one row however often it is written.
CREATE TABLE sample_labels (
    device_id       uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    key             bigint NOT NULL,
    mountpoints     text[] NOT NULL DEFAULT '{}',
    fs_sources      text[] NOT NULL DEFAULT '{}',
    fs_types        text[] NOT NULL DEFAULT '{}',
    disks           text[] NOT NULL DEFAULT '{}',
    ifaces          text[] NOT NULL DEFAULT '{}',
    sensors         text[] NOT NULL DEFAULT '{}',
    container_ids   text[] NOT NULL DEFAULT '{}',
    container_names text[] NOT NULL DEFAULT '{}',
    -- used_on is the last UTC day a poll used the names (set at most once a day): retention deletes names no
    -- sample kept can refer to.
    used_on         date NOT NULL,
    PRIMARY KEY (device_id, key)
);

-- fs[i] = {size, used, avail, inodes_total, inodes_used} of mountpoints[i]; diskio[i] = {read_bps, write_bps,
-- read_iops, write_iops, util_pct} of disks[i]; net[i] = {rx_bps, tx_bps, rx_pps, tx_pps, rx_errs_ps, tx_errs_ps,
-- rx_drop_ps, tx_drop_ps} of ifaces[i]; temps[i] is sensors[i] in degrees Celsius.
-- One column per statement: TimescaleDB alters a compressed hypertable one subcommand at a time.
ALTER TABLE system_metrics ADD COLUMN labels bigint;
ALTER TABLE system_metrics ADD COLUMN fs bigint[];
ALTER TABLE system_metrics ADD COLUMN diskio real[];
ALTER TABLE system_metrics ADD COLUMN net real[];
ALTER TABLE system_metrics ADD COLUMN temps real[];

-- infra_sample_views (re)creates the views over the compact samples, reading the <name>_v1 tables too where they
-- still exist. infra_convert_to_hypertables drops the views while it swaps the tables and calls this again.
CREATE FUNCTION infra_sample_views() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT * FROM (VALUES
        ('filesystem_metrics', 'device_id, time, mountpoint, source, fstype, size_bytes, used_bytes, avail_bytes, inodes_total, inodes_used',
         $q$SELECT s.device_id, s.time, l.mountpoints[i], l.fs_sources[i], l.fs_types[i], s.fs[i][1], s.fs[i][2],
                   s.fs[i][3], s.fs[i][4], s.fs[i][5]
            FROM system_metrics s JOIN sample_labels l ON l.device_id = s.device_id AND l.key = s.labels,
                 generate_subscripts(l.mountpoints, 1) i$q$),
        ('diskio_metrics', 'device_id, time, disk, read_bps, write_bps, read_iops, write_iops, util_pct',
         $q$SELECT s.device_id, s.time, l.disks[i], s.diskio[i][1]::float8, s.diskio[i][2]::float8,
                   s.diskio[i][3]::float8, s.diskio[i][4]::float8, s.diskio[i][5]
            FROM system_metrics s JOIN sample_labels l ON l.device_id = s.device_id AND l.key = s.labels,
                 generate_subscripts(l.disks, 1) i$q$),
        ('network_metrics', 'device_id, time, iface, rx_bps, tx_bps, rx_pps, tx_pps, rx_errs_ps, tx_errs_ps, rx_drop_ps, tx_drop_ps',
         $q$SELECT s.device_id, s.time, l.ifaces[i], s.net[i][1]::float8, s.net[i][2]::float8, s.net[i][3]::float8,
                   s.net[i][4]::float8, s.net[i][5]::float8, s.net[i][6]::float8, s.net[i][7]::float8, s.net[i][8]::float8
            FROM system_metrics s JOIN sample_labels l ON l.device_id = s.device_id AND l.key = s.labels,
                 generate_subscripts(l.ifaces, 1) i$q$),
        ('temperature_metrics', 'device_id, time, sensor, celsius',
         $q$SELECT s.device_id, s.time, l.sensors[i], s.temps[i]
            FROM system_metrics s JOIN sample_labels l ON l.device_id = s.device_id AND l.key = s.labels,
                 generate_subscripts(l.sensors, 1) i$q$),
        ('container_metrics', 'device_id, time, container_id, name, cpu_pct, mem_used, mem_limit, net_rx_bps, net_tx_bps, blk_read_bps, blk_write_bps, pids',
         $q$SELECT c.device_id, c.time, l.container_ids[i], l.container_names[i], c.stats[i][1], c.mem[i][1],
                   c.mem[i][2], c.stats[i][2]::float8, c.stats[i][3]::float8, c.stats[i][4]::float8,
                   c.stats[i][5]::float8, c.pids[i]
            FROM container_poll_metrics c JOIN sample_labels l ON l.device_id = c.device_id AND l.key = c.labels,
                 generate_subscripts(l.container_ids, 1) i$q$)
    ) AS t(name, cols, body) LOOP
        IF to_regclass(format('%I', v.name || '_v1')) IS NOT NULL THEN
            EXECUTE format('CREATE OR REPLACE VIEW %I (%s) AS %s UNION ALL SELECT %s FROM %I',
                           v.name, v.cols, v.body, v.cols, v.name || '_v1');
        ELSE
            EXECUTE format('CREATE OR REPLACE VIEW %I (%s) AS %s', v.name, v.cols, v.body);
        END IF;
    END LOOP;
END
$$;

DO $$
DECLARE
    t text;
    part text;
    filled boolean;
    hyper boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
                     AND NOT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
                                     WHERE c.oid = 'system_metrics'::regclass);
BEGIN
    -- A running container's resource use, per poll: stats[i] = {cpu_pct, net_rx_bps, net_tx_bps, blk_read_bps,
    -- blk_write_bps} (elements null where the poll had no previous counters), mem[i] = {used, limit}, pids[i], of
    -- sample_labels.container_ids[i]. Its own table because its retention is its own.
    IF hyper THEN
        CREATE TABLE container_poll_metrics (
            device_id uuid NOT NULL,
            time      timestamptz NOT NULL,
            labels    bigint NOT NULL,
            stats     real[],
            mem       bigint[],
            pids      integer[],
            PRIMARY KEY (device_id, time)
        );
        PERFORM create_hypertable('container_poll_metrics', 'time', chunk_time_interval => interval '1 day');
        ALTER TABLE container_poll_metrics SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id');
        PERFORM add_compression_policy('container_poll_metrics', interval '2 days');
    ELSE
        CREATE TABLE container_poll_metrics (
            device_id uuid NOT NULL,
            time      timestamptz NOT NULL,
            labels    bigint NOT NULL,
            stats     real[],
            mem       bigint[],
            pids      integer[],
            PRIMARY KEY (device_id, time)
        ) PARTITION BY RANGE (time);
    END IF;

    -- The per-entity tables: dropped when they hold nothing (a new installation), otherwise kept for their samples
    -- as <name>_v1, with their daily partitions renamed to match (infra_drop_partitions finds them by name). The
    -- _v1 names do not end in _metrics, so no new partitions are created for them.
    FOREACH t IN ARRAY ARRAY['filesystem_metrics', 'diskio_metrics', 'network_metrics', 'temperature_metrics',
                             'container_metrics'] LOOP
        EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', t);
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', t) INTO filled;
        IF NOT filled THEN
            EXECUTE format('DROP TABLE %I', t);
            CONTINUE;
        END IF;
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_v1');
        FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                    WHERE i.inhparent = to_regclass(format('%I', t || '_v1')) AND c.relname ~ ('^' || t || '_p[0-9]{8}$')
        LOOP
            EXECUTE format('ALTER TABLE %I RENAME TO %I', part, t || '_v1' || substr(part, length(t) + 1));
        END LOOP;
    END LOOP;
    PERFORM infra_sample_views();
END
$$;

-- The upgrade to TimescaleDB (0015) with the tables as they are now: the views are dropped while the tables they
-- read are swapped, and created again.
CREATE OR REPLACE FUNCTION infra_convert_to_hypertables() RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    t text;
    tables text[] := ARRAY['system_metrics', 'container_poll_metrics', 'drive_metrics', 'pool_metrics',
                           'filesystem_metrics_v1', 'diskio_metrics_v1', 'network_metrics_v1',
                           'temperature_metrics_v1', 'container_metrics_v1'];
BEGIN
    IF NOT infra_timescaledb_ready() THEN
        RAISE EXCEPTION 'timescaledb is not available: install the extension in the PostgreSQL server and add it to shared_preload_libraries (then restart the server)';
    END IF;
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    -- In the order the poll writes them, so a poll holding the first lock is waited for, not deadlocked with.
    FOREACH t IN ARRAY tables LOOP
        CONTINUE WHEN to_regclass(format('%I', t)) IS NULL;
        EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', t);
    END LOOP;
    DROP VIEW IF EXISTS filesystem_metrics, diskio_metrics, network_metrics, temperature_metrics, container_metrics;
    FOREACH t IN ARRAY tables LOOP
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
                                  WHERE c.oid = to_regclass(format('%I', t)));
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING ALL)', t || '_ht', t);
        EXECUTE format('SELECT create_hypertable(%L, ''time'', chunk_time_interval => interval ''1 day'')', t || '_ht');
        EXECUTE format('INSERT INTO %I SELECT * FROM %I', t || '_ht', t);
        EXECUTE format('DROP TABLE %I', t);
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t || '_ht', t);
        EXECUTE format('ALTER TABLE %I SET (timescaledb.compress, timescaledb.compress_segmentby = ''device_id'')', t);
        EXECUTE format('SELECT add_compression_policy(%L, interval ''2 days'')', t);
        RETURN NEXT t;
    END LOOP;
    PERFORM infra_sample_views();
END
$$;

SELECT infra_ensure_partitions(current_date - 1, 8);
