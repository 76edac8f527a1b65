//! Liveness locks: an instance whose process died is known at once (its
//! lock is free), not after its heartbeat has been silent for a while.

use std::sync::Arc;

use chrono::Utc;
use firefighter_core::Store;
use firefighter_core::instance::presumed_dead_before;

async fn dies_and_is_known_at_once(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let now = Utc::now();
    // It last beat 8 s ago (more than one beat and a half).
    let beat = now - chrono::Duration::seconds(8);
    a.instance_alive("instance-aaa", beat, beat).await.unwrap();
    let mut hold = a
        .hold_liveness("instance-aaa")
        .await
        .unwrap()
        .expect("a lock to hold");
    assert!(a.liveness_held(&mut hold).await);
    a.instance_holds_lock("instance-aaa", true).await.unwrap();
    b.instance_alive("instance-bbb", now, now).await.unwrap();
    let since = presumed_dead_before(now);
    let quiet = now - chrono::Duration::milliseconds(7_500);
    assert!(
        b.gone_instances("instance-bbb", since, quiet)
            .await
            .unwrap()
            .is_empty(),
        "alive while it holds its lock"
    );
    assert!(b.silent_instances(since).await.unwrap().is_empty());

    drop(hold); // what the system does when the process dies
    // An instance that beat just now is not judged by its lock yet (it may
    // be taking it again after losing its connection).
    assert!(
        b.gone_instances("instance-bbb", since, beat - chrono::Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    let gone = b
        .gone_instances("instance-bbb", since, quiet)
        .await
        .unwrap();
    assert_eq!(gone, vec!["instance-aaa".to_owned()]);
    b.instances_gone(&gone, since - chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        b.silent_instances(since).await.unwrap(),
        vec!["instance-aaa".to_owned()],
        "its leases are taken over now, without 20 s of silence"
    );
    // Once gone, it is not reported again.
    assert!(
        b.gone_instances("instance-bbb", since, quiet)
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
    let b: Arc<dyn Store> = Arc::new(firefighter_core::store::PgStore::from_pool(pool.clone()));
    dies_and_is_known_at_once(a.clone(), b).await;

    // A lock whose connection dropped is known to be lost by its holder.
    let mut hold = a.hold_liveness("instance-ccc").await.unwrap().unwrap();
    let conn = hold.0.downcast_mut::<sqlx::PgConnection>().unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&pool)
        .await
        .unwrap();
    assert!(!a.liveness_held(&mut hold).await);
}
