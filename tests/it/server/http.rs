//! What every answer of the HTTP layer carries (security and cache headers),
//! and connections kept alive across refused requests.

use firefighter::server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::{
    client, cookie, log_in, log_in_keeping_cookies, spawn_app, spawn_app_at, spawn_app_with,
};

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

/// Reads one response from `stream`: its head, or `None` when the
/// connection ended before a whole response came.
async fn read_response(stream: &mut TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: Option<usize> = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok());
    let complete = |data: &[u8]| match length {
        Some(n) => data.len() >= head_end + n,
        // Chunked: up to the last, empty chunk.
        None => data[head_end..].ends_with(b"0\r\n\r\n"),
    };
    while !complete(&data) {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
    Some(head)
}

/// Sends `first` on a new connection, then, unless its answer said
/// `Connection: close`, a health check on the same connection, which must be
/// answered. Returns the first answer's head.
async fn then_another_request(addr: &str, first: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(first).await.unwrap();
    let head = read_response(&mut stream)
        .await
        .expect("the first request is answered");
    if head.lines().any(|l| l.trim() == "connection: close") {
        return head;
    }
    let second =
        format!("GET /api/v2/firefighter/monitoring/healthcheck HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let sent = stream.write_all(second.as_bytes()).await;
    let answer = match sent {
        Ok(()) => read_response(&mut stream).await,
        Err(_) => None,
    };
    let answer = answer.unwrap_or_else(|| {
        panic!("the connection was kept alive after\n{head}\nbut closed without answering the next request")
    });
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    head
}

fn post(path: &str, addr: &str, content_type: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

#[tokio::test]
async fn a_kept_alive_connection_answers_the_request_after_a_refused_body() {
    let app = spawn_app().await;
    let small_limit = spawn_app_with(ServerConfig {
        body_limit_bytes: 1024,
        ..ServerConfig::default()
    })
    .await;
    app.user("jane@example.com", "correct horse battery", false)
        .await;
    let (_, jar) = log_in_keeping_cookies(&app, "jane@example.com", "correct horse battery").await;
    let session = cookie(&jar, &app.base, "ff_session").unwrap();

    let addr = app.base.trim_start_matches("http://").to_owned();
    let small_addr = small_limit.base.trim_start_matches("http://").to_owned();
    let json = format!("{{\"title\": \"{}\"}}", "x".repeat(64 * 1024));
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        // Anonymous: refused before the body is read.
        (
            "401",
            &addr,
            post(
                "/api/v2/firefighter/incidents/",
                &addr,
                "application/json",
                "",
                json.as_bytes(),
            ),
        ),
        // A session without the CSRF token.
        (
            "403",
            &addr,
            post(
                "/logout",
                &addr,
                "application/json",
                &format!("Cookie: ff_session={session}\r\n"),
                json.as_bytes(),
            ),
        ),
        // Larger than the limit.
        (
            "413",
            &small_addr,
            post(
                "/api/v2/firefighter/incidents/",
                &small_addr,
                "application/json",
                "",
                json.as_bytes(),
            ),
        ),
    ];
    for (status, addr, request) in &cases {
        for _ in 0..25 {
            let head = then_another_request(addr, request).await;
            assert!(head.starts_with(&format!("http/1.1 {status}")), "{head}");
        }
    }
    // Requests without a body, or whose body was read, keep their connection.
    let request =
        format!("GET /api/v2/firefighter/monitoring/healthcheck HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let head = then_another_request(&addr, request.as_bytes()).await;
    assert!(!head.contains("connection: close"), "{head}");
    let token = app.admin_token().await;
    let declaration = format!(
        "{{\"title\": \"Checkout fails for everyone\", \"incident_category_id\": \"{}\"}}",
        app.category()
    );
    let request = post(
        "/api/v2/firefighter/incidents/",
        &addr,
        "application/json",
        &format!("Authorization: Bearer {token}\r\n"),
        declaration.as_bytes(),
    );
    let head = then_another_request(&addr, &request).await;
    assert!(head.starts_with("http/1.1 201"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
}
