//! Rows as read from the database, and the column lists that read them.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::access::{ApiToken, ApiTokenId, RecordTimes};
use crate::{CategoryId, CostTypeId, EnvironmentId, PriorityId, RoleTypeId, User, UserId};

use super::convert::*;

/// The columns of [`IncidentRow`], for `SELECT`s on `incidents i`.
macro_rules! incident_select {
    () => {
        "SELECT i.id, i.title, i.description, i.status, i.priority_id, i.category_id, i.environment_id, \
         i.created_by, i.created_at, i.updated_at, i.mitigated_at, i.closed_at, i.closure_reason, \
         i.closure_reference, i.custom_fields, i.dedup_key, i.ignore, i.private, i.version FROM incidents i"
    };
}

/// The columns of [`UserRow`], for `SELECT`s on `users u`.
macro_rules! user_select {
    () => {
        "SELECT u.id, u.email, u.name, u.is_active, u.is_staff, u.is_admin, u.bot, u.avatar, u.created_at FROM users u"
    };
}

/// The columns of [`UserIdentityRow`]: users with their identities, in one query.
macro_rules! user_identities_select {
    () => {
        "SELECT u.id, u.email, u.name, u.is_active, u.is_staff, u.is_admin, u.bot, u.avatar, u.created_at, \
         ui.platform, ui.external_id FROM users u LEFT JOIN user_identities ui ON ui.user_id = u.id"
    };
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct IncidentRow {
    pub(super) id: i64,
    pub(super) title: String,
    pub(super) description: String,
    pub(super) status: i16,
    pub(super) priority_id: PriorityId,
    pub(super) category_id: CategoryId,
    pub(super) environment_id: EnvironmentId,
    pub(super) created_by: UserId,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) mitigated_at: Option<DateTime<Utc>>,
    pub(super) closed_at: Option<DateTime<Utc>>,
    pub(super) closure_reason: Option<String>,
    pub(super) closure_reference: String,
    pub(super) custom_fields: Json<serde_json::Value>,
    pub(super) dedup_key: Option<String>,
    pub(super) ignore: bool,
    pub(super) private: bool,
    pub(super) version: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct UserRow {
    pub(super) id: UserId,
    pub(super) email: String,
    pub(super) name: String,
    pub(super) is_active: bool,
    pub(super) is_staff: bool,
    pub(super) is_admin: bool,
    pub(super) bot: bool,
    pub(super) avatar: Option<String>,
    pub(super) created_at: DateTime<Utc>,
}

/// A user and one of its identities (`LEFT JOIN`: none when it has none).
#[derive(Debug, sqlx::FromRow)]
pub(super) struct UserIdentityRow {
    #[sqlx(flatten)]
    pub(super) user: UserRow,
    pub(super) platform: Option<String>,
    pub(super) external_id: Option<String>,
}

/// Users from rows of [`UserIdentityRow`], in the order they first appear.
pub(super) fn users_from_identity_rows(rows: Vec<UserIdentityRow>) -> Vec<User> {
    let mut users: Vec<(UserRow, BTreeMap<String, String>)> = Vec::new();
    let mut index: HashMap<UserId, usize> = HashMap::new();
    for r in rows {
        let at = match index.get(&r.user.id) {
            Some(&at) => at,
            None => {
                index.insert(r.user.id, users.len());
                users.push((r.user, BTreeMap::new()));
                users.len() - 1
            }
        };
        if let (Some(platform), Some(external)) = (r.platform, r.external_id) {
            users[at].1.insert(platform, external);
        }
    }
    users
        .into_iter()
        .map(|(row, identities)| user_from_row(row, identities))
        .collect()
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TimelineRow {
    pub(super) id: crate::UpdateId,
    pub(super) incident_id: i64,
    pub(super) created_by: Option<UserId>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) event_ts: DateTime<Utc>,
    pub(super) event_type: Option<String>,
    pub(super) message: Option<String>,
    pub(super) status: Option<i16>,
    pub(super) changes: Json<serde_json::Value>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct EventRow {
    pub(super) id: i64,
    pub(super) incident_id: i64,
    pub(super) created_at: DateTime<Utc>,
    pub(super) payload: Json<serde_json::Value>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ClaimedRow {
    pub(super) id: i64,
    pub(super) event_id: i64,
    pub(super) handler: String,
    pub(super) attempts: i32,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct DeliveryRow {
    pub(super) id: i64,
    pub(super) event_id: i64,
    pub(super) incident_id: i64,
    pub(super) kind: String,
    pub(super) handler: String,
    pub(super) status: String,
    pub(super) attempts: i32,
    pub(super) next_attempt_at: DateTime<Utc>,
    pub(super) last_error: Option<String>,
    pub(super) delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TaskScheduleRow {
    pub(super) name: String,
    pub(super) enabled: bool,
    pub(super) schedule: Option<Json<serde_json::Value>>,
    pub(super) next_run_at: Option<DateTime<Utc>>,
    pub(super) lease_owner: Option<String>,
    pub(super) lease_until: Option<DateTime<Utc>>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TaskRunRow {
    pub(super) id: i64,
    pub(super) task: String,
    pub(super) trigger: String,
    pub(super) started_at: DateTime<Utc>,
    pub(super) finished_at: Option<DateTime<Utc>>,
    pub(super) error: Option<String>,
    pub(super) summary: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct PriorityRow {
    pub(super) id: PriorityId,
    pub(super) name: String,
    pub(super) value: i32,
    pub(super) emoji: String,
    pub(super) description: String,
    pub(super) sort_order: i32,
    pub(super) is_default: bool,
    pub(super) needs_postmortem: bool,
    pub(super) enabled_create: bool,
    pub(super) enabled_update: bool,
    pub(super) reminder_time_secs: i64,
    pub(super) postmortem_reminder_time_secs: i64,
    pub(super) postmortem_reminder_repeat_time_secs: i64,
    pub(super) sla_secs: i64,
    pub(super) recommended_response_type: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct EnvironmentRow {
    pub(super) id: EnvironmentId,
    pub(super) value: String,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) sort_order: i32,
    pub(super) is_default: bool,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct GroupRow {
    pub(super) id: crate::GroupId,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) sort_order: i32,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct CategoryRow {
    pub(super) id: CategoryId,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) sort_order: i32,
    pub(super) group_id: crate::GroupId,
    pub(super) private: bool,
    pub(super) deploy_warning: bool,
    pub(super) enabled_create: bool,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct RoleTypeRow {
    pub(super) id: RoleTypeId,
    pub(super) slug: String,
    pub(super) name: String,
    pub(super) emoji: String,
    pub(super) required: bool,
    pub(super) sort_order: i32,
    pub(super) summary: String,
    pub(super) description: String,
    pub(super) aka: String,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct MilestoneTypeRow {
    pub(super) event_type: String,
    pub(super) name: String,
    pub(super) summary: String,
    pub(super) user_editable: bool,
    pub(super) required: bool,
    pub(super) asked_for: bool,
    pub(super) description: String,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct MetricTypeRow {
    pub(super) slug: String,
    pub(super) code: String,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) end_event: String,
    pub(super) start_event: String,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct CostTypeRow {
    pub(super) id: CostTypeId,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) category: String,
    pub(super) is_default: bool,
    pub(super) editable: bool,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ImpactTypeRow {
    pub(super) value: String,
    pub(super) name: String,
    pub(super) emoji: String,
    pub(super) help_text: String,
    pub(super) sort_order: i32,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ImpactLevelRow {
    pub(super) impact_type: String,
    pub(super) level: String,
    pub(super) name: String,
    pub(super) description: String,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct CostRow {
    pub(super) id: crate::CostId,
    pub(super) incident_id: i64,
    pub(super) cost_type_id: CostTypeId,
    pub(super) amount_cents: Option<i64>,
    pub(super) details: String,
    pub(super) created_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct ApiTokenRow {
    pub(super) id: ApiTokenId,
    pub(super) user_id: UserId,
    pub(super) name: String,
    pub(super) prefix: String,
    pub(super) scopes: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) last_used_at: Option<DateTime<Utc>>,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiTokenRow> for ApiToken {
    fn from(r: ApiTokenRow) -> Self {
        ApiToken {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            prefix: r.prefix,
            scopes: r.scopes.split_whitespace().map(str::to_owned).collect(),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct SessionRow {
    pub(super) id_hash: String,
    pub(super) user_id: UserId,
    pub(super) csrf_token: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) expires_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct IdempotencyRow {
    pub(super) request_hash: String,
    pub(super) owner: Option<String>,
    pub(super) created_at: chrono::DateTime<chrono::Utc>,
    pub(super) lease_until: Option<chrono::DateTime<chrono::Utc>>,
    pub(super) response_status: Option<i32>,
    pub(super) response_type: Option<String>,
    pub(super) response_body: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TimesRow {
    pub(super) id: Uuid,
    pub(super) created_at: Option<DateTime<Utc>>,
    pub(super) updated_at: Option<DateTime<Utc>>,
}

pub(super) fn times_map<K: std::hash::Hash + Eq>(
    rows: Vec<TimesRow>,
    key: impl Fn(Uuid) -> K,
) -> HashMap<K, RecordTimes> {
    rows.into_iter()
        .map(|r| {
            (
                key(r.id),
                RecordTimes {
                    created_at: r.created_at,
                    updated_at: r.updated_at,
                },
            )
        })
        .collect()
}

/// Columns of [`ApiTokenRow`].
pub(super) const API_TOKEN_COLUMNS: &str =
    "id, user_id, name, prefix, scopes, created_at, last_used_at, expires_at, revoked_at";
