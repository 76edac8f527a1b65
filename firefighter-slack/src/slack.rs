//! [`Slack`]: what every part of the integration shares: configuration, the
//! Web API client, our tables, core's store and settings, and the application.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use firefighter_core::plugin::{AppHandle, PluginContext};
use firefighter_core::{Firefighter, Settings, Store};
use tokio::sync::OnceCell;

use crate::client::{HttpSlackClient, SlackApi};
use crate::models::api::AuthInfo;
use crate::signature::SignatureVerifier;
use crate::store::SlackStore;
use crate::{Error, Result, SlackConfig};

pub(crate) struct Inner {
    pub(crate) config: SlackConfig,
    pub(crate) api: Arc<dyn SlackApi>,
    pub(crate) store: SlackStore,
    pub(crate) core: Arc<dyn Store>,
    pub(crate) settings: Arc<Settings>,
    pub(crate) verifier: SignatureVerifier,
    pub(crate) workspace: OnceCell<AuthInfo>,
    app_handle: OnceLock<AppHandle>,
    app: OnceLock<Firefighter>,
    /// Slack id → firefighter user, for members already linked (ids never change).
    pub(crate) user_ids: Mutex<HashMap<String, firefighter_core::UserId>>,
    /// Writes deferred after acknowledgements, a few at a time: the database
    /// takes one writer anyway, and waiting writers would hold every pooled
    /// connection the acknowledgements need for their reads.
    pub(crate) writes: tokio::sync::Semaphore,
    /// Where submissions are recorded before their acknowledgement.
    pub(crate) inbox: firefighter_core::inbox::Inbox,
    /// Work running after an acknowledgement.
    background: Arc<(std::sync::atomic::AtomicUsize, tokio::sync::Notify)>,
}

/// The Slack integration. Cheap to clone.
#[derive(Clone)]
pub struct Slack {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack")
            .field("api_url", &self.inner.config.api_url)
            .field("command", &self.inner.config.command)
            .finish_non_exhaustive()
    }
}

/// One client per workspace and process, so every part shares one pace.
fn shared_client(config: &SlackConfig) -> Result<Arc<HttpSlackClient>> {
    static CLIENTS: OnceLock<Mutex<HashMap<String, Arc<HttpSlackClient>>>> = OnceLock::new();
    use secrecy::ExposeSecret;
    let key = format!("{}\n{}", config.api_url, config.bot_token.expose_secret());
    let mut clients = CLIENTS
        .get_or_init(Default::default)
        .lock()
        .expect("client cache");
    if let Some(c) = clients.get(&key) {
        return Ok(c.clone());
    }
    let client = Arc::new(HttpSlackClient::new(config)?);
    clients.insert(key, client.clone());
    Ok(client)
}

impl Slack {
    /// Assembles the integration from its parts.
    pub fn new(
        config: SlackConfig,
        api: Arc<dyn SlackApi>,
        settings: Arc<Settings>,
        core: Arc<dyn Store>,
    ) -> Result<Slack> {
        let pool = core
            .database()
            .ok_or_else(|| Error::Config("Slack needs the SQLite or PostgreSQL store".into()))?;
        Ok(Slack {
            inner: Arc::new(Inner {
                verifier: SignatureVerifier::new(config.signing_secret.clone()),
                config,
                api,
                store: SlackStore::with_writer(pool.clone(), core.write_database().unwrap_or(pool)),
                core: core.clone(),
                settings,
                workspace: OnceCell::new(),
                app_handle: OnceLock::new(),
                app: OnceLock::new(),
                user_ids: Mutex::new(HashMap::new()),
                writes: tokio::sync::Semaphore::new(2),
                inbox: firefighter_core::inbox::Inbox::new(
                    core.clone(),
                    crate::submissions::SOURCE,
                ),
                background: Arc::default(),
            }),
        })
    }

    /// From the environment; `Ok(None)` when Slack is switched off.
    pub fn from_env(settings: Arc<Settings>, core: Arc<dyn Store>) -> Result<Option<Slack>> {
        let Some(config) = SlackConfig::from_env()? else {
            return Ok(None);
        };
        let api = shared_client(&config)?;
        Slack::new(config, api, settings, core).map(Some)
    }

    /// From a plugin context (static registrations); the application is
    /// reached through the context's handle.
    pub(crate) fn from_plugin_context(ctx: &PluginContext) -> Result<Option<Slack>> {
        let slack = Slack::from_env(ctx.settings.clone(), ctx.store.clone())?;
        if let Some(s) = &slack {
            let _ = s.inner.app_handle.set(ctx.app_handle());
        }
        Ok(slack)
    }

    /// Gives the integration the built application (run-time assembly, routes).
    pub fn attach(&self, app: &Firefighter) {
        if self.inner.app_handle.get().is_none() {
            let _ = self.inner.app.set(app.clone());
        }
    }

    /// Core's inbox of Slack's submissions (source `slack`).
    pub fn inbox(&self) -> &firefighter_core::inbox::Inbox {
        &self.inner.inbox
    }

    /// Runs work after an acknowledgement, tracked so [`Slack::idle`] can wait for it.
    pub(crate) fn spawn<F>(&self, work: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        use std::sync::atomic::Ordering;
        let background = self.inner.background.clone();
        background.0.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            work.await;
            if background.0.fetch_sub(1, Ordering::SeqCst) == 1 {
                background.1.notify_waiters();
            }
        });
    }

    /// Waits until the work started after acknowledgements is done (tests, graceful shutdown).
    pub async fn idle(&self) {
        use std::sync::atomic::Ordering;
        loop {
            let notified = self.inner.background.1.notified();
            if self.inner.background.0.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The application.
    pub(crate) fn app(&self) -> Result<Firefighter> {
        self.inner
            .app_handle
            .get()
            .and_then(AppHandle::get)
            .or_else(|| self.inner.app.get().cloned())
            .ok_or_else(|| Error::Config("the application is not built yet".into()))
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &SlackConfig {
        &self.inner.config
    }

    /// The Web API client.
    pub(crate) fn api(&self) -> &Arc<dyn SlackApi> {
        &self.inner.api
    }

    /// Our tables.
    pub fn store(&self) -> &SlackStore {
        &self.inner.store
    }

    /// Core settings.
    pub(crate) fn settings(&self) -> &Arc<Settings> {
        &self.inner.settings
    }

    /// Core's store.
    pub(crate) fn core(&self) -> &Arc<dyn Store> {
        &self.inner.core
    }

    /// The workspace and the bot's identity (`auth.test`, asked once).
    pub(crate) async fn workspace(&self) -> Result<AuthInfo> {
        self.inner
            .workspace
            .get_or_try_init(|| async { self.inner.api.auth_test().await })
            .await
            .cloned()
    }

    /// A link that opens a channel in Slack.
    pub(crate) async fn channel_url(&self, channel_id: &str) -> String {
        match self.workspace().await {
            Ok(w) if !w.team_id.is_empty() => format!(
                "https://slack.com/app_redirect?channel={channel_id}&team={}",
                w.team_id
            ),
            _ => format!("https://slack.com/app_redirect?channel={channel_id}"),
        }
    }
}
