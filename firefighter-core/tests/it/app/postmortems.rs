//! The built-in post-mortem: created by the lifecycle once, on demand from
//! Mitigated on, written and marked ready, and closing waits for it.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, Utc};
use firefighter_core::lifecycle::RefusalReason;
use firefighter_core::postmortem::{BUILT_IN, NewFollowUpAction, PostMortemNotes};
use firefighter_core::{Error, Firefighter, IncidentId, Settings, Status, Update, User};

use super::support::*;

fn status(s: Status, by: &User) -> Update {
    Update {
        status: Some(s),
        by: Some(by.id),
        ..Update::default()
    }
}

async fn declared(app: &Firefighter, by: &User, priority: &str) -> IncidentId {
    app.declare(declaration(app, by, priority, "PRD").await)
        .await
        .unwrap()
        .incident
        .id
}

async fn walk(app: &Firefighter, id: IncidentId, by: &User, to: &[Status]) {
    for s in to {
        app.update(id, status(*s, by)).await.unwrap();
    }
}

async fn with_key_events(app: &Firefighter, id: IncidentId, by: &User) {
    let now = Utc::now();
    let mut key_events = BTreeMap::new();
    key_events.insert("started".to_owned(), Some(now - Duration::minutes(30)));
    key_events.insert("detected".to_owned(), Some(now - Duration::minutes(20)));
    app.set_key_events(id, Some(by.id), key_events)
        .await
        .unwrap();
}

fn created_events(kinds: &[String]) -> usize {
    kinds.iter().filter(|k| *k == "post_mortem_created").count()
}

async fn event_kinds(app: &Firefighter, id: IncidentId) -> Vec<String> {
    app.store()
        .incident_events(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.kind().to_owned())
        .collect()
}

#[tokio::test]
async fn a_p1_in_production_gets_its_post_mortem_on_mitigation_and_closes_once_it_is_ready() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let id = declared(&app, &jane, "P1").await;
    walk(
        &app,
        id,
        &jane,
        &[Status::Investigating, Status::Mitigating],
    )
    .await;
    assert!(
        app.postmortems(id).await.unwrap().is_empty(),
        "not before Mitigated"
    );

    walk(&app, id, &jane, &[Status::Mitigated]).await;
    let docs = app.postmortems(id).await.unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].backend, BUILT_IN);
    assert!(!docs[0].ready);
    let incident = app.incident(id).await.unwrap();
    assert_eq!(
        incident.custom_fields["postmortem_url"],
        docs[0].url.as_str(),
        "the API's postmortem_url"
    );
    assert!(
        docs[0]
            .url
            .ends_with(&format!("/incident/{}/postmortem/", id.0))
    );

    // Post-mortem does not create a second one.
    walk(&app, id, &jane, &[Status::PostMortem]).await;
    assert_eq!(app.postmortems(id).await.unwrap().len(), 1);
    assert_eq!(created_events(&event_kinds(&app, id).await), 1);
    let timeline = app.timeline(id).await.unwrap();
    assert_eq!(
        timeline
            .iter()
            .filter(|t| t.event_type.as_deref() == Some("postmortem_created"))
            .count(),
        1
    );

    // Closing waits for the document to be marked ready, and says so.
    with_key_events(&app, id, &jane).await;
    let Error::Refused(refusal) = app
        .update(id, status(Status::Closed, &jane))
        .await
        .unwrap_err()
    else {
        panic!("expected a refusal")
    };
    assert!(
        matches!(
            &refusal.reasons[..],
            [RefusalReason::PostMortemNotReady { .. }]
        ),
        "{refusal}"
    );
    assert_eq!(app.incident(id).await.unwrap().status, Status::PostMortem);

    assert!(
        app.mark_postmortem_ready(id, true, Some(jane.id))
            .await
            .unwrap()
    );
    assert!(
        !app.mark_postmortem_ready(id, true, Some(jane.id))
            .await
            .unwrap(),
        "marking it twice changes nothing"
    );
    let closed = app.update(id, status(Status::Closed, &jane)).await.unwrap();
    assert_eq!(closed.status, Status::Closed);
}

