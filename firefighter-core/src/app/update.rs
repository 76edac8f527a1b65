//! Changing an incident: fields, status, messages, closing, downgrading.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Validation;
use crate::event::UpdateKind;
use crate::lifecycle::{self, StatusChange};
use crate::store::{Catalog, IncidentChange, now};
use crate::timeline::{FieldChange, event_type, field};
use crate::{
    CategoryId, ClosureReason, ClosureReference, Description, EnvironmentId, Error, Incident,
    IncidentEvent, IncidentId, Message, PriorityId, Result, Status, TimelineEntry, Title, UpdateId,
    UserId,
};
use crate::{KeyEvent, Priority};

use super::{Firefighter, env_names, find_priority, resolve_environments};

/// A change of an incident. Unset fields are left as they are.
/// Serialisable, so that a caller can record it and apply it later.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Update {
    /// Who makes it (`None`: the system or an integration).
    pub by: Option<UserId>,
    /// A message for the timeline.
    pub message: Option<String>,
    /// New status.
    pub status: Option<Status>,
    /// New priority.
    pub priority_id: Option<PriorityId>,
    /// New category.
    pub category_id: Option<CategoryId>,
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New environments.
    pub environment_ids: Option<Vec<EnvironmentId>>,
    /// New private flag.
    pub private: Option<bool>,
    /// Closure reason (when closing).
    pub closure_reason: Option<ClosureReason>,
    /// Closure reference (when closing).
    pub closure_reference: Option<String>,
    /// Technical event type of the entry (`trigger_oncall`...).
    pub event_type: Option<String>,
    /// When it happened (default: now).
    pub event_ts: Option<DateTime<Utc>>,
}

impl Firefighter {
    /// Updates an incident: a message and/or new field values and status.
    pub async fn update(&self, id: IncidentId, update: Update) -> Result<Incident> {
        self.with_retries(|| self.try_update(id, &update, None, false))
            .await
    }

    /// [`Firefighter::update`] named by the caller's idempotency key (1 to
    /// 200 characters), recorded in the change's transaction: once a key was
    /// applied, the same call changes nothing and returns the incident as it
    /// is (a replayed request).
    pub async fn update_once(&self, id: IncidentId, key: &str, update: Update) -> Result<Incident> {
        self.with_retries(|| self.try_update(id, &update, Some(key), false))
            .await
    }

    /// Posts a message (or a technical event such as an on-call page) on the timeline.
    pub async fn post_message(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        message: &str,
        event_type: Option<&str>,
    ) -> Result<Incident> {
        self.update(
            id,
            Update {
                by,
                message: Some(message.to_owned()),
                event_type: event_type.map(str::to_owned),
                ..Update::default()
            },
        )
        .await
    }

    /// Closes an incident. Before mitigation a closure reason other than
    /// `resolved` and a message are required.
    pub async fn close(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        reason: Option<ClosureReason>,
        message: Option<String>,
        reference: Option<String>,
    ) -> Result<Incident> {
        self.update(
            id,
            Update {
                by,
                status: Some(Status::Closed),
                closure_reason: reason,
                closure_reference: reference,
                message,
                ..Update::default()
            },
        )
        .await
    }

    /// Downgrades an incident that does not need the incident process: it is
    /// marked ignored and closed, whatever its state.
    pub async fn downgrade(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        message: Option<String>,
    ) -> Result<Incident> {
        let update = Update {
            by,
            status: Some(Status::Closed),
            message,
            event_type: Some(event_type::DOWNGRADED.to_owned()),
            ..Update::default()
        };
        self.with_retries(|| self.try_update(id, &update, None, true))
            .await
    }

    /// Adds or removes a member of an incident (someone joined or left its
    /// conversation). No timeline entry and no event, as in FireFighter;
    /// returns false when nothing changed.
    pub async fn set_member(&self, id: IncidentId, user: UserId, member: bool) -> Result<bool> {
        self.inner.store.set_incident_member(id, user, member).await
    }

