//! On-call: who is on call, which services can be paged for an incident,
//! paging them, and office hours. Vendor-neutral: an on-call vendor
//! (PagerDuty, Opsgenie...) implements [`OnCall`] and registers it
//! ([`register_oncall!`](crate::register_oncall) or
//! [`FirefighterBuilder::oncall`](crate::FirefighterBuilder::oncall)); chat
//! and documentation integrations use it through
//! [`Firefighter::oncall`](crate::Firefighter::oncall), never through the
//! vendor's crate. At most one vendor is on.

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::event::ChannelInfo;
use crate::{IncidentId, UserId};

/// Whether `at` falls in office hours in `tz`: Monday to Friday, 9:00 to
/// 17:59 local time. The one rule every part of firefighter uses (reminders,
/// the off-hours hint, the declaration wizard).
pub fn is_office_hours(at: DateTime<Utc>, tz: chrono_tz::Tz) -> bool {
    let local = at.with_timezone(&tz);
    !matches!(local.weekday(), Weekday::Sat | Weekday::Sun) && (9..18).contains(&local.hour())
}

/// An instant in `tz`, for people: `Saturday 22:14 (Europe/Paris)`.
pub fn local_time(at: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    format!("{} ({tz})", at.with_timezone(&tz).format("%A %H:%M"))
}

// ------------------------------------------------------------------ roster

/// Who is on call at one instant, per escalation policy and level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// The instant the roster describes.
    pub at: DateTime<Utc>,
    /// When the vendor's data was last synced (`None`: never).
    pub synced_at: Option<DateTime<Utc>>,
    /// Escalation policies, by name.
    pub policies: Vec<OnCallPolicy>,
}

/// The on-call of one escalation policy (the services it covers page it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCallPolicy {
    /// The vendor's id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Link to it at the vendor (empty when unknown).
    pub url: String,
    /// Escalation levels, first responders first.
    pub levels: Vec<OnCallLevel>,
}

/// Who is on call at one escalation level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCallLevel {
    /// The level (1 = first responders).
    pub level: i32,
    /// The people, by name.
    pub people: Vec<OnCallPerson>,
}

/// A person on call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCallPerson {
    /// Name, for people.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Phone number (`+<country code><number>`), when the vendor has one.
    pub phone: Option<String>,
    /// The firefighter account, when linked. Integrations find the person's
    /// identity on their platform there ([`crate::User::identity`]).
    pub user_id: Option<UserId>,
    /// The vendor's id of the person.
    pub external_id: String,
    /// Link to the person at the vendor (empty when unknown).
    pub url: String,
    /// The schedule that put them on call (none: named directly in the policy).
    pub schedule: Option<OnCallSchedule>,
    /// When their shift ends (none: permanent).
    pub until: Option<DateTime<Utc>>,
}

/// A schedule, as shown on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCallSchedule {
    /// The vendor's id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Link to it at the vendor (empty when unknown).
    pub url: String,
}

impl Roster {
    /// Nobody on call at `at`.
    pub fn empty(at: DateTime<Utc>) -> Roster {
        Roster {
            at,
            synced_at: None,
            policies: Vec::new(),
        }
    }

    /// Whether nobody is on call (or nothing was synced yet).
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The first responders (lowest level) of each policy.
    pub fn first_responders(&self) -> impl Iterator<Item = (&OnCallPolicy, &OnCallPerson)> {
        self.policies.iter().flat_map(|p| {
            p.levels
                .first()
                .into_iter()
                .flat_map(move |l| l.people.iter().map(move |person| (p, person)))
        })
    }

