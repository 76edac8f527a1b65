//! The periodic syncs from PagerDuty. Each one reads every page of its lists
//! first and writes in one transaction afterwards: a sync that fails midway
//! (PagerDuty down, a bad page, the 10,000-record cap) writes nothing and the
//! previous data stays as it was.

use std::collections::{BTreeMap, HashMap};

use firefighter_core::{Email, NewUser, Store, UserId};

use crate::models::{ContactMethod, Oncall, Service, Team, User};
use crate::store::{
    OncallRecord, OncallSnapshot, PolicyRecord, ScheduleRecord, ServiceRecord, TeamRecord,
    UserRecord, UserSnapshot,
};
use crate::{PagerDuty, Result};

/// The platform name of PagerDuty identities on core users.
pub const IDENTITY_PLATFORM: &str = "pagerduty";

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Records read from PagerDuty.
    pub fetched: usize,
    /// What was written, for the task's run history.
    pub summary: String,
}

impl PagerDuty {
    /// Syncs who is on call now, with escalation policies (and the services
    /// they cover), schedules and levels; replaces the stored roster in one
    /// transaction. People on call are linked to firefighter users by
    /// e-mail, creating accounts for unknown e-mails as FireFighter did.
    pub async fn sync_oncalls(&self) -> Result<SyncReport> {
        let oncalls = self.rest.oncalls().await?;
        let mut people: BTreeMap<String, (String, String)> = BTreeMap::new();
        for o in &oncalls {
            people.entry(o.user.id.clone()).or_insert_with(|| {
                (
                    o.user.email.clone().unwrap_or_default(),
                    display_name(&o.user),
                )
            });
        }
        let links = link_users(self.core.as_ref(), &people).await?;
        let snapshot = oncall_snapshot(&oncalls, &links);
        let summary = format!(
            "{} on-call entries, {} escalation policies, {} schedules, {} people",
            snapshot.oncalls.len(),
            snapshot.policies.len(),
            snapshot.schedules.len(),
            snapshot.users.len()
        );
        self.store
            .write_oncalls(&snapshot, firefighter_core::store::now(), &summary)
            .await?;
        Ok(SyncReport {
            fetched: oncalls.len(),
            summary,
        })
    }

    /// Syncs every service (names, status, links, escalation policy); the
    /// `ignore` flag set by people is kept. Services PagerDuty no longer
    /// lists are kept (pages refer to them) and counted.
    pub async fn sync_services(&self) -> Result<SyncReport> {
        let services = self.rest.services().await?;
        let records: Vec<ServiceRecord> = services.iter().map(service_record).collect();
        let at = firefighter_core::store::now();
        let mut summary = format!("{} services", records.len());
        let stale = self.store.write_services(&records, at, &summary).await?;
        if stale > 0 {
            tracing::warn!(stale, "services no longer listed by PagerDuty are kept");
            summary.push_str(&format!(", {stale} no longer listed by PagerDuty"));
        }
        Ok(SyncReport {
            fetched: services.len(),
            summary,
        })
    }

    /// Syncs every user (name, e-mail, phone number from their contact
    /// methods, teams) and every team, links users to firefighter users by
    /// e-mail (creating accounts as FireFighter did), and removes users
    /// PagerDuty no longer lists.
    pub async fn sync_users(&self) -> Result<SyncReport> {
        let mut users = self.rest.users().await?;
        let teams = self.rest.teams().await?;
        // Phone methods given as references only (no address) are read one user at a time.
        for user in users.iter_mut().filter(|u| needs_contact_methods(u)) {
            user.contact_methods = self.rest.contact_methods(&user.id).await?;
        }
        let people: BTreeMap<String, (String, String)> = users
            .iter()
            .map(|u| {
                (
                    u.id.clone(),
                    (u.email.clone().unwrap_or_default(), display_name(u)),
                )
            })
            .collect();
        let links = link_users(self.core.as_ref(), &people).await?;
        let snapshot = user_snapshot(&users, &teams, &links);
        let at = firefighter_core::store::now();
        let with_phone = snapshot
            .users
            .iter()
            .filter(|u| u.phone_number.as_deref().is_some_and(|p| !p.is_empty()))
            .count();
        let mut summary = format!(
            "{} users ({} with a phone number, {} linked), {} teams",
            snapshot.users.len(),
            with_phone,
            snapshot
                .users
                .iter()
                .filter(|u| u.user_id.is_some())
                .count(),
            snapshot.teams.len()
        );
        let removed = self.store.write_users(&snapshot, at, &summary).await?;
        if removed > 0 {
            summary.push_str(&format!(", {removed} removed"));
        }
        Ok(SyncReport {
            fetched: users.len(),
            summary,
        })
    }
}

fn display_name(user: &User) -> String {
    user.name
        .clone()
        .or_else(|| user.summary.clone())
        .unwrap_or_default()
}

