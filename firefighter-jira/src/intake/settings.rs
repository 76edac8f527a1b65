//! The intake's settings, from environment variables.

use std::time::Duration;

use figment::Figment;
use firefighter_core::Email;
use firefighter_core::env_vars::EnvVars;
use reqwest::Url;

use super::INTAKE_VARIABLES;
use crate::{Error, Result};

/// The intake's settings.
///
/// | Variable | Default | Meaning |
/// |---|---|---|
/// | `RAID_TOOLBOX_URL` | none | the seller back-office: with a `seller_contract_id`, the description links `<url>?seller_id=<id>` |
/// | `RAID_COMPANY_EMAIL_DOMAINS` | none | the company's e-mail domains, separated by commas (subdomains included); a reporter outside them has their e-mail written in the description |
/// | `RAID_INTAKE_PROJECT_KEY` | `SBI` | the project when the request names none |
/// | `RAID_INTAKE_ATTACHMENT_MAX_BYTES` | 10485760 | largest attachment fetched |
/// | `RAID_INTAKE_ATTACHMENT_TIMEOUT_SECS` | 10 | longest fetch of one attachment |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeSettings {
    /// `RAID_TOOLBOX_URL`.
    pub toolbox_url: Option<String>,
    /// `RAID_COMPANY_EMAIL_DOMAINS`, lower case.
    pub company_domains: Vec<String>,
    /// `RAID_INTAKE_PROJECT_KEY`.
    pub default_project: String,
    /// `RAID_INTAKE_ATTACHMENT_MAX_BYTES`.
    pub attachment_max_bytes: u64,
    /// `RAID_INTAKE_ATTACHMENT_TIMEOUT_SECS`.
    pub attachment_timeout: Duration,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        IntakeSettings {
            toolbox_url: None,
            company_domains: Vec::new(),
            default_project: "SBI".into(),
            attachment_max_bytes: crate::attachments::DEFAULT_MAX_BYTES,
            attachment_timeout: crate::attachments::DEFAULT_TIMEOUT,
        }
    }
}

impl IntakeSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<IntakeSettings> {
        IntakeSettings::from_figment(
            &Figment::new().merge(figment::providers::Env::raw().only(INTAKE_VARIABLES)),
        )
    }

    /// Reads the settings from a figment (variables in lower case).
    pub fn from_figment(figment: &Figment) -> Result<IntakeSettings> {
        let vars = EnvVars::read(figment, INTAKE_VARIABLES)?;
        let mut settings = IntakeSettings::default();
        if let Some(url) = vars.optional("RAID_TOOLBOX_URL") {
            firefighter_core::env_vars::http_url("RAID_TOOLBOX_URL", &url)?;
            Url::parse(&url).map_err(|e| {
                Error::Config(format!("RAID_TOOLBOX_URL is not a URL ({e}): \"{url}\""))
            })?;
            settings.toolbox_url = Some(url);
        }
        if let Some(list) = vars.optional("RAID_COMPANY_EMAIL_DOMAINS") {
            settings.company_domains = list
                .split(',')
                .map(|d| d.trim().trim_start_matches('@').to_lowercase())
                .filter(|d| !d.is_empty())
                .collect();
            if let Some(bad) = settings
                .company_domains
                .iter()
                .find(|d| d.contains(char::is_whitespace) || d.contains('@'))
            {
                return Err(Error::Config(format!(
                    "RAID_COMPANY_EMAIL_DOMAINS must be domains separated by commas (example.com,example.org), got \"{bad}\""
                )));
            }
        }
        if let Some(project) = vars.optional("RAID_INTAKE_PROJECT_KEY") {
            settings.default_project = project_key(&project)
                .map_err(|why| Error::Config(format!("RAID_INTAKE_PROJECT_KEY {why}")))?;
        }
        if let Some(bytes) = vars.positive("RAID_INTAKE_ATTACHMENT_MAX_BYTES")? {
            settings.attachment_max_bytes = bytes;
        }
        if let Some(timeout) = vars.seconds("RAID_INTAKE_ATTACHMENT_TIMEOUT_SECS")? {
            settings.attachment_timeout = timeout;
        }
        Ok(settings)
    }

    /// Whether `email` is outside the company's domains (every address is,
    /// when none is set).
    pub fn is_outside(&self, email: &Email) -> bool {
        let domain = email.as_str().rsplit('@').next().unwrap_or_default();
        !self
            .company_domains
            .iter()
            .any(|d| domain == d || domain.ends_with(&format!(".{d}")))
    }
}

/// `text` as a project key (upper-cased), or why not.
pub(super) fn project_key(text: &str) -> Result<String, String> {
    let key = text.trim().to_uppercase();
    let valid = key.len() <= 128
        && key.starts_with(|c: char| c.is_ascii_uppercase())
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(key)
    } else {
        Err(format!(
            "must be a Jira project key (letters, digits and _, starting with a letter, at most 128), got \"{text}\""
        ))
    }
}