    /// The firefighter accounts of everyone on the roster, sorted, once each.
    pub fn user_ids(&self) -> Vec<UserId> {
        let mut ids: Vec<UserId> = self
            .policies
            .iter()
            .flat_map(|p| &p.levels)
            .flat_map(|l| &l.people)
            .filter_map(|p| p.user_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// A one-line plain-text summary of the first responders:
    /// `PAYMENTS Jane Doe +33612345678 · CORE John Roe`.
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
}

// ------------------------------------------------------------------ paging

/// A service whose on-call can be paged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageableService {
    /// The vendor's id (what a [`PageRequest`] names).
    pub id: String,
    /// Name.
    pub name: String,
    /// Short description.
    pub summary: String,
    /// The escalation policy it pages, by name.
    pub escalation_policy: Option<String>,
    /// Link to it at the vendor (empty when unknown).
    pub url: String,
}

/// A request to page the on-call of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The service (its vendor id, see [`PageableService::id`]).
    pub service_id: String,
    /// The incident it is about, if any: a service is paged at most once per incident.
    pub incident_id: Option<IncidentId>,
    /// What is going on (the title the on-call receives).
    pub summary: String,
    /// Details.
    pub details: String,
    /// Who asks.
    pub requested_by: Option<UserId>,
    /// An id of the request (a form's hidden token): a page without incident
    /// is sent once per request id, so a form submitted twice pages once.
    pub request_id: Option<String>,
}

/// A page, as the person who asked for it sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageReceipt {
    /// The service paged (vendor id).
    pub service_id: String,
    /// Its name.
    pub service_name: String,
    /// The incident it is about, if any.
    pub incident_id: Option<IncidentId>,
    /// Link to the page at the vendor, once known.
    pub url: Option<String>,
}

/// What asking for a page did. Whatever the number of requests, a service is
/// paged once per incident: later requests get [`PageOutcome::AlreadySent`]
/// or [`PageOutcome::BeingSent`], and nothing is sent again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PageOutcome {
    /// The vendor accepted the page now.
    Sent {
        /// The page.
        page: PageReceipt,
    },
    /// An earlier request already paged this service (for this incident or
    /// this request id): nothing was sent again.
    AlreadySent {
        /// The earlier page.
        page: PageReceipt,
    },
    /// The page is recorded but not accepted yet: the vendor could not take
    /// it now and it is retried automatically (`reason` says why), or
    /// another request is sending it right now (`reason` is `None`).
    BeingSent {
        /// The page.
        page: PageReceipt,
        /// Why the vendor has not taken it yet.
        reason: Option<String>,
    },
}

impl PageOutcome {
    /// The page.
    pub fn page(&self) -> &PageReceipt {
        match self {
            PageOutcome::Sent { page }
            | PageOutcome::AlreadySent { page }
            | PageOutcome::BeingSent { page, .. } => page,
        }
    }

    /// Whether the vendor has the page (now or from an earlier request).
    pub fn is_sent(&self) -> bool {
        !matches!(self, PageOutcome::BeingSent { .. })
    }

    /// A sentence for the person who asked.
    pub fn message(&self) -> String {
        let page = self.page();
        let service = &page.service_name;
        match self {
            PageOutcome::Sent { .. } => format!(
                "The {service} on-call was paged{}.",
                page.url
                    .as_deref()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default()
            ),
            PageOutcome::AlreadySent { .. } => format!(
                "The {service} on-call was already paged{}; nothing was sent again.",
                page.incident_id
                    .map(|i| format!(" for incident {i}"))
                    .unwrap_or_default()
            ),
            PageOutcome::BeingSent {
                reason: Some(reason),
                ..
            } => format!(
                "The page to the {service} on-call could not be delivered yet ({reason}). It is saved and will be sent automatically."
            ),
            PageOutcome::BeingSent { reason: None, .. } => {
                format!("The {service} on-call is being paged right now; nothing was sent twice.")
            }
        }
    }
}

/// Why an on-call vendor could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnCallError {
    /// The request is wrong (an empty title, an unknown or ignored
    /// service...): nothing was paged. The message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// The vendor refused, or its data could not be read.
    #[error("{0}")]
    Failed(String),
}

