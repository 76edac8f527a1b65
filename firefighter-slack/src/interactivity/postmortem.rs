//! The post-mortem recap: each document and its state; the "create now"
//! button, recorded before the acknowledgement and applied after it.

use firefighter_core::lifecycle::PostMortemState;
use firefighter_core::{IncidentId, Status};
use serde_json::Value;

use crate::ids::action;
use crate::models::inbound::BlockActions;
use crate::views::{self, DocumentLine};
use crate::{Result, Slack};

impl Slack {
    /// The recap of the incident's post-mortem documents.
    pub(crate) async fn postmortem_view(&self, id: IncidentId) -> Result<Value> {
        let app = self.app()?;
        let incident = app.incident(id).await?;
        let catalog = app.catalog().await?;
        let documents = app.postmortems(id).await?;
        let states = app.postmortem_states(&incident).await;
        let state_of = |backend: &str| {
            states
                .iter()
                .find(|(b, _)| b == backend)
                .map(|(_, s)| match s {
                    PostMortemState::Ready => "ready".to_owned(),
                    PostMortemState::NotReady(s) => s.clone(),
                    PostMortemState::Unknown(e) => format!("unknown ({e})"),
                    PostMortemState::Missing => "not created yet".to_owned(),
                    PostMortemState::NoBackend => "announced".to_owned(),
                })
                .unwrap_or_else(|| "announced".to_owned())
        };
        let backends = app.postmortem_backends();
        let mut lines: Vec<DocumentLine> = documents
            .iter()
            .map(|d| DocumentLine {
                backend: d.backend.clone(),
                url: d.url.clone(),
                state: state_of(&d.backend),
            })
            .collect();
        for (backend, url) in self.postmortem_links(id).await? {
            if !lines.iter().any(|l| l.backend == backend) {
                let state = state_of(&backend);
                lines.push(DocumentLine {
                    backend,
                    url,
                    state,
                });
            }
        }
        let can_create = incident.status >= Status::Mitigated
            && backends
                .iter()
                .any(|b| !documents.iter().any(|d| &d.backend == b));
        Ok(views::postmortem(
            &incident,
            app.postmortem_required(&catalog, &incident),
            &lines,
            !backends.is_empty(),
            can_create,
        ))
    }

    /// (backend, link) of every post-mortem document: those recorded in core,
    /// then those a backend only announced (`PostMortemCreated`).
    pub(crate) async fn postmortem_links(&self, id: IncidentId) -> Result<Vec<(String, String)>> {
        let events = self.core().incident_events(id).await?;
        self.postmortem_links_among(id, &events).await
    }

    /// [`Slack::postmortem_links`] with the incident's events already read.
    pub(crate) async fn postmortem_links_among(
        &self,
        id: IncidentId,
        events: &[firefighter_core::event::StoredEvent],
    ) -> Result<Vec<(String, String)>> {
        let mut links: Vec<(String, String)> = self
            .app()?
            .postmortems(id)
            .await?
            .into_iter()
            .map(|d| (d.backend, d.url))
            .collect();
        for e in events {
            if let firefighter_core::IncidentEvent::PostMortemCreated { backend, url } = &e.event
                && !links.iter().any(|(b, _)| b == backend)
            {
                links.push((backend.clone(), url.clone()));
            }
        }
        Ok(links)
    }

    /// Records a "create the post-mortem now" click before the
    /// acknowledgement (`None`: not that button).
    pub(crate) async fn record_postmortem_creation(
        &self,
        payload: &BlockActions,
    ) -> Option<Result<crate::submissions::Recorded>> {
        let action = payload.actions.first()?;
        if action.action_id != action::CREATE_POSTMORTEM {
            return None;
        }
        let incident = action.chosen().and_then(|v| v.parse::<i64>().ok())?;
        let work = crate::submissions::PostMortemWork {
            incident: IncidentId(incident),
            view_id: payload.view.as_ref().map(|v| v.id.clone()),
            channel: payload.channel.as_ref().map(|c| c.id.clone()),
        };
        Some(
            self.record_submission(
                crate::submissions::kind::POSTMORTEM,
                &work,
                &payload.user.id,
            )
            .await,
        )
    }

    /// Creates the post-mortem (once, however often the click is replayed)
    /// and shows the recap again.
    pub(crate) async fn redo_postmortem_creation(
        &self,
        w: &crate::submissions::PostMortemWork,
        slack_user: &str,
    ) -> Result<()> {
        self.viewer_of_incident(slack_user, w.incident).await?;
        let by = self.user_for(slack_user).await?;
        self.app()?
            .create_postmortem(w.incident, Some(by.id))
            .await?;
        if let Some(view) = &w.view_id {
            let recap = self.postmortem_view(w.incident).await?;
            if let Err(e) = self.api().update_view(view, None, &recap).await {
                // The modal may have been closed meanwhile; the channel shows the link anyway.
                tracing::debug!(error = %e, "post-mortem recap not refreshed");
            }
        }
        Ok(())
    }
}