    async fn try_update(
        &self,
        id: IncidentId,
        update: &Update,
        request_key: Option<&str>,
        downgrade: bool,
    ) -> Result<Incident> {
        let catalog = self.catalog().await?;
        let details = self.incident_details(id).await?;
        // Read after the incident: a repeat committed meanwhile then shows
        // here, or makes the version read above stale.
        if let Some(key) = request_key
            && self.already_applied(id, key).await?
        {
            return Ok(details.incident);
        }
        let before = &details.incident;
        let mut edit = self.edit_fields(&catalog, before, update).await?;
        if downgrade && !edit.after.ignore {
            edit.changes.push(FieldChange::new(
                field::IGNORE,
                Some("false".into()),
                Some("true".into()),
            ));
            edit.after.ignore = true;
        }

        let at = now();
        let event_ts = update
            .event_ts
            .map(crate::store::truncate_micros)
            .unwrap_or(at);
        let mut change = IncidentChange::from(before, self.subscribers());
        change.environments_changed = edit.environments_changed;
        change.request_key = request_key.map(str::to_owned);
        if let Some(to) = update.status
            && to != before.status
        {
            let system_key_events = self
                .change_status(
                    &catalog,
                    &details.key_events,
                    &mut edit,
                    update,
                    to,
                    event_ts,
                )
                .await?;
            change.key_events_set.extend(system_key_events);
        }
        if edit.after.priority_id != before.priority_id {
            let metric = if edit.priority.value < edit.old_priority.value {
                "incident.priority.escalated"
            } else {
                "incident.priority.deescalated"
            };
            tracing::info!(ff.metric = metric, incident = id.0, from = %edit.old_priority.name, to = %edit.priority.name, "priority changed");
        }
        if edit.changes.is_empty() && edit.message.is_none() {
            return Err(Error::invalid(
                "message",
                "nothing to update: give a message or change at least one field",
            ));
        }
        // An incident that needs a post-mortem gets it on reaching Mitigated
        // (or Post-mortem), in the same transaction as the status change.
        let postmortems = match update.status {
            Some(to) if to != before.status => {
                self.postmortems_due_on(&catalog, &edit.after, to).await?
            }
            _ => Vec::new(),
        };
        record_update(&mut change, &details.key_events, update, edit, at, event_ts);
        self.plan_postmortems(&mut change, &postmortems, update.by, at);
        let stored = self.inner.store.apply(change).await?;
        self.committed();
        Ok(stored)
    }

