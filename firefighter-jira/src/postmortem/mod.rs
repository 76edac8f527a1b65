//! Jira as a post-mortem backend (`jira`, reference §8.4): the post-mortem
//! is an issue of its own project, created by the event handler
//! `jira.postmortems` when core asks for it
//! (`IncidentEvent::PostMortemRequested { backend: "jira" }`), exactly
//! once, and ready when its workflow status is `JIRA_POSTMORTEM_READY_STATUS`
//! (closing waits for it, see [`JiraPostMortems`]).
//!
//! Exactly once: every post-mortem carries the label `ff-postmortem-<id>`;
//! each attempt first searches the project for it and adopts the issue
//! found, so a retried delivery after a lost answer (a 5xx or a time-out
//! after Jira made the issue) or a crash creates no second one. The create
//! is retried by the client on 429 only; after a 5xx or a time-out the
//! label is searched once more at once, then the delivery is retried.
//! Jira's search index may lag a few seconds behind a create: the outbox's
//! backoff gives it that time.
//!
//! The issue: FireFighter's summary (`[IGNORE - TEST <ENV>] ` outside
//! production, `#<conversation> (<priority>) <title>`, at most 255
//! characters), five rich-text fields in Atlassian Document Format (the
//! incident summary, the timeline, impact, mitigation actions, root
//! causes: what the built-in post-mortem's notes already hold, else a short
//! prompt for the author), the category, a due date 40 business days
//! (Monday to Friday) after the declaration, and the incident's fields its
//! ticket carries too ([`crate::tickets::replicated_fields`]). Then it is
//! linked to the incident's ticket, if any (link types `Relates`, `Blocks`,
//! `Relates to`, the first Jira takes; refused by all: a warning), assigned
//! to the commander's Jira account (refused: a warning), and recorded with
//! [`Firefighter::record_postmortem`]. Jira refusing the fields is a
//! permanent error naming each field's setting, also told to the
//! responders (a `Notice`); 429, 5xx and time-outs are retried.
//!
//! The timeline field is rendered again, and only it sent
//! (`PUT /rest/api/3/issue/{key}`), whenever key events change or the
//! status does, once the post-mortem is recorded.
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `ENABLE_JIRA_POSTMORTEM` | off | a yes/no word switching the backend on; needs Jira on (`ENABLE_JIRA` and its variables, see [`crate::config`]) |
//! | `JIRA_POSTMORTEM_PROJECT_KEY` | `INCIDENT` | the project post-mortems are created in |
//! | `JIRA_POSTMORTEM_ISSUE_TYPE` | `Post-mortem` | their issue type |
//! | `JIRA_POSTMORTEM_READY_STATUS` | `Ready` | the workflow status (its name, any case) that makes a post-mortem ready; settings-only in FireFighter |
//! | `JIRA_FIELD_INCIDENT_SUMMARY` | `customfield_12699` | rich text: the conversation, priority, description |
//! | `JIRA_FIELD_TIMELINE` | `customfield_12700` | rich text: declaration, status changes and key events, in UTC |
//! | `JIRA_FIELD_ROOT_CAUSES` | `customfield_12701` | rich text |
//! | `JIRA_FIELD_IMPACT` | `customfield_12702` | rich text |
//! | `JIRA_FIELD_MITIGATION_ACTIONS` | `customfield_12703` | rich text |
//! | `JIRA_FIELD_INCIDENT_CATEGORY` | `customfield_12369` | select: `{"value": <category name>}` |
//! | `ENV` | `dev` | FireFighter's environment name: outside `prod` and `support`, summaries start with `[IGNORE - TEST <ENV>] ` |
//!
//! Field ids are `customfield_<digits>` or `<digits>`. The replicated
//! fields use the ticket's `JIRA_FIELD_*` settings.

use std::sync::Arc;

use async_trait::async_trait;
use firefighter_core::event::{Delivery, EventHandler, EventHandlerRegistration, HandlerError};
use firefighter_core::lifecycle::PostMortemState;
use firefighter_core::plugin::{AppHandle, PluginContext};
use firefighter_core::postmortem::PostMortemRegistration;
use firefighter_core::timeline::field;
use firefighter_core::{
    Firefighter, Incident, IncidentDetails, IncidentEvent, IncidentId, PostMortemProvider, Store,
    role,
};
use serde_json::{Map, Value};

