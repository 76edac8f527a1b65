//! Shared helpers: an application on in-memory SQLite, a PagerDuty
//! integration pointed at a wiremock server, and PagerDuty JSON builders.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use firefighter_core::store::SqliteStore;
use firefighter_core::{Declaration, Firefighter, IncidentId, NewUser, Settings, User};
use firefighter_pagerduty::{PagerDuty, PagerDutyConfig, RetryPolicy};
use serde_json::{Value, json};

pub async fn app() -> Firefighter {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let settings = Settings {
        base_url: "https://ff.example.com".into(),
        time_zone: "Europe/Paris".into(),
        ..Settings::default()
    };
    let app = Firefighter::builder(settings)
        .store(Arc::new(store))
        .build()
        .await
        .unwrap();
    firefighter_pagerduty::migrate(app.store().database().unwrap())
        .await
        .unwrap();
    app
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_wait: Duration::from_secs(5),
    }
}

pub fn pagerduty(app: &Firefighter, uri: &str) -> PagerDuty {
    pagerduty_with(app, uri, |_| {})
}

pub fn pagerduty_with(
    app: &Firefighter,
    uri: &str,
    tweak: impl FnOnce(&mut PagerDutyConfig),
) -> PagerDuty {
    let mut config = PagerDutyConfig::new("test-key", "oncall@example.com", uri);
    config.events_url = uri.to_owned();
    config.requests_per_minute = 100_000;
    tweak(&mut config);
    PagerDuty::new(config, app.store().clone())
        .unwrap()
        .with_retry(fast_retry())
}

pub async fn user(app: &Firefighter, email: &str) -> User {
    app.store()
        .create_user(&NewUser::person(
            firefighter_core::Email::parse(email).unwrap(),
        ))
        .await
        .unwrap()
}

pub async fn incident(app: &Firefighter, by: &User, private: bool) -> IncidentId {
    let catalog = app.catalog().await.unwrap();
    app.declare(Declaration {
        title: "Checkout fails for every card payment".into(),
        description: "Payments return 502 since 10:02".into(),
        category_id: Some(catalog.categories[0].id),
        created_by: Some(by.id),
        private: Some(private),
        ..Declaration::default()
    })
    .await
    .unwrap()
    .incident
    .id
}

/// A list page as PagerDuty serves it.
pub fn page(key: &str, items: Vec<Value>, offset: usize, limit: usize, more: bool) -> Value {
    json!({ key: items, "offset": offset, "limit": limit, "more": more, "total": null })
}

pub fn reference(kind: &str, id: &str, summary: &str) -> Value {
    json!({
        "id": id, "type": kind, "summary": summary,
        "self": format!("https://api.pagerduty.com/x/{id}"),
        "html_url": format!("https://acme.pagerduty.com/x/{id}"),
    })
}

/// An on-call entry with users, policies (and their services) and schedules included.
pub fn oncall(policy: &str, level: i32, user_id: &str, services: &[&str]) -> Value {
    let services: Vec<Value> = services
        .iter()
        .map(|s| reference("service_reference", s, &format!("Service {s}")))
        .collect();
    json!({
        "user": {
            "id": user_id, "type": "user", "summary": format!("Person {user_id}"),
            "name": format!("Person {user_id}"), "email": format!("{}@example.com", user_id.to_lowercase()),
            "html_url": format!("https://acme.pagerduty.com/users/{user_id}"),
        },
        "schedule": reference("schedule", &format!("S{policy}"), &format!("Rotation {policy}")),
        "escalation_policy": {
            "id": policy, "type": "escalation_policy", "summary": format!("Policy {policy}"),
            "name": format!("Policy {policy}"),
            "html_url": format!("https://acme.pagerduty.com/escalation_policies/{policy}"),
            "services": services,
        },
        "escalation_level": level,
        "start": "2020-01-01T00:00:00Z",
        "end": "2100-01-01T00:00:00Z",
    })
}

pub fn service(id: &str, policy: &str) -> Value {
    json!({
        "id": id, "type": "service", "name": format!("Service {id}"), "summary": format!("Service {id}"),
        "status": "active", "html_url": format!("https://acme.pagerduty.com/service-directory/{id}"),
        "escalation_policy": reference("escalation_policy_reference", policy, &format!("Policy {policy}")),
    })
}

pub fn pd_user(id: &str, email: &str, phone: Option<(&str, u32)>, teams: &[&str]) -> Value {
    let mut methods = vec![json!({
        "id": format!("E{id}"), "type": "email_contact_method", "summary": "Default",
        "label": "Default", "address": email,
    })];
    if let Some((number, cc)) = phone {
        methods.push(json!({
            "id": format!("P{id}"), "type": "phone_contact_method", "summary": "Mobile",
            "label": "Mobile", "address": number, "country_code": cc,
        }));
    }
    let teams: Vec<Value> = teams
        .iter()
        .map(|t| reference("team_reference", t, &format!("Team {t}")))
        .collect();
    json!({
        "id": id, "type": "user", "name": format!("Person {id}"), "summary": format!("Person {id}"),
        "email": email, "html_url": format!("https://acme.pagerduty.com/users/{id}"),
        "contact_methods": methods, "teams": teams,
    })
}

pub fn created_incident(id: &str, key: &str, service_id: &str) -> Value {
    json!({ "incident": {
        "id": id, "type": "incident", "title": "t", "incident_number": 42, "status": "triggered",
        "urgency": "high", "incident_key": key,
        "self": format!("https://api.pagerduty.com/incidents/{id}"),
        "html_url": format!("https://acme.pagerduty.com/incidents/{id}"),
        "service": reference("service_reference", service_id, "Service"),
    }})
}
