-- firefighter schema, SQLite dialect. Keep in step with ../postgres/0001_init.sql:
-- same tables, columns, constraints and indexes; only the types differ
-- (UUID -> BLOB, TIMESTAMPTZ -> TEXT in RFC 3339 UTC, JSONB -> TEXT,
-- identity -> INTEGER PRIMARY KEY AUTOINCREMENT).

-- ---------------------------------------------------------------- reference data

CREATE TABLE priorities (
    id                        BLOB PRIMARY KEY,
    name                      TEXT NOT NULL UNIQUE,
    value                     INTEGER NOT NULL,
    emoji                     TEXT NOT NULL DEFAULT '',
    description               TEXT NOT NULL DEFAULT '',
    sort_order                INTEGER NOT NULL DEFAULT 0,
    is_default                BOOLEAN NOT NULL DEFAULT FALSE,
    needs_postmortem          BOOLEAN NOT NULL DEFAULT FALSE,
    enabled_create            BOOLEAN NOT NULL DEFAULT TRUE,
    enabled_update            BOOLEAN NOT NULL DEFAULT TRUE,
    reminder_time_secs        BIGINT NOT NULL,
    sla_secs                  BIGINT NOT NULL,
    recommended_response_type TEXT NULL CHECK (recommended_response_type IN ('critical', 'normal'))
);

