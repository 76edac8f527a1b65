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
    let hash = crate::support::hex_sha256(last);
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
