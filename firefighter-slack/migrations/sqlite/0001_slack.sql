-- firefighter-slack tables, SQLite dialect. Keep in step with ../postgres/0001_slack.sql
-- (UUID -> BLOB, TIMESTAMPTZ -> TEXT in RFC 3339 UTC).

-- Workspace members as last seen, linked to firefighter users.
CREATE TABLE slack_users (
    slack_id   TEXT PRIMARY KEY,
    user_id    BLOB NULL,
    team_id    TEXT NULL,
    handle     TEXT NOT NULL DEFAULT '',
    name       TEXT NOT NULL DEFAULT '',
    email      TEXT NULL,
    image      TEXT NULL,
    is_bot     BOOLEAN NOT NULL DEFAULT FALSE,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TEXT NOT NULL
);
CREATE INDEX slack_users_user ON slack_users (user_id);

-- Channels firefighter knows: incident channels and configured ones (tags, categories, SOS).
CREATE TABLE slack_conversations (
    channel_id TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT '',
    kind       SMALLINT NOT NULL DEFAULT 0 CHECK (kind IN (0, 10, 20, 30, 40)),
    status     SMALLINT NOT NULL DEFAULT 1 CHECK (status IN (0, 1, 2)),
    is_shared  BOOLEAN NOT NULL DEFAULT FALSE,
    tag        TEXT NULL UNIQUE CHECK (tag IS NULL OR tag <> ''),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE slack_conversation_members (
    channel_id TEXT NOT NULL,
    slack_id   TEXT NOT NULL,
    PRIMARY KEY (channel_id, slack_id)
);

CREATE TABLE slack_conversation_categories (
    channel_id  TEXT NOT NULL,
    category_id BLOB NOT NULL,
    PRIMARY KEY (channel_id, category_id)
);

-- One channel per incident.
CREATE TABLE slack_incident_channels (
    incident_id BIGINT PRIMARY KEY,
    channel_id  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

-- Messages the bot posted, so later posts append, update in place or replace.
CREATE TABLE slack_messages (
    channel_id  TEXT NOT NULL,
    ts          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    incident_id BIGINT NULL,
    update_id   BLOB NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (channel_id, ts)
);
CREATE INDEX slack_messages_incident_kind ON slack_messages (incident_id, kind, created_at);

CREATE TABLE slack_usergroups (
    usergroup_id TEXT PRIMARY KEY,
    handle       TEXT NOT NULL DEFAULT '',
    name         TEXT NOT NULL DEFAULT '',
    description  TEXT NOT NULL DEFAULT '',
    is_external  BOOLEAN NOT NULL DEFAULT FALSE,
    tag          TEXT NULL CHECK (tag IS NULL OR tag <> ''),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE slack_usergroup_members (
    usergroup_id TEXT NOT NULL,
    slack_id     TEXT NOT NULL,
    PRIMARY KEY (usergroup_id, slack_id)
);

CREATE TABLE slack_usergroup_categories (
    usergroup_id TEXT NOT NULL,
    category_id  BLOB NOT NULL,
    PRIMARY KEY (usergroup_id, category_id)
);

CREATE TABLE slack_sos (
    id           BLOB PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    channel_id   TEXT NOT NULL,
    usergroup_id TEXT NULL,
    created_at   TEXT NOT NULL
);

-- Side effects done for an event delivery (idempotency key + step), with their result.
CREATE TABLE slack_effects (
    effect_key TEXT PRIMARY KEY,
    result     TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

-- Events API deliveries already taken (retries carry the same event id).
CREATE TABLE slack_events (
    event_id    TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
);

-- Messages turned into timeline entries with :mega: (once per message).
CREATE TABLE slack_reactions (
    channel_id  TEXT NOT NULL,
    message_ts  TEXT NOT NULL,
    incident_id BIGINT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (channel_id, message_ts)
);

-- Role-assignment DMs sent (to space them out per role type).
CREATE TABLE slack_role_notices (
    user_id    BLOB NOT NULL,
    role_slug  TEXT NOT NULL,
    incident_id BIGINT NOT NULL,
    sent_at    TEXT NOT NULL,
    PRIMARY KEY (user_id, role_slug, incident_id)
);
