//! The post-mortem backend's settings.

use figment::{Figment, providers::Env};
use firefighter_core::env_vars::{EnvVars, LogOnce, status_of};
use firefighter_core::plugin::IntegrationStatus;

use crate::config::{VARIABLES, field_id, project_key};
use crate::{JiraConfig, Result};

use super::NAME;

/// The environment variables the backend reads (besides Jira's own,
/// [`crate::config::VARIABLES`]).
pub const POSTMORTEM_VARIABLES: &[&str] = &[
    "ENABLE_JIRA_POSTMORTEM",
    "JIRA_POSTMORTEM_PROJECT_KEY",
    "JIRA_POSTMORTEM_ISSUE_TYPE",
    "JIRA_POSTMORTEM_READY_STATUS",
    "JIRA_FIELD_INCIDENT_SUMMARY",
    "JIRA_FIELD_TIMELINE",
    "JIRA_FIELD_ROOT_CAUSES",
    "JIRA_FIELD_IMPACT",
    "JIRA_FIELD_MITIGATION_ACTIONS",
    "JIRA_FIELD_INCIDENT_CATEGORY",
    "ENV",
];

/// The custom fields of post-mortem issues (FireFighter's ids by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostMortemFields {
    /// `JIRA_FIELD_INCIDENT_SUMMARY`.
    pub incident_summary: String,
    /// `JIRA_FIELD_TIMELINE`.
    pub timeline: String,
    /// `JIRA_FIELD_ROOT_CAUSES`.
    pub root_causes: String,
    /// `JIRA_FIELD_IMPACT`.
    pub impact: String,
    /// `JIRA_FIELD_MITIGATION_ACTIONS`.
    pub mitigation_actions: String,
    /// `JIRA_FIELD_INCIDENT_CATEGORY`.
    pub incident_category: String,
}

impl Default for PostMortemFields {
    fn default() -> Self {
        PostMortemFields {
            incident_summary: "customfield_12699".into(),
            timeline: "customfield_12700".into(),
            root_causes: "customfield_12701".into(),
            impact: "customfield_12702".into(),
            mitigation_actions: "customfield_12703".into(),
            incident_category: "customfield_12369".into(),
        }
    }
}

impl PostMortemFields {
    /// Each field with the setting that names it.
    pub(super) fn settings(&self) -> [(&str, &'static str); 6] {
        [
            (
                self.incident_summary.as_str(),
                "JIRA_FIELD_INCIDENT_SUMMARY",
            ),
            (self.timeline.as_str(), "JIRA_FIELD_TIMELINE"),
            (self.root_causes.as_str(), "JIRA_FIELD_ROOT_CAUSES"),
            (self.impact.as_str(), "JIRA_FIELD_IMPACT"),
            (
                self.mitigation_actions.as_str(),
                "JIRA_FIELD_MITIGATION_ACTIONS",
            ),
            (
                self.incident_category.as_str(),
                "JIRA_FIELD_INCIDENT_CATEGORY",
            ),
        ]
    }
}

/// Where and how post-mortem issues are created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostMortemConfig {
    /// `JIRA_POSTMORTEM_PROJECT_KEY`.
    pub project_key: String,
    /// `JIRA_POSTMORTEM_ISSUE_TYPE`.
    pub issue_type: String,
    /// `JIRA_POSTMORTEM_READY_STATUS`.
    pub ready_status: String,
    /// FireFighter's `ENV` (`dev` when unset).
    pub env: String,
    /// The custom fields.
    pub fields: PostMortemFields,
}

impl Default for PostMortemConfig {
    fn default() -> Self {
        PostMortemConfig {
            project_key: "INCIDENT".into(),
            issue_type: "Post-mortem".into(),
            ready_status: "Ready".into(),
            env: "dev".into(),
            fields: PostMortemFields::default(),
        }
    }
}

static SWITCHED_OFF: LogOnce = LogOnce::new();

impl PostMortemConfig {
    /// What summaries start with in this environment: nothing in `prod`
    /// and `support` (FireFighter's rule, on the raw `ENV`), else
    /// `[IGNORE - TEST <ENV>] `.
    pub fn summary_prefix(&self) -> String {
        if matches!(self.env.as_str(), "prod" | "support") {
            String::new()
        } else {
            format!("[IGNORE - TEST {}] ", self.env)
        }
    }

    /// Jira's settings and the backend's, from the process environment;
    /// `Ok(None)` when the backend or Jira is off (logged once).
    pub fn from_env() -> Result<Option<(JiraConfig, PostMortemConfig)>> {
        let names: Vec<&str> = VARIABLES
            .iter()
            .chain(POSTMORTEM_VARIABLES)
            .copied()
            .collect();
        PostMortemConfig::from_figment(Figment::new().merge(Env::raw().only(&names)))
    }

    /// Jira's settings and the backend's, from a figment.
    pub fn from_figment(figment: Figment) -> Result<Option<(JiraConfig, PostMortemConfig)>> {
        Ok(PostMortemConfig::read(&figment)?
            .inspect_err(|why| SWITCHED_OFF.info(&format!("Jira post-mortems are off: {why}")))
            .ok())
    }

    /// Whether the backend is on in `figment`'s environment, and why not.
    pub fn status(figment: Figment) -> IntegrationStatus {
        status_of(NAME, PostMortemConfig::read(&figment))
    }

