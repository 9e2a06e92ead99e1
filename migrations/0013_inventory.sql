-- Package updates, virtual machines and networks of each device (#13), written by the slow-cadence collectors
-- "updates", "vms" and "network". Each table holds the latest state only; changes become events.

-- The latest package-update check of a device. updates is the list (security first) with current and candidate
-- versions, bounded by the parser. security_pending_since and reboot_required_since are when the current streak
-- of "security updates pending" / "reboot required" began, so alerts can say "for more than N days"; both reset
-- when the condition clears.
CREATE TABLE device_updates (
    device_id              uuid PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    manager                text NOT NULL,
    total                  integer NOT NULL DEFAULT 0,
    security               integer NOT NULL DEFAULT 0,
    security_known         boolean NOT NULL DEFAULT false,
    updates                jsonb NOT NULL DEFAULT '[]',
    truncated              boolean NOT NULL DEFAULT false,
    reboot                 text NOT NULL DEFAULT 'unknown' CHECK (reboot IN ('required', 'not-required', 'unknown')),
    reboot_packages        text[] NOT NULL DEFAULT '{}',
    failed                 boolean NOT NULL DEFAULT false,
    messages               text[] NOT NULL DEFAULT '{}',
    -- checked_at is the collection time on the worker's clock; lists_updated_at and lists_age_ms come from the
    -- device's clock (the age is computed there, so clock skew does not matter).
    checked_at             timestamptz NOT NULL,
    lists_updated_at       timestamptz,
    lists_age_ms           bigint,
    security_pending_since timestamptz,
    reboot_required_since  timestamptz
);
CREATE INDEX device_updates_security_idx ON device_updates (security DESC) WHERE security > 0;

-- Whether a device has virsh and what it said when the domain list failed (no daemon, permission denied).
CREATE TABLE device_vm_hosts (
    device_id    uuid PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    available    boolean NOT NULL,
    error        text NOT NULL DEFAULT '',
    truncated    boolean NOT NULL DEFAULT false,
    collected_at timestamptz NOT NULL
);

-- The libvirt domains of a device as of the last collection. state_since is when the domain entered its state
-- (as far as Infrastructor saw).
CREATE TABLE device_vms (
    device_id       uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    name            text NOT NULL,
    uuid            text NOT NULL DEFAULT '',
    state           text NOT NULL,
    vcpus           integer NOT NULL DEFAULT 0,
    max_memory_kib  bigint NOT NULL DEFAULT 0,
    used_memory_kib bigint NOT NULL DEFAULT 0,
    autostart       boolean NOT NULL DEFAULT false,
    persistent      boolean NOT NULL DEFAULT false,
    os_type         text NOT NULL DEFAULT '',
    disks           jsonb NOT NULL DEFAULT '[]',
    interfaces      jsonb NOT NULL DEFAULT '[]',
    error           text NOT NULL DEFAULT '',
    state_since     timestamptz NOT NULL,
    collected_at    timestamptz NOT NULL,
    PRIMARY KEY (device_id, name)
);

-- Interfaces, default routes and Docker networks of a device as of the last collection.
CREATE TABLE device_networks (
    device_id       uuid PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    interfaces      jsonb NOT NULL DEFAULT '[]',
    default_routes  jsonb NOT NULL DEFAULT '[]',
    errors          text[] NOT NULL DEFAULT '{}',
    truncated       boolean NOT NULL DEFAULT false,
    -- docker_networks is NULL when the device has no Docker (or it could not be read: docker_error says why).
    docker_networks jsonb,
    docker_error    text NOT NULL DEFAULT '',
    collected_at    timestamptz NOT NULL
);

-- Built-in check rules. The update checks read the number of days the condition has lasted, so their warning
-- threshold is that many days. "Reboot required" is informational in spirit; the rule model has only warning and
-- critical, so it fires as a warning after a week.
INSERT INTO alert_rules (id, name, kind, metric, condition, warning, critical, severity, duration_ms, clear_for_ms, builtin) VALUES
    ('00000000-0000-4000-a000-000000000031', 'security-updates-pending', 'check', '', 'security_updates_pending', 7, NULL, 'warning', 0, 0, true),
    ('00000000-0000-4000-a000-000000000032', 'reboot-required', 'check', '', 'reboot_required', 7, NULL, 'warning', 0, 0, true),
    ('00000000-0000-4000-a000-000000000033', 'vm-autostart-not-running', 'check', '', 'vm_autostart_not_running', NULL, 1, 'critical', 0, 0, true);
