//! Slack members ↔ firefighter users: a member is linked by e-mail and the
//! link is kept as the user's `slack` identity.

use firefighter_core::{Email, NewUser, User, UserId};

use crate::models::api::Member;
use crate::store::SlackUserRow;
use crate::{Error, Result, Slack};

/// The identity platform name of Slack ids in core.
pub const PLATFORM: &str = "slack";

impl Slack {
    /// The firefighter user id behind a Slack member (cached once linked).
    pub(crate) async fn user_id_for(&self, slack_id: &str) -> Result<UserId> {
        if let Some(id) = self
            .inner
            .user_ids
            .lock()
            .expect("user cache")
            .get(slack_id)
        {
            return Ok(*id);
        }
        let user = self.user_for(slack_id).await?;
        self.inner
            .user_ids
            .lock()
            .expect("user cache")
            .insert(slack_id.to_owned(), user.id);
        Ok(user.id)
    }

    /// The firefighter user behind a Slack member, linked (or created) on
    /// first sight. Fails with a clear message for someone outside the workspace.
    pub async fn user_for(&self, slack_id: &str) -> Result<User> {
        if let Some(u) = self.core().user_by_identity(PLATFORM, slack_id).await? {
            return Ok(u);
        }
        let member = match self.api().user_info(slack_id).await {
            Ok(m) => m,
            Err(e) if e.is_code("user_not_found") || e.is_code("account_inactive") => {
                return Err(Error::BadRequest(format!(
                    "<@{slack_id}> is not a member of this Slack workspace"
                )));
            }
            Err(e) => return Err(e),
        };
        self.link_member(&member).await
    }

    /// Links (or creates) the firefighter user of a workspace member.
    pub(crate) async fn link_member(&self, member: &Member) -> Result<User> {
        if member.deleted {
            return Err(Error::BadRequest(format!(
                "<@{}> is deactivated in this Slack workspace",
                member.id
            )));
        }
        let Some(email) = member.profile.email.as_deref().filter(|e| !e.is_empty()) else {
            return Err(Error::BadRequest(format!(
                "<@{}> has no e-mail address visible to the app (scope users:read.email)",
                member.id
            )));
        };
        let email = Email::parse(email)?;
        let mut new = NewUser::person(email);
        new.name = Some(member.display_name());
        new.bot = member.is_bot;
        let (user, _) = self.core().user_by_email_or_create(&new).await?;
        if user.identity(PLATFORM) != Some(member.id.as_str()) {
            self.core()
                .set_identity(user.id, PLATFORM, &member.id)
                .await?;
        }
        self.store()
            .upsert_users(&[member_row(member, Some(user.id))])
            .await?;
        Ok(self.core().user(user.id).await?.unwrap_or(user))
    }

    /// The Slack id of a firefighter user, looked up by e-mail (and linked) when unknown.
    pub(crate) async fn slack_id_of(&self, user: UserId) -> Result<Option<String>> {
        let Some(u) = self.core().user(user).await? else {
            return Ok(None);
        };
        if let Some(id) = u.identity(PLATFORM) {
            return Ok(Some(id.to_owned()));
        }
        match self.api().user_by_email(&u.email).await {
            Ok(member) => {
                self.core().set_identity(u.id, PLATFORM, &member.id).await?;
                self.store()
                    .upsert_users(&[member_row(&member, Some(u.id))])
                    .await?;
                Ok(Some(member.id))
            }
            Err(e) if e.is_code("users_not_found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The Slack id a message to `user` can go to: the stored link, else a
    /// look-up by e-mail (linked when it finds a person). `Ok(Err(why))`
    /// when the user cannot be reached in Slack: no member with their
    /// e-mail, deactivated (here or in Slack), a bot.
    pub(crate) async fn reachable_slack_id(
        &self,
        user: &User,
    ) -> Result<std::result::Result<String, String>> {
        // The caller's copy may predate a link or a deactivation.
        let user = self
            .core()
            .user(user.id)
            .await?
            .unwrap_or_else(|| user.clone());
        let who = if user.name.trim().is_empty() {
            user.email.clone()
        } else {
            user.name.clone()
        };
        if user.bot {
            return Ok(Err(format!("{who} is a bot or service account")));
        }
        if !user.is_active {
            return Ok(Err(format!("{who} is deactivated in firefighter")));
        }
        if let Some(id) = user.identity(PLATFORM).filter(|id| !id.is_empty()) {
            return Ok(match self.store().slack_user(id).await? {
                Some(m) if m.deleted => Err(format!("{who} is deactivated in Slack")),
                Some(m) if m.is_bot => Err(format!("{who} is a bot in Slack")),
                _ => Ok(id.to_owned()),
            });
        }
        let member = match self.api().user_by_email(&user.email).await {
            Ok(m) => m,
            Err(e) if e.is_code("users_not_found") => {
                return Ok(Err(format!(
                    "{who} has no Slack account (no member has the e-mail {})",
                    user.email
                )));
            }
            Err(e) => return Err(e),
        };
        if member.deleted {
            return Ok(Err(format!("{who} is deactivated in Slack")));
        }
        if member.is_bot || member.is_app_user {
            return Ok(Err(format!("{who} is a bot in Slack")));
        }
        self.core()
            .set_identity(user.id, PLATFORM, &member.id)
            .await?;
        self.store()
            .upsert_users(&[member_row(&member, Some(user.id))])
            .await?;
        Ok(Ok(member.id))
    }

    /// How to mention a firefighter user in Slack (`<@U...>` or their name).
    pub(crate) async fn mention(&self, user: UserId) -> String {
        match self.core().user(user).await {
            Ok(Some(u)) => match u.identity(PLATFORM) {
                Some(id) => format!("<@{id}>"),
                None => u.name.clone(),
            },
            _ => "someone".to_owned(),
        }
    }
}

/// Our row of a workspace member.
pub(crate) fn member_row(member: &Member, user: Option<UserId>) -> SlackUserRow {
    SlackUserRow {
        slack_id: member.id.clone(),
        user_id: user.map(|u| u.0),
        team_id: member.team_id.clone(),
        handle: member.name.clone(),
        name: member.display_name(),
        email: member.profile.email.clone().map(|e| e.to_lowercase()),
        image: member.profile.image_72.clone(),
        is_bot: member.is_bot,
        deleted: member.deleted,
        updated_at: firefighter_core::store::now(),
    }
}
