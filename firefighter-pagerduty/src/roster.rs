//! Who is on call now: read from the synced tables only, so people without
//! a PagerDuty account (and the Confluence export, the Slack topic, the
//! invite provider) see it without calling PagerDuty.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use firefighter_core::{Firefighter, UserId};
use serde::Serialize;

use crate::Result;
use crate::store::{PagerDutyStore, RosterRow};

/// The current on-call roster, per escalation policy and level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Roster {
    /// The instant the roster describes.
    pub at: DateTime<Utc>,
    /// When the on-call data was last synced from PagerDuty (`None`: never).
    pub synced_at: Option<DateTime<Utc>>,
    /// Escalation policies (with at least one service that is not ignored), by name.
    pub policies: Vec<PolicyOncall>,
}

/// The on-call of one escalation policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyOncall {
    /// PagerDuty id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Link to the policy on PagerDuty.
    pub pagerduty_url: String,
    /// Escalation levels, lowest (first responders) first.
    pub levels: Vec<LevelOncall>,
}

/// Who is on call at one escalation level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LevelOncall {
    /// The level (1 = first responders).
    pub level: i32,
    /// The people, by name.
    pub people: Vec<OncallPerson>,
}

/// A person on call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OncallPerson {
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Phone number (`+<country code><number>`), when PagerDuty has one.
    pub phone: Option<String>,
    /// The firefighter account, when linked.
    pub user_id: Option<UserId>,
    /// The Slack id, when the account has one.
    pub slack_id: Option<String>,
    /// PagerDuty id.
    pub pagerduty_id: String,
    /// Link to the person on PagerDuty.
    pub pagerduty_url: String,
    /// The schedule that put them on call (none: named in the escalation rule).
    pub schedule: Option<ScheduleRef>,
    /// When their shift ends (none: permanent).
    pub until: Option<DateTime<Utc>>,
}

/// A schedule, as shown on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleRef {
    /// PagerDuty id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Link to it on PagerDuty.
    pub pagerduty_url: String,
}

impl Roster {
    /// Whether nobody is on call (or nothing was synced yet).
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The first responders (lowest level) of each policy.
    pub fn first_responders(&self) -> impl Iterator<Item = (&PolicyOncall, &OncallPerson)> {
        self.policies.iter().flat_map(|p| {
            p.levels
                .first()
                .into_iter()
                .flat_map(move |l| l.people.iter().map(move |person| (p, person)))
        })
    }

