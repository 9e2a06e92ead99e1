-- Hourly and daily rollups that long-range queries read, and the function that drops daily partitions past
-- retention.

CREATE TABLE metric_rollups (
    resolution text NOT NULL CHECK (resolution IN ('1h', '1d')),
    metric     text NOT NULL,
    device_id  uuid NOT NULL,
    bucket     timestamptz NOT NULL,
    label      text NOT NULL,
    name       text NOT NULL,
    avg        double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    count      bigint NOT NULL,
    PRIMARY KEY (resolution, device_id, metric, bucket, label, name)
);
CREATE INDEX metric_rollups_bucket_idx ON metric_rollups (resolution, bucket);

-- infra_drop_partitions drops the daily partitions of table p_table that end on or before p_before, and returns
-- their names. Partitions are named <table>_pYYYYMMDD by infra_ensure_partitions.
CREATE FUNCTION infra_drop_partitions(p_table text, p_before date) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    part text;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = p_table AND c.relname ~ ('^' || p_table || '_p[0-9]{8}$')
          AND to_date(right(c.relname, 8), 'YYYYMMDD') + 1 <= p_before
        ORDER BY 1
    LOOP
        EXECUTE format('DROP TABLE %I', part);
        RETURN NEXT part;
    END LOOP;
END
$$;
