//! Who gets invited to an incident: a registry of [`InviteProvider`]s that
//! replaces FireFighter's `get_invites` signal.
//!
//! Providers are registered statically with [`crate::register_invite_provider!`]
//! or at run time on the application builder. Resolution asks every provider
//! concurrently (each with a timeout), keeps what the healthy ones answered,
//! merges per user with every reason, adds the creator and role holders, and
//! drops users who cannot be invited (inactive, bots, no account on the platform).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::{
    Environment, IncidentCategory, IncidentId, Priority, Result, User, UserId,
    plugin::PluginContext,
};

/// What a provider knows about the incident it is asked about. For a dry run
/// ("who would be invited to a P1 in Payments?") `incident_id` is `None`.
#[derive(Debug, Clone)]
pub struct InviteContext {
    /// The incident, when it exists.
    pub incident_id: Option<IncidentId>,
    /// Its priority.
    pub priority: Priority,
    /// Its category.
    pub category: IncidentCategory,
    /// Its environments.
    pub environments: Vec<Environment>,
    /// Whether it is private.
    pub private: bool,
    /// Who declared it.
    pub created_by: Option<UserId>,
    /// Who holds a role in it.
    pub role_holders: Vec<UserId>,
}

impl InviteContext {
    /// Whether the incident touches production.
    pub fn in_production(&self) -> bool {
        self.environments.iter().any(Environment::is_production)
    }
}

/// One user a provider wants invited, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteCandidate {
    /// The user.
    pub user_id: UserId,
    /// Why, for people ("member of @sre, linked to category Payments").
    pub reason: String,
}

/// A provider's failure; it is logged and the others' answers are kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProviderError(pub String);

/// Computes users to invite to an incident. Prefer data already synced to the
/// database over live vendor calls: resolution waits for every provider.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait InviteProvider: Send + Sync + 'static {
    /// A stable, unique name.
    fn name(&self) -> &str;
    /// Whether the provider is asked about private incidents. Core's rule:
    /// private incidents only get invitations from providers that opt in.
    fn includes_private(&self) -> bool {
        false
    }
    /// The users to invite, each with a reason.
    async fn invitees(
        &self,
        incident: &InviteContext,
    ) -> Result<Vec<InviteCandidate>, ProviderError>;
}

/// Static registration of an invite provider.
#[derive(Debug)]
pub struct InviteProviderRegistration {
    /// The provider's name.
    pub name: &'static str,
    /// Builds the provider; `Ok(None)` when its integration is switched off.
    pub build: crate::plugin::PluginBuilder<dyn InviteProvider>,
}

inventory::collect!(InviteProviderRegistration);

/// Registers an invite provider from any crate.
#[macro_export]
macro_rules! register_invite_provider {
    ($registration:expr) => {
        $crate::__inventory::submit! { $registration }
    };
}

/// Looks users up; the store implements it, benchmarks and tests may use a map.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    /// The users with these ids (unknown ids are left out).
    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>>;
}

#[async_trait]
impl UserDirectory for Arc<dyn crate::Store> {
    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>> {
        crate::Store::users(self.as_ref(), ids).await
    }
}

/// A user to invite, with every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invitee {
    /// The user.
    pub user_id: UserId,
    /// Their id on the target platform, when one was asked for.
    pub external_id: Option<String>,
    /// Every reason, in provider order.
    pub reasons: Vec<String>,
}

/// A user who was proposed but will not be invited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exclusion {
    /// The user.
    pub user_id: UserId,
    /// Why not.
    pub why: String,
}

/// The result of a resolution.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InviteResolution {
    /// Who to invite, sorted by user id.
    pub invitees: Vec<Invitee>,
    /// Who was proposed and left out.
    pub excluded: Vec<Exclusion>,
    /// Providers that failed or timed out, with the error.
    pub failed_providers: Vec<(String, String)>,
    /// Providers skipped (private incident and no opt-in).
    pub skipped_providers: Vec<String>,
}

/// The registry of invite providers.
#[derive(Clone, Default)]
pub struct InviteRegistry {
    providers: Vec<Arc<dyn InviteProvider>>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for InviteRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InviteRegistry")
            .field("providers", &self.names())
            .finish()
    }
}

/// The reason given for the creator.
pub const CREATOR_REASON: &str = "declared the incident";

impl InviteRegistry {
    /// An empty registry.
    pub fn new() -> InviteRegistry {
        InviteRegistry::default()
    }

