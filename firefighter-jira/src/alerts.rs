//! The RAID alert (FireFighter's `raid_created_issue`, reference §8.7): a
//! new ticket that has no incident conversation — the ticket of a P4/P5
//! incident, or one that came in through the intake — is told to its
//! reporter privately and posted in the conversations operators tagged for
//! it, through core's [`Notifier`](firefighter_core::Notifier) (Slack's,
//! when Slack is on).
//!
//! | Tag (a conversation's tag containing it) | Gets |
//! |---|---|
//! | `raid_alert__sbi_high`, `raid_alert__sbi_normal` | tickets of project `SBI`, business impact High / anything else |
//! | `raid_alert__incidents_high`, `raid_alert__incidents_normal` | tickets of every other project, the same split |
//! | `raid_alert__<domain>` | tickets reported by someone whose e-mail is at `<domain>` or below it (`jane@eu.partner.com`: `eu.partner.com` and `partner.com`) |
//!
//! The last row is FireFighter's documented partner alert, which its code
//! computes and then drops (reference §14.1): here it is sent. A tag
//! matches only when no longer name continues it, so a conversation tagged
//! `raid_alert__partner.com` does not get the tickets of `partner.co`.
//!
//! The notification: the ticket's title, its description cut to
//! [`DESCRIPTION_CHARS`], the reporter, the business impact, and the link to
//! Jira. Its key is made of the ticket key ([`notification_key`]), so the
//! alert is sent once per person and conversation however often it is
//! asked (a retried outbox delivery, an intake retried after a lost answer).
//! Tickets of P1–P3 incidents are refused: they have their own conversation.
//! Without a notifier (no chat integration on) nothing is sent, and that is
//! logged.

use firefighter_core::notify::{Delivered, NotifyError};
use firefighter_core::{Firefighter, IncidentId, Notification, User};
use serde_json::Value;

use crate::{Error, JiraClient, JiraConfig, Result};

/// What every RAID tag starts with.
pub const TAG_PREFIX: &str = "raid_alert__";
/// Longest description shown in the alert.
pub const DESCRIPTION_CHARS: usize = 2000;

/// A new ticket, as the alert tells it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewTicket {
    /// Its key (`SBI-42`).
    pub key: String,
    /// Its page in Jira.
    pub url: String,
    /// Its project (`SBI`).
    pub project_key: String,
    /// Its issue type (`Incident`).
    pub issue_type: String,
    /// Its title.
    pub summary: String,
    /// Its description (plain text).
    pub description: String,
    /// Its business impact (`High`, `Medium`...), when given.
    pub business_impact: Option<String>,
    /// The reporter's firefighter account, told privately when there is one.
    pub reporter: Option<User>,
    /// The reporter's e-mail (their domain's conversations), when known.
    pub reporter_email: Option<String>,
    /// The priority value of the incident it is for; `None` for a ticket
    /// without incident (the intake's).
    pub incident_priority: Option<i32>,
    /// The ticket of a private incident: only its reporter is told, never
    /// a shared conversation.
    #[serde(default)]
    pub private: bool,
}

/// What the alert did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertOutcome {
    /// Why nothing was sent, when nothing was (no notifier).
    pub skipped: Option<String>,
    /// The private message to the reporter (`None`: no account to tell).
    pub reporter: Option<Delivered>,
    /// Each tag asked, with one answer per conversation carrying it.
    pub conversations: Vec<(String, Vec<Delivered>)>,
    /// Sends refused for good (a revoked token...): logged, not retried.
    pub failures: Vec<String>,
}

/// The notification's exactly-once key: the ticket's key.
pub fn notification_key(ticket_key: &str) -> String {
    format!("jira-ticket-created:{ticket_key}")
}

/// `raid_alert__<sbi|incidents>_<high|normal>`.
pub fn internal_tag(project_key: &str, business_impact: Option<&str>) -> String {
    let project = if project_key == "SBI" {
        "sbi"
    } else {
        "incidents"
    };
    let impact = if business_impact == Some("High") {
        "high"
    } else {
        "normal"
    };
    format!("{TAG_PREFIX}{project}_{impact}")
}

