//! Durable submissions. What a person submits in Slack and we apply after
//! the acknowledgement (a declaration, a status update or closure, a key
//! event, and Events API events) is first recorded in core's inbox (source
//! `slack`), then acknowledged, then applied. A crash between the
//! acknowledgement and the write leaves an unfinished item that the replay
//! applies later. The mechanism (group commit, the journal beside a SQLite
//! file, leases, retries, parking) is core's, [`firefighter_core::inbox`];
//! this module is what Slack does with each item.
//!
//! Applying twice is harmless: declarations carry a `dedup_key`, updates
//! (and `:mega:` timeline entries) an idempotency key recorded by core with
//! the change, key events and channel events set a value.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use firefighter_core::inbox::{InboxFailure, InboxHandler, InboxItem};
use firefighter_core::task::{PeriodicTask, Schedule, TaskError, TaskReport};
use firefighter_core::{Declaration, IncidentId, Update};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use firefighter_core::inbox::{LEASE, MAX_ATTEMPTS, Recorded, ReplayReport};

use crate::{Error, Result, Slack, views};

/// The inbox source of Slack's submissions.
pub const SOURCE: &str = "slack";

/// Task name of the replay.
pub const REPLAY_SUBMISSIONS: &str = "slack.replay_submissions";

/// Kinds of submissions.
pub mod kind {
    /// The open wizard.
    pub const DECLARE: &str = "declare";
    /// Update status, close, closure reason.
    pub const UPDATE: &str = "update";
    /// A key event picker.
    pub const KEY_EVENT: &str = "key_event";
    /// An Events API event (the payload is Slack's `event`).
    pub const EVENT: &str = "event";
    /// "Create the post-mortem now".
    pub const POSTMORTEM: &str = "postmortem";
}

/// The wizard's declaration (core's, as recorded), and what the outcome
/// notice shows. Flattened: rows recorded by earlier versions, whose
/// fields were a copy of the declaration's, read the same.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DeclareWork {
    #[serde(flatten)]
    pub declaration: Declaration,
    pub view_id: String,
    pub label: String,
    pub critical: bool,
}

/// A checked update (core's, whole: no field of it is dropped on the way).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UpdateWork {
    pub incident: IncidentId,
    #[serde(flatten)]
    pub update: Update,
}

/// A key event picked (the person is resolved when applying: no Slack call before the acknowledgement).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyEventWork {
    pub incident: IncidentId,
    pub slug: String,
    pub at: Option<DateTime<Utc>>,
    pub response_url: Option<String>,
    pub channel: Option<String>,
}

/// "Create the post-mortem now" clicked (in the recap modal `view_id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PostMortemWork {
    pub incident: IncidentId,
    pub view_id: Option<String>,
    pub channel: Option<String>,
}

fn classify(e: Error) -> InboxFailure {
    use firefighter_core::Error as Core;
    // The application not built yet (start-up) is worth waiting for too.
    if matches!(e, Error::Config(_) | Error::Core(Core::Config(_))) {
        return InboxFailure::Transient(e.to_string());
    }
    InboxFailure::classify(&e)
}

/// What Slack does with the items of its inbox.
struct Submissions<'a>(&'a Slack);

#[async_trait]
impl InboxHandler for Submissions<'_> {
    async fn apply(&self, item: &InboxItem) -> std::result::Result<(), InboxFailure> {
        let _turn = self.0.inner.writes.acquire().await;
        self.0.redo(item).await
    }

    async fn parked(&self, item: &InboxItem) {
        self.0.tell_parked(item).await;
    }
}

impl Slack {
    /// Whether submissions go through the journal beside the database
    /// (a SQLite file whose journal this process holds).
    pub async fn journaled(&self) -> Result<bool> {
        Ok(self.inbox().journaled().await?)
    }

    /// Records a submission before it is acknowledged; it comes back
    /// leased to this instance, for [`Slack::apply_submission_later`].
    pub(crate) async fn record_submission(
        &self,
        kind: &str,
        payload: &impl Serialize,
        slack_user: &str,
    ) -> Result<Recorded> {
        self.inbox()
            .record(kind, payload, slack_user)
            .await
            .map_err(|e| match e {
                firefighter_core::Error::Invalid(_) => {
                    Error::BadRequest(format!("unrecordable submission: {e}"))
                }
                e => Error::Unavailable(format!("the submission could not be recorded: {e}")),
            })
    }

    /// Applies a recorded submission after the acknowledgement (this instance holds its lease).
    pub(crate) fn apply_submission_later(&self, recorded: Recorded) {
        let slack = self.clone();
        self.spawn(async move {
            slack
                .inbox()
                .apply_recorded(recorded, &Submissions(&slack))
                .await;
        });
    }

    /// [`Slack::replay_submissions`] at start-up, logged.
    pub(crate) async fn replay_at_start(&self, when: &str) {
        match self.replay_submissions(Utc::now()).await {
            Ok(r) if r != ReplayReport::default() => {
                tracing::info!(?r, when, "Slack submissions replayed")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, when, "could not replay Slack submissions"),
        }
    }

