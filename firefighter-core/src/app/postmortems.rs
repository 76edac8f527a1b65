//! Post-mortems: created once per incident and backend, by the lifecycle
//! (an incident that needs one reaching Mitigated or Post-mortem) or on
//! demand; the built-in one is written and marked ready here.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::lifecycle::Status;
use crate::postmortem::{
    BUILT_IN, FollowUpAction, NewFollowUpAction, PostMortem, PostMortemEdit, PostMortemNotes,
};
use crate::store::{IncidentChange, PostMortemWrite, STALE_VERSION, now};
use crate::timeline::event_type;
use crate::{Error, Incident, IncidentEvent, IncidentId, Result, TimelineEntry, UpdateId, UserId};

use super::Firefighter;

/// What [`Firefighter::create_postmortem`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostMortemCreation {
    /// Every document of the incident afterwards.
    pub documents: Vec<PostMortem>,
    /// The backends that created one now.
    pub created: Vec<String>,
    /// The external backends asked to create one (through the outbox; each
    /// records its document when it is there).
    pub requested: Vec<String>,
    /// The backends that did not, and why.
    pub skipped: Vec<(String, String)>,
}

/// Everything the built-in post-mortem shows, gathered once.
#[derive(Debug, Clone)]
pub struct PostMortemReport {
    /// The document.
    pub document: PostMortem,
    /// The incident with roles, key events and costs.
    pub details: crate::IncidentDetails,
    /// The timeline, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// The written sections.
    pub notes: PostMortemNotes,
    /// The follow-up actions.
    pub actions: Vec<FollowUpAction>,
}

impl Firefighter {
    /// The names of the enabled post-mortem backends.
    pub fn postmortem_backends(&self) -> Vec<String> {
        self.inner
            .postmortem
            .iter()
            .map(|p| p.name().to_owned())
            .collect()
    }

    /// The incident's post-mortem documents.
    pub async fn postmortems(&self, id: IncidentId) -> Result<Vec<PostMortem>> {
        self.inner.store.postmortems(id).await
    }

    /// Creates the incident's post-mortem on every enabled backend that has
    /// none yet; asking again answers the existing documents. From Mitigated
    /// on (a Closed incident too).
    pub async fn create_postmortem(
        &self,
        id: IncidentId,
        by: Option<UserId>,
    ) -> Result<PostMortemCreation> {
        for _ in 0..5 {
            match self.try_create_postmortem(id, by).await {
                Err(Error::Conflict(m)) if m.contains(STALE_VERSION) => continue,
                other => return other,
            }
        }
        Err(Error::Conflict(format!(
            "incident {id} {STALE_VERSION} too often; try again"
        )))
    }

    async fn try_create_postmortem(
        &self,
        id: IncidentId,
        by: Option<UserId>,
    ) -> Result<PostMortemCreation> {
        let incident = self.incident(id).await?;
        if incident.status < Status::Mitigated {
            return Err(Error::invalid(
                "status",
                format!(
                    "a post-mortem can be written once the incident is mitigated; it is {}",
                    incident.status
                ),
            ));
        }
        if self.inner.postmortem.is_empty() {
            return Err(Error::invalid(
                "backend",
                "no post-mortem backend is enabled (FF_BUILTIN_POSTMORTEM is off and no integration provides one)",
            ));
        }
        let existing = self.inner.store.postmortems(id).await?;
        let mut change = IncidentChange::from(&incident, self.subscribers());
        let mut created = Vec::new();
        let mut requested = Vec::new();
        let mut skipped = Vec::new();
        let at = now();
        for name in self.postmortem_backends() {
            if existing.iter().any(|d| d.backend == name) {
                skipped.push((name, "already created".to_owned()));
            } else if name == BUILT_IN {
                created.push(name);
            } else {
                // Created by the backend's event handler, from the outbox.
                requested.push(name);
            }
        }
        let due: Vec<String> = created.iter().chain(&requested).cloned().collect();
        self.plan_postmortems(&mut change, &due, by, at);
        if !due.is_empty() {
            change.incident.updated_at = at;
            self.inner.store.apply(change).await?;
            self.committed();
        }
        Ok(PostMortemCreation {
            documents: self.inner.store.postmortems(id).await?,
            created,
            requested,
            skipped,
        })
    }

