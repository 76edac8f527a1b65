//! Interactivity: buttons, selects and pickers (`block_actions`), modal
//! submissions (`view_submission`), and opening incident-scoped modals.
//!
//! Submissions answer in the HTTP response (Slack's `response_action`):
//! field errors stay on the form, nothing is written on bad input.

use std::collections::{BTreeMap, HashMap};

use firefighter_core::lifecycle::{
    LifecycleFacts, PostMortemState, Refusal, RefusalReason, StatusChange,
};
use firefighter_core::{
    CategoryId, ClosureReason, EnvironmentId, ImpactLevel, IncidentFilter, IncidentId,
    IncidentOrder, PriorityId, Status, Update, UserId,
};
use serde_json::{Value, json};

use crate::messages::{self, Strategy, kind};
use crate::models::api::NewMessage;
use crate::models::inbound::{BlockActions, View, ViewState, ViewSubmission};
pub use crate::ids::action;
use crate::ids::callback;
use crate::views::{self, WizardState};
use crate::{Error, Result, Slack};

/// The incident-scoped modals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The update menu.
    Update,
    /// Update status.
    UpdateStatus,
    /// Update roles.
    UpdateRoles,
    /// Edit details.
    Edit,
    /// Close.
    Close,
    /// Read-only recap.
    Status,
    /// Page the on-call.
    OnCall,
    /// Post-mortem recap.
    Postmortem,
    /// Ask for help.
    Sos,
    /// Turn into a regular incident.
    Downgrade,
}

impl Target {
    const ALL: [Target; 10] = [
        Target::Update,
        Target::UpdateStatus,
        Target::UpdateRoles,
        Target::Edit,
        Target::Close,
        Target::Status,
        Target::OnCall,
        Target::Postmortem,
        Target::Sos,
        Target::Downgrade,
    ];

    /// Its name in view metadata.
    pub fn slug(self) -> &'static str {
        match self {
            Target::Update => "update",
            Target::UpdateStatus => "update_status",
            Target::UpdateRoles => "update_roles",
            Target::Edit => "edit",
            Target::Close => "close",
            Target::Status => "status",
            Target::OnCall => "oncall",
            Target::Postmortem => "postmortem",
            Target::Sos => "sos",
            Target::Downgrade => "downgrade",
        }
    }

    fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.slug() == s)
    }
}

fn incident_of(view: &View) -> Option<IncidentId> {
    serde_json::from_str::<Value>(&view.private_metadata)
        .ok()?
        .get("incident")?
        .as_i64()
        .map(IncidentId)
}

/// The incident of a key event picker (`key_event:<incident>:<slug>`).
fn key_event_incident(block_id: &str) -> Option<IncidentId> {
    block_id
        .split(':')
        .nth(1)
        .and_then(|n| n.parse::<i64>().ok())
        .map(IncidentId)
}

fn response_errors(errors: BTreeMap<String, String>) -> Value {
    json!({"response_action": "errors", "errors": errors})
}

fn response_notice(title: &str, text: &str) -> Value {
    json!({"response_action": "update", "view": views::notice(title, text)})
}

fn clear() -> Value {
    json!({"response_action": "clear"})
}

/// Maps core's field errors onto the blocks of a form; the rest goes on `fallback`.
fn field_errors(
    err: &firefighter_core::Error,
    map: &[(&str, &str)],
    fallback: &str,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |block: &str, message: String| {
        out.entry(block.to_owned())
            .and_modify(|m| {
                m.push(' ');
                m.push_str(&message);
            })
            .or_insert(message);
    };
    match err {
        firefighter_core::Error::Invalid(fields) => {
            for f in fields {
                let block = map
                    .iter()
                    .find(|(field, _)| {
                        f.field == *field || f.field.starts_with(&format!("{field}."))
                    })
                    .map(|(_, b)| *b)
                    .unwrap_or(fallback);
                put(block, f.message.clone());
            }
        }
        firefighter_core::Error::Refused(r) => put(fallback, r.messages().join(" ")),
        other => put(fallback, other.to_string()),
    }
    out
}

fn wizard_state(catalog: &firefighter_core::store::Catalog, state: &ViewState) -> WizardState {
    let mut w = WizardState::default();
    for t in &catalog.impact_types {
        if let Some(level) = state
            .single(&format!("impact:{}", t.value))
            .and_then(|c| ImpactLevel::from_code(&c))
        {
            w.impacts.insert(t.value.clone(), level);
        }
    }
    w.category = state.single("category").and_then(|c| c.parse().ok());
    w.environments = state
        .many("environments")
        .iter()
        .filter_map(|e| e.parse().ok())
        .collect();
    w
}

impl Slack {
    // ------------------------------------------------------------ views