#[tokio::test]
async fn creating_on_demand_is_refused_before_mitigation_and_answers_the_existing_document_after() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let id = declared(&app, &jane, "P3").await;
    let Error::Invalid(problems) = app.create_postmortem(id, Some(jane.id)).await.unwrap_err()
    else {
        panic!("expected invalid input")
    };
    assert!(
        problems[0]
            .message
            .contains("once the incident is mitigated"),
        "{problems:?}"
    );
    assert!(app.postmortems(id).await.unwrap().is_empty());

    // A P3 needs none, so the lifecycle creates none; a person may.
    walk(&app, id, &jane, &[Status::Mitigated]).await;
    assert!(app.postmortems(id).await.unwrap().is_empty());
    let first = app.create_postmortem(id, Some(jane.id)).await.unwrap();
    assert_eq!(first.created, vec![BUILT_IN.to_owned()]);
    let again = app.create_postmortem(id, Some(jane.id)).await.unwrap();
    assert!(again.created.is_empty());
    assert_eq!(
        again.skipped,
        vec![(BUILT_IN.to_owned(), "already created".to_owned())]
    );
    assert_eq!(again.documents, first.documents);
    assert_eq!(created_events(&event_kinds(&app, id).await), 1);

    // Two at once still make one.
    let (a, b) = tokio::join!(
        app.create_postmortem(id, None),
        app.create_postmortem(id, None)
    );
    assert!(a.unwrap().created.is_empty() && b.unwrap().created.is_empty());
    assert_eq!(app.postmortems(id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_first_creations_make_one_document() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let id = declared(&app, &jane, "P3").await;
    walk(&app, id, &jane, &[Status::Mitigated]).await;
    let results = futures::future::join_all((0..4).map(|_| app.create_postmortem(id, None))).await;
    let created: usize = results.into_iter().map(|r| r.unwrap().created.len()).sum();
    assert_eq!(created, 1);
    assert_eq!(app.postmortems(id).await.unwrap().len(), 1);
    assert_eq!(created_events(&event_kinds(&app, id).await), 1);
}

#[tokio::test]
async fn without_a_backend_closing_needs_no_post_mortem_and_creating_one_says_why_not() {
    let settings = Settings {
        builtin_postmortem: false,
        ..Settings::default()
    };
    let app = firefighter_core::Firefighter::builder(settings)
        .store(sqlite_store().await)
        .with_registered_plugins(false)
        .build()
        .await
        .unwrap();
    let jane = person(&app, "jane").await;
    let id = declared(&app, &jane, "P1").await;
    walk(
        &app,
        id,
        &jane,
        &[
            Status::Investigating,
            Status::Mitigating,
            Status::Mitigated,
            Status::PostMortem,
        ],
    )
    .await;
    assert!(app.postmortems(id).await.unwrap().is_empty());
    let Error::Invalid(problems) = app.create_postmortem(id, None).await.unwrap_err() else {
        panic!("expected invalid input")
    };
    assert!(
        problems[0].message.contains("no post-mortem backend"),
        "{problems:?}"
    );
    with_key_events(&app, id, &jane).await;
    let closed = app.update(id, status(Status::Closed, &jane)).await.unwrap();
    assert_eq!(closed.status, Status::Closed);
}

#[tokio::test]
async fn the_written_sections_and_actions_are_validated_saved_and_exported() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let id = declared(&app, &jane, "P3").await;
    let notes = PostMortemNotes {
        impact: "Checkout failed for 12% of card payments for 40 minutes.".into(),
        root_causes: "An expired certificate on the payment gateway.".into(),
        ..PostMortemNotes::default()
    };
    // No document yet: nothing can be written.
    assert!(matches!(
        app.save_postmortem_notes(id, notes.clone(), Some(jane.id))
            .await,
        Err(Error::Invalid(_))
    ));
    walk(&app, id, &jane, &[Status::Mitigated]).await;
    app.create_postmortem(id, Some(jane.id)).await.unwrap();

    let too_long = PostMortemNotes {
        went_badly: "x".repeat(20_001),
        ..notes.clone()
    };
    let Error::Invalid(problems) = app
        .save_postmortem_notes(id, too_long, Some(jane.id))
        .await
        .unwrap_err()
    else {
        panic!("expected invalid input")
    };
    assert_eq!(problems[0].field, "went_badly");
    assert!(
        app.postmortem_report(id)
            .await
            .unwrap()
            .notes
            .impact
            .is_empty(),
        "nothing saved"
    );

    app.save_postmortem_notes(id, notes.clone(), Some(jane.id))
        .await
        .unwrap();
    let bad = app
        .add_follow_up_action(
            id,
            NewFollowUpAction {
                description: "  ".into(),
                owner: "jane".into(),
                due_on: None,
            },
        )
        .await
        .unwrap_err();
    let Error::Invalid(problems) = bad else {
        panic!()
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, vec!["description", "due_on"]);
    let action = app
        .add_follow_up_action(
            id,
            NewFollowUpAction {
                description: "Alert 30 days before a certificate expires".into(),
                owner: "jane@example.com".into(),
                due_on: NaiveDate::from_ymd_opt(2027, 1, 15),
            },
        )
        .await
        .unwrap();
    app.set_follow_up_action_done(id, action.id, true)
        .await
        .unwrap();
    let other = declared(&app, &jane, "P4").await;
    assert!(
        matches!(
            app.set_follow_up_action_done(other, action.id, false).await,
            Err(Error::NotFound { .. })
        ),
        "an action is changed only through its own incident"
    );

    let md = app.postmortem_markdown(id).await.unwrap();
    assert!(
        md.starts_with(&format!("# Post-mortem: #{} ", id.0)),
        "{md}"
    );
    for expected in [
        "## Impact\n\nCheckout failed for 12% of card payments for 40 minutes.",
        "## Root causes\n\nAn expired certificate on the payment gateway.",
        "## What went well\n\n_Not written yet._",
        "- [x] Alert 30 days before a certificate expires — jane@example.com, due 2027-01-15",
        "status Mitigated",
        "Post-mortem created: ",
        "- **Post-mortem:** draft",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in:\n{md}");
    }
    assert!(
        md.find("status Mitigated") < md.find("Post-mortem created: "),
        "the timeline is in order:\n{md}"
    );
    app.delete_follow_up_action(id, action.id).await.unwrap();
    assert!(app.postmortem_report(id).await.unwrap().actions.is_empty());
}

