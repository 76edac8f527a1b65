//! The incidents API: declare, dedup, retrieve, list filters, write
//! endpoints with the lifecycle's refusals, idempotency, visibility.

use serde_json::{Value, json};

use super::support::{client, spawn_app};

#[tokio::test]
async fn declare_then_read_back_the_original_representation() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let v = app
        .declare(
            &token,
            "Checkout fails for every card payment",
            json!({"tags": ["payments"]}),
        )
        .await;
    let id = v["id"].as_i64().unwrap();
    assert_eq!(v["status"], "Open");
    assert_eq!(v["priority"]["name"], "P3");
    assert_eq!(v["environment"]["value"], "PRD");
    assert!(v["incident_category"]["group"]["name"].is_string());
    assert_eq!(v["created_by"]["email"], "declarer@example.com");
    assert_eq!(v["roles"]["commander"]["email"], "declarer@example.com");
    assert_eq!(v["slack_channel_name"], "");
    assert_eq!(
        v["status_page_url"],
        format!("https://firefighter.example.com/incident/{id}/")
    );
    assert!(
        v["postmortem_url"].is_null()
            && v["jira_ticket_key"].is_null()
            && v["jira_ticket_url"].is_null()
    );
    assert_eq!(v["tags"], json!(["payments"]));
    assert_eq!(v["ignore"], false);
    // created_by_email made an account.
    assert!(
        app.app
            .store()
            .user_by_email("declarer@example.com")
            .await
            .unwrap()
            .is_some()
    );

    let r = client()
        .get(app.api(&format!("incidents/{id}/")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["title"], v["title"]);
    assert_eq!(
        got["tags"],
        json!(["payments"]),
        "retrieve always shows tags"
    );
    // Lists omit tags unless asked.
    let list: Value = client()
        .get(app.api("incidents/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list.is_array(), "a bare array, as the original");
    assert!(list[0].get("tags").is_none());
    let list: Value = client()
        .get(app.api("incidents/?show_tags=true"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["tags"], json!(["payments"]));
    // Without a trailing slash too.
    let r = client()
        .get(app.api(&format!("incidents/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn an_open_dedup_key_returns_the_existing_incident_without_side_effects() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let first = app
        .declare(
            &token,
            "Disk almost full on db-1",
            json!({"dedup_key": "disk-db-1"}),
        )
        .await;
    let id = first["id"].as_i64().unwrap();
    let events = app
        .app
        .store()
        .incident_events(firefighter::core::IncidentId(id))
        .await
        .unwrap()
        .len();
    let body = json!({
        "title": "Disk almost full on db-1 again",
        "incident_category_id": app.category(),
        "created_by_email": "declarer@example.com",
        "dedup_key": "disk-db-1",
    });
    let r = client()
        .post(app.api("incidents/"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], first["id"]);
    assert_eq!(app.incident_count().await, 1);
    assert_eq!(
        app.app
            .store()
            .incident_events(firefighter::core::IncidentId(id))
            .await
            .unwrap()
            .len(),
        events
    );
}

/// Posts a declaration; returns the status code and the JSON body.
async fn post_declaration(app: &super::support::TestApp, token: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(app.api("incidents/"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// The names of a JSON object's members, sorted: the shape of an answer.
fn shape(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_dedup_key_held_by_a_private_incident_is_as_good_as_free_for_who_cannot_see_it() {
    let app = spawn_app().await;
    let staff = app.admin_token().await;
    let alice = app
        .user("alice@example.com", "correct horse battery", false)
        .await;
    let bob = app
        .user("bob@example.com", "correct horse battery", false)
        .await;
    let carol = app
        .user("carol@example.com", "correct horse battery", false)
        .await;
    let (alice, bob, carol) = (
        app.token(&alice, &[]).await,
        app.token(&bob, &[]).await,
        app.token(&carol, &[]).await,
    );
    let body = |title: &str, key: &str| json!({"title": title, "incident_category_id": app.category(), "dedup_key": key});
    let mut secret = body("Payroll export sent salaries to a vendor", "siem:rule:7");
    secret["private"] = json!(true);
    let (status, held) = post_declaration(&app, &alice, secret).await;
    assert_eq!(status, 201, "{held}");
    let held_id = held["id"].as_i64().unwrap();

    // Bob may not see Alice's incident: his declaration is new, as with a free key.
    let (status, first) = post_declaration(
        &app,
        &bob,
        body("Security alert raised by the SIEM", "siem:rule:7"),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let bobs_id = first["id"].as_i64().unwrap();
    assert_ne!(bobs_id, held_id);
    assert!(!first.to_string().contains("Payroll"), "{first}");
    assert!(
        first.get("dedup_key").is_none(),
        "write-only, as the original's"
    );
    assert_eq!(first["created_by"]["email"], "bob@example.com");
    let (status, again) = post_declaration(
        &app,
        &bob,
        body("Security alert raised by the SIEM, again", "siem:rule:7"),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], bobs_id, "his repeat matches his own incident");

    // The same two posts with a key nobody holds answer the same way.
    let (free_status, free_first) = post_declaration(
        &app,
        &bob,
        body("Disk alert raised by the monitor", "disk:db-9"),
    )
    .await;
    let (free_again_status, free_again) = post_declaration(
        &app,
        &bob,
        body("Disk alert raised by the monitor", "disk:db-9"),
    )
    .await;
    assert_eq!((free_status, free_again_status), (201, 200));
    assert_eq!(shape(&first), shape(&free_first));
    assert_eq!(shape(&again), shape(&free_again));

    // Bob's incident is public: Carol matches it, as if Alice's did not exist.
    let (status, v) = post_declaration(
        &app,
        &carol,
        body("Security alert seen by Carol", "siem:rule:7"),
    )
    .await;
    assert_eq!((status, v["id"].as_i64()), (200, Some(bobs_id)), "{v}");
    // Who may see Alice's incident gets it.
    let (status, v) = post_declaration(
        &app,
        &staff,
        body("Security alert seen by staff", "siem:rule:7"),
    )
    .await;
    assert_eq!((status, v["id"].as_i64()), (200, Some(held_id)), "{v}");
    let (status, v) = post_declaration(
        &app,
        &alice,
        body("Security alert seen by Alice", "siem:rule:7"),
    )
    .await;
    assert_eq!((status, v["id"].as_i64()), (200, Some(held_id)), "{v}");

    let r = client()
        .get(app.api(&format!("incidents/{held_id}/")))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "still hidden from Bob");
    assert_eq!(app.incident_count().await, 3);
}

#[tokio::test]
async fn a_repeated_private_declaration_the_caller_cannot_see_is_refused_not_duplicated() {
    let app = spawn_app().await;
    let staff = app.admin_token().await;
    let bot = app
        .user("bot@example.com", "correct horse battery", false)
        .await;
    let bot = app.token(&bot, &[]).await;
    let carol = app
        .user("carol@example.com", "correct horse battery", false)
        .await;
    let carol = app.token(&carol, &[]).await;
    // Declared for Dana: private, so only Dana (and staff) may see it.
    let declaration = json!({
        "title": "Nightly backup of the HR database failed",
        "incident_category_id": app.category(),
        "created_by_email": "dana@example.com",
        "private": true,
        "dedup_key": "backup:hr",
    });
    let (status, first) = post_declaration(&app, &bot, declaration.clone()).await;
    assert_eq!(status, 201, "{first}");
    let id = first["id"].as_i64().unwrap();

    let (status, v) = post_declaration(&app, &bot, declaration.clone()).await;
    assert_eq!(status, 409, "{v}");
    assert!(
        v.to_string().contains("you declared for someone else"),
        "{v}"
    );
    assert!(!v.to_string().contains("HR database"), "{v}");
    assert_eq!(app.incident_count().await, 1, "no second incident");

    let dana = app
        .app
        .store()
        .user_by_email("dana@example.com")
        .await
        .unwrap()
        .unwrap();
    let dana = app.token(&dana, &[]).await;
    for token in [&dana, &staff] {
        let (status, v) = post_declaration(&app, token, declaration.clone()).await;
        assert_eq!((status, v["id"].as_i64()), (200, Some(id)), "{v}");
    }
    // Carol may not see it: for her the key is free.
    let (status, v) = post_declaration(&app, &carol, declaration.clone()).await;
    assert_eq!(status, 201, "{v}");
    assert_ne!(v["id"].as_i64(), Some(id));
}

#[tokio::test]
async fn lifecycle_through_the_write_endpoints_with_refusals() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let c = client();
    let v = app
        .declare(&token, "Search results are empty for all", json!({}))
        .await;
    let id = v["id"].as_i64().unwrap();
    let post = |path: String, body: Value| {
        let c = c.clone();
        let url = app.api(&path);
        let token = token.clone();
        async move {
            c.post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };

    // Closing before mitigation without a reason: 409 with every reason, nothing written.
    let r = post(format!("incidents/{id}/close"), json!({})).await;
    assert_eq!(r.status(), 409);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["type"], "client_error");
    let codes: Vec<&str> = err["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"CLOSURE_REASON_REQUIRED"), "{err}");
    assert!(err["errors"][0]["detail"].as_str().unwrap().len() > 10);

    let r = post(
        format!("incidents/{id}/status"),
        json!({"status": "investigating", "message": "Looking at the logs"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "Investigating");
    let r = post(format!("incidents/{id}/status"), json!({"status": 30})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "Mitigating");
    let r = post(
        format!("incidents/{id}/status"),
        json!({"status": "nonsense"}),
    )
    .await;
    assert_eq!(r.status(), 400);

    let r = post(
        format!("incidents/{id}/updates"),
        json!({"message": "Rolled back the deploy", "priority_id": app.priority("P2")}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["priority"]["name"], "P2");

    let r = c
        .put(app.api(&format!("incidents/{id}/roles")))
        .bearer_auth(&token)
        .json(&json!({"communication_lead": "admin@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["roles"]["communication_lead"]["email"],
        "admin@example.com"
    );
    let r = c
        .put(app.api(&format!("incidents/{id}/roles")))
        .bearer_auth(&token)
        .json(&json!({"commander": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the commander cannot be left empty");

    let started = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    let detected = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let r = c
        .put(app.api(&format!("incidents/{id}/key_events")))
        .bearer_auth(&token)
        .json(&json!({"started": started, "detected": detected}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let ttd = &v["metrics"]["time_to_detect"];
    assert_eq!(ttd["duration"], "01:00:00", "{v}");
    assert_eq!(ttd["duration_seconds"], 3600.0);

    let cost_type = app.catalog.cost_types[0].id.to_string();
    let r = post(
        format!("incidents/{id}/costs"),
        json!({"cost_type_id": cost_type, "amount": "1250.50", "details": "refunds"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let cost: Value = r.json().await.unwrap();
    assert_eq!(cost["amount"], "1250.50");
    let v: Value = c
        .get(app.api(&format!("incidents/{id}/")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let name = app.catalog.cost_types[0].name.clone();
    assert_eq!(v["costs"][name.as_str()]["amount"], "1250.50");

    let r = post(
        format!("incidents/{id}/status"),
        json!({"status": "mitigated", "message": "Fixed"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = post(
        format!("incidents/{id}/close"),
        json!({"message": "All good"}),
    )
    .await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert!(status == 200 || status == 409, "{v}");
    if status == 409 {
        // A P2 in production needs its post-mortem first: the lifecycle says so.
        assert!(
            v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["code"] == "MUST_PASS_POST_MORTEM"),
            "{v}"
        );
    } else {
        assert_eq!(v["status"], "Closed");
    }
}

#[tokio::test]
async fn idempotency_key_replays_or_refuses() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let c = client();
    let body =
        json!({"title": "Payments are slow to confirm", "incident_category_id": app.category()});
    let send = |b: Value, key: &'static str| {
        let c = c.clone();
        let url = app.api("incidents");
        let token = token.clone();
        async move {
            c.post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&b)
                .send()
                .await
                .unwrap()
        }
    };
    let r1 = send(body.clone(), "k-1").await;
    assert_eq!(r1.status(), 201);
    let v1: Value = r1.json().await.unwrap();
    let r2 = send(body.clone(), "k-1").await;
    assert_eq!(r2.status(), 201);
    assert_eq!(r2.headers()["idempotent-replayed"], "true");
    let v2: Value = r2.json().await.unwrap();
    assert_eq!(v1, v2);
    assert_eq!(app.incident_count().await, 1);
    let r3 = send(
        json!({"title": "Something else entirely happens", "incident_category_id": app.category()}),
        "k-1",
    )
    .await;
    assert_eq!(r3.status(), 422);
    assert_eq!(app.incident_count().await, 1);
    // Another key is another request.
    assert_eq!(send(body, "k-2").await.status(), 201);
    assert_eq!(app.incident_count().await, 2);
}

/// The server applied a request and died before storing its answer: the
/// key row is left without a response. While the instance may be alive the
/// retry is told the key is in use; once it is presumed dead the retry takes
/// the key over and gets what was applied, without applying it twice.
#[tokio::test]
async fn a_retry_after_the_server_died_mid_request_gets_what_was_applied() {
    use firefighter::core::store::DatabasePool;
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let c = client();
    let send = |url: String, body: Value| {
        let (c, token) = (c.clone(), token.clone());
        async move {
            c.post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "retry-after-crash")
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let declared =
        json!({"title": "Payments are slow to confirm", "incident_category_id": app.category()});
    let first = send(app.api("incidents"), declared.clone()).await;
    assert_eq!(first.status(), 201);
    let id = first.json::<Value>().await.unwrap()["id"].as_i64().unwrap();

    // As the crash leaves it: applied, no answer stored, owned by an instance that beat 5 s ago.
    let Some(DatabasePool::Sqlite(pool)) = app.app.store().database() else {
        panic!("the test server runs on SQLite");
    };
    let now = chrono::Utc::now();
    let store = app.app.store();
    store
        .instance_alive("instance-killed", now, now - chrono::Duration::seconds(5))
        .await
        .unwrap();
    // The key's row as the crash leaves it: no answer, owned by the dead instance.
    let lose_the_answer = |key: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "UPDATE idempotency_keys SET response_status = NULL, response_type = NULL, response_body = NULL, \
                 owner = 'instance-killed', lease_until = $1 WHERE idem_key = $2",
            )
            .bind(now + chrono::Duration::minutes(1))
            .bind(key)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    lose_the_answer("retry-after-crash").await;
    let in_use = send(app.api("incidents"), declared.clone()).await;
    assert_eq!(in_use.status(), 409);
    assert!(
        in_use
            .text()
            .await
            .unwrap()
            .contains("idempotency_key_in_use")
    );

    // 20 s of silence: presumed dead. The retry gets the incident, and no second one exists.
    store
        .instance_alive("instance-killed", now, now - chrono::Duration::seconds(25))
        .await
        .unwrap();
    let retried = send(app.api("incidents"), declared.clone()).await;
    assert!(retried.status().is_success(), "{}", retried.status());
    assert_eq!(
        retried.json::<Value>().await.unwrap()["id"].as_i64(),
        Some(id)
    );
    assert_eq!(app.incident_count().await, 1);
    // The answer is stored now: the next retry replays it.
    let replayed = send(app.api("incidents"), declared).await;
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");

    // The same for a status change: applied once, whatever the retries.
    let status = json!({"status": "investigating", "message": "Looking at the payment gateway"});
    let url = app.api(&format!("incidents/{id}/status"));
    let c2 = client();
    let change = |key: &'static str| {
        let (c, token, url, status) = (c2.clone(), token.clone(), url.clone(), status.clone());
        async move {
            c.post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&status)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(change("status-after-crash").await.status(), 200);
    let timeline = app
        .app
        .timeline(firefighter::core::IncidentId(id))
        .await
        .unwrap()
        .len();
    lose_the_answer("status-after-crash").await;
    let retried = change("status-after-crash").await;
    assert_eq!(retried.status(), 200);
    assert_eq!(
        retried.json::<Value>().await.unwrap()["status"],
        "Investigating"
    );
    assert_eq!(
        app.app
            .timeline(firefighter::core::IncidentId(id))
            .await
            .unwrap()
            .len(),
        timeline,
        "the status change was not applied a second time"
    );

    // And a cost: recorded once.
    let cost_type = app.app.catalog().await.unwrap().cost_types[0].id.0;
    let cost = json!({"cost_type_id": cost_type, "amount": "120.00", "details": "Refunds"});
    let url = app.api(&format!("incidents/{id}/costs"));
    let add = || {
        let (c, token, url, cost) = (c2.clone(), token.clone(), url.clone(), cost.clone());
        async move {
            c.post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "cost-after-crash")
                .json(&cost)
                .send()
                .await
                .unwrap()
        }
    };
    let first = add().await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    lose_the_answer("cost-after-crash").await;
    let again = add().await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.json::<Value>().await.unwrap()["id"], first["id"]);
    let costs = app
        .app
        .incident_details(firefighter::core::IncidentId(id))
        .await
        .unwrap()
        .costs;
    assert_eq!(costs.len(), 1, "the cost was not added a second time");

    // PUT and PATCH are under the key as well: key events, then a post-mortem edit.
    let iid = firefighter::core::IncidentId(id);
    let send_as = |method: reqwest::Method, path: String, body: Value, key: &'static str| {
        let (c, token, url) = (c2.clone(), token.clone(), app.api(&path));
        async move {
            c.request(method, url)
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let started = chrono::Utc::now() - chrono::Duration::hours(1);
    let key_events =
        json!({"started": started, "detected": started + chrono::Duration::minutes(5)});
    let put = || {
        send_as(
            reqwest::Method::PUT,
            format!("incidents/{id}/key_events"),
            key_events.clone(),
            "key-events-after-crash",
        )
    };
    assert_eq!(put().await.status(), 200);
    let replayed = put().await;
    assert_eq!(replayed.status(), 200);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    let timeline = app.app.timeline(iid).await.unwrap().len();
    lose_the_answer("key-events-after-crash").await;
    let retried = put().await;
    assert_eq!(
        retried.status(),
        200,
        "a retry after a lost answer is told what was applied: {}",
        retried.text().await.unwrap()
    );
    assert_eq!(app.app.timeline(iid).await.unwrap().len(), timeline);

    let mitigated = firefighter::core::Update {
        status: Some(firefighter::core::Status::Mitigated),
        ..Default::default()
    };
    app.app.update(iid, mitigated).await.unwrap();
    app.app.create_postmortem(iid, None).await.unwrap();
    let due = (chrono::Utc::now() + chrono::Duration::days(7))
        .format("%Y-%m-%d")
        .to_string();
    let edit = json!({
        "impact": "Card payments failed for an hour",
        "add_action": {"description": "Alert on certificate expiry", "owner": "payments", "due_on": due},
        "ready": true,
    });
    let patch = || {
        send_as(
            reqwest::Method::PATCH,
            format!("incidents/{id}/postmortem"),
            edit.clone(),
            "postmortem-after-crash",
        )
    };
    assert_eq!(patch().await.status(), 200);
    let timeline = app.app.timeline(iid).await.unwrap().len();
    lose_the_answer("postmortem-after-crash").await;
    let retried = patch().await;
    assert_eq!(retried.status(), 200, "{}", retried.text().await.unwrap());
    let report = app.app.postmortem_report(iid).await.unwrap();
    assert_eq!(report.actions.len(), 1, "the action was not added twice");
    assert!(report.document.ready);
    assert_eq!(app.app.timeline(iid).await.unwrap().len(), timeline);
}

#[tokio::test]
async fn private_incidents_are_shown_to_members_staff_and_the_right_tokens_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let jane = app
        .user("jane@example.com", "correct horse battery", false)
        .await;
    let jane_token = app.token(&jane, &[]).await;
    let public = app
        .declare(&admin, "A public incident for everyone", json!({}))
        .await;
    let private = app
        .declare(
            &admin,
            "A private incident for members",
            json!({"private": true}),
        )
        .await;
    let pid = private["id"].as_i64().unwrap();
    let c = client();

    let ids = |v: Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    let list: Value = c
        .get(app.api("incidents/"))
        .bearer_auth(&jane_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids(list), vec![public["id"].as_i64().unwrap()]);
    let r = c
        .get(app.api(&format!("incidents/{pid}/")))
        .bearer_auth(&jane_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let csv = c
        .get(app.api("incidents/?format=csv"))
        .bearer_auth(&jane_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!csv.contains("A private incident"));
    let r = c
        .post(app.api(&format!("incidents/{pid}/updates")))
        .bearer_auth(&jane_token)
        .json(&json!({"message": "peeking"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Staff tokens with incidents:read_private see it; so does a member.
    let list: Value = c
        .get(app.api("incidents/"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids(list).len(), 2);
    let r = c
        .put(app.api(&format!("incidents/{pid}/roles")))
        .bearer_auth(&admin)
        .json(&json!({"communication_lead": "jane@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(app.api(&format!("incidents/{pid}/")))
        .bearer_auth(&jane_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn list_filters() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let a = app
        .declare(&token, "Alpha outage in the checkout", json!({}))
        .await;
    let b = app
        .declare(
            &token,
            "Beta slowness in the search",
            json!({"priority_id": app.priority("P1"), "environment_id": app.environment("STG")}),
        )
        .await;
    let bid = b["id"].as_i64().unwrap();
    let c = client();
    client()
        .post(app.api(&format!("incidents/{bid}/status")))
        .bearer_auth(&token)
        .json(&json!({"status": "investigating"}))
        .send()
        .await
        .unwrap();
    let get = |q: String| {
        let c = c.clone();
        let url = app.api(&format!("incidents/?{q}"));
        let token = token.clone();
        async move {
            let r = c.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200, "{q}");
            let v: Value = r.json().await.unwrap();
            v.as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    let aid = a["id"].as_i64().unwrap();
    assert_eq!(get("status=10".into()).await, vec![aid]);
    assert_eq!(
        get("status=10&status=20&order_by=id".into()).await,
        vec![aid, bid]
    );
    assert_eq!(get("_status__gte=20".into()).await, vec![bid]);
    assert_eq!(get("_status__lt=20".into()).await, vec![aid]);
    assert_eq!(get("_status__gt=60".into()).await, Vec::<i64>::new());
    assert_eq!(
        get(format!("priority={}", app.priority("P1"))).await,
        vec![bid]
    );
    assert_eq!(get("environment__value=STG".into()).await, vec![bid]);
    assert_eq!(
        get("environment__value__in=PRD,INT".into()).await,
        vec![aid]
    );
    assert_eq!(
        get(format!("environment={}", app.environment("PRD"))).await,
        vec![aid]
    );
    assert_eq!(get("search=checkout".into()).await, vec![aid]);
    assert_eq!(get(format!("search=%23{bid}")).await, vec![bid]);
    assert_eq!(
        get(format!("id__in={aid},{bid}&order_by=-id")).await,
        vec![bid, aid]
    );
    assert_eq!(get(format!("id={aid}")).await, vec![aid]);
    assert_eq!(get(format!("id__gt={aid}")).await, vec![bid]);
    assert_eq!(get("order_by=priority".into()).await, vec![bid, aid]);
    assert_eq!(get("order_by=title".into()).await, vec![aid, bid]);
    assert_eq!(get("order_by=-title".into()).await, vec![bid, aid]);
    assert_eq!(
        get("created_at=today&order_by=id".into()).await,
        vec![aid, bid]
    );
    assert_eq!(
        get("created_at=current_week&order_by=id".into())
            .await
            .len(),
        2
    );
    assert_eq!(get("created_at=last_year".into()).await, Vec::<i64>::new());
    assert_eq!(get("created_at=2020/Q1".into()).await, Vec::<i64>::new());
    assert_eq!(
        get("created_at=2020-01-01 - 2020-02-01".into()).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        get("created_at__gte=2020-01-01T00:00:00Z&order_by=id".into()).await,
        vec![aid, bid]
    );
    assert_eq!(
        get("created_at__lt=2020-01-01".into()).await,
        Vec::<i64>::new()
    );
    assert_eq!(get("ignore=false&order_by=id".into()).await, vec![aid, bid]);
    assert_eq!(
        get(format!("group={}", app.catalog.categories[0].group_id))
            .await
            .len(),
        2
    );
    let declarer = app
        .app
        .store()
        .user_by_email("declarer@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get(format!("created_by={}", declarer.id)).await.len(), 2);
    assert_eq!(get("unknown_parameter=1".into()).await.len(), 2);
}

#[tokio::test]
async fn opt_in_pagination() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for i in 0..5 {
        app.declare(&token, &format!("Incident number {i} of five"), json!({}))
            .await;
    }
    let c = client();
    let v: Value = c
        .get(app.api("incidents/?page=2&page_size=2&order_by=id"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["count"], 5);
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    assert_eq!(v["results"][0]["id"], 3);
    assert!(v["next"].as_str().unwrap().contains("page=3"));
    assert!(v["previous"].as_str().unwrap().contains("page=1"));
    let v: Value = c
        .get(app.api("incidents/?limit=2&offset=4&order_by=id"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["results"][0]["id"], 5);
    assert!(v["next"].is_null());
    let r = c
        .get(app.api("incidents/?format=csv&page=1&page_size=2"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "5");
    assert_eq!(r.text().await.unwrap().lines().count(), 3);
}

#[tokio::test]
async fn order_by_takes_several_keys() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let mut ids = Vec::new();
    for (title, priority) in [
        ("Alpha outage in the checkout", "P3"),
        ("Beta slowness in the search", "P1"),
        ("Zulu errors in the basket", "P3"),
    ] {
        let v = app
            .declare(
                &token,
                title,
                json!({"priority_id": app.priority(priority)}),
            )
            .await;
        ids.push(v["id"].as_i64().unwrap());
    }
    let (alpha, beta, zulu) = (ids[0], ids[1], ids[2]);
    let get = |q: &str| {
        let url = app.api(&format!("incidents/?{q}"));
        let token = token.clone();
        async move {
            let r = client().get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            v.as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    // The second key orders what the first leaves level.
    assert_eq!(
        get("order_by=priority,title").await,
        vec![beta, alpha, zulu]
    );
    assert_eq!(
        get("order_by=priority,-title").await,
        vec![beta, zulu, alpha]
    );
    assert_eq!(
        get("order_by=-priority,title").await,
        vec![alpha, zulu, beta]
    );
    // An unknown key is refused, naming it.
    let r = client()
        .get(app.api("incidents/?order_by=priority,colour"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("colour"));
}
