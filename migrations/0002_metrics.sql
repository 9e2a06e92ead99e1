-- Time-series tables, range-partitioned by day on plain PostgreSQL. Partitions are created ahead by
-- infra_ensure_partitions (at start-up and by housekeeping) and dropped past retention.

CREATE TABLE system_metrics (
    device_id      uuid NOT NULL,
    time           timestamptz NOT NULL,
    cpu_pct        real,
    cpu_iowait_pct real,
    cpu_steal_pct  real,
    cpu_cores      real[],
    mem_total      bigint,
    mem_used       bigint,
    mem_available  bigint,
    swap_total     bigint,
    swap_used      bigint,
    load1          real,
    load5          real,
    load15         real,
    uptime_s       double precision,
    procs          integer,
    PRIMARY KEY (device_id, time)
) PARTITION BY RANGE (time);

CREATE TABLE filesystem_metrics (
    device_id    uuid NOT NULL,
    time         timestamptz NOT NULL,
    mountpoint   text NOT NULL,
    source       text NOT NULL,
    fstype       text NOT NULL,
    size_bytes   bigint NOT NULL,
    used_bytes   bigint NOT NULL,
    avail_bytes  bigint NOT NULL,
    inodes_total bigint,
    inodes_used  bigint,
    PRIMARY KEY (device_id, mountpoint, time)
) PARTITION BY RANGE (time);

CREATE TABLE diskio_metrics (
    device_id  uuid NOT NULL,
    time       timestamptz NOT NULL,
    disk       text NOT NULL,
    read_bps   double precision,
    write_bps  double precision,
    read_iops  double precision,
    write_iops double precision,
    util_pct   real,
    PRIMARY KEY (device_id, disk, time)
) PARTITION BY RANGE (time);

CREATE TABLE network_metrics (
    device_id  uuid NOT NULL,
    time       timestamptz NOT NULL,
    iface      text NOT NULL,
    rx_bps     double precision,
    tx_bps     double precision,
    rx_pps     double precision,
    tx_pps     double precision,
    rx_errs_ps double precision,
    tx_errs_ps double precision,
    rx_drop_ps double precision,
    tx_drop_ps double precision,
    PRIMARY KEY (device_id, iface, time)
) PARTITION BY RANGE (time);

CREATE TABLE temperature_metrics (
    device_id uuid NOT NULL,
    time      timestamptz NOT NULL,
    sensor    text NOT NULL,
    celsius   real NOT NULL,
    PRIMARY KEY (device_id, sensor, time)
) PARTITION BY RANGE (time);

CREATE TABLE container_metrics (
    device_id     uuid NOT NULL,
    time          timestamptz NOT NULL,
    container_id  text NOT NULL,
    name          text NOT NULL,
    cpu_pct       real,
    mem_used      bigint,
    mem_limit     bigint,
    net_rx_bps    double precision,
    net_tx_bps    double precision,
    blk_read_bps  double precision,
    blk_write_bps double precision,
    pids          integer,
    PRIMARY KEY (device_id, container_id, time)
) PARTITION BY RANGE (time);

-- infra_ensure_partitions creates the daily partitions of every partitioned time-series table from
-- p_from to p_from + p_days. It is idempotent and safe to run from several processes at once.
CREATE FUNCTION infra_ensure_partitions(p_from date, p_days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    t       text;
    d       date;
    part    text;
    created integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('infra_ensure_partitions'));
    FOR t IN
        SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relname LIKE '%\_metrics' ORDER BY 1
    LOOP
        FOR i IN 0 .. p_days LOOP
            d := p_from + i;
            part := format('%s_p%s', t, to_char(d, 'YYYYMMDD'));
            IF to_regclass(format('%I', part)) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                               part, t, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
                created := created + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN created;
END
$$;

SELECT infra_ensure_partitions(current_date - 1, 8);
