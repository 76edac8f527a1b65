//! What a Jira post-mortem says: its summary, its fields in Atlassian
//! Document Format, made from the incident's facts.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, Weekday};
use firefighter_core::event::ChannelInfo;
use firefighter_core::postmortem::{FollowUpAction, PostMortemNotes};
use firefighter_core::store::Catalog;
use firefighter_core::timeline::field;
use firefighter_core::{
    Firefighter, Incident, IncidentDetails, IncidentEvent, IncidentId, TimelineEntry, key_event,
};
use serde_json::{Map, Value, json};

use crate::config::JiraFields;
use crate::models::adf;
use crate::tickets::{replicated_fields, replicated_settings};
use crate::{Error, JiraConfig, Result};

use super::{BUSINESS_DAYS_TO_DUE, MAX_SUMMARY_CHARS, PostMortemConfig};

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
    crate::alerts::cut(&summary, MAX_SUMMARY_CHARS)
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

    pub(super) fn incident(&self) -> &Incident {
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
pub(super) fn explain(
    config: &PostMortemConfig,
    replicated: Option<&JiraFields>,
    e: Error,
) -> Error {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
