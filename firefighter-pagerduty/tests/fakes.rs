//! Behaviour against a wiremock fake of PagerDuty: pagination, rate limits,
//! failing syncs, exactly-once paging, errors, invitations, routes, core's on-call capability.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use common::*;
use firefighter_core::invite::{InviteContext, InviteProvider};
use firefighter_core::plugin::Caller;
use firefighter_core::plugin::PluginContext;
use firefighter_pagerduty::provider::OncallInviteProvider;
use firefighter_pagerduty::{Error, PageOutcome, PageRequest, PageStatus};
use serde_json::json;
use tower::ServiceExt;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn mount_oncalls(server: &MockServer, pages: &[Vec<serde_json::Value>], limit: usize) {
    for (i, items) in pages.iter().enumerate() {
        Mock::given(method("GET"))
            .and(path("/oncalls"))
            .and(query_param("offset", (i * limit).to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_json(page(
                "oncalls",
                items.clone(),
                i * limit,
                limit,
                i + 1 < pages.len(),
            )))
            .mount(server)
            .await;
    }
}

async fn synced_roster(app: &firefighter_core::Firefighter, server: &MockServer) {
    mount_oncalls(
        server,
        &[
            vec![
                oncall("PA", 1, "UANN", &["SVC1"]),
                oncall("PA", 2, "UBOB", &["SVC1"]),
            ],
            vec![
                oncall("PB", 1, "UCID", &["SVC2"]),
                oncall("PIGN", 1, "UDAN", &["SVCIGN"]),
            ],
        ],
        2,
    )
    .await;
    pagerduty(app, &server.uri())
        .with_page_limit(2)
        .sync_oncalls()
        .await
        .unwrap();
}

#[tokio::test]
async fn oncall_sync_reads_every_page_and_links_people_by_email() {
    let app = app().await;
    let existing = user(&app, "uann@example.com").await;
    let server = MockServer::start().await;
    mount_oncalls(
        &server,
        &[
            vec![
                oncall("PA", 1, "UANN", &["SVC1"]),
                oncall("PA", 2, "UBOB", &["SVC1"]),
            ],
            vec![
                oncall("PB", 1, "UCID", &["SVC2"]),
                oncall("PB", 1, "UCID", &["SVC2"]),
            ],
            vec![oncall("PC", 1, "UDAN", &["SVC3"])],
        ],
        2,
    )
    .await;
    let pd = pagerduty(&app, &server.uri()).with_page_limit(2);
    let report = pd.sync_oncalls().await.unwrap();
    assert_eq!(report.fetched, 5);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3, "three pages");
    let first = &requests[0];
    assert_eq!(first.headers["authorization"], "Token token=test-key");
    assert_eq!(
        first.headers["accept"],
        "application/vnd.pagerduty+json;version=2"
    );
    assert_eq!(first.headers["from"], "oncall@example.com");
    assert!(first.url.query().unwrap().contains("include%5B%5D=users"));

    let roster = firefighter_pagerduty::roster(&app).await.unwrap();
    assert!(roster.synced_at.is_some());
    let names: Vec<_> = roster.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Policy PA", "Policy PB", "Policy PC"]);
    assert_eq!(roster.policies[0].levels.len(), 2);
    assert_eq!(roster.policies[1].levels[0].people.len(), 1, "listed once");
    // Matched by e-mail: the existing account, now linked; others created as FireFighter did.
    let ann = &roster.policies[0].levels[0].people[0];
    assert_eq!(ann.user_id, Some(existing.id));
    let linked = app.store().user(existing.id).await.unwrap().unwrap();
    assert_eq!(linked.identity("pagerduty"), Some("UANN"));
    let bob = app
        .store()
        .user_by_email("ubob@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob.identity("pagerduty"), Some("UBOB"));
    assert_eq!(bob.name, "Person UBOB");
}

#[tokio::test]
async fn a_sync_that_fails_halfway_leaves_the_previous_roster_intact() {
    let app = app().await;
    let server = MockServer::start().await;
    synced_roster(&app, &server).await;
    let before = firefighter_pagerduty::roster(&app).await.unwrap();
    assert_eq!(before.policies.len(), 3);

    // Next sync: page 1 is a different roster, page 2 keeps failing.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/oncalls"))
        .and(query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "oncalls",
            vec![
                oncall("PZ", 1, "UZED", &["SVCZ"]),
                oncall("PZ", 2, "UYAN", &["SVCZ"]),
            ],
            0,
            2,
            true,
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/oncalls"))
        .and(query_param("offset", "2"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    let err = pagerduty(&app, &server.uri())
        .with_page_limit(2)
        .sync_oncalls()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api { status: 503, .. }), "{err}");
    let after = firefighter_pagerduty::roster(&app).await.unwrap();
    assert_eq!(after.policies, before.policies);
    assert_eq!(after.synced_at, before.synced_at);
}

#[tokio::test]
async fn rate_limit_then_success_waits_as_told() {
    let app = app().await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/services"))
        .respond_with(ResponseTemplate::new(429).insert_header("ratelimit-reset", "0.4"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/services"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "services",
            vec![service("SVC1", "PA"), service("SVC2", "PB")],
            0,
            100,
            false,
        )))
        .mount(&server)
        .await;
    let started = Instant::now();
    let report = pagerduty(&app, &server.uri())
        .sync_services()
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.fetched, 2);
    let services = firefighter_pagerduty::services(&app, false).await.unwrap();
    assert_eq!(services.len(), 2);
    assert_eq!(services[0].escalation_policy, None, "policy not synced yet");
}

