//! The incident forms: declare, update status (refusals shown inline with
//! every reason), roles, key events, costs, and the CSRF guard.

use firefighter::core::{IncidentId, Status};

use super::support::spawn_app;

#[tokio::test]
async fn declaring_through_the_form_shows_the_new_incident() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    let form = browser.get("/incident/create/").await;
    form.expect(200, &[]);
    let prd = app.environment("PRD");
    let stg = app.environment("STG");
    let r = browser
        .post(
            "/incident/create/",
            &[
                ("title", "Checkout fails for every card payment"),
                (
                    "description",
                    "Every payment with a card is refused since 10:02",
                ),
                ("category", &app.category()),
                ("priority", &app.priority("P3")),
                ("environment", &prd),
                ("environment", &stg),
                ("visibility", ""),
            ],
        )
        .await;
    let location = r.expect_redirect("/incident/");
    assert!(location.ends_with("/?notice=declared"), "{location}");
    let page = browser.get(&location).await;
    page.expect(
        200,
        &[
            "Incident declared.",
            "Checkout fails for every card payment",
            "PRD, STG",
            "Open",
        ],
    );
    let incident = app.app.incident(IncidentId(1)).await.unwrap();
    assert_eq!(incident.created_by, browser.user.id);
    assert_eq!(incident.environment_ids.len(), 2);
}

#[tokio::test]
async fn an_invalid_declaration_shows_every_problem_and_writes_nothing() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    let r = browser
        .post(
            "/incident/create/",
            &[
                ("title", "Too short"),
                ("description", "kept as typed"),
                ("category", ""),
                ("priority", &app.priority("P3")),
            ],
        )
        .await;
    r.expect(
        422,
        &[
            "The incident was not declared",
            "title must be at least 10 characters long",
            "an incident category is required",
            "kept as typed",
            "value=\"Too short\"",
        ],
    );
    assert_eq!(app.incident_count().await, 0);

    let r = browser
        .post(
            "/incident/create/",
            &[
                ("title", "A long enough title here"),
                ("category", "not-a-uuid"),
                ("environment", "nope"),
            ],
        )
        .await;
    r.expect(
        422,
        &[
            "choose a category from the list",
            "choose environments from the list",
        ],
    );
    assert_eq!(app.incident_count().await, 0);
}

#[tokio::test]
async fn status_changes_follow_the_lifecycle_and_refusals_are_shown_inline() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    let id = app
        .declare(
            &browser.user,
            "Checkout fails for every card payment",
            "P3",
            false,
        )
        .await;
    let path = format!("/incident/{}/status", id.0);

    // Closing an open incident needs a reason and a message: both reasons are listed.
    let refused = browser
        .post(&path, &[("status", "closed"), ("message", "")])
        .await;
    refused.expect(
        422,
        &[
            "needs a closure reason",
            "Say in a message why the incident is closed",
        ],
    );
    assert_eq!(
        app.app.incident(id).await.unwrap().status,
        Status::Open,
        "nothing changed"
    );

    let r = browser
        .post(
            &path,
            &[
                ("status", "investigating"),
                ("message", "Looking at the gateway logs"),
            ],
        )
        .await;
    let location = r.expect_redirect(&format!("/incident/{}/?notice=status", id.0));
    let page = browser.get(&location).await;
    page.expect(
        200,
        &[
            "Status updated.",
            "Looking at the gateway logs",
            "Investigating",
        ],
    );
    assert_eq!(
        app.app.incident(id).await.unwrap().status,
        Status::Investigating
    );

    // Mitigated cannot be skipped to from Investigating? It can: the lifecycle allows forward moves.
    browser
        .post(&path, &[("status", "mitigated")])
        .await
        .expect_redirect("/incident/");
    // Going back needs a message of 10 characters.
    let refused = browser
        .post(&path, &[("status", "investigating"), ("message", "again")])
        .await;
    refused.expect(
        422,
        &["Reopening an incident needs a message of at least 10 characters"],
    );
    assert_eq!(
        app.app.incident(id).await.unwrap().status,
        Status::Mitigated
    );

    // A P3 needs its key events before closing.
    let refused = browser.post(&path, &[("status", "closed")]).await;
    refused.expect(422, &["Record these key events before closing"]);

    // Early closure with a reason, on another incident.
    let other = app
        .declare(
            &browser.user,
            "Duplicate report of the checkout failure",
            "P3",
            false,
        )
        .await;
    let r = browser
        .post(
            &format!("/incident/{}/status", other.0),
            &[
                ("status", "closed"),
                ("closure_reason", "duplicate"),
                ("closure_reference", "#1"),
                ("message", "Same as #1"),
            ],
        )
        .await;
    r.expect_redirect("/incident/");
    let closed = app.app.incident(other).await.unwrap();
    assert_eq!(closed.status, Status::Closed);
    assert_eq!(closed.closure_reference, "#1");
    // A closed incident offers only a reopening, which needs its reason.
    let page = browser.get(&format!("/incident/{}/", other.0)).await;
    page.expect(200, &["Duplicate of another incident", "Closed (current)"]);
    assert!(page.body.contains("value=\"investigating\""));
    assert!(!page.body.contains("value=\"post_mortem\""));
    let path = format!("/incident/{}/status", other.0);
    browser
        .post(&path, &[("status", "investigating"), ("message", "again")])
        .await
        .expect(422, &["at least 10 characters"]);
    assert_eq!(
        app.app.incident(other).await.unwrap().status,
        Status::Closed
    );
    browser
        .post(
            &path,
            &[
                ("status", "investigating"),
                ("message", "Not a duplicate after all"),
            ],
        )
        .await
        .expect_redirect("/incident/");
    let reopened = app.app.incident(other).await.unwrap();
    assert_eq!(reopened.status, Status::Investigating);
    assert_eq!(reopened.closed_at, None);
}

