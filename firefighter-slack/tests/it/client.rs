//! The HTTP client against wiremock: error codes, 429 and Retry-After, retries.

use std::time::{Duration, Instant};

use firefighter_slack::models::api::NewMessage;
use firefighter_slack::{HttpSlackClient, SlackApi};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer) -> HttpSlackClient {
    HttpSlackClient::with_base(
        &format!("{}/api", server.uri()),
        "xoxb-1",
        Duration::from_secs(5),
    )
    .unwrap()
}

#[tokio::test]
async fn slack_error_codes_become_typed_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/conversations.archive"))
        .and(header("authorization", "Bearer xoxb-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "channel_not_found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server).archive_channel("C1").await.unwrap_err();
    assert!(e.is_code("channel_not_found"));
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn rate_limits_are_waited_out_with_retry_after() {
    let server = MockServer::start().await;
    Mock::given(path("/api/chat.postMessage"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C1", "ts": "1.2"})),
        )
        .mount(&server)
        .await;
    let start = Instant::now();
    let posted = client(&server)
        .post_message(&NewMessage::new("C1", "hi", json!([])))
        .await
        .unwrap();
    assert_eq!(posted.ts, "1.2");
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
}

#[tokio::test]
async fn a_long_retry_after_is_handed_back() {
    let server = MockServer::start().await;
    Mock::given(path("/api/conversations.create"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server)
        .create_channel("x", false)
        .await
        .unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    assert!(matches!(
        e.into_handler_error(),
        firefighter_core::event::HandlerError::Retry {
            retry_after: Some(_),
            ..
        }
    ));
}

#[tokio::test]
async fn reads_are_retried_on_server_errors_and_writes_are_not() {
    let server = MockServer::start().await;
    Mock::given(path("/api/users.info"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/users.info"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"ok": true, "user": {"id": "U1", "profile": {"email": "a@b.co"}}}),
        ))
        .mount(&server)
        .await;
    let u = client(&server).user_info("U1").await.unwrap();
    assert_eq!(u.profile.email.as_deref(), Some("a@b.co"));

    Mock::given(path("/api/chat.update"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server)
        .update_message("C1", "1.1", &NewMessage::new("C1", "x", json!([])))
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "the outbox may retry later: {e}");
}

#[tokio::test]
async fn pages_follow_the_cursor() {
    let server = MockServer::start().await;
    Mock::given(path("/api/users.list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true, "members": [{"id": "U1"}, {"id": "U2"}], "response_metadata": {"next_cursor": "abc"}
        })))
        .mount(&server)
        .await;
    let page = client(&server).list_users(None, 2).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.next_cursor.as_deref(), Some("abc"));
}
