//! The built-in post-mortem through the API and the web pages: created at
//! mitigation, `postmortem_url` filled, closing waits for it to be ready;
//! bad input changes nothing; a private incident's post-mortem stays hidden.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::support::{TestApp, client, csrf_field, log_in, spawn_app};

async fn send(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
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

async fn mitigated_p1(app: &TestApp, token: &str, private: bool) -> i64 {
    let extra = json!({"priority_id": app.priority("P1"), "private": private});
    let v = app
        .declare(token, "Payments fail for every card", extra)
        .await;
    let id = v["id"].as_i64().unwrap();
    for s in ["investigating", "mitigating", "mitigated"] {
        let (status, body) = send(
            app,
            token,
            reqwest::Method::POST,
            &format!("incidents/{id}/status"),
            json!({"status": s}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    id
}

#[tokio::test]
async fn a_p1_gets_its_post_mortem_at_mitigation_and_closes_once_it_is_marked_ready() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let id = mitigated_p1(&app, &token, false).await;

    let (_, incident) = send(
        &app,
        &token,
        reqwest::Method::GET,
        &format!("incidents/{id}"),
        Value::Null,
    )
    .await;
    let url = incident["postmortem_url"]
        .as_str()
        .expect("postmortem_url is set");
    assert!(
        url.ends_with(&format!("/incident/{id}/postmortem/")),
        "{url}"
    );

    let (status, pm) = send(
        &app,
        &token,
        reqwest::Method::GET,
        &format!("incidents/{id}/postmortem"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(pm["documents"][0]["backend"], "firefighter");
    assert_eq!(pm["documents"][0]["ready"], false);

    // Asking again creates nothing and says why.
    let (status, again) = send(
        &app,
        &token,
        reqwest::Method::POST,
        &format!("incidents/{id}/postmortem"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["skipped"][0]["reason"], "already created");

    let started = Utc::now() - Duration::hours(1);
    let (status, _) = send(
        &app,
        &token,
        reqwest::Method::PUT,
        &format!("incidents/{id}/key_events"),
        json!({"started": started, "detected": started + Duration::minutes(5)}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        &app,
        &token,
        reqwest::Method::POST,
        &format!("incidents/{id}/status"),
        json!({"status": "post_mortem"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, refused) = send(
        &app,
        &token,
        reqwest::Method::POST,
        &format!("incidents/{id}/close"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["errors"][0]["code"], "POST_MORTEM_NOT_READY",
        "{refused}"
    );

    // Bad input: a date that is not one; nothing is written.
    let (status, bad) = send(
        &app,
        &token,
        reqwest::Method::PATCH,
        &format!("incidents/{id}/postmortem"),
        json!({"impact": "written", "add_action": {"description": "Rotate certificates", "owner": "jane", "due_on": "next week"}}),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad.to_string().contains("is not a date"), "{bad}");
    let (_, pm) = send(
        &app,
        &token,
        reqwest::Method::GET,
        &format!("incidents/{id}/postmortem"),
        Value::Null,
    )
    .await;
    assert_eq!(pm["notes"]["impact"], "", "nothing saved");
    for bad in [
        json!({"impact": "written", "add_action": {"description": "", "owner": "jane", "due_on": "2027-01-01"}}),
        json!({"impact": "written", "done_actions": [uuid::Uuid::new_v4()]}),
        json!({"impact": "x".repeat(20_001)}),
    ] {
        let (status, body) = send(
            &app,
            &token,
            reqwest::Method::PATCH,
            &format!("incidents/{id}/postmortem"),
            bad.clone(),
        )
        .await;
        assert_eq!(status, 400, "{bad} -> {body}");
        let (_, pm) = send(
            &app,
            &token,
            reqwest::Method::GET,
            &format!("incidents/{id}/postmortem"),
            Value::Null,
        )
        .await;
        assert_eq!(pm["notes"]["impact"], "", "{bad} changed nothing");
    }

    let (status, pm) = send(
        &app,
        &token,
        reqwest::Method::PATCH,
        &format!("incidents/{id}/postmortem"),
        json!({"impact": "Card payments failed for 40 minutes.", "ready": true,
               "add_action": {"description": "Rotate certificates automatically", "owner": "jane", "due_on": "2027-02-01"}}),
    )
    .await;
    assert_eq!(status, 200, "{pm}");
    assert_eq!(pm["documents"][0]["ready"], true);
    assert_eq!(pm["actions"][0]["due_on"], "2027-02-01");
    let (status, closed) = send(
        &app,
        &token,
        reqwest::Method::POST,
        &format!("incidents/{id}/close"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["status"], "Closed");
}

#[tokio::test]
async fn creating_before_mitigation_is_refused_with_the_reason() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let v = app.declare(&token, "Search is slow", json!({})).await;
    let id = v["id"].as_i64().unwrap();
    let (status, body) = send(
        &app,
        &token,
        reqwest::Method::POST,
        &format!("incidents/{id}/postmortem"),
        json!({}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("once the incident is mitigated"),
        "{body}"
    );
    let (_, pm) = send(
        &app,
        &token,
        reqwest::Method::GET,
        &format!("incidents/{id}/postmortem"),
        Value::Null,
    )
    .await;
    assert_eq!(pm["documents"], json!([]));
}

#[tokio::test]
async fn a_private_incident_s_post_mortem_is_hidden_from_those_who_may_not_see_it() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let id = mitigated_p1(&app, &token, true).await;
    let outsider = app
        .user("outsider@example.com", "correct horse battery", false)
        .await;
    let theirs = app
        .token(&outsider, &["incidents:read", "incidents:write"])
        .await;
    for method in [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::PATCH,
    ] {
        let (status, body) = send(
            &app,
            &theirs,
            method.clone(),
            &format!("incidents/{id}/postmortem"),
            json!({"ready": true}),
        )
        .await;
        assert_eq!(status, 404, "{method} {body}");
    }
    let (_, pm) = send(
        &app,
        &token,
        reqwest::Method::GET,
        &format!("incidents/{id}/postmortem"),
        Value::Null,
    )
    .await;
    assert_eq!(
        pm["documents"][0]["ready"], false,
        "the outsider changed nothing"
    );
    let web = log_in(&app, "outsider@example.com", "correct horse battery").await;
    let r = web
        .get(app.url(&format!("/incident/{id}/postmortem/")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = web
        .get(app.url(&format!("/incident/{id}/postmortem.md")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_post_mortem_is_written_on_its_page_and_exported_as_markdown() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let id = mitigated_p1(&app, &token, false).await;
    app.user("jane@example.com", "correct horse battery", false)
        .await;
    let web = log_in(&app, "jane@example.com", "correct horse battery").await;

    let detail = web
        .get(app.url(&format!("/incident/{id}/")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        detail.contains(&format!("/incident/{id}/postmortem/\">Post-mortem</a>")),
        "the incident page links it"
    );
    assert!(detail.contains(">draft<"));

    let page = web
        .get(app.url(&format!("/incident/{id}/postmortem/")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Mark ready"), "{page}");
    let csrf = csrf_field(&page);
    let r = web
        .post(app.url(&format!("/incident/{id}/postmortem/")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("impact", "Checkout down for 40 minutes"),
            ("root_causes", "An expired certificate"),
            ("went_well", ""),
            ("went_badly", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = web
        .get(app.url(&format!("/incident/{id}/postmortem/?notice=saved")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Saved."), "{page}");
    assert!(page.contains("Checkout down for 40 minutes"));

    // A follow-up action without an owner: refused, on the page, nothing added.
    let r = web
        .post(app.url(&format!("/incident/{id}/postmortem/actions")))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("description", "Alert before certificates expire"),
            ("owner", ""),
            ("due_on", "2027-01-10"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("this field is required"), "{page}");
    assert!(
        page.contains("value=\"Alert before certificates expire\""),
        "what was typed stays"
    );

    let r = web
        .post(app.url(&format!("/incident/{id}/postmortem/ready")))
        .form(&[("csrf_token", csrf.as_str()), ("ready", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        format!("/incident/{id}/postmortem/?notice=postmortem_ready").as_str()
    );

    let r = web
        .get(app.url(&format!("/incident/{id}/postmortem.md")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/markdown; charset=utf-8");
    let md = r.text().await.unwrap();
    assert!(
        md.contains("## Impact\n\nCheckout down for 40 minutes"),
        "{md}"
    );
    assert!(
        md.contains("## Root causes\n\nAn expired certificate"),
        "{md}"
    );
    assert!(md.contains("- **Post-mortem:** ready"), "{md}");
    assert!(md.contains("## Follow-up actions\n\n_None yet._"), "{md}");
}

#[tokio::test]
async fn the_list_filters_incidents_by_where_their_post_mortem_stands() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let drafted = mitigated_p1(&app, &token, false).await;
    let ready = mitigated_p1(&app, &token, false).await;
    let (status, _) = send(
        &app,
        &token,
        reqwest::Method::PATCH,
        &format!("incidents/{ready}/postmortem"),
        json!({"ready": true}),
    )
    .await;
    assert_eq!(status, 200);
    let ids = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    let (status, not_ready) = send(
        &app,
        &token,
        reqwest::Method::GET,
        "incidents/?postmortem=not_ready",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{not_ready}");
    assert_eq!(ids(&not_ready), vec![drafted]);
    // A P3 mitigated (no post-mortem needed), then raised to P1: one is needed, none exists.
    let raised = app.declare(&token, "Search is slow", json!({})).await["id"]
        .as_i64()
        .unwrap();
    let (status, _) = send(
        &app,
        &token,
        reqwest::Method::POST,
        &format!("incidents/{raised}/status"),
        json!({"status": "mitigated"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = send(
        &app,
        &token,
        reqwest::Method::POST,
        &format!("incidents/{raised}/updates"),
        json!({"priority_id": app.priority("P1"), "message": "Worse than we thought"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, missing) = send(
        &app,
        &token,
        reqwest::Method::GET,
        "incidents/?postmortem=missing",
        Value::Null,
    )
    .await;
    assert_eq!(ids(&missing), vec![raised]);
    let (status, bad) = send(
        &app,
        &token,
        reqwest::Method::GET,
        "incidents/?postmortem=soon",
        Value::Null,
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad.to_string().contains("missing or not_ready"), "{bad}");

    // The web list offers the same filter.
    app.user("jane@example.com", "correct horse battery", false)
        .await;
    let web = log_in(&app, "jane@example.com", "correct horse battery").await;
    let page = web
        .get(app.url("/incident/?postmortem=not_ready"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("/incident/{drafted}/")), "{page}");
    assert!(!page.contains(&format!("/incident/{ready}/\"")), "{page}");
}
