-- Runbooks synced from the Confluence page tree under
-- CONFLUENCE_RUNBOOKS_FOLDER_ID (FireFighter's `Runbook`, a ConfluencePage).
-- Same schema as ../postgres/0001_runbooks.sql (SQLite spellings: TEXT timestamps).

CREATE TABLE confluence_runbooks (
    -- A UUID derived from the page id: the API's `id`, stable across syncs.
    id            TEXT PRIMARY KEY,
    page_id       TEXT NOT NULL UNIQUE,
    -- The page's title without ` [RUNBOOK]`.
    name          TEXT NOT NULL,
    title         TEXT NOT NULL,
    service_name  TEXT NOT NULL,
    service_type  TEXT NOT NULL,
    page_url      TEXT NOT NULL,
    page_edit_url TEXT NOT NULL,
    body_storage  TEXT NOT NULL DEFAULT '',
    version       INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX confluence_runbooks_type ON confluence_runbooks (service_type);