    /// Applies the submissions left unfinished (a crash, a failure) whose
    /// lease expired and whose retry is due at `now`.
    pub async fn replay_submissions(&self, now: DateTime<Utc>) -> Result<ReplayReport> {
        Ok(self.inbox().replay(now, &Submissions(self)).await?)
    }

    /// Does what the submission asked. Refusals are told to the person here.
    async fn redo(&self, row: &InboxItem) -> std::result::Result<(), InboxFailure> {
        let bad = |e: serde_json::Error| InboxFailure::Refused(format!("unreadable payload: {e}"));
        match row.kind.as_str() {
            kind::DECLARE => {
                let w: DeclareWork = serde_json::from_str(&row.payload).map_err(bad)?;
                self.redo_declare(w).await
            }
            kind::UPDATE => {
                let w: UpdateWork = serde_json::from_str(&row.payload).map_err(bad)?;
                let key = format!("slack-submission:{}", row.id);
                let result = async {
                    // Again now: the person may have left the incident since the acknowledgement.
                    self.viewer_of_incident(&row.actor, w.incident).await?;
                    self.app()?
                        .update_once(w.incident, &key, w.update.clone())
                        .await
                        .map_err(Error::from)
                }
                .await;
                match result.map_err(classify) {
                    Err(InboxFailure::Refused(e)) => {
                        tracing::warn!(incident = w.incident.0, error = %e, "update refused after the acknowledgement");
                        self.notify(
                            w.incident,
                            &row.actor,
                            &format!(":x: Incident {} was not updated: {e}", w.incident),
                        )
                        .await;
                        Err(InboxFailure::Refused(e))
                    }
                    other => other.map(drop),
                }
            }
            kind::KEY_EVENT => {
                let w: KeyEventWork = serde_json::from_str(&row.payload).map_err(bad)?;
                match self.redo_key_event(&w, &row.actor).await.map_err(classify) {
                    Err(InboxFailure::Refused(e)) => {
                        self.tell_user(
                            w.response_url.as_deref(),
                            w.channel.as_deref(),
                            &row.actor,
                            &format!(":x: {e}"),
                        )
                        .await;
                        Err(InboxFailure::Refused(e))
                    }
                    other => other,
                }
            }
            kind::POSTMORTEM => {
                let w: PostMortemWork = serde_json::from_str(&row.payload).map_err(bad)?;
                match self
                    .redo_postmortem_creation(&w, &row.actor)
                    .await
                    .map_err(classify)
                {
                    Err(InboxFailure::Refused(e)) => {
                        let text = format!(":x: {e}");
                        // The recap the click came from says why; else the channel.
                        let shown = match &w.view_id {
                            Some(view) => {
                                let notice = views::notice("Post-mortem not created", &text);
                                self.api().update_view(view, None, &notice).await.is_ok()
                            }
                            None => false,
                        };
                        if !shown {
                            self.tell_user(None, w.channel.as_deref(), &row.actor, &text)
                                .await;
                        }
                        Err(InboxFailure::Refused(e))
                    }
                    other => other,
                }
            }
            kind::EVENT => {
                let event: Value = serde_json::from_str(&row.payload).map_err(bad)?;
                self.handle_event(event).await.map_err(classify)
            }
            other => Err(InboxFailure::Refused(format!(
                "unknown submission kind {other}"
            ))),
        }
    }

    async fn redo_declare(&self, w: DeclareWork) -> std::result::Result<(), InboxFailure> {
        let declaration = w.declaration;
        let result = match self.app() {
            Ok(app) => app.declare(declaration).await.map_err(Error::from),
            Err(e) => Err(e),
        };
        let (notice, outcome) = match result.map_err(classify) {
            Ok(outcome) if outcome.created => (
                views::notice(
                    "Incident declared",
                    &format!(
                        ":white_check_mark: Incident {} ({}) declared: *{}*.{}",
                        outcome.incident.id,
                        w.label,
                        crate::models::blocks::escape(&outcome.incident.title),
                        if w.critical {
                            " Its channel is being created; you will be invited."
                        } else {
                            ""
                        }
                    ),
                ),
                Ok(()),
            ),
            Ok(outcome) => (
                views::notice(
                    "Incident declared",
                    &format!(
                        ":information_source: This form was already submitted: incident {} exists.",
                        outcome.incident.id
                    ),
                ),
                Ok(()),
            ),
            Err(InboxFailure::Refused(e)) => (
                views::notice(
                    "Not declared",
                    &format!(":x: The incident could not be declared: {e}"),
                ),
                Err(InboxFailure::Refused(e)),
            ),
            // The form keeps saying "declaring" while retries run.
            Err(transient) => return Err(transient),
        };
        if let Err(e) = self.api().update_view(&w.view_id, None, &notice).await {
            tracing::warn!(error = %e, "could not show the declaration's outcome");
        }
        outcome
    }