#[tokio::test]
async fn priority_and_category_change_through_the_update_form() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    let id = app
        .declare(
            &browser.user,
            "Checkout fails for every card payment",
            "P3",
            false,
        )
        .await;
    let p2 = app.priority("P2");
    let r = browser
        .post(
            &format!("/incident/{}/status", id.0),
            &[
                ("status", "open"),
                ("priority", &p2),
                ("category", &app.category()),
            ],
        )
        .await;
    r.expect_redirect("/incident/");
    let page = browser.get(&format!("/incident/{}/", id.0)).await;
    page.expect(
        200,
        &["Priority: <span class=\"old\">P3</span> → <span class=\"new\">P2</span>"],
    );

    // Nothing changed and no message: said so, nothing written.
    let r = browser
        .post(
            &format!("/incident/{}/status", id.0),
            &[("status", "open"), ("priority", &p2)],
        )
        .await;
    r.expect(422, &["nothing to update"]);
}

#[tokio::test]
async fn roles_are_assigned_and_required_roles_cannot_be_emptied() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    let bob = app.user("bob@example.com", false).await;
    let id = app
        .declare(
            &browser.user,
            "Checkout fails for every card payment",
            "P2",
            false,
        )
        .await;
    let path = format!("/incident/{}/roles", id.0);
    let jane = browser.user.id.to_string();
    let bob_id = bob.id.to_string();

    let r = browser
        .post(
            &path,
            &[
                ("role.commander", &jane),
                ("role.communication_lead", &bob_id),
            ],
        )
        .await;
    let location = r.expect_redirect(&format!("/incident/{}/?notice=roles", id.0));
    let page = browser.get(&location).await;
    page.expect(200, &["Roles updated.", "bob@example.com"]);
    let details = app.app.incident_details(id).await.unwrap();
    assert!(
        details
            .roles
            .iter()
            .any(|r| r.slug == "communication_lead" && r.user_id == bob.id)
    );
    assert!(details.members.contains(&bob.id));

    let refused = browser
        .post(
            &path,
            &[("role.commander", ""), ("role.communication_lead", &bob_id)],
        )
        .await;
    refused.expect(422, &["required and cannot be left empty"]);
    let garbage = browser.post(&path, &[("role.commander", "someone")]).await;
    garbage.expect(422, &["choose a person from the list"]);
}

#[tokio::test]
async fn key_events_are_set_in_the_time_zone_and_feed_the_metrics() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    let id = app
        .declare(
            &browser.user,
            "Checkout fails for every card payment",
            "P3",
            false,
        )
        .await;
    let path = format!("/incident/{}/key_events", id.0);
    let incident = app.app.incident(id).await.unwrap();
    let started = (incident.created_at - chrono::Duration::minutes(30))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let detected = (incident.created_at - chrono::Duration::minutes(20))
        .format("%Y-%m-%dT%H:%M")
        .to_string();

    let r = browser
        .post(
            &path,
            &[
                ("key_event.started", &started),
                ("key_event.detected", &detected),
            ],
        )
        .await;
    let location = r.expect_redirect(&format!("/incident/{}/?notice=key_events", id.0));
    let details = app.app.incident_details(id).await.unwrap();
    assert!(details.key_events.iter().any(|k| k.event_type == "started"));
    let page = browser.get(&location).await;
    page.expect(
        200,
        &[
            "Key events saved.",
            "00:10:00",
            &format!("value=\"{started}\""),
        ],
    );

    let refused = browser
        .post(&path, &[("key_event.started", "yesterday at noon")])
        .await;
    refused.expect(
        422,
        &["is not a date and time", "value=\"yesterday at noon\""],
    );
    let future = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    browser
        .post(&path, &[("key_event.detected", &future)])
        .await
        .expect(422, &["cannot be in the future"]);
    browser
        .post(&path, &[("key_event.declared", &started)])
        .await
        .expect(422, &["set by the system"]);
}

