//! What every area builds on: write transactions, the version bump,
//! binding dynamic arguments, and explaining failed incident writes.

use sqlx::Arguments as _;
use sqlx::error::ErrorKind;

use crate::{Error, Result};

use super::{error::*, query::*};

/// What a write changed, for [`crate::store::DataVersions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VersionsChanged {
    /// Incidents, their child tables, users' names: the data version.
    Data,
    /// Reference data: the data and reference versions.
    Reference,
    /// A user's rights, activity or identities: the data and access versions.
    User,
    /// An API token's validity: the access version.
    Access,
}

impl VersionsChanged {
    /// Increments of (data, reference, access).
    pub(super) fn steps(self) -> (i64, i64, i64) {
        match self {
            VersionsChanged::Data => (1, 0, 0),
            VersionsChanged::Reference => (1, 1, 0),
            VersionsChanged::User => (1, 0, 1),
            VersionsChanged::Access => (0, 0, 1),
        }
    }
}

/// How a statement names the incident of its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdSql {
    /// The row's incident id, bound.
    Bound,
    /// An incident the SQLite script inserted: the row's "id" says how many
    /// incidents the script inserted after it (0: the one inserted last,
    /// the largest id). Each incident is its own one-row statement in the
    /// writer's transaction, so their ids are consecutive.
    Newest,
}

/// The incident inserted last (see [`IdSql::Newest`]).
pub(super) const NEWEST_INCIDENT: &str = "(SELECT max(id) FROM incidents)";

/// Statements being written: each to be run on its own, or (SQLite) all
/// in one script, one round trip.
pub(super) enum Statements<DB: sqlx::Database> {
    /// One builder per statement.
    Each(Vec<sqlx::QueryBuilder<DB>>),
    /// One builder for all; whether a statement was started in it.
    Script(sqlx::QueryBuilder<DB>, bool),
}

impl<DB: sqlx::Database> Statements<DB> {
    pub(super) fn each() -> Self {
        Statements::Each(Vec::new())
    }

    pub(super) fn script() -> Self {
        Statements::Script(sqlx::QueryBuilder::new(""), false)
    }

    /// Where the next statement is pushed.
    pub(super) fn next(&mut self) -> &mut sqlx::QueryBuilder<DB> {
        match self {
            Statements::Each(all) => {
                all.push(sqlx::QueryBuilder::new(""));
                all.last_mut().expect("a builder was just pushed")
            }
            Statements::Script(script, started) => {
                if std::mem::replace(started, true) {
                    script.push(";\n");
                }
                script
            }
        }
    }

    /// The builders to run, in order.
    pub(super) fn into_builders(self) -> Vec<sqlx::QueryBuilder<DB>> {
        match self {
            Statements::Each(all) => all,
            Statements::Script(script, _) => vec![script],
        }
    }
}

/// Transactions, version bumps and argument binding, for both backends.
macro_rules! base_sql {
    (
        store: $Store:ty,
        db: $Db:ty,
        conn: $Conn:ty,
        backend: $backend:literal,
        begin_write: $begin:literal,
        skip_locked: $lock:literal,
        like: $like:literal $(,)?
    ) => {
        impl $Store {
            pub(super) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, $Db>> {
                Ok(self.writer.begin_with($begin).await?)
            }

            /// Commits what a transaction `written`, or rolls it back at once
            /// (before anything else uses the pool: an in-memory SQLite pool
            /// has one connection) and returns the failure.
            pub(super) async fn settle<T>(
                tx: sqlx::Transaction<'static, $Db>,
                written: Result<T>,
            ) -> Result<T> {
                match written {
                    Ok(value) => {
                        tx.commit().await?;
                        Ok(value)
                    }
                    Err(e) => {
                        tx.rollback().await.ok();
                        Err(e)
                    }
                }
            }

            /// Increments the [`DataVersions`] a write changes. Called inside
            /// the write's transaction, last (on PostgreSQL the row stays
            /// locked until the commit), so the new version becomes visible
            /// with the data it stands for.
            pub(super) async fn bump(conn: &mut $Conn, what: VersionsChanged) -> Result<()> {
                let mut update = sqlx::QueryBuilder::<$Db>::new("");
                Self::push_bump(&mut update, what);
                update.build().execute(&mut *conn).await?;
                Ok(())
            }

            /// One statement: the bump of [`Self::bump`].
            pub(super) fn push_bump(update: &mut sqlx::QueryBuilder<$Db>, what: VersionsChanged) {
                let (data, reference, access) = what.steps();
                update.push("UPDATE data_versions SET data_version = data_version + ");
                update.push_bind(data);
                update.push(", reference_version = reference_version + ");
                update.push_bind(reference);
                update.push(", access_version = access_version + ");
                update.push_bind(access);
                update.push(" WHERE id = 1");
            }

            /// Runs one statement and the version bump in a write transaction.
            pub(super) async fn write_one(
                &self,
                query: sqlx::query::Query<'static, $Db, <$Db as sqlx::Database>::Arguments>,
                what: VersionsChanged,
            ) -> Result<u64> {
                let this = self.clone();
                self.on_writer(async move { this.write_one_in_tx(query, what).await })
                    .await?
            }

            pub(super) async fn write_one_in_tx(
                &self,
                query: sqlx::query::Query<'static, $Db, <$Db as sqlx::Database>::Arguments>,
                what: VersionsChanged,
            ) -> Result<u64> {
                let mut tx = self.begin_write().await?;
                let done = match query.execute(&mut *tx).await {
                    Ok(done) => done.rows_affected(),
                    Err(e) => {
                        tx.rollback().await.ok();
                        return Err(e.into());
                    }
                };
                if done > 0 {
                    Self::bump(&mut tx, what).await?;
                }
                tx.commit().await?;
                Ok(done)
            }

            pub(super) fn args(
                values: impl IntoIterator<Item = Arg>,
            ) -> Result<<$Db as sqlx::Database>::Arguments> {
                let mut args = <<$Db as sqlx::Database>::Arguments>::default();
                for v in values {
                    let added = match v {
                        Arg::I64(x) => args.add(x),
                        Arg::I16(x) => args.add(x),
                        Arg::Uuid(x) => args.add(x),
                        Arg::Text(x) => args.add(x),
                        Arg::NullText => args.add(None::<String>),
                        Arg::Ts(x) => args.add(x),
                        Arg::Bool(x) => args.add(x),
                    };
                    added.map_err(|e| Error::Database(sqlx::Error::Encode(e)))?;
                }
                Ok(args)
            }

            /// `$1, ..., $n`.
            pub(super) fn placeholders(n: usize) -> String {
                (1..=n)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }

            /// Turns a failed incident write into the error people should see:
            /// which referenced row is missing, or which unique value is taken.
            /// Runs after the transaction was rolled back.
            pub(super) async fn explain(&self, e: Error, refs: Vec<ReferencedRow>) -> Error {
                if !is_kind(&e, ErrorKind::ForeignKeyViolation) {
                    return unique_conflict(e);
                }
                let Ok(mut conn) = self.pool.acquire().await else {
                    return e;
                };
                for r in refs {
                    let (what, sql, arg) = r.check();
                    let Ok(args) = Self::args([arg]) else {
                        return e;
                    };
                    match sqlx::query_scalar_with::<_, i64, _>(sql, args)
                        .fetch_one(&mut *conn)
                        .await
                    {
                        Ok(0) => return Error::NotFound { what, id: r.id() },
                        Ok(_) => {}
                        Err(_) => return e,
                    }
                }
                e
            }
        }
    };
}

for_each_backend!(base_sql);
