-- The upgrade of a plain installation to TimescaleDB (`infrastructor migrate timescaledb`, README "TimescaleDB"),
-- and one retention for both kinds of installation.

-- infra_timescaledb_ready says whether the timescaledb extension is installed in the server and preloaded, the
-- two things CREATE EXTENSION timescaledb needs. It reads nothing a database owner without superuser cannot read
-- (see 0003).
CREATE FUNCTION infra_timescaledb_ready() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND EXISTS (SELECT 1 FROM pg_settings WHERE name = 'timescaledb.bgw_launcher_poll_time')
$$;

-- infra_convert_to_hypertables turns every time-series table that is still range-partitioned into a hypertable
-- with compression, as 0003 makes them on a server that has TimescaleDB from the start, keeping every row. It
-- returns the tables it converted; a second call converts nothing. It runs in the caller's transaction, with
-- every time-series table locked from the start, so concurrent polls wait for it (or fail and are retried) and no
-- row is written between the copy and the swap.
CREATE FUNCTION infra_convert_to_hypertables() RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    t text;
    tables text[] := ARRAY['system_metrics', 'filesystem_metrics', 'diskio_metrics', 'network_metrics',
                           'temperature_metrics', 'container_metrics', 'drive_metrics', 'pool_metrics'];
BEGIN
    IF NOT infra_timescaledb_ready() THEN
        RAISE EXCEPTION 'timescaledb is not available: install the extension in the PostgreSQL server and add it to shared_preload_libraries (then restart the server)';
    END IF;
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    -- In the order the poll writes them, so a poll holding the first lock is waited for, not deadlocked with.
    FOREACH t IN ARRAY tables LOOP
        EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', t);
    END LOOP;
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
END
$$;

-- Retention is the product's (housekeeping drops chunks past it, see store.ApplyRetention), not a fixed policy of
-- the database: installations that 0003 converted with a 30-day policy lose it.
DO $$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    FOR t IN SELECT hypertable_name FROM timescaledb_information.hypertables
             WHERE hypertable_schema = current_schema() AND hypertable_name LIKE '%\_metrics' LOOP
        PERFORM remove_retention_policy(t::regclass, if_exists => true);
    END LOOP;
END
$$;
