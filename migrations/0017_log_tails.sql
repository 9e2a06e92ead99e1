-- Watchers of live log tails (#12). Each API replica records, per tail and token, that it has WebSocket clients
-- watching, and refreshes seen_at while they stay. The worker's tail activity follows its source while a fresh row
-- exists and ends when none is left, and the limits of tails per token and per device count these rows across
-- replicas. Rows of a replica that died go stale and are deleted by the others.
CREATE TABLE log_tail_watchers (
    source    text NOT NULL,
    replica   uuid NOT NULL,
    token_id  uuid NOT NULL,
    device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    clients   integer NOT NULL CHECK (clients > 0),
    seen_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, replica, token_id)
);
CREATE INDEX log_tail_watchers_device_idx ON log_tail_watchers (device_id);
CREATE INDEX log_tail_watchers_token_idx ON log_tail_watchers (token_id);
