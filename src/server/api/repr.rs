//! The JSON representation of incidents and reference data, field for field
//! the original's serializers (`src/firefighter/api/serializers.py`), plus a
//! few fields of ours (`private`, `environments`, `closure_reason`...).
//!
//! Integrations record what the API shows about them in the incident's
//! `custom_fields`: `slack_channel_name`, `postmortem_url`, `jira_ticket_key`
//! and `jira_ticket_url` (strings).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use firefighter_core::access::{CatalogTimes, RecordTimes};
use firefighter_core::store::Catalog;
use firefighter_core::{
    CostType, Environment, Group, IncidentCategory, IncidentCost, IncidentDetails, Priority, User,
    UserId, metric,
};
use serde::Serialize;
use utoipa::ToSchema;

/// A duration as Django writes it: `[D ]HH:MM:SS`.
pub(crate) fn django_duration(d: std::time::Duration) -> String {
    let total = d.as_secs();
    let (days, rest) = (total / 86_400, total % 86_400);
    let hms = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    );
    if days > 0 {
        format!("{days} {hms}")
    } else {
        hms
    }
}

/// An environment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct EnvironmentRepr {
    id: uuid::Uuid,
    value: String,
    name: String,
    description: String,
    order: i32,
    default: bool,
}

impl From<&Environment> for EnvironmentRepr {
    fn from(e: &Environment) -> Self {
        EnvironmentRepr {
            id: e.id.0,
            value: e.value.clone(),
            name: e.name.clone(),
            description: e.description.clone(),
            order: e.order,
            default: e.default,
        }
    }
}

/// A priority (the original's route name is `severities`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PriorityRepr {
    id: uuid::Uuid,
    name: String,
    value: i32,
    emoji: String,
    description: String,
    order: i32,
    default: bool,
    needs_postmortem: bool,
    enabled_create: bool,
    enabled_update: bool,
    /// Time without update before a reminder, `[D ]HH:MM:SS`.
    reminder_time: String,
    /// Time after mitigation before the post-mortem reminder, `[D ]HH:MM:SS`.
    postmortem_reminder_time: String,
    /// Time without progress before that reminder again (`00:00:00`: once).
    postmortem_reminder_repeat_time: String,
    /// Service level agreement, `[D ]HH:MM:SS`.
    sla: String,
    recommended_response_type: Option<String>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

fn times(t: Option<&RecordTimes>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    t.map(|t| (t.created_at, t.updated_at)).unwrap_or_default()
}

impl PriorityRepr {
    pub(crate) fn new(p: &Priority, t: Option<&RecordTimes>) -> Self {
        let (created_at, updated_at) = times(t);
        PriorityRepr {
            id: p.id.0,
            name: p.name.clone(),
            value: p.value,
            emoji: p.emoji.clone(),
            description: p.description.clone(),
            order: p.order,
            default: p.default,
            needs_postmortem: p.needs_postmortem,
            enabled_create: p.enabled_create,
            enabled_update: p.enabled_update,
            reminder_time: django_duration(p.reminder_time),
            postmortem_reminder_time: django_duration(p.postmortem_reminder_time),
            postmortem_reminder_repeat_time: django_duration(p.postmortem_reminder_repeat_time),
            sla: django_duration(p.sla),
            recommended_response_type: p.recommended_response_type.and_then(|r| {
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
            }),
            created_at,
            updated_at,
        }
    }
}

/// A group of incident categories.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct GroupRepr {
    id: uuid::Uuid,
    name: String,
    description: String,
    order: i32,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl GroupRepr {
    pub(crate) fn new(g: &Group, t: Option<&RecordTimes>) -> Self {
        let (created_at, updated_at) = times(t);
        GroupRepr {
            id: g.id.0,
            name: g.name.clone(),
            description: g.description.clone(),
            order: g.order,
            created_at,
            updated_at,
        }
    }
}

/// An incident category (formerly "component"), with its group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CategoryRepr {
    id: uuid::Uuid,
    name: String,
    description: String,
    order: i32,
    private: bool,
    deploy_warning: bool,
    /// Offered when declaring.
    enabled_create: bool,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    group: Option<GroupRepr>,
}

/// A cost type.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CostTypeRepr {
    id: uuid::Uuid,
    name: String,
    description: String,
    category: String,
    default: bool,
    editable: bool,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl CostTypeRepr {
    pub(crate) fn new(c: &CostType, t: Option<&RecordTimes>) -> Self {
        let (created_at, updated_at) = times(t);
        CostTypeRepr {
            id: c.id.0,
            name: c.name.clone(),
            description: c.description.clone(),
            category: c.category.clone(),
            default: c.default,
            editable: c.editable,
            created_at,
            updated_at,
        }
    }
}

