//! The store test suite: written once (in `suite`), run on SQLite always and
//! on PostgreSQL with the `postgres-tests` feature and
//! `FIREFIGHTER_TEST_POSTGRES_URL` (an admin URL; each test gets a fresh database).

use std::sync::Arc;

use firefighter_core::Store;
use firefighter_core::store::{PgStore, SqliteStore};

mod suite;

/// A store for one test, and what to clean up after it.
struct TestDb {
    store: Arc<dyn Store>,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        database: String,
        pool: sqlx::PgPool,
    },
}

impl TestDb {
    async fn close(self) {
        match self.cleanup {
            Cleanup::Sqlite(_dir) => {}
            Cleanup::Postgres {
                admin_url,
                database,
                pool,
            } => {
                pool.close().await;
                let admin = sqlx::PgPool::connect(&admin_url)
                    .await
                    .expect("connect to the admin database");
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                )))
                .execute(&admin)
                .await
                .expect("drop the test database");
                admin.close().await;
            }
        }
    }
}

/// A fresh SQLite file (several connections, WAL: concurrency is real).
async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("firefighter.db").display());
    let store = SqliteStore::connect(&url).await.expect("open SQLite");
    TestDb {
        store: Arc::new(store),
        cleanup: Cleanup::Sqlite(dir),
    }
}

/// A fresh PostgreSQL database created from the admin URL.
async fn postgres() -> TestDb {
    use std::str::FromStr;
    let admin_url = std::env::var("FIREFIGHTER_TEST_POSTGRES_URL")
        .expect("set FIREFIGHTER_TEST_POSTGRES_URL to an admin URL such as postgres://postgres@127.0.0.1:5432/postgres");
    let database = format!("ff_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{database}\""
    )))
    .execute(&admin)
    .await
    .expect("create the test database");
    admin.close().await;
    let options = sqlx::postgres::PgConnectOptions::from_str(&admin_url)
        .expect("valid URL")
        .database(&database);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .connect_with(options)
        .await
        .expect("connect to the test database");
    let store = PgStore::from_pool(pool.clone());
    store.migrate().await.expect("migrate");
    TestDb {
        store: Arc::new(store),
        cleanup: Cleanup::Postgres {
            admin_url,
            database,
            pool,
        },
    }
}

/// Instantiates every test of `suite` for one backend.
macro_rules! store_tests {
    ($backend:ident, #[$attr:meta], $make:path) => {
        mod $backend {
            store_tests!(@each #[$attr] $make;
                declare_round_trip,
                declare_with_unknown_references_is_not_found,
                timestamps_round_trip_exactly,
                dedup_key_returns_existing_and_is_freed_after_mitigation,
                concurrent_declares_with_one_dedup_key_create_one_incident,
                dedup_keys_held_out_of_sight_are_scoped_to_the_declarer,
                concurrent_declares_with_one_dedup_key_create_one_incident_per_scope,
                concurrent_declares_are_each_written_whole,
                apply_with_stale_version_conflicts_and_changes_nothing,
                apply_unknown_incident_is_not_found,
                apply_rolls_back_entirely_when_a_later_write_fails,
                apply_writes_every_part,
                append_records_without_touching_the_incident,
                list_filters_orders_and_pages,
                search_escapes_wildcards_and_matches_ids,
                private_incidents_are_listed_to_members_only,
                outbox_claim_complete_fail_requeue,
                deliveries_of_one_incident_run_in_commit_order,
                claims_leave_the_deliveries_of_handlers_not_named,
                expired_lease_is_claimable_by_another_owner,
                concurrent_claimers_never_share_a_delivery,
                deliveries_are_completed_together_only_under_their_lease,
                task_schedules_leases_and_runs,
                users_identities_and_passwords,
                users_lookup_of_many_ids,
                catalog_round_trip_and_upserts,
                api_tokens_round_trip_touch_and_revoke,
                sessions_expire_extend_and_end,
                idempotency_keys_claim_replay_and_expire,
                concurrent_idempotency_claims_start_once,
                idempotency_keys_of_a_dead_instance_are_taken_over,
                details_of_many_incidents_and_costs,
                id_ranges_and_new_orders,
                reference_rows_record_when_they_change,
                data_versions_grow_with_every_write,
                users_come_with_their_identities,
                users_by_email_or_created_once_under_concurrency,
                inbox_items_claimed_once_ended_parked_requeued_and_purged,
                concurrent_inbox_claimers_never_share_an_item,
                inbox_applies_once_and_parks_after_repeated_failures,
                a_keyed_request_received_twice_is_applied_once,
                leases_of_a_silent_instance_are_taken_over_at_once,
            );
        }
    };
    (@each #[$attr:meta] $make:path; $($name:ident),* $(,)?) => {
        $(
            #[$attr]
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let db = $make().await;
                crate::store::suite::$name(db.store.clone()).await;
                db.close().await;
            }
        )*
    };
}

