-- Container image updates (#13): which running containers have a newer image in their registry.
--
-- device_images holds, per device, the registry digests (RepoDigests) of the images its running containers use,
-- from the slow-cadence collection. image_checks holds, per image reference across the fleet, the digest its
-- registry served at the last check: one check per reference, however many containers run it, so the fleet
-- stays far below registries' rate limits.

CREATE TABLE device_images (
    device_id    uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    image_id     text NOT NULL,
    repo_digests text[] NOT NULL DEFAULT '{}',
    seen_at      timestamptz NOT NULL,
    PRIMARY KEY (device_id, image_id)
);

CREATE TABLE image_checks (
    -- The canonical reference, e.g. index.docker.io/library/nginx:latest.
    ref           text PRIMARY KEY,
    checked_at    timestamptz NOT NULL,
    remote_digest text NOT NULL DEFAULT '',
    error         text NOT NULL DEFAULT ''
);
