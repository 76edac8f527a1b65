-- Durable Slack submissions, postgres dialect. Keep in step with ../sqlite/0002_submissions.sql.

-- What a person submitted (a modal, a key event picker), recorded before
-- Slack gets its acknowledgement and applied after it. A row without
-- done_at is replayed once its lease (claimed_until) has expired; failed
-- attempts back off (next_attempt_at); after too many the row is parked for
-- a person to look at.
CREATE TABLE slack_submissions (
    id              UUID PRIMARY KEY,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    slack_user      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_until   TIMESTAMPTZ NULL,
    claim_token     UUID NULL,
    last_error      TEXT NULL,
    parked_at       TIMESTAMPTZ NULL,
    done_at         TIMESTAMPTZ NULL
);
CREATE INDEX slack_submissions_due ON slack_submissions (next_attempt_at)
    WHERE done_at IS NULL AND parked_at IS NULL;
