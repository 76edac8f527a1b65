//! `spawn_app`: the whole server on a random port with a fresh SQLite
//! database, and helpers to drive it like a client would.

use std::sync::Arc;

use crate::support::{Start, Started};

use firefighter::core::store::Catalog;
use firefighter::core::{Email, Firefighter, NewUser, Settings, User};
use firefighter::server::{AppState, ServerConfig};
use reqwest::cookie::{CookieStore, Jar};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A running server.
pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) state: AppState,
    pub(crate) app: Firefighter,
    pub(crate) catalog: Arc<Catalog>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts the server with the default configuration.
pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(ServerConfig::default()).await
}

/// Starts the server with this configuration (its port is replaced by a free one).
pub(crate) async fn spawn_app_with(config: ServerConfig) -> TestApp {
    spawn_app_at("https://firefighter.example.com", config).await
}

/// Starts the server with this `BASE_URL` and configuration (its port is replaced by a free one).
pub(crate) async fn spawn_app_at(base_url: &str, config: ServerConfig) -> TestApp {
    let mut start = Start {
        config,
        ..Start::default()
    };
    start.settings.base_url = base_url.into();
    TestApp::from(start.run(|b| b, |s| s).await)
}

impl From<Started> for TestApp {
    fn from(s: Started) -> TestApp {
        TestApp {
            base: s.base,
            state: s.state,
            app: s.app,
            catalog: s.catalog,
            shutdown: s.shutdown,
            _dir: s.dir,
        }
    }
}

/// A client that keeps cookies, and its jar.
pub(crate) fn browser() -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (client, jar)
}

/// A plain client (no cookies, no redirects followed).
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of a cookie in the jar.
pub(crate) fn cookie(jar: &Jar, base: &str, name: &str) -> Option<String> {
    let url: reqwest::Url = base.parse().unwrap();
    let header = jar.cookies(&url)?;
    header
        .to_str()
        .ok()?
        .split("; ")
        .find_map(|c| c.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn api(&self, path: &str) -> String {
        format!("{}/api/v2/firefighter/{path}", self.base)
    }

    /// A user with a password.
    pub(crate) async fn user(&self, email: &str, password: &str, staff: bool) -> User {
        let user = self
            .app
            .store()
            .create_user(&NewUser {
                is_staff: staff,
                is_admin: staff,
                ..NewUser::person(Email::parse(email).unwrap())
            })
            .await
            .unwrap();
        let hash = firefighter::server::auth::password::hash_password(password.into())
            .await
            .unwrap();
        self.app
            .store()
            .set_password_hash(user.id, Some(&hash))
            .await
            .unwrap();
        user
    }

    /// An API token of `user` with `scopes` (default scopes when empty).
    pub(crate) async fn token(&self, user: &User, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        firefighter::server::auth::issue_api_token(&self.state, user.id, "test", &scopes, None)
            .await
            .unwrap()
            .0
    }

    /// A staff user and a token with every scope.
    pub(crate) async fn admin_token(&self) -> String {
        let admin = self
            .user("admin@example.com", "correct horse battery", true)
            .await;
        self.token(
            &admin,
            &[
                "incidents:read",
                "incidents:write",
                "incidents:read_private",
                "admin",
            ],
        )
        .await
    }

    /// The CSRF token of the browser's session, read from the database.
    pub(crate) async fn session_csrf(&self, jar: &Jar) -> String {
        let id = cookie(jar, &self.base, "ff_session").expect("session cookie");
        let hash = hex_sha256(&id);
        self.app
            .store()
            .session(&hash, chrono::Utc::now())
            .await
            .unwrap()
            .expect("session")
            .csrf_token
    }

    pub(crate) fn category(&self) -> String {
        self.catalog.categories[0].id.to_string()
    }

    pub(crate) fn priority(&self, name: &str) -> String {
        self.catalog
            .priorities
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("priority {name}"))
            .id
            .to_string()
    }

    pub(crate) fn environment(&self, value: &str) -> String {
        self.catalog
            .environments
            .iter()
            .find(|e| e.value == value)
            .unwrap_or_else(|| panic!("environment {value}"))
            .id
            .to_string()
    }

    /// Declares an incident through the API; returns its JSON.
    pub(crate) async fn declare(&self, token: &str, title: &str, extra: Value) -> Value {
        let mut body = json!({
            "title": title,
            "description": "Declared by a test",
            "incident_category_id": self.category(),
            "priority_id": self.priority("P3"),
            "environment_id": self.environment("PRD"),
            "created_by_email": "declarer@example.com",
        });
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        let r = client()
            .post(self.api("incidents"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "{v}");
        v
    }

    /// The URL of the server's database.
    pub(crate) fn database_url(&self) -> String {
        format!("sqlite://{}", self._dir.path().join("ff.db").display())
    }

    /// Another application on the same database, as a second instance
    /// (another process) would run: its own caches, no workers.
    pub(crate) async fn other_instance(&self) -> Firefighter {
        let settings = Settings {
            database_url: SecretString::from(self.database_url()),
            base_url: "https://firefighter.example.com".into(),
            workers: false,
            ..Settings::default()
        };
        Firefighter::builder(settings)
            .build()
            .await
            .expect("build a second instance")
    }

    pub(crate) async fn incident_count(&self) -> u64 {
        self.app
            .store()
            .count_incidents(&Default::default())
            .await
            .unwrap()
    }
}

pub(crate) fn hex_sha256(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Starts the server after `customize` adjusted its state (integrations configured in code).
pub(crate) async fn spawn_app_customized(customize: impl FnOnce(AppState) -> AppState) -> TestApp {
    TestApp::from(Start::default().run(|b| b, customize).await)
}

/// The CSRF token a page's form carries (its first `csrf_token` field).
pub(crate) fn csrf_field(page: &str) -> String {
    page.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF field on the page: {page}"))
        .to_owned()
}

/// Logs `email` in through the login form; returns the cookie-keeping client.
pub(crate) async fn log_in(app: &TestApp, email: &str, password: &str) -> reqwest::Client {
    log_in_keeping_cookies(app, email, password).await.0
}

/// [`log_in`], with the client's cookie jar (to read the session cookie).
pub(crate) async fn log_in_keeping_cookies(
    app: &TestApp,
    email: &str,
    password: &str,
) -> (reqwest::Client, Arc<Jar>) {
    let (b, jar) = browser();
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
            ("email", email),
            ("password", password),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_redirection() || r.status().is_success(),
        "login failed: {}",
        r.status()
    );
    (b, jar)
}
