-- The inbox: inbound vendor requests (a Slack form, a webhook), recorded
-- before they are acknowledged and applied after. A row without done_at is
-- replayed once its lease (claimed_until) has expired; failed attempts back
-- off (next_attempt_at); after too many the row is parked for a person.
-- (sqlite dialect; keep in step with ../postgres/0008_inbox.sql.)
CREATE TABLE inbox (
    id              BLOB PRIMARY KEY,
    source          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    actor           TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_until   TEXT NULL,
    claim_owner     TEXT NULL,
    claim_token     BLOB NULL,
    last_error      TEXT NULL,
    parked_at       TEXT NULL,
    done_at         TEXT NULL
);
CREATE INDEX inbox_due ON inbox (source, next_attempt_at)
    WHERE done_at IS NULL AND parked_at IS NULL;
CREATE INDEX inbox_parked ON inbox (parked_at) WHERE parked_at IS NOT NULL;
