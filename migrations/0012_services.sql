-- systemd units and top processes (#12).
--
-- Watched units are named per device (devices.watched_units) and per tag (tag_watched_units); a device watches the
-- union of its own list and the lists of its tags. Names are stored as systemd spells them ("nginx.service"):
-- the API completes bare names and validates them with systemd's unit-name grammar.
ALTER TABLE devices ADD COLUMN watched_units text[] NOT NULL DEFAULT '{}';

CREATE TABLE tag_watched_units (
    tag        text PRIMARY KEY,
    units      text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Whether the device runs systemd at all, from the last services collection: a device without it (busybox,
-- containers, Alpine) is a reported state, not a failed collection.
CREATE TABLE device_systemd (
    device_id    uuid PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    available    boolean NOT NULL,
    failed_count integer NOT NULL DEFAULT 0,
    truncated    boolean NOT NULL DEFAULT false,
    collected_at timestamptz NOT NULL
);

-- The latest state of each failed or watched unit per device. Units that are neither failed nor watched any more
-- are deleted (the change is an event).
CREATE TABLE device_services (
    device_id    uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    unit         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    load_state   text NOT NULL DEFAULT '',
    active_state text NOT NULL DEFAULT '',
    sub_state    text NOT NULL DEFAULT '',
    active_since timestamptz,
    n_restarts   bigint,
    main_pid     bigint NOT NULL DEFAULT 0,
    memory_bytes bigint,
    failed       boolean NOT NULL DEFAULT false,
    watched      boolean NOT NULL DEFAULT false,
    level        text NOT NULL CHECK (level IN ('ok', 'warning', 'critical')),
    reason       text NOT NULL DEFAULT '',
    first_seen   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, unit)
);

-- Top processes: one snapshot per inventory collection (requested = false, kept a week) and the answers to API
-- requests (requested = true), which the activity writes and the API reads once, so the process list never
-- enters workflow history.
CREATE TABLE process_snapshots (
    id        uuid PRIMARY KEY,
    device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    taken_at  timestamptz NOT NULL,
    requested boolean NOT NULL DEFAULT false,
    body      jsonb NOT NULL
);
CREATE INDEX process_snapshots_device_idx ON process_snapshots (device_id, taken_at DESC) WHERE NOT requested;

-- Check rules on the services collection: a failed unit is a warning, a watched unit that is not active critical.
INSERT INTO alert_rules (id, name, kind, metric, condition, warning, critical, severity, duration_ms, clear_for_ms, builtin) VALUES
    ('00000000-0000-4000-a000-000000000021', 'unit-failed', 'check', '', 'unit_failed', 1, NULL, 'warning', 0, 0, true),
    ('00000000-0000-4000-a000-000000000022', 'watched-unit-inactive', 'check', '', 'watched_unit_inactive', NULL, 1, 'critical', 0, 0, true);
