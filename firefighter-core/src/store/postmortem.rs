//! Post-mortem documents and the written parts of the built-in one.

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use crate::postmortem::{FollowUpAction, PostMortem, PostMortemNotes, SectionsEdit};
use crate::{IncidentEvent, IncidentId, Result, TimelineEntry, UserId};

/// A [`crate::postmortem::PostMortemEdit`], checked and ready to write.
#[derive(Debug, Clone)]
pub struct PostMortemWrite {
    /// The incident.
    pub incident: IncidentId,
    /// Who writes.
    pub by: Option<UserId>,
    /// The written sections to save (those not given keep their text).
    pub sections: Option<SectionsEdit>,
    /// The follow-up action to add.
    pub add_action: Option<FollowUpAction>,
    /// Follow-up actions marked done (`true`) or not, in this order.
    pub done: Vec<(Uuid, bool)>,
    /// Follow-up actions to remove.
    pub removed: Vec<Uuid>,
    /// The built-in document's ready mark, and the timeline entry written
    /// when the mark changes.
    pub ready: Option<(bool, TimelineEntry)>,
    /// Recorded in the same transaction: a repeat under this key writes nothing.
    pub request_key: Option<String>,
}

/// Post-mortems: each write is one transaction, with its timeline entries
/// and events when it has some.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait PostMortemStore: Send + Sync + std::fmt::Debug + 'static {
    /// The incident's post-mortem documents, oldest first.
    async fn postmortems(&self, incident: IncidentId) -> Result<Vec<PostMortem>>;
    /// The post-mortem documents of these incidents.
    async fn postmortems_of(&self, incidents: &[IncidentId]) -> Result<Vec<PostMortem>>;
    /// Marks a document ready (or not), with its timeline entry and events;
    /// false when it does not exist or already had that mark.
    async fn set_postmortem_ready(
        &self,
        incident: IncidentId,
        backend: &str,
        ready: bool,
        timeline: Vec<TimelineEntry>,
        events: Vec<IncidentEvent>,
        subscribers: Arc<[String]>,
    ) -> Result<bool>;
    /// The written sections of the built-in post-mortem.
    async fn postmortem_notes(&self, incident: IncidentId) -> Result<Option<PostMortemNotes>>;
    /// Saves the written sections (replacing the earlier ones).
    async fn save_postmortem_notes(
        &self,
        incident: IncidentId,
        notes: &PostMortemNotes,
        by: Option<UserId>,
    ) -> Result<()>;
    /// The follow-up actions, in the order they were added.
    async fn follow_up_actions(&self, incident: IncidentId) -> Result<Vec<FollowUpAction>>;
    /// Adds a follow-up action.
    async fn add_follow_up_action(&self, action: &FollowUpAction) -> Result<()>;
    /// Marks a follow-up action done or not; false when it is not the incident's.
    async fn set_follow_up_action_done(
        &self,
        incident: IncidentId,
        action: Uuid,
        done: bool,
    ) -> Result<bool>;
    /// Removes a follow-up action; false when it is not the incident's.
    async fn delete_follow_up_action(&self, incident: IncidentId, action: Uuid) -> Result<bool>;
    /// Writes every part of `edit` in one transaction: a follow-up action
    /// that is not the incident's fails it all (not found). False when its
    /// request key was recorded already (nothing is written again); an
    /// error when that key belongs to another incident.
    async fn edit_postmortem(&self, edit: PostMortemWrite) -> Result<bool>;
}