// `any()` is never true: SQLite tests always run.
store_tests!(sqlite, #[cfg_attr(any(), ignore)], crate::store::sqlite);
store_tests!(
    postgres,
    #[cfg_attr(
        not(feature = "postgres-tests"),
        ignore = "needs PostgreSQL: set FIREFIGHTER_TEST_POSTGRES_URL and enable the postgres-tests feature"
    )],
    crate::store::postgres
);

/// `sqlite::memory:` keeps its data across calls (one connection that never expires).
#[tokio::test]
async fn sqlite_in_memory_store_keeps_its_data() {
    let store = firefighter_core::store::connect("sqlite::memory:")
        .await
        .expect("open");
    assert_eq!(store.backend(), "sqlite");
    let email = firefighter_core::Email::parse("memory@example.com").unwrap();
    let user = store
        .create_user(&firefighter_core::NewUser::person(email))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        store.user(user.id).await.unwrap().map(|u| u.email),
        Some("memory@example.com".into())
    );
    store.ping().await.unwrap();
}

/// Unknown URL schemes are a configuration error, not a panic.
#[tokio::test]
async fn unknown_database_url_is_a_config_error() {
    let err = firefighter_core::store::connect("mysql://localhost/x")
        .await
        .unwrap_err();
    assert!(matches!(err, firefighter_core::Error::Config(_)), "{err}");
}

/// On a SQLite file, versions are known without a query while nothing is
/// committed, and never stale: a commit of this store, of another store on
/// the same file (another instance), or of a bare connection (another
/// process, any program) shows in the very next read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_versions_follow_every_commit_to_the_file() {
    use firefighter_core::store::{DatabaseStore as _, UserStore as _};
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("versions.db").display());
    let this = SqliteStore::connect(&url).await.expect("open");
    let other = SqliteStore::connect(&url).await.expect("open again");
    let bare = sqlx::SqlitePool::connect(&url).await.expect("bare pool");
    let person = |n: usize| {
        firefighter_core::NewUser::person(
            firefighter_core::Email::parse(&format!("versions-{n}@example.com")).unwrap(),
        )
    };
    let first = this.data_versions().await.unwrap();
    // Nothing committed: the same versions, however often asked.
    for _ in 0..3 {
        assert_eq!(this.data_versions().await.unwrap(), first);
    }
    this.create_user(&person(1)).await.unwrap();
    let mine = this.data_versions().await.unwrap();
    assert!(mine.data > first.data, "{first:?} -> {mine:?}");

    other.create_user(&person(2)).await.unwrap();
    let theirs = this.data_versions().await.unwrap();
    assert!(theirs.data > mine.data, "{mine:?} -> {theirs:?}");

    // Through no store at all: only the file changed.
    sqlx::query("UPDATE data_versions SET data_version = data_version + 10 WHERE id = 1")
        .execute(&bare)
        .await
        .unwrap();
    let outside = this.data_versions().await.unwrap();
    assert_eq!(outside.data, theirs.data + 10);

    // Many commits racing reads: each read after a commit sees at least it.
    for n in 0..50 {
        other.create_user(&person(100 + n)).await.unwrap();
        let seen = this.data_versions().await.unwrap();
        let truth = other.data_versions().await.unwrap();
        assert_eq!(seen, truth, "after commit {n}");
    }
}
