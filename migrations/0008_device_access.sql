-- Least privilege on devices (#15): a device can be read-only (the worker refuses every operation on it before
-- dialling, for devices whose key only allows monitoring), and docker commands on a device can go to a socket
-- proxy instead of the Docker socket itself (DOCKER_HOST on the device).

ALTER TABLE devices
    ADD COLUMN read_only   boolean NOT NULL DEFAULT false,
    -- The same grammar the API validates (unix:///path or tcp://host:port), repeated here so no other writer can
    -- store a value that would break out of the command it is placed in.
    ADD COLUMN docker_host text
        CHECK (docker_host IS NULL OR docker_host ~ '^(unix:///[A-Za-z0-9._/-]+|tcp://[A-Za-z0-9.-]+:[0-9]{1,5})$');
