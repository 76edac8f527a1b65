//! `spawn_app`: the whole server on a random port with a fresh SQLite
//! database, a periodic task that succeeds and one that fails, an event
//! handler that always fails (to fill the outbox's failed deliveries), and
//! logged-in clients that behave like a browser (cookies, CSRF tokens read
//! from the pages).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firefighter::core::event::{Delivery, HandlerError};
use firefighter::core::store::Catalog;
use firefighter::core::task::{Schedule, TaskError, TaskReport};
use firefighter::core::{
    Declaration, Email, EventHandler, Firefighter, IncidentId, NewUser, PeriodicTask, Settings,
    User,
};
use tokio_util::sync::CancellationToken;

use crate::support::Start;

/// Every test user's password.
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A task that always succeeds.
pub(crate) const GOOD_TASK: &str = "test.count_things";
/// A task that always fails.
pub(crate) const BROKEN_TASK: &str = "test.call_broken_vendor";
/// The event handler that always fails.
pub(crate) const FAILING_HANDLER: &str = "test.unreachable_vendor";

struct CountThings;

#[async_trait]
impl PeriodicTask for CountThings {
    fn name(&self) -> &str {
        GOOD_TASK
    }
    fn description(&self) -> &str {
        "Counts things, for the tests"
    }
    fn default_schedule(&self) -> Option<Schedule> {
        Some(Schedule::every(Duration::from_secs(3600)))
    }
    async fn run(&self) -> Result<TaskReport, TaskError> {
        Ok(TaskReport::note("counted 3 things"))
    }
}

struct CallBrokenVendor;

#[async_trait]
impl PeriodicTask for CallBrokenVendor {
    fn name(&self) -> &str {
        BROKEN_TASK
    }
    fn description(&self) -> &str {
        "Calls a vendor that is down, for the tests"
    }
    fn default_schedule(&self) -> Option<Schedule> {
        None
    }
    async fn run(&self) -> Result<TaskReport, TaskError> {
        Err(TaskError::failed(
            "the vendor answered 503 Service Unavailable",
        ))
    }
}

struct UnreachableVendor;

#[async_trait]
impl EventHandler for UnreachableVendor {
    fn name(&self) -> &str {
        FAILING_HANDLER
    }
    async fn handle(&self, _delivery: &Delivery) -> Result<(), HandlerError> {
        Err(HandlerError::Permanent(
            "the vendor refused the token (401)".into(),
        ))
    }
}

/// A running server.
pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) app: Firefighter,
    pub(crate) catalog: Arc<Catalog>,
    shutdown: CancellationToken,
    pub(crate) dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts the server. Workers are off: tests run the outbox when they want to.
pub(crate) async fn spawn_app() -> TestApp {
    let mut start = Start::default();
    start.settings.base_url = Settings::default().base_url;
    start.settings.workers = false;
    let started = start
        .run(
            |builder| {
                builder
                    .task(Arc::new(CountThings))
                    .task(Arc::new(CallBrokenVendor))
                    .event_handler(Arc::new(UnreachableVendor))
            },
            |state| state,
        )
        .await;
    TestApp {
        base: started.base,
        app: started.app,
        catalog: started.catalog,
        shutdown: started.shutdown,
        dir: started.dir,
    }
}

/// A client that keeps cookies and does not follow redirects.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of the first `name="<field>" value="..."` in a page.
pub(crate) fn field_value(html: &str, field: &str) -> Option<String> {
    html.split(&format!("name=\"{field}\" value=\""))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(str::to_owned)
}

/// A logged-in browser.
pub(crate) struct Browser {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) csrf: String,
    pub(crate) user: User,
}

/// A page as received.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
}

impl Page {
    async fn from(r: reqwest::Response) -> Page {
        Page {
            status: r.status().as_u16(),
            location: r
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: r.text().await.expect("body"),
        }
    }