fn needs_contact_methods(user: &User) -> bool {
    user.contact_methods.iter().any(|m| {
        let kind = m.kind.trim_end_matches("_reference");
        matches!(kind, "phone_contact_method" | "sms_contact_method") && m.address.is_none()
    })
}

/// Finds (or creates) the firefighter user of each PagerDuty user by e-mail
/// and records the PagerDuty id on it. E-mails that are not valid addresses
/// are left unlinked.
pub(crate) async fn link_users(
    core: &dyn Store,
    people: &BTreeMap<String, (String, String)>,
) -> Result<HashMap<String, UserId>> {
    let mut by_email: HashMap<String, firefighter_core::User> = core
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.email.to_lowercase(), u))
        .collect();
    let mut links = HashMap::new();
    for (pagerduty_id, (email, name)) in people {
        let Ok(email) = Email::parse(email) else {
            if !email.is_empty() {
                tracing::debug!(
                    pagerduty_id,
                    "PagerDuty user with an invalid e-mail left unlinked"
                );
            }
            continue;
        };
        let user = match by_email.get(email.as_str()) {
            Some(u) => u.clone(),
            None => {
                let new = NewUser {
                    name: Some(name.clone()).filter(|n| !n.trim().is_empty()),
                    ..NewUser::person(email.clone())
                };
                // Created meanwhile by another sync: that user.
                let (created, _) = core.user_by_email_or_create(&new).await?;
                by_email.insert(email.as_str().to_owned(), created.clone());
                created
            }
        };
        if user.identity(crate::sync::IDENTITY_PLATFORM) != Some(pagerduty_id.as_str()) {
            core.set_identity(user.id, IDENTITY_PLATFORM, pagerduty_id)
                .await?;
        }
        links.insert(pagerduty_id.clone(), user.id);
    }
    Ok(links)
}

fn oncall_snapshot(oncalls: &[Oncall], links: &HashMap<String, UserId>) -> OncallSnapshot {
    let mut policies: BTreeMap<String, PolicyRecord> = BTreeMap::new();
    let mut services: BTreeMap<String, ServiceRecord> = BTreeMap::new();
    let mut schedules: BTreeMap<String, ScheduleRecord> = BTreeMap::new();
    let mut users: BTreeMap<String, UserRecord> = BTreeMap::new();
    let mut entries = Vec::with_capacity(oncalls.len());
    for o in oncalls {
        let p = &o.escalation_policy;
        policies
            .entry(p.id.clone())
            .or_insert_with(|| PolicyRecord {
                id: p.id.clone(),
                name: p
                    .name
                    .clone()
                    .or_else(|| p.summary.clone())
                    .unwrap_or_else(|| p.id.clone()),
                summary: p.summary.clone().unwrap_or_default(),
                description: p.description.clone().unwrap_or_default(),
                api_url: p.api_url.clone().unwrap_or_default(),
                web_url: p.html_url.clone().unwrap_or_default(),
            });
        for s in &p.services {
            services
                .entry(s.id.clone())
                .or_insert_with(|| ServiceRecord {
                    id: s.id.clone(),
                    name: s.summary.clone().unwrap_or_else(|| s.id.clone()),
                    summary: s.summary.clone().unwrap_or_default(),
                    status: String::new(),
                    api_url: s.api_url.clone().unwrap_or_default(),
                    web_url: s.html_url.clone().unwrap_or_default(),
                    escalation_policy_id: Some(p.id.clone()),
                });
        }
        if let Some(s) = &o.schedule {
            schedules
                .entry(s.id.clone())
                .or_insert_with(|| ScheduleRecord {
                    id: s.id.clone(),
                    summary: s.summary.clone().unwrap_or_default(),
                    api_url: s.api_url.clone().unwrap_or_default(),
                    web_url: s.html_url.clone().unwrap_or_default(),
                });
        }
        users
            .entry(o.user.id.clone())
            .or_insert_with(|| UserRecord {
                id: o.user.id.clone(),
                user_id: links.get(&o.user.id).copied(),
                name: display_name(&o.user),
                email: o.user.email.clone().unwrap_or_default().to_lowercase(),
                phone_number: None,
                api_url: o.user.api_url.clone().unwrap_or_default(),
                web_url: o.user.html_url.clone().unwrap_or_default(),
            });
        entries.push(OncallRecord {
            escalation_policy_id: p.id.clone(),
            escalation_level: o.escalation_level,
            pagerduty_user_id: o.user.id.clone(),
            schedule_id: o.schedule.as_ref().map(|s| s.id.clone()),
            starts_at: o
                .start
                .map(|t| firefighter_core::store::truncate_micros(t.to_utc())),
            ends_at: o
                .end
                .map(|t| firefighter_core::store::truncate_micros(t.to_utc())),
        });
    }
    OncallSnapshot {
        policies: policies.into_values().collect(),
        services: services.into_values().collect(),
        schedules: schedules.into_values().collect(),
        users: users.into_values().collect(),
        oncalls: entries,
    }
}