    /// Adds the built-in post-mortem to `change`: its record, the API's
    /// `postmortem_url`, a timeline entry and [`IncidentEvent::PostMortemCreated`].
    pub(super) fn plan_builtin_postmortem(
        &self,
        change: &mut IncidentChange,
        by: Option<UserId>,
        at: DateTime<Utc>,
    ) {
        let id = change.incident.id;
        let url = format!(
            "{}/incident/{}/postmortem/",
            self.inner.settings.base_url(),
            id.0
        );
        change.postmortems_added.push(PostMortem {
            incident_id: id,
            backend: BUILT_IN.to_owned(),
            external_id: String::new(),
            url: url.clone(),
            ready: false,
            created_at: at,
            updated_at: at,
        });
        change
            .incident
            .custom_fields
            .entry("postmortem_url")
            .or_insert_with(|| serde_json::Value::String(url.clone()));
        // Just after the change that caused it, so timelines list it after.
        let after = at + chrono::Duration::milliseconds(1);
        change.timeline.push(system_entry(
            id,
            by,
            after,
            event_type::POSTMORTEM_CREATED,
            format!("Post-mortem created: {url}"),
        ));
        change.events.push(IncidentEvent::PostMortemCreated {
            backend: BUILT_IN.to_owned(),
            url,
        });
    }

