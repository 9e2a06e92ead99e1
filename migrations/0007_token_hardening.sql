-- Tokens (#15): mark the token stored from INFRA_ADMIN_TOKEN, so that setting a new secret revokes the one it
-- replaces.

ALTER TABLE api_tokens ADD COLUMN bootstrap boolean NOT NULL DEFAULT false;

-- Tokens stored from INFRA_ADMIN_TOKEN before this migration carry only their name.
UPDATE api_tokens SET bootstrap = true WHERE name = 'bootstrap (INFRA_ADMIN_TOKEN)';
