//! Incident tickets ("RAID" tickets, reference §8.2): the event handler
//! `jira.tickets` creates one Jira issue per declared incident, on
//! `IncidentEvent::Created`, exactly once.
//!
//! Exactly once: every attempt first searches the project for the label
//! `ff-incident-<id>` that every ticket carries (`GET /rest/api/3/search/jql`)
//! and adopts the issue found, so a retried delivery after a lost answer
//! (a 5xx or a time-out after Jira made the issue) or a crash creates no
//! second one. The create itself is retried by the client on 429 only;
//! after a 5xx or a time-out the label is searched once more at once, then
//! the delivery is retried (and starts with the search). The key and link
//! are recorded in the incident's `custom_fields` (`jira_ticket_key`,
//! `jira_ticket_url`) by [`Firefighter::set_custom_fields`], which writes
//! nothing when they are already there.
//!
//! Which incidents: `JIRA_TICKET_PRIORITIES` (default `all`: every declared
//! incident, whatever the path it was declared by; FireFighter creates one
//! for every priority from its Slack wizard).

use std::sync::Arc;

use async_trait::async_trait;
use firefighter_core::event::{Delivery, EventHandler, EventHandlerRegistration, HandlerError};
use firefighter_core::plugin::{AppHandle, PluginContext};
use firefighter_core::store::Catalog;
use firefighter_core::{Firefighter, Incident, IncidentEvent, IncidentId};
use serde_json::{Map, Value, json};

use crate::config::JiraFields;
use crate::ledger::SyncLedger;
use crate::models::{RemoteLink, RemoteLinkObject, adf};
use crate::sync::Pusher;
use crate::users::{JiraUserStore, account_of};
use crate::workflow::Mover;
use crate::{Error, JiraClient, JiraConfig, Result};

/// The event handler that creates the tickets.
pub const HANDLER_TICKETS: &str = "jira.tickets";
/// `custom_fields` key of the ticket's key.
pub const KEY_FIELD: &str = "jira_ticket_key";
/// `custom_fields` key of the ticket's link.
pub const URL_FIELD: &str = "jira_ticket_url";
/// Longest summary Jira takes.
pub const MAX_SUMMARY_CHARS: usize = 255;
/// Business impacts Jira's field offers (`N/A` is left out).
pub const BUSINESS_IMPACTS: &[&str] = &["Lowest", "Low", "Medium", "High", "Highest"];

/// The label every incident ticket carries: how a later attempt finds it.
pub fn incident_label(id: IncidentId) -> String {
    format!("ff-incident-{}", id.0)
}

/// The remote link's `globalId` to the incident page (adding it again
/// updates the same link).
pub fn incident_link_id(id: IncidentId) -> String {
    format!("firefighter-incident-{}", id.0)
}

/// What creating an incident's ticket did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketOutcome {
    /// The incident already has its ticket recorded.
    AlreadyRecorded(String),
    /// Its priority gets no ticket (`JIRA_TICKET_PRIORITIES`).
    NotWanted(String),
    /// The ticket was created now.
    Created(String),
    /// The ticket existed (made by an earlier attempt) and was recorded.
    Adopted(String),
}