    fn read(
        figment: &Figment,
    ) -> Result<std::result::Result<(JiraConfig, PostMortemConfig), String>> {
        let vars = EnvVars::read(figment, POSTMORTEM_VARIABLES)?;
        if !vars.flag("ENABLE_JIRA_POSTMORTEM")? {
            return Ok(Err("ENABLE_JIRA_POSTMORTEM is not set to yes".into()));
        }
        let mut config = PostMortemConfig::default();
        if let Some(key) = vars.optional("JIRA_POSTMORTEM_PROJECT_KEY") {
            config.project_key = project_key("JIRA_POSTMORTEM_PROJECT_KEY", &key)?;
        }
        if let Some(kind) = vars.optional("JIRA_POSTMORTEM_ISSUE_TYPE") {
            config.issue_type = kind;
        }
        if let Some(status) = vars.optional("JIRA_POSTMORTEM_READY_STATUS") {
            config.ready_status = status;
        }
        if let Some(env) = vars.optional("ENV") {
            config.env = env;
        }
        let f = &mut config.fields;
        for (name, slot) in [
            ("JIRA_FIELD_INCIDENT_SUMMARY", &mut f.incident_summary),
            ("JIRA_FIELD_TIMELINE", &mut f.timeline),
            ("JIRA_FIELD_ROOT_CAUSES", &mut f.root_causes),
            ("JIRA_FIELD_IMPACT", &mut f.impact),
            ("JIRA_FIELD_MITIGATION_ACTIONS", &mut f.mitigation_actions),
            ("JIRA_FIELD_INCIDENT_CATEGORY", &mut f.incident_category),
        ] {
            if let Some(value) = vars.optional(name) {
                *slot = field_id(name, &value)?;
            }
        }
        match JiraConfig::read(figment)? {
            Ok(jira) => Ok(Ok((jira, config))),
            Err(why) => Ok(Err(format!(
                "ENABLE_JIRA_POSTMORTEM is set but Jira is off ({why})"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env;

    const JIRA_ON: &[(&str, &str)] = &[
        ("ENABLE_JIRA", "yes"),
        ("RAID_JIRA_API_URL", "acme.atlassian.net"),
        ("RAID_JIRA_API_USER", "bot@acme.com"),
        ("RAID_JIRA_API_PASSWORD", "token"),
        ("RAID_JIRA_PROJECT_KEY", "INC"),
        ("RAID_DEFAULT_JIRA_QRAFT_USER_ID", "557058:abc"),
    ];

    #[test]
    fn off_by_default_and_only_with_jira_on() {
        assert!(
            PostMortemConfig::from_figment(env(JIRA_ON))
                .unwrap()
                .is_none()
        );
        let status = PostMortemConfig::status(env(&[("ENABLE_JIRA_POSTMORTEM", "yes")]));
        assert!(!status.on);
        assert!(status.why.contains("Jira is off"), "{}", status.why);
        assert!(status.why.contains("ENABLE_JIRA"), "{}", status.why);
        let mut on = JIRA_ON.to_vec();
        on.push(("ENABLE_JIRA_POSTMORTEM", "on"));
        let (jira, config) = PostMortemConfig::from_figment(env(&on)).unwrap().unwrap();
        assert_eq!(jira.project_key, "INC");
        assert_eq!(config, PostMortemConfig::default());
        assert_eq!(config.project_key, "INCIDENT");
        assert_eq!(config.issue_type, "Post-mortem");
        assert_eq!(config.ready_status, "Ready");
        assert_eq!(config.fields.incident_summary, "customfield_12699");
        assert_eq!(config.fields.timeline, "customfield_12700");
        assert_eq!(config.fields.root_causes, "customfield_12701");
        assert_eq!(config.fields.impact, "customfield_12702");
        assert_eq!(config.fields.mitigation_actions, "customfield_12703");
        assert_eq!(config.fields.incident_category, "customfield_12369");
        assert!(PostMortemConfig::status(env(&on)).on);
        let mut bad = JIRA_ON.to_vec();
        bad.push(("ENABLE_JIRA_POSTMORTEM", "perhaps"));
        let e = PostMortemConfig::from_figment(env(&bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ENABLE_JIRA_POSTMORTEM"), "{e}");
    }

    #[test]
    fn settings_are_read_and_checked() {
        let mut vars = JIRA_ON.to_vec();
        vars.extend([
            ("ENABLE_JIRA_POSTMORTEM", "yes"),
            ("JIRA_POSTMORTEM_PROJECT_KEY", "PM"),
            ("JIRA_POSTMORTEM_ISSUE_TYPE", "Postmortem"),
            ("JIRA_POSTMORTEM_READY_STATUS", "Done"),
            ("JIRA_FIELD_TIMELINE", "13000"),
            ("ENV", "prod"),
        ]);
        let (_, config) = PostMortemConfig::from_figment(env(&vars)).unwrap().unwrap();
        assert_eq!(config.project_key, "PM");
        assert_eq!(config.issue_type, "Postmortem");
        assert_eq!(config.ready_status, "Done");
        assert_eq!(config.fields.timeline, "customfield_13000");
        assert_eq!(config.summary_prefix(), "");
        let mut bad = vars.clone();
        bad.push(("JIRA_FIELD_IMPACT", "impact"));
        let e = PostMortemConfig::from_figment(env(&bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains("JIRA_FIELD_IMPACT"), "{e}");
        let mut bad = vars;
        bad.push(("JIRA_POSTMORTEM_PROJECT_KEY", "post mortems"));
        let e = PostMortemConfig::from_figment(env(&bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains("JIRA_POSTMORTEM_PROJECT_KEY"), "{e}");
    }
}