use crate::tickets::KEY_FIELD;
use crate::users::{JiraUserStore, account_of};
use crate::{Error, JiraClient, JiraConfig, Result};

mod client;
mod config;
mod render;

pub use config::{POSTMORTEM_VARIABLES, PostMortemConfig, PostMortemFields};
use render::explain;
pub use render::*;

/// The backend's name, in core's post-mortem records.
pub const BACKEND: &str = "jira";
/// The event handler that creates post-mortems and keeps their timeline.
pub const HANDLER_POSTMORTEMS: &str = "jira.postmortems";
/// The name of the backend's status report.
pub const NAME: &str = "jira-postmortems";
pub use crate::tickets::MAX_SUMMARY_CHARS;
/// Business days (Monday to Friday) from the declaration to the due date.
pub const BUSINESS_DAYS_TO_DUE: u32 = 40;
/// The link types tried, in order, to link the post-mortem to the ticket.
pub const LINK_TYPES: &[&str] = &["Relates", "Blocks", "Relates to"];

/// What creating an incident's Jira post-mortem did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostMortemOutcome {
    /// The incident already has its Jira post-mortem recorded.
    AlreadyRecorded(String),
    /// The issue was created now.
    Created(String),
    /// The issue existed (made by an earlier attempt) and was recorded.
    Adopted(String),
}

/// The post-mortem already made for the incident, if any (by its label).
async fn find(
    client: &JiraClient,
    config: &PostMortemConfig,
    id: IncidentId,
) -> Result<Option<String>> {
    let jql = format!(
        "project = \"{}\" AND labels = \"{}\" ORDER BY created ASC",
        config.project_key,
        postmortem_label(id)
    );
    Ok(client.search(&jql).await?.into_iter().next().map(|i| i.key))
}

/// Links the post-mortem to the incident's ticket (when it has one and the
/// two are not linked yet): the first link type Jira takes. Refused by
/// every type (a missing ticket or link type): a warning. Jira failing:
/// the error, to retry.
async fn link_to_ticket(
    client: &JiraClient,
    incident: &Incident,
    key: &str,
    adopted: bool,
) -> Result<()> {
    let Some(ticket) = incident
        .custom_fields
        .get(KEY_FIELD)
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return Ok(());
    };
    // An earlier attempt may have linked them before it failed.
    if adopted && client.linked_issues(key).await?.iter().any(|k| k == ticket) {
        return Ok(());
    }
    let mut refusals = Vec::new();
    for link_type in LINK_TYPES {
        match client.link_issues(link_type, ticket, key).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => refusals.push(format!("{link_type}: {e}")),
        }
    }
    tracing::warn!(
        incident = incident.id.0,
        key,
        ticket,
        refusals = refusals.join("; "),
        "the post-mortem could not be linked to the incident's ticket"
    );
    Ok(())
}

/// Assigns the post-mortem to the commander's Jira account. No commander,
/// no account, or Jira refusing: a warning. Jira failing: the error, to retry.
async fn assign_commander(
    app: &Firefighter,
    client: &JiraClient,
    users: &JiraUserStore,
    details: &IncidentDetails,
    key: &str,
) -> Result<()> {
    let id = details.incident.id;
    let Some(commander) = details.roles.iter().find(|r| r.slug == role::COMMANDER) else {
        return Ok(());
    };
    let Some(user) = app.store().user(commander.user_id).await? else {
        return Ok(());
    };
    let account = match account_of(client, users, &user).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            tracing::warn!(
                incident = id.0,
                key,
                "the commander has no Jira account; the post-mortem is not assigned"
            );
            return Ok(());
        }
        Err(e) if e.is_retryable() => return Err(e),
        Err(e) => {
            tracing::warn!(incident = id.0, key, error = %e, "the commander's Jira account could not be looked up; the post-mortem is not assigned");
            return Ok(());
        }
    };
    match client.assign_issue(key, &account).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_retryable() => Err(e),
        Err(e) => {
            tracing::warn!(incident = id.0, key, error = %e, "Jira refused to assign the post-mortem to the commander");
            Ok(())
        }
    }
}