    /// Records the document an external backend created for the incident,
    /// with its timeline entry, the API's `postmortem_url` (when none is set
    /// yet) and [`IncidentEvent::PostMortemCreated`] (unless the incident is
    /// closed), in one transaction.
    /// False when the backend's document was recorded already (a retried
    /// delivery): nothing is written twice.
    pub async fn record_postmortem(
        &self,
        id: IncidentId,
        backend: &str,
        external_id: &str,
        url: &str,
    ) -> Result<bool> {
        if backend == BUILT_IN || backend.trim().is_empty() {
            return Err(Error::invalid(
                "backend",
                "an external backend's name is required",
            ));
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(Error::invalid("url", format!("\"{url}\" is not a link")));
        }
        for _ in 0..5 {
            let incident = self.incident(id).await?;
            if self
                .inner
                .store
                .postmortems(id)
                .await?
                .iter()
                .any(|d| d.backend == backend)
            {
                return Ok(false);
            }
            let at = now();
            let mut change = IncidentChange::from(&incident, self.subscribers());
            change.incident.updated_at = at;
            change.postmortems_added.push(PostMortem {
                incident_id: id,
                backend: backend.to_owned(),
                external_id: external_id.to_owned(),
                url: url.to_owned(),
                ready: false,
                created_at: at,
                updated_at: at,
            });
            change
                .incident
                .custom_fields
                .entry("postmortem_url")
                .or_insert_with(|| serde_json::Value::String(url.to_owned()));
            change.timeline.push(system_entry(
                id,
                None,
                at,
                event_type::POSTMORTEM_CREATED,
                format!("Post-mortem created in {backend}: {url}"),
            ));
            // A document linked to a closed incident (an old page found by a
            // sync) is recorded, not announced: nobody works on it any more.
            if incident.status != Status::Closed {
                change.events.push(IncidentEvent::PostMortemCreated {
                    backend: backend.to_owned(),
                    url: url.to_owned(),
                });
            }
            match self.inner.store.apply(change).await {
                Ok(_) => {
                    self.committed();
                    return Ok(true);
                }
                Err(Error::Conflict(m)) if m.contains(STALE_VERSION) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "incident {id} {STALE_VERSION} too often; try again"
        )))
    }

    /// The backends whose post-mortem reaching `to` creates: when the
    /// incident needs one, each enabled backend that has none yet.
    pub(super) async fn postmortems_due_on(
        &self,
        catalog: &crate::store::Catalog,
        incident: &Incident,
        to: Status,
    ) -> Result<Vec<String>> {
        if !matches!(to, Status::Mitigated | Status::PostMortem)
            || self.inner.postmortem.is_empty()
            || !self.postmortem_required(catalog, incident)
        {
            return Ok(Vec::new());
        }
        let existing = self.inner.store.postmortems(incident.id).await?;
        Ok(self
            .postmortem_backends()
            .into_iter()
            .filter(|b| !existing.iter().any(|d| &d.backend == b))
            .collect())
    }

    /// Adds to `change` what creating these backends' post-mortems writes:
    /// the built-in one itself, a request for each external one.
    pub(super) fn plan_postmortems(
        &self,
        change: &mut IncidentChange,
        backends: &[String],
        by: Option<UserId>,
        at: DateTime<Utc>,
    ) {
        for backend in backends {
            if backend == BUILT_IN {
                self.plan_builtin_postmortem(change, by, at);
            } else {
                change.events.push(IncidentEvent::PostMortemRequested {
                    backend: backend.clone(),
                });
            }
        }
    }

    /// The built-in post-mortem, or a clear error when there is none.
    async fn builtin_postmortem(&self, id: IncidentId) -> Result<PostMortem> {
        self.incident(id).await?;
        self.inner
            .store
            .postmortems(id)
            .await?
            .into_iter()
            .find(|d| d.backend == BUILT_IN)
            .ok_or_else(|| {
                Error::invalid(
                    "postmortem",
                    "this incident has no post-mortem yet: create it first (from Mitigated on)",
                )
            })
    }

    /// Marks the built-in post-mortem ready (or not); closing waits for it.
    /// False when it already had that mark.
    pub async fn mark_postmortem_ready(
        &self,
        id: IncidentId,
        ready: bool,
        by: Option<UserId>,
    ) -> Result<bool> {
        self.builtin_postmortem(id).await?;
        let at = now();
        let message = if ready {
            "Post-mortem marked ready"
        } else {
            "Post-mortem marked not ready"
        };
        let changed = self
            .inner
            .store
            .set_postmortem_ready(
                id,
                BUILT_IN,
                ready,
                vec![system_entry(
                    id,
                    by,
                    at,
                    event_type::POSTMORTEM_READY,
                    message.to_owned(),
                )],
                Vec::new(),
                self.subscribers(),
            )
            .await?;
        if changed {
            self.committed();
        }
        Ok(changed)
    }

    /// Saves the written sections of the built-in post-mortem.
    pub async fn save_postmortem_notes(
        &self,
        id: IncidentId,
        notes: PostMortemNotes,
        by: Option<UserId>,
    ) -> Result<()> {
        notes.validate()?;
        self.builtin_postmortem(id).await?;
        self.inner
            .store
            .save_postmortem_notes(id, &notes, by)
            .await?;
        self.committed();
        Ok(())
    }

    /// Adds a follow-up action to the built-in post-mortem.
    pub async fn add_follow_up_action(
        &self,
        id: IncidentId,
        action: NewFollowUpAction,
    ) -> Result<FollowUpAction> {
        let action = action.validate(id, now())?;
        self.builtin_postmortem(id).await?;
        self.inner.store.add_follow_up_action(&action).await?;
        self.committed();
        Ok(action)
    }

    /// Marks a follow-up action done or not.
    pub async fn set_follow_up_action_done(
        &self,
        id: IncidentId,
        action: Uuid,
        done: bool,
    ) -> Result<()> {
        if !self
            .inner
            .store
            .set_follow_up_action_done(id, action, done)
            .await?
        {
            return Err(Error::not_found("follow-up action", action));
        }
        self.committed();
        Ok(())
    }

    /// Removes a follow-up action.
    pub async fn delete_follow_up_action(&self, id: IncidentId, action: Uuid) -> Result<()> {
        if !self.inner.store.delete_follow_up_action(id, action).await? {
            return Err(Error::not_found("follow-up action", action));
        }
        self.committed();
        Ok(())
    }

    /// Applies every part of `edit` to the built-in post-mortem in one
    /// transaction: a bad part changes nothing. With a `request_key`, a
    /// repeat (its first answer was lost, even to a crash after the commit)
    /// changes nothing.
    pub async fn edit_postmortem(
        &self,
        id: IncidentId,
        mut edit: PostMortemEdit,
        by: Option<UserId>,
        request_key: Option<&str>,
    ) -> Result<()> {
        self.builtin_postmortem(id).await?;
        if let Some(key) = request_key
            && self.already_applied(id, key).await?
        {
            return Ok(());
        }
        if edit.is_empty() {
            return Ok(());
        }
        // An action named twice is changed once.
        for list in [
            &mut edit.done_actions,
            &mut edit.undone_actions,
            &mut edit.removed_actions,
        ] {
            let mut seen = std::collections::HashSet::new();
            list.retain(|a| seen.insert(*a));
        }
        let at = now();
        edit.sections.validate()?;
        let add_action = edit.add_action.map(|a| a.validate(id, at)).transpose()?;
        let known: std::collections::HashSet<Uuid> = self
            .inner
            .store
            .follow_up_actions(id)
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect();
        let unknown: Vec<String> = edit
            .done_actions
            .iter()
            .chain(&edit.undone_actions)
            .chain(&edit.removed_actions)
            .filter(|a| !known.contains(a))
            .map(ToString::to_string)
            .collect();
        if !unknown.is_empty() {
            return Err(Error::invalid(
                "actions",
                format!(
                    "follow-up action {} does not exist on this post-mortem",
                    unknown.join(", ")
                ),
            ));
        }
        let ready = edit.ready.map(|ready| {
            let message = if ready {
                "Post-mortem marked ready"
            } else {
                "Post-mortem marked not ready"
            };
            let entry = system_entry(id, by, at, event_type::POSTMORTEM_READY, message.to_owned());
            (ready, entry)
        });
        let done = edit
            .done_actions
            .iter()
            .map(|a| (*a, true))
            .chain(edit.undone_actions.iter().map(|a| (*a, false)))
            .collect();
        let written = self
            .inner
            .store
            .edit_postmortem(PostMortemWrite {
                incident: id,
                by,
                sections: (!edit.sections.is_empty()).then_some(edit.sections),
                add_action,
                done,
                removed: edit.removed_actions,
                ready,
                request_key: request_key.map(str::to_owned),
            })
            .await?;
        if written {
            self.committed();
        }
        Ok(())
    }

    /// Everything the built-in post-mortem shows.
    pub async fn postmortem_report(&self, id: IncidentId) -> Result<PostMortemReport> {
        let document = self.builtin_postmortem(id).await?;
        Ok(PostMortemReport {
            document,
            details: self.incident_details(id).await?,
            timeline: self.timeline(id).await?,
            notes: self
                .inner
                .store
                .postmortem_notes(id)
                .await?
                .unwrap_or_default(),
            actions: self.inner.store.follow_up_actions(id).await?,
        })
    }

    /// The built-in post-mortem as Markdown: the generated facts (summary,
    /// priority, category, environments, roles, timeline, metrics, costs,
    /// times in `TIME_ZONE`) and the written sections.
    pub async fn postmortem_markdown(&self, id: IncidentId) -> Result<String> {
        let report = self.postmortem_report(id).await?;
        self.postmortem_markdown_of(&report).await
    }

    /// [`Firefighter::postmortem_markdown`] of a report already read.
    pub async fn postmortem_markdown_of(&self, report: &PostMortemReport) -> Result<String> {
        let catalog = self.catalog().await?;
        let mut ids: Vec<UserId> = report.details.roles.iter().map(|r| r.user_id).collect();
        ids.extend(report.timeline.iter().filter_map(|t| t.created_by));
        ids.push(report.details.incident.created_by);
        ids.sort();
        ids.dedup();
        let people = self
            .inner
            .store
            .users(&ids)
            .await?
            .into_iter()
            .map(|u| (u.id, if u.name.is_empty() { u.email } else { u.name }))
            .collect();
        Ok(render_markdown(report, &catalog, &people, self.inner.tz))
    }
}

