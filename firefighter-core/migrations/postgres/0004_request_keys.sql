-- Idempotency keys of incident updates, PostgreSQL dialect. Keep in step with
-- ../sqlite/0004_request_keys.sql.

-- A caller that may send the same update twice (a replayed Slack submission)
-- names it with a key; the key is written in the update's transaction, so a
-- repeat finds it and changes nothing.
CREATE TABLE incident_requests (
    request_key TEXT PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL
);
