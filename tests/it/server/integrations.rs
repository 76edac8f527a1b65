//! The integrations compiled into the facade: their static registrations are
//! linked, their state is reported, and their pages sit behind the login.

use firefighter::core::{InviteRegistry, event, oncall, task};

use super::support::*;

#[test]
fn every_compiled_in_registration_is_linked() {
    // A crate the binary never references is dropped by the linker, with
    // its registrations: these lists would silently shrink.
    let providers = InviteRegistry::registered_names();
    let tasks = task::registered_names();
    let handlers = event::registered_names();
    #[cfg(feature = "pagerduty")]
    {
        assert!(providers.contains(&"pagerduty.oncall"), "{providers:?}");
        for t in [
            "pagerduty.fetch_oncalls",
            "pagerduty.fetch_services",
            "pagerduty.fetch_users",
            "pagerduty.trigger_oncall",
        ] {
            assert!(tasks.contains(&t), "{t} missing from {tasks:?}");
        }
        // Slack and Confluence reach PagerDuty only through this.
        assert_eq!(oncall::registered_names(), ["pagerduty"]);
    }
    #[cfg(not(feature = "pagerduty"))]
    assert!(oncall::registered_names().is_empty());
    #[cfg(feature = "slack")]
    assert!(tasks.contains(&"slack.update_oncall_topic"), "{tasks:?}");
    #[cfg(feature = "confluence")]
    assert!(tasks.contains(&"confluence.export_oncall"), "{tasks:?}");
    #[cfg(feature = "jira")]
    assert!(handlers.contains(&"jira.tickets"), "{handlers:?}");
    #[cfg(feature = "slack")]
    {
        for p in ["slack.category", "slack.public_p1_usergroups"] {
            assert!(providers.contains(&p), "{p} missing from {providers:?}");
        }
        assert!(handlers.contains(&"slack"), "{handlers:?}");
        for t in [
            "slack.sync_users",
            "slack.send_reminders",
            "slack.send_postmortem_reminders",
            "slack.replay_submissions",
        ] {
            assert!(tasks.contains(&t), "{t} missing from {tasks:?}");
        }
    }
    let _ = (providers, tasks, handlers);
}

#[test]
fn the_status_of_each_integration_says_why_it_is_off() {
    let status = firefighter::server::integrations::status();
    let names: Vec<&str> = status.iter().map(|s| s.name).collect();
    assert_eq!(names, vec!["slack", "pagerduty", "confluence", "jira"]);
    let jira = status.iter().find(|s| s.name == "jira").unwrap();
    assert!(!jira.on);
    // Off by default, and saying which variable switches it on.
    #[cfg(feature = "jira")]
    assert_eq!(jira.why, "ENABLE_JIRA is not set to yes");
    #[cfg(not(feature = "jira"))]
    assert!(jira.why.contains("--features jira"), "{}", jira.why);
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("the package's Cargo.toml");
    let features = manifest
        .split("\n[features]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [features] table");
    for s in &status {
        assert!(
            s.on || !s.why.is_empty(),
            "{} is off without a reason",
            s.name
        );
        // "build with --features x" only for a feature that exists.
        if let Some(offered) = s.why.split("--features ").nth(1) {
            let feature = offered
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                .next()
                .unwrap();
            assert!(
                features.contains(&format!("\n{feature} = [")),
                "{}: offers --features {feature}, which Cargo.toml does not define",
                s.name
            );
        }
    }
}

/// The server with PagerDuty on. Nothing is called on PagerDuty: the pages
/// read synced data.
#[cfg(feature = "pagerduty")]
async fn spawn_app_with_pagerduty() -> TestApp {
    use firefighter::pagerduty::{PagerDuty, PagerDutyConfig};
    spawn_app_customized(|state| {
        let config = PagerDutyConfig::new("test-key", "ops@example.com", "http://127.0.0.1:9");
        let pd = PagerDuty::new(config, state.app.store().clone()).expect("pagerduty");
        state.with_pagerduty(Some(pd))
    })
    .await
}