    /// The creation wizard for `user` (the review counts responders with a dry run).
    pub async fn wizard_view(&self, state: &WizardState, creator: Option<UserId>) -> Result<Value> {
        let app = self.app()?;
        let catalog = app.catalog().await?;
        let responders = match (state.suggested_priority(&catalog), state.category) {
            (Some(p), Some(c)) if p.value < 4 => app
                .dry_run_invites(
                    p.id,
                    c,
                    &state.environments,
                    None,
                    creator,
                    Some(crate::PLATFORM),
                )
                .await
                .ok()
                .map(|r| r.invitees.len().max(1)),
            _ => None,
        };
        Ok(views::open_wizard(
            &catalog,
            state,
            responders,
            self.config().severity_help_guide_url.as_deref(),
            !firefighter_core::oncall::is_office_hours(chrono::Utc::now(), app.time_zone()),
        ))
    }

    /// The lifecycle's answer to a status change, from the stored facts, as
    /// core computes it (core decides again when it writes).
    pub async fn status_refusal(
        &self,
        id: IncidentId,
        to: Status,
        new_priority: Option<PriorityId>,
        message: Option<&str>,
        reason: Option<ClosureReason>,
    ) -> Result<Option<Refusal>> {
        let app = self.app()?;
        let details = app.incident_details(id).await?;
        let catalog = app.catalog().await?;
        let before = &details.incident;
        let mut after = before.clone();
        if let Some(p) = new_priority {
            after.priority_id = p;
        }
        let mut missing = firefighter_core::key_event::missing_required(
            &catalog.milestone_types,
            &details.key_events,
        );
        if to == Status::Closed {
            missing.retain(|m| {
                m != firefighter_core::key_event::RECOVERED || before.status < Status::Mitigated
            });
        }
        let required = app.postmortem_required(&catalog, &after);
        let pm = if to == Status::Closed && required && before.status == Status::PostMortem {
            app.postmortem_state(&after).await
        } else {
            PostMortemState::NoBackend
        };
        let priority = catalog
            .priorities
            .iter()
            .find(|p| p.id == after.priority_id)
            .map(|p| p.value)
            .unwrap_or(1);
        let facts = LifecycleFacts {
            status: before.status,
            priority_value: priority,
            postmortem_required: required,
            ignore: before.ignore,
            was_mitigated: before.mitigated_at.is_some(),
            postmortem: &pm,
            missing_key_events: &missing,
        };
        let change = StatusChange {
            to,
            message,
            closure_reason: reason,
        };
        Ok(firefighter_core::lifecycle::check_transition(&facts, &change).err())
    }

    /// Why closing is refused now, one sentence per reason (`None`: it can be closed).
    pub async fn closing_refusal(&self, id: IncidentId) -> Result<Option<Vec<String>>> {
        Ok(self
            .status_refusal(id, Status::Closed, None, Some("closing"), None)
            .await?
            .map(|r| r.messages()))
    }

    /// Records a checked update, then acknowledges; it is written after the
    /// acknowledgement (and replayed if this instance stops first). When it
    /// cannot be recorded, the form says so on `field` and nothing is done.
    async fn apply_later(
        &self,
        id: IncidentId,
        slack_user: &str,
        update: Update,
        field: &str,
    ) -> Result<Value> {
        let work = crate::submissions::UpdateWork::of(id, &update);
        match self
            .record_submission(crate::submissions::kind::UPDATE, &work, slack_user)
            .await
        {
            Ok(row) => {
                self.apply_submission_later(row);
                Ok(clear())
            }
            Err(e) => Ok(response_errors(BTreeMap::from([(
                field.to_owned(),
                format!(":x: {e}. Nothing was changed; try again."),
            )]))),
        }
    }

    /// Tells a person something about an incident: in its channel, else by DM.
    pub(crate) async fn notify(&self, id: IncidentId, slack_user: &str, text: &str) {
        let blocks = json!([crate::models::blocks::section(text)]);
        if let Ok(Some(c)) = self.store().incident_channel(id).await
            && self
                .api()
                .post_ephemeral(
                    &c.channel_id,
                    slack_user,
                    &NewMessage::new(&c.channel_id, text, blocks.clone()),
                )
                .await
                .is_ok()
        {
            return;
        }
        let dm = async {
            let channel = self.api().open_dm(slack_user).await?;
            self.api()
                .post_message(&NewMessage::new(&channel, text, blocks))
                .await
        };
        if let Err(e) = dm.await {
            tracing::warn!(error = %e, "could not tell the user");
        }
    }

    /// Whether closing this incident now is an early closure (needs a reason).
    async fn closing_needs_reason(&self, id: IncidentId) -> Result<bool> {
        let i = self.app()?.incident(id).await?;
        Ok(!i.ignore && i.mitigated_at.is_none() && i.status < Status::Mitigated)
    }

