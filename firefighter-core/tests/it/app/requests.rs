//! Idempotency keys of updates, incident membership and batch user upserts,
//! on SQLite and (with `postgres-tests`) PostgreSQL.

use std::sync::Arc;

use firefighter_core::store::UserUpsert;
use firefighter_core::{Email, Error, Firefighter, Status, Store, Update};

use super::support::*;

async fn app_on(store: Arc<dyn Store>) -> Firefighter {
    builder(store).build().await.expect("app")
}

async fn update_with_a_key_applies_once(app: Firefighter) {
    let alice = person(&app, "alice").await;
    let declared = app
        .declare(declaration(&app, &alice, "P1", "PRD").await)
        .await
        .unwrap()
        .incident;
    let other = app
        .declare(declaration(&app, &alice, "P2", "PRD").await)
        .await
        .unwrap()
        .incident;
    let update = Update {
        by: Some(alice.id),
        status: Some(Status::Investigating),
        message: Some("Looking at the payment gateway".into()),
        ..Update::default()
    };
    let timeline_before = app.timeline(declared.id).await.unwrap().len();
    let first = app
        .update_once(declared.id, "slack-submission:1", update.clone())
        .await
        .unwrap();
    assert_eq!(first.status, Status::Investigating);
    assert_eq!(first.version, declared.version + 1);
    let again = app
        .update_once(declared.id, "slack-submission:1", update.clone())
        .await
        .unwrap();
    assert_eq!(again, first, "a repeat returns the incident as it is");
    assert_eq!(
        app.timeline(declared.id).await.unwrap().len(),
        timeline_before + 1,
        "one timeline entry for two calls"
    );
    assert_eq!(
        app.store()
            .request_applied("slack-submission:1")
            .await
            .unwrap(),
        Some(declared.id)
    );
    // The key names one update of one incident.
    let err = app
        .update_once(other.id, "slack-submission:1", update)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid(ref f) if f[0].field == "request_key"),
        "{err:?}"
    );
    assert_eq!(app.incident(other.id).await.unwrap().version, other.version);
    // A refused update records no key: it can be tried again once fixed.
    let refused = Update {
        status: Some(Status::Closed),
        ..Update::default()
    };
    assert!(
        app.update_once(declared.id, "slack-submission:2", refused)
            .await
            .is_err()
    );
    assert_eq!(
        app.store()
            .request_applied("slack-submission:2")
            .await
            .unwrap(),
        None
    );
    let bad = Update {
        message: Some("hello".into()),
        ..Update::default()
    };
    assert!(matches!(
        app.update_once(declared.id, "", bad).await,
        Err(Error::Invalid(_))
    ));
}

async fn concurrent_repeats_apply_once(app: Firefighter) {
    let alice = person(&app, "alice").await;
    let declared = app
        .declare(declaration(&app, &alice, "P1", "PRD").await)
        .await
        .unwrap()
        .incident;
    let before = app.timeline(declared.id).await.unwrap().len();
    let update = Update {
        by: Some(alice.id),
        message: Some("Rolled back the release".into()),
        ..Update::default()
    };
    let runs = (0..8).map(|_| {
        let (app, update) = (app.clone(), update.clone());
        tokio::spawn(async move { app.update_once(declared.id, "replayed", update).await })
    });
    for r in futures::future::join_all(runs).await {
        r.unwrap().unwrap();
    }
    assert_eq!(app.timeline(declared.id).await.unwrap().len(), before + 1);
    assert_eq!(
        app.incident(declared.id).await.unwrap().version,
        declared.version + 1
    );
}

async fn members_join_and_leave(app: Firefighter) {
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let declared = app
        .declare(declaration(&app, &alice, "P1", "PRD").await)
        .await
        .unwrap()
        .incident;
    let entries = app.timeline(declared.id).await.unwrap().len();
    assert!(app.set_member(declared.id, bob.id, true).await.unwrap());
    assert!(
        !app.set_member(declared.id, bob.id, true).await.unwrap(),
        "already a member"
    );
    let members = app.incident_details(declared.id).await.unwrap().members;
    assert_eq!(members, vec![alice.id, bob.id]);
    assert!(app.set_member(declared.id, bob.id, false).await.unwrap());
    assert!(!app.set_member(declared.id, bob.id, false).await.unwrap());
    assert_eq!(
        app.incident_details(declared.id).await.unwrap().members,
        vec![alice.id]
    );
    assert_eq!(
        app.timeline(declared.id).await.unwrap().len(),
        entries,
        "no timeline entry"
    );
    assert!(matches!(
        app.set_member(firefighter_core::IncidentId(9999), bob.id, true)
            .await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        app.set_member(declared.id, firefighter_core::UserId::new(), true)
            .await,
        Err(Error::NotFound { .. })
    ));
}

