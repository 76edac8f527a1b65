//! Storage: one [`Store`] made of area traits ([`DatabaseStore`],
//! [`CatalogStore`], [`UserStore`], [`IncidentStore`], [`OutboxStore`],
//! [`TaskStore`], [`AccessStore`], [`InboxStore`], [`PostMortemStore`]), two backends (SQLite, the embedded
//! default, and PostgreSQL for several instances sharing one database)
//! generated from the same SQL, with the same schema and the same test suite.
//!
//! Architecture invariant: every write method is one transaction. A state
//! change, its timeline entries and its outbox events commit together or not
//! at all.
//!
//! `Arc<dyn Store>` reaches every area's methods; on a concrete store
//! (`SqliteStore`, a mock) bring the areas into scope with
//! `use firefighter_core::store::prelude::*`.

use std::sync::Arc;

use crate::Result;

mod access;
mod catalog;
mod database;
mod inbox;
mod incident;
mod integration;
mod outbox;
mod postmortem;
mod sql;
mod task;
mod user;

pub use access::AccessStore;
pub use catalog::{Catalog, CatalogStore};
pub use database::{DataVersions, DatabasePool, DatabaseStore, LivenessHold};
pub use inbox::InboxStore;
pub use incident::{Declared, IncidentChange, IncidentStore, NewIncidentRecord};
pub use integration::run_integration_migrations;
pub use outbox::{DeliveryInfo, DeliveryStatus, OutboxStore};
pub use postmortem::{PostMortemStore, PostMortemWrite};
pub use sql::{PgStore, SqliteStore};
pub use task::TaskStore;
pub use user::{UserStore, UserUpsert};

pub use crate::clock::{now, truncate_micros};

#[cfg(any(test, feature = "test-util"))]
pub use {
    access::MockAccessStore, catalog::MockCatalogStore, database::MockDatabaseStore,
    inbox::MockInboxStore, incident::MockIncidentStore, outbox::MockOutboxStore,
    postmortem::MockPostMortemStore, task::MockTaskStore, user::MockUserStore,
};

/// The area traits, for calling store methods on a concrete store.
pub mod prelude {
    pub use super::{
        AccessStore, CatalogStore, DatabaseStore, InboxStore, IncidentStore, OutboxStore,
        PostMortemStore, Store, TaskStore, UserStore,
    };
}

/// Persistence of everything in core: every area at once. Implemented by
/// [`SqliteStore`] and [`PgStore`], and by anything implementing every area.
pub trait Store:
    DatabaseStore
    + CatalogStore
    + UserStore
    + IncidentStore
    + OutboxStore
    + TaskStore
    + AccessStore
    + InboxStore
    + PostMortemStore
{
}

impl<T> Store for T where
    T: DatabaseStore
        + CatalogStore
        + UserStore
        + IncidentStore
        + OutboxStore
        + TaskStore
        + AccessStore
        + InboxStore
        + PostMortemStore
        + ?Sized
{
}

/// Part of the [`crate::Error::Conflict`] message when an incident changed
/// between the read and the write of a command (the command then retries).
pub const STALE_VERSION: &str = "changed meanwhile";

/// Connects to `database_url` (`sqlite:...` or `postgres://...`), creating the
/// SQLite file if needed, and runs the migrations.
pub async fn connect(database_url: &str) -> Result<Arc<dyn Store>> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(database_url).await?))
    } else if database_url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(database_url).await?))
    } else {
        Err(crate::Error::Config(format!(
            "DATABASE_URL must start with sqlite: or postgres:// (got \"{}\")",
            database_url.split(['@', '?']).next().unwrap_or_default()
        )))
    }
}
