//! The update-status and edit-details modals: what core would refuse, answered on the form.

use std::collections::BTreeMap;

use firefighter_core::lifecycle::RefusalReason;
use firefighter_core::{
    CategoryId, ClosureReason, EnvironmentId, Incident, IncidentId, PriorityId, Status, Update,
    UserId,
};
use serde_json::{Value, json};

use super::*;
use crate::models::inbound::ViewSubmission;
use crate::views::{self};
use crate::{Result, Slack};

impl Slack {
    /// The lifecycle's answer to a status change, from core's dry run (the
    /// same facts the command decides from; it decides again when it writes).
    pub(crate) async fn status_refusal(
        &self,
        id: IncidentId,
        to: Status,
        new_priority: Option<PriorityId>,
        message: Option<&str>,
        reason: Option<ClosureReason>,
    ) -> Result<Option<Refusal>> {
        let update = Update {
            status: Some(to),
            priority_id: new_priority,
            message: message.map(str::to_owned),
            closure_reason: reason,
            ..Update::default()
        };
        Ok(self.app()?.check_status_change(id, &update).await?)
    }

    pub(super) async fn submit_update_status(
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

    /// Edit details: title, description, environments (written now).
    pub(super) async fn submit_edit(
        &self,
        payload: &ViewSubmission,
        id: IncidentId,
        by: UserId,
        incident: &Incident,
    ) -> Result<Value> {
        let view = &payload.view;
        let state = &view.state;
        let app = self.app()?;
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
            environment_ids: (!envs.is_empty() && envs != incident.environment_ids).then_some(envs),
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
}
