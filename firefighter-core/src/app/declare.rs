//! Declaring an incident.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Validation;
use crate::store::{Catalog, Declared, NewIncidentRecord, now};
use crate::timeline::{FieldChange, field};
use crate::{
    CategoryId, DedupKey, Description, EnvironmentId, Error, Incident, IncidentDetails,
    IncidentEvent, IncidentId, KeyEvent, PriorityId, Result, RoleAssignment, Status, Tag,
    TimelineEntry, Title, UpdateId, UserId, key_event,
};
use crate::{IncidentCategory, Priority, User};
use std::sync::Arc;

use super::{Firefighter, env_names, resolve_environments};

/// What is needed to declare an incident. Serialisable, so that a caller
/// can record it before acknowledging and declare it later (missing fields
/// take their defaults).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Declaration {
    /// Title, 10 to 128 characters.
    pub title: String,
    /// Description, up to 1,200 characters.
    pub description: String,
    /// Priority; the default priority when `None`.
    pub priority_id: Option<PriorityId>,
    /// Category.
    pub category_id: Option<CategoryId>,
    /// Environments; the default environment when empty.
    pub environment_ids: Vec<EnvironmentId>,
    /// Who declares it.
    pub created_by: Option<UserId>,
    /// Private; inherited from the category when `None`.
    pub private: Option<bool>,
    /// Idempotency key of automated sources.
    pub dedup_key: Option<String>,
    /// Who is declaring, as far as `dedup_key` goes: an open incident with
    /// the key is returned only if this viewer may see it (else the key is
    /// as good as free for them). `None`: firefighter itself, which sees
    /// everything. Not serialised: whoever replays a recorded declaration
    /// says again who declares.
    #[serde(skip)]
    pub dedup_viewer: Option<crate::Viewer>,
    /// The caller's key for this very declaration (an API
    /// `Idempotency-Key`): declaring again with it returns the incident it
    /// declared (`created: false`) instead of a second one.
    pub request_key: Option<String>,
    /// Ignored incidents skip the closing guard and reminders.
    pub ignore: bool,
    /// Extra fields.
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// Tags.
    pub tags: Vec<String>,
    /// Whether to ask integrations for a conversation; by default only for
    /// priorities whose response type is critical (P1 to P3).
    pub request_conversation: Option<bool>,
    /// Data passed to integrations with the conversation request.
    pub extras: serde_json::Value,
    /// Key events already known (`started`, `detected`).
    pub key_events: Vec<(String, DateTime<Utc>)>,
}

/// What [`Firefighter::declare`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclareOutcome {
    /// The incident.
    pub incident: Incident,
    /// False when an open incident with the same `dedup_key` was returned instead.
    pub created: bool,
    /// Everything the declaration wrote (roles, members, key events), as
    /// reading it back would give; `None` when an open incident was returned.
    pub details: Option<IncidentDetails>,
}

impl Firefighter {
    /// Declares an incident. With a `dedup_key` that an open incident already
    /// holds, returns that incident and writes nothing (no new side effect),
    /// provided `dedup_viewer` may see it (see [`crate::Store::declare`]).
    pub async fn declare(&self, declaration: Declaration) -> Result<DeclareOutcome> {
        let catalog = self.catalog().await?;
        let declared_at = now();
        let checked = self
            .validate_declaration(&catalog, &declaration, declared_at)
            .await?;
        let (priority, category) = (checked.priority.name.clone(), checked.category.name.clone());
        let planned = plan_declaration(
            &catalog,
            declaration,
            checked,
            declared_at,
            self.subscribers(),
        );
        Ok(match self.inner.store.declare(planned.record).await? {
            Declared::Created(incident) => {
                tracing::info!(
                    ff.metric = "incident.created",
                    incident = incident.id.0,
                    priority = %priority,
                    category = %category,
                    "incident declared"
                );
                self.committed();
                let details = IncidentDetails {
                    incident: incident.clone(),
                    roles: planned.roles,
                    members: planned.members,
                    key_events: planned.key_events,
                    costs: Vec::new(),
                };
                DeclareOutcome {
                    incident,
                    created: true,
                    details: Some(details),
                }
            }
            Declared::Existing(incident) => {
                tracing::info!(
                    incident = incident.id.0,
                    "declaration matched an open incident with the same dedup_key"
                );
                DeclareOutcome {
                    incident,
                    created: false,
                    details: None,
                }
            }
        })
    }

    /// Validates a declaration as [`Firefighter::declare`] would, writing
    /// nothing: what a form or an API call checks before it creates anything
    /// else (an account for the declarer, say).
    pub async fn check_declaration(&self, declaration: &Declaration) -> Result<()> {
        let catalog = self.catalog().await?;
        self.validate_declaration(&catalog, declaration, now())
            .await
            .map(|_| ())
    }

