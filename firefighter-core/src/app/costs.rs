//! Recording costs.

use crate::error::Validation;
use crate::event::UpdateKind;
use crate::store::{IncidentChange, now};
use crate::timeline::{FieldChange, event_type};
use crate::{
    CostId, CostTypeId, IncidentCost, IncidentEvent, IncidentId, Result, TimelineEntry, UpdateId,
    UserId,
};

use super::Firefighter;

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
            id: CostId::new(),
            incident_id: id,
            cost_type_id,
            amount_cents,
            details: details_text.trim().to_owned(),
            created_at: at,
        };
        let mut change = IncidentChange::from(&incident, self.subscribers());
        change.incident.updated_at = at;
        change.costs_added.push(cost.clone());
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
