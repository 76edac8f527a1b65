//! Closing: the close modal and the closure-reason modal of an early closure.

use std::collections::BTreeMap;

use firefighter_core::{CategoryId, ClosureReason, Incident, IncidentId, Status, Update, UserId};
use serde_json::Value;

use super::*;
use crate::models::inbound::ViewSubmission;
use crate::{Result, Slack};

impl Slack {
    /// Why closing is refused now, one sentence per reason (`None`: it can be closed).
    pub(crate) async fn closing_refusal(&self, id: IncidentId) -> Result<Option<Vec<String>>> {
        Ok(self
            .status_refusal(id, Status::Closed, None, Some("closing"), None)
            .await?
            .map(|r| r.messages()))
    }

    /// Whether closing this incident now is an early closure (needs a reason).
    pub(super) async fn closing_needs_reason(&self, id: IncidentId) -> Result<bool> {
        Ok(self.app()?.closing_needs_reason(id).await?)
    }

    /// The close modal: closes when the lifecycle allows it (written after the acknowledgement).
    pub(super) async fn submit_close(
        &self,
        payload: &ViewSubmission,
        id: IncidentId,
        by: UserId,
        incident: &Incident,
    ) -> Result<Value> {
        let view = &payload.view;
        let state = &view.state;
        let _app = self.app()?;
        let category: Option<CategoryId> = state.single("category").and_then(|c| c.parse().ok());
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

    /// The closure-reason modal: an early closure with its reason.
    pub(super) async fn submit_closure_reason(
        &self,
        payload: &ViewSubmission,
        id: IncidentId,
        by: UserId,
        _incident: &Incident,
    ) -> Result<Value> {
        let view = &payload.view;
        let state = &view.state;
        let _app = self.app()?;
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
}