/// The domains of `email` whose conversations get its tickets: the whole
/// domain, then each parent with at least two labels (`eu.partner.com`,
/// `partner.com`); lower case. `None` when it is not an e-mail with one `@`.
pub fn reporter_domains(email: &str) -> Option<Vec<String>> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return None;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return None;
    }
    let shortest = labels.len().min(2);
    Some(
        (0..=labels.len() - shortest)
            .map(|start| labels[start..].join("."))
            .collect(),
    )
}

/// `text` trimmed, at most `chars` characters (an ellipsis ends a cut).
pub(crate) fn cut(text: &str, chars: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(chars.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// The notification of `ticket`.
pub fn notification(ticket: &NewTicket) -> Notification {
    let reporter = ticket
        .reporter
        .as_ref()
        .map(|u| {
            let name = u.name.trim();
            if name.is_empty() || name == u.email {
                u.email.clone()
            } else {
                format!("{name} ({})", u.email)
            }
        })
        .or_else(|| ticket.reporter_email.clone())
        .unwrap_or_else(|| "unknown".into());
    let mut note = Notification::new(
        notification_key(&ticket.key),
        format!(
            "New {} in Jira: {} {}",
            ticket.issue_type, ticket.key, ticket.summary
        ),
    )
    .field("Title", ticket.summary.clone())
    .field("Reporter", reporter)
    .field(
        "Business impact",
        ticket
            .business_impact
            .clone()
            .unwrap_or_else(|| "not given".into()),
    );
    if let Some(priority) = ticket.incident_priority {
        note = note.field("Incident priority", format!("P{priority}"));
    }
    let description = cut(&ticket.description, DESCRIPTION_CHARS);
    if !description.is_empty() {
        note = note.paragraph(description);
    }
    note.link(format!("Open {} in Jira", ticket.key), ticket.url.clone())
}

/// Tells the reporter and the tagged conversations about `ticket`, once per
/// key and recipient. Every recipient is tried; a failure worth retrying
/// (the vendor's rate limit...) is returned after the others were tried,
/// as a retryable [`Error::Notify`] (what was sent is not sent again).
pub async fn alert_new_ticket(app: &Firefighter, ticket: &NewTicket) -> Result<AlertOutcome> {
    if let Some(priority) = ticket.incident_priority.filter(|p| *p <= 3) {
        return Err(Error::Invalid(format!(
            "ticket {} is for a P{priority} incident, which has its own conversation: no RAID alert for it",
            ticket.key
        )));
    }
    let Some(notifier) = app.notifier() else {
        tracing::info!(
            ticket = %ticket.key,
            "no RAID alert: no chat integration is on to send it"
        );
        return Ok(AlertOutcome {
            skipped: Some("no notifier is on".into()),
            ..AlertOutcome::default()
        });
    };
    let note = notification(ticket);
    let mut outcome = AlertOutcome::default();
    let mut retry: Option<NotifyError> = None;
    let mut failed = |what: String, e: NotifyError, outcome: &mut AlertOutcome| {
        tracing::warn!(ticket = %ticket.key, error = %e, "RAID alert not sent to {what}");
        match e {
            NotifyError::Retry { .. } => {
                retry.get_or_insert(e);
            }
            NotifyError::Failed(why) => outcome.failures.push(format!("{what}: {why}")),
        }
    };
    if let Some(reporter) = &ticket.reporter {
        match notifier.notify_user(reporter, &note).await {
            Ok(delivered) => outcome.reporter = Some(delivered),
            Err(e) => failed(format!("the reporter {}", reporter.email), e, &mut outcome),
        }
    }
    if ticket.private {
        return Ok(outcome);
    }
    let mut tags = vec![internal_tag(
        &ticket.project_key,
        ticket.business_impact.as_deref(),
    )];
    if let Some(domains) = ticket.reporter_email.as_deref().and_then(reporter_domains) {
        tags.extend(domains.into_iter().map(|d| format!("{TAG_PREFIX}{d}")));
    }
    for tag in tags {
        match notifier.notify_tagged(&tag, &note).await {
            Ok(delivered) => outcome.conversations.push((tag, delivered)),
            Err(e) => failed(format!("the conversations tagged {tag}"), e, &mut outcome),
        }
    }
    if outcome.conversations.iter().all(|(_, d)| d.is_empty()) {
        tracing::info!(ticket = %ticket.key, "no conversation is tagged for this RAID alert");
    }
    match retry {
        Some(e) => Err(Error::Notify(e)),
        None => Ok(outcome),
    }
}

/// The RAID alert of an incident's ticket `key`, for P4/P5 incidents only
/// (`Ok(None)` for the others): the creator is the reporter told.
pub async fn alert_incident_ticket(
    app: &Firefighter,
    client: &JiraClient,
    config: &JiraConfig,
    id: IncidentId,
    key: &str,
) -> Result<Option<AlertOutcome>> {
    let incident = app.incident(id).await?;
    let catalog = app.catalog().await?;
    let Some(priority) = catalog.priority(incident.priority_id).map(|p| p.value) else {
        return Ok(None);
    };
    if priority <= 3 {
        return Ok(None);
    }
    let reporter = app.store().user(incident.created_by).await?;
    let business_impact = incident
        .custom_fields
        .get("business_impact")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|i| !i.is_empty() && *i != "N/A")
        .map(str::to_owned);
    let ticket = NewTicket {
        key: key.to_owned(),
        url: client.browse_url(key),
        project_key: config.project_key.clone(),
        issue_type: config.issue_type.clone(),
        summary: incident.title.clone(),
        description: incident.description.clone(),
        business_impact,
        reporter_email: reporter.as_ref().map(|u| u.email.clone()),
        reporter,
        incident_priority: Some(priority),
        private: incident.private,
    };
    alert_new_ticket(app, &ticket).await.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_project_and_impact() {
        assert_eq!(internal_tag("SBI", Some("High")), "raid_alert__sbi_high");
        assert_eq!(internal_tag("SBI", Some("Low")), "raid_alert__sbi_normal");
        assert_eq!(internal_tag("SBI", None), "raid_alert__sbi_normal");
        assert_eq!(
            internal_tag("INC", Some("High")),
            "raid_alert__incidents_high"
        );
        assert_eq!(
            internal_tag("sbi", Some("Medium")),
            "raid_alert__incidents_normal"
        );
    }

    #[test]
    fn the_reporter_domain_and_its_parents() {
        assert_eq!(
            reporter_domains("Jane@EU.Partner.com").unwrap(),
            ["eu.partner.com", "partner.com"]
        );
        assert_eq!(
            reporter_domains("bob@example.com").unwrap(),
            ["example.com"]
        );
        assert_eq!(reporter_domains("root@localhost").unwrap(), ["localhost"]);
        for bad in [
            "no-at.example.com",
            "a@b@c.com",
            "@example.com",
            "x@",
            "x@a..com",
        ] {
            assert!(reporter_domains(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_description_is_cut() {
        let ticket = NewTicket {
            key: "SBI-1".into(),
            url: "https://jira.example.com/browse/SBI-1".into(),
            project_key: "SBI".into(),
            issue_type: "Incident".into(),
            summary: "Seller cannot log in".into(),
            description: "x".repeat(5000),
            business_impact: None,
            reporter: None,
            reporter_email: Some("jane@partner.com".into()),
            incident_priority: None,
            private: false,
        };
        let note = notification(&ticket);
        assert_eq!(note.key, "jira-ticket-created:SBI-1");
        assert_eq!(note.body[0].chars().count(), DESCRIPTION_CHARS);
        assert!(note.body[0].ends_with('…'));
        assert!(note.title.contains("SBI-1"));
        assert!(
            note.fields
                .contains(&("Reporter".into(), "jane@partner.com".into()))
        );
        assert!(
            note.fields
                .contains(&("Business impact".into(), "not given".into()))
        );
        assert_eq!(
            note.link,
            Some((
                "Open SBI-1 in Jira".into(),
                "https://jira.example.com/browse/SBI-1".into()
            ))
        );
    }
}