/// A recorded cost, with its type.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CostRepr {
    id: uuid::Uuid,
    cost_type: Option<CostTypeRepr>,
    /// Amount in EUR, as a decimal string (`"12.30"`), or null when not known yet.
    amount: Option<String>,
    currency: &'static str,
    details: String,
    created_at: DateTime<Utc>,
    /// Costs are never edited: the creation time.
    updated_at: DateTime<Utc>,
    incident: i64,
}

/// A user, as nested in incidents.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct UserRepr {
    id: uuid::Uuid,
    name: String,
    email: String,
}

impl From<&User> for UserRepr {
    fn from(u: &User) -> Self {
        UserRepr {
            id: u.id.0,
            name: u.name.clone(),
            email: u.email.clone(),
        }
    }
}

/// A cost inside an incident, keyed by cost type name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CostInline {
    amount: Option<String>,
    details: String,
}

/// A metric inside an incident, keyed by metric slug.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MetricRepr {
    metric_type: String,
    /// `HH:MM:SS`.
    duration: String,
    duration_seconds: f64,
}

/// An incident.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct IncidentRepr {
    id: i64,
    title: String,
    /// The status label (`Open`, `Investigating`, `Mitigating`, `Mitigated`, `Post-mortem`, `Closed`).
    status: &'static str,
    description: String,
    created_at: DateTime<Utc>,
    /// The primary environment.
    environment: Option<EnvironmentRepr>,
    incident_category: Option<CategoryRepr>,
    priority: Option<PriorityRepr>,
    /// `#name` of the incident's conversation, `""` until an integration opened one.
    slack_channel_name: String,
    status_page_url: String,
    postmortem_url: Option<String>,
    jira_ticket_key: Option<String>,
    jira_ticket_url: Option<String>,
    /// Only with `show_tags=true` on lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<String>>,
    created_by: Option<UserRepr>,
    costs: BTreeMap<String, CostInline>,
    metrics: BTreeMap<String, MetricRepr>,
    roles: BTreeMap<String, UserRepr>,
    ignore: bool,
    /// Ours: visible to its members and staff only.
    private: bool,
    /// Ours: the status value (10 to 60).
    status_value: i16,
    /// Ours: every environment, primary first.
    environments: Vec<String>,
    /// Ours.
    updated_at: DateTime<Utc>,
    /// Ours.
    mitigated_at: Option<DateTime<Utc>>,
    /// Ours.
    closed_at: Option<DateTime<Utc>>,
    /// Ours: why it was closed.
    closure_reason: Option<&'static str>,
    /// Ours.
    closure_reference: String,
}

/// Everything needed to represent incidents: reference data and people.
#[derive(Debug)]
pub(crate) struct Context {
    catalog: Arc<Catalog>,
    times: Arc<CatalogTimes>,
    users: HashMap<UserId, User>,
    base_url: String,
}

impl Context {
    /// The reference data it was made with.
    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// When that reference data was created and changed.
    pub(crate) fn times(&self) -> &CatalogTimes {
        &self.times
    }

