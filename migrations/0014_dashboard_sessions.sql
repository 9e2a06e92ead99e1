-- Dashboard sessions (#14): the browser exchanges a pasted API token for a session cookie once, so page scripts
-- never hold the token. The session acts with its token's scopes and ends with it (revoked, expired or deleted),
-- at its own expiry, or at sign-out. Only the hash of the cookie's secret is stored.
CREATE TABLE dashboard_sessions (
    id           uuid PRIMARY KEY,
    secret_hash  bytea NOT NULL UNIQUE,
    token_id     uuid NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    remote_addr  text NOT NULL DEFAULT '',
    user_agent   text NOT NULL DEFAULT ''
);
CREATE INDEX dashboard_sessions_token ON dashboard_sessions (token_id);
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_at);
