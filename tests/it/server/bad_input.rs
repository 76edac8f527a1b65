//! Bad input: each gets a clear 4xx and changes nothing.

use serde_json::{Value, json};

use super::support::{client, spawn_app};

#[tokio::test]
async fn bad_bodies_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let c = client();
    let post = |body: reqwest::Body, ct: &'static str| {
        let c = c.clone();
        let url = app.api("incidents");
        let token = token.clone();
        async move {
            c.post(url)
                .bearer_auth(token)
                .header("Content-Type", ct)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };

    let r = post("{\"title\": ".into(), "application/json").await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "parse_error");
    assert!(v["errors"][0]["detail"].as_str().unwrap().contains("JSON"));

    let r = post("[1, 2]".into(), "application/json").await;
    assert_eq!(r.status(), 400);

    let r = post(
        json!({"title": 42, "incident_category_id": "nope", "ignore": "maybe"})
            .to_string()
            .into(),
        "application/json",
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "validation_error");
    let attrs: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["attr"].as_str().unwrap())
        .collect();
    assert!(
        attrs.contains(&"title")
            && attrs.contains(&"incident_category_id")
            && attrs.contains(&"ignore"),
        "{v}"
    );

    let r = post(
        json!({"title": "short", "incident_category_id": uuid::Uuid::new_v4()})
            .to_string()
            .into(),
        "application/json",
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    let attrs: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["attr"].as_str().unwrap())
        .collect();
    assert!(
        attrs.contains(&"title") && attrs.contains(&"incident_category_id"),
        "{v}"
    );

    let r = post("title=x".into(), "text/plain").await;
    assert_eq!(r.status(), 415);

    let big = format!("{{\"title\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let r = post(big.into(), "application/json").await;
    assert_eq!(r.status(), 413);

    assert_eq!(app.incident_count().await, 0);
}

#[tokio::test]
async fn unknown_ids_and_bad_filters() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let c = client();
    for path in ["incidents/999/", "incidents/abc/", "nothing-here/"] {
        let r = c
            .get(app.api(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["errors"][0]["code"], "not_found");
    }
    let r = c
        .post(app.api("incidents/999/status"))
        .bearer_auth(&token)
        .json(&json!({"status": "mitigated"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    for q in [
        "status=70",
        "status=open",
        "_status__gte=x",
        "priority=not-a-uuid",
        &format!("priority={}", uuid::Uuid::new_v4()),
        "created_at=next%20tuesday",
        "created_at__gte=yesterday-ish",
        "order_by=colour",
        "id__in=1,two",
        "page=0",
        "ignore=perhaps",
    ] {
        let r = c
            .get(app.api(&format!("incidents/?{q}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["type"], "validation_error", "{q}");
        assert!(!v["errors"][0]["detail"].as_str().unwrap().is_empty());
    }
    let r = c
        .get(app.api("incidents/?created_at=next%20tuesday"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["attr"], "created_at");
    assert!(
        v["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("last_week"),
        "says what works: {v}"
    );
}