    /// Whether the request named `key` was applied already (to this
    /// incident; a key used for another incident is refused).
    pub(super) async fn already_applied(&self, id: IncidentId, key: &str) -> Result<bool> {
        if key.is_empty() || key.chars().count() > 200 {
            return Err(Error::invalid(
                "request_key",
                "a request key has 1 to 200 characters",
            ));
        }
        match self.inner.store.request_applied(key).await? {
            Some(done) if done != id => Err(Error::invalid(
                "request_key",
                format!("this request key was used for incident {done}"),
            )),
            Some(_) => {
                tracing::debug!(incident = id.0, key, "update already applied");
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Validates every field of `update` and applies them to a copy of the
    /// incident; the status is decided afterwards. Nothing is written.
    async fn edit_fields(
        &self,
        catalog: &Catalog,
        before: &Incident,
        update: &Update,
    ) -> Result<Edit> {
        let mut after = before.clone();
        let mut v = Validation::default();
        let mut changes = Vec::new();

        if let Some(by) = update.by {
            self.validate_user(&mut v, "by", by).await?;
        }
        let message = match &update.message {
            Some(m) if !m.trim().is_empty() => v.check(Message::parse(m)).map(String::from),
            _ => None,
        };
        if let Some(t) = &update.title
            && let Some(t) = v.check(Title::parse(t))
        {
            changes.extend(text_change(field::TITLE, &before.title, t.as_str()));
            after.title = t.into();
        }
        if let Some(d) = &update.description
            && let Some(d) = v.check(Description::parse(d))
        {
            changes.extend(text_change(
                field::DESCRIPTION,
                &before.description,
                d.as_str(),
            ));
            after.description = d.into();
        }
        let old_priority = find_priority(catalog, before.priority_id)?.clone();
        let mut priority = old_priority.clone();
        if let Some(pid) = update.priority_id {
            match catalog.priorities.iter().find(|p| p.id == pid) {
                None => v.push("priority_id", format!("priority {pid} does not exist")),
                Some(p) if p.id != before.priority_id && !p.enabled_update => v.push(
                    "priority_id",
                    format!("priority {} cannot be chosen when updating", p.name),
                ),
                Some(p) => {
                    changes.extend(text_change(field::PRIORITY, &old_priority.name, &p.name));
                    after.priority_id = p.id;
                    priority = p.clone();
                }
            }
        }
        if let Some(cid) = update.category_id {
            match catalog.categories.iter().find(|c| c.id == cid) {
                None => v.push(
                    "category_id",
                    format!("incident category {cid} does not exist"),
                ),
                Some(c) => {
                    let old = catalog
                        .categories
                        .iter()
                        .find(|x| x.id == before.category_id)
                        .map(|x| x.name.as_str())
                        .unwrap_or("");
                    changes.extend(text_change(field::CATEGORY, old, &c.name));
                    after.category_id = c.id;
                }
            }
        }
        let mut environments_changed = false;
        if let Some(envs) = &update.environment_ids
            && let Some(envs) = v.check(resolve_environments(catalog, envs))
            && envs != before.environment_ids
        {
            changes.push(FieldChange::new(
                field::ENVIRONMENTS,
                Some(env_names(catalog, &before.environment_ids)),
                Some(env_names(catalog, &envs)),
            ));
            after.environment_id = envs[0];
            after.environment_ids = envs;
            environments_changed = true;
        }
        if let Some(private) = update.private
            && private != before.private
        {
            changes.push(FieldChange::new(
                field::PRIVATE,
                Some(before.private.to_string()),
                Some(private.to_string()),
            ));
            after.private = private;
        }
        let reference = match &update.closure_reference {
            Some(r) => v
                .check(ClosureReference::parse(r))
                .map(|r| Some(String::from(r))),
            None => Some(None),
        };
        if update.closure_reason.is_some() && update.status != Some(Status::Closed) {
            v.push(
                "closure_reason",
                "a closure reason can only be given when closing",
            );
        }
        if let Some(et) = &update.event_type {
            if et.is_empty() || et.len() > 64 {
                v.push("event_type", "an event type has 1 to 64 characters");
            } else if catalog.milestone_types.iter().any(|m| &m.event_type == et) {
                v.push(
                    "event_type",
                    format!("{et} is a key event: set it with the key events command"),
                );
            }
        }
        v.finish()?;
        Ok(Edit {
            after,
            changes,
            message,
            old_priority,
            priority,
            environments_changed,
            closure_reference: reference.flatten(),
        })
    }

    /// Asks the lifecycle about the status change of `update` and applies
    /// it to the edit; answers the key events the system records with it.
    async fn change_status(
        &self,
        catalog: &Catalog,
        key_events: &[KeyEvent],
        edit: &mut Edit,
        update: &Update,
        to: Status,
        event_ts: DateTime<Utc>,
    ) -> Result<Vec<KeyEvent>> {
        let from = edit.after.status;
        let inputs = self
            .lifecycle_inputs(catalog, &edit.after, key_events, to == Status::Closed)
            .await?;
        lifecycle::check_transition(
            &inputs.facts(),
            &StatusChange {
                to,
                message: edit.message.as_deref(),
                closure_reason: update.closure_reason,
            },
        )?;
        edit.changes.push(FieldChange::new(
            field::STATUS,
            Some(from.slug().to_owned()),
            Some(to.slug().to_owned()),
        ));
        let reason_before = edit.after.closure_reason;
        let system = lifecycle::apply_transition(
            &mut edit.after,
            key_events,
            to,
            update.closure_reason,
            event_ts,
        );
        if to == Status::Closed && edit.after.closure_reason != reason_before {
            edit.changes.push(FieldChange::new(
                field::CLOSURE_REASON,
                reason_before.map(|r| r.slug().to_owned()),
                edit.after.closure_reason.map(|r| r.slug().to_owned()),
            ));
        }
        if let Some(r) = &edit.closure_reference {
            edit.changes.push(FieldChange::new(
                field::CLOSURE_REFERENCE,
                Some(edit.after.closure_reference.clone()),
                Some(r.clone()),
            ));
            edit.after.closure_reference = r.clone();
        }
        tracing::info!(
            ff.metric = "incident.status_changed",
            incident = edit.after.id.0,
            from = from.slug(),
            to = to.slug(),
            "incident status changed"
        );
        Ok(system)
    }
}

fn text_change(field: &str, old: &str, new: &str) -> Option<FieldChange> {
    (old != new).then(|| FieldChange::new(field, Some(old.to_owned()), Some(new.to_owned())))
}

/// An incident as an update leaves it, before its status is decided.
struct Edit {
    after: Incident,
    changes: Vec<FieldChange>,
    /// The timeline message (validated; `None` when blank).
    message: Option<String>,
    old_priority: Priority,
    priority: Priority,
    environments_changed: bool,
    /// A new closure reference, written only with a status change.
    closure_reference: Option<String>,
}

/// Adds the update's timeline entries (its own, then one per key event the
/// system recorded) and its events to `change`.
fn record_update(
    change: &mut IncidentChange,
    recorded: &[KeyEvent],
    update: &Update,
    edit: Edit,
    at: DateTime<Utc>,
    event_ts: DateTime<Utc>,
) {
    let before = &change.incident;
    let Edit {
        mut after,
        changes,
        message,
        ..
    } = edit;
    let id = before.id;
    after.updated_at = at;
    let entry_id = UpdateId::new();
    let event_type = if update.status == Some(Status::Closed)
        && update.closure_reason.is_some()
        && before.status < Status::Mitigated
    {
        Some(event_type::CLOSURE_REASON.to_owned())
    } else {
        update.event_type.clone()
    };
    let changed: Vec<String> = changes.iter().map(|c| c.field.clone()).collect();
    let mut timeline = vec![TimelineEntry {
        id: entry_id,
        incident_id: id,
        created_by: update.by,
        created_at: at,
        event_ts,
        event_type: event_type.clone(),
        message,
        status: (after.status != before.status).then_some(after.status),
        changes,
    }];
    for ke in &change.key_events_set {
        timeline.push(TimelineEntry {
            id: UpdateId::new(),
            incident_id: id,
            created_by: None,
            created_at: at,
            event_ts: ke.at,
            event_type: Some(ke.event_type.clone()),
            message: None,
            status: None,
            changes: vec![FieldChange::new(
                format!("{}{}", field::KEY_EVENT_PREFIX, ke.event_type),
                recorded
                    .iter()
                    .find(|k| k.event_type == ke.event_type)
                    .map(|k| k.at.to_rfc3339()),
                Some(ke.at.to_rfc3339()),
            )],
        });
    }
    let mut events = vec![IncidentEvent::Updated {
        update_id: entry_id,
        update_kind: if changed.is_empty() {
            UpdateKind::Message
        } else {
            UpdateKind::Fields
        },
        changed,
        old_priority: (after.priority_id != before.priority_id).then_some(before.priority_id),
        event_type,
    }];
    if !change.key_events_set.is_empty() {
        events.push(IncidentEvent::KeyEventsUpdated);
    }
    if after.status == Status::Closed && before.status != Status::Closed {
        events.push(IncidentEvent::Closed);
        tracing::info!(
            ff.metric = "incident.closed",
            incident = id.0,
            "incident closed"
        );
    }
    change.timeline.extend(timeline);
    change.incident = after;
    change.events = events;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_survives_being_recorded_with_every_field() {
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let update = Update {
            by: Some(UserId::new()),
            message: Some("Rolled back the deploy".into()),
            status: Some(Status::Closed),
            priority_id: Some(PriorityId::new()),
            category_id: Some(CategoryId::new()),
            title: Some("Checkout answers 500 to one request in ten".into()),
            description: Some("Since the 14:02 deploy".into()),
            environment_ids: Some(vec![EnvironmentId::new()]),
            private: Some(true),
            closure_reason: Some(ClosureReason::Duplicate),
            closure_reference: Some("INC-12".into()),
            event_type: Some("trigger_oncall".into()),
            event_ts: Some(at),
        };
        let json = serde_json::to_string(&update).unwrap();
        assert_eq!(serde_json::from_str::<Update>(&json).unwrap(), update);
    }

    #[test]
    fn a_recorded_update_without_some_fields_leaves_them_unset() {
        let update: Update =
            serde_json::from_str(r#"{"message":"Still looking","status":"mitigating"}"#).unwrap();
        assert_eq!(update.status, Some(Status::Mitigating));
        assert_eq!(update.message.as_deref(), Some("Still looking"));
        assert_eq!(update.title, None);
        assert_eq!(update.environment_ids, None);
    }
}