    /// Asserts the status and that every text appears.
    #[track_caller]
    pub(crate) fn expect(&self, status: u16, texts: &[&str]) -> &Page {
        assert_eq!(self.status, status, "{}", self.body);
        for t in texts {
            assert!(self.body.contains(t), "{t:?} missing from:\n{}", self.body);
        }
        self
    }

    /// Asserts a redirect to a location starting with `prefix`.
    #[track_caller]
    pub(crate) fn expect_redirect(&self, prefix: &str) -> String {
        assert_eq!(self.status, 303, "{}", self.body);
        let location = self.location.clone().expect("a Location header");
        assert!(
            location.starts_with(prefix),
            "redirected to {location}, expected {prefix}…"
        );
        location
    }
}

impl Browser {
    pub(crate) async fn get(&self, path: &str) -> Page {
        Page::from(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .expect("GET"),
        )
        .await
    }

    /// A form post with the session's CSRF token.
    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &self.csrf)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// A form post exactly as given (no CSRF token added).
    pub(crate) async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        Page::from(
            self.http
                .post(format!("{}{path}", self.base))
                .form(fields)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An account with [`PASSWORD`].
    pub(crate) async fn user(&self, email: &str, staff: bool) -> User {
        let user = self
            .app
            .store()
            .create_user(&NewUser {
                is_staff: staff,
                is_admin: staff,
                ..NewUser::person(Email::parse(email).expect("e-mail"))
            })
            .await
            .expect("create user");
        let hash = firefighter::server::auth::password::hash_password(PASSWORD.into())
            .await
            .expect("hash");
        self.app
            .store()
            .set_password_hash(user.id, Some(&hash))
            .await
            .expect("set password");
        user
    }

    /// Logs `user` in through the login form; the session's CSRF token is read from a page.
    pub(crate) async fn login(&self, user: &User) -> Browser {
        let http = http_client();
        let login = Page::from(
            http.get(self.url("/login"))
                .send()
                .await
                .expect("login page"),
        )
        .await;
        login.expect(200, &[]);
        let token = field_value(&login.body, "csrf_token").expect("login CSRF field");
        let r = Page::from(
            http.post(self.url("/login"))
                .form(&[
                    ("email", user.email.as_str()),
                    ("password", PASSWORD),
                    ("csrf_token", &token),
                    ("next", "/"),
                ])
                .send()
                .await
                .expect("log in"),
        )
        .await;
        r.expect_redirect("/");
        let mut browser = Browser {
            http,
            base: self.base.clone(),
            csrf: String::new(),
            user: user.clone(),
        };
        let home = browser.get("/").await;
        home.expect(200, &[]);
        browser.csrf = field_value(&home.body, "csrf_token").expect("session CSRF field");
        browser
    }

    /// A new account, logged in.
    pub(crate) async fn logged_in(&self, email: &str, staff: bool) -> Browser {
        let user = self.user(email, staff).await;
        self.login(&user).await
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

    /// A category that is not private by default.
    pub(crate) fn category(&self) -> String {
        self.catalog
            .categories
            .iter()
            .find(|c| !c.private)
            .expect("a public category")
            .id
            .to_string()
    }

    /// Declares an incident through core (fast set-up for tests about other things).
    pub(crate) async fn declare(
        &self,
        by: &User,
        title: &str,
        priority: &str,
        private: bool,
    ) -> IncidentId {
        let priority_id = self.priority(priority).parse().ok();
        self.app
            .declare(Declaration {
                title: title.into(),
                description: "Declared by a test".into(),
                priority_id,
                category_id: self.category().parse().ok(),
                environment_ids: vec![self.environment("PRD").parse().expect("id")],
                created_by: Some(by.id),
                private: Some(private),
                request_conversation: Some(false),
                ..Declaration::default()
            })
            .await
            .expect("declare")
            .incident
            .id
    }

    pub(crate) async fn incident_count(&self) -> u64 {
        self.app
            .store()
            .count_incidents(&Default::default())
            .await
            .expect("count")
    }
}
