-- Durable Slack submissions, sqlite dialect. Keep in step with ../postgres/0002_submissions.sql.

-- What a person submitted (a modal, a key event picker), recorded before
-- Slack gets its acknowledgement and applied after it. A row without
-- done_at is replayed once its lease (claimed_until) has expired; failed
-- attempts back off (next_attempt_at); after too many the row is parked for
-- a person to look at.
CREATE TABLE slack_submissions (
    id              BLOB PRIMARY KEY,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    slack_user      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_until   TEXT NULL,
    claim_token     BLOB NULL,
    last_error      TEXT NULL,
    parked_at       TEXT NULL,
    done_at         TEXT NULL
);
CREATE INDEX slack_submissions_due ON slack_submissions (next_attempt_at)
    WHERE done_at IS NULL AND parked_at IS NULL;