    /// The modal of `target` for an incident, for the Slack member
    /// `slack_user` ([`Error::NotMember`] when they may not see it).
    pub async fn target_view(
        &self,
        target: Target,
        id: IncidentId,
        slack_user: &str,
    ) -> Result<Value> {
        self.viewer_of_incident(slack_user, id).await?;
        let app = self.app()?;
        let catalog = app.catalog().await?;
        let incident = app.incident(id).await?;
        if incident.status == Status::Closed
            && !matches!(target, Target::Status | Target::Postmortem)
        {
            return Ok(views::notice(
                "Incident closed",
                &format!(
                    "Incident {} is closed: it cannot change any more.",
                    incident.id
                ),
            ));
        }
        Ok(match target {
            Target::Update => views::update_menu(&incident),
            Target::UpdateStatus => {
                views::update_status(&catalog, &incident, &app.offered_statuses(id).await?)
            }
            Target::UpdateRoles => {
                let details = app.incident_details(id).await?;
                let mut holders = HashMap::new();
                for r in &details.roles {
                    if let Some(s) = self.slack_id_of(r.user_id).await? {
                        holders.insert(r.slug.clone(), s);
                    }
                }
                views::update_roles(&catalog, &incident, &holders)
            }
            Target::Edit => views::edit(&catalog, &incident),
            Target::Close => {
                if self.closing_needs_reason(id).await? {
                    views::closure_reason(&incident, &json!({}))
                } else {
                    views::close(
                        &catalog,
                        &incident,
                        self.closing_refusal(id).await?.as_deref(),
                    )
                }
            }
            Target::Status => {
                let v = self.incident_view(id).await?;
                let mut roles = Vec::new();
                for r in &v.details.roles {
                    let name = catalog
                        .role_types
                        .iter()
                        .find(|t| t.id == r.role_type_id)
                        .map(|t| t.name.clone())
                        .unwrap_or_default();
                    roles.push((name, self.mention(r.user_id).await));
                }
                roles.push(("Reporter".into(), self.mention(incident.created_by).await));
                let last = app
                    .timeline(id)
                    .await?
                    .into_iter()
                    .find(|e| e.message.is_some())
                    .map(|e| {
                        (
                            e.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                            e.message.unwrap_or_default(),
                        )
                    });
                views::status(&v, &roles, last)
            }
            Target::OnCall => match app.oncall() {
                Some(oncall) => crate::oncall::view(&incident, oncall.as_ref()).await?,
                None => views::notice(
                    "On-call",
                    "No on-call integration is enabled: there is nobody to page from here.",
                ),
            },
            Target::Postmortem => {
                let documents = self.postmortem_documents(id).await?;
                let state = app.postmortem_state(&incident).await;
                views::postmortem(
                    &incident,
                    app.postmortem_required(&catalog, &incident),
                    &documents,
                    state != PostMortemState::NoBackend,
                )
            }
            Target::Sos => views::sos(&incident, &self.store().sos_list().await?),
            Target::Downgrade => views::downgrade(&incident),
        })
    }

    /// Post-mortem documents announced by backends (`PostMortemCreated` events).
    pub async fn postmortem_documents(&self, id: IncidentId) -> Result<Vec<(String, String)>> {
        Ok(self
            .core()
            .incident_events(id)
            .await?
            .into_iter()
            .filter_map(|e| match e.event {
                firefighter_core::IncidentEvent::PostMortemCreated { backend, url } => {
                    Some((backend, url))
                }
                _ => None,
            })
            .collect())
    }

    /// Active critical incidents `viewer` may see, newest first (the select-incident modal).
    pub async fn active_critical_incidents(
        &self,
        viewer: firefighter_core::Viewer,
    ) -> Result<Vec<firefighter_core::Incident>> {
        let app = self.app()?;
        let catalog = app.catalog().await?;
        let filter = IncidentFilter {
            status_below: Some(Status::Closed),
            priority_ids: catalog
                .priorities
                .iter()
                .filter(|p| p.value < 4)
                .map(|p| p.id)
                .collect(),
            order: IncidentOrder::NewestFirst,
            limit: Some(100),
            visible_to: viewer.filter(),
            ..IncidentFilter::default()
        };
        app.list_incidents(&filter).await.map_err(Error::from)
    }

    /// The modal of `target` for `slack_user`: for the channel's incident,
    /// or the picker of the incidents they may see.
    pub async fn scoped_view(
        &self,
        target: Target,
        channel_id: &str,
        slack_user: &str,
    ) -> Result<Value> {
        if let Some(id) = self.store().incident_of_channel(channel_id).await?
            && self.app()?.incident(id).await.is_ok()
        {
            return self.target_view(target, id, slack_user).await;
        }
        let viewer = self.viewer(slack_user).await?;
        Ok(views::select_incident(
            &self.active_critical_incidents(viewer).await?,
            target.slug(),
        ))
    }

    // ------------------------------------------------------ block actions

