//! The on-call from Slack, whichever vendor core has on
//! ([`firefighter_core::Firefighter::oncall`]): the `/incident oncall` modal
//! (the services not yet paged for the incident; submitting pages the chosen
//! one, once per incident and service) and the roster in the
//! `tech_incidents` channel topic (task [`UPDATE_ONCALL_TOPIC`]). The
//! vendor gives plain data; this module turns it into Block Kit and Slack
//! markup, and finds people's Slack ids through their core accounts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firefighter_core::oncall::{OnCall, PageRequest, PageableService, Roster};
use firefighter_core::plugin::PluginContext;
use firefighter_core::task::{PeriodicTask, Schedule, TaskError, TaskRegistration, TaskReport};
use firefighter_core::{Incident, IncidentId, UserId};
use serde_json::{Value, json};

pub(crate) use crate::ids::oncall_block as block;
use crate::messages::tag;
use crate::models::blocks::{
    context, escape, input, modal, option_described, section, static_select, text_input,
};
use crate::{Error, Result, Slack};

/// Slack's limit of options in a static select.
const MAX_OPTIONS: usize = 100;
/// Slack's limit of a plain-text input.
const MAX_INPUT_CHARS: usize = 3000;
/// Slack's limit of a channel topic.
pub(crate) const TOPIC_MAX_CHARS: usize = 250;

/// The name of the task that puts the on-call roster in the `tech_incidents` topic.
pub const UPDATE_ONCALL_TOPIC: &str = "slack.update_oncall_topic";

fn value_of<'a>(state: &'a Value, block: &str) -> &'a str {
    state
        .get(block)
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
}

fn service_option(s: &PageableService) -> Value {
    let description = s
        .escalation_policy
        .as_deref()
        .map(|p| format!("Escalation policy: {p}"))
        .unwrap_or_else(|| s.summary.clone());
    option_described(&s.name, &s.id, &description)
}

/// The on-call modal of an incident offering these services of `vendor`
/// (its name for people), whose titles take `max_summary_chars`.
pub(crate) fn oncall_view(
    incident: &Incident,
    services: &[PageableService],
    vendor: &str,
    max_summary_chars: usize,
) -> Value {
    let metadata = json!({"incident": incident.id.0}).to_string();
    let head = section(&format!(
        "*Incident {}:* {}",
        incident.id,
        escape(&incident.title)
    ));
    if services.is_empty() {
        return modal(
            crate::ids::callback::ONCALL,
            "Page the on-call",
            None,
            vec![
                head,
                section(&format!(
                    "Every {} service was already paged for this incident (or none is synced yet): there is nobody left to page.",
                    escape(vendor)
                )),
            ],
            &metadata,
        );
    }
    let options: Vec<Value> = services
        .iter()
        .take(MAX_OPTIONS)
        .map(service_option)
        .collect();
    let title_chars = max_summary_chars.clamp(1, MAX_INPUT_CHARS);
    let mut b = vec![
        head,
        section(&format!(
            "Page the on-call of a {} service about this incident. Each service is paged at most once per incident.",
            escape(vendor)
        )),
        input(
            block::SERVICE,
            "Service to page",
            static_select(block::SERVICE, "Choose a service", options, None),
            false,
            Some("Services already paged for this incident are not listed."),
        ),
        input(
            block::SUMMARY,
            "What is going on?",
            text_input(
                block::SUMMARY,
                false,
                Some(&crate::models::blocks::truncate(
                    &incident.title,
                    title_chars,
                )),
                None,
                Some(title_chars as u32),
            ),
            false,
            Some("The title the on-call receives."),
        ),
        input(
            block::DETAILS,
            "Details",
            text_input(
                block::DETAILS,
                true,
                None,
                None,
                Some(MAX_INPUT_CHARS as u32),
            ),
            true,
            Some("Sent with the incident's priority, environment, category and links."),
        ),
    ];
    if services.len() > MAX_OPTIONS {
        b.push(context(&format!(
            "Only the first {MAX_OPTIONS} of {} services are listed; page the others from the web form.",
            services.len()
        )));
    }
    modal(
        crate::ids::callback::ONCALL,
        "Page the on-call",
        Some("Page"),
        b,
        &metadata,
    )
}

/// The modal for an open incident: the services it can still page.
pub(crate) async fn view(incident: &Incident, oncall: &dyn OnCall) -> Result<Value> {
    let services = oncall.services_to_page(incident.id).await.map_err(|e| {
        Error::BadRequest(format!(
            "could not read the {} services: {e}",
            oncall.display_name()
        ))
    })?;
    Ok(oncall_view(
        incident,
        &services,
        oncall.display_name(),
        oncall.max_summary_chars(),
    ))
}