fn system_entry(
    id: IncidentId,
    by: Option<UserId>,
    at: DateTime<Utc>,
    event_type: &str,
    message: String,
) -> TimelineEntry {
    TimelineEntry {
        id: UpdateId::new(),
        incident_id: id,
        created_by: by,
        created_at: at,
        event_ts: at,
        event_type: Some(event_type.to_owned()),
        message: Some(message),
        status: None,
        changes: Vec::new(),
    }
}

/// Renders the built-in post-mortem as Markdown.
fn render_markdown(
    report: &PostMortemReport,
    catalog: &crate::store::Catalog,
    people: &std::collections::HashMap<UserId, String>,
    tz: chrono_tz::Tz,
) -> String {
    let i = &report.details.incident;
    let time = |at: DateTime<Utc>| {
        at.with_timezone(&tz)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    let person = |u: &UserId| people.get(u).cloned().unwrap_or_else(|| "someone".into());
    let section = |text: &str| {
        if text.trim().is_empty() {
            "_Not written yet._".to_owned()
        } else {
            text.trim().to_owned()
        }
    };
    let mut md = String::new();
    let _ = writeln!(md, "# Post-mortem: #{} {}\n", i.id.0, i.title);
    let priority = catalog
        .priority(i.priority_id)
        .map(|p| p.name.clone())
        .unwrap_or_default();
    let category = catalog
        .categories
        .iter()
        .find(|c| c.id == i.category_id)
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let environments: Vec<String> = catalog
        .environments
        .iter()
        .filter(|e| i.environment_ids.contains(&e.id))
        .map(|e| e.value.clone())
        .collect();
    let _ = writeln!(md, "- **Status:** {}", i.status);
    let _ = writeln!(md, "- **Priority:** {priority}");
    let _ = writeln!(md, "- **Category:** {category}");
    let _ = writeln!(md, "- **Environments:** {}", environments.join(", "));
    let _ = writeln!(
        md,
        "- **Declared:** {} by {}",
        time(i.created_at),
        person(&i.created_by)
    );
    if let Some(at) = i.mitigated_at {
        let _ = writeln!(md, "- **Mitigated:** {}", time(at));
    }
    if let Some(at) = i.closed_at {
        let _ = writeln!(md, "- **Closed:** {}", time(at));
    }
    let _ = writeln!(
        md,
        "- **Post-mortem:** {}",
        if report.document.ready {
            "ready"
        } else {
            "draft"
        }
    );
    let _ = writeln!(md, "\n## Summary\n\n{}\n", section(&i.description));
    let _ = writeln!(md, "## Roles\n");
    if report.details.roles.is_empty() {
        let _ = writeln!(md, "_No role assigned._");
    }
    for r in &report.details.roles {
        let name = catalog
            .role_types
            .iter()
            .find(|t| t.id == r.role_type_id)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| r.slug.clone());
        let _ = writeln!(md, "- {name}: {}", person(&r.user_id));
    }
    let _ = writeln!(md, "\n## Impact\n\n{}\n", section(&report.notes.impact));
    let _ = writeln!(md, "## Timeline\n");
    let mut entries: Vec<&TimelineEntry> = report.timeline.iter().collect();
    entries.sort_by_key(|t| (t.event_ts, t.created_at));
    for t in entries {
        let mut what = Vec::new();
        if let Some(s) = t.status {
            what.push(format!("status {s}"));
        }
        if let Some(k) = t.event_type.as_deref()
            && let Some(m) = catalog.milestone_types.iter().find(|m| m.event_type == k)
        {
            what.push(format!("key event: {}", m.name));
        }
        if let Some(m) = t.message.as_deref().filter(|m| !m.trim().is_empty()) {
            what.push(m.trim().replace('\n', " "));
        }
        if what.is_empty() {
            continue;
        }
        let by = t
            .created_by
            .as_ref()
            .map(|u| format!(" ({})", person(u)))
            .unwrap_or_default();
        let _ = writeln!(md, "- {}{by}: {}", time(t.event_ts), what.join(" — "));
    }
    let _ = writeln!(md, "\n## Metrics\n");
    let metrics = crate::metric::compute(&catalog.metric_types, &report.details.key_events);
    if metrics.is_empty() {
        let _ = writeln!(md, "_Record the key events to compute them._");
    }
    for m in metrics {
        let name = catalog
            .metric_types
            .iter()
            .find(|t| t.slug == m.slug)
            .map(|t| t.name.clone())
            .unwrap_or(m.slug.clone());
        let _ = writeln!(md, "- {name}: {}", crate::metric::format_hms(m.duration));
    }
    let _ = writeln!(md, "\n## Costs\n");
    if report.details.costs.is_empty() {
        let _ = writeln!(md, "_No cost recorded._");
    }
    for c in &report.details.costs {
        let kind = catalog
            .cost_types
            .iter()
            .find(|t| t.id == c.cost_type_id)
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let amount = c
            .amount_cents
            .map(|a| format!("{}.{:02}", a / 100, (a % 100).abs()))
            .unwrap_or_else(|| "unknown amount".into());
        let _ = writeln!(md, "- {kind}: {amount} {}", c.details.trim());
    }
    let _ = writeln!(
        md,
        "\n## Root causes\n\n{}\n",
        section(&report.notes.root_causes)
    );
    let _ = writeln!(
        md,
        "## What went well\n\n{}\n",
        section(&report.notes.went_well)
    );
    let _ = writeln!(
        md,
        "## What went badly\n\n{}\n",
        section(&report.notes.went_badly)
    );
    let _ = writeln!(md, "## Follow-up actions\n");
    if report.actions.is_empty() {
        let _ = writeln!(md, "_None yet._");
    }
    for a in &report.actions {
        let _ = writeln!(
            md,
            "- [{}] {} — {}, due {}",
            if a.done { "x" } else { " " },
            a.description,
            a.owner,
            a.due_on
        );
    }
    md
}
