//! REST API v2 objects (`reference/REST/openapiv3.json`).

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// A reference to another object (`*_reference`), or the object itself with
/// only the fields firefighter reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// PagerDuty id.
    pub id: String,
    /// `service_reference`, `user_reference`...
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A short name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// API URL.
    #[serde(rename = "self", default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// Web URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_url: Option<String>,
}

impl Reference {
    /// A reference to send (`{"id": ..., "type": ...}`).
    pub fn to(kind: &str, id: &str) -> Reference {
        Reference {
            id: id.to_owned(),
            kind: Some(kind.to_owned()),
            summary: None,
            api_url: None,
            html_url: None,
        }
    }
}

/// One page of a classic (offset/limit) list. The items sit under a key
/// named after the resource; the aliases cover every list firefighter reads.
#[derive(Debug, Deserialize)]
pub struct ListPage<T> {
    /// The items.
    #[serde(
        alias = "oncalls",
        alias = "users",
        alias = "services",
        alias = "teams",
        alias = "escalation_policies",
        alias = "schedules",
        alias = "incidents",
        alias = "contact_methods"
    )]
    pub items: Vec<T>,
    /// Whether more items follow.
    #[serde(default)]
    pub more: Option<bool>,
    /// The offset PagerDuty applied.
    #[serde(default)]
    pub offset: Option<u32>,
    /// The page size PagerDuty applied.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// An on-call entry (`GET /oncalls` with `include[]=users,escalation_policies,schedules`).
#[derive(Debug, Clone, Deserialize)]
pub struct Oncall {
    /// Who (a full user when `include[]=users`).
    pub user: User,
    /// Through which schedule (none for a user named directly in an escalation rule).
    #[serde(default)]
    pub schedule: Option<Reference>,
    /// Of which escalation policy.
    pub escalation_policy: EscalationPolicy,
    /// The escalation level (1 = first responder).
    pub escalation_level: i32,
    /// Start (none: permanent).
    #[serde(default)]
    pub start: Option<DateTime<FixedOffset>>,
    /// End (none: permanent).
    #[serde(default)]
    pub end: Option<DateTime<FixedOffset>>,
}

/// A user (or a reference to one).
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// PagerDuty id.
    pub id: String,
    /// Short name.
    #[serde(default)]
    pub summary: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// API URL.
    #[serde(rename = "self", default)]
    pub api_url: Option<String>,
    /// Web URL.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Contact methods (full objects with `include[]=contact_methods`, else references).
    #[serde(default)]
    pub contact_methods: Vec<ContactMethod>,
    /// Teams.
    #[serde(default)]
    pub teams: Vec<Reference>,
}

/// A contact method (or a reference to one: then only id, type and summary).
#[derive(Debug, Clone, Deserialize)]
pub struct ContactMethod {
    /// PagerDuty id.
    pub id: String,
    /// `phone_contact_method`, `sms_contact_method`, `email_contact_method`... (`_reference` suffix for references).
    #[serde(rename = "type")]
    pub kind: String,
    /// The label (`Work`, `Mobile`...).
    #[serde(default)]
    pub summary: Option<String>,
    /// The label, again.
    #[serde(default)]
    pub label: Option<String>,
    /// The number or address.
    #[serde(default)]
    pub address: Option<String>,
    /// Country calling code of phone numbers.
    #[serde(default)]
    pub country_code: Option<u32>,
}

/// A service.
#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    /// PagerDuty id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Short name.
    #[serde(default)]
    pub summary: Option<String>,
    /// `active`, `warning`, `critical`, `maintenance`, `disabled`.
    #[serde(default)]
    pub status: Option<String>,
    /// API URL.
    #[serde(rename = "self", default)]
    pub api_url: Option<String>,
    /// Web URL.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Its escalation policy.
    #[serde(default)]
    pub escalation_policy: Option<Reference>,
}

/// An escalation policy (or a reference to one).
#[derive(Debug, Clone, Deserialize)]
pub struct EscalationPolicy {
    /// PagerDuty id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Short name.
    #[serde(default)]
    pub summary: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// API URL.
    #[serde(rename = "self", default)]
    pub api_url: Option<String>,
    /// Web URL.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Services using it.
    #[serde(default)]
    pub services: Vec<Reference>,
}

/// A team.
#[derive(Debug, Clone, Deserialize)]
pub struct Team {
    /// PagerDuty id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Short name.
    #[serde(default)]
    pub summary: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// API URL.
    #[serde(rename = "self", default)]
    pub api_url: Option<String>,
    /// Web URL.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// An incident, as returned by `POST /incidents` and `GET /incidents`.
#[derive(Debug, Clone, Deserialize)]
pub struct Incident {
    /// PagerDuty id.
    pub id: String,
    /// Number shown to people.
    #[serde(default)]
    pub incident_number: Option<i64>,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// `triggered`, `acknowledged`, `resolved`.
    #[serde(default)]
    pub status: Option<String>,
    /// `high` or `low`.
    #[serde(default)]
    pub urgency: Option<String>,
    /// The de-duplication key.
    #[serde(default)]
    pub incident_key: Option<String>,
    /// API URL.
    #[serde(rename = "self", default)]
    pub api_url: Option<String>,
    /// Web URL.
    #[serde(default)]
    pub html_url: Option<String>,
    /// The service.
    #[serde(default)]
    pub service: Option<Reference>,
}

/// The body of `POST /incidents`.
#[derive(Debug, Clone, Serialize)]
pub struct NewIncidentRequest {
    /// The incident.
    pub incident: NewIncident,
}

/// An incident to create.
#[derive(Debug, Clone, Serialize)]
pub struct NewIncident {
    /// Always `incident`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Title.
    pub title: String,
    /// The service (`service_reference`).
    pub service: Reference,
    /// `high` or `low`.
    pub urgency: &'static str,
    /// De-duplication key: PagerDuty refuses a second open incident with it on the service.
    pub incident_key: String,
    /// Details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<IncidentBody>,
    /// Where responders meet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conference_bridge: Option<ConferenceBridge>,
}

/// Incident details (`incident_body`).
#[derive(Debug, Clone, Serialize)]
pub struct IncidentBody {
    /// Always `incident_body`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The details, as text.
    pub details: String,
}

/// A conference bridge.
#[derive(Debug, Clone, Serialize)]
pub struct ConferenceBridge {
    /// Link to the meeting place (the incident's channel or page).
    pub conference_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_oncall_example() {
        let page: ListPage<Oncall> = serde_json::from_str(
            r#"{"oncalls":[{"user":{"id":"PT23IWX","type":"user_reference","summary":"Tim Wright"},
            "schedule":{"id":"PI7DH85","type":"schedule_reference","summary":"Daily Engineering Rotation"},
            "escalation_policy":{"id":"PT20YPA","type":"escalation_policy_reference","summary":"Engineering Escalation Policy"},
            "escalation_level":2,"start":"2015-03-06T15:28:51-05:00","end":"2015-03-07T15:28:51-05:00"}],
            "limit":25,"offset":0,"more":false,"total":null}"#,
        )
        .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].escalation_level, 2);
        assert_eq!(page.more, Some(false));
    }
}
