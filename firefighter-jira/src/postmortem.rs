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
use chrono::{Datelike, NaiveDate, Weekday};
use figment::{Figment, providers::Env};
use firefighter_core::env_vars::{EnvVars, LogOnce, status_of};
use firefighter_core::event::{
    ChannelInfo, Delivery, EventHandler, EventHandlerRegistration, HandlerError,
};
use firefighter_core::lifecycle::PostMortemState;
use firefighter_core::plugin::{AppHandle, IntegrationStatus, PluginContext};
use firefighter_core::postmortem::{FollowUpAction, PostMortemNotes, PostMortemRegistration};
use firefighter_core::store::Catalog;
use firefighter_core::timeline::field;
use firefighter_core::{
    Firefighter, Incident, IncidentDetails, IncidentEvent, IncidentId, PostMortemProvider, Store,
    TimelineEntry, key_event, role,
};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::client::{json, segment};
use crate::config::{JiraFields, VARIABLES, field_id, project_key};
use crate::models::{IssueLinkRequest, IssueLinkTypeName, IssueView, LinkedIssueKey, adf};
use crate::tickets::{KEY_FIELD, replicated_fields, replicated_settings};
use crate::users::{JiraUserStore, account_of};
use crate::{Error, JiraClient, JiraConfig, Result};

/// The backend's name, in core's post-mortem records.
pub const BACKEND: &str = "jira";
/// The event handler that creates post-mortems and keeps their timeline.
pub const HANDLER_POSTMORTEMS: &str = "jira.postmortems";
/// The name of the backend's status report.
pub const NAME: &str = "jira-postmortems";
/// Longest summary Jira takes.
pub const MAX_SUMMARY_CHARS: usize = 255;
/// Business days (Monday to Friday) from the declaration to the due date.
pub const BUSINESS_DAYS_TO_DUE: u32 = 40;
/// The link types tried, in order, to link the post-mortem to the ticket.
pub const LINK_TYPES: &[&str] = &["Relates", "Blocks", "Relates to"];

/// The environment variables the backend reads (besides Jira's own,
/// [`crate::config::VARIABLES`]).
pub const POSTMORTEM_VARIABLES: &[&str] = &[
    "ENABLE_JIRA_POSTMORTEM",
    "JIRA_POSTMORTEM_PROJECT_KEY",
    "JIRA_POSTMORTEM_ISSUE_TYPE",
    "JIRA_POSTMORTEM_READY_STATUS",
    "JIRA_FIELD_INCIDENT_SUMMARY",
    "JIRA_FIELD_TIMELINE",
    "JIRA_FIELD_ROOT_CAUSES",
    "JIRA_FIELD_IMPACT",
    "JIRA_FIELD_MITIGATION_ACTIONS",
    "JIRA_FIELD_INCIDENT_CATEGORY",
    "ENV",
];

/// The custom fields of post-mortem issues (FireFighter's ids by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostMortemFields {
    /// `JIRA_FIELD_INCIDENT_SUMMARY`.
    pub incident_summary: String,
    /// `JIRA_FIELD_TIMELINE`.
    pub timeline: String,
    /// `JIRA_FIELD_ROOT_CAUSES`.
    pub root_causes: String,
    /// `JIRA_FIELD_IMPACT`.
    pub impact: String,
    /// `JIRA_FIELD_MITIGATION_ACTIONS`.
    pub mitigation_actions: String,
    /// `JIRA_FIELD_INCIDENT_CATEGORY`.
    pub incident_category: String,
}

impl Default for PostMortemFields {
    fn default() -> Self {
        PostMortemFields {
            incident_summary: "customfield_12699".into(),
            timeline: "customfield_12700".into(),
            root_causes: "customfield_12701".into(),
            impact: "customfield_12702".into(),
            mitigation_actions: "customfield_12703".into(),
            incident_category: "customfield_12369".into(),
        }
    }
}

