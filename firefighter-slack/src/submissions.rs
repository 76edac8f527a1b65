//! Durable submissions. What a person submits in Slack and we apply after
//! the acknowledgement (a declaration, a status update or closure, a key
//! event, and Events API events) is first recorded in `slack_submissions`, then acknowledged, then
//! applied. A crash between the acknowledgement and the write leaves an
//! unfinished row that the replay applies later.
//!
//! Recording goes through one writer task that inserts every submission
//! waiting in one transaction (group commit): 200 submissions at once cost
//! a few commits, not 200. On a SQLite file a submission is durable, and
//! acknowledged, as soon as it is appended to the journal beside the
//! database ([`crate::journal`]); the writer then moves it into the table,
//! and only then is it applied. Applying twice is harmless: declarations carry a
//! `dedup_key`, updates (and `:mega:` timeline entries) an idempotency key
//! recorded by core with the change, key events and channel events set a value.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use firefighter_core::task::{PeriodicTask, Schedule};
use firefighter_core::{Declaration, IncidentId, Update};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::journal::SubmissionJournal;
use crate::store::{NewSubmission, StoredSubmission, SubmissionEnd};
use crate::{Error, Result, Slack, views};

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
}

/// How long an attempt may run before another instance may take the row.
pub const LEASE: Duration = Duration::from_secs(300);
/// Attempts before a submission is parked.
pub const MAX_ATTEMPTS: i32 = 5;
/// Submissions inserted per transaction at most.
const GROUP: usize = 500;
/// Submissions taken per replay run.
const REPLAY_BATCH: u32 = 100;

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

/// One submission waiting for the writer.
pub(crate) struct Pending {
    row: NewSubmission,
    done: oneshot::Sender<std::result::Result<(), String>>,
}

/// A recorded submission, for [`Slack::apply_submission_later`].
pub(crate) struct Recorded {
    row: NewSubmission,
    /// With the journal: answered once the row is in the table, which
    /// must come before the attempt can mark it done.
    stored: Option<oneshot::Receiver<std::result::Result<(), String>>>,
}

/// Where submissions are recorded: the group-commit writer, and on a
/// SQLite file the journal in front of it (see [`crate::journal`]).
pub(crate) struct Recorder {
    sender: mpsc::UnboundedSender<Pending>,
    journal: Option<Arc<SubmissionJournal>>,
}

/// The group-commit writer: inserts everything waiting, answers each caller.
/// Behind the journal a failed insert is tried again until it succeeds:
/// those submissions were acknowledged already.
async fn write_loop(
    store: crate::store::SlackStore,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    journal: Option<Arc<SubmissionJournal>>,
) {
    let mut batch = Vec::with_capacity(GROUP);
    while rx.recv_many(&mut batch, GROUP).await > 0 {
        let rows: Vec<NewSubmission> = batch.iter().map(|p| p.row.clone()).collect();
        let mut wait = Duration::from_millis(50);
        let result = loop {
            match store.insert_submissions(&rows).await {
                Ok(()) => break Ok(()),
                Err(e) if journal.is_some() => {
                    tracing::error!(error = %e, count = rows.len(),
                        "could not move Slack submissions from the journal to the database; trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(error = %e, count = rows.len(), "could not record Slack submissions");
                    break Err(e.to_string());
                }
            }
        };
        if let Some(journal) = &journal {
            journal.stored(rows.len());
        }
        for p in batch.drain(..) {
            let _ = p.done.send(result.clone());
        }
    }
}

/// Starts the writer. On SQLite it gets a thread and a runtime of its own
/// (as core's writer does): each statement's answer resumes it at once
/// instead of waiting behind every request the application's runtime is
/// handling. PostgreSQL connections stay on the application's runtime.
fn start_writer(
    store: crate::store::SlackStore,
    journal: Option<Arc<SubmissionJournal>>,
) -> Result<mpsc::UnboundedSender<Pending>> {
    let (tx, rx) = mpsc::unbounded_channel();
    if !matches!(
        store.pool(),
        firefighter_core::store::DatabasePool::Sqlite(_)
    ) {
        tokio::spawn(write_loop(store, rx, journal));
        return Ok(tx);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Unavailable(format!("cannot start the submission writer: {e}")))?;
    // Ends when the last sender (the integration) is dropped.
    std::thread::Builder::new()
        .name("ff-slack-recorder".into())
        .spawn(move || runtime.block_on(write_loop(store, rx, journal)))
        .map_err(|e| Error::Unavailable(format!("cannot start the submission writer: {e}")))?;
    Ok(tx)
}

/// Opens the journal of a SQLite file database, and puts what a previous
/// process left in it into the table. `None` for PostgreSQL and in-memory
/// databases (recorded straight in the table), and when another instance
/// holds the journal.
async fn open_journal(store: &crate::store::SlackStore) -> Result<Option<Arc<SubmissionJournal>>> {
    let firefighter_core::store::DatabasePool::Sqlite(pool) = store.pool() else {
        return Ok(None);
    };
    let database = pool.connect_options().get_filename().to_owned();
    // In-memory databases are named `file:sqlx-in-memory-N` (or nothing):
    // no file to sit beside, and nothing survives the process anyway.
    let name = database.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
        return Ok(None);
    }
    let path = SubmissionJournal::path_for(&database);
    let unavailable = |e: std::io::Error| {
        Error::Unavailable(format!(
            "cannot open the submission journal {}: {e}",
            path.display()
        ))
    };
    let opened = tokio::task::spawn_blocking({
        let path = path.clone();
        move || SubmissionJournal::open(&path)
    })
    .await
    .map_err(|e| Error::Unavailable(format!("cannot open the submission journal: {e}")))?
    .map_err(unavailable)?;
    let Some((journal, leftovers)) = opened else {
        tracing::warn!(path = %path.display(),
            "the Slack submission journal is held by another instance; recording straight in the database");
        return Ok(None);
    };
    if !leftovers.rows.is_empty() {
        // Due and leased to nobody, a minute back, so the replay running now takes them.
        let at = Utc::now() - chrono::Duration::minutes(1);
        let rows: Vec<NewSubmission> = leftovers
            .rows
            .into_iter()
            .map(|r| NewSubmission {
                claimed_until: at,
                ..r
            })
            .collect();
        store.insert_submissions_at(&rows, at).await?;
        tracing::info!(count = rows.len(), path = %journal.path().display(),
            "Slack submissions left in the journal by a previous process are queued for the replay");
    }
    journal.clear_leftovers().map_err(unavailable)?;
    Ok(Some(Arc::new(journal)))
}

