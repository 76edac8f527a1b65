//! Runbooks against a stateful fake Confluence (`fake/`): the sync creates,
//! updates and deletes runbooks, refuses to delete more than four at once,
//! maps unknown service types to `other`, follows `_links.next` and waits
//! out a 429; sorting in a dry run moves nothing, and with the dry run off
//! calls the v1 move endpoint.

mod fake;

use std::sync::Arc;
use std::time::Duration;

use fake::Fake;
use firefighter_confluence::runbooks::{
    RunbookStore, RunbookTask, TASK_SORT_RUNBOOKS, TASK_SYNC_RUNBOOKS, migrate, sort_runbooks,
    sync_runbooks,
};
use firefighter_confluence::{ConfluenceClient, ConfluenceConfig, Error, RetryPolicy};
use firefighter_core::Store;
use firefighter_core::task::PeriodicTask;

pub const ROOT: &str = "100";

pub fn client(uri: &str) -> ConfluenceClient {
    ConfluenceClient::new(&ConfluenceConfig::new(uri, "bot@example.com", "token"))
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 3,
            min_delay: Duration::from_millis(5),
            max_wait: Duration::from_secs(5),
        })
}

pub async fn store() -> (Arc<dyn Store>, RunbookStore) {
    let file = std::env::temp_dir().join(format!(
        "ff-confluence-runbooks-{}.db",
        uuid::Uuid::new_v4()
    ));
    let store: Arc<dyn Store> = Arc::new(
        firefighter_core::store::SqliteStore::connect(&format!(
            "sqlite://{}?mode=rwc",
            file.display()
        ))
        .await
        .unwrap(),
    );
    migrate(store.database().unwrap()).await.unwrap();
    let runbooks = RunbookStore::of(store.as_ref()).unwrap();
    (store, runbooks)
}

/// Three folders (one empty) with five runbooks between them.
pub fn tree(fake: &Fake) {
    fake.with(|t| {
        t.add(ROOT, None, "Runbooks", "");
        t.add("200", Some(ROOT), "Backend", "");
        t.add(
            "201",
            Some("200"),
            "ms.checkout [RUNBOOK]",
            "<p>restart the pods</p>",
        );
        t.add(
            "202",
            Some("200"),
            "ms.cart [RUNBOOK]",
            "<p>flush redis</p>",
        );
        t.add(
            "203",
            Some("200"),
            "lambda.resizer [RUNBOOK]",
            "<p>images</p>",
        );
        t.add("300", Some(ROOT), "Frontend", "");
        t.add(
            "301",
            Some("300"),
            "front.web [RUNBOOK]",
            "<p>CDN purge</p>",
        );
        t.add(
            "302",
            Some("300"),
            "[WIP] app.ios [RUNBOOK]",
            "<p>testflight</p>",
        );
        t.add("400", Some(ROOT), "Empty", "");
    });
}

#[tokio::test]
async fn sync_creates_updates_and_deletes_runbooks_across_pages_of_results() {
    let fake = Fake::start().await;
    tree(&fake);
    let (_core, store) = store().await;
    let client = client(&fake.uri);
    // A 429 first: waited out, as Retry-After says.
    fake.with(|t| t.throttle = 1);

    let first = sync_runbooks(&client, &store, ROOT).await.unwrap();
    assert_eq!(
        (first.found, first.created, first.updated, first.deleted),
        (5, 5, 0, 0)
    );
    let all = store.all().await.unwrap();
    let by_page = |page: &str| all.iter().find(|r| r.page_id == page).unwrap().clone();
    let checkout = by_page("201");
    let cart_created = by_page("202").created_at;
    assert_eq!(checkout.name, "ms.checkout");
    assert_eq!(checkout.service_type, "ms");
    assert_eq!(checkout.service_name, "checkout");
    assert_eq!(checkout.body_storage, "<p>restart the pods</p>");
    assert_eq!(
        checkout.page_url,
        format!("{}/wiki/spaces/RB/pages/201", fake.uri)
    );
    // An unknown type is `other`; bracketed prefixes are not the type.
    assert_eq!(by_page("203").service_type, "other");
    assert_eq!(by_page("203").service_name, "resizer");
    assert_eq!(by_page("302").service_type, "app");
    // Every list crossed `_links.next` (three folders, three runbooks in one).
    let requests = fake.with(|t| t.requests.clone());
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET /pages/100/children?cursor=2")),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET /pages/200/children?cursor=2")),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET /pages?") && r.contains("cursor=")),
        "{requests:?}"
    );

    // Unchanged: nothing written.
    let again = sync_runbooks(&client, &store, ROOT).await.unwrap();
    assert_eq!((again.created, again.updated, again.deleted), (0, 0, 0));

    // A page renamed and edited, one removed, one left out of the bulk
    // read (read alone: kept).
    fake.with(|t| {
        t.hidden.push("203".into());
        let p = t.pages.iter_mut().find(|p| p.id == "202").unwrap();
        p.title = "data.cart [RUNBOOK]".into();
        p.body = "<p>new</p>".into();
        p.version = 2;
        t.remove("301");
    });
    let third = sync_runbooks(&client, &store, ROOT).await.unwrap();
    assert_eq!(
        (third.found, third.created, third.updated, third.deleted),
        (4, 0, 1, 1)
    );
    let all = store.all().await.unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|r| r.page_id != "301"));
    assert!(all.iter().any(|r| r.page_id == "203"));
    let cart = all.iter().find(|r| r.page_id == "202").unwrap();
    assert_eq!((cart.service_type.as_str(), cart.version), ("data", 2));
    // Its id and creation time survive the update.
    assert_eq!(cart.id, firefighter_confluence::runbooks::runbook_id("202"));
    assert_eq!(cart.created_at, cart_created);
    assert!(cart.updated_at > cart.created_at);
}

