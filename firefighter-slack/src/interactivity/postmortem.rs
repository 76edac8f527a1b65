//! The post-mortem recap: documents announced by the post-mortem backends.

use firefighter_core::IncidentId;

use crate::{Result, Slack};

impl Slack {
    /// Post-mortem documents announced by backends (`PostMortemCreated` events).
    pub(crate) async fn postmortem_documents(
        &self,
        id: IncidentId,
    ) -> Result<Vec<(String, String)>> {
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
}
