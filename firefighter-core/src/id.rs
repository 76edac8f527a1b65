//! Typed identifiers, so a priority id can never be passed where a user id is expected.

/// Declares a UUID-backed identifier type.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new identifier. Ordered by creation time (UUIDv7), so a
            /// row keyed by it lands on the last page of its index instead
            /// of a random one: fewer pages written per commit.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s.trim()).map(Self)
            }
        }
    };
}

pub(crate) use uuid_id;

uuid_id!(
    /// Identifies a [`crate::User`].
    UserId
);
uuid_id!(
    /// Identifies a [`crate::Priority`].
    PriorityId
);
uuid_id!(
    /// Identifies an [`crate::Environment`].
    EnvironmentId
);
uuid_id!(
    /// Identifies a [`crate::Group`] of incident categories.
    GroupId
);
uuid_id!(
    /// Identifies an [`crate::IncidentCategory`].
    CategoryId
);
uuid_id!(
    /// Identifies a [`crate::RoleType`].
    RoleTypeId
);
uuid_id!(
    /// Identifies a [`crate::TimelineEntry`].
    UpdateId
);
uuid_id!(
    /// Identifies a [`crate::CostType`].
    CostTypeId
);
uuid_id!(
    /// Identifies an [`crate::IncidentCost`].
    CostId
);

/// Identifies an incident: sequential, shown as `#<id>`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct IncidentId(pub i64);

impl std::fmt::Display for IncidentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}