/// What an attempt came to.
enum Failure {
    /// Refused for good (bad input found late, the lifecycle said no): told to the person.
    Refused(String),
    /// Worth another try (database, application not ready).
    Transient(String),
}

fn classify(e: Error) -> Failure {
    use firefighter_core::Error as Core;
    // The application not built yet (start-up) is worth waiting for too.
    if e.is_retryable() || matches!(e, Error::Config(_) | Error::Core(Core::Config(_))) {
        Failure::Transient(e.to_string())
    } else {
        Failure::Refused(e.to_string())
    }
}

/// Wait before attempt `attempts + 1`: 30 s doubling, at most an hour.
fn backoff(attempts: i32) -> chrono::Duration {
    let exp = attempts.clamp(1, 8) - 1;
    chrono::Duration::seconds((30_i64 << exp).min(3600))
}

/// What a replay run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Submissions applied (or answered with a refusal).
    pub done: usize,
    /// Attempts that failed and will be retried.
    pub retried: usize,
    /// Submissions given up on.
    pub parked: usize,
}

/// The recorders of this process, one per SQLite database file: every
/// `Slack` built on it (the routes, the event handler, each task) shares the
/// journal and its writer, where the second used to find the journal locked
/// by the first and warn about "another instance".
static RECORDERS: std::sync::LazyLock<
    tokio::sync::Mutex<std::collections::HashMap<std::path::PathBuf, std::sync::Weak<Recorder>>>,
> = std::sync::LazyLock::new(Default::default);

/// The database file behind the store, when it is a SQLite file.
fn database_file(store: &crate::store::SlackStore) -> Option<std::path::PathBuf> {
    let firefighter_core::store::DatabasePool::Sqlite(pool) = store.pool() else {
        return None;
    };
    let name = pool.connect_options().get_filename().to_owned();
    let text = name.to_string_lossy();
    if text.is_empty() || text == ":memory:" || text.starts_with("file:") {
        return None;
    }
    Some(std::fs::canonicalize(&name).unwrap_or(name))
}

impl Slack {
    /// The recorder, started on first use (after putting the journal's
    /// leftovers in the table), or the one another `Slack` of this process
    /// already runs on the same database file.
    async fn recorder(&self) -> Result<&Recorder> {
        let recorder = self
            .inner
            .recorder
            .get_or_try_init(|| async {
                let store = self.inner.store.clone();
                let Some(file) = database_file(&store) else {
                    let journal = open_journal(&store).await?;
                    let sender = start_writer(store, journal.clone())?;
                    return Ok::<_, Error>(Arc::new(Recorder { sender, journal }));
                };
                // Held while opening, so two `Slack`s starting at once share one.
                let mut recorders = RECORDERS.lock().await;
                if let Some(shared) = recorders.get(&file).and_then(std::sync::Weak::upgrade) {
                    return Ok(shared);
                }
                let journal = open_journal(&store).await?;
                let sender = start_writer(store, journal.clone())?;
                let recorder = Arc::new(Recorder { sender, journal });
                recorders.retain(|_, r| r.strong_count() > 0);
                recorders.insert(file, Arc::downgrade(&recorder));
                Ok(recorder)
            })
            .await?;
        Ok(recorder)
    }