    async fn redo_key_event(&self, w: &KeyEventWork, slack_user: &str) -> Result<()> {
        self.viewer_of_incident(slack_user, w.incident).await?;
        let by = self.user_for(slack_user).await?;
        let mut events = BTreeMap::new();
        events.insert(w.slug.clone(), w.at);
        match self
            .app()?
            .set_key_events(w.incident, Some(by.id), events)
            .await
        {
            Ok(_) => Ok(()),
            // Setting the value it already has: a replay, or a second click.
            Err(firefighter_core::Error::Invalid(f))
                if f.iter().all(|f| f.message.contains("nothing to update")) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Tells the person a submission was given up on.
    async fn tell_parked(&self, row: &InboxItem) {
        let text = ":warning: What you submitted could not be applied after several attempts. \
                    It is kept in the Slack back-office for an administrator.";
        match row.kind.as_str() {
            kind::UPDATE => {
                if let Ok(w) = serde_json::from_str::<UpdateWork>(&row.payload) {
                    self.notify(w.incident, &row.actor, text).await;
                }
            }
            kind::DECLARE => {
                if let Ok(w) = serde_json::from_str::<DeclareWork>(&row.payload) {
                    let notice = views::notice("Not declared", text);
                    if let Err(e) = self.api().update_view(&w.view_id, None, &notice).await {
                        tracing::warn!(error = %e, "could not tell the user");
                    }
                }
            }
            _ => {
                if let Ok(w) = serde_json::from_str::<KeyEventWork>(&row.payload) {
                    self.tell_user(
                        w.response_url.as_deref(),
                        w.channel.as_deref(),
                        &row.actor,
                        text,
                    )
                    .await;
                }
            }
        }
    }
}

/// `slack.replay_submissions`: applies submissions left unfinished.
#[derive(Debug, Clone)]
pub struct ReplaySubmissions {
    slack: Slack,
}

impl ReplaySubmissions {
    /// The task for this integration.
    pub fn new(slack: Slack) -> ReplaySubmissions {
        ReplaySubmissions { slack }
    }
}

#[async_trait]
impl PeriodicTask for ReplaySubmissions {
    fn name(&self) -> &str {
        REPLAY_SUBMISSIONS
    }

    fn description(&self) -> &str {
        "Applies Slack submissions left unfinished (a crash or a failure after the acknowledgement); parks them after repeated failures."
    }

    fn default_schedule(&self) -> Option<Schedule> {
        Some(Schedule::every(Duration::from_secs(60)))
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(600)
    }

    async fn run(&self) -> std::result::Result<TaskReport, TaskError> {
        let r = self
            .slack
            .replay_submissions(Utc::now())
            .await
            .map_err(TaskError::failed)?;
        // Done submissions are kept a week for inspection.
        let purged = self
            .slack
            .inbox()
            .purge(Utc::now() - chrono::Duration::days(7))
            .await?;
        Ok(TaskReport::counted([
            ("applied", r.done as u64),
            ("to retry", r.retried as u64),
            ("parked", r.parked as u64),
            ("old rows purged", purged),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_recorded_by_earlier_versions_read_as_core_types() {
        let declare: DeclareWork = serde_json::from_str(
            r#"{"title":"Checkout answers 500","description":"","priority_id":null,
                "category_id":null,"environment_ids":[],"created_by":null,
                "dedup_key":"slack-view:V1","custom_fields":{},"extras":{"source":"slack"},
                "view_id":"V1","label":"P1","critical":true}"#,
        )
        .unwrap();
        assert_eq!(declare.declaration.title, "Checkout answers 500");
        assert_eq!(
            declare.declaration.dedup_key.as_deref(),
            Some("slack-view:V1")
        );
        assert_eq!((declare.view_id.as_str(), declare.critical), ("V1", true));

        let update: UpdateWork = serde_json::from_str(&format!(
            r#"{{"incident":{},"by":null,"message":"Rolled back","status":"mitigated",
                "priority_id":null,"category_id":null,"closure_reason":null,"closure_reference":null}}"#,
            42
        ))
        .unwrap();
        assert_eq!(
            update.update.status,
            Some(firefighter_core::Status::Mitigated)
        );
        assert_eq!(update.update.message.as_deref(), Some("Rolled back"));
    }

    #[test]
    fn a_recorded_update_keeps_every_field_of_cores() {
        let update = Update {
            title: Some("A longer, clearer title".into()),
            private: Some(true),
            environment_ids: Some(vec![]),
            event_type: Some("custom".into()),
            ..Update::default()
        };
        let work = UpdateWork {
            incident: IncidentId(42),
            update: update.clone(),
        };
        let back: UpdateWork =
            serde_json::from_str(&serde_json::to_string(&work).unwrap()).unwrap();
        assert_eq!(back.update, update);
    }

    #[test]
    fn database_failures_are_retried_refusals_are_not() {
        let transient = classify(Error::Core(firefighter_core::Error::Config(
            "not built".into(),
        )));
        assert!(matches!(transient, InboxFailure::Transient(_)));
        let refused = classify(Error::Core(firefighter_core::Error::not_found(
            "incident", 4,
        )));
        assert!(matches!(refused, InboxFailure::Refused(_)));
    }
}