/// An on-call vendor. Reads should come from data already synced to the
/// database: chat commands and pages wait for them.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait OnCall: Send + Sync + 'static {
    /// A stable name (`pagerduty`).
    fn name(&self) -> &str;
    /// The vendor's name for people (`PagerDuty`).
    fn display_name(&self) -> &str;
    /// The longest summary a page takes, in characters.
    fn max_summary_chars(&self) -> usize {
        1024
    }
    /// Who is on call now.
    async fn roster(&self) -> Result<Roster, OnCallError>;
    /// The services that can still be paged for an incident: pageable, and
    /// not already paged (or being paged) for it.
    async fn services_to_page(
        &self,
        incident: IncidentId,
    ) -> Result<Vec<PageableService>, OnCallError>;
    /// Pages the on-call of `request.service_id`, exactly once per incident
    /// and service (or per request id without incident), whatever the
    /// number of requests and retries. The vendor puts the page on the
    /// incident's timeline (event type
    /// [`crate::timeline::event_type::TRIGGER_ONCALL`]) once it is sent.
    async fn page(&self, request: PageRequest) -> Result<PageOutcome, OnCallError>;
}

/// Static registration of an on-call vendor, submitted with
/// [`crate::register_oncall!`].
#[derive(Debug)]
pub struct OnCallRegistration {
    /// The vendor's name.
    pub name: &'static str,
    /// Builds it; `Ok(None)` when its integration is switched off.
    pub build: crate::plugin::PluginBuilder<dyn OnCall>,
}

inventory::collect!(OnCallRegistration);

/// Names of every statically registered on-call vendor, built or not (sorted).
pub fn registered_names() -> Vec<&'static str> {
    let mut names: Vec<_> = inventory::iter::<OnCallRegistration>
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort_unstable();
    names
}

/// Registers an on-call vendor from any crate.
#[macro_export]
macro_rules! register_oncall {
    ($registration:expr) => {
        $crate::__inventory::submit! { $registration }
    };
}

// ------------------------------------------------------------------ off-hours hint

/// An incident's conversation opened outside office hours while an on-call
/// vendor is on: responders may not be at their desks, so chat integrations
/// offer to page the on-call (event [`crate::IncidentEvent::OffHoursHint`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffHoursHint {
    /// The conversation that opened.
    pub channel: ChannelInfo,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// That instant in `TIME_ZONE`, for people (`Saturday 22:14 (Europe/Paris)`).
    pub local_time: String,
}

impl OffHoursHint {
    /// The hint for a conversation opened at `opened_at`, or `None` during office hours.
    pub fn for_channel(
        channel: ChannelInfo,
        opened_at: DateTime<Utc>,
        tz: chrono_tz::Tz,
    ) -> Option<OffHoursHint> {
        (!is_office_hours(opened_at, tz)).then(|| OffHoursHint {
            channel,
            opened_at,
            local_time: local_time(opened_at, tz),
        })
    }

