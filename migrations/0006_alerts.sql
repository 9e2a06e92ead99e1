-- Alerts: rules with per-device overrides, evaluation state per (rule, device, subject), alert episodes,
-- maintenance windows; notification channels and per-channel deliveries; user schedules.

CREATE TABLE alert_rules (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL,
    -- kind: metric (threshold on a polled value), offline, container, host_key.
    kind                text NOT NULL CHECK (kind IN ('metric', 'offline', 'container', 'host_key')),
    -- metric: cpu, memory, swap, load_per_core, filesystem, inodes, temperature (kind metric only).
    metric              text NOT NULL DEFAULT '',
    -- condition: exited_nonzero, unhealthy, restarting, missing (kind container only).
    condition           text NOT NULL DEFAULT '',
    -- warning and critical are thresholds of metric rules (offline: seconds since last seen); other kinds fire
    -- at severity.
    warning             double precision,
    critical            double precision,
    severity            text NOT NULL DEFAULT 'critical' CHECK (severity IN ('warning', 'critical')),
    duration_ms         bigint NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    clear_for_ms        bigint NOT NULL DEFAULT 0 CHECK (clear_for_ms >= 0),
    hysteresis_percent  double precision NOT NULL DEFAULT 5 CHECK (hysteresis_percent BETWEEN 0 AND 50),
    restarts            integer NOT NULL DEFAULT 0,
    window_ms           bigint NOT NULL DEFAULT 0,
    scope               text NOT NULL DEFAULT 'all' CHECK (scope IN ('all', 'tag', 'device')),
    scope_tag           text NOT NULL DEFAULT '',
    scope_device        uuid REFERENCES devices (id) ON DELETE CASCADE,
    channels            uuid[] NOT NULL DEFAULT '{}',
    enabled             boolean NOT NULL DEFAULT true,
    builtin             boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX alert_rules_name_key ON alert_rules (lower(name));

-- Built-in defaults; administrators may change or disable them but the rows keep their IDs.
INSERT INTO alert_rules (id, name, kind, metric, condition, warning, critical, severity, duration_ms, clear_for_ms, builtin) VALUES
    ('00000000-0000-4000-a000-000000000001', 'cpu', 'metric', 'cpu', '', 80, 95, 'critical', 300000, 60000, true),
    ('00000000-0000-4000-a000-000000000002', 'memory', 'metric', 'memory', '', 85, 95, 'critical', 300000, 60000, true),
    ('00000000-0000-4000-a000-000000000003', 'filesystem', 'metric', 'filesystem', '', 80, 90, 'critical', 0, 60000, true),
    ('00000000-0000-4000-a000-000000000004', 'temperature', 'metric', 'temperature', '', 55, 70, 'critical', 120000, 60000, true),
    ('00000000-0000-4000-a000-000000000005', 'device-offline', 'offline', '', '', NULL, 120, 'critical', 0, 0, true),
    ('00000000-0000-4000-a000-000000000006', 'container-unhealthy', 'container', '', 'unhealthy', NULL, NULL, 'warning', 0, 0, true),
    ('00000000-0000-4000-a000-000000000007', 'container-exited-nonzero', 'container', '', 'exited_nonzero', NULL, NULL, 'critical', 0, 0, true),
    ('00000000-0000-4000-a000-000000000008', 'host-key-blocked', 'host_key', '', '', NULL, NULL, 'critical', 0, 0, true);

-- Per-device overrides of a rule's thresholds and duration; a null column keeps the rule's value.
CREATE TABLE alert_rule_overrides (
    rule_id     uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    device_id   uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    warning     double precision,
    critical    double precision,
    duration_ms bigint,
    enabled     boolean,
    PRIMARY KEY (rule_id, device_id)
);

-- The evaluator's state per (rule, device, subject): pending since, firing severity, clearing since. Subject is
-- '' for device-wide rules, the mount, sensor or container name otherwise.
CREATE TABLE alert_states (
    rule_id    uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    device_id  uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    subject    text NOT NULL,
    state      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, device_id, subject)
);

