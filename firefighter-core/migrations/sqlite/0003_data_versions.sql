-- Data versions and indexes for the API's filters, SQLite dialect. Keep in step
-- with ../postgres/0003_data_versions.sql.

-- Counters the store increments inside every write transaction, so a cache
-- can tell with one query whether what it holds is still current:
-- `data_version` for anything an incident's representation shows (incidents
-- and their child tables, users, reference data), `reference_version` for
-- reference data alone, `access_version` for what authentication reads
-- (users' rights and activity, API tokens). One row; it only ever grows.
CREATE TABLE data_versions (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    data_version      BIGINT NOT NULL,
    reference_version BIGINT NOT NULL,
    access_version    BIGINT NOT NULL
);
INSERT INTO data_versions (id, data_version, reference_version, access_version) VALUES (1, 1, 1, 1);

-- `created_by` filters and orders incident lists.
CREATE INDEX incidents_created_by ON incidents (created_by, created_at);