fn service_record(s: &Service) -> ServiceRecord {
    ServiceRecord {
        id: s.id.clone(),
        name: s
            .name
            .clone()
            .or_else(|| s.summary.clone())
            .unwrap_or_else(|| s.id.clone()),
        summary: s.summary.clone().unwrap_or_default(),
        status: s.status.clone().unwrap_or_default(),
        api_url: s.api_url.clone().unwrap_or_default(),
        web_url: s.html_url.clone().unwrap_or_default(),
        escalation_policy_id: s.escalation_policy.as_ref().map(|p| p.id.clone()),
    }
}

fn user_snapshot(users: &[User], teams: &[Team], links: &HashMap<String, UserId>) -> UserSnapshot {
    let mut all_teams: BTreeMap<String, TeamRecord> = teams
        .iter()
        .map(|t| {
            (
                t.id.clone(),
                TeamRecord {
                    id: t.id.clone(),
                    name: t
                        .name
                        .clone()
                        .or_else(|| t.summary.clone())
                        .unwrap_or_else(|| t.id.clone()),
                    description: t.description.clone().unwrap_or_default(),
                    api_url: t.api_url.clone().unwrap_or_default(),
                    web_url: t.html_url.clone().unwrap_or_default(),
                },
            )
        })
        .collect();
    let mut memberships = Vec::new();
    let records = users
        .iter()
        .map(|u| {
            for t in &u.teams {
                all_teams.entry(t.id.clone()).or_insert_with(|| TeamRecord {
                    id: t.id.clone(),
                    name: t.summary.clone().unwrap_or_else(|| t.id.clone()),
                    description: String::new(),
                    api_url: t.api_url.clone().unwrap_or_default(),
                    web_url: t.html_url.clone().unwrap_or_default(),
                });
                memberships.push((u.id.clone(), t.id.clone()));
            }
            UserRecord {
                id: u.id.clone(),
                user_id: links.get(&u.id).copied(),
                name: display_name(u),
                email: u.email.clone().unwrap_or_default().to_lowercase(),
                phone_number: Some(phone_number(&u.contact_methods).unwrap_or_default()),
                api_url: u.api_url.clone().unwrap_or_default(),
                web_url: u.html_url.clone().unwrap_or_default(),
            }
        })
        .collect();
    UserSnapshot {
        teams: all_teams.into_values().collect(),
        users: records,
        memberships,
    }
}

/// The phone number to show: among phone and SMS methods, labels Work,
/// Mobile, SMS, Phone, Home first (FireFighter's order), as `+<country
/// code><digits>`.
pub(crate) fn phone_number(methods: &[ContactMethod]) -> Option<String> {
    const PREFERRED: [&str; 5] = ["work", "mobile", "sms", "phone", "home"];
    methods
        .iter()
        .filter(|m| {
            matches!(
                m.kind.as_str(),
                "phone_contact_method" | "sms_contact_method"
            )
        })
        .filter_map(|m| {
            let address = m.address.as_deref()?.trim();
            let label = m
                .label
                .as_deref()
                .or(m.summary.as_deref())
                .unwrap_or_default()
                .to_lowercase();
            let rank = PREFERRED
                .iter()
                .position(|p| *p == label)
                .unwrap_or(PREFERRED.len());
            let digits: String = address.chars().filter(char::is_ascii_digit).collect();
            if digits.is_empty() {
                return None;
            }
            let number = match m.country_code {
                Some(cc) if !address.starts_with('+') => format!("+{cc}{digits}"),
                _ => format!("+{digits}"),
            };
            Some((rank, number))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(kind: &str, label: &str, address: &str, cc: Option<u32>) -> ContactMethod {
        ContactMethod {
            id: "C".into(),
            kind: kind.into(),
            summary: Some(label.into()),
            label: Some(label.into()),
            address: Some(address.into()),
            country_code: cc,
        }
    }

    #[test]
    fn picks_the_preferred_phone_number() {
        let methods = vec![
            method("email_contact_method", "Work", "a@b.co", None),
            method("phone_contact_method", "Home", "612 34 56 78", Some(33)),
            method("sms_contact_method", "Mobile", "6 11 11 11 11", Some(33)),
        ];
        assert_eq!(phone_number(&methods).as_deref(), Some("+33611111111"));
        assert_eq!(phone_number(&methods[..1]), None);
        let international = [method(
            "phone_contact_method",
            "Other",
            "+1 415 555 1212",
            Some(1),
        )];
        assert_eq!(
            phone_number(&international).as_deref(),
            Some("+14155551212")
        );
    }
}