fn upsert(email: &str, name: &str, slack: Option<&str>) -> UserUpsert {
    UserUpsert {
        email: Email::parse(email).unwrap(),
        name: name.into(),
        avatar: Some(format!("https://img.example.com/{name}.png")),
        identity: slack.map(|s| ("slack".to_owned(), s.to_owned())),
    }
}

async fn users_are_upserted_in_batches(app: Firefighter) {
    let store = app.store().clone();
    let existing = person(&app, "carol").await;
    // More than one chunk, with an existing user and a repeated e-mail.
    let mut batch: Vec<UserUpsert> = (0..2100)
        .map(|n| {
            upsert(
                &format!("u{n}@example.com"),
                &format!("User {n}"),
                Some(&format!("U{n}")),
            )
        })
        .collect();
    batch.push(upsert("Carol@example.com", "Carol C", Some("UCAROL")));
    batch.push(upsert("u5@example.com", "User five", Some("U5")));
    let ids = store.upsert_users(&batch).await.unwrap();
    assert_eq!(ids.len(), batch.len());
    assert_eq!(
        ids[2100], existing.id,
        "matched by e-mail, whatever the case"
    );
    assert_eq!(ids[5], ids[2101], "a repeated e-mail is one user");
    let carol = store.user(existing.id).await.unwrap().unwrap();
    assert_eq!(carol.name, "Carol C");
    assert_eq!(carol.identity("slack"), Some("UCAROL"));
    let five = store.user(ids[5]).await.unwrap().unwrap();
    assert_eq!(five.name, "User five", "the last occurrence wins");
    assert!(five.is_active);
    assert_eq!(store.list_users().await.unwrap().len(), 2101);
    // The Slack id moves to whoever names it now.
    let moved = store
        .upsert_users(&[upsert("u7@example.com", "User 7", Some("U8"))])
        .await
        .unwrap();
    assert_eq!(moved, vec![ids[7]]);
    assert_eq!(
        store
            .user_by_identity("slack", "U8")
            .await
            .unwrap()
            .unwrap()
            .id,
        ids[7]
    );
    assert!(
        store
            .user(ids[8])
            .await
            .unwrap()
            .unwrap()
            .identity("slack")
            .is_none()
    );
    assert_eq!(store.upsert_users(&[]).await.unwrap(), vec![]);
}

/// A declaration repeated with its request key (a retry whose first answer
/// was lost, alone or several at once): one incident, the others get it back,
/// even once it is closed; another key declares anew.
async fn a_declaration_with_a_request_key_is_made_once(app: Firefighter) {
    let alice = person(&app, "alice").await;
    let mut d = declaration(&app, &alice, "P3", "PRD").await;
    // Several at once, none written yet: one incident.
    d.request_key = Some("api:retry-0".into());
    let burst = futures::future::join_all((0..5).map(|_| app.declare(d.clone()))).await;
    let burst: Vec<_> = burst.into_iter().map(Result::unwrap).collect();
    assert_eq!(burst.iter().filter(|o| o.created).count(), 1);
    assert!(burst.iter().all(|o| o.incident.id == burst[0].incident.id));
    d.request_key = Some("api:retry-1".into());
    let first = app.declare(d.clone()).await.unwrap();
    assert!(first.created);
    let repeats = futures::future::join_all((0..6).map(|_| app.declare(d.clone()))).await;
    for again in repeats {
        let again = again.unwrap();
        assert!(!again.created);
        assert_eq!(again.incident.id, first.incident.id);
    }
    let id = first.incident.id;
    let events = app.store().incident_events(id).await.unwrap().len();
    app.update(
        id,
        Update {
            by: Some(alice.id),
            status: Some(Status::Closed),
            message: Some("Closed early: it was a test of the alerting".into()),
            closure_reason: Some(firefighter_core::ClosureReason::Cancelled),
            ..Update::default()
        },
    )
    .await
    .unwrap();
    let after_close = app.declare(d.clone()).await.unwrap();
    assert_eq!((after_close.created, after_close.incident.id), (false, id));
    assert!(app.store().incident_events(id).await.unwrap().len() > events);
    d.request_key = Some("api:retry-2".into());
    let other = app.declare(d.clone()).await.unwrap();
    assert!(other.created && other.incident.id != id);
    d.request_key = Some(String::new());
    assert!(matches!(app.declare(d).await, Err(Error::Invalid(_))));
    assert_eq!(
        app.store()
            .count_incidents(&firefighter_core::IncidentFilter::default())
            .await
            .unwrap(),
        3
    );
}

