//! Setting the key events people may edit.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::error::Validation;
use crate::store::{IncidentChange, now};
use crate::timeline::{FieldChange, field};
use crate::{
    Error, Incident, IncidentEvent, IncidentId, KeyEvent, Result, TimelineEntry, UpdateId, UserId,
    key_event,
};

use super::Firefighter;

impl Firefighter {
    /// Sets (`Some(time)`) or clears (`None`) key events that people may edit.
    pub async fn set_key_events(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        key_events: BTreeMap<String, Option<DateTime<Utc>>>,
    ) -> Result<Incident> {
        self.with_retries(|| self.try_set_key_events(id, by, &key_events, None))
            .await
    }

    /// [`Firefighter::set_key_events`] once per `request_key`: a repeat
    /// (its first answer was lost, even to a crash after the commit)
    /// changes nothing and returns the incident.
    pub async fn set_key_events_once(
        &self,
        id: IncidentId,
        request_key: &str,
        by: Option<UserId>,
        key_events: BTreeMap<String, Option<DateTime<Utc>>>,
    ) -> Result<Incident> {
        self.with_retries(|| self.try_set_key_events(id, by, &key_events, Some(request_key)))
            .await
    }

    async fn try_set_key_events(
        &self,
        id: IncidentId,
        by: Option<UserId>,
        key_events: &BTreeMap<String, Option<DateTime<Utc>>>,
        request_key: Option<&str>,
    ) -> Result<Incident> {
        let catalog = self.catalog().await?;
        let details = self.incident_details(id).await?;
        // Read after the incident, as `update_once` does.
        if let Some(key) = request_key
            && self.already_applied(id, key).await?
        {
            return Ok(details.incident);
        }
        let mut v = Validation::default();
        if let Some(by) = by {
            self.validate_user(&mut v, "by", by).await?;
        }
        let at = now();
        let mut change = IncidentChange::from(&details.incident, self.subscribers());
        change.request_key = request_key.map(str::to_owned);
        let mut entries = Vec::new();
        for (slug, when) in key_events {
            match catalog
                .milestone_types
                .iter()
                .find(|m| &m.event_type == slug)
            {
                None => {
                    v.push(
                        format!("key_events.{slug}"),
                        format!("key event {slug} does not exist"),
                    );
                    continue;
                }
                Some(m) if !m.user_editable => {
                    v.push(
                        format!("key_events.{slug}"),
                        format!("key event {slug} is set by the system"),
                    );
                    continue;
                }
                Some(_) => {}
            }
            let when = when.map(crate::store::truncate_micros);
            if let Some(problem) = when
                .and_then(|t| key_event::range_problem(slug, t, details.incident.created_at, at))
            {
                v.push(format!("key_events.{slug}"), problem);
                continue;
            }
            let current = details
                .key_events
                .iter()
                .find(|k| &k.event_type == slug)
                .map(|k| k.at);
            if current == when {
                continue;
            }
            match when {
                Some(t) => change.key_events_set.push(KeyEvent {
                    event_type: slug.clone(),
                    at: t,
                    recorded_by: by,
                }),
                None => change.key_events_cleared.push(slug.clone()),
            }
            entries.push(TimelineEntry {
                id: UpdateId::new(),
                incident_id: id,
                created_by: by,
                created_at: at,
                event_ts: when.unwrap_or(at),
                event_type: Some(slug.clone()),
                message: None,
                status: None,
                changes: vec![FieldChange::new(
                    format!("{}{slug}", field::KEY_EVENT_PREFIX),
                    current.map(|t| t.to_rfc3339()),
                    when.map(|t| t.to_rfc3339()),
                )],
            });
        }
        // The key events as they would be, in the order metrics need.
        let mut resulting: BTreeMap<String, DateTime<Utc>> = details
            .key_events
            .iter()
            .map(|k| (k.event_type.clone(), k.at))
            .collect();
        for k in &change.key_events_set {
            resulting.insert(k.event_type.clone(), k.at);
        }
        for slug in &change.key_events_cleared {
            resulting.remove(slug);
        }
        let changed = |slug: &str| key_events.contains_key(slug);
        for (slug, problem) in key_event::order_problems(&resulting, changed) {
            v.push(format!("key_events.{slug}"), problem);
        }
        v.finish()?;
        if entries.is_empty() {
            return Err(Error::invalid(
                "key_events",
                "nothing to update: the key events already have these values",
            ));
        }
        change.incident.updated_at = at;
        change.timeline = entries;
        change.events.push(IncidentEvent::KeyEventsUpdated);
        let stored = self.inner.store.apply(change).await?;
        self.committed();
        Ok(stored)
    }
}
