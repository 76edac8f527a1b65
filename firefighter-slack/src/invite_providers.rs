//! Core trait implementations and their static registrations: the event
//! handler, the invite providers, the tasks and the schema.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use firefighter_core::event::{EventHandler, EventHandlerRegistration};
use firefighter_core::invite::{
    InviteCandidate, InviteContext, InviteProvider, InviteProviderRegistration, ProviderError,
};
use firefighter_core::plugin::{PluginContext, SchemaRegistration};
use firefighter_core::task::{PeriodicTask, TaskRegistration};

use crate::Slack;
use crate::handler::{HANDLER_NAME, SlackEventHandler};
use crate::messages::tag;
use crate::store::SlackStore;

/// Name of the category provider.
pub(crate) const CATEGORY_PROVIDER: &str = "slack.category";
/// Name of the public-P1 provider.
pub(crate) const PUBLIC_P1_PROVIDER: &str = "slack.public_p1_usergroups";

/// Members of the conversations and user groups linked to the incident's
/// category. Asked about private incidents too, like FireFighter.
#[derive(Debug, Clone)]
pub(crate) struct CategoryInviteProvider {
    store: SlackStore,
}

impl CategoryInviteProvider {
    /// A provider reading our tables.
    pub(crate) fn new(store: SlackStore) -> CategoryInviteProvider {
        CategoryInviteProvider { store }
    }
}

#[async_trait]
impl InviteProvider for CategoryInviteProvider {
    fn name(&self) -> &str {
        CATEGORY_PROVIDER
    }

    fn includes_private(&self) -> bool {
        true
    }

    async fn invitees(
        &self,
        incident: &InviteContext,
    ) -> Result<Vec<InviteCandidate>, ProviderError> {
        let rows = self
            .store
            .category_invitees(incident.category.id)
            .await
            .map_err(|e| ProviderError(e.to_string()))?;
        // One reason per conversation or group, shared by its members.
        let mut reasons: HashMap<String, Arc<str>> = HashMap::new();
        Ok(rows
            .into_iter()
            .map(|(user_id, place)| {
                let reason = reasons.entry(place).or_insert_with_key(|place| {
                    format!(
                        "member of {place}, linked to category {}",
                        incident.category.name
                    )
                    .into()
                });
                InviteCandidate::new(user_id, reason.clone())
            })
            .collect())
    }
}

/// Members of the user groups tagged `invited_for_all_public_p1`, for public P1s.
#[derive(Debug, Clone)]
pub(crate) struct PublicP1InviteProvider {
    store: SlackStore,
}

impl PublicP1InviteProvider {
    /// A provider reading our tables.
    pub(crate) fn new(store: SlackStore) -> PublicP1InviteProvider {
        PublicP1InviteProvider { store }
    }
}

#[async_trait]
impl InviteProvider for PublicP1InviteProvider {
    fn name(&self) -> &str {
        PUBLIC_P1_PROVIDER
    }

    async fn invitees(
        &self,
        incident: &InviteContext,
    ) -> Result<Vec<InviteCandidate>, ProviderError> {
        if incident.private || incident.priority.value > 1 {
            return Ok(Vec::new());
        }
        let rows = self
            .store
            .tagged_usergroup_members(tag::INVITED_FOR_ALL_PUBLIC_P1)
            .await
            .map_err(|e| ProviderError(e.to_string()))?;
        let mut reasons: HashMap<String, Arc<str>> = HashMap::new();
        Ok(rows
            .into_iter()
            .map(|(user_id, handle)| {
                let reason = reasons.entry(handle).or_insert_with_key(|handle| {
                    format!("member of @{handle}, invited to every public P1").into()
                });
                InviteCandidate::new(user_id, reason.clone())
            })
            .collect())
    }
}

impl Slack {
    /// The event handler (for run-time assembly).
    pub fn event_handler(&self) -> Arc<dyn EventHandler> {
        Arc::new(SlackEventHandler::new(self.clone()))
    }

    /// The invite providers (for run-time assembly).
    pub fn invite_providers(&self) -> Vec<Arc<dyn InviteProvider>> {
        vec![
            Arc::new(CategoryInviteProvider::new(self.store().clone())),
            Arc::new(PublicP1InviteProvider::new(self.store().clone())),
        ]
    }
}