    /// Handles a click or a change (after the acknowledgement).
    pub async fn handle_block_actions(&self, payload: BlockActions) -> Result<()> {
        let Some(action) = payload.actions.first() else {
            return Ok(());
        };
        let trigger = payload.trigger_id.clone().unwrap_or_default();
        let value_incident = || {
            action
                .chosen()
                .and_then(|v| v.parse::<i64>().ok())
                .map(IncidentId)
        };
        let result = match action.action_id.as_str() {
            action::OPEN_LINK => Ok(()),
            action::OPEN => {
                let creator = self.user_for(&payload.user.id).await.ok().map(|u| u.id);
                let view = self.wizard_view(&WizardState::default(), creator).await?;
                self.api().open_view(&trigger, &view).await.map(drop)
            }
            "impact" | "category" | "environments" => {
                let Some(view) = payload.view.as_ref() else {
                    return Ok(());
                };
                let catalog = self.app()?.catalog().await?;
                let state = wizard_state(&catalog, &view.state);
                let creator = self.user_for(&payload.user.id).await.ok().map(|u| u.id);
                let new = self.wizard_view(&state, creator).await?;
                self.api()
                    .update_view(&view.id, view.hash.clone(), &new)
                    .await
            }
            action::UPDATE
            | action::UPDATE_STATUS
            | action::UPDATE_ROLES
            | action::DOWNGRADE
            | action::ONCALL => {
                let target = match action.action_id.as_str() {
                    action::UPDATE => Target::Update,
                    action::UPDATE_STATUS => Target::UpdateStatus,
                    action::UPDATE_ROLES => Target::UpdateRoles,
                    action::ONCALL => Target::OnCall,
                    _ => Target::Downgrade,
                };
                let view = match value_incident() {
                    Some(id) => {
                        self.target_view_or_notice(target, id, &payload.user.id)
                            .await
                    }
                    None => {
                        views::notice("Unknown incident", "This button does not name an incident.")
                    }
                };
                self.api().open_view(&trigger, &view).await.map(drop)
            }
            action::PUSH_UPDATE_STATUS | action::PUSH_UPDATE_ROLES | action::PUSH_EDIT => {
                let target = match action.action_id.as_str() {
                    action::PUSH_UPDATE_STATUS => Target::UpdateStatus,
                    action::PUSH_UPDATE_ROLES => Target::UpdateRoles,
                    _ => Target::Edit,
                };
                let view = match value_incident() {
                    Some(id) => {
                        self.target_view_or_notice(target, id, &payload.user.id)
                            .await
                    }
                    None => {
                        views::notice("Unknown incident", "This button does not name an incident.")
                    }
                };
                self.api().push_view(&trigger, &view).await.map(drop)
            }
            a if a.starts_with(action::KEY_EVENT_PREFIX) => self.key_event_action(&payload).await,
            other => {
                tracing::debug!(action = other, "unknown block action ignored");
                Ok(())
            }
        };
        if let Err(e) = &result {
            self.tell(&payload, &format!(":x: {e}")).await;
        }
        Ok(())
    }

    async fn target_view_or_notice(
        &self,
        target: Target,
        id: IncidentId,
        slack_user: &str,
    ) -> Value {
        match self.target_view(target, id, slack_user).await {
            Ok(v) => v,
            Err(e @ Error::NotMember(_)) => views::notice("Not a member", &format!(":lock: {e}")),
            Err(Error::Core(firefighter_core::Error::NotFound { .. })) => views::notice(
                "Unknown incident",
                &format!("Incident {id} does not exist (any more); nothing was changed."),
            ),
            Err(e) => views::notice("Something went wrong", &format!(":x: {e}")),
        }
    }

    /// Answers the person behind an action ephemerally.
    pub(crate) async fn tell(&self, payload: &BlockActions, text: &str) {
        self.tell_user(
            payload.response_url.as_deref(),
            payload.channel.as_ref().map(|c| c.id.as_str()),
            &payload.user.id,
            text,
        )
        .await;
    }

    /// Answers a person ephemerally: through the `response_url`, else in the channel.
    pub(crate) async fn tell_user(
        &self,
        response_url: Option<&str>,
        channel: Option<&str>,
        slack_user: &str,
        text: &str,
    ) {
        let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
        let sent = match (response_url, channel) {
            (Some(url), _) => self.api().respond(url, &body).await,
            (None, Some(c)) => {
                self.api()
                    .post_ephemeral(
                        c,
                        slack_user,
                        &NewMessage::new(c, text, json!([crate::models::blocks::section(text)])),
                    )
                    .await
            }
            (None, None) => Ok(()),
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not tell the user");
        }
    }

    /// Records a key event picked, before the acknowledgement (`None`: not a
    /// key event picker naming an incident; handled after the acknowledgement).
    pub(crate) async fn record_key_event(
        &self,
        payload: &BlockActions,
    ) -> Option<Result<crate::submissions::Recorded>> {
        let action = payload.actions.first()?;
        let slug = action.action_id.strip_prefix(action::KEY_EVENT_PREFIX)?;
        let incident = key_event_incident(&action.block_id)?;
        let work = crate::submissions::KeyEventWork {
            incident,
            slug: slug.to_owned(),
            at: action
                .selected_date_time
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
            response_url: payload.response_url.clone(),
            channel: payload.channel.as_ref().map(|c| c.id.clone()),
        };
        Some(
            self.record_submission(crate::submissions::kind::KEY_EVENT, &work, &payload.user.id)
                .await,
        )
    }