#[tokio::test]
async fn a_rate_limit_longer_than_allowed_gives_up_with_a_clear_error() {
    let app = app().await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/services"))
        .respond_with(ResponseTemplate::new(429).insert_header("ratelimit-reset", "120"))
        .expect(1)
        .mount(&server)
        .await;
    let err = pagerduty(&app, &server.uri())
        .sync_services()
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert!(err.to_string().contains("rate limit"), "{err}");
}

#[tokio::test]
async fn the_ignore_flag_survives_service_syncs() {
    let app = app().await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/services"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "services",
            vec![service("SVC1", "PA"), service("SVC2", "PB")],
            0,
            100,
            false,
        )))
        .mount(&server)
        .await;
    let pd = pagerduty(&app, &server.uri());
    pd.sync_services().await.unwrap();
    firefighter_pagerduty::set_service_ignored(&app, "SVC2", true)
        .await
        .unwrap();
    pd.sync_services().await.unwrap();
    let visible = firefighter_pagerduty::services(&app, false).await.unwrap();
    assert_eq!(
        visible.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["SVC1"]
    );
    assert!(matches!(
        firefighter_pagerduty::set_service_ignored(&app, "NOPE", true).await,
        Err(Error::UnknownService(_))
    ));
}

#[tokio::test]
async fn user_sync_reads_phones_and_teams_across_pages() {
    let app = app().await;
    let server = MockServer::start().await;
    let users = [
        pd_user("U1", "one@example.com", Some(("612345678", 33)), &["T1"]),
        pd_user("U2", "two@example.com", None, &["T1", "T2"]),
        pd_user("U3", "not-an-email", None, &[]),
    ];
    for (i, chunk) in users.chunks(2).enumerate() {
        Mock::given(method("GET"))
            .and(path("/users"))
            .and(query_param("include[]", "contact_methods"))
            .and(query_param("offset", (i * 2).to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_json(page(
                "users",
                chunk.to_vec(),
                i * 2,
                2,
                i == 0,
            )))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/teams"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "teams",
            vec![json!({"id": "T1", "name": "Platform", "description": "The platform team"})],
            0,
            2,
            false,
        )))
        .mount(&server)
        .await;
    let report = pagerduty(&app, &server.uri())
        .with_page_limit(2)
        .sync_users()
        .await
        .unwrap();
    assert_eq!(report.fetched, 3);
    assert!(
        report
            .summary
            .contains("3 users (1 with a phone number, 2 linked), 2 teams"),
        "{}",
        report.summary
    );
    // The phone shows on the roster once the person is on call.
    mount_oncalls(&server, &[vec![oncall("PA", 1, "U1", &["SVC1"])]], 2).await;
    pagerduty(&app, &server.uri())
        .with_page_limit(2)
        .sync_oncalls()
        .await
        .unwrap();
    let roster = firefighter_pagerduty::roster(&app).await.unwrap();
    assert_eq!(
        roster.policies[0].levels[0].people[0].phone.as_deref(),
        Some("+33612345678")
    );
}

