//! The command line: `token create` prints the token alone on its last line.

use clap::Parser;
use firefighter::cli::{Cli, execute};
use firefighter::core::Settings;
use firefighter::server::ServerConfig;
use secrecy::SecretString;

#[tokio::test]
async fn token_create_prints_the_token_alone_on_the_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let settings = || Settings {
        database_url: SecretString::from(format!(
            "sqlite://{}",
            dir.path().join("ff.db").display()
        )),
        ..Settings::default()
    };
    let mut out = Vec::new();
    execute(
        Cli::try_parse_from(["firefighter", "migrate"]).unwrap(),
        settings(),
        ServerConfig::default(),
        &mut out,
    )
    .await
    .unwrap();
    let app = firefighter::core::Firefighter::builder(settings())
        .build()
        .await
        .unwrap();
    app.store()
        .create_user(&firefighter::core::NewUser::person(
            firefighter::core::Email::parse("bot@example.com").unwrap(),
        ))
        .await
        .unwrap();
    let mut out = Vec::new();
    let cli = Cli::try_parse_from([
        "firefighter",
        "token",
        "create",
        "--email",
        "bot@example.com",
        "--scope",
        "incidents:read",
    ])
    .unwrap();
    execute(cli, settings(), ServerConfig::default(), &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let last = text.lines().last().unwrap();
    assert_eq!(last.len(), 40, "{text}");
    assert!(last.bytes().all(|b| b.is_ascii_hexdigit()));
    let hash = super::support::hex_sha256(last);
    let token = app
        .store()
        .api_token_by_hash(&hash)
        .await
        .unwrap()
        .expect("stored hashed");
    assert_eq!(token.scopes, vec!["incidents:read".to_owned()]);

    // Unknown e-mail: a clear error.
    let cli = Cli::try_parse_from([
        "firefighter",
        "token",
        "create",
        "--email",
        "nobody@example.com",
    ])
    .unwrap();
    let err = execute(cli, settings(), ServerConfig::default(), &mut Vec::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("user create"), "{err}");
    // Every subcommand documents itself.
    assert!(Cli::try_parse_from(["firefighter", "user", "create", "--help"]).is_err());
}

#[cfg(feature = "slack")]
#[tokio::test]
async fn slack_manifest_prints_the_app_manifest_with_our_urls() {
    let settings = Settings {
        base_url: "https://ff.example.com".into(),
        ..Settings::default()
    };
    let mut out = Vec::new();
    execute(
        Cli::try_parse_from(["firefighter", "slack", "manifest"]).unwrap(),
        settings,
        ServerConfig::default(),
        &mut out,
    )
    .await
    .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&out).expect("the manifest is JSON");
    let text = manifest.to_string();
    assert!(
        text.contains("https://ff.example.com/api/v2/firefighter/slack/incident/"),
        "{text}"
    );
    assert!(
        text.contains("/incident"),
        "the slash command is declared: {text}"
    );
}

/// What `serve` prints, shared with the task that runs it.
#[derive(Clone, Default)]
struct Printed(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Printed {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Printed {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn without_base_url_links_use_the_address_listened_on() {
    let dir = tempfile::tempdir().unwrap();
    // BASE_URL unset; HTTP_PORT 0 picks a free port (never the default 8000).
    let settings = || Settings {
        database_url: SecretString::from(format!(
            "sqlite://{}",
            dir.path().join("ff.db").display()
        )),
        ..Settings::default()
    };
    let config = ServerConfig {
        http_port: 0,
        ..ServerConfig::default()
    };
    let printed = Printed::default();
    let serving = {
        let mut out = printed.clone();
        let settings = settings();
        tokio::spawn(async move {
            execute(
                Cli::try_parse_from(["firefighter", "serve"]).unwrap(),
                settings,
                config,
                &mut out,
            )
            .await
        })
    };
    let line = loop {
        if let Some(line) = printed.text().lines().find(|l| l.contains("listens on ")) {
            break line.to_owned();
        }
        assert!(!serving.is_finished(), "serve stopped: {}", printed.text());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let listened = line
        .split("listens on ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .to_owned();
    assert!(line.contains(&format!("(BASE_URL {listened},")), "{line}");

    // A token for the administrator the first start created.
    let mut out = Vec::new();
    let cli = Cli::try_parse_from([
        "firefighter",
        "token",
        "create",
        "--email",
        "admin@firefighter.localhost",
        "--scope",
        "incidents:read",
        "--scope",
        "incidents:write",
    ])
    .unwrap();
    execute(cli, settings(), ServerConfig::default(), &mut out)
        .await
        .unwrap();
    let token = String::from_utf8(out)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let reader = firefighter::core::Firefighter::builder(Settings {
        workers: false,
        ..settings()
    })
    .build()
    .await
    .unwrap();
    let category = reader.catalog().await.unwrap().categories[0].id.to_string();

    let r = reqwest::Client::new()
        .post(format!("{listened}/api/v2/firefighter/incidents"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Checkout fails for everyone", "incident_category_id": category}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Plain http: no Strict-Transport-Security.
    assert!(r.headers().get("strict-transport-security").is_none());
    let v: serde_json::Value = r.json().await.unwrap();
    let url = v["status_page_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{listened}/incident/")),
        "{url} is not on {listened}"
    );
    serving.abort();
}