    /// Key event pickers naming an incident are recorded before the
    /// acknowledgement ([`Slack::record_key_event`]); what reaches this is not one.
    async fn key_event_action(&self, payload: &BlockActions) -> Result<()> {
        let block = payload.actions.first().map(|a| a.block_id.as_str());
        match block.and_then(key_event_incident) {
            None => Err(Error::BadRequest(
                "this key event picker does not name an incident".into(),
            )),
            Some(_) => match self.record_key_event(payload).await {
                Some(Ok(row)) => {
                    self.apply_submission_later(row);
                    Ok(())
                }
                Some(Err(e)) => Err(e),
                None => Ok(()),
            },
        }
    }

    // --------------------------------------------------- view submissions

    /// Handles a modal submission; the answer goes in the HTTP response.
    pub async fn handle_submission(&self, payload: ViewSubmission) -> Value {
        match self.submission(&payload).await {
            Ok(v) => v,
            Err(Error::Core(firefighter_core::Error::NotFound { what, id })) => response_notice(
                "Not found",
                &format!(":x: {what} {id} does not exist (any more); nothing was changed."),
            ),
            Err(Error::BadRequest(m)) => response_notice("Cannot do that", &format!(":x: {m}")),
            Err(e @ Error::NotMember(_)) => response_notice("Not a member", &format!(":lock: {e}")),
            Err(e) => {
                tracing::warn!(error = %e, callback = %payload.view.callback_id, "submission failed");
                response_notice(
                    "Something went wrong",
                    &format!(":x: {e}. Nothing was changed; try again."),
                )
            }
        }
    }