/// Field errors of a submission: a service must be chosen and the title given.
pub(crate) fn field_errors(state: &Value) -> HashMap<String, String> {
    let mut errors = HashMap::new();
    if value_of(state, block::SERVICE).is_empty() {
        errors.insert(
            block::SERVICE.to_owned(),
            "Choose the service whose on-call to page.".to_owned(),
        );
    }
    if value_of(state, block::SUMMARY).is_empty() {
        errors.insert(
            block::SUMMARY.to_owned(),
            "Say what is going on.".to_owned(),
        );
    }
    errors
}

/// Pages the chosen service (the vendor pages it once per incident, whatever
/// the number of submissions); the sentence confirming what happened.
pub(crate) async fn submit(
    oncall: &dyn OnCall,
    incident: IncidentId,
    by: UserId,
    state: &Value,
) -> std::result::Result<String, String> {
    let service_id = value_of(state, block::SERVICE);
    if service_id.is_empty() {
        return Err("choose the service whose on-call to page".into());
    }
    let request = PageRequest {
        service_id: service_id.to_owned(),
        incident_id: Some(incident),
        summary: value_of(state, block::SUMMARY).to_owned(),
        details: value_of(state, block::DETAILS).to_owned(),
        requested_by: Some(by),
        request_id: None,
    };
    oncall
        .page(request)
        .await
        .map(|outcome| outcome.message())
        .map_err(|e| format!("the on-call was not paged: {e}"))
}

// ------------------------------------------------------------------ topic

/// The on-call part of the tech-incidents channel topic, as FireFighter
/// wrote it: after a link to the on-call page, per escalation policy
/// `POLICY <@slack id or name> <tel:+phone>` of its first responders, cut
/// to `max_chars` characters (Slack topics take 250). `slack_ids` maps the
/// people's firefighter accounts to their Slack ids.
pub(crate) fn topic_text(
    roster: &Roster,
    slack_ids: &HashMap<UserId, String>,
    base_url: &str,
    max_chars: usize,
) -> String {
    let mut text = format!("<{}/oncall/|On-call>:", base_url.trim_end_matches('/'));
    for (policy, person) in roster.first_responders() {
        text.push(' ');
        text.push_str(&policy.name.to_uppercase());
        text.push(' ');
        match person.user_id.and_then(|u| slack_ids.get(&u)) {
            Some(id) => text.push_str(&format!("<@{id}>")),
            None => text.push_str(&person.name),
        }
        if let Some(phone) = &person.phone {
            text.push_str(&format!(" <tel:{phone}|{phone}>"));
        }
    }
    if text.chars().count() > max_chars {
        text = text.chars().take(max_chars.saturating_sub(1)).collect();
        text.push('…');
    }
    text
}

impl Slack {
    /// Slack ids of the people on a roster who have a linked account with one.
    async fn slack_ids(&self, roster: &Roster) -> Result<HashMap<UserId, String>> {
        let users = self.core().users(&roster.user_ids()).await?;
        Ok(users
            .into_iter()
            .filter_map(|u| {
                let id = u.identity(crate::PLATFORM).filter(|s| !s.is_empty())?;
                Some((u.id, id.to_owned()))
            })
            .collect())
    }

    /// Puts the current on-call roster in the topic of the conversation
    /// tagged `tech_incidents`, unless it is already there. Returns what it did.
    pub(crate) async fn update_oncall_topic(&self) -> std::result::Result<TaskReport, TaskError> {
        let app = self.app().map_err(TaskError::failed)?;
        let Some(oncall) = app.oncall().cloned() else {
            return Ok(TaskReport::note(
                "skipped: no on-call vendor is switched on",
            ));
        };
        let Some(channel) = self
            .tagged_channel(tag::TECH_INCIDENTS)
            .await
            .map_err(TaskError::failed)?
        else {
            return Ok(TaskReport::note(format!(
                "skipped: no conversation is tagged {}",
                tag::TECH_INCIDENTS
            )));
        };
        let roster = oncall
            .roster()
            .await
            .map_err(|e| TaskError::failed(format!("could not read the on-call roster: {e}")))?;
        let slack_ids = self.slack_ids(&roster).await.map_err(TaskError::failed)?;
        let text = topic_text(
            &roster,
            &slack_ids,
            app.settings().base_url(),
            TOPIC_MAX_CHARS,
        );
        let key = format!("oncall_topic:{channel}");
        let last = self.store().effect(&key).await.map_err(TaskError::failed)?;
        if last.as_deref() == Some(text.as_str()) {
            return Ok(TaskReport::note(format!(
                "unchanged: the topic of {channel} already shows the on-call"
            )));
        }
        self.api()
            .set_topic(&channel, &text)
            .await
            .map_err(TaskError::failed)?;
        self.store()
            .replace_effect(&key, &text)
            .await
            .map_err(TaskError::failed)?;
        Ok(TaskReport::note(format!(
            "topic of {channel} set to the on-call roster"
        )))
    }
}