/// Creates the incident's Jira post-mortem once (looked up by label first,
/// adopted when an earlier attempt made it), links it to the ticket,
/// assigns it to the commander, and records it in core.
pub async fn create_jira_postmortem(
    app: &Firefighter,
    client: &JiraClient,
    users: &JiraUserStore,
    jira: &JiraConfig,
    config: &PostMortemConfig,
    id: IncidentId,
) -> Result<PostMortemOutcome> {
    if let Some(doc) = app
        .postmortems(id)
        .await?
        .into_iter()
        .find(|d| d.backend == BACKEND)
    {
        return Ok(PostMortemOutcome::AlreadyRecorded(doc.external_id));
    }
    let facts = PostMortemFacts::gather(app, id).await?;
    let outcome = match find(client, config, id).await? {
        Some(key) => PostMortemOutcome::Adopted(key),
        None => {
            let fields = postmortem_fields(jira, config, &facts)?;
            match client.create_issue(&fields).await {
                Ok(issue) => PostMortemOutcome::Created(issue.key),
                // Jira may have made it before failing: look again at once.
                Err(e @ (Error::Unavailable { .. } | Error::Transport(_))) => {
                    match find(client, config, id).await {
                        Ok(Some(key)) => PostMortemOutcome::Adopted(key),
                        Ok(None) => return Err(e),
                        Err(search) => {
                            tracing::warn!(error = %search, "could not look for the post-mortem after a failed creation");
                            return Err(e);
                        }
                    }
                }
                Err(e) => return Err(explain(config, Some(&jira.fields), e)),
            }
        }
    };
    let (PostMortemOutcome::Created(key) | PostMortemOutcome::Adopted(key)) = &outcome else {
        return Ok(outcome);
    };
    let adopted = matches!(outcome, PostMortemOutcome::Adopted(_));
    link_to_ticket(client, facts.incident(), key, adopted).await?;
    assign_commander(app, client, users, &facts.details, key).await?;
    app.record_postmortem(id, BACKEND, key, &client.browse_url(key))
        .await?;
    Ok(outcome)
}

/// Renders the timeline of the incident's recorded Jira post-mortem again
/// and sends that field alone; `None` (nothing sent) when there is none.
pub async fn sync_timeline(
    app: &Firefighter,
    client: &JiraClient,
    config: &PostMortemConfig,
    id: IncidentId,
) -> Result<Option<String>> {
    let Some(doc) = app
        .postmortems(id)
        .await?
        .into_iter()
        .find(|d| d.backend == BACKEND)
    else {
        return Ok(None);
    };
    let facts = PostMortemFacts::gather(app, id).await?;
    let mut fields = Map::new();
    fields.insert(config.fields.timeline.clone(), timeline_document(&facts));
    client
        .edit_issue(&doc.external_id, &fields)
        .await
        .map_err(|e| explain(config, None, e))?;
    Ok(Some(doc.external_id))
}

/// The `jira.postmortems` event handler.
#[derive(Debug)]
pub struct PostMortemHandler {
    client: JiraClient,
    jira: JiraConfig,
    config: PostMortemConfig,
    users: JiraUserStore,
    app: AppHandle,
}

impl PostMortemHandler {
    /// The handler for these settings.
    pub fn new(
        client: JiraClient,
        jira: JiraConfig,
        config: PostMortemConfig,
        users: JiraUserStore,
        app: AppHandle,
    ) -> PostMortemHandler {
        PostMortemHandler {
            client,
            jira,
            config,
            users,
            app,
        }
    }

    async fn create(&self, app: &Firefighter, id: IncidentId) -> Result<(), HandlerError> {
        match create_jira_postmortem(app, &self.client, &self.users, &self.jira, &self.config, id)
            .await
        {
            Ok(outcome) => {
                tracing::info!(incident = id.0, ?outcome, "Jira post-mortem");
                Ok(())
            }
            Err(e) => Err(crate::tickets::failed(app, id, "Jira post-mortem", &e).await),
        }
    }
}

/// Whether an event changes what the post-mortem's timeline shows.
fn changes_timeline(event: &IncidentEvent) -> bool {
    match event {
        IncidentEvent::KeyEventsUpdated => true,
        IncidentEvent::Updated { changed, .. } => changed.iter().any(|c| c == field::STATUS),
        _ => false,
    }
}

#[async_trait]
impl EventHandler for PostMortemHandler {
    fn name(&self) -> &str {
        HANDLER_POSTMORTEMS
    }