    async fn submission(&self, payload: &ViewSubmission) -> Result<Value> {
        let view = &payload.view;
        let state = &view.state;
        let callback_id = view.callback_id.as_str();
        if callback_id == callback::OPEN {
            return self.submit_open(payload).await;
        }
        if callback_id == callback::SELECT {
            let meta: Value = serde_json::from_str(&view.private_metadata).unwrap_or_default();
            let target = meta
                .get("target")
                .and_then(Value::as_str)
                .and_then(Target::parse);
            let id = state
                .single("incident")
                .and_then(|v| v.parse::<i64>().ok())
                .map(IncidentId);
            return match (target, id) {
                (Some(t), Some(id)) => Ok(
                    json!({"response_action": "update", "view": self.target_view(t, id, &payload.user.id).await?}),
                ),
                (None, _) => Ok(response_notice(
                    "Unknown form",
                    "This picker does not say what to open; nothing was changed.",
                )),
                (_, None) => Ok(response_errors(BTreeMap::from([(
                    "incident".into(),
                    "Choose an incident.".into(),
                )]))),
            };
        }
        let known = [
            callback::UPDATE_STATUS,
            callback::UPDATE_ROLES,
            callback::EDIT,
            callback::CLOSE,
            callback::CLOSURE_REASON,
            callback::SOS,
            callback::DOWNGRADE,
            callback::ONCALL,
        ];
        if !known.contains(&callback_id) {
            return Ok(response_notice(
                "Unknown form",
                "This form is not one of FireFighter's (maybe from an older version); nothing was changed.",
            ));
        }
        let Some(id) = incident_of(view) else {
            return Ok(response_notice(
                "Unknown incident",
                "This form does not name an incident; nothing was changed.",
            ));
        };
        // Before anything is read or written: the one privacy rule.
        self.viewer_of_incident(&payload.user.id, id).await?;
        let by = self.user_id_for(&payload.user.id).await?;
        if callback_id == callback::UPDATE_STATUS {
            return self.submit_update_status(payload, id, by).await;
        }
        let app = self.app()?;
        let incident = app.incident(id).await?;
        match callback_id {
            callback::UPDATE_ROLES => self.submit_roles(state, id, by).await,
            callback::EDIT => {
                let envs: Vec<EnvironmentId> = state
                    .many("environments")
                    .iter()
                    .filter_map(|e| e.parse().ok())
                    .collect();
                let title = state.single("title").unwrap_or_default();
                let description = state.single("description").unwrap_or_default();
                let update = Update {
                    by: Some(by),
                    title: (title != incident.title).then_some(title),
                    description: (description != incident.description).then_some(description),
                    environment_ids: (!envs.is_empty() && envs != incident.environment_ids)
                        .then_some(envs),
                    ..Update::default()
                };
                match app.update(id, update).await {
                    Ok(_) => Ok(clear()),
                    Err(e) => Ok(response_errors(field_errors(
                        &e,
                        &[
                            ("title", "title"),
                            ("description", "description"),
                            ("environment_ids", "environments"),
                            ("message", "title"),
                        ],
                        "title",
                    ))),
                }
            }
            callback::CLOSE => {
                let category: Option<CategoryId> =
                    state.single("category").and_then(|c| c.parse().ok());
                let message = state.single("message");
                if let Some(m) = &message
                    && let Err(e) = firefighter_core::Message::parse(m)
                {
                    return Ok(response_errors(field_errors(&e, &[], "message")));
                }
                if let Some(r) = self
                    .status_refusal(
                        id,
                        Status::Closed,
                        None,
                        message.as_deref().or(Some("closing")),
                        None,
                    )
                    .await?
                {
                    return Ok(response_errors(BTreeMap::from([(
                        "message".to_owned(),
                        r.messages().join(" "),
                    )])));
                }
                let update = Update {
                    by: Some(by),
                    status: Some(Status::Closed),
                    message,
                    category_id: category.filter(|c| *c != incident.category_id),
                    ..Update::default()
                };
                self.apply_later(id, &payload.user.id, update, "message")
                    .await
            }
            callback::CLOSURE_REASON => {
                let meta: Value = serde_json::from_str(&view.private_metadata).unwrap_or_default();
                let reason = state
                    .single("reason")
                    .and_then(|r| ClosureReason::parse(&r));
                let update = Update {
                    by: Some(by),
                    status: Some(Status::Closed),
                    closure_reason: reason,
                    closure_reference: state.single("reference"),
                    message: state.single("message"),
                    priority_id: meta
                        .get("priority")
                        .and_then(Value::as_str)
                        .and_then(|p| p.parse().ok()),
                    category_id: meta
                        .get("category")
                        .and_then(Value::as_str)
                        .and_then(|c| c.parse().ok()),
                    ..Update::default()
                };
                if reason.is_none() {
                    return Ok(response_errors(BTreeMap::from([(
                        "reason".into(),
                        "Choose a closure reason.".into(),
                    )])));
                }
                let mut errors = BTreeMap::new();
                if let Some(r) = &update.closure_reference
                    && let Err(e) = firefighter_core::ClosureReference::parse(r)
                {
                    errors.extend(field_errors(&e, &[], "reference"));
                }
                if let Some(m) = &update.message
                    && let Err(e) = firefighter_core::Message::parse(m)
                {
                    errors.extend(field_errors(&e, &[], "message"));
                }
                if errors.is_empty()
                    && let Some(r) = self
                        .status_refusal(
                            id,
                            Status::Closed,
                            update.priority_id,
                            update.message.as_deref(),
                            reason,
                        )
                        .await?
                {
                    errors.insert("reason".into(), r.messages().join(" "));
                }
                if !errors.is_empty() {
                    return Ok(response_errors(errors));
                }
                self.apply_later(id, &payload.user.id, update, "reason")
                    .await
            }
            callback::SOS => {
                let by = self.user_for(&payload.user.id).await?;
                self.submit_sos(state, id, &by).await
            }
            callback::DOWNGRADE => {
                app.downgrade(
                    id,
                    Some(by),
                    Some(
                        "Turned into a regular incident: it does not need the critical process."
                            .into(),
                    ),
                )
                .await?;
                Ok(clear())
            }
            _ => {
                let Some(oncall) = app.oncall() else {
                    return Ok(response_notice(
                        "On-call",
                        "No on-call integration is enabled; nothing was paged.",
                    ));
                };
                let state_json = serde_json::to_value(
                    state
                        .values
                        .iter()
                        .map(|(b, v)| {
                            (
                                b.clone(),
                                v.values()
                                    .next()
                                    .and_then(|e| e.single())
                                    .unwrap_or_default(),
                            )
                        })
                        .collect::<HashMap<_, _>>(),
                )
                .unwrap_or_default();
                let errors = crate::oncall::field_errors(&state_json);
                if !errors.is_empty() {
                    return Ok(response_errors(errors.into_iter().collect()));
                }
                match crate::oncall::submit(oncall.as_ref(), id, by, &state_json).await {
                    Ok(text) => Ok(response_notice("On-call paged", &text)),
                    Err(e) => Ok(response_notice("On-call not paged", &format!(":x: {e}"))),
                }
            }
        }
    }