#[cfg(feature = "pagerduty")]
#[tokio::test]
async fn the_on_call_page_needs_a_login_and_shows_the_roster() {
    let app = spawn_app_with_pagerduty().await;
    let anonymous = client();
    let r = anonymous.get(app.url("/oncall/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );

    app.user("jane@example.com", "correct horse battery", false)
        .await;
    let jane = log_in(&app, "jane@example.com", "correct horse battery").await;
    let r = jane.get(app.url("/oncall/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.to_lowercase().contains("on-call"), "{page}");
    // The navigation offers the page once PagerDuty is on.
    let home = jane
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("/oncall/"),
        "the navigation links the on-call page"
    );
}

#[cfg(feature = "slack")]
#[tokio::test]
async fn slack_is_reached_without_a_login_and_checks_its_signature_itself() {
    use firefighter::slack::{HttpSlackClient, Slack, SlackConfig};
    let app = spawn_app_customized(|state| {
        let config = SlackConfig::new("xoxb-test", "8f742231b10e8888abcd99yyyzzz85a5");
        // Nothing reaches Slack in this test: the request is refused first.
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
    let r = client()
        .post(app.url("/api/v2/firefighter/slack/incident/"))
        .header(
            "x-slack-request-timestamp",
            chrono::Utc::now().timestamp().to_string(),
        )
        .header("x-slack-signature", "v0=forged")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("command=%2Fincident&text=open")
        .send()
        .await
        .unwrap();
    // Not a redirect to the login page nor a CSRF refusal: Slack's own check.
    assert_eq!(r.status(), 401);
    assert_eq!(app.incident_count().await, 0);
}

#[cfg(feature = "pagerduty")]
#[tokio::test]
async fn staff_flag_a_pagerduty_service_ignored_from_the_back_office() {
    use firefighter::core::store::DatabasePool;
    let app = spawn_app_with_pagerduty().await;
    // A service as the sync writes it.
    let Some(DatabasePool::Sqlite(pool)) = app.app.store().database() else {
        panic!("the test server runs on SQLite");
    };
    sqlx::query(
        "INSERT INTO pd_services (pagerduty_id, name, status, web_url, created_at, updated_at) \
         VALUES ('PCHECKOUT', 'Checkout API', 'active', 'https://acme.pagerduty.com/service-directory/PCHECKOUT', \
         '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let pageable = |who: &reqwest::Client| {
        let request = who.get(app.api("oncall/services/"));
        async move {
            let services: Vec<serde_json::Value> =
                request.send().await.unwrap().json().await.unwrap();
            services.iter().any(|s| s["id"] == "PCHECKOUT")
        }
    };

    app.user("jane@example.com", "correct horse battery", false)
        .await;
    let jane = log_in(&app, "jane@example.com", "correct horse battery").await;
    let r = jane
        .get(app.url("/admin/pagerduty/services/"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "staff only: {}", r.status());

    app.user("ops@example.com", "correct horse battery", true)
        .await;
    let ops = log_in(&app, "ops@example.com", "correct horse battery").await;
    let index = ops
        .get(app.url("/admin/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        index.contains("/admin/pagerduty/services/"),
        "the back-office links the section"
    );
    let page = ops
        .get(app.url("/admin/pagerduty/services/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Checkout API") && page.contains("Ignore"),
        "{page}"
    );
    let csrf = csrf_field(&page);
    assert!(pageable(&ops).await);
    let set = |ignore: &'static str, service: &'static str| {
        ops.post(app.url(&format!("/admin/pagerduty/services/{service}/ignore")))
            .form(&[("ignore", ignore), ("csrf_token", csrf.as_str())])
            .send()
    };

    // Bad input changes nothing.
    let r = set("maybe", "PCHECKOUT").await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(pageable(&ops).await);
    let r = set("true", "PNOSUCH").await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("PNOSUCH"));

    let back_to_the_list = |r: reqwest::Response| {
        assert_eq!(r.status(), 303);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with("/admin/pagerduty/services/?"),
            "{location}"
        );
        let request = ops.get(app.url(&location));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let page = back_to_the_list(set("true", "PCHECKOUT").await.unwrap()).await;
    assert!(page.contains("Checkout API is now ignored"), "{page}");
    assert!(page.contains("Page it again"), "{page}");
    assert!(
        !pageable(&ops).await,
        "an ignored service is not offered for paging"
    );

    let page = back_to_the_list(set("false", "PCHECKOUT").await.unwrap()).await;
    assert!(page.contains("Checkout API can be paged again"), "{page}");
    assert!(pageable(&ops).await);
}

fn environment(pairs: &[(&str, &str)]) -> figment::Figment {
    pairs.iter().fold(figment::Figment::new(), |f, (k, v)| {
        f.merge(figment::providers::Serialized::default(
            &k.to_ascii_lowercase(),
            v,
        ))
    })
}

/// The server and the integration read `ENABLE_PAGERDUTY` by the same rule:
/// what switches PagerDuty on is reported as on.
#[cfg(feature = "pagerduty")]
#[test]
fn the_start_up_report_reads_yes_no_words_as_pagerduty_does() {
    let pagerduty = |value: &str| {
        firefighter::server::integrations::status_in(&environment(&[
            ("ENABLE_PAGERDUTY", value),
            ("PAGERDUTY_API_KEY", "k"),
            ("PAGERDUTY_ACCOUNT_EMAIL", "oncall@example.com"),
        ]))
        .into_iter()
        .find(|s| s.name == "pagerduty")
        .unwrap()
    };
    for yes in ["y", "t", "YES", "1", "on"] {
        let status = pagerduty(yes);
        assert!(status.on, "ENABLE_PAGERDUTY={yes}: {}", status.why);
    }
    assert!(!pagerduty("n").on);
    let maybe = pagerduty("maybe");
    assert!(!maybe.on);
    assert!(maybe.why.contains("ENABLE_PAGERDUTY"), "{}", maybe.why);
    assert!(maybe.why.contains("maybe"), "{}", maybe.why);
}

/// A word that is neither yes nor no stops the integration's configuration
/// with an error naming the variable, never a silent "off".
#[cfg(feature = "pagerduty")]
#[test]
fn enable_pagerduty_maybe_is_an_error_naming_the_variable() {
    let err = firefighter::pagerduty::PagerDutyConfig::from_figment(environment(&[
        ("ENABLE_PAGERDUTY", "maybe"),
        ("PAGERDUTY_API_KEY", "k"),
        ("PAGERDUTY_ACCOUNT_EMAIL", "oncall@example.com"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(err.contains("ENABLE_PAGERDUTY"), "{err}");
    assert!(err.contains("maybe"), "{err}");
}

/// The reason an integration is off is the integration's own: the server
/// does not guess which of its variables matter.
#[cfg(all(feature = "slack", feature = "confluence"))]
#[test]
fn each_integration_reports_why_it_is_off_in_its_own_words() {
    let status = firefighter::server::integrations::status_in(&environment(&[
        ("ENABLE_SLACK", "no"),
        ("SLACK_BOT_TOKEN", "xoxb-1"),
        ("SLACK_SIGNING_SECRET", "s"),
        ("ENABLE_CONFLUENCE", "t"),
        ("CONFLUENCE_URL", "https://wiki.example.com"),
    ]));
    let slack = status.iter().find(|s| s.name == "slack").unwrap();
    assert!(!slack.on);
    assert!(slack.why.contains("ENABLE_SLACK"), "{}", slack.why);
    let confluence = status.iter().find(|s| s.name == "confluence").unwrap();
    assert!(!confluence.on);
    assert!(
        confluence.why.contains("CONFLUENCE_API_KEY"),
        "{}",
        confluence.why
    );
}

/// Jira's ticket intake sits behind the server's login: a POST with an API
/// token reaches it (a ticket is made in a fake Jira on 127.0.0.1), an
/// anonymous one is answered 401 and reaches nothing. The server runs as
/// its own process (the failure test's `server_process`), so that Jira is
/// switched on by its environment, as in production.
#[cfg(feature = "jira")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jira_intake_takes_api_tokens_and_refuses_anonymous_calls() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use firefighter::core::{Email, Firefighter, NewUser, Settings};
    use firefighter::server::{AppState, ServerConfig};
    use secrecy::SecretString;
    use serde_json::{Value, json};

    // A fake Jira: nobody has an account; every create makes SBI-1.
    let creates = Arc::new(AtomicUsize::new(0));
    let created = creates.clone();
    let jira = axum::Router::new()
        .route(
            "/rest/api/3/user/search",
            axum::routing::get(|| async { axum::Json(json!([])) }),
        )
        .route(
            "/rest/api/3/issue",
            axum::routing::post(move |body: axum::Json<Value>| {
                let created = created.clone();
                async move {
                    assert_eq!(body["fields"]["project"]["key"], "SBI");
                    created.fetch_add(1, Ordering::SeqCst);
                    (
                        axum::http::StatusCode::CREATED,
                        axum::Json(json!({"id": "10001", "key": "SBI-1"})),
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jira_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, jira).await });

    // The database, with a person and an API token.
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite:{}", dir.path().join("ff.db").display());
    let token = {
        let app = Firefighter::builder(Settings {
            database_url: SecretString::from(database_url.clone()),
            workers: false,
            ..Settings::default()
        })
        .with_registered_plugins(false)
        .build()
        .await
        .unwrap();
        let bot = app
            .store()
            .create_user(&NewUser::person(
                Email::parse("landbot@example.com").unwrap(),
            ))
            .await
            .unwrap();
        let state = AppState::new(app, ServerConfig::default());
        firefighter::server::auth::issue_api_token(&state, bot.id, "landbot", &[], None)
            .await
            .unwrap()
            .0
    };

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "server::faults::server_process",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("FF_FAULT_TEST_SERVER", "1")
        .env("DATABASE_URL", &database_url)
        .env("HTTP_BIND", "127.0.0.1")
        .env("HTTP_PORT", port.to_string())
        .env("BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("ENABLE_PAGERDUTY", "false")
        .env("ENABLE_CONFLUENCE", "false")
        .env("ENABLE_JIRA", "yes")
        .env("RAID_JIRA_API_URL", &jira_url)
        .env("RAID_JIRA_API_USER", "bot@example.com")
        .env("RAID_JIRA_API_PASSWORD", "token")
        .env("RAID_JIRA_PROJECT_KEY", "INC")
        .env("RAID_DEFAULT_JIRA_QRAFT_USER_ID", "557058:service-account")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start the server process");
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let base = format!("http://127.0.0.1:{port}");
    let http = client();
    let mut up = false;
    for _ in 0..600 {
        if let Ok(r) = http
            .get(format!("{base}/api/v2/firefighter/monitoring/healthcheck"))
            .send()
            .await
            && r.status().is_success()
        {
            up = true;
            break;
        }
        if let Ok(Some(status)) = server.try_wait() {
            panic!(
                "the server stopped ({status}):\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _stop = Stop(server);
    assert!(
        up,
        "the server did not start:\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );

    let url = format!("{base}/api/v2/firefighter/raid/jira_bot");
    let body = json!({
        "summary": "Seller cannot see their orders",
        "description": "The orders page stays empty.",
        "seller_contract_id": null,
        "zoho": null,
        "platform": "FR",
        "reporter_email": "jane@partner.com",
        "incident_category": null,
        "suggested_team_routing": "ORD",
        "priority": 4,
        "business_impact": "Low"
    });
    let anonymous = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let answer: Value = anonymous.json().await.unwrap();
    assert_eq!(answer["errors"][0]["code"], "not_authenticated", "{answer}");
    assert_eq!(creates.load(Ordering::SeqCst), 0);

    let with_token = http
        .post(&url)
        .header("Authorization", format!("Bearer {token}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = with_token.status();
    let answer: Value = with_token.json().await.unwrap_or(Value::Null);
    assert_eq!(
        status,
        201,
        "{answer}\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    assert_eq!(answer, json!("SBI-1"));
    assert_eq!(creates.load(Ordering::SeqCst), 1);
}
