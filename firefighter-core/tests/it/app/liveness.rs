//! Liveness locks: an instance whose process died is known at once (its
//! lock is free), not after its heartbeat has been silent for a while.

use std::sync::Arc;

use chrono::Utc;
use firefighter_core::Store;
use firefighter_core::instance::presumed_dead_before;

async fn dies_and_is_known_at_once(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let now = Utc::now();
    a.instance_alive("instance-aaa", now, now).await.unwrap();
    let hold = a
        .hold_liveness("instance-aaa")
        .await
        .unwrap()
        .expect("a lock to hold");
    a.instance_holds_lock("instance-aaa").await.unwrap();
    b.instance_alive("instance-bbb", now, now).await.unwrap();
    // Without a lock of its own, an instance is judged by its heartbeat alone.
    let since = presumed_dead_before(now);
    assert!(
        b.gone_instances("instance-bbb", since)
            .await
            .unwrap()
            .is_empty(),
        "alive while it holds its lock"
    );
    assert!(b.silent_instances(since).await.unwrap().is_empty());

    drop(hold); // what the system does when the process dies
    let gone = b.gone_instances("instance-bbb", since).await.unwrap();
    assert_eq!(gone, vec!["instance-aaa".to_owned()]);
    b.instances_gone(&gone, since - chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        b.silent_instances(since).await.unwrap(),
        vec!["instance-aaa".to_owned()],
        "its leases are taken over now, without 20 s of silence"
    );
    // A restarted process with a new id is alive again; the old one stays gone.
    assert!(
        b.gone_instances("instance-bbb", since)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_dead_instance_on_a_sqlite_file_is_known_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("ff.db").display());
    let a: Arc<dyn Store> = Arc::new(
        firefighter_core::store::SqliteStore::connect(&url)
            .await
            .unwrap(),
    );
    let b: Arc<dyn Store> = Arc::new(
        firefighter_core::store::SqliteStore::connect(&url)
            .await
            .unwrap(),
    );
    dies_and_is_known_at_once(a, b).await;
}

#[tokio::test]
async fn an_in_memory_database_has_no_lock_and_relies_on_heartbeats() {
    let store = super::support::sqlite_store().await;
    assert!(store.hold_liveness("instance-aaa").await.unwrap().is_none());
}

#[cfg(feature = "postgres-tests")]
#[tokio::test]
async fn a_dead_instance_on_postgres_is_known_at_once() {
    let a = super::postgres::pg_store().await;
    let url = a.database().map(|d| match d {
        firefighter_core::store::DatabasePool::Postgres(p) => (*p.connect_options()).clone(),
        firefighter_core::store::DatabasePool::Sqlite(_) => unreachable!(),
    });
    let pool = sqlx::PgPool::connect_with(url.unwrap()).await.unwrap();
    let b: Arc<dyn Store> = Arc::new(firefighter_core::store::PgStore::from_pool(pool));
    dies_and_is_known_at_once(a, b).await;
}
