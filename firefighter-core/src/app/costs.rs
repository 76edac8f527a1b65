//! Recording costs.

use crate::error::Validation;
use crate::event::UpdateKind;
use crate::store::{IncidentChange, now};
use crate::timeline::{FieldChange, event_type};
use crate::{
    CostId, CostTypeId, Error, IncidentCost, IncidentEvent, IncidentId, Result, TimelineEntry,
    UpdateId, UserId,
};

use super::Firefighter;

/// Namespace of the cost ids derived from request keys.
const COST_KEYS: uuid::Uuid = uuid::Uuid::from_u128(0x5f1c_0c05_7a11_4b8e_9d2e_c057_0f1d_e0a1);

impl Firefighter {
    /// Records a cost on an incident (amount in cents; `None` when not known yet).
    pub async fn add_cost(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        cost_type_id: CostTypeId,
        amount_cents: Option<i64>,
        details_text: &str,
    ) -> Result<IncidentCost> {
        self.record_cost(id, by, cost_type_id, amount_cents, details_text, None)
            .await
    }

    /// [`Firefighter::add_cost`] once per request `key` (a caller that may
    /// send it twice, as an API retry whose answer was lost): a repeat
    /// returns the cost recorded the first time and records nothing.
    pub async fn add_cost_once(
        &self,
        id: IncidentId,
        key: &str,
        by: Option<UserId>,
        cost_type_id: CostTypeId,
        amount_cents: Option<i64>,
        details_text: &str,
    ) -> Result<IncidentCost> {
        self.record_cost(id, by, cost_type_id, amount_cents, details_text, Some(key))
            .await
    }

    async fn record_cost(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        cost_type_id: CostTypeId,
        amount_cents: Option<i64>,
        details_text: &str,
        request_key: Option<&str>,
    ) -> Result<IncidentCost> {
        // The id follows from the key, so a repeat finds the first one.
        let cost_id = match request_key {
            Some(key) => CostId(uuid::Uuid::new_v5(&COST_KEYS, key.as_bytes())),
            None => CostId::new(),
        };
        if let Some(key) = request_key
            && self.already_applied(id, key).await?
        {
            let details = self.incident_details(id).await?;
            return details
                .costs
                .into_iter()
                .find(|c| c.id == cost_id)
                .ok_or_else(|| {
                    Error::invalid(
                        "request_key",
                        "this request key was used for another change",
                    )
                });
        }
        let catalog = self.catalog().await?;
        let mut v = Validation::default();
        let cost_type = catalog.cost_types.iter().find(|c| c.id == cost_type_id);
        if cost_type.is_none() {
            v.push(
                "cost_type_id",
                format!("cost type {cost_type_id} does not exist"),
            );
        }
        if amount_cents.is_some_and(|a| a < 0) {
            v.push("amount", "an amount cannot be negative");
        }
        if details_text.chars().count() > 2000 {
            v.push("details", "details must be at most 2,000 characters long");
        }
        if let Some(by) = by {
            self.validate_user(&mut v, "by", by).await?;
        }
        v.finish()?;
        let cost_type = cost_type.expect("validated");
        let incident = self.incident(id).await?;
        let at = now();
        let cost = IncidentCost {
            id: cost_id,
            incident_id: id,
            cost_type_id,
            amount_cents,
            details: details_text.trim().to_owned(),
            created_at: at,
        };
        let mut change = IncidentChange::from(&incident, self.subscribers());
        change.incident.updated_at = at;
        change.costs_added.push(cost.clone());
        change.request_key = request_key.map(str::to_owned);
        let entry_id = UpdateId::new();
        change.timeline.push(TimelineEntry {
            id: entry_id,
            incident_id: id,
            created_by: by,
            created_at: at,
            event_ts: at,
            event_type: Some(event_type::COST.to_owned()),
            message: None,
            status: None,
            changes: vec![FieldChange::new(
                format!("cost:{}", cost_type.name),
                None,
                Some(
                    amount_cents
                        .map(crate::cost::format_cents)
                        .unwrap_or_else(|| "unknown".into()),
                ),
            )],
        });
        change.events.push(IncidentEvent::Updated {
            update_id: entry_id,
            update_kind: UpdateKind::Fields,
            changed: vec![format!("cost:{}", cost_type.name)],
            old_priority: None,
            event_type: Some(event_type::COST.to_owned()),
        });
        self.with_retries(|| async { self.inner.store.apply(change.clone()).await })
            .await?;
        self.committed();
        Ok(cost)
    }
}
