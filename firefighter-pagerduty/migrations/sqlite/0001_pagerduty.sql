-- PagerDuty data synced from the REST API, and the pages firefighter sent.
-- Same schema as ../postgres/0001_pagerduty.sql (SQLite spellings: BLOB
-- UUIDs, TEXT timestamps, INTEGER PRIMARY KEY AUTOINCREMENT).

CREATE TABLE pd_escalation_policies (
    pagerduty_id TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    summary      TEXT NOT NULL DEFAULT '',
    description  TEXT NOT NULL DEFAULT '',
    api_url      TEXT NOT NULL DEFAULT '',
    web_url      TEXT NOT NULL DEFAULT '',
    updated_at   TEXT NOT NULL
);

CREATE TABLE pd_services (
    pagerduty_id         TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    summary              TEXT NOT NULL DEFAULT '',
    status               TEXT NOT NULL DEFAULT '',
    api_url              TEXT NOT NULL DEFAULT '',
    web_url              TEXT NOT NULL DEFAULT '',
    -- No foreign key: services and policies are synced by different tasks.
    escalation_policy_id TEXT,
    -- Set by people, kept across syncs: hidden and never paged.
    ignore               BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX pd_services_policy ON pd_services (escalation_policy_id);

CREATE TABLE pd_schedules (
    pagerduty_id TEXT PRIMARY KEY,
    summary      TEXT NOT NULL DEFAULT '',
    api_url      TEXT NOT NULL DEFAULT '',
    web_url      TEXT NOT NULL DEFAULT '',
    updated_at   TEXT NOT NULL
);

CREATE TABLE pd_teams (
    pagerduty_id TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    api_url      TEXT NOT NULL DEFAULT '',
    web_url      TEXT NOT NULL DEFAULT '',
    updated_at   TEXT NOT NULL
);

CREATE TABLE pd_users (
    pagerduty_id TEXT PRIMARY KEY,
    user_id      BLOB REFERENCES users (id) ON DELETE SET NULL,
    name         TEXT NOT NULL DEFAULT '',
    email        TEXT NOT NULL DEFAULT '',
    phone_number TEXT NOT NULL DEFAULT '',
    api_url      TEXT NOT NULL DEFAULT '',
    web_url      TEXT NOT NULL DEFAULT '',
    updated_at   TEXT NOT NULL
);
CREATE INDEX pd_users_user ON pd_users (user_id);

CREATE TABLE pd_user_teams (
    pagerduty_user_id TEXT NOT NULL REFERENCES pd_users (pagerduty_id) ON DELETE CASCADE,
    team_id           TEXT NOT NULL REFERENCES pd_teams (pagerduty_id) ON DELETE CASCADE,
    PRIMARY KEY (pagerduty_user_id, team_id)
);

CREATE TABLE pd_oncalls (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    escalation_policy_id TEXT NOT NULL REFERENCES pd_escalation_policies (pagerduty_id) ON DELETE CASCADE,
    escalation_level     INTEGER NOT NULL,
    pagerduty_user_id    TEXT NOT NULL REFERENCES pd_users (pagerduty_id) ON DELETE CASCADE,
    schedule_id          TEXT REFERENCES pd_schedules (pagerduty_id) ON DELETE SET NULL,
    -- NULL: permanent (an escalation rule without schedule).
    starts_at            TEXT,
    ends_at              TEXT
);
CREATE INDEX pd_oncalls_policy ON pd_oncalls (escalation_policy_id, escalation_level);

-- When each sync last succeeded.
CREATE TABLE pd_syncs (
    kind      TEXT PRIMARY KEY,
    synced_at TEXT NOT NULL,
    summary   TEXT NOT NULL DEFAULT ''
);

-- Pages (PagerDuty incidents) firefighter sent or is sending.
CREATE TABLE pd_pages (
    id                    BLOB PRIMARY KEY,
    -- incident_key (REST) / dedup_key (Events v2): one page per key, ever.
    page_key              TEXT NOT NULL UNIQUE,
    incident_id           INTEGER REFERENCES incidents (id) ON DELETE CASCADE,
    service_id            TEXT NOT NULL REFERENCES pd_services (pagerduty_id),
    title                 TEXT NOT NULL,
    details               TEXT NOT NULL DEFAULT '',
    conference_url        TEXT NOT NULL DEFAULT '',
    requested_by          BLOB REFERENCES users (id) ON DELETE SET NULL,
    -- rest (POST /incidents) or events (Events API v2).
    api                   TEXT NOT NULL CHECK (api IN ('rest', 'events')),
    status                TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts              INTEGER NOT NULL DEFAULT 0,
    next_attempt_at       TEXT NOT NULL,
    lease_until           TEXT,
    last_error            TEXT,
    pagerduty_incident_id TEXT,
    incident_number       INTEGER,
    pagerduty_status      TEXT,
    web_url               TEXT,
    api_url               TEXT,
    timeline_recorded     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    sent_at               TEXT
);
-- A service is paged at most once per incident.
CREATE UNIQUE INDEX pd_pages_incident_service ON pd_pages (incident_id, service_id) WHERE incident_id IS NOT NULL;
CREATE INDEX pd_pages_due ON pd_pages (status, next_attempt_at);

-- Incidents whose channel opened outside office hours (the hint is given once).
CREATE TABLE pd_off_hours_hints (
    incident_id       INTEGER PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    channel_platform  TEXT NOT NULL,
    channel_id        TEXT NOT NULL,
    channel_name      TEXT NOT NULL,
    channel_url       TEXT NOT NULL,
    opened_at         TEXT NOT NULL,
    timeline_recorded BOOLEAN NOT NULL DEFAULT FALSE
);