    /// Checks every field of a declaration against the reference data,
    /// reporting every problem at once.
    async fn validate_declaration(
        &self,
        catalog: &Catalog,
        declaration: &Declaration,
        declared_at: DateTime<Utc>,
    ) -> Result<CheckedDeclaration> {
        let mut v = Validation::default();
        let title = v.check(Title::parse(&declaration.title));
        let description = v.check(Description::parse(&declaration.description));
        let dedup_key = match &declaration.dedup_key {
            Some(k) => v.check(DedupKey::parse(k)).map(Some),
            None => Some(None),
        };
        if declaration
            .request_key
            .as_ref()
            .is_some_and(|k| k.is_empty() || k.chars().count() > 200)
        {
            v.push(
                "request_key",
                "a request key has 1 to 200 characters".to_owned(),
            );
        }
        let tags: Vec<String> = declaration
            .tags
            .iter()
            .filter_map(|t| v.check(Tag::parse(t)).map(String::from))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let priority = match declaration.priority_id {
            Some(id) => match catalog.priorities.iter().find(|p| p.id == id) {
                Some(p) if !p.enabled_create => {
                    v.push(
                        "priority_id",
                        format!("priority {} cannot be chosen when declaring", p.name),
                    );
                    None
                }
                Some(p) => Some(p.clone()),
                None => {
                    v.push("priority_id", format!("priority {id} does not exist"));
                    None
                }
            },
            None => match catalog.priorities.iter().find(|p| p.default) {
                Some(p) => Some(p.clone()),
                None => {
                    v.push(
                        "priority_id",
                        "a priority is required (no default priority is configured)",
                    );
                    None
                }
            },
        };
        let category = match declaration.category_id {
            Some(id) => match catalog.categories.iter().find(|c| c.id == id) {
                Some(c) if !c.enabled_create => {
                    v.push(
                        "category_id",
                        format!("incident category {} is retired: choose another", c.name),
                    );
                    None
                }
                Some(c) => Some(c.clone()),
                None => {
                    v.push(
                        "category_id",
                        format!("incident category {id} does not exist"),
                    );
                    None
                }
            },
            None => {
                v.push("category_id", "an incident category is required");
                None
            }
        };
        let environment_ids = v.check(resolve_environments(catalog, &declaration.environment_ids));
        let mut known_key_events = Vec::new();
        for (slug, at) in &declaration.key_events {
            match catalog
                .milestone_types
                .iter()
                .find(|m| &m.event_type == slug)
            {
                Some(m) if m.user_editable => {
                    let at = crate::store::truncate_micros(*at);
                    match key_event::range_problem(slug, at, declared_at, declared_at) {
                        Some(problem) => v.push(format!("key_events.{slug}"), problem),
                        None => known_key_events.push((slug.clone(), at)),
                    }
                }
                Some(_) => v.push(
                    "key_events",
                    format!("key event {slug} is set by the system"),
                ),
                None => v.push("key_events", format!("key event {slug} does not exist")),
            }
        }
        let mut resulting: BTreeMap<String, DateTime<Utc>> =
            known_key_events.iter().cloned().collect();
        resulting.insert(key_event::DECLARED.to_owned(), declared_at);
        for (slug, problem) in key_event::order_problems(&resulting, |s| s != key_event::DECLARED) {
            v.push(format!("key_events.{slug}"), problem);
        }
        let creator = match declaration.created_by {
            Some(id) => match self.user(id).await? {
                Some(u) if u.is_active => Some(u),
                Some(_) => {
                    v.push("created_by", "this user is deactivated");
                    None
                }
                None => {
                    v.push("created_by", format!("user {id} does not exist"));
                    None
                }
            },
            None => {
                v.push("created_by", "the declaring user is required");
                None
            }
        };
        v.finish()?;
        let (
            Some(title),
            Some(description),
            Some(dedup_key),
            Some(priority),
            Some(category),
            Some(environment_ids),
            Some(creator),
        ) = (
            title,
            description,
            dedup_key,
            priority,
            category,
            environment_ids,
            creator,
        )
        else {
            return Err(Error::invalid("", "invalid declaration"));
        };
        Ok(CheckedDeclaration {
            title,
            description,
            dedup_key,
            priority,
            category,
            environment_ids,
            creator,
            tags,
            known_key_events,
        })
    }
}

/// A declaration whose every field was checked.
struct CheckedDeclaration {
    title: Title,
    description: Description,
    dedup_key: Option<DedupKey>,
    priority: Priority,
    category: IncidentCategory,
    environment_ids: Vec<EnvironmentId>,
    creator: User,
    tags: Vec<String>,
    known_key_events: Vec<(String, DateTime<Utc>)>,
}

/// What declaring writes, and the new incident's details as reading them
/// back would give.
struct PlannedDeclaration {
    record: NewIncidentRecord,
    roles: Vec<RoleAssignment>,
    members: Vec<UserId>,
    key_events: Vec<KeyEvent>,
}