-- One row per firing episode: created when it fires, resolved once.
CREATE TABLE alerts (
    id              uuid PRIMARY KEY,
    rule_id         uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    device_id       uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    subject         text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('warning', 'critical')),
    state           text NOT NULL CHECK (state IN ('firing', 'resolved')),
    message         text NOT NULL,
    value           double precision,
    pending_since   timestamptz NOT NULL,
    fired_at        timestamptz NOT NULL,
    resolved_at     timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by text,
    silenced_until  timestamptz,
    in_maintenance  boolean NOT NULL DEFAULT false,
    notices         integer NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX alerts_one_firing ON alerts (rule_id, device_id, subject) WHERE state = 'firing';
CREATE INDEX alerts_fired_idx ON alerts (fired_at DESC);
CREATE INDEX alerts_device_idx ON alerts (device_id, fired_at DESC);

-- Maintenance windows: alerts inside one are recorded but not sent. One-off (starts_at..ends_at) or recurring
-- (weekdays at start_time in time_zone, for duration_ms; no weekdays means every day).
CREATE TABLE maintenance_windows (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    device_id   uuid REFERENCES devices (id) ON DELETE CASCADE,
    tag         text NOT NULL DEFAULT '',
    starts_at   timestamptz,
    ends_at     timestamptz,
    weekdays    integer[] NOT NULL DEFAULT '{}',
    start_time  text NOT NULL DEFAULT '',
    duration_ms bigint NOT NULL DEFAULT 0,
    time_zone   text NOT NULL DEFAULT 'UTC',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((device_id IS NULL) <> (tag = ''))
);

CREATE TABLE notification_channels (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    type            text NOT NULL CHECK (type IN ('gotify', 'webhook')),
    url             text NOT NULL,
    token           text NOT NULL DEFAULT '',
    secret          text NOT NULL DEFAULT '',
    min_severity    text NOT NULL DEFAULT 'warning' CHECK (min_severity IN ('info', 'warning', 'critical')),
    enabled         boolean NOT NULL DEFAULT true,
    rate_per_minute integer NOT NULL DEFAULT 30 CHECK (rate_per_minute BETWEEN 1 AND 10000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX notification_channels_name_key ON notification_channels (lower(name));

-- One row per notice per channel. seq orders the notices of one alert; a delivery waits for the earlier notices
-- of its alert on its channel, so they arrive in order.
CREATE TABLE notification_deliveries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    uuid REFERENCES alerts (id) ON DELETE CASCADE,
    channel_id  uuid NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    seq         integer NOT NULL DEFAULT 0,
    kind        text NOT NULL CHECK (kind IN ('firing', 'escalated', 'resolved', 'test')),
    severity    text NOT NULL,
    title       text NOT NULL,
    message     text NOT NULL,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX notification_deliveries_alert_idx ON notification_deliveries (alert_id, channel_id, seq);
CREATE INDEX notification_deliveries_channel_idx ON notification_deliveries (channel_id, sent_at DESC);
CREATE INDEX notification_deliveries_created_idx ON notification_deliveries (created_at DESC);

-- User schedules; Temporal holds the schedule itself (ID user-schedule/<id>), this table the definition the API
-- shows and the runs' outcomes.
CREATE TABLE user_schedules (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    spec       jsonb NOT NULL,
    action     jsonb NOT NULL,
    overlap    text NOT NULL DEFAULT 'skip',
    paused     boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX user_schedules_name_key ON user_schedules (lower(name));

CREATE TABLE user_schedule_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id uuid NOT NULL REFERENCES user_schedules (id) ON DELETE CASCADE,
    workflow_id text NOT NULL UNIQUE,
    state       text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'succeeded', 'failed')),
    result      jsonb,
    error       text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX user_schedule_runs_idx ON user_schedule_runs (schedule_id, started_at DESC);
