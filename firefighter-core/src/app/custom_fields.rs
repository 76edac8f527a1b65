//! Integration-owned facts about an incident (`custom_fields`: a ticket's
//! key and link, ...), written with their timeline entry in one transaction.

use crate::store::{IncidentChange, STALE_VERSION, now};
use crate::timeline::event_type;
use crate::{Error, IncidentId, Result, TimelineEntry, UpdateId};

use super::Firefighter;

impl Firefighter {
    /// Sets these keys of the incident's `custom_fields` (others are kept)
    /// and records `message` on its timeline (a system entry of type
    /// `custom_fields`), in one transaction, retrying a lost race on the
    /// incident's version. `Ok(false)` when every key already holds its
    /// value: nothing is written, so recording the same facts again (a
    /// retried delivery) adds no second timeline entry.
    pub async fn set_custom_fields(
        &self,
        id: IncidentId,
        fields: serde_json::Map<String, serde_json::Value>,
        message: &str,
    ) -> Result<bool> {
        self.set_custom_fields_and_publish(id, fields, message, Vec::new())
            .await
    }

    /// [`Firefighter::set_custom_fields`] that also publishes `events` in the
    /// same transaction (a [`crate::IncidentEvent::LinkAdded`] for chat
    /// integrations to bookmark), only when something was written.
    pub async fn set_custom_fields_and_publish(
        &self,
        id: IncidentId,
        fields: serde_json::Map<String, serde_json::Value>,
        message: &str,
        events: Vec<crate::IncidentEvent>,
    ) -> Result<bool> {
        if fields.is_empty() {
            return Err(Error::invalid("fields", "at least one field is required"));
        }
        if let Some(key) = fields.keys().find(|k| k.trim().is_empty()) {
            return Err(Error::invalid(
                "fields",
                format!("\"{key}\" is not a field name"),
            ));
        }
        for _ in 0..5 {
            let incident = self.incident(id).await?;
            if fields
                .iter()
                .all(|(k, v)| incident.custom_fields.get(k) == Some(v))
            {
                return Ok(false);
            }
            let at = now();
            let mut change = IncidentChange::from(&incident, self.subscribers());
            change.incident.updated_at = at;
            for (k, v) in &fields {
                change.incident.custom_fields.insert(k.clone(), v.clone());
            }
            change.timeline.push(TimelineEntry {
                id: UpdateId::new(),
                incident_id: id,
                created_by: None,
                created_at: at,
                event_ts: at,
                event_type: Some(event_type::CUSTOM_FIELDS.to_owned()),
                message: Some(message.to_owned()),
                status: None,
                changes: Vec::new(),
            });
            change.events = events.clone();
            match self.inner.store.apply(change).await {
                Ok(_) => {
                    self.committed();
                    return Ok(true);
                }
                Err(Error::Conflict(m)) if m.contains(STALE_VERSION) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "incident {id} {STALE_VERSION} too often; try again"
        )))
    }
}
