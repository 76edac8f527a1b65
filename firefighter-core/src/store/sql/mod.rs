//! The SQL backends. [`SqliteStore`] and [`PgStore`] share one body of SQL,
//! one module per area; only a few dialect fragments differ.
//!
//! Conventions both dialects agree on: `$N` placeholders, UUIDs bound as
//! `uuid::Uuid`, timestamps bound as `DateTime<Utc>` (SQLite stores RFC 3339
//! UTC text, which sorts like the instants it encodes), JSON bound as
//! `sqlx::types::Json`, durations as whole seconds.
//!
//! Each area module holds a macro with that area's SQL and expands it for
//! both backends with [`for_each_backend!`]; the dialect fragments are its
//! parameters: `begin_write` starts write transactions (SQLite takes the
//! write lock up front so read-then-write transactions never fail with
//! `SQLITE_BUSY`), `skip_locked` ends the row selection of claims, `like` is
//! the case-insensitive `LIKE`.

/// Expands an area's macro once per backend, with its dialect fragments.
macro_rules! for_each_backend {
    ($area:ident) => {
        $area!(
            store: $crate::store::SqliteStore,
            db: sqlx::Sqlite,
            conn: sqlx::SqliteConnection,
            backend: "sqlite",
            begin_write: "BEGIN IMMEDIATE",
            skip_locked: "",
            like: "LIKE",
        );
        $area!(
            store: $crate::store::PgStore,
            db: sqlx::Postgres,
            conn: sqlx::PgConnection,
            backend: "postgres",
            begin_write: "BEGIN",
            skip_locked: " FOR UPDATE SKIP LOCKED",
            like: "ILIKE",
        );
    };
}

// Shared by every area.
#[macro_use]
mod rows;
mod base;
mod children;
mod convert;
mod error;
mod query;

// The backends.
mod postgres;
mod sqlite;

// One module per area (declaring and changing incidents apart from reading them).
mod access;
mod catalog;
mod change;
mod commits;
mod database;
mod declaration;
mod inbox;
mod incident;
mod outbox;
mod postmortem;
mod task;
mod user;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// The one row of [`crate::store::DataVersions`] (read through the pool,
/// or on SQLite by the commit probe's own connection).
pub(super) const DATA_VERSIONS_QUERY: &str =
    "SELECT data_version, reference_version, access_version FROM data_versions WHERE id = 1";

/// Values per `IN (...)` list; far below both databases' parameter limits.
pub(super) const CHUNK: usize = 500;

/// Users per multi-row upsert (5 parameters each).
pub(super) const USER_CHUNK: usize = 1000;
