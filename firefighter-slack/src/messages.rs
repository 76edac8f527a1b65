//! The message catalogue (texts are ours) and how messages are posted:
//! appended, updated in place or replacing older ones, each one recorded so
//! later posts find it.

use std::sync::Arc;

use firefighter_core::store::Catalog;
use firefighter_core::{
    Environment, Incident, IncidentCategory, IncidentDetails, IncidentId, Priority, Status,
    UpdateId,
};
use serde_json::Value;

use crate::models::api::{NewMessage, Posted};
use crate::models::blocks::{
    self, button, context, divider, escape, fields, header, section, url_button,
};
use crate::{Error, Result, Slack};

/// Message kinds (stored with each message and sent as Slack metadata).
pub mod kind {
    /// The pinned announcement in the incident channel (updated in place).
    pub const DECLARED: &str = "ff_incident_declared";
    /// The announcement in `tech_incidents`.
    pub const GENERAL_DECLARED: &str = "ff_general_incident_declared";
    /// A status update in the incident channel.
    pub const STATUS_UPDATED: &str = "ff_incident_status_updated";
    /// Mitigated / escalated announcements in `tech_incidents`.
    pub const GENERAL_STATUS: &str = "ff_general_incident_status_updated";
    /// Who holds which role.
    pub const ROLES: &str = "ff_incident_roles_updated";
    /// A DM telling someone they hold a role.
    pub const ROLE_DM: &str = "ff_role_assigned_to_you";
    /// The key events form (updated in place).
    pub const KEY_EVENTS: &str = "ff_incident_key_events_form";
    /// A post-mortem was created (incident channel).
    pub const PM_CREATED: &str = "ff_incident_postmortem_created";
    /// A post-mortem was created (`tech_incidents`).
    pub const PM_ANNOUNCEMENT: &str = "ff_incident_postmortem_created_announcement";
    /// What to do for the post-mortem (replaces itself and the next actions).
    pub const PM_REMINDER: &str = "ff_incident_postmortem_reminder";
    /// What to do after mitigation when no post-mortem is needed.
    pub const NEXT_ACTIONS: &str = "ff_incident_fixed_next_actions";
    /// The post-mortem is due (incident channel).
    pub const PM_REMINDER_5D: &str = "ff_incident_postmortem_reminder_5days";
    /// The post-mortem is due (`tech_incidents`).
    pub const PM_REMINDER_5D_ANNOUNCEMENT: &str =
        "ff_incident_postmortem_reminder_5days_announcement";
    /// Nobody posted an update for a while.
    pub const UPDATE_REMINDER: &str = "ff_incident_update_reminder";
    /// The emergency communication process (P1 in production).
    pub const COM_PROCESS: &str = "ff_incident_com_process";
    /// Deployment freeze in `it_deploy` (replaced as the incident moves).
    pub const DEPLOY_WARNING: &str = "ff_deploy_warning";
    /// A call for help.
    pub const SOS: &str = "ff_sos";
    /// Invitation results.
    pub const INVITATIONS: &str = "ff_incident_invitations";
    /// An on-call was paged (timeline entry `trigger_oncall`).
    pub const ONCALL_PAGED: &str = "ff_oncall_paged";
    /// The incident started outside office hours: page the on-call? (event `OffHoursHint`).
    pub const ONCALL_HINT: &str = "ff_oncall_hint";
}

/// Conversation tags with a meaning.
pub mod tag {
    /// Announcements of incidents.
    pub const TECH_INCIDENTS: &str = "tech_incidents";
    /// Deployment freezes.
    pub const IT_DEPLOY: &str = "it_deploy";
    /// Where people get help with the bot.
    pub const DEV_FIREFIGHTER: &str = "dev_firefighter";
    /// User groups invited to every public P1.
    pub const INVITED_FOR_ALL_PUBLIC_P1: &str = "invited_for_all_public_p1";
}

/// How a message relates to earlier ones of the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Post a new message.
    Append,
    /// Edit the latest message of this kind in place (post one if none).
    Update,
    /// Post a new message and delete the older ones of these kinds.
    Replace(&'static [&'static str]),
}

/// Everything about an incident the messages show.
#[derive(Debug, Clone)]
pub struct IncidentView {
    /// The incident with roles, members and key events.
    pub details: IncidentDetails,
    /// Its priority.
    pub priority: Priority,
    /// Its category.
    pub category: IncidentCategory,
    /// The category's group.
    pub group: String,
    /// Its environments.
    pub environments: Vec<Environment>,
    /// Its page.
    pub url: String,
    /// Its channel, if any.
    pub channel_id: Option<String>,
    /// The reference data.
    pub catalog: Arc<Catalog>,
}