CREATE TABLE environments (
    id          BLOB PRIMARY KEY,
    value       TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    sort_order  INTEGER NOT NULL DEFAULT 0,
    is_default  BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE category_groups (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    sort_order  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE incident_categories (
    id             BLOB PRIMARY KEY,
    name           TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    sort_order     INTEGER NOT NULL DEFAULT 0,
    group_id       BLOB NOT NULL REFERENCES category_groups (id),
    private        BOOLEAN NOT NULL DEFAULT FALSE,
    deploy_warning BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (group_id, name)
);

CREATE TABLE role_types (
    id          BLOB PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    emoji       TEXT NOT NULL DEFAULT '',
    required    BOOLEAN NOT NULL DEFAULT FALSE,
    sort_order  INTEGER NOT NULL DEFAULT 0,
    summary     TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    aka         TEXT NOT NULL DEFAULT ''
);

-- `seq` keeps the order types were first stored in (they have no order of their own).
CREATE TABLE milestone_types (
    event_type    TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    summary       TEXT NOT NULL DEFAULT '',
    user_editable BOOLEAN NOT NULL DEFAULT FALSE,
    required      BOOLEAN NOT NULL DEFAULT FALSE,
    asked_for     BOOLEAN NOT NULL DEFAULT FALSE,
    description   TEXT NOT NULL DEFAULT '',
    seq           BIGINT NOT NULL
);

CREATE TABLE metric_types (
    slug        TEXT PRIMARY KEY,
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    end_event   TEXT NOT NULL REFERENCES milestone_types (event_type),
    start_event TEXT NOT NULL REFERENCES milestone_types (event_type),
    seq         BIGINT NOT NULL
);

CREATE TABLE cost_types (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL DEFAULT '',
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    editable    BOOLEAN NOT NULL DEFAULT TRUE,
    seq         BIGINT NOT NULL
);

CREATE TABLE impact_types (
    value      TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    emoji      TEXT NOT NULL DEFAULT '',
    help_text  TEXT NOT NULL DEFAULT '',
    sort_order INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE impact_levels (
    impact_type TEXT NOT NULL REFERENCES impact_types (value) ON DELETE CASCADE,
    level       TEXT NOT NULL CHECK (level IN ('HT', 'HI', 'MD', 'LO', 'LT', 'NO')),
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    position    INTEGER NOT NULL,
    PRIMARY KEY (impact_type, level)
);

CREATE TABLE seed_marker (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    seeded_at  TEXT NOT NULL
);

-- ---------------------------------------------------------------- users

CREATE TABLE users (
    id            BLOB PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    is_active     BOOLEAN NOT NULL DEFAULT TRUE,
    is_staff      BOOLEAN NOT NULL DEFAULT FALSE,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    bot           BOOLEAN NOT NULL DEFAULT FALSE,
    avatar        TEXT NULL,
    password_hash TEXT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE user_identities (
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform    TEXT NOT NULL,
    external_id TEXT NOT NULL,
    UNIQUE (platform, external_id),
    UNIQUE (user_id, platform)
);

-- ---------------------------------------------------------------- incidents

CREATE TABLE incidents (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    title             TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    status            SMALLINT NOT NULL CHECK (status IN (10, 20, 30, 40, 50, 60)),
    priority_id       BLOB NOT NULL REFERENCES priorities (id),
    category_id       BLOB NOT NULL REFERENCES incident_categories (id),
    environment_id    BLOB NOT NULL REFERENCES environments (id),
    created_by        BLOB NOT NULL REFERENCES users (id),
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    mitigated_at      TEXT NULL,
    closed_at         TEXT NULL,
    closure_reason    TEXT NULL CHECK (closure_reason IN ('resolved', 'duplicate', 'false_positive', 'superseded', 'external', 'cancelled')),
    closure_reference TEXT NOT NULL DEFAULT '',
    custom_fields     TEXT NOT NULL DEFAULT '{}',
    dedup_key         TEXT NULL CHECK (length(dedup_key) <= 160),
    ignore            BOOLEAN NOT NULL DEFAULT FALSE,
    private           BOOLEAN NOT NULL DEFAULT FALSE,
    version           BIGINT NOT NULL DEFAULT 1
);

-- An automated source's key is reserved while its incident is Open to Mitigated.
CREATE UNIQUE INDEX incidents_open_dedup_key ON incidents (dedup_key) WHERE dedup_key IS NOT NULL AND status <= 40;
CREATE INDEX incidents_status ON incidents (status);
CREATE INDEX incidents_created_at ON incidents (created_at);

-- `position` keeps the order the caller gave (primary environment first).
CREATE TABLE incident_environments (
    incident_id    BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    environment_id BLOB NOT NULL REFERENCES environments (id),
    position       INTEGER NOT NULL,
    PRIMARY KEY (incident_id, environment_id)
);
CREATE INDEX incident_environments_environment ON incident_environments (environment_id);

CREATE TABLE incident_tags (
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    tag         TEXT NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (incident_id, tag)
);

CREATE TABLE incident_roles (
    incident_id  BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    role_type_id BLOB NOT NULL REFERENCES role_types (id),
    user_id      BLOB NOT NULL REFERENCES users (id),
    PRIMARY KEY (incident_id, role_type_id)
);

CREATE TABLE incident_members (
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES users (id),
    position    INTEGER NOT NULL,
    PRIMARY KEY (incident_id, user_id)
);
CREATE INDEX incident_members_user ON incident_members (user_id);

CREATE TABLE incident_key_events (
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    event_type  TEXT NOT NULL REFERENCES milestone_types (event_type),
    at          TEXT NOT NULL,
    recorded_by BLOB NULL REFERENCES users (id),
    PRIMARY KEY (incident_id, event_type)
);

CREATE TABLE incident_costs (
    id           BLOB PRIMARY KEY,
    incident_id  BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    cost_type_id BLOB NOT NULL REFERENCES cost_types (id),
    amount_cents BIGINT NULL,
    details      TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL
);
CREATE INDEX incident_costs_incident ON incident_costs (incident_id);

-- The timeline: append-only.
CREATE TABLE incident_updates (
    id          BLOB PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    created_by  BLOB NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    event_ts    TEXT NOT NULL,
    event_type  TEXT NULL,
    message     TEXT NULL,
    status      SMALLINT NULL CHECK (status IN (10, 20, 30, 40, 50, 60)),
    changes     TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX incident_updates_incident ON incident_updates (incident_id, event_ts);

-- ---------------------------------------------------------------- outbox

CREATE TABLE outbox_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX outbox_events_incident ON outbox_events (incident_id, id);

CREATE TABLE outbox_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        BIGINT NOT NULL REFERENCES outbox_events (id) ON DELETE CASCADE,
    handler         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_owner     TEXT NULL,
    lease_until     TEXT NULL,
    last_error      TEXT NULL,
    delivered_at    TEXT NULL,
    UNIQUE (event_id, handler)
);
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (status, next_attempt_at);

-- ---------------------------------------------------------------- periodic tasks

CREATE TABLE task_schedules (
    name        TEXT PRIMARY KEY,
    enabled     BOOLEAN NOT NULL,
    schedule    TEXT NULL,
    next_run_at TEXT NULL,
    lease_owner TEXT NULL,
    lease_until TEXT NULL
);

CREATE TABLE task_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task        TEXT NOT NULL,
    trigger     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NULL,
    error       TEXT NULL,
    summary     TEXT NULL
);
CREATE INDEX task_runs_task ON task_runs (task, id);