    pub(crate) fn new(
        catalog: Arc<Catalog>,
        times: Arc<CatalogTimes>,
        users: Vec<User>,
        base_url: &str,
    ) -> Self {
        Context {
            catalog,
            times,
            users: users.into_iter().map(|u| (u.id, u)).collect(),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The users an incident's representation names.
    pub(crate) fn users_of(details: &[IncidentDetails]) -> Vec<UserId> {
        let mut ids: Vec<UserId> = details
            .iter()
            .flat_map(|d| {
                std::iter::once(d.incident.created_by).chain(d.roles.iter().map(|r| r.user_id))
            })
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    pub(crate) fn category(&self, c: &IncidentCategory) -> CategoryRepr {
        let (created_at, updated_at) = times(self.times.categories.get(&c.id));
        CategoryRepr {
            id: c.id.0,
            name: c.name.clone(),
            description: c.description.clone(),
            order: c.order,
            private: c.private,
            deploy_warning: c.deploy_warning,
            enabled_create: c.enabled_create,
            created_at,
            updated_at,
            group: self
                .catalog
                .groups
                .iter()
                .find(|g| g.id == c.group_id)
                .map(|g| GroupRepr::new(g, self.times.groups.get(&g.id))),
        }
    }

    pub(crate) fn cost(&self, c: &IncidentCost) -> CostRepr {
        CostRepr {
            id: c.id.0,
            cost_type: self
                .catalog
                .cost_types
                .iter()
                .find(|t| t.id == c.cost_type_id)
                .map(|t| CostTypeRepr::new(t, self.times.cost_types.get(&t.id))),
            amount: c.amount_cents.map(firefighter_core::cost::format_cents),
            currency: firefighter_core::cost::CURRENCY,
            details: c.details.clone(),
            created_at: c.created_at,
            updated_at: c.created_at,
            incident: c.incident_id.0,
        }
    }

    pub(crate) fn incident(&self, d: &IncidentDetails, with_tags: bool) -> IncidentRepr {
        let i = &d.incident;
        let cat = &self.catalog;
        let external = |key: &str| {
            i.custom_fields
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let mut costs: BTreeMap<String, CostInline> = BTreeMap::new();
        for c in &d.costs {
            let name = cat
                .cost_types
                .iter()
                .find(|t| t.id == c.cost_type_id)
                .map(|t| t.name.clone())
                .unwrap_or_default();
            // Several costs of one type add up.
            match costs.get_mut(&name) {
                Some(existing) => {
                    let sum = match (
                        existing
                            .amount
                            .as_deref()
                            .and_then(firefighter_core::cost::parse_amount),
                        c.amount_cents,
                    ) {
                        (Some(a), Some(b)) => Some(a + b),
                        (a, b) => a.or(b),
                    };
                    existing.amount = sum.map(firefighter_core::cost::format_cents);
                    if !c.details.is_empty() {
                        if !existing.details.is_empty() {
                            existing.details.push('\n');
                        }
                        existing.details.push_str(&c.details);
                    }
                }
                None => {
                    costs.insert(
                        name,
                        CostInline {
                            amount: c.amount_cents.map(firefighter_core::cost::format_cents),
                            details: c.details.clone(),
                        },
                    );
                }
            }
        }
        let metrics = metric::compute(&cat.metric_types, &d.key_events)
            .into_iter()
            .map(|m| {
                let name = cat
                    .metric_types
                    .iter()
                    .find(|t| t.slug == m.slug)
                    .map(|t| t.name.clone())
                    .unwrap_or_else(|| m.slug.clone());
                let seconds = m.duration.num_milliseconds() as f64 / 1000.0;
                (
                    m.slug,
                    MetricRepr {
                        metric_type: name,
                        duration: metric::format_hms(m.duration),
                        duration_seconds: seconds,
                    },
                )
            })
            .collect();
        let roles = d
            .roles
            .iter()
            .filter_map(|r| {
                self.users
                    .get(&r.user_id)
                    .map(|u| (r.slug.clone(), UserRepr::from(u)))
            })
            .collect();
        IncidentRepr {
            id: i.id.0,
            title: i.title.clone(),
            status: i.status.label(),
            description: i.description.clone(),
            created_at: i.created_at,
            environment: cat
                .environments
                .iter()
                .find(|e| e.id == i.environment_id)
                .map(EnvironmentRepr::from),
            incident_category: cat
                .categories
                .iter()
                .find(|c| c.id == i.category_id)
                .map(|c| self.category(c)),
            priority: cat
                .priorities
                .iter()
                .find(|p| p.id == i.priority_id)
                .map(|p| PriorityRepr::new(p, self.times.priorities.get(&p.id))),
            slack_channel_name: external("slack_channel_name").unwrap_or_default(),
            status_page_url: format!("{}/incident/{}/", self.base_url, i.id.0),
            postmortem_url: external("postmortem_url"),
            jira_ticket_key: external("jira_ticket_key"),
            jira_ticket_url: external("jira_ticket_url"),
            tags: with_tags.then(|| i.tags.clone()),
            created_by: self.users.get(&i.created_by).map(UserRepr::from),
            costs,
            metrics,
            roles,
            ignore: i.ignore,
            private: i.private,
            status_value: i.status.value(),
            environments: i
                .environment_ids
                .iter()
                .filter_map(|id| {
                    cat.environments
                        .iter()
                        .find(|e| e.id == *id)
                        .map(|e| e.value.clone())
                })
                .collect(),
            updated_at: i.updated_at,
            mitigated_at: i.mitigated_at,
            closed_at: i.closed_at,
            closure_reason: i.closure_reason.map(|r| r.slug()),
            closure_reference: i.closure_reference.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::django_duration;
    use std::time::Duration;

    #[test]
    fn durations_look_like_django_ones() {
        assert_eq!(django_duration(Duration::from_secs(3600)), "01:00:00");
        assert_eq!(
            django_duration(Duration::from_secs(86_400 + 61)),
            "1 00:01:01"
        );
    }
}
