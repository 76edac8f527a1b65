//! Periodic tasks: users, user groups and conversations synced from Slack
//! (paged with Slack's cursors, written in batches), and reminders.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use firefighter_core::store::UserUpsert;
use firefighter_core::task::{PeriodicTask, Schedule, TaskError, TaskReport};
use firefighter_core::{Email, IncidentFilter, Status, User, UserId};

use crate::messages::{self, Strategy, kind, tag};
use crate::models::api::NewMessage;
use crate::store::{ConversationKind, ConversationStatus};
use crate::users::member_row;
use crate::{Result, Slack};

/// Task names.
pub(crate) const SYNC_USERS: &str = "slack.sync_users";
/// Task names.
pub(crate) const SYNC_USERGROUPS: &str = "slack.update_usergroups_members_from_slack";
/// Task names.
pub(crate) const SYNC_CONVERSATIONS: &str = "slack.fetch_conversations_members_from_slack";
/// Task names.
pub(crate) const UPDATE_REMINDERS: &str = "slack.send_reminders";
/// Task names.
pub(crate) const POSTMORTEM_REMINDERS: &str = "slack.send_postmortem_reminders";

/// Members per `users.list` page (Slack's recommendation).
const USERS_PAGE: u32 = 200;

/// What a user sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserSyncReport {
    /// Members read from Slack.
    pub read: usize,
    /// Users created.
    pub created: usize,
    /// Existing users linked to their Slack id.
    pub linked: usize,
    /// Users whose name, avatar or state changed.
    pub updated: usize,
    /// Members skipped (bots, guests, other workspaces, no e-mail).
    pub skipped: usize,
    /// Pages read.
    pub pages: usize,
}

