//! The same flows on PostgreSQL: roster sync in one transaction, a failing
//! sync leaving it intact, exactly-once paging. Needs an empty database:
//! `FIREFIGHTER_TEST_POSTGRES_URL=postgres://... cargo test -p firefighter-pagerduty --features postgres-tests --test postgres`

mod common;

use std::sync::Arc;

use common::*;
use firefighter_core::store::PgStore;
use firefighter_core::{Firefighter, Settings};
use firefighter_pagerduty::{PageOutcome, PageRequest};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
#[cfg_attr(
    not(feature = "postgres-tests"),
    ignore = "needs FIREFIGHTER_TEST_POSTGRES_URL"
)]
async fn sync_and_page_on_postgres() {
    let url =
        std::env::var("FIREFIGHTER_TEST_POSTGRES_URL").expect("FIREFIGHTER_TEST_POSTGRES_URL");
    let store = PgStore::connect(&url).await.unwrap();
    let app = Firefighter::builder(Settings {
        base_url: "https://ff.example.com".into(),
        ..Settings::default()
    })
    .store(Arc::new(store))
    .build()
    .await
    .unwrap();
    firefighter_pagerduty::migrate(app.store().database().unwrap())
        .await
        .unwrap();
    firefighter_pagerduty::migrate(app.store().database().unwrap())
        .await
        .unwrap();

    let server = MockServer::start().await;
    let unique = uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase();
    let (ann, policy, svc) = (
        format!("UA{unique}"),
        format!("PA{unique}"),
        format!("SV{unique}"),
    );
    Mock::given(method("GET"))
        .and(path("/oncalls"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "oncalls",
            vec![
                oncall(&policy, 1, &ann, &[&svc]),
                oncall(&policy, 2, &format!("UB{unique}"), &[&svc]),
            ],
            0,
            100,
            false,
        )))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let pd = pagerduty(&app, &server.uri());
    pd.sync_oncalls().await.unwrap();
    let roster = firefighter_pagerduty::roster(&app).await.unwrap();
    let mine = roster.policies.iter().find(|p| p.id == policy).unwrap();
    assert_eq!(mine.levels.len(), 2);

    // A failing sync writes nothing.
    Mock::given(method("GET"))
        .and(path("/oncalls"))
        .and(query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    assert!(pd.sync_oncalls().await.is_err());
    assert_eq!(
        firefighter_pagerduty::roster(&app).await.unwrap().policies,
        roster.policies
    );

    let jane = user(&app, &format!("jane-{unique}@example.com").to_lowercase()).await;
    let id = incident(&app, &jane, false).await;
    Mock::given(method("POST"))
        .and(path("/incidents"))
        .respond_with(ResponseTemplate::new(201).set_body_json(created_incident("PDI1", "k", &svc)))
        .expect(1)
        .mount(&server)
        .await;
    let request = PageRequest {
        service_id: svc.clone(),
        incident_id: Some(id),
        summary: "Checkout is down".into(),
        requested_by: Some(jane.id),
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
    let report = pd
        .deliver_due(&app, chrono::Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(report.sent, 0);
    assert!(
        firefighter_pagerduty::services_not_yet_paged(&app, id)
            .await
            .unwrap()
            .iter()
            .all(|s| s.id != svc)
    );
}
