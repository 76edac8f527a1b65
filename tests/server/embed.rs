//! `examples/embed.rs`: firefighter nested under `/incidents` in a host service.

#[path = "../../examples/embed.rs"]
#[allow(dead_code)]
mod example;

use crate::support::{client, spawn_app};

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
