//! Writes that must be refused, each with a 400 naming the field, and that
//! must change nothing.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::support::{TestApp, client, spawn_app};

fn attrs(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["attr"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Sends a JSON body; the status and the JSON answer (null when there is none).
async fn send(
    app: &TestApp,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let r = client()
        .request(method, app.api(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    send(app, reqwest::Method::POST, token, path, body).await
}

async fn put(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    send(app, reqwest::Method::PUT, token, path, body).await
}

#[tokio::test]
async fn a_refused_declaration_creates_no_account() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let (status, v) = post(
        &app,
        &token,
        "incidents",
        json!({
            "title": "short",
            "incident_category_id": app.category(),
            "created_by_email": "newcomer@example.com",
        }),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(attrs(&v).contains(&"title".to_owned()), "{v}");
    assert!(
        app.app
            .store()
            .user_by_email("newcomer@example.com")
            .await
            .unwrap()
            .is_none(),
        "the refused declaration created an account"
    );
    // An unknown category is refused before the account is made, too.
    let (status, _) = post(
        &app,
        &token,
        "incidents",
        json!({
            "title": "A long enough title for a declaration",
            "incident_category_id": uuid::Uuid::new_v4(),
            "created_by_email": "newcomer@example.com",
        }),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        app.app
            .store()
            .user_by_email("newcomer@example.com")
            .await
            .unwrap()
            .is_none()
    );
    // A valid one creates the account with the incident.
    let v = app
        .declare(
            &token,
            "A valid declaration by a newcomer",
            json!({"created_by_email": "newcomer@example.com"}),
        )
        .await;
    assert_eq!(v["created_by"]["email"], "newcomer@example.com");
}

#[tokio::test]
async fn a_cost_needs_an_amount() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let v = app
        .declare(&token, "An incident with costs to record", json!({}))
        .await;
    let id = v["id"].as_i64().unwrap();
    let cost_type = app.catalog.cost_types[0].id;
    for body in [
        json!({"cost_type_id": cost_type, "amount": null}),
        json!({"cost_type_id": cost_type}),
        json!({"cost_type_id": cost_type, "amount": true}),
    ] {
        let (status, v) = post(&app, &token, &format!("incidents/{id}/costs"), body).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(attrs(&v), vec!["amount".to_owned()], "{v}");
    }
    let details = app
        .app
        .incident_details(firefighter::core::IncidentId(id))
        .await
        .unwrap();
    assert!(details.costs.is_empty(), "{:?}", details.costs);
    let (status, v) = post(
        &app,
        &token,
        &format!("incidents/{id}/costs"),
        json!({"cost_type_id": cost_type, "amount": "12.30"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
}

#[tokio::test]
async fn key_events_that_make_a_metric_negative_or_are_absurd_are_refused() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let v = app
        .declare(&token, "An incident whose timeline is edited", json!({}))
        .await;
    let id = v["id"].as_i64().unwrap();
    let path = format!("incidents/{id}/key_events");
    let now = Utc::now();
    let hour = |h: i64| (now - Duration::hours(h)).to_rfc3339();

    // Year 1.
    let (status, v) = put(
        &app,
        &token,
        &path,
        json!({"detected": "0001-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(attrs(&v), vec!["key_events.detected".to_owned()], "{v}");

    // In the future.
    let (status, v) = put(
        &app,
        &token,
        &path,
        json!({"started": (now + Duration::days(2)).to_rfc3339()}),
    )
    .await;
    assert_eq!(status, 400, "{v}");

    // Recovered before started, in one request: named by the later one, which names the other.
    let (status, v) = put(
        &app,
        &token,
        &path,
        json!({"started": hour(2), "recovered": hour(3)}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(
        attrs(&v).contains(&"key_events.recovered".to_owned()),
        "{v}"
    );
    assert!(v.to_string().contains("started"), "{v}");

    // Detected before the recorded start, in a later request.
    let (status, v) = put(&app, &token, &path, json!({"started": hour(2)})).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = put(&app, &token, &path, json!({"detected": hour(5)})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(attrs(&v), vec!["key_events.detected".to_owned()], "{v}");
    assert!(v.to_string().contains("started"), "{v}");

    // Started after the declaration.
    let (status, v) = put(
        &app,
        &token,
        &path,
        json!({"started": (now + Duration::minutes(1)).to_rfc3339()}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("declared"), "{v}");

    // Nothing refused was written: only the accepted start.
    let details = app
        .app
        .incident_details(firefighter::core::IncidentId(id))
        .await
        .unwrap();
    let kinds: Vec<&str> = details
        .key_events
        .iter()
        .map(|k| k.event_type.as_str())
        .collect();
    assert!(kinds.contains(&"started"), "{kinds:?}");
    assert!(!kinds.contains(&"detected"), "{kinds:?}");
    assert!(!kinds.contains(&"recovered"), "{kinds:?}");

    // An order that holds is accepted.
    let (status, v) = put(
        &app,
        &token,
        &path,
        json!({"detected": hour(1), "recovered": (now - Duration::minutes(1)).to_rfc3339()}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
}

#[tokio::test]
async fn environment_errors_name_the_field_the_client_sent() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let base = json!({
        "title": "An incident in an unknown environment",
        "incident_category_id": app.category(),
    });
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let (status, v) = post(
        &app,
        &token,
        "incidents",
        with(json!({"environment_ids": [uuid::Uuid::new_v4()]})),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(attrs(&v), vec!["environment_ids".to_owned()], "{v}");
    let (status, v) = post(
        &app,
        &token,
        "incidents",
        with(json!({"environment_id": uuid::Uuid::new_v4()})),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(attrs(&v), vec!["environment_id".to_owned()], "{v}");
}

#[tokio::test]
async fn a_control_character_in_a_search_matches_nothing_it_should_not() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.declare(&token, "The checkout refuses every card", json!({}))
        .await;
    for search in ["%00", "%01", "checkout%00", "%7F"] {
        let r = client()
            .get(app.api(&format!("incidents/?search={search}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "search={search}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(attrs(&v), vec!["search".to_owned()], "{v}");
    }
    // Core never turns one into a match-all either.
    let filter = firefighter::core::IncidentFilter {
        search: Some("\0".into()),
        ..Default::default()
    };
    assert!(app.app.list_incidents(&filter).await.unwrap().is_empty());
    let filter = firefighter::core::IncidentFilter {
        search: Some("nothing-like-this\0".into()),
        ..Default::default()
    };
    assert!(app.app.list_incidents(&filter).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_retired_category_is_not_offered_and_refused_when_declaring() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let mut retired = app.catalog.categories[0].clone();
    retired.enabled_create = false;
    app.app.store().upsert_category(&retired).await.unwrap();
    app.app.invalidate_catalog();
    let (status, v) = post(
        &app,
        &token,
        "incidents",
        json!({
            "title": "An incident in a retired category",
            "incident_category_id": retired.id,
        }),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(attrs(&v), vec!["incident_category_id".to_owned()], "{v}");
    assert!(v.to_string().contains("retired"), "{v}");
    // The API says so.
    let r = client()
        .get(app.api(&format!("incident-categories/{}/", retired.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["enabled_create"], false, "{v}");
}
