//! The on-call roster exported to the Confluence page `CONFLUENCE_ON_CALL_PAGE_ID`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firefighter_core::plugin::AppHandle;
use firefighter_core::task::{PeriodicTask, Schedule, TaskRegistration};
use firefighter_core::{Firefighter, register_task};
use firefighter_pagerduty::Roster;
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
/// linked to Slack when known, and phone). Everything is escaped; the sync
/// time is left out so an unchanged roster renders identically.
pub fn render_oncall_page(roster: &Roster, base_url: &str) -> String {
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
            match &person.slack_id {
                Some(id) => out.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    escape(&format!("https://slack.com/app_redirect?channel={id}")),
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
/// reformat the XHTML it stores).
pub async fn export_roster(
    client: &ConfluenceClient,
    page_id: &str,
    roster: &Roster,
    base_url: &str,
) -> Result<ExportOutcome> {
    let body = render_oncall_page(roster, base_url);
    let print = fingerprint(&body);
    let page = client.page(page_id).await?;
    if page.body == body || page.version_message.contains(&print) {
        return Ok(ExportOutcome::Unchanged {
            page_id: page.id,
            version: page.version,
        });
    }
    let updated = client
        .update_page(&page, &body, &format!("{VERSION_MESSAGE} {print}"))
        .await?;
    Ok(ExportOutcome::Updated {
        page_id: page.id,
        version: updated.version.max(page.version + 1),
    })
}

/// Exports the current roster of `app` to `config`'s page.
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
    let roster = firefighter_pagerduty::roster(app)
        .await
        .map_err(|e| Error::Source(format!("could not read the on-call roster: {e}")))?;
    export_roster(client, page_id, &roster, app.settings().base_url()).await
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
        "Exports who is on call (from the PagerDuty sync) to the Confluence page CONFLUENCE_ON_CALL_PAGE_ID, when it changed"
    }

    fn default_schedule(&self) -> Option<Schedule> {
        Some(Schedule::every(Duration::from_secs(600)))
    }

    async fn run(&self) -> std::result::Result<String, String> {
        let Some(app) = self.app.get() else {
            return Err("the application is not running".into());
        };
        export_oncall(&app, &self.client, &self.config)
            .await
            .map(|o| o.to_string())
            .map_err(|e| e.to_string())
    }
}

register_task!(TaskRegistration {
    name: TASK_EXPORT_ONCALL,
    build: |ctx| {
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
    use firefighter_pagerduty::{LevelOncall, OncallPerson, PolicyOncall};

    use super::*;

    fn person(name: &str, phone: Option<&str>, slack: Option<&str>) -> OncallPerson {
        OncallPerson {
            name: name.into(),
            email: String::new(),
            phone: phone.map(str::to_owned),
            user_id: None,
            slack_id: slack.map(str::to_owned),
            pagerduty_id: "PU".into(),
            pagerduty_url: String::new(),
            schedule: None,
            until: None,
        }
    }

    #[test]
    fn renders_first_responders_and_escapes_everything() {
        let roster = Roster {
            at: Utc::now(),
            synced_at: None,
            policies: vec![PolicyOncall {
                id: "P1".into(),
                name: "R&D <core>".into(),
                pagerduty_url: String::new(),
                levels: vec![
                    LevelOncall {
                        level: 1,
                        people: vec![person("Ann \"A\" O'Neil", Some("+331"), Some("U1"))],
                    },
                    LevelOncall {
                        level: 2,
                        people: vec![person("Second", None, None)],
                    },
                ],
            }],
        };
        let html = render_oncall_page(&roster, "https://ff.example.com/");
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
        assert!(render_oncall_page(&empty, "https://x").contains("Nobody is on call"));
        assert_eq!(fingerprint("a"), fingerprint("a"));
        assert_ne!(fingerprint("a"), fingerprint("b"));
    }
}
