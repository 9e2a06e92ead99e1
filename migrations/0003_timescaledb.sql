-- Where the timescaledb extension is installed and preloaded, the time-series tables become hypertables with
-- compression instead of daily partitions. On plain PostgreSQL this step changes nothing.
--
-- Preloading is detected by the settings the timescaledb loader defines when the server starts with it:
-- shared_preload_libraries itself is readable only by superusers and pg_read_all_settings, which a database owner
-- on a managed server is not, and pg_settings lists only defined settings (not placeholders a configuration file
-- leaves behind). Trying CREATE EXTENSION instead is no test: without the preload it ends the session (FATAL).
-- Retention is not a TimescaleDB policy: housekeeping drops chunks past the product's retention (drop_chunks),
-- as it drops partitions on plain PostgreSQL.
DO $$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       OR NOT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'timescaledb.bgw_launcher_poll_time') THEN
        RAISE NOTICE 'timescaledb not available: keeping range-partitioned tables';
        RETURN;
    END IF;
    -- A role that may create tables but not extensions in this database (no CREATE on it) keeps plain tables
    -- rather than failing the start; the start-up warning and `infrastructor migrate timescaledb` take it from there.
    BEGIN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE WARNING 'timescaledb is available but % may not create it (%): keeping range-partitioned tables',
            current_user, SQLERRM;
        RETURN;
    END;
    FOREACH t IN ARRAY ARRAY['system_metrics', 'filesystem_metrics', 'diskio_metrics', 'network_metrics',
                             'temperature_metrics', 'container_metrics'] LOOP
        -- The tables are still empty here (this step runs right after they are created), so they are rebuilt
        -- as plain tables and converted.
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING ALL)', t || '_ht', t);
        EXECUTE format('DROP TABLE %I', t);
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t || '_ht', t);
        EXECUTE format('SELECT create_hypertable(%L, ''time'', chunk_time_interval => interval ''1 day'')', t);
        EXECUTE format('ALTER TABLE %I SET (timescaledb.compress, timescaledb.compress_segmentby = ''device_id'')', t);
        EXECUTE format('SELECT add_compression_policy(%L, interval ''2 days'')', t);
    END LOOP;
END
$$;