impl PostMortemFields {
    /// Each field with the setting that names it.
    fn settings(&self) -> [(&str, &'static str); 6] {
        [
            (
                self.incident_summary.as_str(),
                "JIRA_FIELD_INCIDENT_SUMMARY",
            ),
            (self.timeline.as_str(), "JIRA_FIELD_TIMELINE"),
            (self.root_causes.as_str(), "JIRA_FIELD_ROOT_CAUSES"),
            (self.impact.as_str(), "JIRA_FIELD_IMPACT"),
            (
                self.mitigation_actions.as_str(),
                "JIRA_FIELD_MITIGATION_ACTIONS",
            ),
            (
                self.incident_category.as_str(),
                "JIRA_FIELD_INCIDENT_CATEGORY",
            ),
        ]
    }
}

/// Where and how post-mortem issues are created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostMortemConfig {
    /// `JIRA_POSTMORTEM_PROJECT_KEY`.
    pub project_key: String,
    /// `JIRA_POSTMORTEM_ISSUE_TYPE`.
    pub issue_type: String,
    /// `JIRA_POSTMORTEM_READY_STATUS`.
    pub ready_status: String,
    /// FireFighter's `ENV` (`dev` when unset).
    pub env: String,
    /// The custom fields.
    pub fields: PostMortemFields,
}

impl Default for PostMortemConfig {
    fn default() -> Self {
        PostMortemConfig {
            project_key: "INCIDENT".into(),
            issue_type: "Post-mortem".into(),
            ready_status: "Ready".into(),
            env: "dev".into(),
            fields: PostMortemFields::default(),
        }
    }
}

static SWITCHED_OFF: LogOnce = LogOnce::new();

impl PostMortemConfig {
    /// What summaries start with in this environment: nothing in `prod`
    /// and `support` (FireFighter's rule, on the raw `ENV`), else
    /// `[IGNORE - TEST <ENV>] `.
    pub fn summary_prefix(&self) -> String {
        if matches!(self.env.as_str(), "prod" | "support") {
            String::new()
        } else {
            format!("[IGNORE - TEST {}] ", self.env)
        }
    }

    /// Jira's settings and the backend's, from the process environment;
    /// `Ok(None)` when the backend or Jira is off (logged once).
    pub fn from_env() -> Result<Option<(JiraConfig, PostMortemConfig)>> {
        let names: Vec<&str> = VARIABLES
            .iter()
            .chain(POSTMORTEM_VARIABLES)
            .copied()
            .collect();
        PostMortemConfig::from_figment(Figment::new().merge(Env::raw().only(&names)))
    }

    /// Jira's settings and the backend's, from a figment.
    pub fn from_figment(figment: Figment) -> Result<Option<(JiraConfig, PostMortemConfig)>> {
        Ok(PostMortemConfig::read(&figment)?
            .inspect_err(|why| SWITCHED_OFF.info(&format!("Jira post-mortems are off: {why}")))
            .ok())
    }

    /// Whether the backend is on in `figment`'s environment, and why not.
    pub fn status(figment: Figment) -> IntegrationStatus {
        status_of(NAME, PostMortemConfig::read(&figment))
    }

    fn read(
        figment: &Figment,
    ) -> Result<std::result::Result<(JiraConfig, PostMortemConfig), String>> {
        let vars = EnvVars::read(figment, POSTMORTEM_VARIABLES)?;
        if !vars.flag("ENABLE_JIRA_POSTMORTEM")? {
            return Ok(Err("ENABLE_JIRA_POSTMORTEM is not set to yes".into()));
        }
        let mut config = PostMortemConfig::default();
        if let Some(key) = vars.optional("JIRA_POSTMORTEM_PROJECT_KEY") {
            config.project_key = project_key("JIRA_POSTMORTEM_PROJECT_KEY", &key)?;
        }
        if let Some(kind) = vars.optional("JIRA_POSTMORTEM_ISSUE_TYPE") {
            config.issue_type = kind;
        }
        if let Some(status) = vars.optional("JIRA_POSTMORTEM_READY_STATUS") {
            config.ready_status = status;
        }
        if let Some(env) = vars.optional("ENV") {
            config.env = env;
        }
        let f = &mut config.fields;
        for (name, slot) in [
            ("JIRA_FIELD_INCIDENT_SUMMARY", &mut f.incident_summary),
            ("JIRA_FIELD_TIMELINE", &mut f.timeline),
            ("JIRA_FIELD_ROOT_CAUSES", &mut f.root_causes),
            ("JIRA_FIELD_IMPACT", &mut f.impact),
            ("JIRA_FIELD_MITIGATION_ACTIONS", &mut f.mitigation_actions),
            ("JIRA_FIELD_INCIDENT_CATEGORY", &mut f.incident_category),
        ] {
            if let Some(value) = vars.optional(name) {
                *slot = field_id(name, &value)?;
            }
        }
        match JiraConfig::read(figment)? {
            Ok(jira) => Ok(Ok((jira, config))),
            Err(why) => Ok(Err(format!(
                "ENABLE_JIRA_POSTMORTEM is set but Jira is off ({why})"
            ))),
        }
    }
}

