-- Whom an open incident holds its dedup_key for, PostgreSQL dialect. Keep in
-- step with ../sqlite/0006_dedup_scope.sql.

-- NULL: for everybody (every declaration until now). A user: for that
-- declarer alone, because when they declared, the open incident holding the
-- key for everybody was one they may not see (someone else's private
-- incident), or the new incident itself was. So a key never reveals an
-- incident to someone who may not see it.
ALTER TABLE incidents ADD COLUMN dedup_scope UUID NULL REFERENCES users (id);

-- One open incident per key and scope (the nil UUID stands for everybody:
-- NULLs never collide in a unique index).
DROP INDEX incidents_open_dedup_key;
CREATE UNIQUE INDEX incidents_open_dedup_key
    ON incidents (dedup_key, COALESCE(dedup_scope, '00000000-0000-0000-0000-000000000000'::uuid))
    WHERE dedup_key IS NOT NULL AND status <= 40;
