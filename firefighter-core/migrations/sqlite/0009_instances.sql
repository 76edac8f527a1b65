-- The processes (instances) sharing this database, each beating every few
-- seconds while it runs. A lease whose owner has stopped beating is taken
-- over at once instead of waiting for it to expire: after a crash, work
-- resumes within seconds of the restart.
-- (sqlite dialect; keep in step with ../postgres/0009_instances.sql.)
CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);
CREATE INDEX instances_heartbeat ON instances (heartbeat_at);
