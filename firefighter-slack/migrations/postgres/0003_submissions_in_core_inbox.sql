-- Submissions now live in core's inbox (source 'slack'); postgres dialect.
-- Keep in step with ../sqlite/0003_submissions_in_core_inbox.sql.
-- Every row moves, finished or not, with its lease and attempts, so what
-- was waiting before the upgrade is replayed after it.
INSERT INTO inbox (id, source, kind, payload, actor, created_at, attempts, next_attempt_at,
                   claimed_until, claim_token, last_error, parked_at, done_at)
SELECT id, 'slack', kind, payload, slack_user, created_at, attempts, next_attempt_at,
       claimed_until, claim_token, last_error, parked_at, done_at
FROM slack_submissions
WHERE true -- SQLite reads ON CONFLICT after a bare SELECT as a join clause
ON CONFLICT (id) DO NOTHING;
DROP TABLE slack_submissions;
