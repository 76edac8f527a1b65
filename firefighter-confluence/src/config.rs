//! Configuration, from environment variables with FireFighter's names.
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `ENABLE_CONFLUENCE` | off | a yes/no word (`1`/`true`/`yes`/`on`/`y`/`t` or `0`/`false`/`no`/`off`/`n`/`f`; anything else is an error) switches the integration on |
//! | `CONFLUENCE_URL` | required | the site (`https://x.atlassian.net`); FireFighter's `.../wiki/rest/api` form is accepted |
//! | `CONFLUENCE_USERNAME` | required | the Atlassian account (e-mail) of the API key |
//! | `CONFLUENCE_API_KEY` | required | its API token |
//! | `CONFLUENCE_ON_CALL_PAGE_ID` | none | page the on-call roster is exported to; unset: the export is skipped |
//! | `CONFLUENCE_TIMEOUT_SECS` | `15` | timeout of one HTTP request |

use std::time::Duration;

use figment::{Figment, providers::Env};
use secrecy::SecretString;

use firefighter_core::env_vars::{EnvVars, LogOnce, http_url, status_of};
use firefighter_core::plugin::IntegrationStatus;

use crate::{Error, Result};

/// The integration's name in status reports.
pub const NAME: &str = "confluence";

/// The environment variables this crate reads.
pub const VARIABLES: &[&str] = &[
    "ENABLE_CONFLUENCE",
    "CONFLUENCE_URL",
    "CONFLUENCE_USERNAME",
    "CONFLUENCE_API_KEY",
    "CONFLUENCE_ON_CALL_PAGE_ID",
    "CONFLUENCE_TIMEOUT_SECS",
];

/// The Confluence integration's settings.
#[derive(Debug, Clone)]
pub struct ConfluenceConfig {
    /// The site, without trailing slash (`https://x.atlassian.net`).
    pub site_url: String,
    /// The account.
    pub username: String,
    /// Its API token.
    pub api_key: SecretString,
    /// The page the on-call roster is exported to.
    pub oncall_page_id: Option<String>,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
}

impl ConfluenceConfig {
    /// A configuration for `site_url` with these credentials.
    pub fn new(
        site_url: &str,
        username: impl Into<String>,
        api_key: impl Into<String>,
    ) -> ConfluenceConfig {
        ConfluenceConfig {
            site_url: site_root(site_url),
            username: username.into(),
            api_key: SecretString::from(api_key.into()),
            oncall_page_id: None,
            timeout: Duration::from_secs(15),
        }
    }

    /// Reads the configuration from the process environment; `Ok(None)` when
    /// switched off or a required variable is missing (logged once).
    pub fn from_env() -> Result<Option<ConfluenceConfig>> {
        ConfluenceConfig::from_figment(Figment::new().merge(Env::raw().only(VARIABLES)))
    }

    /// Reads the configuration from a figment.
    pub fn from_figment(figment: Figment) -> Result<Option<ConfluenceConfig>> {
        Ok(ConfluenceConfig::read(&figment)?
            .inspect_err(|why| SWITCHED_OFF.info(&format!("Confluence is switched off: {why}")))
            .ok())
    }

    /// Whether Confluence is on in `figment`'s environment, and why not.
    pub fn status(figment: Figment) -> IntegrationStatus {
        status_of(NAME, ConfluenceConfig::read(&figment))
    }

    /// The configuration, or why the integration is off (`Ok(Err(why))`).
    fn read(figment: &Figment) -> Result<std::result::Result<ConfluenceConfig, String>> {
        let vars = EnvVars::read(figment, VARIABLES)?;
        if !vars.flag("ENABLE_CONFLUENCE")? {
            return Ok(Err("ENABLE_CONFLUENCE is not set to yes".into()));
        }
        let [url, username, key] = match vars.required(
            "ENABLE_CONFLUENCE",
            [
                "CONFLUENCE_URL",
                "CONFLUENCE_USERNAME",
                "CONFLUENCE_API_KEY",
            ],
        ) {
            Ok(values) => values,
            Err(why) => return Ok(Err(why)),
        };
        let url = http_url("CONFLUENCE_URL", &url)?;
        let mut config = ConfluenceConfig::new(&url, username, key);
        if let Some(id) = vars.optional("CONFLUENCE_ON_CALL_PAGE_ID") {
            if !id.chars().all(|c| c.is_ascii_digit()) {
                return Err(Error::Config(format!(
                    "CONFLUENCE_ON_CALL_PAGE_ID must be a page id (digits), got \"{id}\""
                )));
            }
            config.oncall_page_id = Some(id);
        }
        if let Some(timeout) = vars.seconds("CONFLUENCE_TIMEOUT_SECS")? {
            config.timeout = timeout;
        }
        Ok(Ok(config))
    }
}

/// The site root of a Confluence URL, whatever API path it was given with.
fn site_root(url: &str) -> String {
    let mut url = url.trim().trim_end_matches('/').to_owned();
    for suffix in ["/wiki/rest/api", "/wiki/api/v2", "/rest/api", "/wiki"] {
        if let Some(root) = url.strip_suffix(suffix) {
            url = root.trim_end_matches('/').to_owned();
            break;
        }
    }
    url
}

static SWITCHED_OFF: LogOnce = LogOnce::new();

#[cfg(test)]
mod tests {
    use figment::providers::Serialized;

    use super::*;

    fn figment(pairs: &[(&str, &str)]) -> Figment {
        pairs.iter().fold(Figment::new(), |f, (k, v)| {
            f.merge(Serialized::default(k, v))
        })
    }

    #[test]
    fn accepts_fire_fighters_url_and_reads_the_page_id() {
        assert_eq!(
            site_root("https://x.atlassian.net/wiki/rest/api/"),
            "https://x.atlassian.net"
        );
        assert_eq!(
            site_root("https://x.atlassian.net"),
            "https://x.atlassian.net"
        );
        assert_eq!(
            site_root("https://x.atlassian.net/wiki"),
            "https://x.atlassian.net"
        );
        let c = ConfluenceConfig::from_figment(figment(&[
            ("enable_confluence", "true"),
            ("confluence_url", "https://x.atlassian.net/wiki/rest/api"),
            ("confluence_username", "bot@example.com"),
            ("confluence_api_key", "secret-token"),
            ("confluence_on_call_page_id", "123456"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.oncall_page_id.as_deref(), Some("123456"));
        assert!(!format!("{c:?}").contains("secret-token"));
    }

    #[test]
    fn switched_off_or_explained() {
        assert!(
            ConfluenceConfig::from_figment(Figment::new())
                .unwrap()
                .is_none()
        );
        assert!(
            ConfluenceConfig::from_figment(figment(&[("enable_confluence", "1")]))
                .unwrap()
                .is_none()
        );
        let err = ConfluenceConfig::from_figment(figment(&[
            ("enable_confluence", "1"),
            ("confluence_url", "https://x.atlassian.net"),
            ("confluence_username", "u"),
            ("confluence_api_key", "k"),
            ("confluence_on_call_page_id", "abc"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("CONFLUENCE_ON_CALL_PAGE_ID"));
    }
}