/// An external backend whose document is ready when `ready` says.
struct Wiki {
    ready: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl firefighter_core::PostMortemProvider for Wiki {
    fn name(&self) -> &str {
        "wiki"
    }

    async fn state(
        &self,
        _: &firefighter_core::Incident,
    ) -> firefighter_core::lifecycle::PostMortemState {
        if self.ready.load(std::sync::atomic::Ordering::SeqCst) {
            firefighter_core::lifecycle::PostMortemState::Ready
        } else {
            firefighter_core::lifecycle::PostMortemState::NotReady("in review".into())
        }
    }
}

#[tokio::test]
async fn an_external_backend_is_asked_through_the_outbox_and_its_document_recorded_once() {
    let wiki = std::sync::Arc::new(Wiki {
        ready: std::sync::atomic::AtomicBool::new(false),
    });
    let settings = Settings {
        builtin_postmortem: false,
        ..Settings::default()
    };
    let app = Firefighter::builder(settings)
        .store(sqlite_store().await)
        .with_registered_plugins(false)
        .postmortem_provider(wiki.clone())
        .build()
        .await
        .unwrap();
    let jane = person(&app, "jane").await;
    let id = declared(&app, &jane, "P1").await;
    walk(
        &app,
        id,
        &jane,
        &[Status::Investigating, Status::Mitigating, Status::Mitigated],
    )
    .await;
    let requests = |kinds: &[String]| {
        kinds
            .iter()
            .filter(|k| *k == "post_mortem_requested")
            .count()
    };
    assert_eq!(
        requests(&event_kinds(&app, id).await),
        1,
        "asked at mitigation"
    );
    assert!(
        app.postmortems(id).await.unwrap().is_empty(),
        "not there until the backend says"
    );

    // Asked on demand while still pending: asked again (the backend creates once).
    let creation = app.create_postmortem(id, None).await.unwrap();
    assert_eq!(creation.requested, vec!["wiki".to_owned()]);

    // The backend's handler records what it created; a retried delivery records nothing more.
    assert!(
        app.record_postmortem(id, "wiki", "4242", "https://wiki.example.com/pm/4242")
            .await
            .unwrap()
    );
    assert!(
        !app.record_postmortem(id, "wiki", "4242", "https://wiki.example.com/pm/4242")
            .await
            .unwrap()
    );
    let docs = app.postmortems(id).await.unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(
        app.incident(id).await.unwrap().custom_fields["postmortem_url"],
        "https://wiki.example.com/pm/4242"
    );
    assert_eq!(created_events(&event_kinds(&app, id).await), 1);
    assert!(matches!(
        app.record_postmortem(id, "wiki", "1", "javascript:alert(1)")
            .await,
        Err(Error::Invalid(_))
    ));

    // Readiness is the backend's.
    walk(&app, id, &jane, &[Status::PostMortem]).await;
    with_key_events(&app, id, &jane).await;
    let Error::Refused(refusal) = app
        .update(id, status(Status::Closed, &jane))
        .await
        .unwrap_err()
    else {
        panic!("expected a refusal")
    };
    assert!(refusal.to_string().contains("in review"), "{refusal}");
    wiki.ready.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        app.update(id, status(Status::Closed, &jane))
            .await
            .unwrap()
            .status,
        Status::Closed
    );
}