    /// Whether submissions go through the journal beside the database
    /// (a SQLite file whose journal this process holds).
    pub async fn journaled(&self) -> Result<bool> {
        Ok(self.recorder().await?.journal.is_some())
    }

    /// Records a submission before it is acknowledged; the row comes back
    /// leased to this instance, for [`Slack::apply_submission_later`].
    pub(crate) async fn record_submission(
        &self,
        kind: &str,
        payload: &impl Serialize,
        slack_user: &str,
    ) -> Result<Recorded> {
        let row = NewSubmission {
            id: Uuid::new_v4(),
            kind: kind.to_owned(),
            payload: serde_json::to_string(payload)
                .map_err(|e| Error::BadRequest(format!("unrecordable submission: {e}")))?,
            slack_user: slack_user.to_owned(),
            claim_token: Uuid::new_v4(),
            claimed_until: Utc::now() + LEASE,
        };
        let recorder = self.recorder().await?;
        let (done, answer) = oneshot::channel();
        let pending = Pending {
            row: row.clone(),
            done,
        };
        if let Some(journal) = &recorder.journal {
            // Durable once the line is written; the table follows.
            journal
                .append(&row, || recorder.sender.send(pending).is_ok())
                .map_err(|e| {
                    Error::Unavailable(format!("the submission could not be recorded: {e}"))
                })?;
            return Ok(Recorded {
                row,
                stored: Some(answer),
            });
        }
        let unavailable = || Error::Unavailable("the submission could not be recorded".into());
        recorder.sender.send(pending).map_err(|_| unavailable())?;
        match answer.await.map_err(|_| unavailable())? {
            Ok(()) => Ok(Recorded { row, stored: None }),
            Err(e) => Err(Error::Unavailable(format!(
                "the submission could not be recorded: {e}"
            ))),
        }
    }

    /// Applies a recorded submission after the acknowledgement (this instance holds its lease).
    pub(crate) fn apply_submission_later(&self, recorded: Recorded) {
        let slack = self.clone();
        self.spawn(async move {
            let Recorded { row, stored } = recorded;
            if let Some(stored) = stored
                && !matches!(stored.await, Ok(Ok(())))
            {
                // Still in the journal: the next start puts it in the table and replays it.
                tracing::warn!(submission = %row.id, "a journaled submission is not in the database yet; left for the replay");
                return;
            }
            let stored = StoredSubmission {
                id: row.id,
                kind: row.kind,
                payload: row.payload,
                slack_user: row.slack_user,
                created_at: Utc::now(),
                attempts: 1,
                next_attempt_at: Utc::now(),
                claimed_until: Some(row.claimed_until),
                claim_token: Some(row.claim_token),
                last_error: None,
                parked_at: None,
                done_at: None,
            };
            slack.attempt(&stored, Utc::now()).await;
        });
    }

