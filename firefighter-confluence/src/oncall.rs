//! The on-call roster exported to the Confluence page `CONFLUENCE_ON_CALL_PAGE_ID`.
//! The roster comes from core's on-call vendor; people are linked to their
//! Slack profile when their core account has a Slack identity.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firefighter_core::oncall::Roster;
use firefighter_core::plugin::AppHandle;
use firefighter_core::task::{PeriodicTask, Schedule, TaskError, TaskRegistration, TaskReport};
use firefighter_core::{Firefighter, UserId, register_task};
use sha2::{Digest, Sha256};

use crate::{ConfluenceClient, ConfluenceConfig, Error, Result};

/// Name of the export task.
pub const TASK_EXPORT_ONCALL: &str = "confluence.export_oncall";
/// Prefix of the version message of an export; followed by the content's fingerprint.
const VERSION_MESSAGE: &str = "firefighter on-call export";

/// What an export did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportOutcome {
    /// `CONFLUENCE_ON_CALL_PAGE_ID` is not set: nothing to do.
    Skipped,
    /// No on-call vendor is switched on: there is no roster to export.
    NoOnCallVendor,
    /// The page already shows this roster: not written.
    Unchanged {
        /// The page.
        page_id: String,
        /// Its version.
        version: i64,
    },
    /// The page was updated.
    Updated {
        /// The page.
        page_id: String,
        /// Its new version.
        version: i64,
    },
}

impl std::fmt::Display for ExportOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportOutcome::Skipped => f.write_str("skipped: CONFLUENCE_ON_CALL_PAGE_ID is not set"),
            ExportOutcome::NoOnCallVendor => {
                f.write_str("skipped: no on-call vendor is switched on, so there is no roster")
            }
            ExportOutcome::Unchanged { page_id, version } => {
                write!(f, "page {page_id} already up to date (version {version})")
            }
            ExportOutcome::Updated { page_id, version } => {
                write!(f, "page {page_id} updated to version {version}")
            }
        }
    }
}

/// Escapes text for storage-format XHTML (text and attribute values).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The roster as Confluence storage format: a heading linking to the
/// on-call page, then per escalation policy its first responders (name,
/// linked to `profile_links` of their account when there is one, and
/// phone). Everything is escaped; the sync time is left out so an unchanged
/// roster renders identically.
pub fn render_oncall_page(
    roster: &Roster,
    profile_links: &HashMap<UserId, String>,
    base_url: &str,
) -> String {
    let mut out = format!(
        "<h2><a href=\"{}\">On-call</a></h2>",
        escape(&format!("{}/oncall/", base_url.trim_end_matches('/')))
    );
    if roster.is_empty() {
        out.push_str("<p>Nobody is on call.</p>");
        return out;
    }
    out.push_str("<ul>");
    for policy in &roster.policies {
        let Some(level) = policy.levels.first() else {
            continue;
        };
        for person in &level.people {
            out.push_str("<li><strong>");
            out.push_str(&escape(&policy.name.to_uppercase()));
            out.push_str("</strong> ");
            match person.user_id.and_then(|u| profile_links.get(&u)) {
                Some(link) => out.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    escape(link),
                    escape(&person.name)
                )),
                None => out.push_str(&escape(&person.name)),
            }
            if let Some(phone) = &person.phone {
                out.push_str(&format!(
                    " <a href=\"{}\">{}</a>",
                    escape(&format!("tel:{phone}")),
                    escape(phone)
                ));
            }
            out.push_str("</li>");
        }
    }
    out.push_str("</ul>");
    out
}

fn fingerprint(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..8])
}

/// Writes `roster` to the page unless it already shows it (same body, or
/// the same fingerprint in the version message, as Confluence may
/// reformat the XHTML it stores). A version conflict is answered by reading
/// the page again: it shows our roster when an earlier attempt was applied
/// but its answer lost (nothing more to write), else someone edited it
/// meanwhile and the roster is written on top of their version.
pub async fn export_roster(
    client: &ConfluenceClient,
    page_id: &str,
    roster: &Roster,
    profile_links: &HashMap<UserId, String>,
    base_url: &str,
) -> Result<ExportOutcome> {
    const ATTEMPTS: usize = 3;
    let body = render_oncall_page(roster, profile_links, base_url);
    let print = fingerprint(&body);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let page = client.page(page_id).await?;
        if page.body == body || page.version_message.contains(&print) {
            // Written by an earlier attempt whose answer was lost, or by no one.
            return Ok(if attempt == 1 {
                ExportOutcome::Unchanged {
                    page_id: page.id,
                    version: page.version,
                }
            } else {
                ExportOutcome::Updated {
                    page_id: page.id,
                    version: page.version,
                }
            });
        }
        match client
            .update_page(&page, &body, &format!("{VERSION_MESSAGE} {print}"))
            .await
        {
            Ok(updated) => {
                return Ok(ExportOutcome::Updated {
                    page_id: page.id,
                    version: updated.version.max(page.version + 1),
                });
            }
            Err(Error::VersionConflict { .. }) if attempt < ATTEMPTS => {}
            Err(e) => return Err(e),
        }
    }
}

