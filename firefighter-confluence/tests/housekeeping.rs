//! Post-mortem housekeeping against the stateful fake Confluence: the sync
//! links pages to incidents once (run twice, one record) across v1
//! `_links.next`; the archiving task in a dry run moves and creates nothing
//! and says what it would do; with the dry run off it creates the current
//! quarter's folder, moves the post-mortem of an incident closed for more
//! than 7 days into its quarter, and sorts each quarter folder newest first.

mod fake;

use std::sync::Arc;
use std::time::Duration;

use fake::Fake;
use firefighter_confluence::housekeeping::{
    PostMortemTask, TASK_ARCHIVE_POSTMORTEMS, TASK_SYNC_POSTMORTEMS, archive_and_sort_postmortems,
    quarter_of, quarter_title, sync_postmortems,
};
use firefighter_confluence::postmortem::BACKEND;
use firefighter_confluence::{ConfluenceClient, ConfluenceConfig, PostMortemConfig, RetryPolicy};
use firefighter_core::task::PeriodicTask;
use firefighter_core::{
    ClosureReason, Declaration, Email, Firefighter, IncidentId, NewUser, Settings, Store, UserId,
};

const FOLDER: &str = "500";

fn client(uri: &str) -> ConfluenceClient {
    ConfluenceClient::new(&ConfluenceConfig::new(uri, "bot@example.com", "token"))
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 3,
            min_delay: Duration::from_millis(5),
            max_wait: Duration::from_secs(5),
        })
}

struct World {
    app: Firefighter,
    store: Arc<dyn Store>,
    jane: UserId,
}

async fn world() -> World {
    let file = std::env::temp_dir().join(format!("ff-confluence-hk-{}.db", uuid::Uuid::new_v4()));
    let store: Arc<dyn Store> = Arc::new(
        firefighter_core::store::SqliteStore::connect(&format!(
            "sqlite://{}?mode=rwc",
            file.display()
        ))
        .await
        .unwrap(),
    );
    let app = Firefighter::builder(Settings {
        base_url: "https://ff.example.com".into(),
        time_zone: "Europe/Paris".into(),
        ..Settings::default()
    })
    .store(store.clone())
    .with_registered_plugins(false)
    .build()
    .await
    .unwrap();
    let jane = app
        .store()
        .create_user(&NewUser::person(Email::parse("jane@example.com").unwrap()))
        .await
        .unwrap()
        .id;
    World { app, store, jane }
}

impl World {
    async fn declare(&self, title: &str) -> IncidentId {
        let catalog = self.app.catalog().await.unwrap();
        let category = catalog
            .categories
            .iter()
            .find(|c| c.name == "Checkout")
            .unwrap()
            .id;
        self.app
            .declare(Declaration {
                title: title.into(),
                description: "Something is off since this morning.".into(),
                created_by: Some(self.jane),
                category_id: Some(category),
                ..Declaration::default()
            })
            .await
            .unwrap()
            .incident
            .id
    }

    /// Closes the incident, `days_ago` days ago.
    async fn close(&self, id: IncidentId, days_ago: i64) {
        self.app
            .close(
                id,
                Some(self.jane),
                Some(ClosureReason::Cancelled),
                Some("not needed".into()),
                None,
            )
            .await
            .unwrap();
        let at = firefighter_core::clock::now() - chrono::Duration::days(days_ago);
        let pool = self.store.database().unwrap();
        let changed = firefighter_core::on_pool!(&pool, p => {
            sqlx::query("UPDATE incidents SET closed_at = $1 WHERE id = $2")
                .bind(at)
                .bind(id.0)
                .execute(p)
                .await
                .unwrap()
                .rows_affected()
        });
        assert_eq!(changed, 1);
    }
}

