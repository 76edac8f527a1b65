-- Access and API bookkeeping, PostgreSQL dialect. Keep in step with ../sqlite/0002_auth.sql.

-- API tokens: only the SHA-256 of the token is stored; `scopes` is space-separated.
CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ NULL,
    expires_at   TIMESTAMPTZ NULL,
    revoked_at   TIMESTAMPTZ NULL
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Login sessions: the cookie holds the id, the table its SHA-256.
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- `Idempotency-Key` of API writes, per caller; the response is NULL while the first request runs.
CREATE TABLE idempotency_keys (
    scope           TEXT NOT NULL,
    idem_key        TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    response_status INTEGER NULL,
    response_type   TEXT NULL,
    response_body   TEXT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- When reference rows were created and last changed (the original's API shows them).
ALTER TABLE priorities ADD COLUMN created_at TIMESTAMPTZ NULL;
ALTER TABLE priorities ADD COLUMN updated_at TIMESTAMPTZ NULL;
ALTER TABLE category_groups ADD COLUMN created_at TIMESTAMPTZ NULL;
ALTER TABLE category_groups ADD COLUMN updated_at TIMESTAMPTZ NULL;
ALTER TABLE incident_categories ADD COLUMN created_at TIMESTAMPTZ NULL;
ALTER TABLE incident_categories ADD COLUMN updated_at TIMESTAMPTZ NULL;
ALTER TABLE cost_types ADD COLUMN created_at TIMESTAMPTZ NULL;
ALTER TABLE cost_types ADD COLUMN updated_at TIMESTAMPTZ NULL;