    /// Applies the submissions left unfinished (a crash, a failure) whose
    /// lease expired and whose retry is due at `now`.
    pub async fn replay_submissions(&self, now: DateTime<Utc>) -> Result<ReplayReport> {
        // Puts what a previous process left in the journal in the table first.
        self.recorder().await?;
        let lease = chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::minutes(5));
        let mut report = ReplayReport::default();
        loop {
            let rows = self
                .store()
                .claim_due_submissions(now, now + lease, REPLAY_BATCH)
                .await?;
            if rows.is_empty() {
                return Ok(report);
            }
            for row in &rows {
                tracing::info!(submission = %row.id, kind = row.kind, attempt = row.attempts, "replaying a Slack submission");
                match self.attempt(row, now).await {
                    Some(SubmissionEnd::Done(_)) => report.done += 1,
                    Some(SubmissionEnd::Retry(..)) => report.retried += 1,
                    Some(SubmissionEnd::Park(_)) => report.parked += 1,
                    None => {}
                }
            }
            if rows.len() < REPLAY_BATCH as usize {
                return Ok(report);
            }
        }
    }

    /// One attempt at a leased submission, and its end recorded.
    async fn attempt(&self, row: &StoredSubmission, now: DateTime<Utc>) -> Option<SubmissionEnd> {
        let token = row.claim_token?;
        let result = {
            let _turn = self.inner.writes.acquire().await;
            self.redo(row).await
        };
        let end = match result {
            Ok(()) => SubmissionEnd::Done(None),
            Err(Failure::Refused(e)) => SubmissionEnd::Done(Some(e)),
            Err(Failure::Transient(e)) if row.attempts >= MAX_ATTEMPTS => {
                tracing::error!(submission = %row.id, kind = row.kind, attempts = row.attempts, error = %e,
                    "Slack submission parked after too many failed attempts; see the Slack back-office");
                self.tell_parked(row).await;
                SubmissionEnd::Park(e)
            }
            Err(Failure::Transient(e)) => {
                tracing::warn!(submission = %row.id, kind = row.kind, attempts = row.attempts, error = %e,
                    "Slack submission failed; it will be retried");
                SubmissionEnd::Retry(now.max(Utc::now()) + backoff(row.attempts), e)
            }
        };
        match self.store().end_submission(row.id, token, &end).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(submission = %row.id, "lease lost while applying a submission")
            }
            // Left leased: the replay takes it again once the lease expires (applying twice is harmless).
            Err(e) => {
                tracing::warn!(submission = %row.id, error = %e, "could not record a submission's end")
            }
        }
        Some(end)
    }

    /// Does what the submission asked. Refusals are told to the person here.
    async fn redo(&self, row: &StoredSubmission) -> std::result::Result<(), Failure> {
        let bad = |e: serde_json::Error| Failure::Refused(format!("unreadable payload: {e}"));
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
                    self.viewer_of_incident(&row.slack_user, w.incident).await?;
                    self.app()?
                        .update_once(w.incident, &key, w.update.clone())
                        .await
                        .map_err(Error::from)
                }
                .await;
                match result.map_err(classify) {
                    Err(Failure::Refused(e)) => {
                        tracing::warn!(incident = w.incident.0, error = %e, "update refused after the acknowledgement");
                        self.notify(
                            w.incident,
                            &row.slack_user,
                            &format!(":x: Incident {} was not updated: {e}", w.incident),
                        )
                        .await;
                        Err(Failure::Refused(e))
                    }
                    other => other.map(drop),
                }
            }
            kind::KEY_EVENT => {
                let w: KeyEventWork = serde_json::from_str(&row.payload).map_err(bad)?;
                match self
                    .redo_key_event(&w, &row.slack_user)
                    .await
                    .map_err(classify)
                {
                    Err(Failure::Refused(e)) => {
                        self.tell_user(
                            w.response_url.as_deref(),
                            w.channel.as_deref(),
                            &row.slack_user,
                            &format!(":x: {e}"),
                        )
                        .await;
                        Err(Failure::Refused(e))
                    }
                    other => other,
                }
            }
            kind::EVENT => {
                let event: Value = serde_json::from_str(&row.payload).map_err(bad)?;
                self.handle_event(event).await.map_err(classify)
            }
            other => Err(Failure::Refused(format!("unknown submission kind {other}"))),
        }
    }

    async fn redo_declare(&self, w: DeclareWork) -> std::result::Result<(), Failure> {
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
            Err(Failure::Refused(e)) => (
                views::notice(
                    "Not declared",
                    &format!(":x: The incident could not be declared: {e}"),
                ),
                Err(Failure::Refused(e)),
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
    async fn tell_parked(&self, row: &StoredSubmission) {
        let text = ":warning: What you submitted could not be applied after several attempts. \
                    It is kept in the Slack back-office for an administrator.";
        match row.kind.as_str() {
            kind::UPDATE => {
                if let Ok(w) = serde_json::from_str::<UpdateWork>(&row.payload) {
                    self.notify(w.incident, &row.slack_user, text).await;
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
                        &row.slack_user,
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

    async fn run(&self) -> std::result::Result<String, String> {
        let r = self
            .slack
            .replay_submissions(Utc::now())
            .await
            .map_err(|e| e.to_string())?;
        // Done submissions are kept a week for inspection.
        let purged = self
            .slack
            .store()
            .purge_submissions(Utc::now() - chrono::Duration::days(7))
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!(
            "{} applied, {} to retry, {} parked, {purged} old rows purged",
            r.done, r.retried, r.parked
        ))
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
    fn backoff_doubles_and_stops_at_an_hour() {
        assert_eq!(backoff(1), chrono::Duration::seconds(30));
        assert_eq!(backoff(2), chrono::Duration::seconds(60));
        assert_eq!(backoff(4), chrono::Duration::seconds(240));
        assert_eq!(backoff(20), chrono::Duration::seconds(3600));
    }

    #[test]
    fn database_failures_are_retried_refusals_are_not() {
        let transient = classify(Error::Core(firefighter_core::Error::Config(
            "not built".into(),
        )));
        assert!(matches!(transient, Failure::Transient(_)));
        let refused = classify(Error::Core(firefighter_core::Error::not_found(
            "incident", 4,
        )));
        assert!(matches!(refused, Failure::Refused(_)));
    }
}
