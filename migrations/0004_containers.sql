-- Containers: the latest state of every container per device, docker availability per device, the previous
-- container counters for rates, and the operations run on containers.

ALTER TABLE devices ADD COLUMN docker jsonb;
ALTER TABLE device_poll_state ADD COLUMN container_counters jsonb;

CREATE TABLE containers (
    device_id       uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    container_id    text NOT NULL,
    name            text NOT NULL,
    image           text NOT NULL,
    state           text NOT NULL,
    health          text NOT NULL DEFAULT 'none',
    exit_code       integer NOT NULL DEFAULT 0,
    restart_count   integer NOT NULL DEFAULT 0,
    started_at      timestamptz,
    compose_project text NOT NULL DEFAULT '',
    compose_service text NOT NULL DEFAULT '',
    detail          jsonb NOT NULL,
    first_seen      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, container_id)
);
CREATE INDEX containers_name_idx ON containers (device_id, name);
CREATE INDEX containers_project_idx ON containers (compose_project) WHERE compose_project <> '';

CREATE TABLE operations (
    id           uuid PRIMARY KEY,
    workflow_id  text NOT NULL,
    run_id       text NOT NULL DEFAULT '',
    device_id    uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    target       text NOT NULL,
    action       text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}',
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    steps        jsonb NOT NULL DEFAULT '[]',
    result       jsonb,
    error        text NOT NULL DEFAULT '',
    token_id     uuid,
    token_name   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE INDEX operations_created_idx ON operations (created_at DESC);
CREATE INDEX operations_device_idx ON operations (device_id, created_at DESC);
CREATE INDEX operations_workflow_idx ON operations (workflow_id);

-- Container logs fetched for an API request. The activity writes them here and the API reads and deletes them,
-- so log contents (which may hold secrets) never enter workflow history.
CREATE TABLE log_fetches (
    id         uuid PRIMARY KEY,
    device_id  uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    body       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