#[tokio::test]
async fn costs_are_recorded_and_bad_amounts_refused() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    let id = app
        .declare(
            &browser.user,
            "Checkout fails for every card payment",
            "P3",
            false,
        )
        .await;
    let kind = app.catalog.cost_types[0].id.to_string();
    let path = format!("/incident/{}/costs", id.0);
    let r = browser
        .post(
            &path,
            &[
                ("cost_type", &kind),
                ("amount", "1 250,50"),
                ("details", "Refunds to customers"),
            ],
        )
        .await;
    let location = r.expect_redirect(&format!("/incident/{}/?notice=cost", id.0));
    browser.get(&location).await.expect(
        200,
        &["Cost recorded.", "1250.50 EUR", "Refunds to customers"],
    );

    let refused = browser
        .post(
            &path,
            &[
                ("cost_type", &kind),
                ("amount", "lots"),
                ("details", "typed text stays"),
            ],
        )
        .await;
    refused.expect(422, &["is not an amount", "typed text stays"]);
    browser
        .post(&path, &[("cost_type", &kind), ("amount", "-3")])
        .await
        .expect(422, &["cannot be negative"]);
    assert_eq!(app.app.incident_details(id).await.unwrap().costs.len(), 1);
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    let id = app
        .declare(
            &browser.user,
            "Checkout fails for every card payment",
            "P3",
            false,
        )
        .await;

    let r = browser
        .post_raw(
            "/incident/create/",
            &[
                ("title", "A declaration without a token"),
                ("category", &app.category()),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(app.incident_count().await, 1);

    let r = browser
        .post_raw(
            &format!("/incident/{}/status", id.0),
            &[("status", "investigating"), ("csrf_token", "forged")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.app.incident(id).await.unwrap().status, Status::Open);

    let staff = app.logged_in("staff@example.com", true).await;
    let r = staff
        .post_raw(
            "/admin/groups/new",
            &[("name", "No token group"), ("order", "1")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        !app.app
            .store()
            .catalog()
            .await
            .unwrap()
            .groups
            .iter()
            .any(|g| g.name == "No token group")
    );

    // htmx requests carry the token in a header, which the page declares.
    assert!(
        browser
            .get("/")
            .await
            .body
            .contains(&format!("\"X-CSRF-Token\": \"{}\"", browser.csrf))
    );
}

#[tokio::test]
async fn logging_out_is_a_post_with_the_token() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    browser.post("/logout", &[]).await.expect_redirect("/login");
    assert_eq!(browser.get("/").await.status, 303, "logged out");
}

#[tokio::test]
async fn a_retired_category_is_not_offered_and_its_incidents_keep_it() {
    let app = spawn_app().await;
    let catalog = app.app.catalog().await.unwrap();
    let mut retired = catalog.categories[0].clone();
    let kept = catalog.categories[1].clone();
    retired.enabled_create = false;
    app.app.store().upsert_category(&retired).await.unwrap();
    app.app.invalidate_catalog();
    let browser = app.logged_in("jane@example.com", false).await;
    let form = browser.get("/incident/create/").await;
    form.expect(200, &[&kept.id.to_string()]);
    assert!(
        !form.body.contains(&retired.id.to_string()),
        "the retired category is still offered"
    );
    // Posting it anyway is refused on the form, with nothing declared.
    let prd = app.environment("PRD");
    let page = browser
        .post(
            "/incident/create/",
            &[
                ("title", "Checkout fails for every card payment"),
                ("description", ""),
                ("category", &retired.id.to_string()),
                ("priority", &app.priority("P3")),
                ("environment", &prd),
                ("visibility", ""),
            ],
        )
        .await;
    assert_ne!(page.status, 303, "declared in a retired category");
    assert!(page.body.contains("retired"), "{}", page.body);
    assert!(
        app.app
            .list_incidents(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
}
