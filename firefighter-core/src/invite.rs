//! Who gets invited to an incident: a registry of [`InviteProvider`]s that
//! replaces FireFighter's `get_invites` signal.
//!
//! Providers are registered statically with [`crate::register_invite_provider!`]
//! or at run time on the application builder. Resolution asks every provider
//! concurrently (each with a timeout), keeps what the healthy ones answered,
//! merges per user with every reason, adds the creator and role holders, and
//! drops users who cannot be invited (inactive, bots, no account on the platform).

use rustc_hash::FxHashMap;
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
    /// Shared: a provider gives most of its candidates the same reason.
    pub reason: Arc<str>,
}

impl InviteCandidate {
    /// A candidate.
    pub fn new(user_id: UserId, reason: impl Into<Arc<str>>) -> InviteCandidate {
        InviteCandidate {
            user_id,
            reason: reason.into(),
        }
    }
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

/// What resolution needs to know about a user: only this, so looking up
/// tens of thousands of users stays cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteeFacts {
    /// The user.
    pub user_id: UserId,
    /// Active (not deactivated).
    pub is_active: bool,
    /// A bot or service account.
    pub bot: bool,
    /// The user's id on the platform asked about, if linked.
    pub external_id: Option<String>,
}

impl InviteeFacts {
    /// The facts of a full user record.
    pub fn of(user: &User, platform: Option<&str>) -> InviteeFacts {
        InviteeFacts {
            user_id: user.id,
            is_active: user.is_active,
            bot: user.bot,
            external_id: platform
                .and_then(|p| user.identity(p))
                .filter(|id| !id.is_empty())
                .map(str::to_owned),
        }
    }
}

/// Looks users up; the store implements it, benchmarks and tests may use a map.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    /// The facts of the users with these ids (unknown ids are left out),
    /// with their id on `platform` when one is asked for.
    async fn invitee_facts(
        &self,
        ids: &[UserId],
        platform: Option<&str>,
    ) -> Result<Vec<InviteeFacts>>;
}

#[async_trait]
impl UserDirectory for Arc<dyn crate::Store> {
    async fn invitee_facts(
        &self,
        ids: &[UserId],
        platform: Option<&str>,
    ) -> Result<Vec<InviteeFacts>> {
        Ok(crate::store::UserStore::users(self.as_ref(), ids)
            .await?
            .iter()
            .map(|u| InviteeFacts::of(u, platform))
            .collect())
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
    pub reasons: Vec<Arc<str>>,
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

        // user → reasons, in provider order; an index keeps merging linear.
        let expected: usize = answers
            .iter()
            .map(|(_, a)| a.as_ref().map_or(0, |r| r.as_ref().map_or(0, Vec::len)))
            .sum();
        // FxHash: user ids are UUIDs we generate, no need for a DoS-resistant hasher.
        let mut index: FxHashMap<UserId, usize> = FxHashMap::with_capacity_and_hasher(
            expected + 1 + ctx.role_holders.len(),
            Default::default(),
        );
        let mut merged: Vec<(UserId, Vec<Arc<str>>)> =
            Vec::with_capacity(expected + 1 + ctx.role_holders.len());
        let mut add = |user: UserId, reason: Arc<str>| match index.get(&user) {
            Some(&i) => {
                let reasons = &mut merged[i].1;
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
            }
            None => {
                index.insert(user, merged.len());
                merged.push((user, vec![reason]));
            }
        };
        if let Some(creator) = ctx.created_by {
            add(creator, CREATOR_REASON.into());
        }
        let holds_a_role: Arc<str> = "holds a role in the incident".into();
        for holder in &ctx.role_holders {
            add(*holder, holds_a_role.clone());
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

        let ids: Vec<UserId> = merged.iter().map(|(id, _)| *id).collect();
        let mut facts: FxHashMap<UserId, InviteeFacts> =
            FxHashMap::with_capacity_and_hasher(ids.len(), Default::default());
        for f in directory.invitee_facts(&ids, platform).await? {
            facts.insert(f.user_id, f);
        }
        resolution.invitees.reserve(merged.len());
        for (user_id, why) in merged {
            let exclusion = match facts.get_mut(&user_id) {
                None => Err("unknown user".to_owned()),
                Some(f) if f.bot => Err("is a bot".to_owned()),
                Some(f) if !f.is_active => Err("is deactivated".to_owned()),
                Some(f) => match platform {
                    Some(p) if f.external_id.is_none() => Err(format!("has no {p} account")),
                    _ => Ok(f.external_id.take()),
                },
            };
            match exclusion {
                Err(why_not) => resolution.excluded.push(Exclusion {
                    user_id,
                    why: why_not,
                }),
                Ok(external_id) => resolution.invitees.push(Invitee {
                    user_id,
                    external_id,
                    reasons: why,
                }),
            }
        }
        resolution.invitees.sort_unstable_by_key(|i| i.user_id);
        resolution.excluded.sort_unstable_by_key(|e| e.user_id);
        Ok(resolution)
    }
}

#[cfg(test)]
mod tests;