    /// A one-line plain-text summary: `PAYMENTS Jane Doe +33612345678 · CORE John Roe`.
    pub fn summary_text(&self) -> String {
        self.first_responders()
            .map(|(p, person)| {
                let mut s = format!("{} {}", p.name.to_uppercase(), person.name);
                if let Some(phone) = &person.phone {
                    s.push(' ');
                    s.push_str(phone);
                }
                s
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }

    /// The on-call part of the tech-incidents channel topic, in Slack markup
    /// as FireFighter wrote it: per escalation policy `POLICY <@slack id or
    /// name> <tel:+phone>`, after a link to the on-call page, cut to
    /// `max_chars` characters (Slack topics take 250).
    pub fn topic_text(&self, base_url: &str, max_chars: usize) -> String {
        let mut text = format!("<{}/oncall/|On-call>:", base_url.trim_end_matches('/'));
        for (policy, person) in self.first_responders() {
            text.push(' ');
            text.push_str(&policy.name.to_uppercase());
            text.push(' ');
            match &person.slack_id {
                Some(id) => text.push_str(&format!("<@{id}>")),
                None => text.push_str(&person.name),
            }
            if let Some(phone) = &person.phone {
                text.push_str(&format!(" <tel:{phone}|{phone}>"));
            }
        }
        if text.chars().count() > max_chars {
            text = text.chars().take(max_chars.saturating_sub(1)).collect();
            text.push('…');
        }
        text
    }
}

impl From<Roster> for firefighter_core::oncall::Roster {
    fn from(r: Roster) -> Self {
        use firefighter_core::oncall as core;
        core::Roster {
            at: r.at,
            synced_at: r.synced_at,
            policies: r
                .policies
                .into_iter()
                .map(|p| core::OnCallPolicy {
                    id: p.id,
                    name: p.name,
                    url: p.pagerduty_url,
                    levels: p
                        .levels
                        .into_iter()
                        .map(|l| core::OnCallLevel {
                            level: l.level,
                            people: l
                                .people
                                .into_iter()
                                .map(|person| core::OnCallPerson {
                                    name: person.name,
                                    email: person.email,
                                    phone: person.phone,
                                    user_id: person.user_id,
                                    external_id: person.pagerduty_id,
                                    url: person.pagerduty_url,
                                    schedule: person.schedule.map(|s| core::OnCallSchedule {
                                        id: s.id,
                                        name: s.name,
                                        url: s.pagerduty_url,
                                    }),
                                    until: person.until,
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Builds the roster from stored rows (already current and ordered).
pub(crate) fn assemble(
    rows: Vec<RosterRow>,
    slack_ids: &HashMap<UserId, String>,
    at: DateTime<Utc>,
    synced_at: Option<DateTime<Utc>>,
) -> Roster {
    let mut policies: Vec<PolicyOncall> = Vec::new();
    for row in rows {
        if policies.last().is_none_or(|p| p.id != row.policy_id) {
            policies.push(PolicyOncall {
                id: row.policy_id.clone(),
                name: row.policy_name.clone(),
                pagerduty_url: row.policy_url.clone(),
                levels: Vec::new(),
            });
        }
        let Some(policy) = policies.last_mut() else {
            continue;
        };
        if policy
            .levels
            .last()
            .is_none_or(|l| l.level != row.escalation_level)
        {
            policy.levels.push(LevelOncall {
                level: row.escalation_level,
                people: Vec::new(),
            });
        }
        let Some(level) = policy.levels.last_mut() else {
            continue;
        };
        // On call through two schedules at the same level: listed once.
        if level
            .people
            .iter()
            .any(|p| p.pagerduty_id == row.pagerduty_user_id)
        {
            continue;
        }
        level.people.push(OncallPerson {
            name: if row.user_name.is_empty() {
                row.user_email.clone()
            } else {
                row.user_name.clone()
            },
            email: row.user_email,
            phone: Some(row.phone_number).filter(|p| !p.is_empty()),
            user_id: row.user_id,
            slack_id: row.user_id.and_then(|u| slack_ids.get(&u).cloned()),
            pagerduty_id: row.pagerduty_user_id,
            pagerduty_url: row.user_url,
            schedule: row.schedule_id.map(|id| ScheduleRef {
                name: row.schedule_name.unwrap_or_else(|| id.clone()),
                pagerduty_url: row.schedule_url.unwrap_or_default(),
                id,
            }),
            until: row.ends_at,
        });
    }
    Roster {
        at,
        synced_at,
        policies,
    }
}

/// The roster at `at`.
pub(crate) async fn roster_at(
    store: &PagerDutyStore,
    core: &dyn firefighter_core::Store,
    at: DateTime<Utc>,
) -> Result<Roster> {
    let rows = store.roster_rows(at).await?;
    let mut ids: Vec<UserId> = rows.iter().filter_map(|r| r.user_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let slack_ids: HashMap<UserId, String> = core
        .users(&ids)
        .await?
        .into_iter()
        .filter_map(|u| {
            let id = u.identity("slack").filter(|s| !s.is_empty())?.to_owned();
            Some((u.id, id))
        })
        .collect();
    let synced_at = store.synced_at("oncalls").await?;
    Ok(assemble(rows, &slack_ids, at, synced_at))
}

/// Who is on call now (from the last sync).
pub async fn roster(app: &Firefighter) -> Result<Roster> {
    let store = crate::store_of(app)?;
    roster_at(&store, app.store().as_ref(), firefighter_core::store::now()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(policy: &str, level: i32, user: &str, phone: &str) -> RosterRow {
        RosterRow {
            policy_id: format!("P{policy}"),
            policy_name: policy.to_owned(),
            policy_url: String::new(),
            escalation_level: level,
            pagerduty_user_id: format!("U{user}"),
            user_name: user.to_owned(),
            user_email: format!("{}@example.com", user.to_lowercase()),
            phone_number: phone.to_owned(),
            user_url: String::new(),
            user_id: None,
            schedule_id: None,
            schedule_name: None,
            schedule_url: None,
            starts_at: None,
            ends_at: None,
        }
    }

    #[test]
    fn groups_by_policy_and_level_and_lists_a_person_once_per_level() {
        let rows = vec![
            row("Core", 1, "Ann", "+331"),
            row("Core", 1, "Ann", "+331"),
            row("Core", 2, "Bob", ""),
            row("Payments", 1, "Cid", ""),
        ];
        let r = assemble(rows, &HashMap::new(), Utc::now(), None);
        assert_eq!(r.policies.len(), 2);
        assert_eq!(r.policies[0].levels.len(), 2);
        assert_eq!(r.policies[0].levels[0].people.len(), 1);
        assert_eq!(r.policies[0].levels[1].people[0].phone, None);
        let first: Vec<_> = r.first_responders().map(|(_, p)| p.name.as_str()).collect();
        assert_eq!(first, ["Ann", "Cid"]);
        assert_eq!(r.summary_text(), "CORE Ann +331 · PAYMENTS Cid");
        let topic = r.topic_text("https://ff.example.com/", 250);
        assert_eq!(
            topic,
            "<https://ff.example.com/oncall/|On-call>: CORE Ann <tel:+331|+331> PAYMENTS Cid"
        );
        assert_eq!(
            r.topic_text("https://ff.example.com", 20).chars().count(),
            20
        );
    }
}
