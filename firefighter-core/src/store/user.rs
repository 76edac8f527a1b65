//! Users, their identities on other platforms and their passwords.

use async_trait::async_trait;

use crate::{NewUser, Result, User, UserId};

/// A user to create, or to refresh by e-mail, in a batch ([`UserStore::upsert_users`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserUpsert {
    /// The e-mail (the key).
    pub email: crate::Email,
    /// Name.
    pub name: String,
    /// Avatar.
    pub avatar: Option<String>,
    /// Link to a platform: (platform, external id), moved from whoever held it.
    pub identity: Option<(String, String)>,
}

/// Users: created, found (by id, e-mail or platform identity), updated in batches.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait UserStore: Send + Sync + std::fmt::Debug + 'static {
    /// Creates a user; [`crate::Error::Conflict`] if the e-mail is taken.
    async fn create_user(&self, user: &NewUser) -> Result<User>;
    /// A user by id.
    async fn user(&self, id: UserId) -> Result<Option<User>>;
    /// A user by e-mail (case-insensitive).
    async fn user_by_email(&self, email: &str) -> Result<Option<User>>;
    /// The user with `new`'s e-mail, created from `new` when there is none
    /// (and `true` then). A concurrent creation of the same e-mail (another
    /// request, another instance) yields that user.
    async fn user_by_email_or_create(&self, new: &NewUser) -> Result<(User, bool)> {
        if let Some(user) = self.user_by_email(new.email.as_str()).await? {
            return Ok((user, false));
        }
        match self.create_user(new).await {
            Ok(user) => Ok((user, true)),
            Err(crate::Error::Conflict(reason)) => self
                .user_by_email(new.email.as_str())
                .await?
                .map(|user| (user, false))
                .ok_or(crate::Error::Conflict(reason)),
            Err(e) => Err(e),
        }
    }
    /// Users by ids (missing ids are left out), in any order.
    async fn users(&self, ids: &[UserId]) -> Result<Vec<User>>;
    /// Every user, by e-mail.
    async fn list_users(&self) -> Result<Vec<User>>;
    /// The user linked to `external_id` on `platform`.
    async fn user_by_identity(&self, platform: &str, external_id: &str) -> Result<Option<User>>;
    /// Links (or relinks) a user to its id on `platform`.
    async fn set_identity(&self, user: UserId, platform: &str, external_id: &str) -> Result<()>;
    /// Updates name, flags and avatar of a user.
    async fn update_user(&self, user: &User) -> Result<()>;
    /// Creates users, or refreshes the name and avatar of those whose e-mail
    /// exists, and links their identities: multi-row inserts, one transaction
    /// per chunk. Returns each user's id, in input order (a repeated e-mail
    /// counts once, its last occurrence wins).
    async fn upsert_users(&self, users: &[UserUpsert]) -> Result<Vec<UserId>>;
    /// Sets (or clears) the password hash of a user.
    async fn set_password_hash<'a>(&self, user: UserId, hash: Option<&'a str>) -> Result<()>;
    /// Sets the password hash of a user who has none; false when one was
    /// already set (by another instance starting at the same time, say).
    async fn set_first_password_hash(&self, user: UserId, hash: &str) -> Result<bool>;
    /// The password hash of a user.
    async fn password_hash(&self, user: UserId) -> Result<Option<String>>;
}
