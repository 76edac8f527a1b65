//! The response cache of `incidents/` is never stale: a write through any
//! path (the API, a core command, another instance on the same database)
//! shows in the next response; who may see private incidents is part of the
//! key; `ETag`s answer `If-None-Match` with `304`; a revoked token or a
//! deactivated owner is refused from the next request on.

use firefighter::core::{IncidentId, Status, Update};
use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use serde_json::{Value, json};

use super::support::{TestApp, client, spawn_app};

/// `GET path` with `token`: status, `ETag` and JSON body.
async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Option<String>, Value) {
    let r = client()
        .get(app.api(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let etag = r
        .headers()
        .get(ETAG)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = if status == StatusCode::NOT_MODIFIED {
        Value::Null
    } else {
        r.json().await.unwrap_or(Value::Null)
    };
    (status, etag, body)
}

fn titles(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn writes_through_the_api_and_core_commands_show_at_once() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let first = app
        .declare(&token, "The first incident of the day", json!({}))
        .await;
    let id = first["id"].as_i64().unwrap();

    let (status, etag, list) = get(&app, &token, "incidents/").await;
    assert_eq!(status, 200);
    assert_eq!(titles(&list), ["The first incident of the day"]);
    // Asked again: the same answer, the same ETag.
    let (_, again, same) = get(&app, &token, "incidents/").await;
    assert_eq!((&again, &same), (&etag, &list));
    let (_, _, detail) = get(&app, &token, &format!("incidents/{id}/")).await;
    assert_eq!(detail["status"], "Open");

    // Through the API.
    app.declare(&token, "The second incident of the day", json!({}))
        .await;
    let (_, etag2, list) = get(&app, &token, "incidents/").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_ne!(etag2, etag);
    let r = client()
        .post(app.api(&format!("incidents/{id}/status")))
        .bearer_auth(&token)
        .json(&json!({"status": "investigating"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, _, detail) = get(&app, &token, &format!("incidents/{id}/")).await;
    assert_eq!(detail["status"], "Investigating");

    // Through a core command, as the web UI and integrations do.
    app.app
        .update(
            IncidentId(id),
            Update {
                status: Some(Status::Mitigating),
                title: Some("The first incident, renamed".into()),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    let (_, _, detail) = get(&app, &token, &format!("incidents/{id}/")).await;
    assert_eq!(detail["status"], "Mitigating");
    let (_, _, list) = get(&app, &token, "incidents/?order_by=id").await;
    assert_eq!(titles(&list)[0], "The first incident, renamed");

    // A user's name, shown in every incident they created.
    let store = app.app.store();
    let mut declarer = store
        .user_by_email("declarer@example.com")
        .await
        .unwrap()
        .unwrap();
    declarer.name = "Dee Clarer".into();
    store.update_user(&declarer).await.unwrap();
    let (_, _, detail) = get(&app, &token, &format!("incidents/{id}/")).await;
    assert_eq!(detail["created_by"]["name"], "Dee Clarer");
}

#[tokio::test]
async fn another_instance_on_the_same_database_invalidates_the_cache() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let v = app
        .declare(&token, "Checkout fails for every card payment", json!({}))
        .await;
    let id = v["id"].as_i64().unwrap();
    let path = format!("incidents/{id}/");
    let (_, _, detail) = get(&app, &token, &path).await;
    assert_eq!(detail["priority"]["name"], "P3");
    let (_, _, list) = get(&app, &token, "incidents/?format=json").await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    let other = app.other_instance().await;
    // An incident declared there.
    let creator = other
        .store()
        .user_by_email("declarer@example.com")
        .await
        .unwrap()
        .unwrap();
    other
        .declare(firefighter::core::Declaration {
            title: "Declared by the other instance".into(),
            category_id: Some(app.catalog.categories[0].id),
            created_by: Some(creator.id),
            request_conversation: Some(false),
            ..Default::default()
        })
        .await
        .unwrap();
    let (_, _, list) = get(&app, &token, "incidents/?format=json").await;
    assert_eq!(list.as_array().unwrap().len(), 2);

    // A change of status there.
    other
        .update(
            IncidentId(id),
            Update {
                status: Some(Status::Investigating),
                ..Update::default()
            },
        )
        .await
        .unwrap();
    let (_, _, detail) = get(&app, &token, &path).await;
    assert_eq!(detail["status"], "Investigating");

    // Reference data changed there: the priority's new name shows here at once,
    // although this instance read its reference data a moment ago.
    let mut p3 = app
        .catalog
        .priorities
        .iter()
        .find(|p| p.name == "P3")
        .unwrap()
        .clone();
    p3.name = "P3 (minor)".into();
    other.store().upsert_priority(&p3).await.unwrap();
    let (_, _, detail) = get(&app, &token, &path).await;
    assert_eq!(detail["priority"]["name"], "P3 (minor)");
    // Filters read the same reference data.
    let (status, _, _) = get(&app, &token, "incidents/?environment__value=QA").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn members_and_non_members_never_share_a_cached_answer() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let jane = app
        .user("jane@example.com", "correct horse battery", false)
        .await;
    let john = app
        .user("john@example.com", "correct horse battery", false)
        .await;
    let jane_token = app.token(&jane, &[]).await;
    let john_token = app.token(&john, &[]).await;
    app.declare(&admin, "A public incident for everyone", json!({}))
        .await;
    let private = app
        .declare(
            &admin,
            "A private incident for members",
            json!({"private": true}),
        )
        .await;
    let pid = private["id"].as_i64().unwrap();
    let r = client()
        .put(app.api(&format!("incidents/{pid}/roles")))
        .bearer_auth(&admin)
        .json(&json!({"communication_lead": "jane@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Each asks twice, in turns, the same URLs.
    for _ in 0..2 {
        let (_, _, list) = get(&app, &jane_token, "incidents/").await;
        assert_eq!(list.as_array().unwrap().len(), 2, "a member sees it");
        let (_, _, list) = get(&app, &john_token, "incidents/").await;
        assert_eq!(
            titles(&list),
            ["A public incident for everyone"],
            "a non-member does not"
        );
        let (_, _, list) = get(&app, &admin, "incidents/").await;
        assert_eq!(list.as_array().unwrap().len(), 2, "staff see it");
        let (status, _, _) = get(&app, &jane_token, &format!("incidents/{pid}/")).await;
        assert_eq!(status, 200);
        let (status, _, _) = get(&app, &john_token, &format!("incidents/{pid}/")).await;
        assert_eq!(status, 404);
    }
    // Nor through a validator: John's If-None-Match with Jane's ETag gets his own answer.
    let (_, jane_etag, _) = get(&app, &jane_token, "incidents/").await;
    let r = client()
        .get(app.api("incidents/"))
        .bearer_auth(&john_token)
        .header(IF_NONE_MATCH, jane_etag.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Removed from the incident: Jane no longer sees it.
    let r = client()
        .put(app.api(&format!("incidents/{pid}/roles")))
        .bearer_auth(&admin)
        .json(&json!({"communication_lead": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, _, detail) = get(&app, &admin, &format!("incidents/{pid}/")).await;
    assert!(detail["roles"].get("communication_lead").is_none());
}

#[tokio::test]
async fn etags_answer_if_none_match_until_the_data_changes() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let v = app
        .declare(&token, "Checkout fails for every card payment", json!({}))
        .await;
    let id = v["id"].as_i64().unwrap();
    for path in [
        "incidents/".to_owned(),
        "incidents/?format=csv".to_owned(),
        "incidents/?page=1&page_size=10".to_owned(),
        format!("incidents/{id}/"),
    ] {
        let r = client()
            .get(app.api(&path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers().get("cache-control").unwrap(),
            "private, no-cache"
        );
        let etag = r.headers().get(ETAG).expect("an ETag").clone();
        let r = client()
            .get(app.api(&path))
            .bearer_auth(&token)
            .header(IF_NONE_MATCH, etag.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304, "{path}");
        assert_eq!(r.headers().get(ETAG), Some(&etag));
        assert!(r.bytes().await.unwrap().is_empty());
        // Without a token: refused before any cache.
        let r = client()
            .get(app.api(&path))
            .header(IF_NONE_MATCH, etag.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = client()
        .get(app.api("incidents/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let etag = r.headers().get(ETAG).unwrap().clone();
    let r = client()
        .post(app.api(&format!("incidents/{id}/updates")))
        .bearer_auth(&token)
        .json(&json!({"title": "Checkout fails for some card payments"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .get(app.api("incidents/"))
        .bearer_auth(&token)
        .header(IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(r.headers().get(ETAG), Some(&etag));
    let list: Value = r.json().await.unwrap();
    assert_eq!(titles(&list), ["Checkout fails for some card payments"]);
}

#[tokio::test]
async fn revoked_tokens_and_deactivated_owners_are_refused_at_once() {
    let app = spawn_app().await;
    let jane = app
        .user("jane@example.com", "correct horse battery", false)
        .await;
    let first = app.token(&jane, &[]).await;
    let second = app.token(&jane, &[]).await;
    // Twice each: the second answer is served again whole (the fast path).
    for token in [&first, &second, &first, &second] {
        assert_eq!(get(&app, token, "incidents/").await.0, 200);
    }
    // Revoked on another instance.
    let other = app.other_instance().await;
    let tokens = other.store().api_tokens(Some(jane.id)).await.unwrap();
    let prefix = &first[..8];
    let id = tokens.iter().find(|t| t.prefix == prefix).unwrap().id;
    assert!(
        other
            .store()
            .revoke_api_token(id, firefighter::core::store::now())
            .await
            .unwrap()
    );
    assert_eq!(get(&app, &first, "incidents/").await.0, 401);
    assert_eq!(get(&app, &second, "incidents/").await.0, 200);
    // Owner deactivated.
    let mut user = app.app.store().user(jane.id).await.unwrap().unwrap();
    user.is_active = false;
    app.app.store().update_user(&user).await.unwrap();
    assert_eq!(get(&app, &second, "incidents/").await.0, 401);
}