#[tokio::test]
async fn a_closed_incident_is_reopened_with_a_reason_and_keeps_its_post_mortem() {
    let app = app().await;
    let jane = person(&app, "jane").await;
    let id = declared(&app, &jane, "P1").await;
    walk(
        &app,
        id,
        &jane,
        &[
            Status::Investigating,
            Status::Mitigating,
            Status::Mitigated,
            Status::PostMortem,
        ],
    )
    .await;
    with_key_events(&app, id, &jane).await;
    app.mark_postmortem_ready(id, true, None).await.unwrap();
    walk(&app, id, &jane, &[Status::Closed]).await;

    let reopen = |message: &str| Update {
        status: Some(Status::Investigating),
        message: Some(message.to_owned()),
        by: Some(jane.id),
        ..Update::default()
    };
    let Error::Refused(refusal) = app.update(id, reopen("again")).await.unwrap_err() else {
        panic!("expected a refusal")
    };
    assert!(matches!(
        refusal.reasons[..],
        [RefusalReason::ReopenMessageTooShort { .. }]
    ));
    assert_eq!(
        app.incident(id).await.unwrap().status,
        Status::Closed,
        "nothing changed"
    );
    assert!(
        matches!(
            app.update(id, status(Status::Mitigated, &jane)).await,
            Err(Error::Refused(_))
        ),
        "a reopening goes back to work, not straight to Mitigated"
    );

    let reopened = app
        .update(id, reopen("The errors are back after the rollback"))
        .await
        .unwrap();
    assert_eq!(reopened.status, Status::Investigating);
    assert_eq!(reopened.closed_at, None);
    assert_eq!(reopened.closure_reason, None);
    let docs = app.postmortems(id).await.unwrap();
    assert_eq!(docs.len(), 1, "its post-mortem stays attached");
    assert!(docs[0].ready);
    // It closes again only through mitigation.
    assert!(matches!(
        app.update(id, status(Status::Closed, &jane)).await,
        Err(Error::Refused(_))
    ));
    walk(
        &app,
        id,
        &jane,
        &[Status::Mitigated, Status::PostMortem, Status::Closed],
    )
    .await;
    assert_eq!(
        app.postmortems(id).await.unwrap().len(),
        1,
        "no second post-mortem"
    );

    // A page an external backend finds later for a closed incident is linked, not announced.
    let before = created_events(&event_kinds(&app, id).await);
    assert!(
        app.record_postmortem(id, "wiki", "77", "https://wiki.example.com/pm/77")
            .await
            .unwrap()
    );
    assert_eq!(app.postmortems(id).await.unwrap().len(), 2);
    assert_eq!(
        created_events(&event_kinds(&app, id).await),
        before,
        "no announcement"
    );
}
