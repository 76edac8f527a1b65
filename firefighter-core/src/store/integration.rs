//! What integrations with tables of their own share: running their
//! migrations beside core's, and writing one body of SQL for both databases.

use sqlx::migrate::Migrator;

use super::DatabasePool;
use crate::Result;

/// Runs an integration's migrations on the database, recorded in its own
/// migrations table (`table`, never core's). Run after core's (connecting
/// the store does that): an integration's tables may refer to core's.
/// Usually called through [`crate::migrate_integration!`].
pub async fn run_integration_migrations(
    pool: &DatabasePool,
    sqlite: Migrator,
    postgres: Migrator,
    table: &'static str,
) -> Result<()> {
    match pool {
        DatabasePool::Sqlite(p) => {
            let mut m = sqlite;
            m.dangerous_set_table_name(table);
            m.run(p).await?;
        }
        DatabasePool::Postgres(p) => {
            let mut m = postgres;
            m.dangerous_set_table_name(table);
            m.run(p).await?;
        }
    }
    Ok(())
}

/// Runs the calling crate's `migrations/sqlite` or `migrations/postgres`
/// (beside its `Cargo.toml`) on a [`DatabasePool`], with its own migrations
/// table: `migrate_integration!(&pool, "_ff_slack_migrations").await`.
#[macro_export]
macro_rules! migrate_integration {
    ($pool:expr, $table:expr) => {
        $crate::store::run_integration_migrations(
            $pool,
            sqlx::migrate!("./migrations/sqlite"),
            sqlx::migrate!("./migrations/postgres"),
            $table,
        )
    };
}

/// Runs the same code on either pool of a [`DatabasePool`]:
/// `on_pool!(&pool, p => sqlx::query("...").execute(p).await?)`. With
/// `|p, Db, BEGIN|` the body also gets the database type (`Db`, for
/// `QueryBuilder<Db>`) and the statement that starts a write transaction
/// (`BEGIN`: SQLite takes its write lock up front).
#[macro_export]
macro_rules! on_pool {
    ($pool:expr, |$p:ident, $Db:ident, $begin:ident| $body:block) => {
        match $pool {
            $crate::store::DatabasePool::Sqlite($p) => {
                #[allow(dead_code)]
                type $Db = sqlx::Sqlite;
                #[allow(dead_code)]
                const $begin: &str = "BEGIN IMMEDIATE";
                $body
            }
            $crate::store::DatabasePool::Postgres($p) => {
                #[allow(dead_code)]
                type $Db = sqlx::Postgres;
                #[allow(dead_code)]
                const $begin: &str = "BEGIN";
                $body
            }
        }
    };
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::store::DatabasePool::Sqlite($p) => $body,
            $crate::store::DatabasePool::Postgres($p) => $body,
        }
    };
}