impl Slack {
    /// Reads every workspace member and links or creates their firefighter users.
    pub async fn sync_users(&self) -> Result<UserSyncReport> {
        /// What the sync compares, kept small: a workspace may have 100,000 members.
        struct Known {
            name: String,
            avatar: Option<String>,
            is_active: bool,
        }
        let mut report = UserSyncReport::default();
        let team = self
            .workspace()
            .await
            .ok()
            .map(|w| w.team_id)
            .filter(|t| !t.is_empty());
        let mut by_email: HashMap<String, UserId> = HashMap::new();
        let mut by_slack: HashMap<String, UserId> = HashMap::new();
        let mut known: HashMap<UserId, Known> = HashMap::new();
        for u in self.core().list_users().await? {
            if let Some(s) = u.identity(crate::PLATFORM) {
                by_slack.insert(s.to_owned(), u.id);
            }
            by_email.insert(u.email, u.id);
            known.insert(
                u.id,
                Known {
                    name: u.name,
                    avatar: u.avatar,
                    is_active: u.is_active,
                },
            );
        }
        let mut cursor = None;
        loop {
            let page = self.api().list_users(cursor, USERS_PAGE).await?;
            report.pages += 1;
            let mut rows = Vec::with_capacity(page.items.len());
            let mut batch: Vec<UserUpsert> = Vec::new();
            // (member index, batch index) of members written with the batch.
            let mut pending: Vec<(usize, usize)> = Vec::new();
            let mut queued: std::collections::HashSet<String> = Default::default();
            for (k, m) in page.items.iter().enumerate() {
                report.read += 1;
                let other_team = matches!((&team, &m.team_id), (Some(t), Some(mt)) if t != mt);
                let email = m
                    .profile
                    .email
                    .as_deref()
                    .and_then(|e| Email::parse(e).ok());
                let linked = by_slack.get(&m.id).copied();
                if other_team || !m.is_person() || email.is_none() {
                    report.skipped += 1;
                    // A deactivated member keeps their link but can no longer be invited.
                    if m.deleted
                        && let Some(id) = linked
                        && known.get(&id).is_some_and(|k| k.is_active)
                        && let Some(u) = self.core().user(id).await?
                    {
                        self.core()
                            .update_user(&User {
                                is_active: false,
                                ..u
                            })
                            .await?;
                        if let Some(k) = known.get_mut(&id) {
                            k.is_active = false;
                        }
                        report.updated += 1;
                    }
                    rows.push(member_row(m, linked));
                    continue;
                }
                let email = email.expect("checked");
                let name = m.display_name();
                let avatar = m.profile.image_72.clone();
                let existing = by_email.get(email.as_str()).copied();
                let changed = match existing {
                    Some(id) => known
                        .get(&id)
                        .is_none_or(|k| k.name != name || k.avatar != avatar),
                    None => true,
                };
                let relink = existing.is_none() || linked != existing;
                if !changed && !relink {
                    rows.push(member_row(m, existing));
                    continue;
                }
                // New, renamed or relinked: written with the page's batch.
                // The same e-mail twice in a page is one user (the batch keeps the last).
                if queued.insert(email.as_str().to_owned()) {
                    match existing {
                        None => report.created += 1,
                        Some(_) if changed => report.updated += 1,
                        Some(_) => {}
                    }
                    if relink {
                        report.linked += 1;
                    }
                }
                pending.push((k, batch.len()));
                batch.push(UserUpsert {
                    email,
                    name,
                    avatar,
                    identity: Some((crate::PLATFORM.to_owned(), m.id.clone())),
                });
            }
            // One multi-row write per page instead of a few statements per member.
            let ids = self.core().upsert_users(&batch).await?;
            for (k, b) in pending {
                let (m, u, id) = (&page.items[k], &batch[b], ids[b]);
                by_email.insert(u.email.as_str().to_owned(), id);
                by_slack.insert(m.id.clone(), id);
                known.insert(
                    id,
                    Known {
                        name: u.name.clone(),
                        avatar: u.avatar.clone(),
                        is_active: known.get(&id).is_none_or(|k| k.is_active),
                    },
                );
                rows.push(member_row(m, Some(id)));
            }
            self.store().upsert_users(&rows).await?;
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(report)
    }

    /// Refreshes the known user groups (details and members) from Slack.
    pub(crate) async fn sync_usergroups(&self) -> Result<(usize, usize)> {
        let known: Vec<String> = self
            .store()
            .usergroups()
            .await?
            .into_iter()
            .map(|g| g.usergroup_id)
            .collect();
        let mut updated = 0;
        let mut members = 0;
        for g in self.api().list_usergroups().await? {
            if !known.contains(&g.id) {
                continue;
            }
            self.store()
                .upsert_usergroup(&g.id, &g.handle, &g.name, &g.description, g.is_external)
                .await?;
            let users = match g.users {
                Some(u) => u,
                None => self.api().usergroup_members(&g.id).await?,
            };
            members += users.len();
            self.store().set_usergroup_members(&g.id, &users).await?;
            updated += 1;
        }
        Ok((updated, members))
    }

    /// Refreshes the configured (non-incident) conversations and their members,
    /// and forgets Events API ids older than a day (Slack retries within
    /// minutes) and the attempt markers of effects done a week ago.
    pub(crate) async fn sync_conversations(&self) -> Result<(usize, usize)> {
        let now = chrono::Utc::now();
        self.store()
            .purge_events(now - chrono::Duration::days(1))
            .await?;
        self.store()
            .purge_attempt_markers(now - chrono::Duration::days(7))
            .await?;
        let mut done = 0;
        let mut failed = 0;
        for c in self.store().configured_conversations().await? {
            match self.refresh_conversation(&c.channel_id).await {
                Ok(()) => done += 1,
                Err(e) => {
                    tracing::warn!(channel = %c.channel_id, error = %e, "conversation not refreshed");
                    failed += 1;
                }
            }
        }
        Ok((done, failed))
    }

    /// Reads one conversation and its members from Slack into our tables.
    pub(crate) async fn refresh_conversation(&self, channel_id: &str) -> Result<()> {
        let info = self.api().channel_info(channel_id).await?;
        let status = if info.is_archived {
            ConversationStatus::Archived
        } else {
            ConversationStatus::Opened
        };
        self.store()
            .upsert_conversation(
                &info.id,
                &info.name,
                ConversationKind::of(&info),
                status,
                info.is_shared,
            )
            .await?;
        if info.is_archived {
            return Ok(());
        }
        let mut members = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.api().channel_members(channel_id, cursor).await?;
            members.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        self.store()
            .set_conversation_members(channel_id, &members)
            .await
    }

    /// Reminds quiet critical incidents to post an update: once per quiet
    /// period (a new update re-arms it), office hours only.
    pub async fn send_update_reminders(&self, now: chrono::DateTime<chrono::Utc>) -> Result<usize> {
        let app = self.app()?;
        if !firefighter_core::oncall::is_office_hours(now, app.time_zone()) {
            return Ok(0);
        }
        let catalog = app.catalog().await?;
        let incidents = app
            .list_incidents(&IncidentFilter {
                status_below: Some(Status::PostMortem),
                ignore: Some(false),
                priority_ids: catalog
                    .priorities
                    .iter()
                    .filter(|p| p.value < 4)
                    .map(|p| p.id)
                    .collect(),
                ..IncidentFilter::default()
            })
            .await?;
        let mut sent = 0;
        for i in incidents {
            let Some(p) = catalog.priorities.iter().find(|p| p.id == i.priority_id) else {
                continue;
            };
            let quiet = now - i.updated_at;
            if quiet
                < chrono::Duration::from_std(p.reminder_time).unwrap_or(chrono::Duration::hours(1))
            {
                continue;
            }
            let reminded = self.store().messages(i.id, kind::UPDATE_REMINDER).await?;
            if reminded.iter().any(|m| m.created_at > i.updated_at) {
                continue;
            }
            let v = self.incident_view(i.id).await?;
            let Some(channel) = v.channel_id.clone() else {
                continue;
            };
            let mins = quiet.num_minutes();
            let quiet_for = if mins >= 120 {
                format!("{} hours", mins / 60)
            } else {
                format!("{mins} minutes")
            };
            let (text, blocks) = messages::update_reminder(&v, &quiet_for);
            self.post(
                Some(i.id),
                kind::UPDATE_REMINDER,
                NewMessage::new(&channel, text, blocks),
                Strategy::Append,
                None,
            )
            .await?;
            sent += 1;
        }
        Ok(sent)
    }

    /// Reminds incidents whose post-mortem is due (post-mortem required:
    /// priority and production): once their priority's
    /// `postmortem_reminder_time` has passed since mitigation, then again
    /// after each `postmortem_reminder_repeat_time` without progress (zero:
    /// once per incident).
    pub async fn send_postmortem_reminders(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize> {
        let app = self.app()?;
        let catalog = app.catalog().await?;
        let incidents = app
            .list_incidents(&IncidentFilter {
                statuses: vec![Status::Mitigated, Status::PostMortem],
                ignore: Some(false),
                ..IncidentFilter::default()
            })
            .await?;
        let general = self.tagged_channel(tag::TECH_INCIDENTS).await?;
        let mut sent = 0;
        for i in incidents {
            let Some(mitigated) = i.mitigated_at else {
                continue;
            };
            let Some(priority) = catalog.priorities.iter().find(|p| p.id == i.priority_id) else {
                continue;
            };
            let after = |d: std::time::Duration| {
                chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
            };
            if now - mitigated < after(priority.postmortem_reminder_time)
                || !app.postmortem_required(&catalog, &i)
            {
                continue;
            }
            let last_reminder = self
                .store()
                .messages(i.id, kind::PM_REMINDER_5D)
                .await?
                .iter()
                .map(|m| m.created_at)
                .max();
            if let Some(last) = last_reminder {
                let repeat = priority.postmortem_reminder_repeat_time;
                // Progress (any change to the incident) restarts the wait.
                if repeat.is_zero() || now - last.max(i.updated_at) < after(repeat) {
                    continue;
                }
            }
            // A post-mortem that is ready needs no more reminding.
            if app.postmortem_state(&i).await == firefighter_core::lifecycle::PostMortemState::Ready
            {
                continue;
            }
            let days = (now - mitigated).num_days();
            let documents = self.postmortem_links(i.id).await?;
            let v = self.incident_view(i.id).await?;
            let Some(channel) = v.channel_id.clone() else {
                continue;
            };
            let (text, blocks) = messages::postmortem_overdue(&v, days, false, &documents);
            self.post(
                Some(i.id),
                kind::PM_REMINDER_5D,
                NewMessage::new(&channel, text, blocks),
                Strategy::Append,
                None,
            )
            .await?;
            if v.announced()
                && let Some(g) = &general
            {
                let (text, blocks) = messages::postmortem_overdue(&v, days, true, &documents);
                self.post(
                    Some(i.id),
                    kind::PM_REMINDER_5D_ANNOUNCEMENT,
                    NewMessage::new(g, text, blocks),
                    Strategy::Append,
                    None,
                )
                .await?;
            }
            sent += 1;
        }
        Ok(sent)
    }
}

macro_rules! task {
    ($(#[$doc:meta])* $name:ident, $task_name:expr, $description:expr, $schedule:expr, $timeout:expr, |$slack:ident| $run:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub(crate) struct $name {
            slack: Slack,
        }

        impl $name {
            /// The task for this integration.
            pub(crate) fn new(slack: Slack) -> $name {
                $name { slack }
            }
        }

        #[async_trait]
        impl PeriodicTask for $name {
            fn name(&self) -> &str {
                $task_name
            }

            fn description(&self) -> &str {
                $description
            }

            fn default_schedule(&self) -> Option<Schedule> {
                $schedule
            }

            fn timeout(&self) -> Duration {
                $timeout
            }

            async fn run(&self) -> std::result::Result<TaskReport, TaskError> {
                let $slack = &self.slack;
                $run.map_err(|e: crate::Error| TaskError::failed(e))
            }
        }
    };
}

task!(
    /// `slack.sync_users`: links workspace members to firefighter users (creating them).
    SyncUsers,
    SYNC_USERS,
    "Reads every Slack member (paged) and links or creates their firefighter users by e-mail.",
    Some(Schedule::every(Duration::from_secs(6 * 3600))),
    // 50,000 members are 250 pages at Slack's Tier 2 pace (about 13 minutes).
    Duration::from_secs(40 * 60),
    |s| s.sync_users().await.map(|r| TaskReport::counted([
        ("members read", r.read as u64),
        ("pages", r.pages as u64),
        ("users created", r.created as u64),
        ("linked", r.linked as u64),
        ("updated", r.updated as u64),
        ("skipped", r.skipped as u64),
    ]))
);

task!(
    /// Refreshes the details and members of the user groups added in the back-office.
    SyncUserGroups,
    SYNC_USERGROUPS,
    "Refreshes the user groups added in the back-office (details and members) from Slack.",
    Some(Schedule::every(Duration::from_secs(3600))),
    Duration::from_secs(600),
    |s| s.sync_usergroups().await.map(|(g, m)| TaskReport::counted([
        ("user groups refreshed", g as u64),
        ("memberships", m as u64),
    ]))
);

task!(
    /// Refreshes the configured conversations and their members.
    SyncConversations,
    SYNC_CONVERSATIONS,
    "Refreshes the configured (non-incident) conversations and their members from Slack.",
    Some(Schedule::every(Duration::from_secs(3600))),
    Duration::from_secs(600),
    |s| s.sync_conversations().await.map(|(d, f)| TaskReport::counted([
        ("conversations refreshed", d as u64),
        ("failed", f as u64),
    ]))
);

task!(
    /// Reminds quiet critical incidents to post an update.
    UpdateReminders,
    UPDATE_REMINDERS,
    "Reminds critical incidents without an update for their priority's reminder time (office hours).",
    Some(Schedule::every(Duration::from_secs(600))),
    Duration::from_secs(300),
    |s| s.send_update_reminders(chrono::Utc::now()).await.map(|n| TaskReport::counted([("reminders sent", n as u64)]))
);

task!(
    /// Reminds overdue post-mortems.
    PostmortemReminders,
    POSTMORTEM_REMINDERS,
    "Reminds mitigated incidents that their post-mortem is due (after each priority's post-mortem reminder time).",
    Schedule::cron("0 10,15 * * *").ok(),
    Duration::from_secs(300),
    |s| s.send_postmortem_reminders(chrono::Utc::now()).await.map(|n| TaskReport::counted([("post-mortem reminders sent", n as u64)]))
);