/// The label every post-mortem issue carries: how a later attempt finds it.
pub fn postmortem_label(id: IncidentId) -> String {
    format!("ff-postmortem-{}", id.0)
}

/// `days` business days (Monday to Friday) after `from`.
pub fn add_business_days(from: NaiveDate, days: u32) -> NaiveDate {
    let mut date = from;
    let mut added = 0;
    while added < days {
        date = date.succ_opt().unwrap_or(date);
        if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            added += 1;
        }
    }
    date
}

/// FireFighter's summary: the environment's prefix, then
/// `#<reference> (<priority>) <title>`, cut to 255 characters.
pub fn postmortem_summary(
    config: &PostMortemConfig,
    reference: &str,
    priority: &str,
    title: &str,
) -> String {
    let summary = format!(
        "{}#{reference} ({priority}) {}",
        config.summary_prefix(),
        title.trim()
    );
    if summary.chars().count() <= MAX_SUMMARY_CHARS {
        return summary;
    }
    let mut cut: String = summary.chars().take(MAX_SUMMARY_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// Everything the post-mortem's fields show, gathered once.
#[derive(Debug, Clone)]
pub struct PostMortemFacts {
    /// The incident with roles and key events.
    pub details: IncidentDetails,
    /// Its timeline, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// The reference data.
    pub catalog: Arc<Catalog>,
    /// Its conversation, when a chat integration opened one.
    pub channel: Option<ChannelInfo>,
    /// The written parts of the built-in post-mortem, if any.
    pub notes: Option<PostMortemNotes>,
    /// Its follow-up actions.
    pub actions: Vec<FollowUpAction>,
    /// The incident's page.
    pub incident_url: String,
    /// `TIME_ZONE`.
    pub tz: chrono_tz::Tz,
}

impl PostMortemFacts {
    /// Reads them for incident `id`.
    pub async fn gather(app: &Firefighter, id: IncidentId) -> Result<PostMortemFacts> {
        let details = app.incident_details(id).await?;
        let timeline = app.timeline(id).await?;
        let channel = app
            .store()
            .incident_events(id)
            .await?
            .into_iter()
            .rev()
            .find_map(|e| match e.event {
                IncidentEvent::ChannelReady { channel } => Some(channel),
                _ => None,
            });
        Ok(PostMortemFacts {
            details,
            timeline,
            catalog: app.catalog().await?,
            channel,
            notes: app.store().postmortem_notes(id).await?,
            actions: app.store().follow_up_actions(id).await?,
            incident_url: app.settings().incident_url(id),
            tz: app.time_zone(),
        })
    }

    fn incident(&self) -> &Incident {
        &self.details.incident
    }

    /// How the incident is named in the summary: its conversation's name,
    /// else `custom_fields["slack_channel_name"]`, else its canonical name
    /// (`YYYYMMDD-<id>` in `TIME_ZONE`).
    pub fn reference(&self) -> String {
        let incident = self.incident();
        self.channel
            .as_ref()
            .map(|c| c.name.clone())
            .or_else(|| {
                incident
                    .custom_fields
                    .get("slack_channel_name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .map(|name| name.trim().trim_start_matches('#').trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| incident.canonical_name(self.tz))
    }

    fn priority_name(&self) -> String {
        self.catalog
            .priority(self.incident().priority_id)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }

    /// The due date: 40 business days after the declaration (its date in
    /// `TIME_ZONE`).
    pub fn due_date(&self) -> NaiveDate {
        let declared = self
            .incident()
            .created_at
            .with_timezone(&self.tz)
            .date_naive();
        add_business_days(declared, BUSINESS_DAYS_TO_DUE)
    }
}

/// The incident summary: its conversation, priority, page and description
/// (not its status or dates, which change).
pub fn summary_document(facts: &PostMortemFacts) -> Value {
    let incident = facts.incident();
    let mut blocks = vec![adf::heading(2, "Incident summary")];
    let reference = format!("#{}", facts.reference());
    let conversation = match &facts.channel {
        Some(channel) => adf::link(&reference, &channel.url),
        None => adf::text_node(&reference),
    };
    blocks.push(adf::paragraph(vec![
        adf::strong("Incident: "),
        conversation,
    ]));
    blocks.push(adf::paragraph(vec![
        adf::strong("Priority: "),
        adf::text_node(&facts.priority_name()),
    ]));
    blocks.push(adf::paragraph(vec![
        adf::strong("FireFighter: "),
        adf::link(&facts.incident_url, &facts.incident_url),
    ]));
    if !incident.description.trim().is_empty() {
        blocks.push(adf::heading(3, "Description"));
        blocks.extend(adf::paragraphs(&incident.description));
    }
    adf::doc(blocks)
}

/// One row of the timeline: when (UTC) and what.
pub type TimelineRow = (chrono::DateTime<chrono::Utc>, String);

/// The rows of the timeline: the declaration, then every status change and
/// every key event (with the message that came with it, if any) in the
/// order they happened. The `declared` key event is the first row itself.
pub fn timeline_rows(facts: &PostMortemFacts) -> Vec<TimelineRow> {
    let incident = facts.incident();
    // Rows at the same time: status changes first, then key events in the
    // catalog's order (recovered before mitigated).
    let mut rows: Vec<(TimelineRow, usize)> = Vec::new();
    for entry in &facts.timeline {
        let Some(status) = entry.status else {
            continue;
        };
        let declaration = entry
            .changes
            .iter()
            .any(|c| c.field == field::STATUS && c.old.is_none());
        if !declaration {
            rows.push(((entry.event_ts, format!("Status changed to {status}")), 0));
        }
    }
    for key in facts
        .details
        .key_events
        .iter()
        .filter(|k| k.event_type != key_event::DECLARED)
    {
        let kind = facts
            .catalog
            .milestone_types
            .iter()
            .position(|m| m.event_type == key.event_type);
        let name = kind.map_or_else(
            || key.event_type.clone(),
            |i| facts.catalog.milestone_types[i].name.clone(),
        );
        let message = facts
            .timeline
            .iter()
            .rev()
            .filter(|t| t.event_type.as_deref() == Some(key.event_type.as_str()))
            .find_map(|t| {
                t.message
                    .as_deref()
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
            });
        let what = match message {
            Some(message) => format!("Key event: {name} ({message})"),
            None => format!("Key event: {name}"),
        };
        rows.push(((key.at, what), 1 + kind.unwrap_or(usize::MAX - 1)));
    }
    rows.sort_by_key(|((at, _), rank)| (*at, *rank));
    let mut all = vec![(
        incident.created_at,
        format!("Incident declared ({})", facts.priority_name()),
    )];
    all.extend(rows.into_iter().map(|(row, _)| row));
    all
}

/// The timeline as a table, times in UTC.
pub fn timeline_document(facts: &PostMortemFacts) -> Value {
    let rows: Vec<Vec<String>> = timeline_rows(facts)
        .into_iter()
        .map(|(at, what)| vec![at.format("%Y-%m-%d %H:%M").to_string(), what])
        .collect();
    adf::doc(vec![
        adf::heading(2, "Timeline"),
        adf::table(&["Time (UTC)", "Event"], &rows),
    ])
}

/// A written section: the built-in post-mortem's text when there is one,
/// else a prompt for the author.
fn section(title: &str, written: Option<&str>, prompt: &str) -> Value {
    let mut blocks = vec![adf::heading(2, title)];
    match written.map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) => blocks.extend(adf::paragraphs(text)),
        None => blocks.push(adf::paragraph(vec![adf::text_node(prompt)])),
    }
    adf::doc(blocks)
}

/// What to ask the author of an empty impact section.
pub const IMPACT_PROMPT: &str = "To write: who and what was affected (customers, sellers, orders, internal teams), how badly, and for how long.";
/// What to ask the author of an empty mitigation actions section.
pub const MITIGATION_PROMPT: &str = "To write: what was done to stop the impact, and the follow-up actions that keep it from coming back, each with an owner and a due date.";
/// What to ask the author of an empty root causes section.
pub const ROOT_CAUSES_PROMPT: &str =
    "To write: why it happened, the technical causes and what let them reach production.";

fn impact_document(facts: &PostMortemFacts) -> Value {
    let written = facts.notes.as_ref().map(|n| n.impact.as_str());
    section("Impact", written, IMPACT_PROMPT)
}

fn root_causes_document(facts: &PostMortemFacts) -> Value {
    let written = facts.notes.as_ref().map(|n| n.root_causes.as_str());
    section("Root causes", written, ROOT_CAUSES_PROMPT)
}

/// The follow-up actions of the built-in post-mortem, else the prompt.
fn mitigation_document(facts: &PostMortemFacts) -> Value {
    if facts.actions.is_empty() {
        return section("Mitigation actions", None, MITIGATION_PROMPT);
    }
    let items = facts
        .actions
        .iter()
        .map(|a| {
            let done = if a.done { " (done)" } else { "" };
            vec![adf::text_node(&format!(
                "{}: {}, by {}{done}",
                a.description, a.owner, a.due_on
            ))]
        })
        .collect();
    adf::doc(vec![
        adf::heading(2, "Mitigation actions"),
        adf::bullet_list(items),
    ])
}

/// The `fields` of the create request of the incident's post-mortem.
pub fn postmortem_fields(
    jira: &JiraConfig,
    config: &PostMortemConfig,
    facts: &PostMortemFacts,
) -> Result<Map<String, Value>> {
    let incident = facts.incident();
    let f = &config.fields;
    let mut fields = Map::new();
    fields.insert("project".into(), json!({ "key": config.project_key }));
    fields.insert("issuetype".into(), json!({ "name": config.issue_type }));
    fields.insert(
        "summary".into(),
        json!(postmortem_summary(
            config,
            &facts.reference(),
            &facts.priority_name(),
            &incident.title
        )),
    );
    fields.insert("labels".into(), json!([postmortem_label(incident.id)]));
    fields.insert(
        "duedate".into(),
        json!(facts.due_date().format("%Y-%m-%d").to_string()),
    );
    fields.insert(f.incident_summary.clone(), summary_document(facts));
    fields.insert(f.timeline.clone(), timeline_document(facts));
    fields.insert(f.impact.clone(), impact_document(facts));
    fields.insert(f.mitigation_actions.clone(), mitigation_document(facts));
    fields.insert(f.root_causes.clone(), root_causes_document(facts));
    if let Some(category) = facts.catalog.category(incident.category_id) {
        fields.insert(
            f.incident_category.clone(),
            json!({ "value": category.name }),
        );
    }
    fields.extend(replicated_fields(&jira.fields, &facts.catalog, incident)?);
    Ok(fields)
}

/// A refusal, with each field named by the setting behind it (the
/// replicated ones' too, when they were sent) and what to do.
fn explain(config: &PostMortemConfig, replicated: Option<&JiraFields>, e: Error) -> Error {
    let Error::Rejected {
        status,
        mut messages,
        fields,
    } = e
    else {
        return e;
    };
    let mut settings = config.fields.settings().to_vec();
    if let Some(f) = replicated {
        settings.extend(replicated_settings(f));
    }
    settings.extend([
        ("project", "JIRA_POSTMORTEM_PROJECT_KEY"),
        ("issuetype", "JIRA_POSTMORTEM_ISSUE_TYPE"),
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
        "fix the settings, or the create screen of issue type \"{}\" in project {}, then re-queue this delivery",
        config.issue_type, config.project_key
    ));
    Error::Rejected {
        status,
        messages,
        fields,
    }
}

/// The Jira calls of post-mortems.
impl JiraClient {
    /// The name of an issue's workflow status (`GET /rest/api/3/issue/{key}?fields=status`).
    pub async fn issue_status(&self, issue: &str) -> Result<String> {
        let path = format!("/issue/{}", segment(issue)?);
        let view: IssueView = self
            .retried(Error::is_retryable, || async {
                json(
                    self.send(Method::GET, &path, &[("fields", "status")], None)
                        .await?,
                )
                .await
            })
            .await?;
        view.fields
            .status
            .map(|s| s.name)
            .ok_or_else(|| Error::Decode(format!("issue {issue} came without its status")))
    }

    /// The keys of the issues linked to an issue
    /// (`GET /rest/api/3/issue/{key}?fields=issuelinks`).
    pub async fn linked_issues(&self, issue: &str) -> Result<Vec<String>> {
        let path = format!("/issue/{}", segment(issue)?);
        let view: IssueView = self
            .retried(Error::is_retryable, || async {
                json(
                    self.send(Method::GET, &path, &[("fields", "issuelinks")], None)
                        .await?,
                )
                .await
            })
            .await?;
        Ok(view
            .fields
            .issuelinks
            .into_iter()
            .filter_map(|l| l.inward_issue.or(l.outward_issue))
            .map(|i| i.key)
            .collect())
    }

    /// Sets fields of an issue (`PUT /rest/api/3/issue/{key}` with
    /// `{"fields": ...}`); the same edit twice changes nothing more.
    pub async fn edit_issue(&self, issue: &str, fields: &Map<String, Value>) -> Result<()> {
        let path = format!("/issue/{}", segment(issue)?);
        let body = json!({ "fields": fields });
        self.retried(Error::is_retryable, || async {
            self.send(Method::PUT, &path, &[], Some(&body))
                .await
                .map(drop)
        })
        .await
    }

    /// Links two issues (`POST /rest/api/3/issueLink`): `inward` "relates
    /// to" (or "blocks") `outward` for link type `link_type`.
    pub async fn link_issues(&self, link_type: &str, inward: &str, outward: &str) -> Result<()> {
        let request = IssueLinkRequest {
            link_type: IssueLinkTypeName {
                name: link_type.to_owned(),
            },
            inward_issue: LinkedIssueKey {
                key: segment(inward)?.to_owned(),
            },
            outward_issue: LinkedIssueKey {
                key: segment(outward)?.to_owned(),
            },
        };
        let body = serde_json::to_value(&request).map_err(|e| Error::Decode(e.to_string()))?;
        self.retried(Error::is_retryable, || async {
            self.send(Method::POST, "/issueLink", &[], Some(&body))
                .await
                .map(drop)
        })
        .await
    }

    /// Assigns an issue (`PUT /rest/api/3/issue/{key}/assignee` with
    /// `{"accountId": ...}`).
    pub async fn assign_issue(&self, issue: &str, account_id: &str) -> Result<()> {
        let path = format!("/issue/{}/assignee", segment(issue)?);
        let body = json!({ "accountId": account_id });
        self.retried(Error::is_retryable, || async {
            self.send(Method::PUT, &path, &[], Some(&body))
                .await
                .map(drop)
        })
        .await
    }
}

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
                        _ => return Err(e),
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
        let record = match self.store.postmortems(incident.id).await {
            Ok(docs) => docs.into_iter().find(|d| d.backend == BACKEND),
            Err(e) => {
                return PostMortemState::Unknown(format!(
                    "could not read the post-mortem records: {e}"
                ));
            }
        };
        let Some(record) = record else {
            return PostMortemState::Missing;
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

fn config_error(e: Error) -> firefighter_core::Error {
    firefighter_core::Error::Config(e.to_string())
}

fn build_handler(ctx: &PluginContext) -> firefighter_core::Result<Option<Arc<dyn EventHandler>>> {
    let Some((jira, config)) = PostMortemConfig::from_env().map_err(config_error)? else {
        return Ok(None);
    };
    let client = JiraClient::new(&jira).map_err(config_error)?;
    let users = JiraUserStore::of(&*ctx.store).map_err(config_error)?;
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
    let Some((jira, config)) = PostMortemConfig::from_env().map_err(config_error)? else {
        return Ok(None);
    };
    let client = JiraClient::new(&jira).map_err(config_error)?;
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
    use figment::providers::Serialized;

    fn env(pairs: &[(&str, &str)]) -> Figment {
        let map: std::collections::BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
            .collect();
        Figment::new().merge(Serialized::defaults(map))
    }

    const JIRA_ON: &[(&str, &str)] = &[
        ("ENABLE_JIRA", "yes"),
        ("RAID_JIRA_API_URL", "acme.atlassian.net"),
        ("RAID_JIRA_API_USER", "bot@acme.com"),
        ("RAID_JIRA_API_PASSWORD", "token"),
        ("RAID_JIRA_PROJECT_KEY", "INC"),
        ("RAID_DEFAULT_JIRA_QRAFT_USER_ID", "557058:abc"),
    ];

    #[test]
    fn off_by_default_and_only_with_jira_on() {
        assert!(
            PostMortemConfig::from_figment(env(JIRA_ON))
                .unwrap()
                .is_none()
        );
        let status = PostMortemConfig::status(env(&[("ENABLE_JIRA_POSTMORTEM", "yes")]));
        assert!(!status.on);
        assert!(status.why.contains("Jira is off"), "{}", status.why);
        assert!(status.why.contains("ENABLE_JIRA"), "{}", status.why);
        let mut on = JIRA_ON.to_vec();
        on.push(("ENABLE_JIRA_POSTMORTEM", "on"));
        let (jira, config) = PostMortemConfig::from_figment(env(&on)).unwrap().unwrap();
        assert_eq!(jira.project_key, "INC");
        assert_eq!(config, PostMortemConfig::default());
        assert_eq!(config.project_key, "INCIDENT");
        assert_eq!(config.issue_type, "Post-mortem");
        assert_eq!(config.ready_status, "Ready");
        assert_eq!(config.fields.incident_summary, "customfield_12699");
        assert_eq!(config.fields.timeline, "customfield_12700");
        assert_eq!(config.fields.root_causes, "customfield_12701");
        assert_eq!(config.fields.impact, "customfield_12702");
        assert_eq!(config.fields.mitigation_actions, "customfield_12703");
        assert_eq!(config.fields.incident_category, "customfield_12369");
        assert!(PostMortemConfig::status(env(&on)).on);
        let mut bad = JIRA_ON.to_vec();
        bad.push(("ENABLE_JIRA_POSTMORTEM", "perhaps"));
        let e = PostMortemConfig::from_figment(env(&bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ENABLE_JIRA_POSTMORTEM"), "{e}");
    }

    #[test]
    fn settings_are_read_and_checked() {
        let mut vars = JIRA_ON.to_vec();
        vars.extend([
            ("ENABLE_JIRA_POSTMORTEM", "yes"),
            ("JIRA_POSTMORTEM_PROJECT_KEY", "PM"),
            ("JIRA_POSTMORTEM_ISSUE_TYPE", "Postmortem"),
            ("JIRA_POSTMORTEM_READY_STATUS", "Done"),
            ("JIRA_FIELD_TIMELINE", "13000"),
            ("ENV", "prod"),
        ]);
        let (_, config) = PostMortemConfig::from_figment(env(&vars)).unwrap().unwrap();
        assert_eq!(config.project_key, "PM");
        assert_eq!(config.issue_type, "Postmortem");
        assert_eq!(config.ready_status, "Done");
        assert_eq!(config.fields.timeline, "customfield_13000");
        assert_eq!(config.summary_prefix(), "");
        let mut bad = vars.clone();
        bad.push(("JIRA_FIELD_IMPACT", "impact"));
        let e = PostMortemConfig::from_figment(env(&bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains("JIRA_FIELD_IMPACT"), "{e}");
        let mut bad = vars;
        bad.push(("JIRA_POSTMORTEM_PROJECT_KEY", "post mortems"));
        let e = PostMortemConfig::from_figment(env(&bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains("JIRA_POSTMORTEM_PROJECT_KEY"), "{e}");
    }

    #[test]
    fn summaries_follow_fire_fighter() {
        let mut config = PostMortemConfig::default();
        assert_eq!(
            postmortem_summary(&config, "inc-checkout", "P1", "Checkout fails"),
            "[IGNORE - TEST dev] #inc-checkout (P1) Checkout fails"
        );
        config.env = "support".into();
        assert_eq!(postmortem_summary(&config, "inc", "P2", "x"), "#inc (P2) x");
        let long = postmortem_summary(&config, "inc", "P2", &"word ".repeat(80));
        assert_eq!(long.chars().count(), MAX_SUMMARY_CHARS);
        assert!(long.ends_with('…'), "{long}");
    }

    #[test]
    fn due_dates_skip_weekends() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        // A Monday: 40 business days are 8 weeks.
        assert_eq!(add_business_days(d(2026, 1, 5), 40), d(2026, 3, 2));
        // A Saturday: the Monday after counts first.
        assert_eq!(add_business_days(d(2026, 1, 10), 1), d(2026, 1, 12));
        // A Friday.
        assert_eq!(add_business_days(d(2026, 1, 9), 1), d(2026, 1, 12));
        assert_eq!(add_business_days(d(2026, 1, 9), 0), d(2026, 1, 9));
    }

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