/// The `fields` of the create request for `incident`, reported by `reporter`.
pub fn issue_fields(
    config: &JiraConfig,
    catalog: &Catalog,
    incident: &Incident,
    reporter: &str,
) -> Result<Map<String, Value>> {
    let f: &JiraFields = &config.fields;
    let priority = catalog.priority(incident.priority_id);
    let category = catalog
        .category(incident.category_id)
        .map(|c| c.name.clone());
    let custom = &incident.custom_fields;
    let text = |key: &str| {
        custom
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };

    let mut description = incident.description.trim().to_owned();
    if let Some(p) = priority.filter(|p| p.value <= 3) {
        let lines = [
            "🧯 This incident has been created for a critical incident.".to_owned(),
            format!(
                "📦 Incident category: {}",
                category.clone().unwrap_or_default()
            ),
            format!("{} Priority: {}", p.emoji, p.name),
        ];
        description = format!("{description}\n\n{}", lines.join("\n"));
    }
    let mut addenda = Vec::new();
    if let Some(team) = text("suggested_team_routing").filter(|t| t != "SBI") {
        addenda.push(format!("Suggested team to be routed: *{team}*"));
    }
    if !addenda.is_empty() {
        description = format!(
            "{description}\n\n*Additional Information*\n{}",
            addenda.join("\n")
        );
    }

    let mut fields = Map::new();
    fields.insert("project".into(), json!({ "key": config.project_key }));
    fields.insert("issuetype".into(), json!({ "name": config.issue_type }));
    let summary: String = incident.title.chars().take(MAX_SUMMARY_CHARS).collect();
    fields.insert("summary".into(), json!(summary));
    fields.insert("description".into(), adf::document(&description));
    fields.insert("reporter".into(), json!({ "id": reporter }));
    fields.insert("labels".into(), json!([incident_label(incident.id)]));
    fields.extend(replicated_fields(f, catalog, incident)?);
    if let (Some(field), Some(name)) = (&f.incident_category, category) {
        fields.insert(field.clone(), json!({ "value": name }));
    }
    Ok(fields)
}

