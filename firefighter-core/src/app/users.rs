//! Users as commands read them, kept while they cannot have changed.
//!
//! Every change to what a [`User`] holds (name, activity, rights,
//! identities) increments the access version in its own transaction (see
//! [`crate::store::DataVersions`]); creating a user does not, but a user
//! that was not found is never kept. So a user read after the access
//! version was `v` is exactly what a read would give while the version is
//! still `v`, on every instance sharing the database. A declaration reads
//! its declarer this way: on SQLite the version costs no query when
//! nothing was committed since the last read.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Firefighter;
use crate::{Result, User, UserId};

/// Most users kept; the whole set is dropped when it is full.
const MAX_USERS: usize = 4096;

/// Users and the ids of their e-mails, as of one access version.
#[derive(Debug, Default)]
pub(crate) struct KnownUsers {
    inner: Mutex<Known>,
}

#[derive(Debug, Default)]
struct Known {
    access: i64,
    by_id: HashMap<UserId, User>,
    by_email: HashMap<String, UserId>,
}

impl KnownUsers {
    fn get(&self, access: i64, find: impl FnOnce(&Known) -> Option<User>) -> Option<User> {
        let known = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if known.access != access {
            return None;
        }
        find(&known)
    }

    /// Keeps `user`, read after the access version was `access`.
    fn put(&self, access: i64, user: &User) {
        let mut known = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if access < known.access {
            return;
        }
        if access > known.access || known.by_id.len() >= MAX_USERS {
            *known = Known {
                access,
                ..Known::default()
            };
        }
        known.by_email.insert(user.email.clone(), user.id);
        known.by_id.insert(user.id, user.clone());
    }
}

impl Firefighter {
    /// The user with this id, as stored now (see [`KnownUsers`]).
    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        let store = &self.inner.store;
        let access = store.data_versions().await?.access;
        if let Some(user) = self.inner.users.get(access, |k| k.by_id.get(&id).cloned()) {
            return Ok(Some(user));
        }
        let user = store.user(id).await?;
        if let Some(user) = &user {
            self.inner.users.put(access, user);
        }
        Ok(user)
    }

    /// The user with this e-mail (any case), as stored now.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let store = &self.inner.store;
        let access = store.data_versions().await?.access;
        let email = email.to_lowercase();
        let kept = self.inner.users.get(access, |k| {
            k.by_email
                .get(&email)
                .and_then(|id| k.by_id.get(id))
                .cloned()
        });
        if let Some(user) = kept {
            return Ok(Some(user));
        }
        let user = store.user_by_email(&email).await?;
        if let Some(user) = &user {
            self.inner.users.put(access, user);
        }
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(email: &str) -> User {
        User {
            id: UserId::new(),
            email: email.into(),
            name: "Jane".into(),
            is_active: true,
            is_staff: false,
            is_admin: false,
            bot: false,
            avatar: None,
            identities: Default::default(),
            created_at: crate::clock::now(),
        }
    }

    #[test]
    fn users_are_kept_for_their_access_version_only() {
        let known = KnownUsers::default();
        let jane = user("jane@example.com");
        known.put(3, &jane);
        let by_email = |k: &Known| {
            k.by_email
                .get("jane@example.com")
                .and_then(|id| k.by_id.get(id))
                .cloned()
        };
        assert_eq!(
            known.get(3, |k| k.by_id.get(&jane.id).cloned()),
            Some(jane.clone())
        );
        assert_eq!(known.get(3, by_email), Some(jane.clone()));
        assert_eq!(known.get(4, |k| k.by_id.get(&jane.id).cloned()), None);
        // Read at an older version than one already seen: not kept.
        known.put(4, &user("john@example.com"));
        known.put(3, &jane);
        assert_eq!(known.get(4, |k| k.by_id.get(&jane.id).cloned()), None);
    }
}
