-- An instance that holds a liveness lock (a PostgreSQL advisory lock on a
-- connection of its own, or a lock on a file beside the SQLite database)
-- says so here; the lock goes with the process, so the other instances
-- know at once that it died and take over its work without waiting for
-- its heartbeat to go silent.
-- (postgres dialect; keep in step with ../sqlite/0012_instance_locks.sql.)
ALTER TABLE instances ADD COLUMN holds_lock BOOLEAN NOT NULL DEFAULT FALSE;
