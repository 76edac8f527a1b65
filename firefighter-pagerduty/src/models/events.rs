//! Events API v2 objects (`reference/events-v2/openapiv3.json`).

use serde::{Deserialize, Serialize};

/// An event sent to `POST /v2/enqueue`.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// The integration key of the service.
    pub routing_key: String,
    /// `trigger`, `acknowledge` or `resolve`.
    pub event_action: &'static str,
    /// De-duplication key: events with the same key land on the same alert.
    pub dedup_key: String,
    /// What happened.
    pub payload: EventPayload,
    /// Who sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Link back to the sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_url: Option<String>,
    /// Links shown on the alert.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<EventLink>,
}

/// The payload of a trigger.
#[derive(Debug, Clone, Serialize)]
pub struct EventPayload {
    /// Title of the alert.
    pub summary: String,
    /// Where it comes from.
    pub source: String,
    /// `critical`, `error`, `warning` or `info`.
    pub severity: &'static str,
    /// Free-form details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_details: Option<serde_json::Value>,
}

/// A link on an alert.
#[derive(Debug, Clone, Serialize)]
pub struct EventLink {
    /// The URL.
    pub href: String,
    /// Its text.
    pub text: String,
}

/// The answer to an accepted event (202).
#[derive(Debug, Clone, Deserialize)]
pub struct EventAccepted {
    /// `success`.
    #[serde(default)]
    pub status: Option<String>,
    /// A message.
    #[serde(default)]
    pub message: Option<String>,
    /// The de-duplication key PagerDuty used.
    #[serde(default)]
    pub dedup_key: Option<String>,
}
