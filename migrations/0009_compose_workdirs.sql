-- Compose working directories an operator has confirmed. A project's directory is read from the
-- com.docker.compose.project.working_dir label, which any image can set, so compose actions only use a
-- directory an admin has confirmed for that device and project, and a label that changes later needs a new
-- confirmation (#15).

CREATE TABLE compose_workdirs (
    device_id    uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    project      text NOT NULL,
    working_dir  text NOT NULL,
    confirmed_at timestamptz NOT NULL DEFAULT now(),
    token_id     uuid,
    token_name   text NOT NULL DEFAULT '',
    PRIMARY KEY (device_id, project)
);