#[tokio::test]
async fn pagination_stops_at_the_ten_thousand_record_cap() {
    let app = app().await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/teams"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "teams",
            vec![json!({"id": "T", "name": "T"}); 100],
            0,
            100,
            true,
        )))
        .expect(100)
        .mount(&server)
        .await;
    let err = pagerduty(&app, &server.uri())
        .rest()
        .teams()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooManyRecords("teams")), "{err}");
}

// ------------------------------------------------------------------ paging

async fn paging_fixture() -> (
    firefighter_core::Firefighter,
    MockServer,
    firefighter_core::User,
) {
    let app = app().await;
    let server = MockServer::start().await;
    synced_roster(&app, &server).await;
    server.reset().await;
    firefighter_pagerduty::set_service_ignored(&app, "SVCIGN", true)
        .await
        .unwrap();
    let jane = user(&app, "jane@example.com").await;
    (app, server, jane)
}

#[tokio::test]
async fn an_incident_pages_a_service_exactly_once() {
    let (app, server, jane) = paging_fixture().await;
    let incident = incident(&app, &jane, false).await;
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .and(header("from", "oncall@example.com"))
        .and(body_partial_json(json!({"incident": {
            "type": "incident", "urgency": "high",
            "service": {"id": "SVC1", "type": "service_reference"},
        }})))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(created_incident("PDI1", "k", "SVC1")),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/incidents/PDI1/notes"))
        .and(header("from", "oncall@example.com"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"note": {"id": "N1"}})))
        .expect(1)
        .mount(&server)
        .await;
    let pd = pagerduty(&app, &server.uri());
    let request = PageRequest {
        service_id: "SVC1".into(),
        incident_id: Some(incident),
        summary: "Checkout is down".into(),
        details: "All card payments fail".into(),
        requested_by: Some(jane.id),
        request_id: None,
    };
    let first = pd.trigger_oncall(&app, request.clone()).await.unwrap();
    let PageOutcome::Sent { page } = &first else {
        panic!("{first:?}")
    };
    assert_eq!(
        page.pagerduty_url.as_deref(),
        Some("https://acme.pagerduty.com/incidents/PDI1")
    );
    assert!(
        page.key.ends_with(&format!("-{}-svc1", incident.0)),
        "{}",
        page.key
    );
    // Submitted again (double click, another person, a retry): nothing sent.
    let second = pd.trigger_oncall(&app, request.clone()).await.unwrap();
    assert!(
        matches!(second, PageOutcome::AlreadyPaged { .. }),
        "{second:?}"
    );
    assert!(second.message().contains("already paged"));
    // The details carry the incident's context, in a note on the PagerDuty incident.
    let received = server.received_requests().await.unwrap();
    let body: serde_json::Value = received[0].body_json().unwrap();
    let note: serde_json::Value = received[1].body_json().unwrap();
    let details = note["note"]["content"].as_str().unwrap();
    for part in [
        "Triggered from FireFighter incident #",
        "Priority: ",
        "Environment: ",
        "Category: ",
        "Incident page: https://ff.example.com/incident/",
        "Payments return 502 since 10:02",
        "All card payments fail",
    ] {
        assert!(details.contains(part), "{part} missing from {details}");
    }
    assert_eq!(
        body["incident"]["conference_bridge"]["conference_url"],
        format!("https://ff.example.com/incident/{}/", incident.0)
    );
    // One timeline entry, and the service is no longer offered.
    let timeline = app.timeline(incident).await.unwrap();
    let pages: Vec<_> = timeline
        .iter()
        .filter(|e| e.event_type.as_deref() == Some("trigger_oncall"))
        .collect();
    assert_eq!(pages.len(), 1);
    assert!(pages[0].message.as_deref().unwrap().contains("PDI1"));
    let left = firefighter_pagerduty::services_not_yet_paged(&app, incident)
        .await
        .unwrap();
    assert_eq!(
        left.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["SVC2"]
    );
}

#[tokio::test]
async fn concurrent_submissions_page_once() {
    let (app, server, jane) = paging_fixture().await;
    let incident = incident(&app, &jane, false).await;
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(created_incident("PDI1", "k", "SVC1"))
                .set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let pd = pagerduty(&app, &server.uri());
    let request = PageRequest {
        service_id: "SVC1".into(),
        incident_id: Some(incident),
        summary: "Checkout is down".into(),
        ..PageRequest::default()
    };
    let (a, b) = tokio::join!(
        pd.trigger_oncall(&app, request.clone()),
        pd.trigger_oncall(&app, request.clone())
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, PageOutcome::Sent { .. }))
            .count(),
        1,
        "{outcomes:?}"
    );
}

