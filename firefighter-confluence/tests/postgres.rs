//! The runbooks' table on PostgreSQL: the migration (run twice), the sync's
//! creates, updates and deletes, and the refusal to delete more than four.
//! Needs a database: `FIREFIGHTER_TEST_POSTGRES_URL=postgres://... cargo test
//! -p firefighter-confluence --features postgres-tests --test postgres`

mod fake;

use std::time::Duration;

use fake::Fake;
use firefighter_confluence::runbooks::{RunbookStore, migrate, sync_runbooks};
use firefighter_confluence::{ConfluenceClient, ConfluenceConfig, Error, RetryPolicy};
use firefighter_core::store::{DatabaseStore, PgStore};

#[tokio::test]
#[cfg_attr(
    not(feature = "postgres-tests"),
    ignore = "needs FIREFIGHTER_TEST_POSTGRES_URL"
)]
async fn runbooks_sync_on_postgres() {
    let url =
        std::env::var("FIREFIGHTER_TEST_POSTGRES_URL").expect("FIREFIGHTER_TEST_POSTGRES_URL");
    let store = PgStore::connect(&url).await.unwrap();
    let pool = store.database().unwrap();
    migrate(pool.clone()).await.unwrap();
    migrate(pool.clone()).await.unwrap();
    let runbooks = RunbookStore::new(pool);
    // Only this test uses the table: runbooks of an earlier run would count
    // as missing ones.
    let earlier: Vec<String> = runbooks
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.page_id)
        .collect();
    runbooks.delete(&earlier).await.unwrap();
    // The database may be shared with other tests: page ids of our own.
    let base: u64 = 1_000_000 + u64::from(uuid::Uuid::new_v4().as_u128() as u16) * 100;
    let id = |n: u64| (base + n).to_string();
    let fake = Fake::start().await;
    let root = id(0);
    fake.with(|t| {
        t.add(&root, None, "Runbooks", "");
        t.add(&id(1), Some(&root), "Backend", "");
        for n in 2..8 {
            t.add(
                &id(n),
                Some(&id(1)),
                &format!("ms.svc{n} [RUNBOOK]"),
                "<p>body</p>",
            );
        }
    });
    let client = ConfluenceClient::new(&ConfluenceConfig::new(&fake.uri, "u", "k"))
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 2,
            min_delay: Duration::from_millis(5),
            max_wait: Duration::from_secs(1),
        });
    let ours = |all: Vec<firefighter_confluence::runbooks::Runbook>| {
        all.into_iter()
            .filter(|r| {
                r.page_id
                    .parse::<u64>()
                    .is_ok_and(|p| p > base && p < base + 100)
            })
            .collect::<Vec<_>>()
    };
    let first = sync_runbooks(&client, &runbooks, &root).await.unwrap();
    assert_eq!((first.created, first.updated), (6, 0));
    let stored = ours(runbooks.all().await.unwrap());
    assert_eq!(stored.len(), 6);
    assert_eq!(stored[0].service_type, "ms");
    let again = runbooks.get(stored[0].id).await.unwrap().unwrap();
    assert_eq!(again, stored[0]);

    fake.with(|t| {
        t.pages.iter_mut().find(|p| p.id == id(2)).unwrap().title = "data.svc2 [RUNBOOK]".into();
        t.remove(&id(3));
    });
    let second = sync_runbooks(&client, &runbooks, &root).await.unwrap();
    assert_eq!((second.created, second.updated, second.deleted), (0, 1, 1));

    // Five missing at once: refused, nothing deleted.
    let before = runbooks.all().await.unwrap().len();
    fake.with(|t| t.remove(&id(1)));
    let err = sync_runbooks(&client, &runbooks, &root).await.unwrap_err();
    assert!(matches!(err, Error::TooManyMissingRunbooks { .. }), "{err}");
    assert_eq!(runbooks.all().await.unwrap().len(), before);
}