    async fn submit_open(&self, payload: &ViewSubmission) -> Result<Value> {
        let view = &payload.view;
        let app = self.app()?;
        let catalog = app.catalog().await?;
        let w = wizard_state(&catalog, &view.state);
        let mut errors = BTreeMap::new();
        let priority = w.suggested_priority(&catalog).cloned();
        if priority.is_none()
            && let Some(t) = catalog.impact_types.first()
        {
            errors.insert(
                format!("impact:{}", t.value),
                "Select at least one impact: without impact there is no incident.".to_owned(),
            );
        }
        if w.category.is_none() {
            errors.insert("category".into(), "Choose the incident category.".into());
        }
        if !errors.is_empty() {
            return Ok(response_errors(errors));
        }
        let title = view.state.single("title").unwrap_or_default();
        let description = view.state.single("description").unwrap_or_default();
        if let Err(e) = firefighter_core::Title::parse(&title) {
            errors.extend(field_errors(&e, &[], "title"));
        }
        if let Err(e) = firefighter_core::Description::parse(&description) {
            errors.extend(field_errors(&e, &[], "description"));
        }
        if let Some(c) = w.category
            && !catalog.categories.iter().any(|x| x.id == c)
        {
            errors.insert(
                "category".into(),
                "This category does not exist any more.".into(),
            );
        }
        if w.environments
            .iter()
            .any(|e| !catalog.environments.iter().any(|x| x.id == *e))
        {
            errors.insert(
                "environments".into(),
                "An environment does not exist any more.".into(),
            );
        }
        if !errors.is_empty() {
            return Ok(response_errors(errors));
        }
        let creator = self.user_id_for(&payload.user.id).await?;
        let mut custom = serde_json::Map::new();
        custom.insert(
            "impacts".into(),
            json!(
                w.impacts
                    .iter()
                    .map(|(k, v)| (k.clone(), v.code()))
                    .collect::<BTreeMap<_, _>>()
            ),
        );
        let label = priority
            .as_ref()
            .map(|p| format!("{} {}", p.emoji, p.name))
            .unwrap_or_default();
        let critical = priority
            .as_ref()
            .is_some_and(|p| p.response_type() == firefighter_core::ResponseType::Critical);
        let work = crate::submissions::DeclareWork {
            title,
            description,
            priority_id: priority.as_ref().map(|p| p.id),
            category_id: w.category,
            environment_ids: w.environments.clone(),
            created_by: Some(creator),
            // The view id is stable while the modal is open: a second submission finds the first incident.
            dedup_key: format!(
                "slack-view:{}",
                view.root_view_id.as_deref().unwrap_or(&view.id)
            ),
            custom_fields: custom,
            extras: json!({"source": "slack", "slack_user": payload.user.id}),
            view_id: view.id.clone(),
            label,
            critical,
        };
        // Recorded before the acknowledgement, declared after it; the modal then shows the outcome.
        match self
            .record_submission(crate::submissions::kind::DECLARE, &work, &payload.user.id)
            .await
        {
            Ok(row) => self.apply_submission_later(row),
            Err(e) => {
                return Ok(response_errors(BTreeMap::from([(
                    "title".to_owned(),
                    format!(":x: {e}. Nothing was declared; try again."),
                )])));
            }
        }
        Ok(response_notice(
            "Declaring the incident",
            ":hourglass_flowing_sand: Declaring the incident…",
        ))
    }

    async fn submit_update_status(
        &self,
        payload: &ViewSubmission,
        id: IncidentId,
        by: UserId,
    ) -> Result<Value> {
        let state = &payload.view.state;
        let catalog = self.app()?.catalog().await?;
        // What the form showed; read from the incident only for forms that do not say.
        let meta: Value = serde_json::from_str(&payload.view.private_metadata).unwrap_or_default();
        let shown = (
            meta.get("status")
                .and_then(Value::as_str)
                .and_then(Status::parse),
            meta.get("priority")
                .and_then(Value::as_str)
                .and_then(|p| p.parse::<PriorityId>().ok()),
            meta.get("category")
                .and_then(Value::as_str)
                .and_then(|c| c.parse::<CategoryId>().ok()),
        );
        let (shown_status, shown_priority, shown_category) = match shown {
            (Some(s), Some(p), Some(c)) => (s, p, c),
            _ => {
                let i = self.app()?.incident(id).await?;
                (i.status, i.priority_id, i.category_id)
            }
        };
        let status = state.single("status").and_then(|s| Status::parse(&s));
        let priority: Option<PriorityId> = state.single("priority").and_then(|p| p.parse().ok());
        let category: Option<CategoryId> = state.single("category").and_then(|c| c.parse().ok());
        let update = Update {
            by: Some(by),
            message: state.single("message"),
            status: status.filter(|s| *s != shown_status),
            priority_id: priority.filter(|p| *p != shown_priority),
            category_id: category.filter(|c| *c != shown_category),
            ..Update::default()
        };
        // What core would refuse is answered on the form now; the write follows the acknowledgement.
        let mut errors = BTreeMap::new();
        if let Some(m) = &update.message
            && let Err(e) = firefighter_core::Message::parse(m)
        {
            errors.extend(field_errors(&e, &[], "message"));
        }
        if let Some(p) = update.priority_id {
            match catalog.priorities.iter().find(|x| x.id == p) {
                Some(x) if x.enabled_update => {}
                Some(x) => {
                    errors.insert(
                        "priority".into(),
                        format!("priority {} cannot be chosen when updating", x.name),
                    );
                }
                None => {
                    errors.insert(
                        "priority".into(),
                        "this priority does not exist any more".into(),
                    );
                }
            }
        }
        if let Some(c) = update.category_id
            && !catalog.categories.iter().any(|x| x.id == c)
        {
            errors.insert(
                "category".into(),
                "this category does not exist any more".into(),
            );
        }
        if update.status.is_none()
            && update.priority_id.is_none()
            && update.category_id.is_none()
            && update.message.is_none()
        {
            errors.insert(
                "message".into(),
                "Nothing to update: write a message or change a field.".into(),
            );
        }
        if !errors.is_empty() {
            return Ok(response_errors(errors));
        }
        if let Some(to) = update.status
            && let Some(refusal) = self
                .status_refusal(id, to, update.priority_id, update.message.as_deref(), None)
                .await?
        {
            let incident = &self.app()?.incident(id).await?;
            let early_closure = to == Status::Closed
                && refusal.reasons.iter().any(|x| {
                    matches!(
                        x,
                        RefusalReason::ClosureReasonRequired | RefusalReason::MessageRequired
                    )
                })
                && !refusal
                    .reasons
                    .iter()
                    .any(|x| matches!(x, RefusalReason::StatusNotMitigated));
            if early_closure {
                // Ask for the reason, carrying the other changes over.
                let mut carry = json!({});
                if let Some(p) = update.priority_id {
                    carry["priority"] = json!(p.to_string());
                }
                if let Some(c) = update.category_id {
                    carry["category"] = json!(c.to_string());
                }
                return Ok(
                    json!({"response_action": "push", "view": views::closure_reason(incident, &carry)}),
                );
            }
            return Ok(response_errors(BTreeMap::from([(
                "status".to_owned(),
                refusal.messages().join(" "),
            )])));
        }
        self.apply_later(id, &payload.user.id, update, "message")
            .await
    }

