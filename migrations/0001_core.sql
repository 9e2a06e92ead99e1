-- Devices, their pinned SSH host keys, API tokens, the audit log and device events.

CREATE TABLE devices (
    id               uuid PRIMARY KEY,
    name             text NOT NULL,
    host             text NOT NULL,
    port             integer NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
    ssh_user         text NOT NULL,
    description      text NOT NULL DEFAULT '',
    device_type      text NOT NULL DEFAULT 'linux',
    tags             text[] NOT NULL DEFAULT '{}',
    poll_interval_ms bigint NOT NULL DEFAULT 30000 CHECK (poll_interval_ms > 0),
    enabled          boolean NOT NULL DEFAULT true,
    jump_host        text,
    host_key_policy  text NOT NULL DEFAULT 'require_approval'
                     CHECK (host_key_policy IN ('require_approval', 'trust_first_use')),
    status           text NOT NULL DEFAULT 'unknown'
                     CHECK (status IN ('unknown', 'online', 'offline', 'blocked')),
    status_reason    text NOT NULL DEFAULT '',
    last_seen        timestamptz,
    capabilities     jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX devices_name_key ON devices (lower(name));
CREATE INDEX devices_tags_idx ON devices USING gin (tags);
CREATE INDEX devices_status_idx ON devices (status);

-- One row per key a device (role 'device') or its jump host (role 'jump') has offered. Exactly one approved
-- key per device and role is trusted.
CREATE TABLE device_host_keys (
    device_id   uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    role        text NOT NULL DEFAULT 'device' CHECK (role IN ('device', 'jump')),
    fingerprint text NOT NULL,
    key_type    text NOT NULL,
    public_key  text NOT NULL,
    state       text NOT NULL CHECK (state IN ('pending', 'approved', 'retired')),
    first_seen  timestamptz NOT NULL DEFAULT now(),
    approved_at timestamptz,
    approved_by text,
    PRIMARY KEY (device_id, role, fingerprint)
);
CREATE UNIQUE INDEX device_host_keys_one_approved ON device_host_keys (device_id, role) WHERE state = 'approved';

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    scopes       text[] NOT NULL,
    secret_hash  bytea NOT NULL UNIQUE,
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time        timestamptz NOT NULL DEFAULT now(),
    token_id    uuid,
    token_name  text NOT NULL DEFAULT '',
    action      text NOT NULL,
    target      text NOT NULL DEFAULT '',
    outcome     text NOT NULL,
    status_code integer,
    workflow_id text,
    remote_addr text NOT NULL DEFAULT '',
    detail      jsonb
);
CREATE INDEX audit_log_time_idx ON audit_log (time DESC);

CREATE TABLE events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time      timestamptz NOT NULL DEFAULT now(),
    device_id uuid REFERENCES devices (id) ON DELETE CASCADE,
    kind      text NOT NULL,
    severity  text NOT NULL DEFAULT 'info' CHECK (severity IN ('info', 'warning', 'critical')),
    message   text NOT NULL,
    data      jsonb
);
CREATE INDEX events_time_idx ON events (time DESC);
CREATE INDEX events_device_time_idx ON events (device_id, time DESC);

-- The counters of a device's last committed poll, so rates survive a worker restart, and the key of that poll,
-- so a retried poll activity never writes its samples twice.
CREATE TABLE device_poll_state (
    device_id     uuid PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    last_poll_key text NOT NULL,
    counters      jsonb,
    summary       text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL DEFAULT now()
);