/// `kill -9` while a page was being sent: its lease (90 s) belongs to a dead
/// instance. It goes out as soon as that instance's heartbeat has been
/// silent 20 s, not when the lease ends; not while the instance may be alive.
#[tokio::test]
async fn a_page_a_crashed_instance_was_sending_goes_out_without_waiting_for_its_lease() {
    use firefighter_core::store::DatabasePool;
    let (app, server, jane) = paging_fixture().await;
    let incident = incident(&app, &jane, false).await;
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    let pd = pagerduty(&app, &server.uri());
    let request = PageRequest {
        service_id: "SVC2".into(),
        incident_id: Some(incident),
        summary: "Search is slow".into(),
        ..PageRequest::default()
    };
    let outcome = pd.trigger_oncall(&app, request.clone()).await.unwrap();
    assert!(matches!(outcome, PageOutcome::Queued { .. }), "{outcome:?}");
    // As the crash leaves it: due now, leased for 90 s to an instance that beat 2 s ago.
    let Some(DatabasePool::Sqlite(pool)) = app.store().database() else {
        panic!("the test app runs on SQLite");
    };
    let now = Utc::now();
    app.store()
        .instance_alive("instance-killed", now, now - chrono::Duration::seconds(2))
        .await
        .unwrap();
    sqlx::query(
        "UPDATE pd_pages SET next_attempt_at = $1, lease_until = $2, lease_owner = 'instance-killed'",
    )
    .bind(now - chrono::Duration::seconds(1))
    .bind(now + chrono::Duration::seconds(90))
    .execute(&pool)
    .await
    .unwrap();
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(created_incident("PDI9", "k", "SVC2")),
        )
        .expect(1)
        .mount(&server)
        .await;
    // It may still be sending it: nothing is sent twice.
    let report = pd.deliver_due(&app, now).await.unwrap();
    assert_eq!(report.sent, 0, "{report}");
    let again = pd.trigger_oncall(&app, request).await.unwrap();
    assert!(
        again.message().contains("being paged"),
        "{}",
        again.message()
    );
    // Silent for 25 s: presumed dead; the page goes out once.
    app.store()
        .instance_alive("instance-killed", now, now - chrono::Duration::seconds(25))
        .await
        .unwrap();
    let report = pd.deliver_due(&app, now).await.unwrap();
    assert_eq!((report.sent, report.failed), (1, 0), "{report}");
    assert_eq!(pd.deliver_due(&app, now).await.unwrap().sent, 0);
    let pages = firefighter_pagerduty::pages(&app, incident).await.unwrap();
    assert_eq!(pages[0].status, PageStatus::Sent);
}

#[tokio::test]
async fn a_page_pagerduty_cannot_take_is_queued_and_sent_once_later() {
    let (app, server, jane) = paging_fixture().await;
    let incident = incident(&app, &jane, false).await;
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    let pd = pagerduty(&app, &server.uri());
    let request = PageRequest {
        service_id: "SVC2".into(),
        incident_id: Some(incident),
        summary: "Search is slow".into(),
        ..PageRequest::default()
    };
    let outcome = pd.trigger_oncall(&app, request.clone()).await.unwrap();
    let PageOutcome::Queued { page, reason } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(page.status, PageStatus::Pending);
    assert!(reason.contains("502"), "{reason}");
    assert!(outcome.message().contains("sent automatically"));
    // Not offered again while pending; submitting again does not send twice either.
    assert!(
        !firefighter_pagerduty::services_not_yet_paged(&app, incident)
            .await
            .unwrap()
            .iter()
            .any(|s| s.id == "SVC2")
    );
    // PagerDuty is back: the task sends it, once, and records it.
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(created_incident("PDI9", "k", "SVC2")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let later = Utc::now() + chrono::Duration::hours(1);
    let report = pd.deliver_due(&app, later).await.unwrap();
    assert_eq!(
        (report.sent, report.retrying, report.failed),
        (1, 0, 0),
        "{report}"
    );
    let again = pd.deliver_due(&app, later).await.unwrap();
    assert_eq!(again.sent, 0);
    let pages = firefighter_pagerduty::pages(&app, incident).await.unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].status, PageStatus::Sent);
    let resubmitted = pd.trigger_oncall(&app, request).await.unwrap();
    assert!(matches!(resubmitted, PageOutcome::AlreadyPaged { .. }));
    let recorded = app
        .timeline(incident)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type.as_deref() == Some("trigger_oncall"))
        .count();
    assert_eq!(recorded, 1);
}