/// A cost repeated with its request key: recorded once, the repeat gets it back.
async fn a_cost_with_a_request_key_is_recorded_once(app: Firefighter) {
    let alice = person(&app, "alice").await;
    let id = app
        .declare(declaration(&app, &alice, "P2", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    let cost_type = app.catalog().await.unwrap().cost_types[0].id;
    let first = app
        .add_cost_once(
            id,
            "api:cost-1",
            Some(alice.id),
            cost_type,
            Some(12_000),
            "Refunds",
        )
        .await
        .unwrap();
    let entries = app.timeline(id).await.unwrap().len();
    let again = app
        .add_cost_once(
            id,
            "api:cost-1",
            Some(alice.id),
            cost_type,
            Some(12_000),
            "Refunds",
        )
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(app.incident_details(id).await.unwrap().costs.len(), 1);
    assert_eq!(
        app.timeline(id).await.unwrap().len(),
        entries,
        "no second timeline entry"
    );
    // Another key is another cost.
    app.add_cost_once(
        id,
        "api:cost-2",
        Some(alice.id),
        cost_type,
        Some(500),
        "Support time",
    )
    .await
    .unwrap();
    assert_eq!(app.incident_details(id).await.unwrap().costs.len(), 2);
}

/// Roles and key events set under a request key are applied once: the
/// repeat of a call whose answer was lost (even to a crash after its
/// commit) changes nothing and is not refused as "nothing to update".
async fn roles_and_key_events_with_a_key_apply_once(app: Firefighter) {
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let declared = app
        .declare(declaration(&app, &alice, "P2", "PRD").await)
        .await
        .unwrap()
        .incident;
    let id = declared.id;
    let roles: std::collections::BTreeMap<String, Option<firefighter_core::UserId>> =
        [("communication_lead".to_owned(), Some(bob.id))].into();
    let first = app
        .update_roles_once(id, "api:roles-1", Some(alice.id), roles.clone())
        .await
        .unwrap();
    let timeline = app.timeline(id).await.unwrap().len();
    let again = app
        .update_roles_once(id, "api:roles-1", Some(alice.id), roles.clone())
        .await
        .unwrap();
    assert_eq!(again, first, "a repeat returns the incident as it is");
    // Without the key, the same call is refused: nothing would change.
    assert!(app.update_roles(id, Some(alice.id), roles).await.is_err());

    let started = chrono::Utc::now() - chrono::Duration::minutes(30);
    let events: std::collections::BTreeMap<String, Option<chrono::DateTime<chrono::Utc>>> =
        [("started".to_owned(), Some(started))].into();
    let first = app
        .set_key_events_once(id, "api:key-events-1", Some(alice.id), events.clone())
        .await
        .unwrap();
    let again = app
        .set_key_events_once(id, "api:key-events-1", Some(alice.id), events.clone())
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(
        app.timeline(id).await.unwrap().len(),
        timeline + 1,
        "one entry for the key events, none for the repeats"
    );
    assert!(
        app.set_key_events(id, Some(alice.id), events)
            .await
            .is_err()
    );
    // A key names one change of one incident.
    let other = app
        .declare(declaration(&app, &alice, "P3", "PRD").await)
        .await
        .unwrap()
        .incident;
    let err = app
        .update_roles_once(
            other.id,
            "api:key-events-1",
            Some(alice.id),
            [("communication_lead".to_owned(), Some(bob.id))].into(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid(ref f) if f[0].field == "request_key"),
        "{err:?}"
    );
}

async fn a_postmortem_edit_is_applied_whole_or_not_and_once_under_a_key(app: Firefighter) {
    use firefighter_core::postmortem::{
        NewFollowUpAction, PostMortemEdit, PostMortemNotes, SectionsEdit,
    };
    let alice = person(&app, "alice").await;
    let id = app
        .declare(declaration(&app, &alice, "P3", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    let mitigated = Update {
        by: Some(alice.id),
        status: Some(Status::Mitigated),
        ..Update::default()
    };
    app.update(id, mitigated).await.unwrap();
    app.create_postmortem(id, Some(alice.id)).await.unwrap();
    let action = |what: &str| NewFollowUpAction {
        description: what.to_owned(),
        owner: "alice".to_owned(),
        due_on: Some(chrono::Utc::now().date_naive() + chrono::Duration::days(7)),
    };
    let notes = PostMortemNotes {
        impact: "Card payments failed for 40 minutes".to_owned(),
        ..PostMortemNotes::default()
    };
    // An unknown action fails the whole edit: no notes, no action, no mark.
    let bad = PostMortemEdit {
        sections: SectionsEdit::from(&notes),
        add_action: Some(action("Renew the certificate")),
        removed_actions: vec![uuid::Uuid::now_v7()],
        ready: Some(true),
        ..PostMortemEdit::default()
    };
    let err = app
        .edit_postmortem(id, bad, Some(alice.id), Some("api:pm-bad"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid(ref f) if f[0].field == "actions"),
        "{err:?}"
    );
    let report = app.postmortem_report(id).await.unwrap();
    assert!(report.notes.impact.is_empty() && report.actions.is_empty());
    assert!(!report.document.ready);
    let timeline = app.timeline(id).await.unwrap().len();

    // Applied once under its key, however often it is repeated.
    let edit = PostMortemEdit {
        sections: SectionsEdit::from(&notes),
        add_action: Some(action("Renew the certificate")),
        ready: Some(true),
        ..PostMortemEdit::default()
    };
    for _ in 0..3 {
        app.edit_postmortem(id, edit.clone(), Some(alice.id), Some("api:pm-1"))
            .await
            .unwrap();
    }
    let report = app.postmortem_report(id).await.unwrap();
    assert_eq!(report.notes.impact, notes.impact);
    assert_eq!(report.actions.len(), 1, "one action, not one per repeat");
    assert!(report.document.ready);
    assert_eq!(
        app.timeline(id).await.unwrap().len(),
        timeline + 1,
        "one entry for the ready mark"
    );

    // A section given alone leaves the others as saved.
    let root_causes = PostMortemEdit {
        sections: SectionsEdit {
            root_causes: Some("An expired certificate".to_owned()),
            ..SectionsEdit::default()
        },
        ..PostMortemEdit::default()
    };
    app.edit_postmortem(id, root_causes, Some(alice.id), None)
        .await
        .unwrap();
    let saved = app.postmortem_report(id).await.unwrap().notes;
    assert_eq!(
        (saved.impact.as_str(), saved.root_causes.as_str()),
        (notes.impact.as_str(), "An expired certificate")
    );

    // Removing under a key: the repeat does not fail on the action it removed
    // (nor does naming it twice).
    let remove = PostMortemEdit {
        removed_actions: vec![report.actions[0].id, report.actions[0].id],
        ..PostMortemEdit::default()
    };
    for _ in 0..2 {
        app.edit_postmortem(id, remove.clone(), Some(alice.id), Some("api:pm-2"))
            .await
            .unwrap();
    }
    assert!(app.postmortem_report(id).await.unwrap().actions.is_empty());
    // Without a key the same removal is refused: that action is gone.
    assert!(matches!(
        app.edit_postmortem(id, remove, Some(alice.id), None).await,
        Err(Error::Invalid(_))
    ));
}

macro_rules! on_both {
    ($($name:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::app_on(crate::app::support::sqlite_store().await).await).await;
                }
            )*
        }
        #[cfg(feature = "postgres-tests")]
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::app_on(crate::app::postgres::pg_store().await).await).await;
                }
            )*
        }
    };
}

on_both!(
    a_cost_with_a_request_key_is_recorded_once,
    roles_and_key_events_with_a_key_apply_once,
    a_postmortem_edit_is_applied_whole_or_not_and_once_under_a_key,
    a_declaration_with_a_request_key_is_made_once,
    update_with_a_key_applies_once,
    concurrent_repeats_apply_once,
    members_join_and_leave,
    users_are_upserted_in_batches
);