#[tokio::test]
async fn more_than_four_missing_is_refused_and_nothing_is_deleted() {
    let fake = Fake::start().await;
    tree(&fake);
    let (core, store) = store().await;
    let client = client(&fake.uri);
    sync_runbooks(&client, &store, ROOT).await.unwrap();
    assert_eq!(store.all().await.unwrap().len(), 5);

    // The whole "Backend" folder and one more gone: five missing.
    fake.with(|t| {
        for id in ["200", "201", "202", "203", "301", "302"] {
            t.remove(id);
        }
    });
    let err = sync_runbooks(&client, &store, ROOT).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooManyMissingRunbooks {
                missing: 5,
                max: 4,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("5 runbooks are no longer found"), "{text}");
    assert!(text.contains("none was deleted"), "{text}");
    assert_eq!(store.all().await.unwrap().len(), 5);

    // The task says it in its error, for the back-office's run history.
    let mut config = ConfluenceConfig::new(&fake.uri, "bot@example.com", "token");
    config.runbooks_folder_id = Some(ROOT.into());
    let task = RunbookTask::new(TASK_SYNC_RUNBOOKS, config, core)
        .unwrap()
        .with_client(client.clone());
    let failure = task.run().await.unwrap_err().to_string();
    assert!(
        failure.contains("5 runbooks are no longer found"),
        "{failure}"
    );
    assert_eq!(store.all().await.unwrap().len(), 5);

    // Four missing: deleted.
    fake.with(|t| {
        t.add("200", Some(ROOT), "Backend", "");
        t.add("201", Some("200"), "ms.checkout [RUNBOOK]", "");
    });
    let outcome = sync_runbooks(&client, &store, ROOT).await.unwrap();
    assert_eq!(outcome.deleted, 4);
    let left: Vec<String> = store
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.page_id)
        .collect();
    assert_eq!(left, ["201"]);
}

#[tokio::test]
async fn the_tasks_skip_without_the_folder_and_sorting_is_a_dry_run_by_default() {
    let fake = Fake::start().await;
    tree(&fake);
    let (core, _store) = store().await;
    let config = ConfluenceConfig::new(&fake.uri, "bot@example.com", "token");
    assert!(config.housekeeping_dry_run);
    let skipped = RunbookTask::new(TASK_SYNC_RUNBOOKS, config.clone(), core.clone())
        .unwrap()
        .run()
        .await
        .unwrap();
    assert!(
        skipped
            .to_string()
            .contains("CONFLUENCE_RUNBOOKS_FOLDER_ID is not set")
    );

    let mut config = config;
    config.runbooks_folder_id = Some(ROOT.into());
    let task = RunbookTask::new(TASK_SORT_RUNBOOKS, config.clone(), core.clone())
        .unwrap()
        .with_client(client(&fake.uri));
    let report = task.run().await.unwrap();
    let text = report.to_string();
    // Backend is ms.checkout, ms.cart, lambda.resizer: sorted it is
    // lambda.resizer, ms.cart, ms.checkout.
    assert_eq!(report.count("moves planned"), Some(3), "{text}");
    assert!(
        text.contains("would move 202 \"ms.cart [RUNBOOK]\" after 203"),
        "{text}"
    );
    assert!(
        text.contains("would move 201 \"ms.checkout [RUNBOOK]\" after 202"),
        "{text}"
    );
    assert!(text.contains("nothing was changed"), "{text}");
    assert!(fake.with(|t| t.moves.is_empty()));
    assert!(
        fake.with(|t| t.requests.iter().all(|r| !r.starts_with("PUT"))),
        "a dry run only reads"
    );
    // Frontend (app.ios after the [WIP] prefix, then front.web) is out of order too.
    assert!(
        text.contains("would move 301 \"front.web [RUNBOOK]\" after 302"),
        "{text}"
    );

    // Dry run off: the moves are made, in that order, and the folder is sorted.
    let outcome = sort_runbooks(&client(&fake.uri), ROOT, false)
        .await
        .unwrap();
    assert_eq!(outcome.moves.len(), 3);
    let moves = fake.with(|t| t.moves.clone());
    assert_eq!(
        moves,
        [
            ("202".into(), "after".into(), "203".into()),
            ("201".into(), "after".into(), "202".into()),
            ("301".into(), "after".into(), "302".into()),
        ]
    );
    assert_eq!(
        fake.with(|t| t.child_titles("200")),
        [
            "lambda.resizer [RUNBOOK]",
            "ms.cart [RUNBOOK]",
            "ms.checkout [RUNBOOK]"
        ]
    );
    // Sorted: nothing more to move.
    assert!(
        sort_runbooks(&client(&fake.uri), ROOT, false)
            .await
            .unwrap()
            .moves
            .is_empty()
    );
}

