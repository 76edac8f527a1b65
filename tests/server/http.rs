//! What every answer of the HTTP layer carries (security and cache headers).

use firefighter::server::ServerConfig;

use crate::support::{client, log_in, spawn_app, spawn_app_at};

#[tokio::test]
async fn pages_behind_the_login_are_never_stored() {
    let app = spawn_app().await;
    app.user("jane@example.com", "correct horse battery", false)
        .await;
    let b = log_in(&app, "jane@example.com", "correct horse battery").await;
    for path in ["/", "/statistics/"] {
        let r = b.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{path}"
        );
    }
    // Assets stay cacheable.
    let r = b.get(app.url("/static/app.css")).send().await.unwrap();
    let cache = r.headers()["cache-control"].to_str().unwrap();
    assert!(cache.contains("max-age"), "{cache}");
}

#[tokio::test]
async fn strict_transport_security_only_when_base_url_is_https() {
    let https = spawn_app().await;
    for (path, status) in [
        ("/login", 200),
        ("/static/app.css", 200),
        ("/api/v2/firefighter/incidents/", 401),
        ("/api/v2/firefighter/nowhere/", 404),
    ] {
        let r = client().get(https.url(path)).send().await.unwrap();
        assert_eq!(r.status(), status, "{path}");
        let hsts = r
            .headers()
            .get("strict-transport-security")
            .unwrap_or_else(|| panic!("{path}: no Strict-Transport-Security"))
            .to_str()
            .unwrap();
        assert!(hsts.starts_with("max-age="), "{path}: {hsts}");
    }
    let http = spawn_app_at("http://firefighter.example.com", ServerConfig::default()).await;
    let r = client().get(http.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("strict-transport-security").is_none());
}
