//! Who a Slack member is for core's one privacy rule ([`Viewer`]): every
//! entry point that lists, shows or changes an incident (commands, buttons,
//! pickers, forms, the home tab, `:mega:`, and submissions when they are
//! applied) asks here first. Nothing here decides who sees what; core does.

use firefighter_core::{IncidentId, UserId, Viewer};

use crate::{Error, Result, Slack};

/// The viewer of someone with no firefighter account: a user id nobody has,
/// so no private incident lists them as a member and they see public ones only.
const NOBODY: Viewer = Viewer::Member(UserId(uuid::Uuid::nil()));

impl Slack {
    /// The viewer behind a Slack member: their firefighter user (linked on
    /// first sight, as for every other action). Someone without an account
    /// (outside the workspace, no e-mail visible to the app) is a viewer
    /// who is a member of nothing.
    pub(crate) async fn viewer(&self, slack_user: &str) -> Result<Viewer> {
        match self.user_for(slack_user).await {
            Ok(user) => Ok(Viewer::person(&user)),
            Err(Error::BadRequest(_) | Error::Core(firefighter_core::Error::Invalid(_))) => {
                Ok(NOBODY)
            }
            Err(e) => Err(e),
        }
    }

    /// The viewer behind a Slack member, once core's rule lets them see (and
    /// so act on) the incident; [`Error::NotMember`] when it does not.
    pub(crate) async fn viewer_of_incident(
        &self,
        slack_user: &str,
        id: IncidentId,
    ) -> Result<Viewer> {
        let viewer = self.viewer(slack_user).await?;
        let details = self.app()?.incident_details(id).await?;
        if viewer.can_see(&details) {
            Ok(viewer)
        } else {
            Err(Error::NotMember(id))
        }
    }
}