impl IncidentView {
    /// The incident.
    pub fn incident(&self) -> &Incident {
        &self.details.incident
    }

    /// In production.
    pub fn in_production(&self) -> bool {
        self.environments.iter().any(Environment::is_production)
    }

    /// P1 to P3 (a critical response).
    pub fn is_critical(&self) -> bool {
        self.priority.value < 4
    }

    /// Public announcements apply: critical, production, not private (§3.3).
    pub fn announced(&self) -> bool {
        self.is_critical() && self.in_production() && !self.incident().private
    }

    /// Deployment freeze applies: P1, production, public, category flagged, not mitigated yet.
    pub fn freezes_deployments(&self) -> bool {
        self.priority.value == 1
            && self.in_production()
            && !self.incident().private
            && self.category.deploy_warning
            && self.incident().status < Status::Mitigated
    }

    /// `#<channel>` or `#<id>`.
    pub fn channel_ref(&self) -> String {
        match &self.channel_id {
            Some(c) => format!("<#{c}>"),
            None => format!("incident {}", self.incident().id),
        }
    }

    /// `🌪️ P1`.
    pub fn priority_label(&self) -> String {
        format!("{} {}", self.priority.emoji, self.priority.name)
    }

    fn env_names(&self) -> String {
        self.environments
            .iter()
            .map(|e| e.value.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn title_line(&self) -> String {
        format!(
            "{} {}: {}",
            self.priority_label(),
            self.incident().id,
            self.incident().title
        )
    }
}

impl Slack {
    /// Loads what messages need about an incident.
    pub async fn incident_view(&self, id: IncidentId) -> Result<IncidentView> {
        let app = self.app()?;
        let details = app.incident_details(id).await?;
        let catalog = app.catalog().await?;
        let priority = catalog
            .priorities
            .iter()
            .find(|p| p.id == details.incident.priority_id)
            .cloned()
            .ok_or_else(|| Error::BadRequest("the incident's priority is unknown".into()))?;
        let category = catalog
            .categories
            .iter()
            .find(|c| c.id == details.incident.category_id)
            .cloned()
            .ok_or_else(|| Error::BadRequest("the incident's category is unknown".into()))?;
        let group = catalog
            .groups
            .iter()
            .find(|g| g.id == category.group_id)
            .map(|g| g.name.clone())
            .unwrap_or_default();
        let environments = catalog
            .environments
            .iter()
            .filter(|e| details.incident.environment_ids.contains(&e.id))
            .cloned()
            .collect();
        let channel_id = self
            .store()
            .incident_channel(id)
            .await?
            .map(|c| c.channel_id);
        Ok(IncidentView {
            url: self.settings().incident_url(id),
            details,
            priority,
            category,
            group,
            environments,
            channel_id,
            catalog,
        })
    }

    /// Posts a message with a strategy and records it. Returns where it landed.
    pub async fn post(
        &self,
        incident: Option<IncidentId>,
        kind: &str,
        message: NewMessage,
        strategy: Strategy,
        update: Option<UpdateId>,
    ) -> Result<Posted> {
        let channel = message.channel.clone();
        let message = message.kind(kind);
        if let (Strategy::Update, Some(incident)) = (strategy, incident) {
            let existing = self
                .store()
                .messages(incident, kind)
                .await?
                .into_iter()
                .rev()
                .find(|m| m.channel_id == channel);
            if let Some(m) = existing {
                match self
                    .api()
                    .update_message(&m.channel_id, &m.ts, &message)
                    .await
                {
                    Ok(()) => {
                        return Ok(Posted {
                            channel: m.channel_id,
                            ts: m.ts,
                        });
                    }
                    Err(e)
                        if e.is_code("message_not_found") || e.is_code("cant_update_message") =>
                    {
                        self.store().forget_message(&m.channel_id, &m.ts).await?;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let posted = self.api().post_message(&message).await?;
        self.store()
            .record_message(&posted.channel, &posted.ts, kind, incident, update)
            .await?;
        if let (Strategy::Replace(kinds), Some(incident)) = (strategy, incident) {
            for k in kinds.iter().copied().chain(std::iter::once(kind)) {
                for old in self.store().messages(incident, k).await? {
                    if old.ts == posted.ts && old.channel_id == posted.channel {
                        continue;
                    }
                    match self.api().delete_message(&old.channel_id, &old.ts).await {
                        Ok(()) => {}
                        Err(e)
                            if e.is_code("message_not_found") || e.is_code("channel_not_found") => {
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "could not delete a replaced message");
                            continue;
                        }
                    }
                    self.store()
                        .forget_message(&old.channel_id, &old.ts)
                        .await?;
                }
            }
        }
        Ok(posted)
    }

    /// The channel with a tag, if configured.
    pub async fn tagged_channel(&self, tag: &str) -> Result<Option<String>> {
        Ok(self
            .store()
            .conversation_by_tag(tag)
            .await?
            .filter(|c| c.status != crate::store::ConversationStatus::Archived)
            .map(|c| c.channel_id))
    }

    /// The help footer: where to get help with the bot.
    pub(crate) async fn support_line(&self) -> String {
        match self.tagged_channel(tag::DEV_FIREFIGHTER).await {
            Ok(Some(c)) => format!("Questions about the bot? Ask in <#{c}>."),
            _ => "Questions about the bot? Ask your incident management team.".to_owned(),
        }
    }
}

fn incident_fields(v: &IncidentView, opener: &str) -> Vec<String> {
    let i = v.incident();
    let mut f = vec![
        format!(
            "*Priority:*\n{} - {}",
            v.priority_label(),
            escape(&v.priority.description)
        ),
        format!("*Status:*\n{}", i.status.label()),
        format!(
            "*Category:*\n{} - {}",
            escape(&v.group),
            escape(&v.category.name)
        ),
        format!("*Environment:*\n{}", v.env_names()),
        format!("*Opened by:*\n{opener}"),
        format!(
            "*Declared:*\n<!date^{}^{{date_short_pretty}} {{time}}|{}>",
            i.created_at.timestamp(),
            i.created_at.to_rfc3339()
        ),
    ];
    if i.private {
        f.push("*Visibility:*\n:lock: private".into());
    }
    f
}

/// The pinned announcement in the incident channel.
pub fn declared(
    v: &IncidentView,
    opener: &str,
    postmortems: &[(String, String)],
) -> (String, Value) {
    let i = v.incident();
    let mut b = vec![
        header(&v.title_line()),
        section(&escape(if i.description.is_empty() {
            "_No description._"
        } else {
            &i.description
        })),
        fields(&incident_fields(v, opener)),
    ];
    for (backend, url) in postmortems {
        b.push(section(&format!(":memo: Post-mortem ({backend}): <{url}>")));
    }
    let mut actions = vec![url_button("Incident page", &v.url)];
    if i.status != Status::Closed {
        actions.insert(
            0,
            button("Update", crate::ids::action::UPDATE, &i.id.0.to_string()),
        );
    }
    b.push(blocks::actions("declared_actions", actions));
    (format!("Incident {}: {}", i.id, i.title), Value::Array(b))
}

/// The announcement of a new incident in `tech_incidents`.
pub fn general_declared(v: &IncidentView, opener: &str) -> (String, Value) {
    let i = v.incident();
    let b = vec![
        section(&format!(
            ":rotating_light: A new {} incident has been declared in {}",
            v.priority_label(),
            v.channel_ref()
        )),
        section(&format!(
            "*{}*\n{}",
            escape(&i.title),
            escape(&i.short_description())
        )),
        fields(&incident_fields(v, opener)[..5]),
        blocks::actions("general_actions", vec![url_button("Incident page", &v.url)]),
    ];
    (
        format!("New {} incident {}: {}", v.priority.name, i.id, i.title),
        Value::Array(b),
    )
}

/// A field change shown in an update.
#[derive(Debug, Clone)]
pub struct Change {
    /// Field name.
    pub field: String,
    /// New value.
    pub new: String,
}

/// A status update in the incident channel.
pub fn status_update(
    v: &IncidentView,
    message: Option<&str>,
    changes: &[Change],
    by: &str,
) -> (String, Value) {
    let i = v.incident();
    let mut b = vec![section(&format!(
        ":information_source: *A new update was posted on incident {}*",
        i.id
    ))];
    if let Some(m) = message.filter(|m| !m.trim().is_empty()) {
        b.push(section(&format!(">{}", escape(m).replace('\n', "\n>"))));
    }
    if !changes.is_empty() {
        let f: Vec<String> = changes
            .iter()
            .map(|c| format!("*{}:*\n{}", c.field, escape(&c.new)))
            .collect();
        b.push(fields(&f));
    }
    if i.status == Status::Mitigated
        && v.details.incident.mitigated_at.is_some()
        && changes.iter().any(|c| c.field == "Status")
    {
        b.push(context(":large_green_circle: The impact is over. Record the key events, then follow the next steps below."));
    }
    b.push(context(&format!("Posted by {by}")));
    if i.status != Status::Closed {
        b.push(blocks::actions(
            "status_actions",
            vec![button(
                "Update",
                crate::ids::action::UPDATE,
                &i.id.0.to_string(),
            )],
        ));
    }
    (format!("Update on incident {}", i.id), Value::Array(b))
}

/// Mitigated / escalated announcements in `tech_incidents`.
pub fn general_status(v: &IncidentView, headline: &str, message: Option<&str>) -> (String, Value) {
    let i = v.incident();
    let mut b = vec![
        section(headline),
        section(&format!(
            "*{}*\n{}",
            escape(&i.title),
            escape(&i.short_description())
        )),
    ];
    if let Some(m) = message.filter(|m| !m.trim().is_empty()) {
        b.push(section(&format!(">{}", escape(m).replace('\n', "\n>"))));
    }
    b.push(fields(&[
        format!("*Priority:*\n{}", v.priority_label()),
        format!("*Status:*\n{}", i.status.label()),
        format!("*Category:*\n{}", escape(&v.category.name)),
        format!("*Channel:*\n{}", v.channel_ref()),
    ]));
    (headline.replace('*', ""), Value::Array(b))
}

/// Who holds which role.
pub fn roles(v: &IncidentView, holders: &[(String, String)], by: Option<&str>) -> (String, Value) {
    let mut lines = Vec::new();
    for r in &v.catalog.role_types {
        let holder = holders
            .iter()
            .find(|(slug, _)| *slug == r.slug)
            .map(|(_, h)| h.as_str())
            .unwrap_or("_nobody yet_");
        lines.push(format!("{} *{}:* {holder}", r.emoji, escape(&r.name)));
    }
    let mut b = vec![section(&format!(
        ":busts_in_silhouette: *Roles*\n{}",
        lines.join("\n")
    ))];
    if let Some(by) = by {
        b.push(context(&format!("Updated by {by}")));
    }
    b.push(blocks::actions(
        "roles_actions",
        vec![button(
            "Update roles",
            crate::ids::action::UPDATE_ROLES,
            &v.incident().id.0.to_string(),
        )],
    ));
    (
        format!("Roles of incident {}", v.incident().id),
        Value::Array(b),
    )
}

/// A DM to someone who now holds a role.
pub fn role_assigned(
    v: &IncidentView,
    role: &firefighter_core::RoleType,
    automatic: bool,
) -> (String, Value) {
    let mut b = vec![section(&format!(
        "{} You are now *{}* of incident {} ({}).",
        role.emoji,
        escape(&role.name),
        v.incident().id,
        v.channel_ref()
    ))];
    if !role.summary.is_empty() {
        b.push(section(&escape(&role.summary)));
    }
    if automatic {
        b.push(context(
            "You got this role because you declared the incident.",
        ));
    }
    (
        format!("You are {} of incident {}", role.name, v.incident().id),
        Value::Array(b),
    )
}

/// The key events form (one date and time picker per key event people set).
pub fn key_events_form(v: &IncidentView, missing: &[String]) -> (String, Value) {
    let id = v.incident().id.0;
    let mut b = vec![section(
        ":stopwatch: *Key events*: when did it start, when was it detected, when did it recover? They feed the metrics.",
    )];
    for m in v.catalog.milestone_types.iter().filter(|m| m.asked_for) {
        let current = v
            .details
            .key_events
            .iter()
            .find(|k| k.event_type == m.event_type);
        let label = format!(
            "*{}*{}",
            escape(&m.name),
            if m.required { "" } else { " _(optional)_" }
        );
        if m.user_editable {
            b.push(serde_json::json!({
                "type": "section",
                "block_id": format!("key_event:{id}:{}", m.event_type),
                "text": blocks::mrkdwn(&format!("{label}\n{}", escape(&m.summary))),
                "accessory": blocks::datetimepicker(
                    &format!("{}{}", crate::ids::action::KEY_EVENT_PREFIX, m.event_type),
                    current.map(|k| k.at.timestamp()),
                ),
            }));
        } else {
            let at = current
                .map(|k| {
                    format!(
                        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
                        k.at.timestamp(),
                        k.at.to_rfc3339()
                    )
                })
                .unwrap_or_else(|| "_not yet_".into());
            b.push(section(&format!("{label}: {at}")));
        }
    }
    b.push(context(&if missing.is_empty() {
        "All required key events are recorded.".to_owned()
    } else {
        format!("Still missing: {}.", missing.join(", "))
    }));
    (
        format!("Key events of incident {}", v.incident().id),
        Value::Array(b),
    )
}

/// What to do about the post-mortem after mitigation.
pub fn postmortem_reminder(v: &IncidentView, guide: Option<&str>) -> (String, Value) {
    let mut b = vec![section(&format!(
        ":memo: *Incident {} needs a post-mortem.*\n1. Move the incident to *Post-mortem* (`/incident update`).\n2. Write the post-mortem.\n3. Record the key events above.\n4. Close the incident (`/incident close`).",
        v.incident().id
    ))];
    if let Some(g) = guide {
        b.push(blocks::actions(
            "pm_guide",
            vec![url_button("Post-mortem guide", g)],
        ));
    }
    (
        format!("Incident {} needs a post-mortem", v.incident().id),
        Value::Array(b),
    )
}

/// What to do after mitigation without a post-mortem.
pub fn next_actions(v: &IncidentView) -> (String, Value) {
    let b = vec![section(&format!(
        ":white_check_mark: *Incident {} is mitigated.* Next:\n1. Record the key events above.\n2. Close the incident (`/incident close`).\nA post-mortem is optional for this incident.",
        v.incident().id
    ))];
    (
        format!("Incident {} is mitigated", v.incident().id),
        Value::Array(b),
    )
}

/// The emergency communication process (P1 in production).
pub fn com_process(guide: Option<&str>, usergroup: Option<&str>) -> (String, Value) {
    let who = usergroup
        .map(|g| format!("<!subteam^{g}>"))
        .unwrap_or_else(|| "the communication team".into());
    let mut b = vec![section(&format!(
        ":loudspeaker: *This is a P1 in production: follow the emergency communication process.* Name a communication lead and keep {who} informed."
    ))];
    if let Some(g) = guide {
        b.push(blocks::actions(
            "com_guide",
            vec![url_button("Communication process", g)],
        ));
    }
    ("Emergency communication process".into(), Value::Array(b))
}

/// A deployment freeze (or its end) in `it_deploy`.
pub fn deploy_warning(v: &IncidentView, active: bool) -> (String, Value) {
    let i = v.incident();
    let (headline, text) = if active {
        (
            format!(
                ":warning: *Please refrain from deploying:* {} incident {} in production",
                v.priority_label(),
                i.id
            ),
            format!(
                "*{}* ({}) until it is mitigated.",
                escape(&i.title),
                v.channel_ref()
            ),
        )
    } else if i.status >= Status::Mitigated {
        (
            format!(
                ":white_check_mark: *(Mitigated)* incident {} — you can resume your deployments",
                i.id
            ),
            format!("*{}* ({})", escape(&i.title), v.channel_ref()),
        )
    } else {
        (
            format!(
                ":white_check_mark: Incident {} no longer freezes deployments",
                i.id
            ),
            format!(
                "*{}* ({}) is now {}.",
                escape(&i.title),
                v.channel_ref(),
                v.priority_label()
            ),
        )
    };
    (
        headline.replace('*', ""),
        Value::Array(vec![section(&headline), section(&text)]),
    )
}

/// A post-mortem was created.
pub fn postmortem_created(
    v: &IncidentView,
    backend: &str,
    url: &str,
    announcement: bool,
) -> (String, Value) {
    let head = if announcement {
        format!(
            ":memo: A post-mortem was created for {} incident {} ({})",
            v.priority_label(),
            v.incident().id,
            v.channel_ref()
        )
    } else {
        format!(
            ":memo: The post-mortem of incident {} is ready to be written",
            v.incident().id
        )
    };
    let b = vec![
        section(&head),
        section(&format!("*{}*", escape(&v.incident().title))),
        blocks::actions(
            "pm_links",
            vec![url_button(&format!("Post-mortem ({backend})"), url)],
        ),
    ];
    (head.replace('*', ""), Value::Array(b))
}

/// The post-mortem is overdue.
pub fn postmortem_overdue(v: &IncidentView, days: i64, announcement: bool) -> (String, Value) {
    let head = format!(
        ":hourglass: Incident {}{} was mitigated {days} days ago: its post-mortem must be completed.",
        v.incident().id,
        if announcement {
            format!(" ({})", v.channel_ref())
        } else {
            String::new()
        }
    );
    let mut b = vec![
        section(&head),
        section(&format!("*{}*", escape(&v.incident().title))),
    ];
    if !announcement {
        b.push(blocks::actions(
            "pm_overdue",
            vec![button(
                "Update status",
                crate::ids::action::UPDATE_STATUS,
                &v.incident().id.0.to_string(),
            )],
        ));
    }
    (head, Value::Array(b))
}

/// Nobody posted an update for a while.
pub fn update_reminder(v: &IncidentView, quiet_for: &str) -> (String, Value) {
    let advice = if v.announced() {
        "Many people are probably impacted: post an update so it is broadcast."
    } else {
        "You may want to post an update."
    };
    let b = vec![
        section(&format!(
            ":bell: No update on incident {} for {quiet_for}. {advice}",
            v.incident().id
        )),
        blocks::actions(
            "reminder_actions",
            vec![button(
                "Post an update",
                crate::ids::action::UPDATE_STATUS,
                &v.incident().id.0.to_string(),
            )],
        ),
    ];
    (
        format!("Reminder to update incident {}", v.incident().id),
        Value::Array(b),
    )
}

/// A call for help.
pub fn sos(v: &IncidentView, target: &str, by: &str) -> (String, Value) {
    let text = format!(
        ":sos: {target} we need help on {} incident {} ({}): *{}* — asked by {by}",
        v.priority_label(),
        v.incident().id,
        v.channel_ref(),
        escape(&v.incident().title)
    );
    (text.replace('*', ""), Value::Array(vec![section(&text)]))
}

/// Suggests downgrading an incident that no longer needs a channel.
pub fn downgrade_hint(v: &IncidentView) -> (String, Value) {
    let b = vec![
        section(&format!(
            ":arrow_down: Incident {} is now {}: it may not need a channel any more. You can turn it into a regular incident (the channel is archived).",
            v.incident().id,
            v.priority_label()
        )),
        blocks::actions(
            "downgrade_actions",
            vec![button(
                "Change workflow",
                crate::ids::action::DOWNGRADE,
                &v.incident().id.0.to_string(),
            )],
        ),
    ];
    (
        "This incident may not need a channel".into(),
        Value::Array(b),
    )
}

/// An on-call was paged: the timeline entry's text, in the incident channel.
pub fn oncall_paged(text: &str, by: Option<&str>) -> (String, Value) {
    let mut b = vec![section(&format!(":rotating_light: {}", escape(text)))];
    if let Some(by) = by {
        b.push(context(&format!("Asked by {by}")));
    }
    (text.to_owned(), Value::Array(b))
}

/// The incident's channel opened outside office hours: responders may not
/// be around, and a button opens the on-call modal (as `/incident oncall` does).
pub fn oncall_hint(
    v: &IncidentView,
    hint: &firefighter_core::oncall::OffHoursHint,
) -> (String, Value) {
    let text = format!(
        "This incident started outside office hours ({}): responders may not be at their desks. If it cannot wait, page the on-call.",
        hint.local_time
    );
    let b = vec![
        section(&format!(":crescent_moon: {}", escape(&text))),
        blocks::actions(
            &format!("oncall_hint:{}", v.incident().id.0),
            vec![button(
                "Page the on-call",
                crate::ids::action::ONCALL,
                &v.incident().id.0.to_string(),
            )],
        ),
    ];
    (text, Value::Array(b))
}

/// Who was invited, and who could not be.
pub fn invitations(invited: usize, failures: &[(String, String)]) -> Option<(String, Value)> {
    if failures.is_empty() {
        return None;
    }
    let list: Vec<String> = failures
        .iter()
        .take(20)
        .map(|(u, why)| format!("• {u}: {why}"))
        .collect();
    let text = format!(
        ":envelope: {invited} responders invited. Could not invite:\n{}",
        list.join("\n")
    );
    Some((
        "Some responders could not be invited".into(),
        Value::Array(vec![section(&text), divider()]),
    ))
}
