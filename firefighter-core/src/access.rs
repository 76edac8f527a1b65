//! What the server keeps about access: API tokens, login sessions, the
//! responses of idempotent requests, and when reference rows changed. Core
//! stores them; it does not know how they travel (that is the server's job).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{CategoryId, CostTypeId, GroupId, PriorityId, UserId};

crate::id::uuid_id!(
    /// Identifies an [`ApiToken`].
    ApiTokenId
);

/// An API token (its secret value is never stored, only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Identifier.
    pub id: ApiTokenId,
    /// Whose token it is; calls made with it act as this user.
    pub user_id: UserId,
    /// What it is for (shown in lists).
    pub name: String,
    /// The first characters of the token, to recognise it in lists.
    pub prefix: String,
    /// What it allows (`incidents:read`, `incidents:write`, ...).
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last used (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    /// Whether it can be used at `now`.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// A login session (its id is never stored, only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 (hex) of the session id held by the browser.
    pub id_hash: String,
    /// Who is logged in.
    pub user_id: UserId,
    /// The synchronizer token forms of this session must send back.
    pub csrf_token: String,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// The response stored for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// Status code.
    pub status: u16,
    /// Media type of the body.
    pub content_type: String,
    /// Body.
    pub body: String,
}

/// What [`crate::Store::begin_idempotent`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key is new: the request runs, then its response is stored.
    Started,
    /// The same request was already answered: replay this.
    Replay(StoredResponse),
    /// The key was used with another request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
    /// The first request with this key was never answered (its instance
    /// died, or it outlived its lease): the key is this request's now, and
    /// it runs again. Whatever the first one changed was recorded under the
    /// same key, so the change is applied once.
    Resumed,
}

/// When a reference row was created and last changed (unknown for rows
/// written before this was recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordTimes {
    /// Creation.
    pub created_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
}

/// [`RecordTimes`] of the reference tables the API shows them for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogTimes {
    /// Priorities.
    pub priorities: HashMap<PriorityId, RecordTimes>,
    /// Groups.
    pub groups: HashMap<GroupId, RecordTimes>,
    /// Categories.
    pub categories: HashMap<CategoryId, RecordTimes>,
    /// Cost types.
    pub cost_types: HashMap<CostTypeId, RecordTimes>,
}

/// Who is looking at incidents, for the one privacy rule every door (web,
/// API, Slack) applies: a private incident is seen by its members and by
/// staff, a public one by everybody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Sees every incident: staff, admins, tokens allowed to read private
    /// incidents, and firefighter itself (tasks, handlers).
    Everything,
    /// Sees public incidents and the private ones this user is a member of.
    Member(UserId),
}

impl Viewer {
    /// The viewer a person is: active staff and admins see everything; a
    /// deactivated account keeps no privilege.
    pub fn person(user: &crate::User) -> Self {
        if user.is_active && (user.is_staff || user.is_admin) {
            Self::Everything
        } else {
            Self::Member(user.id)
        }
    }

    /// Whether this viewer may see (and so act on) the incident.
    pub fn can_see(&self, details: &crate::IncidentDetails) -> bool {
        self.can_see_incident(&details.incident, &details.members)
    }

    /// [`Viewer::can_see`] from an incident and its member list.
    pub fn can_see_incident(&self, incident: &crate::Incident, members: &[UserId]) -> bool {
        match self {
            Self::Everything => true,
            Self::Member(user) => !incident.private || members.contains(user),
        }
    }

    /// The value of [`IncidentFilter::visible_to`](crate::IncidentFilter::visible_to)
    /// that lists what this viewer may see.
    pub fn filter(&self) -> Option<UserId> {
        match self {
            Self::Everything => None,
            Self::Member(user) => Some(*user),
        }
    }
}

#[cfg(test)]
mod viewer_tests {
    use super::Viewer;
    use crate::{User, UserId};

    fn user(staff: bool, admin: bool) -> User {
        User {
            id: UserId::new(),
            email: "a@example.com".into(),
            name: "A".into(),
            is_active: true,
            is_staff: staff,
            is_admin: admin,
            bot: false,
            avatar: None,
            identities: Default::default(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn staff_and_admins_see_everything_others_see_as_members() {
        assert_eq!(Viewer::person(&user(true, false)), Viewer::Everything);
        assert_eq!(Viewer::person(&user(false, true)), Viewer::Everything);
        let person = user(false, false);
        assert_eq!(Viewer::person(&person), Viewer::Member(person.id));
        assert_eq!(Viewer::person(&person).filter(), Some(person.id));
        assert_eq!(Viewer::Everything.filter(), None);
        let mut former = user(true, true);
        former.is_active = false;
        assert_eq!(Viewer::person(&former), Viewer::Member(former.id));
    }
}
