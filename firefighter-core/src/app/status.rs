//! What the lifecycle rules see of an incident, gathered in one place so
//! that the commands, the forms and the dry runs decide from the same facts
//! (a form never promises what the command then refuses).

use crate::lifecycle::{self, LifecycleFacts, PostMortemState, Refusal, StatusChange};
use crate::store::Catalog;
use crate::{EnvironmentId, Incident, IncidentId, KeyEvent, Result, Status, key_event};

use super::{Firefighter, Update, find_priority};

/// The facts [`lifecycle::check_transition`] looks at, owned.
#[derive(Debug, Clone)]
pub(super) struct LifecycleInputs {
    status: Status,
    priority_value: i32,
    postmortem_required: bool,
    ignore: bool,
    was_mitigated: bool,
    postmortem: PostMortemState,
    missing_key_events: Vec<String>,
}

impl LifecycleInputs {
    pub(super) fn facts(&self) -> LifecycleFacts<'_> {
        LifecycleFacts {
            status: self.status,
            priority_value: self.priority_value,
            postmortem_required: self.postmortem_required,
            ignore: self.ignore,
            was_mitigated: self.was_mitigated,
            postmortem: &self.postmortem,
            missing_key_events: &self.missing_key_events,
        }
    }
}

impl Firefighter {
    /// Whether a post-mortem is required: the priority needs one and the incident touches production.
    pub fn postmortem_required(&self, catalog: &Catalog, incident: &Incident) -> bool {
        let needs = catalog
            .priorities
            .iter()
            .find(|p| p.id == incident.priority_id)
            .is_some_and(|p| p.needs_postmortem);
        needs
            && incident.environment_ids.iter().any(|e| {
                catalog
                    .environments
                    .iter()
                    .any(|env| env.id == *e && env.is_production())
            })
    }

    /// What each enabled backend says of the incident's post-mortem, by name.
    pub async fn postmortem_states(&self, incident: &Incident) -> Vec<(String, PostMortemState)> {
        let states =
            futures::future::join_all(self.inner.postmortem.iter().map(|p| p.state(incident)))
                .await;
        self.inner
            .postmortem
            .iter()
            .map(|p| p.name().to_owned())
            .zip(states)
            .collect()
    }

    /// The state of the incident's post-mortem across every enabled backend.
    pub async fn postmortem_state(&self, incident: &Incident) -> PostMortemState {
        let states =
            futures::future::join_all(self.inner.postmortem.iter().map(|p| p.state(incident)))
                .await;
        crate::postmortem::combine(states)
    }

    /// The lifecycle's facts about `incident` — its fields as the change
    /// being decided leaves them, its status as it is. `may_close`: the
    /// answer may be about closing, so the post-mortem backends are asked
    /// (a call out, only when it matters: from Post-mortem).
    pub(super) async fn lifecycle_inputs(
        &self,
        catalog: &Catalog,
        incident: &Incident,
        key_events: &[KeyEvent],
        may_close: bool,
    ) -> Result<LifecycleInputs> {
        let mut missing = key_event::missing_required(&catalog.milestone_types, key_events);
        // Mitigation records `recovered` by itself; only what people must enter counts.
        missing.retain(|m| m != key_event::RECOVERED || incident.status < Status::Mitigated);
        let postmortem_required = self.postmortem_required(catalog, incident);
        let asks_backend =
            may_close && postmortem_required && incident.status == Status::PostMortem;
        let postmortem = if asks_backend {
            self.postmortem_state(incident).await
        } else {
            PostMortemState::NoBackend
        };
        Ok(LifecycleInputs {
            status: incident.status,
            priority_value: find_priority(catalog, incident.priority_id)?.value,
            postmortem_required,
            ignore: incident.ignore,
            was_mitigated: incident.mitigated_at.is_some(),
            postmortem,
            missing_key_events: missing,
        })
    }

    /// The statuses that may be chosen next for an incident (each may still
    /// need a message or a closure reason), for forms.
    pub async fn offered_statuses(&self, id: IncidentId) -> Result<Vec<Status>> {
        let details = self.incident_details(id).await?;
        let catalog = self.catalog().await?;
        let inputs = self
            .lifecycle_inputs(&catalog, &details.incident, &details.key_events, true)
            .await?;
        Ok(lifecycle::offered_statuses(&inputs.facts()))
    }

    /// Whether closing the incident now needs a closure reason (an early
    /// closure, before any mitigation), for forms.
    pub async fn closing_needs_reason(&self, id: IncidentId) -> Result<bool> {
        // Only the status, the ignore flag and mitigation matter: no key
        // events read, no backend asked.
        let incident = self.incident(id).await?;
        let catalog = self.catalog().await?;
        let inputs = self
            .lifecycle_inputs(&catalog, &incident, &[], false)
            .await?;
        Ok(lifecycle::closing_needs_reason(&inputs.facts()))
    }

    /// The lifecycle's answer to the status change of `update` (`None`:
    /// allowed, or no status change), decided from the same facts as
    /// [`Firefighter::update`] and writing nothing: what a form checks
    /// before it promises anything. The command decides again when it
    /// writes (the incident may change meanwhile).
    pub async fn check_status_change(
        &self,
        id: IncidentId,
        update: &Update,
    ) -> Result<Option<Refusal>> {
        let details = self.incident_details(id).await?;
        let Some(to) = update.status.filter(|to| *to != details.incident.status) else {
            return Ok(None);
        };
        let catalog = self.catalog().await?;
        let mut proposed = details.incident.clone();
        // The fields the rules look at, as the update would set them (unknown
        // ids are the command's to refuse).
        if let Some(p) = update
            .priority_id
            .filter(|p| catalog.priorities.iter().any(|x| x.id == *p))
        {
            proposed.priority_id = p;
        }
        if let Some(envs) = &update.environment_ids {
            let known: Vec<EnvironmentId> = envs
                .iter()
                .copied()
                .filter(|e| catalog.environments.iter().any(|x| x.id == *e))
                .collect();
            if !known.is_empty() {
                proposed.environment_ids = known;
            }
        }
        let inputs = self
            .lifecycle_inputs(
                &catalog,
                &proposed,
                &details.key_events,
                to == Status::Closed,
            )
            .await?;
        let message = update.message.as_deref().filter(|m| !m.trim().is_empty());
        Ok(lifecycle::check_transition(
            &inputs.facts(),
            &StatusChange {
                to,
                message,
                closure_reason: update.closure_reason,
            },
        )
        .err())
    }
}