    async fn submit_roles(&self, state: &ViewState, id: IncidentId, by: UserId) -> Result<Value> {
        let app = self.app()?;
        let catalog = app.catalog().await?;
        let details = app.incident_details(id).await?;
        let mut roles = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for r in &catalog.role_types {
            let block = format!("role:{}", r.slug);
            let current = details
                .roles
                .iter()
                .find(|x| x.role_type_id == r.id)
                .map(|x| x.user_id);
            let chosen = match state.single(&block) {
                Some(slack_id) => match self.user_for(&slack_id).await {
                    Ok(u) => Some(u.id),
                    Err(e) => {
                        errors.insert(block, e.to_string());
                        continue;
                    }
                },
                None => None,
            };
            if chosen != current {
                roles.insert(r.slug.clone(), chosen);
            }
        }
        if !errors.is_empty() {
            return Ok(response_errors(errors));
        }
        if roles.is_empty() {
            return Ok(clear());
        }
        match app.update_roles(id, Some(by), roles).await {
            Ok(_) => Ok(clear()),
            Err(e) => {
                let map: Vec<(String, String)> = catalog
                    .role_types
                    .iter()
                    .map(|r| (format!("roles.{}", r.slug), format!("role:{}", r.slug)))
                    .collect();
                let map_ref: Vec<(&str, &str)> =
                    map.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                let fallback = map.first().map(|(_, b)| b.clone()).unwrap_or_default();
                Ok(response_errors(field_errors(&e, &map_ref, &fallback)))
            }
        }
    }

    async fn submit_sos(
        &self,
        state: &ViewState,
        id: IncidentId,
        by: &firefighter_core::User,
    ) -> Result<Value> {
        let Some(choice) = state
            .single("sos")
            .and_then(|s| s.parse::<uuid::Uuid>().ok())
        else {
            return Ok(response_errors(BTreeMap::from([(
                "sos".into(),
                "Choose who to ask.".into(),
            )])));
        };
        let Some(target) = self
            .store()
            .sos_list()
            .await?
            .into_iter()
            .find(|s| s.id == choice)
        else {
            return Ok(response_errors(BTreeMap::from([(
                "sos".into(),
                "This SOS target was removed.".into(),
            )])));
        };
        let v = self.incident_view(id).await?;
        let mention = match &target.usergroup_id {
            Some(g) => format!("<!subteam^{g}>"),
            None => "<!here>".to_owned(),
        };
        let by_mention = format!("<@{}>", by.identity(crate::PLATFORM).unwrap_or_default());
        let (text, blocks) = messages::sos(&v, &mention, &by_mention);
        self.post(
            Some(id),
            kind::SOS,
            NewMessage::new(&target.channel_id, text, blocks),
            Strategy::Append,
            None,
        )
        .await?;
        self.app()?
            .post_message(
                id,
                Some(by.id),
                &format!(
                    "Asked for help ({}) in <#{}>",
                    target.name, target.channel_id
                ),
                Some(firefighter_core::timeline::event_type::SEND_SOS),
            )
            .await?;
        Ok(response_notice(
            "SOS sent",
            &format!(":sos: Help was asked in <#{}>.", target.channel_id),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_land_on_the_right_blocks() {
        let e = firefighter_core::Error::Invalid(vec![
            firefighter_core::FieldError {
                field: "title".into(),
                message: "too short".into(),
            },
            firefighter_core::FieldError {
                field: "other".into(),
                message: "odd".into(),
            },
        ]);
        let m = field_errors(&e, &[("title", "title_block")], "fallback");
        assert_eq!(m["title_block"], "too short");
        assert_eq!(m["fallback"], "odd");
    }

    #[test]
    fn targets_round_trip() {
        for t in Target::ALL {
            assert_eq!(Target::parse(t.slug()), Some(t));
        }
    }
}
