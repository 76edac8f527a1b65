//! Login, sessions, CSRF, API tokens and scopes, the trusted proxy header.

use firefighter::server::ServerConfig;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::support::{TestApp, browser, client, cookie, csrf_field, spawn_app, spawn_app_with};

#[tokio::test]
async fn login_opens_a_secure_session_and_logout_ends_it() {
    let app = spawn_app().await;
    app.user("jane@example.com", "correct horse battery", false)
        .await;
    let (b, jar) = browser();

    // Anonymous: pages redirect to the login page, the API answers 401.
    let r = b.post(app.url("/logout?from=menu")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=/logout%3Ffrom%3Dmenu");
    let r = b.get(app.api("incidents/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "not_authenticated");

    // A wrong password is refused and opens nothing.
    let page = b
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_field(&page);
    let r = b
        .post(app.url("/login"))
        .form(&[
            ("email", "jane@example.com"),
            ("password", "wrong password!"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Invalid e-mail or password")
    );
    assert!(cookie(&jar, &app.base, "ff_session").is_none());

    // The right one opens a session: HttpOnly, SameSite=Lax, Secure (BASE_URL is https).
    let r = b
        .post(app.url("/login"))
        .form(&[
            ("email", "jane@example.com"),
            ("password", "correct horse battery"),
            ("csrf_token", &csrf),
            ("next", "/incident/3/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/incident/3/");
    let set_cookie: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("ff_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.contains("Secure"),
        "{session}"
    );
    // The cookie jar ignores Secure cookies over http; give it the session by hand.
    let id = session
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("ff_session=")
        .to_owned();
    jar.add_cookie_str(&format!("ff_session={id}"), &app.base.parse().unwrap());

    let r = b.get(app.api("incidents/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("ff-user-id"));
    // Only the hash of the session id is stored.
    let csrf = app.session_csrf(&jar).await;
    assert!(
        app.app
            .store()
            .session(&id, chrono::Utc::now())
            .await
            .unwrap()
            .is_none()
    );

    // Logout without the CSRF token is refused; with it, the session ends.
    let r = b.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = b
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = b.get(app.api("incidents/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn login_next_stays_local_and_the_form_needs_its_token() {
    let app = spawn_app().await;
    app.user("jane@example.com", "correct horse battery", false)
        .await;
    let (b, _jar) = browser();
    // Without the login form's token: refused.
    let r = b
        .post(app.url("/login"))
        .form(&[
            ("email", "jane@example.com"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let page = b
        .get(app.url("/login?next=https://evil.example/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("evil.example"));
    let csrf = csrf_field(&page);
    let r = b
        .post(app.url("/login"))
        .form(&[
            ("email", "jane@example.com"),
            ("password", "correct horse battery"),
            ("csrf_token", &csrf),
            ("next", "//evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
}

/// A session-authenticated change needs the CSRF token (header or form field); nothing is written without it.
#[tokio::test]
async fn session_writes_need_the_csrf_token() {
    let app = spawn_app().await;
    let user = app
        .user("jane@example.com", "correct horse battery", false)
        .await;
    // Over http the jar drops Secure cookies: open the session through the store.
    let (b2, jar2) = browser();
    let session_id = "a".repeat(64);
    let session = firefighter::core::Session {
        id_hash: super::support::hex_sha256(&session_id),
        user_id: user.id,
        csrf_token: "c".repeat(64),
        created_at: chrono::Utc::now(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
    };
    app.app.store().create_session(&session).await.unwrap();
    jar2.add_cookie_str(
        &format!("ff_session={session_id}"),
        &app.base.parse().unwrap(),
    );
    let body = json!({
        "title": "Checkout is down for everyone",
        "incident_category_id": app.category(),
    });
    let r = b2
        .post(app.api("incidents"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "csrf_failed");
    assert_eq!(app.incident_count().await, 0);
    let r = b2
        .post(app.api("incidents"))
        .header("X-CSRF-Token", "wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = b2
        .post(app.api("incidents"))
        .header("X-CSRF-Token", "c".repeat(64))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["created_by"]["email"], "jane@example.com",
        "the caller declares by default"
    );

    // An expired session is anonymous.
    app.app
        .store()
        .extend_session(
            &session.id_hash,
            chrono::Utc::now() - chrono::Duration::seconds(1),
        )
        .await
        .unwrap();
    let r = b2.get(app.api("incidents/")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn tokens_authenticate_with_their_scopes() {
    let app = spawn_app().await;
    let jane = app
        .user("jane@example.com", "correct horse battery", false)
        .await;
    let reader = app.token(&jane, &["incidents:read"]).await;
    let writer = app.token(&jane, &[]).await;
    assert_eq!(writer.len(), 40);
    let c = client();

    assert_eq!(
        c.get(app.api("incidents/"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // DRF clients send `Token <key>`.
    let r = c
        .get(app.api("incidents/"))
        .header("Authorization", format!("Token {reader}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(app.api("incidents/"))
        .bearer_auth("0".repeat(40))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "authentication_failed");

    // Reading is not writing; bearer requests need no CSRF token.
    let body =
        json!({"title": "Search returns nothing at all", "incident_category_id": app.category()});
    let r = c
        .post(app.api("incidents"))
        .bearer_auth(&reader)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.incident_count().await, 0);
    let r = c
        .post(app.api("incidents"))
        .bearer_auth(&writer)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // A non-staff account cannot get staff scopes.
    let err = firefighter::server::auth::issue_api_token(
        &app.state,
        jane.id,
        "x",
        &["admin".into()],
        None,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("admin"), "{err}");

    // Revoked tokens stop working; the list shows them, never their secret.
    let tokens = firefighter::server::auth::list_api_tokens(&app.state, Some(jane.id))
        .await
        .unwrap();
    assert_eq!(tokens.len(), 2);
    for t in &tokens {
        assert!(
            t.prefix.len() == 8 && reader.starts_with(&t.prefix) || writer.starts_with(&t.prefix)
        );
        assert!(
            firefighter::server::auth::revoke_api_token(&app.state, t.id)
                .await
                .unwrap()
        );
    }
    assert_eq!(
        c.get(app.api("incidents/"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // Expired tokens too.
    let token = firefighter::core::ApiToken {
        id: firefighter::core::ApiTokenId::new(),
        user_id: jane.id,
        name: "old".into(),
        prefix: "deadbeef".into(),
        scopes: vec!["incidents:read".into()],
        created_at: chrono::Utc::now() - chrono::Duration::days(2),
        last_used_at: None,
        expires_at: Some(chrono::Utc::now() - chrono::Duration::days(1)),
        revoked_at: None,
    };
    let secret = "deadbeef".repeat(5);
    app.app
        .store()
        .create_api_token(&token, &super::support::hex_sha256(&secret))
        .await
        .unwrap();
    assert_eq!(
        c.get(app.api("incidents/"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn the_trusted_proxy_header_logs_people_in() {
    let app = spawn_app_with(ServerConfig {
        trusted_proxy_user_header: Some("X-Forwarded-Email".into()),
        trusted_proxy_secret_header: Some("X-Proxy-Secret".into()),
        trusted_proxy_secret: Some(SecretString::from("s3cret")),
        ..ServerConfig::default()
    })
    .await;
    let c = client();
    let r = c
        .get(app.api("incidents/"))
        .header("X-Forwarded-Email", "sso.user@example.com")
        .header("X-Proxy-Secret", "s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let user = app
        .app
        .store()
        .user_by_email("sso.user@example.com")
        .await
        .unwrap()
        .expect("created on first sight");
    assert_eq!(r.headers()["ff-user-id"], user.id.to_string().as_str());
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("ff_session="))
    );
    // Without the proxy's secret the header means nothing.
    let r = c
        .get(app.api("incidents/"))
        .header("X-Forwarded-Email", "sso.user@example.com")
        .header("X-Proxy-Secret", "guess")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Not configured: ignored.
    let plain = spawn_app().await;
    let r = c
        .get(plain.api("incidents/"))
        .header("X-Forwarded-Email", "sso.user@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// A browser connecting from `ip` (every 127.x.y.z reaches the server over
/// loopback), and the CSRF token of the login form it was given.
async fn login_form_from(app: &TestApp, ip: [u8; 4]) -> (reqwest::Client, String) {
    let b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .unwrap();
    let page = b
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_field(&page);
    (b, csrf)
}

/// One login attempt through the form; `headers` are added to the request.
async fn try_login(
    app: &TestApp,
    (b, csrf): &(reqwest::Client, String),
    email: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = b.post(app.url("/login")).form(&[
        ("email", email),
        ("password", password),
        ("csrf_token", csrf),
    ]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn an_attacker_elsewhere_cannot_lock_the_owner_out() {
    let app = spawn_app().await;
    app.user("jane@example.com", "correct horse battery", false)
        .await;
    app.user("john@example.com", "another horse battery", false)
        .await;
    let attacker = login_form_from(&app, [127, 0, 0, 2]).await;
    for _ in 0..10 {
        let r = try_login(&app, &attacker, "jane@example.com", "guess guess", &[]).await;
        assert_eq!(r.status(), 401);
    }
    // From the attacker's address even the right password waits now, and says for how long.
    let r = try_login(
        &app,
        &attacker,
        "JANE@example.com",
        "correct horse battery",
        &[],
    )
    .await;
    assert_eq!(r.status(), 429);
    assert!((1..=60).contains(&retry_after(&r)), "{}", retry_after(&r));
    assert!(r.text().await.unwrap().contains("Too many login attempts"));
    // The owner, from their own address, is not locked out.
    let owner = login_form_from(&app, [127, 0, 0, 3]).await;
    let r = try_login(
        &app,
        &owner,
        "jane@example.com",
        "correct horse battery",
        &[],
    )
    .await;
    assert_eq!(r.status(), 303);
    // Another account is not affected either.
    let r = try_login(
        &app,
        &attacker,
        "john@example.com",
        "another horse battery",
        &[],
    )
    .await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn one_client_trying_many_accounts_is_throttled() {
    let app = spawn_app().await;
    app.user("jane@example.com", "correct horse battery", false)
        .await;
    // The throttle never knows whether an account exists (no enumeration):
    // addresses without an account count as much as real ones.
    let sprayer = login_form_from(&app, [127, 0, 0, 4]).await;
    let mut refused = None;
    for n in 0..30 {
        let email = format!("user{n}@example.com");
        // Not behind a trusted proxy: a forwarded address changes nothing.
        let forwarded = format!("198.51.100.{n}");
        let r = try_login(
            &app,
            &sprayer,
            &email,
            "guess guess",
            &[("X-Forwarded-For", &forwarded)],
        )
        .await;
        if r.status() == 429 {
            assert!(retry_after(&r) >= 1);
            refused = Some(n);
            break;
        }
        assert_eq!(r.status(), 401, "attempt {n}");
    }
    assert_eq!(
        refused,
        Some(20),
        "the 21st attempt of one client is refused"
    );
    // Still refused for a real account, even with its right password...
    let r = try_login(
        &app,
        &sprayer,
        "jane@example.com",
        "correct horse battery",
        &[],
    )
    .await;
    assert_eq!(r.status(), 429);
    // ...but only from that client.
    let other = login_form_from(&app, [127, 0, 0, 5]).await;
    let r = try_login(
        &app,
        &other,
        "jane@example.com",
        "correct horse battery",
        &[],
    )
    .await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn behind_the_trusted_proxy_the_forwarded_address_is_the_client() {
    let app = spawn_app_with(ServerConfig {
        trusted_proxy_user_header: Some("X-Forwarded-Email".into()),
        trusted_proxy_secret_header: Some("X-Proxy-Secret".into()),
        trusted_proxy_secret: Some(SecretString::from("proxy-secret-value")),
        login_burst_per_account: 3,
        ..ServerConfig::default()
    })
    .await;
    app.user("jane@example.com", "correct horse battery", false)
        .await;
    // Everyone comes from the proxy's address; it says who the client is.
    let proxy = login_form_from(&app, [127, 0, 0, 6]).await;
    let attacker = [
        ("X-Proxy-Secret", "proxy-secret-value"),
        ("X-Forwarded-For", "203.0.113.7"),
    ];
    for _ in 0..3 {
        let r = try_login(&app, &proxy, "jane@example.com", "guess guess", &attacker).await;
        assert_eq!(r.status(), 401);
    }
    let r = try_login(
        &app,
        &proxy,
        "jane@example.com",
        "correct horse battery",
        &attacker,
    )
    .await;
    assert_eq!(r.status(), 429);
    let owner = [
        ("X-Proxy-Secret", "proxy-secret-value"),
        ("X-Forwarded-For", "192.0.2.1, 198.51.100.4"),
    ];
    let r = try_login(
        &app,
        &proxy,
        "jane@example.com",
        "correct horse battery",
        &owner,
    )
    .await;
    assert_eq!(r.status(), 303);
    // Without the proxy's secret the header is not believed: every attempt
    // counts against the address that connected.
    let direct = login_form_from(&app, [127, 0, 0, 7]).await;
    for n in 0..3 {
        let forwarded = format!("198.51.100.{n}");
        let r = try_login(
            &app,
            &direct,
            "jane@example.com",
            "guess guess",
            &[("X-Forwarded-For", &forwarded)],
        )
        .await;
        assert_eq!(r.status(), 401);
    }
    let r = try_login(
        &app,
        &direct,
        "jane@example.com",
        "correct horse battery",
        &[("X-Forwarded-For", "198.51.100.99")],
    )
    .await;
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn an_anonymous_call_is_refused_before_its_idempotency_key_is_read() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let c = client();
    let too_long = "k".repeat(256);
    let body =
        json!({"title": "Payments are slow to confirm", "incident_category_id": app.category()});
    let r = c
        .post(app.api("incidents"))
        .header("Idempotency-Key", &too_long)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "not_authenticated", "{v}");
    // Authenticated, the same key is refused for what it is, and nothing is declared.
    let r = c
        .post(app.api("incidents"))
        .bearer_auth(&token)
        .header("Idempotency-Key", &too_long)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["attr"], "Idempotency-Key", "{v}");
    assert_eq!(app.incident_count().await, 0);
}