    /// The timeline's words for it.
    pub fn timeline_text(&self) -> String {
        format!(
            "The incident's channel opened outside office hours ({}): responders may not be around. Page the on-call if it cannot wait.",
            self.local_time
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn office_hours_are_weekdays_nine_to_six_local_time() {
        let paris = chrono_tz::Europe::Paris;
        // Monday 5 January 2026: Paris is UTC+1.
        let utc = |d, h, m| Utc.with_ymd_and_hms(2026, 1, d, h, m, 0).unwrap();
        assert!(!is_office_hours(utc(5, 7, 59), paris)); // 08:59 Paris
        assert!(is_office_hours(utc(5, 8, 0), paris)); // 09:00
        assert!(is_office_hours(utc(5, 16, 59), paris)); // 17:59
        assert!(!is_office_hours(utc(5, 17, 0), paris)); // 18:00
        assert!(!is_office_hours(utc(10, 10, 0), paris)); // Saturday
        assert!(!is_office_hours(utc(11, 10, 0), paris)); // Sunday
        // The same instant is in office hours in UTC, not in Tokyo (19:00).
        assert!(is_office_hours(utc(5, 10, 0), chrono_tz::UTC));
        assert!(!is_office_hours(utc(5, 10, 0), chrono_tz::Asia::Tokyo));
        // Summer time: 07:30 UTC is 09:30 in Paris in July.
        let july = Utc.with_ymd_and_hms(2026, 7, 6, 7, 30, 0).unwrap();
        assert!(is_office_hours(july, paris));
        // Friday 17:59 yes, Friday 18:00 no.
        assert!(is_office_hours(utc(9, 16, 59), paris));
        assert!(!is_office_hours(utc(9, 17, 0), paris));
    }

    #[test]
    fn the_hint_names_the_local_time_and_only_exists_off_hours() {
        let channel = ChannelInfo {
            platform: "chat".into(),
            id: "C1".into(),
            name: "inc".into(),
            url: String::new(),
        };
        let paris = chrono_tz::Europe::Paris;
        let saturday = Utc.with_ymd_and_hms(2026, 1, 10, 21, 14, 0).unwrap();
        let hint = OffHoursHint::for_channel(channel.clone(), saturday, paris).unwrap();
        assert_eq!(hint.local_time, "Saturday 22:14 (Europe/Paris)");
        assert!(hint.timeline_text().contains("Saturday 22:14"));
        let monday = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
        assert_eq!(OffHoursHint::for_channel(channel, monday, paris), None);
    }

    fn person(name: &str, phone: &str, user: Option<i64>) -> OnCallPerson {
        OnCallPerson {
            name: name.into(),
            email: format!("{}@example.com", name.to_lowercase()),
            phone: Some(phone.to_owned()).filter(|p| !p.is_empty()),
            user_id: user.map(|u| UserId(uuid::Uuid::from_u128(u as u128))),
            external_id: format!("U{name}"),
            url: String::new(),
            schedule: None,
            until: None,
        }
    }

    fn policy(name: &str, levels: Vec<Vec<OnCallPerson>>) -> OnCallPolicy {
        OnCallPolicy {
            id: format!("P{name}"),
            name: name.into(),
            url: String::new(),
            levels: levels
                .into_iter()
                .enumerate()
                .map(|(i, people)| OnCallLevel {
                    level: i as i32 + 1,
                    people,
                })
                .collect(),
        }
    }

    #[test]
    fn first_responders_summary_and_linked_accounts() {
        let roster = Roster {
            policies: vec![
                policy(
                    "Core",
                    vec![
                        vec![person("Ann", "+331", Some(2))],
                        vec![person("Bob", "", Some(1))],
                    ],
                ),
                policy("Payments", vec![vec![person("Cid", "", None)]]),
                policy("Empty", vec![]),
            ],
            ..Roster::empty(Utc::now())
        };
        let first: Vec<_> = roster
            .first_responders()
            .map(|(_, p)| p.name.as_str())
            .collect();
        assert_eq!(first, ["Ann", "Cid"]);
        assert_eq!(roster.summary_text(), "CORE Ann +331 · PAYMENTS Cid");
        let ids = roster.user_ids();
        assert_eq!(ids.len(), 2, "Ann and Bob, not Cid (no account)");
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(!roster.is_empty());
        assert!(Roster::empty(Utc::now()).is_empty());
    }

    #[test]
    fn every_outcome_says_what_happened() {
        let page = PageReceipt {
            service_id: "S1".into(),
            service_name: "Checkout".into(),
            incident_id: Some(IncidentId(7)),
            url: Some("https://vendor.example.com/i/1".into()),
        };
        let sent = PageOutcome::Sent { page: page.clone() };
        assert_eq!(
            sent.message(),
            "The Checkout on-call was paged (https://vendor.example.com/i/1)."
        );
        assert!(sent.is_sent());
        let again = PageOutcome::AlreadySent { page: page.clone() };
        assert!(again.message().contains("already paged for incident #7"));
        assert!(again.is_sent());
        let queued = PageOutcome::BeingSent {
            page: page.clone(),
            reason: Some("the vendor answered 503".into()),
        };
        assert!(!queued.is_sent());
        assert!(queued.message().contains("answered 503"));
        assert!(queued.message().contains("sent automatically"));
        let racing = PageOutcome::BeingSent { page, reason: None };
        assert!(racing.message().contains("right now"));
    }
}