#[tokio::test]
async fn a_lost_answer_is_recovered_from_pagerduty_instead_of_paging_twice() {
    let (app, server, jane) = paging_fixture().await;
    let incident = incident(&app, &jane, false).await;
    // PagerDuty created it on an earlier attempt: it now refuses the key.
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "Invalid Input Provided", "code": 2001,
            "errors": ["Open incident with matching dedup key already exists on this service"]}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/incidents"))
        .and(query_param("service_ids[]", "SVC1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "incidents": [created_incident("PDI7", "", "SVC1")["incident"]],
            "limit": 25, "offset": 0, "more": false})))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = pagerduty(&app, &server.uri())
        .trigger_oncall(
            &app,
            PageRequest {
                service_id: "SVC1".into(),
                incident_id: Some(incident),
                summary: "Checkout is down".into(),
                ..PageRequest::default()
            },
        )
        .await
        .unwrap();
    let PageOutcome::Sent { page } = outcome else {
        panic!()
    };
    assert_eq!(
        page.pagerduty_url.as_deref(),
        Some("https://acme.pagerduty.com/incidents/PDI7")
    );
}

#[tokio::test]
async fn a_form_submitted_twice_without_incident_pages_once() {
    let (app, server, jane) = paging_fixture().await;
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(created_incident("PDI2", "k", "SVC1")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let pd = pagerduty(&app, &server.uri());
    let request = PageRequest {
        service_id: "SVC1".into(),
        summary: "Nightly export is stuck".into(),
        details: "Since 02:00".into(),
        requested_by: Some(jane.id),
        request_id: Some("form-token-1".into()),
        ..PageRequest::default()
    };
    assert!(matches!(
        pd.trigger_oncall(&app, request.clone()).await.unwrap(),
        PageOutcome::Sent { .. }
    ));
    assert!(matches!(
        pd.trigger_oncall(&app, request).await.unwrap(),
        PageOutcome::AlreadyPaged { .. }
    ));
}

#[tokio::test]
async fn bad_requests_are_refused_and_nothing_is_written() {
    let (app, server, jane) = paging_fixture().await;
    let incident = incident(&app, &jane, false).await;
    let pd = pagerduty(&app, &server.uri());
    let base = PageRequest {
        service_id: "SVC1".into(),
        incident_id: Some(incident),
        summary: "Checkout is down".into(),
        ..PageRequest::default()
    };
    let unknown = pd
        .trigger_oncall(
            &app,
            PageRequest {
                service_id: "NOPE".into(),
                ..base.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(unknown, Error::UnknownService(_)), "{unknown}");
    assert!(unknown.to_string().contains("NOPE"));
    let ignored = pd
        .trigger_oncall(
            &app,
            PageRequest {
                service_id: "SVCIGN".into(),
                ..base.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(ignored, Error::IgnoredService(_)), "{ignored}");
    let empty = pd
        .trigger_oncall(
            &app,
            PageRequest {
                summary: "  ".into(),
                ..base.clone()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(empty, Error::Invalid(_)));
    let missing = pd
        .trigger_oncall(
            &app,
            PageRequest {
                incident_id: Some(firefighter_core::IncidentId(999)),
                ..base
            },
        )
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("does not exist"), "{missing}");
    assert!(
        firefighter_pagerduty::pages(&app, incident)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        firefighter_pagerduty::recent_pages(&app, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_pagerduty_refusal_is_reported_and_the_page_can_be_asked_again() {
    let (app, server, jane) = paging_fixture().await;
    let incident = incident(&app, &jane, false).await;
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error": {
            "message": "Access Denied", "code": 2010}})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let pd = pagerduty(&app, &server.uri());
    let request = PageRequest {
        service_id: "SVC1".into(),
        incident_id: Some(incident),
        summary: "Checkout is down".into(),
        ..PageRequest::default()
    };
    let err = pd.trigger_oncall(&app, request.clone()).await.unwrap_err();
    assert!(matches!(err, Error::Api { status: 403, .. }), "{err}");
    assert!(err.to_string().contains("Access Denied"));
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "403 is not retried"
    );
    let pages = firefighter_pagerduty::pages(&app, incident).await.unwrap();
    assert_eq!(pages[0].status, PageStatus::Failed);
    assert!(
        app.timeline(incident)
            .await
            .unwrap()
            .iter()
            .all(|e| e.event_type.as_deref() != Some("trigger_oncall"))
    );
    // Still offered, and asking again (after the fix) pages it.
    assert!(
        firefighter_pagerduty::services_not_yet_paged(&app, incident)
            .await
            .unwrap()
            .iter()
            .any(|s| s.id == "SVC1")
    );
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(created_incident("PDI3", "k", "SVC1")),
        )
        .mount(&server)
        .await;
    assert!(matches!(
        pd.trigger_oncall(&app, request).await.unwrap(),
        PageOutcome::Sent { .. }
    ));
}

#[tokio::test]
async fn events_api_pages_use_the_dedup_key_and_never_retry_a_400() {
    let (app, server, jane) = paging_fixture().await;
    let incident = incident(&app, &jane, false).await;
    let pd = pagerduty_with(&app, &server.uri(), |c| {
        c.routing_keys.insert(
            "SVC1".into(),
            "R0UTINGKEY0000000000000000000001".to_owned().into(),
        );
        c.routing_keys.insert(
            "SVC2".into(),
            "R0UTINGKEY0000000000000000000002".to_owned().into(),
        );
    });
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .and(body_partial_json(
            json!({"routing_key": "R0UTINGKEY0000000000000000000001", "event_action": "trigger"}),
        ))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .and(body_partial_json(
            json!({"routing_key": "R0UTINGKEY0000000000000000000001"}),
        ))
        .respond_with(ResponseTemplate::new(202).set_body_json(
            json!({"status": "success", "message": "Event processed", "dedup_key": "x"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .and(body_partial_json(json!({"routing_key": "R0UTINGKEY0000000000000000000002"})))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"status": "invalid event", "message": "Event object is invalid", "errors": ["Length of 'routing_key' is incorrect (should be 32 characters)"]})))
        .expect(1)
        .mount(&server)
        .await;
    let ok = pd
        .trigger_oncall(
            &app,
            PageRequest {
                service_id: "SVC1".into(),
                incident_id: Some(incident),
                summary: "Checkout is down".into(),
                ..PageRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(
        matches!(ok, PageOutcome::Sent { .. }),
        "429 then 202: {ok:?}"
    );
    let events: Vec<serde_json::Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.body_json().unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0]["dedup_key"], events[1]["dedup_key"],
        "the retry keeps the key"
    );
    assert_eq!(events[1]["dedup_key"], ok.page().key.as_str());
    assert_eq!(events[1]["payload"]["severity"], "critical");
    let refused = pd
        .trigger_oncall(
            &app,
            PageRequest {
                service_id: "SVC2".into(),
                incident_id: Some(incident),
                summary: "Checkout is down".into(),
                ..PageRequest::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::Api { status: 400, .. }));
    assert!(refused.to_string().contains("routing_key"), "{refused}");
}

// ------------------------------------------------------------------ invitations

#[tokio::test]
async fn the_first_level_on_call_is_invited_to_public_incidents_only() {
    let app = app().await;
    let server = MockServer::start().await;
    synced_roster(&app, &server).await;
    firefighter_pagerduty::set_service_ignored(&app, "SVCIGN", true)
        .await
        .unwrap();
    let provider = OncallInviteProvider::new(app.store().clone()).unwrap();
    let jane = user(&app, "jane@example.com").await;
    let id = incident(&app, &jane, false).await;
    let catalog = app.catalog().await.unwrap();
    let details = app.incident_details(id).await.unwrap();
    let mut ctx: InviteContext = app.invite_context(&catalog, &details).unwrap();
    let invited = provider.invitees(&ctx).await.unwrap();
    let emails: Vec<String> = futures_emails(&app, &invited).await;
    // Level 1 of PA and PB; PIGN's only service is ignored; level 2 (UBOB) not invited.
    assert_eq!(emails, ["uann@example.com", "ucid@example.com"]);
    assert!(
        invited[0]
            .reason
            .contains("first-level on-call of Policy PA")
    );
    assert!(!provider.includes_private());
    ctx.private = true;
    assert!(provider.invitees(&ctx).await.unwrap().is_empty());
}

async fn futures_emails(
    app: &firefighter_core::Firefighter,
    invited: &[firefighter_core::invite::InviteCandidate],
) -> Vec<String> {
    let mut emails = Vec::new();
    for c in invited {
        emails.push(app.store().user(c.user_id).await.unwrap().unwrap().email);
    }
    emails
}

// ------------------------------------------------------------------ routes

fn caller(user: firefighter_core::User) -> Caller {
    Caller {
        user,
        // The server's frame, reduced to markers the pages must place.
        layout: firefighter_core::plugin::PageLayout {
            prefix: String::new(),
            head: format!(
                "<!--head {}-->",
                firefighter_core::plugin::PageLayout::TITLE
            ),
            foot: "<!--foot-->".into(),
        },
        csrf_token: Some("csrf-123".into()),
        may_write: true,
    }
}

async fn body_text(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn the_web_pages_show_the_roster_and_page_a_service() {
    let (app, server, jane) = paging_fixture().await;
    // Ann's account has a Slack identity: the page links it (from core's account).
    let ann = app
        .store()
        .user_by_email("uann@example.com")
        .await
        .unwrap()
        .unwrap();
    app.store()
        .set_identity(ann.id, "slack", "U0ANN")
        .await
        .unwrap();
    let router = firefighter_pagerduty::routes(app.clone(), pagerduty(&app, &server.uri()));
    // Not behind the login: refused.
    let anonymous = router
        .clone()
        .oneshot(Request::get("/oncall/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let get = |uri: &str| {
        let mut r = Request::get(uri).body(Body::empty()).unwrap();
        r.extensions_mut().insert(caller(jane.clone()));
        r
    };
    let page = router.clone().oneshot(get("/oncall/")).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = body_text(page).await;
    for part in [
        "Policy PA",
        "Person UANN",
        "<!--head On call-->",
        "<!--foot-->",
        "last synced from PagerDuty",
        "https://slack.com/app_redirect?channel=U0ANN",
    ] {
        assert!(html.contains(part), "{part} missing");
    }
    assert!(
        !html.contains("Policy PIGN"),
        "policy of an ignored service"
    );

    let json = body_text(
        router
            .clone()
            .oneshot(get("/api/v2/firefighter/oncall/"))
            .await
            .unwrap(),
    )
    .await;
    let roster: serde_json::Value = serde_json::from_str(&json).unwrap();
    let ann = &roster["policies"][0]["levels"][0]["people"][0];
    assert_eq!(ann["name"], "Person UANN");
    // Core's vendor-neutral roster: the vendor's id and link, no chat id.
    assert_eq!(ann["external_id"], "UANN");
    assert_eq!(ann["url"], "https://acme.pagerduty.com/users/UANN");
    assert!(ann.get("slack_id").is_none(), "{ann}");
    let json = body_text(
        router
            .clone()
            .oneshot(get("/api/v2/firefighter/oncall/services/"))
            .await
            .unwrap(),
    )
    .await;
    let services: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(services.as_array().unwrap().len(), 2);

    let form = body_text(
        router
            .clone()
            .oneshot(get("/oncall/trigger/?service=SVC2"))
            .await
            .unwrap(),
    )
    .await;
    assert!(form.contains("value=\"csrf-123\""));
    assert!(form.contains("<option value=\"SVC2\" selected>"));
    assert!(!form.contains("SVCIGN"));

    let post = |body: &str| {
        let mut r = Request::post("/oncall/trigger/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap();
        r.extensions_mut().insert(caller(jane.clone()));
        r
    };
    let invalid = router
        .clone()
        .oneshot(post(
            "title=short&service=SVC1&details=x&csrf_token=csrf-123",
        ))
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body_text(invalid).await.contains("10 to 128 characters"));

    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(created_incident("PDI5", "k", "SVC1")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let form_body = "title=Checkout+is+down+everywhere&service=SVC1&details=All+card+payments+fail&incident=&request_id=abc-123&csrf_token=csrf-123";
    let sent = router.clone().oneshot(post(form_body)).await.unwrap();
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    let location = sent.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, "/oncall/?page=firefighter-abc-123-svc1");
    // The same form submitted again: same page, nothing sent twice.
    let again = router.clone().oneshot(post(form_body)).await.unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let banner = body_text(router.clone().oneshot(get(&location)).await.unwrap()).await;
    assert!(banner.contains("was paged on PagerDuty"), "{banner}");

    let unknown = router
        .clone()
        .oneshot(post(
            "title=Checkout+is+down+everywhere&service=NOPE&details=All+card+payments+fail",
        ))
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body_text(unknown)
            .await
            .contains("unknown PagerDuty service")
    );
}

// ------------------------------------------------------------------ the core capability

#[tokio::test]
async fn pagerduty_is_the_core_oncall_capability_and_pages_exactly_once() {
    use firefighter_core::OnCall;
    use firefighter_core::oncall::{OnCallError, PageOutcome as CoreOutcome};
    use firefighter_pagerduty::provider::PagerDutyOnCall;

    let (app, server, jane) = paging_fixture().await;
    let incident = incident(&app, &jane, false).await;
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(created_incident("PDI1", "k", "SVC1")),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/incidents/PDI1/notes"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"note": {"id": "N1"}})))
        .mount(&server)
        .await;
    let oncall = PagerDutyOnCall::new(pagerduty(&app, &server.uri()), app.handle());
    assert_eq!(oncall.name(), "pagerduty");
    assert_eq!(oncall.display_name(), "PagerDuty");
    assert_eq!(oncall.max_summary_chars(), 1024);

    // The roster, vendor-neutral: the ignored service's policy is left out.
    let roster = oncall.roster().await.unwrap();
    let names: Vec<_> = roster.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Policy PA", "Policy PB"]);
    let ann = &roster.policies[0].levels[0].people[0];
    assert_eq!(ann.external_id, "UANN");
    assert_eq!(ann.url, "https://acme.pagerduty.com/users/UANN");
    assert_eq!(
        ann.schedule.as_ref().map(|s| s.name.as_str()),
        Some("Rotation PA")
    );
    assert!(ann.user_id.is_some(), "linked to a firefighter account");

    let offered = |services: Vec<firefighter_core::oncall::PageableService>| {
        services.into_iter().map(|s| s.id).collect::<Vec<_>>()
    };
    assert_eq!(
        offered(oncall.services_to_page(incident).await.unwrap()),
        ["SVC1", "SVC2"]
    );
    let request = PageRequest {
        service_id: "SVC1".into(),
        incident_id: Some(incident),
        summary: "Checkout is down".into(),
        details: "All card payments fail".into(),
        requested_by: Some(jane.id),
        request_id: None,
    };
    let first = oncall.page(request.clone()).await.unwrap();
    let CoreOutcome::Sent { page } = &first else {
        panic!("{first:?}")
    };
    assert_eq!(
        page.url.as_deref(),
        Some("https://acme.pagerduty.com/incidents/PDI1")
    );
    assert_eq!(page.service_id, "SVC1");
    assert_eq!(page.incident_id, Some(incident));
    let second = oncall.page(request.clone()).await.unwrap();
    assert!(
        matches!(second, CoreOutcome::AlreadySent { .. }),
        "{second:?}"
    );
    assert_eq!(
        offered(oncall.services_to_page(incident).await.unwrap()),
        ["SVC2"]
    );

    // Bad requests say what is wrong and page nothing.
    let err = oncall
        .page(PageRequest {
            summary: "  ".into(),
            ..request.clone()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OnCallError::Invalid(m) if m.contains("title is empty")),
        "{err:?}"
    );
    let err = oncall
        .page(PageRequest {
            service_id: "NOPE".into(),
            ..request.clone()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OnCallError::Invalid(m) if m.contains("NOPE")),
        "{err:?}"
    );
    let err = oncall
        .page(PageRequest {
            service_id: "SVCIGN".into(),
            ..request.clone()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, OnCallError::Invalid(_)), "{err:?}");
    server.verify().await;

    // Without the running application, paging fails and says why.
    let detached = PagerDutyOnCall::new(
        pagerduty(&app, &server.uri()),
        PluginContext::new(app.settings().clone(), app.store().clone()).app_handle(),
    );
    let err = detached.page(request).await.unwrap_err();
    assert!(
        matches!(&err, OnCallError::Failed(m) if m.contains("not running")),
        "{err:?}"
    );
}
