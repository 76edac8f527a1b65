//! The Slack side of PagerDuty (feature `pagerduty`): the `/incident oncall`
//! modal ([`PagerDutyOnCall`]) and the on-call roster in the
//! `tech_incidents` channel topic (task [`UPDATE_ONCALL_TOPIC`]).
//!
//! The PagerDuty crate knows nothing of Slack: it gives plain data
//! ([`firefighter_pagerduty::services_not_yet_paged`],
//! [`firefighter_pagerduty::Roster::topic_text`]) and pages
//! ([`firefighter_pagerduty::PagerDuty::trigger_oncall`], at most once per
//! incident and service); this module turns them into Block Kit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firefighter_core::plugin::PluginContext;
use firefighter_core::task::{PeriodicTask, Schedule, TaskRegistration};
use firefighter_core::{Firefighter, IncidentId, Status, UserId};
use firefighter_pagerduty::{MAX_SUMMARY_CHARS, PageRequest, PagerDuty, ServiceChoice};
use serde_json::{Value, json};

use crate::messages::tag;
use crate::models::blocks::{
    context, escape, input, modal, option_described, section, static_select, text_input,
};
use crate::{ONCALL_CALLBACK_ID, OnCallModal, Slack};

/// Block (and action) ids of the on-call modal.
pub mod block {
    /// The service to page (static select; value: PagerDuty service id).
    pub const SERVICE: &str = "service";
    /// What is going on (the PagerDuty incident's title).
    pub const SUMMARY: &str = "summary";
    /// Details (optional).
    pub const DETAILS: &str = "details";
}

/// Slack's limit of options in a static select.
const MAX_OPTIONS: usize = 100;
/// Slack's limit of a plain-text input.
const MAX_INPUT_CHARS: usize = 3000;
/// Slack's limit of a channel topic.
pub const TOPIC_MAX_CHARS: usize = 250;

/// The name of the task that puts the on-call roster in the `tech_incidents` topic.
pub const UPDATE_ONCALL_TOPIC: &str = "slack.update_oncall_topic";

/// The `/incident oncall` modal backed by PagerDuty: lists the services not
/// yet paged for the incident; submitting pages the chosen one (once per
/// incident and service, whatever the number of submissions).
///
/// ```no_run
/// # fn demo(app: firefighter_core::Firefighter, slack: firefighter_slack::Slack, pd: firefighter_pagerduty::PagerDuty) {
/// use std::sync::Arc;
/// use firefighter_slack::oncall::PagerDutyOnCall;
/// let slack = slack.with_oncall(Arc::new(PagerDutyOnCall::new(app, pd)));
/// # let _ = slack; }
/// ```
#[derive(Debug, Clone)]
pub struct PagerDutyOnCall {
    app: Firefighter,
    pagerduty: PagerDuty,
}

impl PagerDutyOnCall {
    /// The modal for this application and PagerDuty integration.
    pub fn new(app: Firefighter, pagerduty: PagerDuty) -> PagerDutyOnCall {
        PagerDutyOnCall { app, pagerduty }
    }
}

fn value_of<'a>(state: &'a Value, block: &str) -> &'a str {
    state
        .get(block)
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
}

fn service_option(s: &ServiceChoice) -> Value {
    let description = s
        .escalation_policy
        .as_deref()
        .map(|p| format!("Escalation policy: {p}"))
        .unwrap_or_else(|| s.summary.clone());
    option_described(&s.name, &s.id, &description)
}

/// The on-call modal of an incident offering these services.
pub fn oncall_view(incident: &firefighter_core::Incident, services: &[ServiceChoice]) -> Value {
    let metadata = json!({"incident": incident.id.0}).to_string();
    let head = section(&format!(
        "*Incident {}:* {}",
        incident.id,
        escape(&incident.title)
    ));
    if services.is_empty() {
        return modal(
            ONCALL_CALLBACK_ID,
            "Page the on-call",
            None,
            vec![
                head,
                section(
                    "Every PagerDuty service was already paged for this incident (or none is synced yet): there is nobody left to page.",
                ),
            ],
            &metadata,
        );
    }
    let options: Vec<Value> = services
        .iter()
        .take(MAX_OPTIONS)
        .map(service_option)
        .collect();
    let mut b = vec![
        head,
        section(
            "Page the on-call of a PagerDuty service about this incident. Each service is paged at most once per incident.",
        ),
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
                    MAX_SUMMARY_CHARS.min(MAX_INPUT_CHARS),
                )),
                None,
                Some(MAX_SUMMARY_CHARS.min(MAX_INPUT_CHARS) as u32),
            ),
            false,
            Some("The title of the PagerDuty incident."),
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
        ONCALL_CALLBACK_ID,
        "Page the on-call",
        Some("Page"),
        b,
        &metadata,
    )
}

