//! Who is on call now, as core's vendor-neutral [`Roster`]: read from the
//! synced tables only, so people without a PagerDuty account (and, through
//! core, the Confluence export and the Slack topic; the invite provider) see
//! it without calling PagerDuty.

use chrono::{DateTime, Utc};
use firefighter_core::Firefighter;
use firefighter_core::oncall::{OnCallLevel, OnCallPerson, OnCallPolicy, OnCallSchedule, Roster};

use crate::Result;
use crate::store::{PagerDutyStore, RosterRow};

/// Builds the roster from stored rows (already current and ordered).
pub(crate) fn assemble(
    rows: Vec<RosterRow>,
    at: DateTime<Utc>,
    synced_at: Option<DateTime<Utc>>,
) -> Roster {
    let mut policies: Vec<OnCallPolicy> = Vec::new();
    for row in rows {
        if policies.last().is_none_or(|p| p.id != row.policy_id) {
            policies.push(OnCallPolicy {
                id: row.policy_id.clone(),
                name: row.policy_name.clone(),
                url: row.policy_url.clone(),
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
            policy.levels.push(OnCallLevel {
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
            .any(|p| p.external_id == row.pagerduty_user_id)
        {
            continue;
        }
        level.people.push(OnCallPerson {
            name: if row.user_name.is_empty() {
                row.user_email.clone()
            } else {
                row.user_name.clone()
            },
            email: row.user_email,
            phone: Some(row.phone_number).filter(|p| !p.is_empty()),
            user_id: row.user_id,
            external_id: row.pagerduty_user_id,
            url: row.user_url,
            schedule: row.schedule_id.map(|id| OnCallSchedule {
                name: row.schedule_name.unwrap_or_else(|| id.clone()),
                url: row.schedule_url.unwrap_or_default(),
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
pub(crate) async fn roster_at(store: &PagerDutyStore, at: DateTime<Utc>) -> Result<Roster> {
    let rows = store.roster_rows(at).await?;
    let synced_at = store.synced_at("oncalls").await?;
    Ok(assemble(rows, at, synced_at))
}

/// Who is on call now (from the last sync).
pub async fn roster(app: &Firefighter) -> Result<Roster> {
    let store = crate::store_of(app)?;
    roster_at(&store, firefighter_core::store::now()).await
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
        let r = assemble(rows, Utc::now(), None);
        assert_eq!(r.policies.len(), 2);
        assert_eq!(r.policies[0].levels.len(), 2);
        assert_eq!(r.policies[0].levels[0].people.len(), 1);
        assert_eq!(r.policies[0].levels[0].people[0].external_id, "UAnn");
        assert_eq!(r.policies[0].levels[1].people[0].phone, None);
        let first: Vec<_> = r.first_responders().map(|(_, p)| p.name.as_str()).collect();
        assert_eq!(first, ["Ann", "Cid"]);
    }
}
