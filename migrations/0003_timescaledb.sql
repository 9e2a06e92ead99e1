-- Where the timescaledb extension is installed and preloaded, the time-series tables become hypertables with
-- compression instead of daily partitions. On plain PostgreSQL this step changes nothing.
DO $$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       OR current_setting('shared_preload_libraries', true) NOT LIKE '%timescaledb%' THEN
        RAISE NOTICE 'timescaledb not available: keeping range-partitioned tables';
        RETURN;
    END IF;
    CREATE EXTENSION IF NOT EXISTS timescaledb;
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
        EXECUTE format('SELECT add_retention_policy(%L, interval ''30 days'')', t);
    END LOOP;
END
$$;