/// The incident, its roles, key events, timeline and events, decided from
/// a checked declaration (required roles go to the declarer).
fn plan_declaration(
    catalog: &Catalog,
    declaration: Declaration,
    checked: CheckedDeclaration,
    at: DateTime<Utc>,
    subscribers: Arc<[String]>,
) -> PlannedDeclaration {
    let CheckedDeclaration {
        title,
        description,
        dedup_key,
        priority,
        category,
        environment_ids,
        creator,
        tags,
        known_key_events,
    } = checked;
    let private = declaration.private.unwrap_or(category.private);
    let incident = Incident {
        id: IncidentId(0),
        title: title.into(),
        description: description.into(),
        status: Status::Open,
        priority_id: priority.id,
        category_id: category.id,
        environment_id: environment_ids[0],
        environment_ids: environment_ids.clone(),
        created_by: creator.id,
        created_at: at,
        updated_at: at,
        mitigated_at: None,
        closed_at: None,
        closure_reason: None,
        closure_reference: String::new(),
        custom_fields: declaration.custom_fields,
        dedup_key: dedup_key.map(String::from),
        ignore: declaration.ignore,
        private,
        tags,
        version: 1,
    };
    let roles: Vec<_> = catalog
        .role_types
        .iter()
        .filter(|r| r.required)
        .map(|r| (r.id, creator.id))
        .collect();
    let mut changes = vec![
        FieldChange::new(field::TITLE, None, Some(incident.title.clone())),
        FieldChange::new(field::STATUS, None, Some(Status::Open.slug().to_owned())),
        FieldChange::new(field::PRIORITY, None, Some(priority.name.clone())),
        FieldChange::new(field::CATEGORY, None, Some(category.name.clone())),
        FieldChange::new(
            field::ENVIRONMENTS,
            None,
            Some(env_names(catalog, &environment_ids)),
        ),
    ];
    if !incident.description.is_empty() {
        changes.push(FieldChange::new(
            field::DESCRIPTION,
            None,
            Some(incident.description.clone()),
        ));
    }
    for r in catalog.role_types.iter().filter(|r| r.required) {
        changes.push(FieldChange::new(
            format!("{}{}", field::ROLE_PREFIX, r.slug),
            None,
            Some(creator.email.clone()),
        ));
    }
    let entry = |event_type: Option<&str>, event_ts, changes, status| TimelineEntry {
        id: UpdateId::new(),
        incident_id: IncidentId(0),
        created_by: Some(creator.id),
        created_at: at,
        event_ts,
        event_type: event_type.map(str::to_owned),
        message: None,
        status,
        changes,
    };
    let mut timeline = vec![entry(None, at, changes, Some(Status::Open))];
    let mut key_events = vec![KeyEvent {
        event_type: key_event::DECLARED.to_owned(),
        at,
        recorded_by: None,
    }];
    timeline.push(entry(Some(key_event::DECLARED), at, Vec::new(), None));
    for (slug, ts) in known_key_events {
        timeline.push(entry(
            Some(&slug),
            ts,
            vec![FieldChange::new(
                format!("{}{slug}", field::KEY_EVENT_PREFIX),
                None,
                Some(ts.to_rfc3339()),
            )],
            None,
        ));
        key_events.push(KeyEvent {
            event_type: slug,
            at: ts,
            recorded_by: Some(creator.id),
        });
    }
    let mut events = vec![IncidentEvent::Created];
    let wants_conversation = declaration
        .request_conversation
        .unwrap_or(priority.response_type() == crate::ResponseType::Critical);
    if wants_conversation {
        events.push(IncidentEvent::ConversationRequested {
            extras: declaration.extras,
        });
    }
    // What the new incident's details will be, ordered as the store reads them.
    let mut assigned: Vec<(i32, RoleAssignment)> = roles
        .iter()
        .filter_map(|(role_type_id, user_id)| {
            let t = catalog.role_types.iter().find(|t| t.id == *role_type_id)?;
            Some((
                t.order,
                RoleAssignment {
                    role_type_id: *role_type_id,
                    slug: t.slug.clone(),
                    user_id: *user_id,
                },
            ))
        })
        .collect();
    assigned.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.slug.cmp(&b.1.slug)));
    let mut written_key_events = key_events.clone();
    written_key_events.sort_by(|a, b| {
        a.at.cmp(&b.at)
            .then_with(|| a.event_type.cmp(&b.event_type))
    });
    let record = NewIncidentRecord {
        incident,
        roles,
        members: vec![creator.id],
        key_events,
        timeline,
        events,
        subscribers,
        dedup_viewer: declaration
            .dedup_viewer
            .unwrap_or(crate::Viewer::Everything),
        request_key: declaration.request_key.clone(),
    };
    PlannedDeclaration {
        record,
        roles: assigned.into_iter().map(|(_, r)| r).collect(),
        members: vec![creator.id],
        key_events: written_key_events,
    }
}