/// Links to the Slack profiles of the roster's people whose account has a Slack id.
async fn slack_profiles(app: &Firefighter, roster: &Roster) -> Result<HashMap<UserId, String>> {
    let users = app
        .store()
        .users(&roster.user_ids())
        .await
        .map_err(|e| Error::Source(format!("could not read the on-call's accounts: {e}")))?;
    Ok(users
        .into_iter()
        .filter_map(|u| {
            let id = u.identity("slack").filter(|id| !id.is_empty())?;
            Some((u.id, format!("https://slack.com/app_redirect?channel={id}")))
        })
        .collect())
}

/// Exports the current roster of `app`'s on-call vendor to `config`'s page.
pub async fn export_oncall(
    app: &Firefighter,
    client: &ConfluenceClient,
    config: &ConfluenceConfig,
) -> Result<ExportOutcome> {
    let Some(page_id) = &config.oncall_page_id else {
        tracing::info!(
            "on-call export to Confluence skipped: CONFLUENCE_ON_CALL_PAGE_ID is not set"
        );
        return Ok(ExportOutcome::Skipped);
    };
    let Some(oncall) = app.oncall() else {
        return Ok(ExportOutcome::NoOnCallVendor);
    };
    let roster = oncall
        .roster()
        .await
        .map_err(|e| Error::Source(format!("could not read the on-call roster: {e}")))?;
    let links = slack_profiles(app, &roster).await?;
    export_roster(client, page_id, &roster, &links, app.settings().base_url()).await
}

/// The `confluence.export_oncall` task.
#[derive(Debug)]
pub struct ExportOncallTask {
    client: ConfluenceClient,
    config: ConfluenceConfig,
    app: AppHandle,
}

impl ExportOncallTask {
    /// The task for this configuration.
    pub fn new(config: ConfluenceConfig, app: AppHandle) -> Result<ExportOncallTask> {
        Ok(ExportOncallTask {
            client: ConfluenceClient::new(&config)?,
            config,
            app,
        })
    }
}

#[async_trait]
impl PeriodicTask for ExportOncallTask {
    fn name(&self) -> &str {
        TASK_EXPORT_ONCALL
    }

    fn description(&self) -> &str {
        "Exports who is on call (from the on-call vendor) to the Confluence page CONFLUENCE_ON_CALL_PAGE_ID, when it changed"
    }

    fn default_schedule(&self) -> Option<Schedule> {
        Some(Schedule::every(Duration::from_secs(600)))
    }

    async fn run(&self) -> std::result::Result<TaskReport, TaskError> {
        let Some(app) = self.app.get() else {
            return Err(TaskError::failed("the application is not running"));
        };
        export_oncall(&app, &self.client, &self.config)
            .await
            .map(|o| TaskReport::note(o.to_string()))
            .map_err(TaskError::failed)
    }
}

register_task!(TaskRegistration {
    name: TASK_EXPORT_ONCALL,
    build: |ctx| {
        // Nothing to export without an on-call vendor.
        if ctx.oncall().is_none() {
            return Ok(None);
        }
        let config = ConfluenceConfig::from_env()
            .map_err(|e| firefighter_core::Error::Config(e.to_string()))?;
        let Some(config) = config else {
            return Ok(None);
        };
        let task = ExportOncallTask::new(config, ctx.app_handle())
            .map_err(|e| firefighter_core::Error::Config(e.to_string()))?;
        Ok(Some(Arc::new(task) as Arc<dyn PeriodicTask>))
    },
});

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use firefighter_core::oncall::{OnCallLevel, OnCallPerson, OnCallPolicy};

    use super::*;

    fn person(name: &str, phone: Option<&str>, user: Option<UserId>) -> OnCallPerson {
        OnCallPerson {
            name: name.into(),
            email: String::new(),
            phone: phone.map(str::to_owned),
            user_id: user,
            external_id: "PU".into(),
            url: String::new(),
            schedule: None,
            until: None,
        }
    }

    #[test]
    fn renders_first_responders_and_escapes_everything() {
        let ann = UserId::new();
        let roster = Roster {
            at: Utc::now(),
            synced_at: None,
            policies: vec![OnCallPolicy {
                id: "P1".into(),
                name: "R&D <core>".into(),
                url: String::new(),
                levels: vec![
                    OnCallLevel {
                        level: 1,
                        people: vec![person("Ann \"A\" O'Neil", Some("+331"), Some(ann))],
                    },
                    OnCallLevel {
                        level: 2,
                        people: vec![person("Second", None, None)],
                    },
                ],
            }],
        };
        let links = HashMap::from([(ann, "https://slack.com/app_redirect?channel=U1".to_owned())]);
        let html = render_oncall_page(&roster, &links, "https://ff.example.com/");
        assert_eq!(
            html,
            "<h2><a href=\"https://ff.example.com/oncall/\">On-call</a></h2><ul><li><strong>R&amp;D &lt;CORE&gt;</strong> \
             <a href=\"https://slack.com/app_redirect?channel=U1\">Ann &quot;A&quot; O&#39;Neil</a> \
             <a href=\"tel:+331\">+331</a></li></ul>"
        );
        assert!(!html.contains("Second"));
        let empty = Roster {
            policies: vec![],
            ..roster
        };
        assert!(render_oncall_page(&empty, &links, "https://x").contains("Nobody is on call"));
        // Without a link for the account: the name alone.
        assert!(
            render_oncall_page(&roster, &HashMap::new(), "https://x")
                .contains("</strong> Ann &quot;A&quot; O&#39;Neil <a href=\"tel:+331\">")
        );
        assert_eq!(fingerprint("a"), fingerprint("a"));
        assert_ne!(fingerprint("a"), fingerprint("b"));
    }
}