fn build_slack(ctx: &PluginContext) -> firefighter_core::Result<Option<Slack>> {
    Slack::from_plugin_context(ctx).map_err(|e| firefighter_core::Error::Config(e.to_string()))
}

fn build_handler(ctx: &PluginContext) -> firefighter_core::Result<Option<Arc<dyn EventHandler>>> {
    Ok(build_slack(ctx)?.map(|s| s.event_handler()))
}

fn build_category_provider(
    ctx: &PluginContext,
) -> firefighter_core::Result<Option<Arc<dyn InviteProvider>>> {
    Ok(build_slack(ctx)?.map(|s| {
        Arc::new(CategoryInviteProvider::new(s.store().clone())) as Arc<dyn InviteProvider>
    }))
}

fn build_p1_provider(
    ctx: &PluginContext,
) -> firefighter_core::Result<Option<Arc<dyn InviteProvider>>> {
    Ok(build_slack(ctx)?.map(|s| {
        Arc::new(PublicP1InviteProvider::new(s.store().clone())) as Arc<dyn InviteProvider>
    }))
}

macro_rules! task_builder {
    ($fn:ident, $task:ident) => {
        fn $fn(ctx: &PluginContext) -> firefighter_core::Result<Option<Arc<dyn PeriodicTask>>> {
            Ok(build_slack(ctx)?
                .map(|s| Arc::new(crate::sync::$task::new(s)) as Arc<dyn PeriodicTask>))
        }
    };
}

task_builder!(build_sync_users, SyncUsers);
task_builder!(build_sync_usergroups, SyncUserGroups);
task_builder!(build_sync_conversations, SyncConversations);
task_builder!(build_update_reminders, UpdateReminders);
task_builder!(build_postmortem_reminders, PostmortemReminders);

fn build_replay_submissions(
    ctx: &PluginContext,
) -> firefighter_core::Result<Option<Arc<dyn PeriodicTask>>> {
    Ok(build_slack(ctx)?
        .map(|s| Arc::new(crate::submissions::ReplaySubmissions::new(s)) as Arc<dyn PeriodicTask>))
}

firefighter_core::register_event_handler!(EventHandlerRegistration {
    name: HANDLER_NAME,
    build: build_handler,
});

firefighter_core::register_invite_provider!(InviteProviderRegistration {
    name: CATEGORY_PROVIDER,
    build: build_category_provider,
});

firefighter_core::register_invite_provider!(InviteProviderRegistration {
    name: PUBLIC_P1_PROVIDER,
    build: build_p1_provider,
});

firefighter_core::register_task!(TaskRegistration {
    name: crate::sync::SYNC_USERS,
    build: build_sync_users,
});
firefighter_core::register_task!(TaskRegistration {
    name: crate::sync::SYNC_USERGROUPS,
    build: build_sync_usergroups,
});
firefighter_core::register_task!(TaskRegistration {
    name: crate::sync::SYNC_CONVERSATIONS,
    build: build_sync_conversations,
});
firefighter_core::register_task!(TaskRegistration {
    name: crate::sync::UPDATE_REMINDERS,
    build: build_update_reminders,
});
firefighter_core::register_task!(TaskRegistration {
    name: crate::sync::POSTMORTEM_REMINDERS,
    build: build_postmortem_reminders,
});
firefighter_core::register_task!(TaskRegistration {
    name: crate::submissions::REPLAY_SUBMISSIONS,
    build: build_replay_submissions,
});

fn migrate(
    pool: firefighter_core::store::DatabasePool,
) -> futures::future::BoxFuture<'static, firefighter_core::Result<()>> {
    Box::pin(async move {
        crate::store::migrate(&pool).await.map_err(|e| match e {
            crate::Error::Migration(m) => firefighter_core::Error::Migration(m),
            crate::Error::Database(d) => firefighter_core::Error::Database(d),
            other => firefighter_core::Error::Config(other.to_string()),
        })
    })
}

firefighter_core::register_schema!(SchemaRegistration {
    name: "slack",
    migrate
});
