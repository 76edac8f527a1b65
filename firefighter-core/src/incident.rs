//! The incident and its validated fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    CategoryId, ClosureReason, EnvironmentId, Error, IncidentCost, IncidentId, KeyEvent,
    PriorityId, Result, RoleAssignment, Status, UserId,
};

/// Declares a validated text newtype with length limits (in characters, trimmed).
macro_rules! bounded_text {
    ($(#[$meta:meta])* $name:ident, $field:literal, $min:expr, $max:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Smallest accepted length, in characters.
            pub const MIN_CHARS: usize = $min;
            /// Largest accepted length, in characters.
            pub const MAX_CHARS: usize = $max;

            /// Validates and trims the text.
            #[allow(unused_comparisons)]
            pub fn parse(text: &str) -> Result<Self> {
                let t = text.trim();
                let n = t.chars().count();
                if n < $min {
                    return Err(Error::invalid(
                        $field,
                        if n == 0 {
                            format!("{} is required", $field)
                        } else {
                            format!("{} must be at least {} characters long (it has {n})", $field, $min)
                        },
                    ));
                }
                if n > $max {
                    return Err(Error::invalid(
                        $field,
                        format!("{} must be at most {} characters long (it has {n})", $field, $max),
                    ));
                }
                if t.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
                    return Err(Error::invalid($field, format!("{} contains control characters", $field)));
                }
                Ok(Self(t.to_owned()))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<Self> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

bounded_text!(
    /// An incident title: 10 to 128 characters.
    Title, "title", 10, 128
);
bounded_text!(
    /// An incident description (summary): up to 1,200 characters; may be empty.
    Description, "description", 0, 1200
);
bounded_text!(
    /// A `dedup_key` sent by automated sources: 1 to 160 characters.
    DedupKey, "dedup_key", 1, 160
);
bounded_text!(
    /// A message on the timeline: 1 to 10,000 characters.
    Message, "message", 1, 10_000
);
bounded_text!(
    /// What a closure refers to (an incident id or a URL): up to 100 characters.
    ClosureReference, "closure_reference", 0, 100
);
bounded_text!(
    /// A free-form tag: 1 to 64 characters.
    Tag, "tags", 1, 64
);

/// An incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Sequential identifier, shown as `#<id>`.
    pub id: IncidentId,
    /// Title.
    pub title: String,
    /// Description (summary).
    pub description: String,
    /// Status.
    pub status: Status,
    /// Priority.
    pub priority_id: PriorityId,
    /// Category.
    pub category_id: CategoryId,
    /// The primary environment (lowest order of [`Incident::environment_ids`]).
    pub environment_id: EnvironmentId,
    /// Every environment affected, primary first.
    pub environment_ids: Vec<EnvironmentId>,
    /// Who declared it.
    pub created_by: UserId,
    /// When it was declared.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was first mitigated.
    pub mitigated_at: Option<DateTime<Utc>>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it was closed.
    pub closure_reason: Option<ClosureReason>,
    /// What the closure refers to.
    pub closure_reference: String,
    /// Extra fields set by integrations or clients.
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// Idempotency key of automated sources.
    pub dedup_key: Option<String>,
    /// Ignored incidents skip the closing guard and reminders.
    pub ignore: bool,
    /// Visible only to its members and staff.
    pub private: bool,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Incremented by every change; guards against lost updates.
    pub version: i64,
}

impl Incident {
    /// `YYYYMMDD-<id>` in the given time zone, used to name channels and pages.
    pub fn canonical_name(&self, tz: chrono_tz::Tz) -> String {
        format!(
            "{}-{}",
            self.created_at.with_timezone(&tz).format("%Y%m%d"),
            self.id.0
        )
    }

    /// The description cut to 100 characters.
    pub fn short_description(&self) -> String {
        let mut s: String = self.description.chars().take(100).collect();
        if self.description.chars().count() > 100 {
            s.push('…');
        }
        s
    }
}

/// An incident with everything attached to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentDetails {
    /// The incident.
    pub incident: Incident,
    /// Who holds which role.
    pub roles: Vec<RoleAssignment>,
    /// Members (creator, role holders, invited responders).
    pub members: Vec<UserId>,
    /// Recorded key events.
    pub key_events: Vec<KeyEvent>,
    /// Recorded costs.
    pub costs: Vec<IncidentCost>,
}

/// Where an incident's post-mortem stands, as a list filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostMortemFilter {
    /// It needs one (a priority that needs a post-mortem, in production),
    /// is mitigated, and has no document yet.
    Missing,
    /// Its built-in post-mortem is not marked ready (external backends tell
    /// their documents' readiness when asked, not in a list query).
    NotReady,
}

impl PostMortemFilter {
    /// `missing` or `not_ready`.
    pub fn parse(text: &str) -> Option<PostMortemFilter> {
        match text.trim().to_ascii_lowercase().as_str() {
            "missing" => Some(PostMortemFilter::Missing),
            "not_ready" | "draft" => Some(PostMortemFilter::NotReady),
            _ => None,
        }
    }
}

/// Filters for listing incidents. Every field narrows the result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    /// Only these ids.
    pub ids: Vec<IncidentId>,
    /// Id at least.
    pub id_min: Option<IncidentId>,
    /// Id at most.
    pub id_max: Option<IncidentId>,
    /// Only these statuses.
    pub statuses: Vec<Status>,
    /// Status at least.
    pub status_at_least: Option<Status>,
    /// Status below.
    pub status_below: Option<Status>,
    /// Only these priorities.
    pub priority_ids: Vec<PriorityId>,
    /// Only these categories.
    pub category_ids: Vec<CategoryId>,
    /// Only categories of these groups.
    pub group_ids: Vec<crate::GroupId>,
    /// Only incidents touching these environments.
    pub environment_ids: Vec<EnvironmentId>,
    /// Only incidents declared by these users.
    pub created_by: Vec<UserId>,
    /// Declared at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Declared before.
    pub created_before: Option<DateTime<Utc>>,
    /// Only ignored (true) or not ignored (false).
    pub ignore: Option<bool>,
    /// Words that must appear in the title or description (or the id).
    pub search: Option<String>,
    /// Only incidents whose post-mortem is in this state.
    pub postmortem: Option<PostMortemFilter>,
    /// Private incidents are only listed when the viewer may see them:
    /// `None` lists all (staff, system), `Some(user)` lists public ones and
    /// private ones the user is a member of.
    pub visible_to: Option<UserId>,
    /// Sort order.
    pub order: IncidentOrder,
    /// Further sort keys, for incidents `order` puts level (`order_by=priority,-created_at`).
    pub then_by: Vec<IncidentOrder>,
    /// Skip this many.
    pub offset: u64,
    /// At most this many (`None`: all).
    pub limit: Option<u64>,
}

/// Sort orders of incident lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IncidentOrder {
    /// Newest first.
    #[default]
    NewestFirst,
    /// Oldest first.
    OldestFirst,
    /// Most urgent first, then newest.
    Priority,
    /// By status, then priority (the dashboard).
    StatusThenPriority,
    /// By title.
    Title,
    /// Least urgent first, then newest.
    PriorityDescending,
    /// By title, Z to A.
    TitleDescending,
    /// By declaring user (their id), then newest.
    CreatedBy,
    /// By declaring user (their id) descending, then newest.
    CreatedByDescending,
}