    /// Builds every statically registered provider (sorted by name).
    pub fn from_inventory(ctx: &PluginContext) -> Result<InviteRegistry> {
        let mut registrations: Vec<&InviteProviderRegistration> =
            inventory::iter::<InviteProviderRegistration>
                .into_iter()
                .collect();
        registrations.sort_by_key(|r| r.name);
        let mut registry = InviteRegistry::new();
        for registration in registrations {
            match (registration.build)(ctx)? {
                Some(provider) => registry.register(provider)?,
                None => {
                    tracing::info!(provider = registration.name, "invite provider switched off")
                }
            }
        }
        Ok(registry)
    }

    /// Names of every statically registered provider, built or not (sorted).
    pub fn registered_names() -> Vec<&'static str> {
        let mut names: Vec<_> = inventory::iter::<InviteProviderRegistration>
            .into_iter()
            .map(|r| r.name)
            .collect();
        names.sort_unstable();
        names
    }

    /// Adds a provider; names must be unique.
    pub fn register(&mut self, provider: Arc<dyn InviteProvider>) -> Result<()> {
        if self.providers.iter().any(|p| p.name() == provider.name()) {
            return Err(crate::Error::Config(format!(
                "two invite providers are named \"{}\"",
                provider.name()
            )));
        }
        self.providers.push(provider);
        Ok(())
    }

    /// Sets the per-provider timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> InviteRegistry {
        self.timeout = Some(timeout);
        self
    }

    /// Names of the providers in this registry.
    pub fn names(&self) -> Vec<String> {
        self.providers.iter().map(|p| p.name().to_owned()).collect()
    }

    /// Asks every provider and merges the answers. `platform` (`slack`...)
    /// keeps only users with an account there; `None` keeps every active person.
    pub async fn resolve(
        &self,
        ctx: &InviteContext,
        platform: Option<&str>,
        directory: &dyn UserDirectory,
    ) -> Result<InviteResolution> {
        let timeout = self.timeout.unwrap_or(Duration::from_secs(5));
        let mut resolution = InviteResolution::default();
        let mut asked = Vec::new();
        for provider in &self.providers {
            if ctx.private && !provider.includes_private() {
                resolution
                    .skipped_providers
                    .push(provider.name().to_owned());
            } else {
                asked.push(provider.clone());
            }
        }
        let answers = futures::future::join_all(asked.iter().map(|provider| async move {
            let answer = tokio::time::timeout(timeout, provider.invitees(ctx)).await;
            (provider.name().to_owned(), answer)
        }))
        .await;

        // user → reasons, in a stable order.
        let mut reasons: HashMap<UserId, Vec<String>> = HashMap::new();
        let mut add = |user: UserId, reason: String| {
            let entry = reasons.entry(user).or_default();
            if !entry.contains(&reason) {
                entry.push(reason);
            }
        };
        if let Some(creator) = ctx.created_by {
            add(creator, CREATOR_REASON.to_owned());
        }
        for holder in &ctx.role_holders {
            add(*holder, "holds a role in the incident".to_owned());
        }
        for (name, answer) in answers {
            match answer {
                Ok(Ok(candidates)) => {
                    for c in candidates {
                        add(c.user_id, c.reason);
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(provider = %name, error = %e, "invite provider failed; its invitations are skipped");
                    resolution.failed_providers.push((name, e.0));
                }
                Err(_) => {
                    tracing::warn!(provider = %name, ?timeout, "invite provider timed out; its invitations are skipped");
                    resolution
                        .failed_providers
                        .push((name, format!("timed out after {timeout:?}")));
                }
            }
        }

        let ids: Vec<UserId> = reasons.keys().copied().collect();
        let users: HashMap<UserId, User> = directory
            .users(&ids)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let mut sorted: BTreeMap<UserId, Vec<String>> = reasons.into_iter().collect();
        for (user_id, why) in std::mem::take(&mut sorted) {
            let exclusion = match users.get(&user_id) {
                None => Some("unknown user".to_owned()),
                Some(u) if u.bot => Some("is a bot".to_owned()),
                Some(u) if !u.is_active => Some("is deactivated".to_owned()),
                Some(u) => match platform {
                    Some(p) if !u.invitable_on(p) => Some(format!("has no {p} account")),
                    _ => None,
                },
            };
            match exclusion {
                Some(why_not) => resolution.excluded.push(Exclusion {
                    user_id,
                    why: why_not,
                }),
                None => resolution.invitees.push(Invitee {
                    user_id,
                    external_id: platform
                        .and_then(|p| users[&user_id].identity(p).map(str::to_owned)),
                    reasons: why,
                }),
            }
        }
        Ok(resolution)
    }
}

#[cfg(test)]
mod tests;
