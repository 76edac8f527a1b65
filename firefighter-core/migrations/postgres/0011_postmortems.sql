-- Post-mortem documents: one per incident and backend (the built-in one,
-- Confluence, Jira), created once, however many times creation is asked.
-- The built-in document's written sections and follow-up actions live
-- beside it; the rest of it is generated from the incident.
-- (postgres dialect; keep in step with ../sqlite/0011_postmortems.sql.)
CREATE TABLE postmortems (
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    backend     TEXT NOT NULL,
    external_id TEXT NOT NULL DEFAULT '',
    url         TEXT NOT NULL,
    ready       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (incident_id, backend)
);

CREATE TABLE postmortem_notes (
    incident_id  BIGINT PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    impact       TEXT NOT NULL DEFAULT '',
    root_causes  TEXT NOT NULL DEFAULT '',
    went_well    TEXT NOT NULL DEFAULT '',
    went_badly   TEXT NOT NULL DEFAULT '',
    updated_at   TIMESTAMPTZ NOT NULL,
    updated_by   UUID NULL REFERENCES users (id) ON DELETE SET NULL
);

CREATE TABLE postmortem_actions (
    id          UUID PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    owner       TEXT NOT NULL,
    due_on      DATE NOT NULL,
    done        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX postmortem_actions_incident ON postmortem_actions (incident_id, created_at);
