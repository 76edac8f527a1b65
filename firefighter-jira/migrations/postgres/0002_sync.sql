-- Tickets firefighter made or adopted (how a webhook finds its incident),
-- and the changes firefighter pushed to Jira, remembered until their
-- webhook echo arrives (loop prevention that survives restarts and is
-- shared by every instance).
-- Same schema as ../sqlite/0002_sync.sql.

CREATE TABLE jira_tickets (
    issue_key   TEXT PRIMARY KEY,
    incident_id BIGINT,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX jira_tickets_incident ON jira_tickets (incident_id);

CREATE TABLE jira_sync_markers (
    id          TEXT PRIMARY KEY,
    incident_id BIGINT NOT NULL,
    field       TEXT NOT NULL,
    value       TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX jira_sync_markers_lookup ON jira_sync_markers (incident_id, field, value);