/// Field errors of a submission: a service must be chosen and the title given.
fn field_errors(state: &Value) -> HashMap<String, String> {
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

#[async_trait]
impl OnCallModal for PagerDutyOnCall {
    async fn view(&self, incident: IncidentId) -> Result<Value, String> {
        let i = self
            .app
            .incident(incident)
            .await
            .map_err(|e| e.to_string())?;
        if i.status == Status::Closed {
            return Ok(crate::views::notice(
                "Incident closed",
                &format!(
                    "Incident {} is closed: its on-call cannot be paged from here.",
                    i.id
                ),
            ));
        }
        let services = firefighter_pagerduty::services_not_yet_paged(&self.app, incident)
            .await
            .map_err(|e| format!("could not read the PagerDuty services: {e}"))?;
        Ok(oncall_view(&i, &services))
    }

    fn field_errors(&self, state: &Value) -> HashMap<String, String> {
        field_errors(state)
    }

    async fn submit(
        &self,
        incident: IncidentId,
        by: UserId,
        state: &Value,
    ) -> Result<String, String> {
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
        self.pagerduty
            .trigger_oncall(&self.app, request)
            .await
            .map(|outcome| outcome.message())
            .map_err(|e| format!("the on-call was not paged: {e}"))
    }
}

// ------------------------------------------------------------------ topic

impl Slack {
    /// Puts the current on-call roster in the topic of the conversation
    /// tagged `tech_incidents`, unless it is already there. Returns what it did.
    pub async fn update_oncall_topic(&self) -> Result<String, String> {
        let Some(channel) = self
            .tagged_channel(tag::TECH_INCIDENTS)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(format!(
                "skipped: no conversation is tagged {}",
                tag::TECH_INCIDENTS
            ));
        };
        let app = self.app().map_err(|e| e.to_string())?;
        let roster = firefighter_pagerduty::roster(&app)
            .await
            .map_err(|e| format!("could not read the on-call roster: {e}"))?;
        let text = roster.topic_text(app.settings().base_url(), TOPIC_MAX_CHARS);
        let key = format!("oncall_topic:{channel}");
        let last = self.store().effect(&key).await.map_err(|e| e.to_string())?;
        if last.as_deref() == Some(text.as_str()) {
            return Ok(format!(
                "unchanged: the topic of {channel} already shows the on-call"
            ));
        }
        self.api()
            .set_topic(&channel, &text)
            .await
            .map_err(|e| e.to_string())?;
        self.store()
            .replace_effect(&key, &text)
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!("topic of {channel} set to the on-call roster"))
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
        "Puts who is on call (PagerDuty) in the topic of the conversation tagged tech_incidents, when it changed."
    }

    fn default_schedule(&self) -> Option<Schedule> {
        Some(Schedule::every(Duration::from_secs(15 * 60)))
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(120)
    }

    async fn run(&self) -> Result<String, String> {
        self.slack.update_oncall_topic().await
    }
}

fn build_topic_task(
    ctx: &PluginContext,
) -> firefighter_core::Result<Option<Arc<dyn PeriodicTask>>> {
    // Both integrations must be on: Slack for the channel, PagerDuty for the roster.
    let pagerduty_on = firefighter_pagerduty::PagerDutyConfig::from_env()
        .map_err(|e| firefighter_core::Error::Config(e.to_string()))?
        .is_some();
    if !pagerduty_on {
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
    use super::*;

    #[test]
    fn event_types_match_pagerduty() {
        assert_eq!(crate::PAGE_EVENT, firefighter_pagerduty::PAGE_EVENT_TYPE);
        assert_eq!(
            crate::ONCALL_HINT_EVENT,
            firefighter_pagerduty::provider::OFF_HOURS_EVENT_TYPE
        );
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
