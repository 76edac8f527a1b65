-- firefighter users mapped to their Jira account (FireFighter's `JiraUser`),
-- looked up once per person by e-mail.
-- Same schema as ../postgres/0001_users.sql (SQLite spellings: TEXT timestamps).

CREATE TABLE jira_users (
    user_id    TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    account_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX jira_users_account ON jira_users (account_id);