#[tokio::test]
async fn sync_links_pages_to_incidents_once() {
    let w = world().await;
    let a = w.declare("Checkout fails").await;
    let b = w.declare("Search is slow").await;
    let fake = Fake::start().await;
    fake.with(|t| {
        t.add(FOLDER, None, "Post-mortems", "");
        t.add(
            "501",
            Some(FOLDER),
            &format!("#20260105-{}-prd-checkout (P1) Checkout fails", a.0),
            "",
        );
        t.add("502", Some(FOLDER), "[Archive] Q4 2025 Postmortems", "");
        t.add(
            "503",
            Some("502"),
            &format!("#20251201-inc-{} (P3) Search is slow", b.0),
            "",
        );
        t.add("504", Some(FOLDER), "[TEMPLATE] #YYYYMMDD-id", "");
        t.add("505", Some(FOLDER), "How to write a post-mortem", "");
        t.add("506", Some(FOLDER), "#20260106-9999 (P2) Not ours", "");
        t.add("507", Some(FOLDER), "#not a post-mortem", "");
    });
    let client = client(&fake.uri);
    let first = sync_postmortems(&w.app, &client, FOLDER).await.unwrap();
    assert_eq!((first.found, first.linked, first.already), (3, 2, 0));
    assert_eq!(first.missing_incident, ["#20260106-9999 (P2) Not ours"]);
    assert_eq!(first.unreadable, ["#not a post-mortem"]);
    // Seven descendants, two per answer: the v1 `_links.next` was followed.
    let requests = fake.with(|t| t.requests.clone());
    assert!(
        requests
            .iter()
            .any(|r| r.contains("descendant/page?limit=2&start=6")),
        "{requests:?}"
    );

    let docs = w.app.postmortems(a).await.unwrap();
    let doc = docs.iter().find(|d| d.backend == BACKEND).unwrap();
    assert_eq!(doc.external_id, "501");
    assert_eq!(doc.url, format!("{}/wiki/spaces/PM/pages/501", fake.uri));
    assert_eq!(w.app.postmortems(b).await.unwrap()[0].external_id, "503");

    let second = sync_postmortems(&w.app, &client, FOLDER).await.unwrap();
    assert_eq!((second.linked, second.already), (0, 2));
    assert_eq!(
        w.app
            .postmortems(a)
            .await
            .unwrap()
            .iter()
            .filter(|d| d.backend == BACKEND)
            .count(),
        1
    );
    let created = w
        .app
        .timeline(a)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.message.as_deref().unwrap_or_default().contains("501"))
        .count();
    assert_eq!(created, 1, "one timeline entry for the link");
}