    async fn handle(&self, delivery: &Delivery) -> std::result::Result<(), HandlerError> {
        let event = &delivery.event.event;
        let wanted =
            matches!(event, IncidentEvent::PostMortemRequested { backend } if backend == BACKEND);
        if !wanted && !changes_timeline(event) {
            return Ok(());
        }
        let Some(app) = self.app.get() else {
            return Err(HandlerError::retry("the application is not running yet"));
        };
        let id = delivery.event.incident_id;
        if wanted {
            return self.create(&app, id).await;
        }
        match sync_timeline(&app, &self.client, &self.config, id).await {
            Ok(synced) => {
                if let Some(key) = synced {
                    tracing::info!(incident = id.0, key, "Jira post-mortem timeline updated");
                }
                Ok(())
            }
            Err(e) => {
                tracing::warn!(incident = id.0, error = %e, "Jira post-mortem timeline not updated");
                Err(HandlerError::classify(&e))
            }
        }
    }
}

/// The `jira` post-mortem backend: the recorded issue is ready when its
/// workflow status is the ready status (compared without regard to case).
#[derive(Debug)]
pub struct JiraPostMortems {
    client: JiraClient,
    ready_status: String,
    store: Arc<dyn Store>,
}

impl JiraPostMortems {
    /// The backend over core's records in `store`.
    pub fn new(
        client: JiraClient,
        config: &PostMortemConfig,
        store: Arc<dyn Store>,
    ) -> JiraPostMortems {
        JiraPostMortems {
            client,
            ready_status: config.ready_status.trim().to_owned(),
            store,
        }
    }
}

#[async_trait]
impl PostMortemProvider for JiraPostMortems {
    fn name(&self) -> &str {
        BACKEND
    }

    async fn state(&self, incident: &Incident) -> PostMortemState {
        let record = match firefighter_core::postmortem::recorded_postmortem(
            self.store.as_ref(),
            incident.id,
            BACKEND,
        )
        .await
        {
            Ok(record) => record,
            Err(state) => return state,
        };
        match self.client.issue_status(&record.external_id).await {
            Ok(status) if status.trim().eq_ignore_ascii_case(&self.ready_status) => {
                PostMortemState::Ready
            }
            Ok(status) => PostMortemState::NotReady(format!(
                "the Jira post-mortem {} is in status \"{status}\", not \"{}\"",
                record.external_id, self.ready_status
            )),
            Err(e) => PostMortemState::Unknown(format!(
                "could not read the status of the Jira post-mortem {}: {e}",
                record.external_id
            )),
        }
    }
}

fn build_handler(ctx: &PluginContext) -> firefighter_core::Result<Option<Arc<dyn EventHandler>>> {
    let Some((jira, config)) = PostMortemConfig::from_env().map_err(crate::error::config_error)?
    else {
        return Ok(None);
    };
    let client = JiraClient::new(&jira).map_err(crate::error::config_error)?;
    let users = JiraUserStore::of(&*ctx.store).map_err(crate::error::config_error)?;
    Ok(Some(Arc::new(PostMortemHandler::new(
        client,
        jira,
        config,
        users,
        ctx.app_handle(),
    ))))
}

fn build_provider(
    ctx: &PluginContext,
) -> firefighter_core::Result<Option<Arc<dyn PostMortemProvider>>> {
    let Some((jira, config)) = PostMortemConfig::from_env().map_err(crate::error::config_error)?
    else {
        return Ok(None);
    };
    let client = JiraClient::new(&jira).map_err(crate::error::config_error)?;
    Ok(Some(Arc::new(JiraPostMortems::new(
        client,
        &config,
        ctx.store.clone(),
    ))))
}

firefighter_core::register_event_handler!(EventHandlerRegistration {
    name: HANDLER_POSTMORTEMS,
    build: build_handler,
});

firefighter_core::register_postmortem_provider!(PostMortemRegistration {
    name: BACKEND,
    build: build_provider,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_status_changes_and_key_events_touch_the_timeline() {
        assert!(changes_timeline(&IncidentEvent::KeyEventsUpdated));
        let updated = |changed: &[&str]| IncidentEvent::Updated {
            update_id: firefighter_core::UpdateId::new(),
            update_kind: firefighter_core::event::UpdateKind::Fields,
            changed: changed.iter().map(|c| (*c).to_owned()).collect(),
            old_priority: None,
            event_type: None,
        };
        assert!(changes_timeline(&updated(&["priority", "status"])));
        assert!(!changes_timeline(&updated(&["title"])));
        assert!(!changes_timeline(&IncidentEvent::Created));
    }
}
