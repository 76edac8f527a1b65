//! `examples/embed.rs`: firefighter nested under `/incidents` in a host service.

#[path = "../../../examples/embed.rs"]
#[allow(dead_code)]
mod example;

use super::support::{client, spawn_app};

#[tokio::test]
async fn the_router_works_nested_in_another_service() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = example::service(app.state.clone());
    tokio::spawn(async move { axum::serve(listener, service).await });
    let c = client();
    let base = format!("http://{addr}");
    assert_eq!(
        c.get(format!("{base}/hello"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "hello from the host service"
    );
    let r = c
        .get(format!(
            "{base}/incidents/api/v2/firefighter/monitoring/healthcheck"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!("{base}/incidents/api/v2/firefighter/incidents/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Pages of the nested router send people to its own login page.
    let r = c
        .post(format!("{base}/incidents/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/incidents/login?next=/incidents/logout"
    );
    let r = c
        .get(format!("{base}/incidents/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("action=\"/incidents/login\"")
    );
}

/// An integration's page nested under `/incidents` has the server's layout,
/// and every link in it carries the prefix.
#[cfg(feature = "pagerduty")]
#[tokio::test]
async fn an_integration_page_links_under_the_mount_prefix() {
    use firefighter::pagerduty::{PagerDuty, PagerDutyConfig};
    let app = super::support::spawn_app_customized(|state| {
        let config = PagerDutyConfig::new("test-key", "ops@example.com", "http://127.0.0.1:9");
        let pd = PagerDuty::new(config, state.app.store().clone()).expect("pagerduty");
        state.with_pagerduty(Some(pd))
    })
    .await;
    let token = app.admin_token().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = example::service(app.state.clone());
    tokio::spawn(async move { axum::serve(listener, service).await });
    let c = client();
    for path in ["/oncall/", "/oncall/trigger/", "/admin/pagerduty/services/"] {
        let r = c
            .get(format!("http://{addr}/incidents{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let page = r.text().await.unwrap();
        // The server's own frame: its top bar and log-out form.
        assert!(page.contains("class=\"topbar\""), "{path}: {page}");
        for attribute in ["href=\"/", "action=\"/", "src=\"/"] {
            for (at, _) in page.match_indices(attribute) {
                let link = &page[at..(at + 40).min(page.len())];
                assert!(
                    link[attribute.len() - 1..].starts_with("/incidents/"),
                    "{path}: a link without the prefix: {link}"
                );
            }
        }
    }
}

/// The Slack back-office nested under `/incidents`: after a form, people are
/// sent back to the page under the prefix, not to the host's `/admin/slack/`.
#[cfg(feature = "slack")]
#[tokio::test]
async fn an_integration_form_redirects_under_the_mount_prefix() {
    use firefighter::slack::{HttpSlackClient, Slack, SlackConfig};
    let app = super::support::spawn_app_customized(|state| {
        let config = SlackConfig::new("xoxb-test", "8f742231b10e8888abcd99yyyzzz85a5");
        // Nothing reaches Slack: re-queueing a request that is not parked calls nobody.
        let api = std::sync::Arc::new(HttpSlackClient::new(&config).expect("client"));
        let slack = Slack::new(
            config,
            api,
            state.app.settings().clone(),
            state.app.store().clone(),
        )
        .expect("slack");
        state.with_slack(Some(slack))
    })
    .await;
    let token = app.admin_token().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = example::service(app.state.clone());
    tokio::spawn(async move { axum::serve(listener, service).await });
    let r = client()
        .post(format!(
            "http://{addr}/incidents/admin/slack/submissions/{}/requeue",
            uuid::Uuid::new_v4()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("/incidents/admin/slack/?notice="),
        "{location}"
    );
    assert!(location.contains("not+parked"), "{location}");
}