#[tokio::test]
async fn archiving_is_a_dry_run_by_default_then_moves_and_sorts() {
    let w = world().await;
    let old = w.declare("Old outage").await;
    let recent = w.declare("Recent outage").await;
    let open = w.declare("Still open").await;
    w.close(old, 10).await;
    w.close(recent, 2).await;
    let fake = Fake::start().await;
    // Dates in Q4 2025 (ISO weeks 40–53).
    fake.with(|t| {
        t.add(FOLDER, None, "Post-mortems", "");
        t.add(
            "601",
            Some(FOLDER),
            &format!("#20251110-{}-prd (P2) Old outage", old.0),
            "",
        );
        t.add(
            "602",
            Some(FOLDER),
            &format!("#20251111-{} (P2) Recent outage", recent.0),
            "",
        );
        t.add(
            "603",
            Some(FOLDER),
            &format!("#20251112-{} (P2) Still open", open.0),
            "",
        );
        t.add("610", Some(FOLDER), "Q4 2025 Postmortems", "");
        t.add("611", Some("610"), "#20251001-7 (P3) October", "");
        t.add("612", Some("610"), "#20251201-8 (P3) December", "");
        t.add("613", Some("610"), "#20251105-9 (P3) November", "");
    });
    let client = client(&fake.uri);
    sync_postmortems(&w.app, &client, FOLDER).await.unwrap();
    let current = quarter_title(quarter_of(
        firefighter_core::clock::now()
            .with_timezone(&chrono_tz::Europe::Paris)
            .date_naive(),
    ));

    // The task, with the default setting: a dry run.
    let mut config = ConfluenceConfig::new(&fake.uri, "bot@example.com", "token")
        .with_postmortems(PostMortemConfig::new("PM", FOLDER));
    assert!(config.housekeeping_dry_run);
    let task = PostMortemTask::new(TASK_ARCHIVE_POSTMORTEMS, config.clone(), w.app.handle())
        .unwrap()
        .with_client(client.clone());
    let report = task.run().await.unwrap();
    let text = report.to_string();
    assert!(text.contains("nothing was changed"), "{text}");
    assert!(
        text.contains(&format!("would create \"{current}\"")),
        "{text}"
    );
    assert!(
        text.contains("would move 601 ") && text.contains(" into 610"),
        "{text}"
    );
    assert!(
        !text.contains("would move 602") && !text.contains("would move 603"),
        "{text}"
    );
    // Quarter folder Q4 2025 sorted newest first: December, November, October.
    assert!(
        text.contains("would move 613 \"#20251105-9 (P3) November\" after 612"),
        "{text}"
    );
    assert!(
        text.contains("would move 611 \"#20251001-7 (P3) October\" after 613"),
        "{text}"
    );
    assert_eq!(report.count("moves planned"), Some(3), "{text}");
    fake.with(|t| {
        assert!(t.moves.is_empty() && t.created.is_empty());
        assert!(
            t.requests.iter().all(|r| r.starts_with("GET")),
            "{:?}",
            t.requests
        );
    });

    // Dry run off.
    config.housekeeping_dry_run = false;
    let outcome = archive_and_sort_postmortems(&w.app, &client, "PM", FOLDER, false)
        .await
        .unwrap();
    assert!(!outcome.dry_run);
    let (moves, created, q4, root) = fake.with(|t| {
        (
            t.moves.clone(),
            t.created.clone(),
            t.child_titles("610"),
            t.child_titles(FOLDER),
        )
    });
    assert_eq!(created, std::slice::from_ref(&current));
    // The new quarter folder before the first existing one, the old
    // post-mortem into Q4 2025, then the sort.
    assert_eq!(moves[0].1, "before");
    assert_eq!(moves[0].2, "610");
    assert_eq!(moves[1], ("601".into(), "append".into(), "610".into()));
    assert!(moves[2..].iter().all(|m| m.1 == "after"), "{moves:?}");
    assert_eq!(
        q4,
        [
            "#20251201-8 (P3) December".to_owned(),
            format!("#20251110-{}-prd (P2) Old outage", old.0),
            "#20251105-9 (P3) November".to_owned(),
            "#20251001-7 (P3) October".to_owned(),
        ]
    );
    assert!(
        root.iter().any(|t| t.contains("Recent outage"))
            && root.iter().any(|t| t.contains("Still open"))
    );
    assert_eq!(root.iter().position(|t| *t == current), Some(2), "{root:?}");

    // Everything in place: a second run moves nothing.
    let again = archive_and_sort_postmortems(&w.app, &client, "PM", FOLDER, false)
        .await
        .unwrap();
    assert!(
        again.moves.is_empty() && again.created.is_empty(),
        "{again:?}"
    );
}

#[tokio::test]
async fn the_tasks_skip_without_the_post_mortem_settings_and_are_registered() {
    let w = world().await;
    let task = PostMortemTask::new(
        TASK_SYNC_POSTMORTEMS,
        ConfluenceConfig::new("http://127.0.0.1:9", "u", "k"),
        w.app.handle(),
    )
    .unwrap();
    let report = task.run().await.unwrap().to_string();
    assert!(
        report.contains("skipped") && report.contains("CONFLUENCE_POSTMORTEM_FOLDER_ID"),
        "{report}"
    );
    let names = firefighter_core::task::registered_names();
    for name in [TASK_SYNC_POSTMORTEMS, TASK_ARCHIVE_POSTMORTEMS] {
        assert!(names.contains(&name), "{name}: {names:?}");
    }
}
