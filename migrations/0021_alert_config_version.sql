-- A version of the alert configuration (#17): rules, per-device overrides, maintenance windows and notification
-- channels change rarely but are read by every poll's alert evaluation. Workers cache them and compare this
-- number, read in the poll's own transaction, with the one their copy was read at. Triggers bump it in the
-- transaction of any change (the API's, a migration's, a cascade from a deleted device, or by hand), so the
-- next evaluation on every worker sees the change as soon as it commits.
CREATE TABLE IF NOT EXISTS alert_config_version (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint  NOT NULL
);
INSERT INTO alert_config_version (id, version) VALUES (true, 1) ON CONFLICT (id) DO NOTHING;

CREATE OR REPLACE FUNCTION bump_alert_config_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE alert_config_version SET version = version + 1 WHERE id;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS alert_rules_config_version ON alert_rules;
CREATE TRIGGER alert_rules_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alert_rules
    FOR EACH STATEMENT EXECUTE FUNCTION bump_alert_config_version();
DROP TRIGGER IF EXISTS alert_rule_overrides_config_version ON alert_rule_overrides;
CREATE TRIGGER alert_rule_overrides_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alert_rule_overrides
    FOR EACH STATEMENT EXECUTE FUNCTION bump_alert_config_version();
DROP TRIGGER IF EXISTS maintenance_windows_config_version ON maintenance_windows;
CREATE TRIGGER maintenance_windows_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON maintenance_windows
    FOR EACH STATEMENT EXECUTE FUNCTION bump_alert_config_version();
DROP TRIGGER IF EXISTS notification_channels_config_version ON notification_channels;
CREATE TRIGGER notification_channels_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON notification_channels
    FOR EACH STATEMENT EXECUTE FUNCTION bump_alert_config_version();
