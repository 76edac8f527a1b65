//! The one set-up every test shares: a fresh SQLite file in a temporary
//! folder, the application built on it, the server on a free port.

use std::sync::{Arc, LazyLock};

use firefighter::core::store::Catalog;
use firefighter::core::{Firefighter, FirefighterBuilder, Settings};
use firefighter::server::{AppState, Server, ServerConfig};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt().with_env_filter("info").try_init();
    }
});

/// How to start a server for a test.
pub(crate) struct Start {
    /// The settings; the database URL is replaced by a fresh file's.
    pub(crate) settings: Settings,
    /// The server's configuration; its port is replaced by a free one.
    pub(crate) config: ServerConfig,
}

impl Default for Start {
    fn default() -> Self {
        Start {
            settings: Settings {
                base_url: "https://firefighter.example.com".into(),
                ..Settings::default()
            },
            config: ServerConfig::default(),
        }
    }
}

/// A started server and what the tests reach through it.
pub(crate) struct Started {
    pub(crate) base: String,
    pub(crate) state: AppState,
    pub(crate) app: Firefighter,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) dir: tempfile::TempDir,
}

impl Start {
    /// Builds the application (after `build` added to its builder) and
    /// serves it (after `state` adjusted the server's state).
    pub(crate) async fn run(
        mut self,
        build: impl FnOnce(FirefighterBuilder) -> FirefighterBuilder,
        state: impl FnOnce(AppState) -> AppState,
    ) -> Started {
        LazyLock::force(&TRACING);
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("ff.db").display());
        self.settings.database_url = SecretString::from(url);
        let app = build(Firefighter::builder(self.settings))
            .build()
            .await
            .expect("build the app");
        self.config.http_port = 0;
        let state = state(AppState::new(app.clone(), self.config));
        let server = Server::bind(state.clone()).await.expect("bind");
        let addr = server.local_addr().expect("address");
        let shutdown = CancellationToken::new();
        tokio::spawn(server.run_until(shutdown.clone()));
        let catalog = app.catalog().await.expect("catalog");
        Started {
            base: format!("http://{addr}"),
            state,
            app,
            catalog,
            shutdown,
            dir,
        }
    }
}