/// `slack.update_oncall_topic`: the on-call roster in the `tech_incidents` topic.
#[derive(Debug, Clone)]
pub struct UpdateOncallTopic {
    slack: Slack,
}

impl UpdateOncallTopic {
    /// The task for this integration.
    pub fn new(slack: Slack) -> UpdateOncallTopic {
        UpdateOncallTopic { slack }
    }
}

#[async_trait]
impl PeriodicTask for UpdateOncallTopic {
    fn name(&self) -> &str {
        UPDATE_ONCALL_TOPIC
    }

    fn description(&self) -> &str {
        "Puts who is on call in the topic of the conversation tagged tech_incidents, when it changed."
    }

    fn default_schedule(&self) -> Option<Schedule> {
        Some(Schedule::every(Duration::from_secs(15 * 60)))
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(120)
    }

    async fn run(&self) -> std::result::Result<TaskReport, TaskError> {
        self.slack.update_oncall_topic().await
    }
}

fn build_topic_task(
    ctx: &PluginContext,
) -> firefighter_core::Result<Option<Arc<dyn PeriodicTask>>> {
    // Slack for the channel, an on-call vendor for the roster.
    if ctx.oncall().is_none() {
        return Ok(None);
    }
    Ok(Slack::from_plugin_context(ctx)
        .map_err(|e| firefighter_core::Error::Config(e.to_string()))?
        .map(|s| Arc::new(UpdateOncallTopic::new(s)) as Arc<dyn PeriodicTask>))
}

firefighter_core::register_task!(TaskRegistration {
    name: UPDATE_ONCALL_TOPIC,
    build: build_topic_task,
});

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use firefighter_core::oncall::{OnCallLevel, OnCallPerson, OnCallPolicy};

    use super::*;

    fn person(name: &str, phone: &str, user: Option<UserId>) -> OnCallPerson {
        OnCallPerson {
            name: name.into(),
            email: String::new(),
            phone: Some(phone.to_owned()).filter(|p| !p.is_empty()),
            user_id: user,
            external_id: format!("U{name}"),
            url: String::new(),
            schedule: None,
            until: None,
        }
    }

    #[test]
    fn the_topic_mentions_first_responders_by_slack_id_and_is_cut_to_fit() {
        let ann = UserId(uuid::Uuid::from_u128(1));
        let level = |people| OnCallLevel { level: 1, people };
        let roster = Roster {
            policies: vec![
                OnCallPolicy {
                    id: "P1".into(),
                    name: "Core".into(),
                    url: String::new(),
                    levels: vec![
                        level(vec![person("Ann", "+331", Some(ann))]),
                        OnCallLevel {
                            level: 2,
                            people: vec![person("Bob", "", None)],
                        },
                    ],
                },
                OnCallPolicy {
                    id: "P2".into(),
                    name: "Payments".into(),
                    url: String::new(),
                    levels: vec![level(vec![person("Cid", "", None)])],
                },
            ],
            ..Roster::empty(Utc::now())
        };
        let ids = HashMap::from([(ann, "U0ANN".to_owned())]);
        assert_eq!(
            topic_text(&roster, &ids, "https://ff.example.com/", 250),
            "<https://ff.example.com/oncall/|On-call>: CORE <@U0ANN> <tel:+331|+331> PAYMENTS Cid"
        );
        // Without a Slack id: the name.
        assert!(
            topic_text(&roster, &HashMap::new(), "https://ff.example.com", 250)
                .contains("CORE Ann <tel:")
        );
        let short = topic_text(&roster, &ids, "https://ff.example.com", 20);
        assert_eq!(short.chars().count(), 20);
        assert!(short.ends_with('…'));
    }

    #[test]
    fn empty_fields_are_refused_on_the_form() {
        let state = json!({"service": "", "summary": "  ", "details": ""});
        let mut errors: Vec<String> = field_errors(&state).into_keys().collect();
        errors.sort();
        assert_eq!(errors, ["service", "summary"]);
        assert!(field_errors(&json!({"service": "P1", "summary": "down"})).is_empty());
    }
}
