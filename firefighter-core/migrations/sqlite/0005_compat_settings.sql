-- Settings of the original's priorities and categories that we lacked,
-- SQLite dialect. Keep in step with ../postgres/0005_compat_settings.sql.

-- How long after mitigation the incident channel is reminded to finish the
-- post-mortem (five days, as the original), and how long without progress
-- before it is reminded again (0: remind once).
ALTER TABLE priorities ADD COLUMN postmortem_reminder_time_secs BIGINT NOT NULL DEFAULT 432000;
ALTER TABLE priorities ADD COLUMN postmortem_reminder_repeat_time_secs BIGINT NOT NULL DEFAULT 0;

-- A category that is retired stays on its incidents but is no longer offered
-- when declaring.
ALTER TABLE incident_categories ADD COLUMN enabled_create BOOLEAN NOT NULL DEFAULT TRUE;
