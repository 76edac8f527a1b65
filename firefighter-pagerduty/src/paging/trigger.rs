//! The call that pages: an Events API v2 event for services with a routing
//! key, otherwise a REST incident (with the details as a note).

use firefighter_core::{Firefighter, IncidentId};

use crate::models::{ConferenceBridge, Event, EventLink, EventPayload, NewIncident, Reference};
use crate::store::{PageRow, SentPage, ServiceRow};
use crate::{Error, PagerDuty, Result};

impl PagerDuty {
    pub(super) async fn send(
        &self,
        app: &Firefighter,
        row: &PageRow,
        service: &ServiceRow,
    ) -> Result<SentPage> {
        if row.api == "events" {
            let Some(routing_key) = self.config.routing_key(&row.service_id) else {
                return Err(Error::Config(format!(
                    "service {} has no Events API key in PAGERDUTY_ROUTING_KEYS any more",
                    row.service_id
                )));
            };
            use secrecy::ExposeSecret;
            let settings = app.settings();
            let mut links = Vec::new();
            if let Some(id) = row.incident_id {
                links.push(EventLink {
                    href: settings.incident_url(IncidentId(id)),
                    text: format!("{} incident #{id}", settings.app_display_name),
                });
            }
            if !row.conference_url.is_empty() && !links.iter().any(|l| l.href == row.conference_url)
            {
                links.push(EventLink {
                    href: row.conference_url.clone(),
                    text: "Where responders meet".into(),
                });
            }
            let event = Event {
                routing_key: routing_key.expose_secret().to_owned(),
                event_action: "trigger",
                dedup_key: row.page_key.clone(),
                payload: EventPayload {
                    summary: row.title.clone(),
                    source: settings.base_url().to_owned(),
                    severity: "critical",
                    custom_details: Some(serde_json::json!({ "details": row.details })),
                },
                client: Some(settings.app_display_name.clone()),
                client_url: Some(settings.base_url().to_owned()),
                links,
            };
            self.events.enqueue(&event).await?;
            return Ok(SentPage {
                pagerduty_status: Some("triggered".into()),
                web_url: Some(service.web_url.clone()).filter(|u| !u.is_empty()),
                ..SentPage::default()
            });
        }
        let incident = NewIncident {
            kind: "incident",
            title: row.title.clone(),
            service: Reference::to("service_reference", &row.service_id),
            urgency: "high",
            incident_key: row.page_key.clone(),
            // The details go in a note: the official schema types
            // `incident.body.details` as an object while the API takes text,
            // and a note is valid for both.
            body: None,
            conference_bridge: (!row.conference_url.is_empty()).then(|| ConferenceBridge {
                conference_url: row.conference_url.clone(),
            }),
        };
        let created = match self.rest.create_incident(incident).await {
            Ok(created) => {
                if !row.details.trim().is_empty()
                    && let Err(e) = self.rest.add_note(&created.id, &row.details).await
                {
                    // The page is sent; only the details are missing from PagerDuty.
                    tracing::warn!(page = %row.page_key, error = %e, "paged, but could not add the details as a note");
                }
                created
            }
            // An earlier attempt may have created it and lost the answer:
            // PagerDuty then refuses the same incident_key.
            Err(e @ Error::Api { status: 400, .. }) => {
                match self
                    .rest
                    .incident_by_key(&row.service_id, &row.page_key)
                    .await
                {
                    Ok(Some(found)) => found,
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        Ok(SentPage {
            pagerduty_incident_id: Some(created.id),
            incident_number: created.incident_number,
            pagerduty_status: created.status,
            web_url: created.html_url,
            api_url: created.api_url,
        })
    }
}