/// The incident's facts both its ticket and its Jira post-mortem carry, in
/// the fields of `JIRA_FIELD_*`: priority (`{"value": "1".."5"}`, `-`
/// without one), environments, platform (the first, `platform-` dropped),
/// business impact (`N/A` left out), Zendesk and Zoho Desk tickets, seller
/// contract. Empty ones are left out.
pub fn replicated_fields(
    f: &JiraFields,
    catalog: &Catalog,
    incident: &Incident,
) -> Result<Map<String, Value>> {
    let priority = catalog.priority(incident.priority_id);
    let custom = &incident.custom_fields;
    let text = |key: &str| {
        custom
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let mut fields = Map::new();
    let value = match priority {
        Some(p) if (1..=5).contains(&p.value) => p.value.to_string(),
        Some(p) => {
            return Err(Error::Invalid(format!(
                "priority {} has value {}: Jira's priority field takes 1 to 5",
                p.name, p.value
            )));
        }
        None => "-".to_owned(),
    };
    fields.insert(f.priority.clone(), json!({ "value": value }));
    let environments: Vec<Value> = incident
        .environment_ids
        .iter()
        .filter_map(|id| catalog.environment(*id))
        .map(|e| json!({ "value": e.value }))
        .collect();
    if !environments.is_empty() {
        fields.insert(f.environments.clone(), Value::Array(environments));
    }
    let platform = match custom.get("platform") {
        Some(Value::Array(items)) => items.iter().find_map(Value::as_str).map(str::to_owned),
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    if let Some(platform) = platform
        .map(|p| p.trim().trim_start_matches("platform-").to_owned())
        .filter(|p| !p.is_empty())
    {
        fields.insert(f.platform.clone(), json!({ "value": platform }));
    }
    if let Some(impact) = text("business_impact").filter(|i| i != "N/A") {
        if !BUSINESS_IMPACTS.contains(&impact.as_str()) {
            return Err(Error::Invalid(format!(
                "business impact \"{impact}\" is not one of {}",
                BUSINESS_IMPACTS.join(", ")
            )));
        }
        fields.insert(f.business_impact.clone(), json!({ "value": impact }));
    }
    for (key, field) in [
        ("zendesk_ticket", &f.zendesk_ticket),
        ("zoho_desk_ticket", &f.zoho_desk_ticket),
        ("seller_contract_id", &f.seller_contract_id),
    ] {
        if let Some(value) = text(key) {
            fields.insert(field.clone(), json!(value));
        }
    }
    Ok(fields)
}

/// The fields of [`replicated_fields`], each with the setting that names it.
pub(crate) fn replicated_settings(f: &JiraFields) -> [(&str, &'static str); 7] {
    [
        (f.priority.as_str(), "JIRA_FIELD_PRIORITY"),
        (f.environments.as_str(), "JIRA_FIELD_ENVIRONMENTS"),
        (f.platform.as_str(), "JIRA_FIELD_PLATFORM"),
        (f.business_impact.as_str(), "JIRA_FIELD_BUSINESS_IMPACT"),
        (f.zendesk_ticket.as_str(), "JIRA_FIELD_ZENDESK_TICKET"),
        (f.zoho_desk_ticket.as_str(), "JIRA_FIELD_ZOHO_DESK_TICKET"),
        (
            f.seller_contract_id.as_str(),
            "JIRA_FIELD_SELLER_CONTRACT_ID",
        ),
    ]
}

/// A refusal of the create, with each field named by the setting behind it
/// and what to do.
fn explain(config: &JiraConfig, e: Error) -> Error {
    let Error::Rejected {
        status,
        mut messages,
        fields,
    } = e
    else {
        return e;
    };
    let f = &config.fields;
    let mut settings = replicated_settings(f).to_vec();
    settings.extend([
        (
            f.incident_category.as_deref().unwrap_or("-"),
            "RAID_JIRA_INCIDENT_CATEGORY_FIELD",
        ),
        ("project", "RAID_JIRA_PROJECT_KEY"),
        (
            "reporter",
            "RAID_DEFAULT_JIRA_QRAFT_USER_ID or the creator's Jira account",
        ),
        ("issuetype", "JIRA_ISSUE_TYPE"),
    ]);
    let fields = fields
        .into_iter()
        .map(|(field, message)| {
            let message = match settings.iter().find(|(id, _)| *id == field) {
                Some((_, setting)) => format!("{message} (set by {setting})"),
                None => message,
            };
            (field, message)
        })
        .collect();
    messages.push(format!(
        "fix the settings or project {}'s create screen, then re-queue this delivery",
        config.project_key
    ));
    Error::Rejected {
        status,
        messages,
        fields,
    }
}

/// The ticket already made for the incident, if any (by its label).
async fn find(client: &JiraClient, config: &JiraConfig, id: IncidentId) -> Result<Option<String>> {
    let jql = format!(
        "project = \"{}\" AND labels = \"{}\" ORDER BY created ASC",
        config.project_key,
        incident_label(id)
    );
    Ok(client.search(&jql).await?.into_iter().next().map(|i| i.key))
}

/// Creates the incident's ticket once (looked up by label first, adopted
/// when an earlier attempt made it), adds the reporter as watcher and the
/// link to the incident, and records key and link in the incident.
pub async fn create_ticket(
    app: &Firefighter,
    client: &JiraClient,
    users: &JiraUserStore,
    config: &JiraConfig,
    id: IncidentId,
) -> Result<TicketOutcome> {
    let incident = app.incident(id).await?;
    if let Some(key) = incident
        .custom_fields
        .get(KEY_FIELD)
        .and_then(Value::as_str)
    {
        SyncLedger::of(app.store().as_ref())?
            .record_ticket(key, Some(id))
            .await?;
        return Ok(TicketOutcome::AlreadyRecorded(key.to_owned()));
    }
    let catalog = app.catalog().await?;
    let priority = catalog
        .priority(incident.priority_id)
        .map(|p| p.name.clone())
        .unwrap_or_default();
    if !config.priorities.includes(&priority) {
        return Ok(TicketOutcome::NotWanted(priority));
    }
    let creator = app.store().user(incident.created_by).await?;
    let mut reporter = match &creator {
        Some(user) => match account_of(client, users, user).await {
            Ok(account) => account,
            Err(e) if e.is_retryable() => return Err(e),
            // Jira refused the look-up (a permission to browse users, ...):
            // the default reporter stands in rather than no ticket at all.
            Err(e) => {
                tracing::warn!(incident = id.0, error = %e, "the creator's Jira account could not be looked up");
                None
            }
        },
        None => None,
    }
    .unwrap_or_else(|| config.default_reporter.clone());

    let outcome = match find(client, config, id).await? {
        Some(key) => TicketOutcome::Adopted(key),
        None => {
            let fields = issue_fields(config, &catalog, &incident, &reporter)?;
            let mut created = client.create_issue(&fields).await;
            // The creator's account cannot report in this project: the
            // default reporter does (FireFighter's fallback).
            if let Err(e) = &created
                && e.field("reporter").is_some()
                && reporter != config.default_reporter
            {
                tracing::warn!(incident = id.0, error = %e, "Jira refused the creator as reporter; using RAID_DEFAULT_JIRA_QRAFT_USER_ID");
                reporter = config.default_reporter.clone();
                let fields = issue_fields(config, &catalog, &incident, &reporter)?;
                created = client.create_issue(&fields).await;
            }
            match created {
                Ok(issue) => TicketOutcome::Created(issue.key),
                // Jira may have made it before failing: look again at once.
                Err(e @ (Error::Unavailable { .. } | Error::Transport(_))) => {
                    match find(client, config, id).await {
                        Ok(Some(key)) => TicketOutcome::Adopted(key),
                        Ok(None) => return Err(e),
                        Err(search) => {
                            tracing::warn!(error = %search, "could not look for the ticket after a failed creation");
                            return Err(e);
                        }
                    }
                }
                Err(e) => return Err(explain(config, e)),
            }
        }
    };
    let (TicketOutcome::Created(key) | TicketOutcome::Adopted(key)) = &outcome else {
        return Ok(outcome);
    };
    if let Err(e) = client.add_watcher(key, &reporter).await {
        if e.is_retryable() {
            return Err(e);
        }
        tracing::warn!(incident = id.0, key, error = %e, "the reporter could not be added as watcher");
    }
    let link = RemoteLink {
        global_id: incident_link_id(id),
        object: RemoteLinkObject {
            url: app.settings().incident_url(id),
            title: format!("FireFighter incident #{}", id.0),
        },
    };
    if let Err(e) = client.add_remote_link(key, &link).await {
        if e.is_retryable() {
            return Err(e);
        }
        tracing::warn!(incident = id.0, key, error = %e, "the link to the incident could not be added");
    }
    let url = client.browse_url(key);
    // Before the incident shows the key: a webhook about the ticket then
    // always finds its incident.
    SyncLedger::of(app.store().as_ref())?
        .record_ticket(key, Some(id))
        .await?;
    let mut fields = Map::new();
    fields.insert(KEY_FIELD.into(), json!(key));
    fields.insert(URL_FIELD.into(), json!(url));
    app.set_custom_fields_and_publish(
        id,
        fields,
        &format!("Jira ticket {key} created: {url}"),
        vec![IncidentEvent::LinkAdded {
            title: format!("Jira ticket {key}"),
            url: url.clone(),
        }],
    )
    .await?;
    Ok(outcome)
}

/// The `jira.tickets` event handler.
#[derive(Debug)]
pub struct TicketHandler {
    client: JiraClient,
    config: JiraConfig,
    users: JiraUserStore,
    ledger: SyncLedger,
    mover: Mover,
    app: AppHandle,
}

impl TicketHandler {
    /// The handler for this configuration.
    pub fn new(
        client: JiraClient,
        config: JiraConfig,
        users: JiraUserStore,
        ledger: SyncLedger,
        app: AppHandle,
    ) -> TicketHandler {
        TicketHandler {
            mover: Mover::new(config.workflow_name.clone()),
            client,
            config,
            users,
            ledger,
            app,
        }
    }

    fn pusher<'a>(&'a self, app: &'a Firefighter) -> Pusher<'a> {
        Pusher {
            app,
            client: &self.client,
            config: &self.config,
            ledger: &self.ledger,
            mover: &self.mover,
        }
    }
}

#[async_trait]
impl EventHandler for TicketHandler {
    fn name(&self) -> &str {
        HANDLER_TICKETS
    }

    async fn handle(&self, delivery: &Delivery) -> std::result::Result<(), HandlerError> {
        let id = delivery.event.incident_id;
        let wanted = matches!(
            delivery.event.event,
            IncidentEvent::Created
                | IncidentEvent::Updated { .. }
                | IncidentEvent::ChannelReady { .. }
        );
        if !wanted {
            return Ok(());
        }
        let Some(app) = self.app.get() else {
            return Err(HandlerError::retry("the application is not running yet"));
        };
        // Changes and conversations reach the ticket after it exists: this
        // handler's deliveries of one incident run in order.
        match &delivery.event.event {
            IncidentEvent::Updated {
                update_id,
                changed,
                event_type,
                ..
            } => {
                return self
                    .pusher(&app)
                    .push_update(id, *update_id, changed, event_type.as_deref())
                    .await
                    .map_err(|e| {
                        tracing::warn!(incident = id.0, error = %e, "Jira sync failed");
                        HandlerError::classify(&e)
                    });
            }
            IncidentEvent::ChannelReady { channel } => {
                return self
                    .pusher(&app)
                    .link_conversation(id, channel)
                    .await
                    .map_err(|e| HandlerError::classify(&e));
            }
            _ => {}
        }
        match create_ticket(&app, &self.client, &self.users, &self.config, id).await {
            Ok(outcome) => {
                tracing::info!(incident = id.0, ?outcome, "Jira ticket");
                // P4/P5: the RAID alert, once per ticket key (safe to ask again on a retry).
                if let TicketOutcome::Created(key)
                | TicketOutcome::Adopted(key)
                | TicketOutcome::AlreadyRecorded(key) = &outcome
                    && let Err(e) = crate::alerts::alert_incident_ticket(
                        &app,
                        &self.client,
                        &self.config,
                        id,
                        key,
                    )
                    .await
                {
                    tracing::warn!(incident = id.0, key, error = %e, "RAID alert not sent");
                    if e.is_retryable() {
                        return Err(HandlerError::classify(&e));
                    }
                }
                Ok(())
            }
            Err(e) => Err(failed(&app, id, "Jira ticket", &e).await),
        }
    }
}

fn build_handler(ctx: &PluginContext) -> firefighter_core::Result<Option<Arc<dyn EventHandler>>> {
    let config = JiraConfig::from_env().map_err(crate::error::config_error)?;
    let Some(config) = config else {
        return Ok(None);
    };
    let client = JiraClient::new(&config).map_err(crate::error::config_error)?;
    let users = JiraUserStore::of(&*ctx.store).map_err(crate::error::config_error)?;
    let ledger = SyncLedger::of(&*ctx.store).map_err(crate::error::config_error)?;
    Ok(Some(Arc::new(TicketHandler::new(
        client,
        config,
        users,
        ledger,
        ctx.app_handle(),
    ))))
}

firefighter_core::register_event_handler!(EventHandlerRegistration {
    name: HANDLER_TICKETS,
    build: build_handler,
});

/// Why a delivery of `what` (the Jira ticket, the Jira post-mortem) failed,
/// for the outbox; when retrying cannot help, the responders are also told
/// what to fix, on the incident's timeline and in its conversation.
pub(crate) async fn failed(
    app: &Firefighter,
    id: IncidentId,
    what: &str,
    e: &Error,
) -> HandlerError {
    tracing::warn!(incident = id.0, error = %e, "{what} not created");
    let outcome = HandlerError::classify(e);
    if matches!(outcome, HandlerError::Permanent(_)) {
        let text = format!("The {what} could not be created: {e}");
        if let Err(told) = app
            .publish(
                id,
                vec![IncidentEvent::Notice { text: text.clone() }],
                Some((&text, None)),
            )
            .await
        {
            tracing::warn!(incident = id.0, error = %told, "could not tell the responders");
        }
    }
    outcome
}