#[test]
fn the_tasks_are_registered() {
    let names = firefighter_core::task::registered_names();
    for task in [TASK_SYNC_RUNBOOKS, TASK_SORT_RUNBOOKS] {
        assert!(names.contains(&task), "{task} is not registered: {names:?}");
    }
}

/// Every new request shape (runbook bodies by id, v1 descendants, v1 moves
/// after / append / before, a page created with an empty body) against the
/// Prism mock of Confluence's official contract: all answered 2xx, with no
/// violation reported.
#[tokio::test]
#[cfg_attr(
    not(feature = "contract-tests"),
    ignore = "needs the contract mocks: ../shared/contract-mocks/start-mocks.sh"
)]
async fn housekeeping_requests_conform() {
    use firefighter_confluence::MovePosition;
    let url = std::env::var("FF_CONTRACT_CONFLUENCE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:4013".into());
    let (proxy, log) = fake::proxy::recording_proxy(&url).await;
    let c = client(&proxy);
    // The mock answers its examples (a "string" next link): what matters
    // here is what was sent, and the first answer is read.
    let decoded_or_followed = |r: Result<(), Error>| match r {
        Ok(()) => {}
        Err(Error::Decode(m)) if m.contains("next results") => {}
        Err(e) => panic!("{e}"),
    };
    decoded_or_followed(
        c.pages_with_bodies(&["201".into(), "202".into()])
            .await
            .map(|_| ()),
    );
    decoded_or_followed(c.descendant_pages("500").await.map(|_| ()));
    for position in [
        MovePosition::After,
        MovePosition::Append,
        MovePosition::Before,
    ] {
        c.move_page("601", position, "610").await.unwrap();
    }
    let created = c
        .create_page("777", "500", "Q4 2026 Postmortems", "")
        .await
        .unwrap();
    assert!(!created.id.is_empty());

    let (statuses, violations) = fake::proxy::answers(&log);
    assert_eq!(statuses.len(), 6, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| (200..300).contains(s)),
        "{statuses:?}"
    );
    assert!(violations.is_empty(), "{violations:?}");
}

#[tokio::test]
async fn page_content_refresh_updates_bodies_and_deletes_only_on_404() {
    use firefighter_confluence::runbooks::{TASK_SYNC_PAGES_CONTENT, sync_pages_content};
    let fake = Fake::start().await;
    tree(&fake);
    let (core, store) = store().await;
    let client = client(&fake.uri);
    sync_runbooks(&client, &store, ROOT).await.unwrap();
    fake.with(|t| {
        let p = t.pages.iter_mut().find(|p| p.id == "201").unwrap();
        p.body = "<p>scale up first</p>".into();
        p.version = 7;
        // Left out of the bulk read, but there when asked alone: kept.
        t.hidden.push("202".into());
        // Gone: 404.
        t.remove("203");
    });
    let outcome = sync_pages_content(&client, &store).await.unwrap();
    assert_eq!((outcome.read, outcome.updated, outcome.deleted), (4, 1, 1));
    let all = store.all().await.unwrap();
    let checkout = all.iter().find(|r| r.page_id == "201").unwrap();
    assert_eq!(
        (checkout.body_storage.as_str(), checkout.version),
        ("<p>scale up first</p>", 7)
    );
    assert!(all.iter().any(|r| r.page_id == "202"));
    assert!(all.iter().all(|r| r.page_id != "203"));
    assert!(fake.with(|t| t.requests.iter().any(|r| r == "GET /pages/202")));

    // The task, registered and runnable without the runbooks' folder.
    assert!(firefighter_core::task::registered_names().contains(&TASK_SYNC_PAGES_CONTENT));
    let task = RunbookTask::new(
        TASK_SYNC_PAGES_CONTENT,
        ConfluenceConfig::new(&fake.uri, "bot@example.com", "token"),
        core,
    )
    .unwrap()
    .with_client(client);
    let report = task.run().await.unwrap();
    assert_eq!(report.count("updated"), Some(0), "{report}");
    assert_eq!(report.count("read"), Some(4), "{report}");
}
