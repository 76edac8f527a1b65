//! Configuration, from environment variables with FireFighter's names.
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `ENABLE_PAGERDUTY` | off | a yes/no word (`1`/`true`/`yes`/`on`/`y`/`t` or `0`/`false`/`no`/`off`/`n`/`f`; anything else is an error) switches the integration on |
//! | `PAGERDUTY_API_KEY` | required | REST API v2 key (account or user token) |
//! | `PAGERDUTY_ACCOUNT_EMAIL` | required | e-mail of a PagerDuty user, sent as `From` (PagerDuty requires it to create incidents) |
//! | `PAGERDUTY_URL` | `https://api.pagerduty.com` | REST API base URL |
//! | `PAGERDUTY_EVENTS_URL` | `https://events.pagerduty.com` | Events API v2 base URL |
//! | `PAGERDUTY_ROUTING_KEYS` | none | `SERVICE_ID=integration_key,...`: services paged through Events API v2 instead of `POST /incidents` |
//! | `PAGERDUTY_TIMEOUT_SECS` | `15` | timeout of one HTTP request |
//! | `PAGERDUTY_REQUESTS_PER_MINUTE` | `900` | client-side pacing of REST calls (PagerDuty allows about 960 per minute per key) |

use std::collections::BTreeMap;
use std::time::Duration;

use figment::{Figment, providers::Env};
use secrecy::SecretString;

use firefighter_core::env_vars::{EnvVars, LogOnce, http_url, status_of};
use firefighter_core::plugin::IntegrationStatus;

use crate::{Error, Result};

/// The integration's name in status reports.
pub const NAME: &str = "pagerduty";

/// Default REST API base URL.
pub const DEFAULT_API_URL: &str = "https://api.pagerduty.com";
/// Default Events API base URL.
pub const DEFAULT_EVENTS_URL: &str = "https://events.pagerduty.com";

/// The environment variables this crate reads.
pub const VARIABLES: &[&str] = &[
    "ENABLE_PAGERDUTY",
    "PAGERDUTY_API_KEY",
    "PAGERDUTY_ACCOUNT_EMAIL",
    "PAGERDUTY_URL",
    "PAGERDUTY_EVENTS_URL",
    "PAGERDUTY_ROUTING_KEYS",
    "PAGERDUTY_TIMEOUT_SECS",
    "PAGERDUTY_REQUESTS_PER_MINUTE",
];

/// The PagerDuty integration's settings.
#[derive(Debug, Clone)]
pub struct PagerDutyConfig {
    /// REST API v2 key.
    pub api_key: SecretString,
    /// Sent as `From` on REST calls.
    pub account_email: String,
    /// REST API base URL, without trailing slash.
    pub api_url: String,
    /// Events API base URL, without trailing slash.
    pub events_url: String,
    /// Events API v2 integration keys by PagerDuty service id.
    pub routing_keys: BTreeMap<String, SecretString>,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Client-side pacing of REST calls.
    pub requests_per_minute: u32,
}

impl PagerDutyConfig {
    /// A configuration for `api_url` with these credentials and every other default.
    pub fn new(
        api_key: impl Into<String>,
        account_email: impl Into<String>,
        api_url: impl Into<String>,
    ) -> PagerDutyConfig {
        PagerDutyConfig {
            api_key: SecretString::from(api_key.into()),
            account_email: account_email.into(),
            api_url: api_url.into().trim_end_matches('/').to_owned(),
            events_url: DEFAULT_EVENTS_URL.to_owned(),
            routing_keys: BTreeMap::new(),
            timeout: Duration::from_secs(15),
            requests_per_minute: 900,
        }
    }

    /// Reads the configuration from the process environment; `Ok(None)` when
    /// the integration is switched off or a required variable is missing (logged once).
    pub fn from_env() -> Result<Option<PagerDutyConfig>> {
        PagerDutyConfig::from_figment(Figment::new().merge(Env::raw().only(VARIABLES)))
    }

    /// Reads the configuration from a figment (tests use `Serialized` values).
    pub fn from_figment(figment: Figment) -> Result<Option<PagerDutyConfig>> {
        Ok(PagerDutyConfig::read(&figment)?
            .inspect_err(|why| SWITCHED_OFF.info(&format!("PagerDuty is switched off: {why}")))
            .ok())
    }

    /// Whether PagerDuty is on in `figment`'s environment, and why not.
    pub fn status(figment: Figment) -> IntegrationStatus {
        status_of(NAME, PagerDutyConfig::read(&figment))
    }

    /// The configuration, or why the integration is off (`Ok(Err(why))`).
    fn read(figment: &Figment) -> Result<std::result::Result<PagerDutyConfig, String>> {
        let vars = EnvVars::read(figment, VARIABLES)?;
        if !vars.flag("ENABLE_PAGERDUTY")? {
            return Ok(Err("ENABLE_PAGERDUTY is not set to yes".into()));
        }
        let [key, email] = match vars.required(
            "ENABLE_PAGERDUTY",
            ["PAGERDUTY_API_KEY", "PAGERDUTY_ACCOUNT_EMAIL"],
        ) {
            Ok(values) => values,
            Err(why) => return Ok(Err(why)),
        };
        let mut config = PagerDutyConfig::new(
            key,
            email,
            base_url(&vars, "PAGERDUTY_URL", DEFAULT_API_URL)?,
        );
        config.events_url = base_url(&vars, "PAGERDUTY_EVENTS_URL", DEFAULT_EVENTS_URL)?;
        if let Some(keys) = vars.optional("PAGERDUTY_ROUTING_KEYS") {
            config.routing_keys = parse_routing_keys(&keys)?;
        }
        if let Some(timeout) = vars.seconds("PAGERDUTY_TIMEOUT_SECS")? {
            config.timeout = timeout;
        }
        if let Some(r) = vars.positive("PAGERDUTY_REQUESTS_PER_MINUTE")? {
            config.requests_per_minute = u32::try_from(r)
                .map_err(|_| Error::Config("PAGERDUTY_REQUESTS_PER_MINUTE is too large".into()))?;
        }
        Ok(Ok(config))
    }

    /// The Events API integration key of a service, if pages go through Events API v2.
    pub fn routing_key(&self, service_id: &str) -> Option<&SecretString> {
        self.routing_keys.get(service_id)
    }
}

static SWITCHED_OFF: LogOnce = LogOnce::new();

/// A base URL: `name`'s value or `default`, without trailing slash.
fn base_url(vars: &EnvVars, name: &str, default: &str) -> Result<String> {
    let url = vars.optional(name).unwrap_or_else(|| default.to_owned());
    Ok(http_url(name, url.trim_end_matches('/'))?)
}

/// Parses `SERVICE_ID=key,SERVICE_ID=key` (spaces and newlines allowed).
fn parse_routing_keys(text: &str) -> Result<BTreeMap<String, SecretString>> {
    let mut keys = BTreeMap::new();
    for pair in text
        .split([',', '\n', ';'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let Some((service, key)) = pair.split_once('=') else {
            return Err(Error::Config(
                "PAGERDUTY_ROUTING_KEYS must look like SERVICE_ID=integration_key,SERVICE_ID=integration_key"
                    .into(),
            ));
        };
        let (service, key) = (service.trim(), key.trim());
        if service.is_empty() || key.is_empty() {
            return Err(Error::Config(format!(
                "PAGERDUTY_ROUTING_KEYS has an empty service id or key near \"{service}=\""
            )));
        }
        if keys
            .insert(service.to_owned(), SecretString::from(key.to_owned()))
            .is_some()
        {
            return Err(Error::Config(format!(
                "PAGERDUTY_ROUTING_KEYS lists service {service} twice"
            )));
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use figment::providers::Serialized;
    use secrecy::ExposeSecret;

    use super::*;

    fn figment(pairs: &[(&str, &str)]) -> Figment {
        pairs.iter().fold(Figment::new(), |f, (k, v)| {
            f.merge(Serialized::default(k, v))
        })
    }

    #[test]
    fn switched_off_unless_enabled_and_complete() {
        assert!(
            PagerDutyConfig::from_figment(Figment::new())
                .unwrap()
                .is_none()
        );
        assert!(
            PagerDutyConfig::from_figment(figment(&[("enable_pagerduty", "false")]))
                .unwrap()
                .is_none()
        );
        assert!(
            PagerDutyConfig::from_figment(figment(&[
                ("enable_pagerduty", "true"),
                ("pagerduty_api_key", "k")
            ]))
            .unwrap()
            .is_none()
        );
    }

    #[test]
    fn reads_every_variable() {
        let c = PagerDutyConfig::from_figment(figment(&[
            ("enable_pagerduty", "1"),
            ("pagerduty_api_key", " u+abc "),
            ("pagerduty_account_email", "oncall@example.com"),
            ("pagerduty_url", "http://127.0.0.1:4011/"),
            ("pagerduty_routing_keys", "PSERV1=abc, PSERV2 = def"),
            ("pagerduty_timeout_secs", "3"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.api_key.expose_secret(), "u+abc");
        assert_eq!(c.api_url, "http://127.0.0.1:4011");
        assert_eq!(c.events_url, DEFAULT_EVENTS_URL);
        assert_eq!(c.routing_key("PSERV2").unwrap().expose_secret(), "def");
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert!(!format!("{c:?}").contains("u+abc"));
    }

    #[test]
    fn numbers_and_booleans_from_the_environment_are_text_too() {
        let f = Figment::new()
            .merge(Serialized::default("enable_pagerduty", true))
            .merge(Serialized::default("pagerduty_api_key", 12345))
            .merge(Serialized::default("pagerduty_account_email", "a@b.co"));
        let c = PagerDutyConfig::from_figment(f).unwrap().unwrap();
        assert_eq!(c.api_key.expose_secret(), "12345");
    }

    #[test]
    fn bad_values_are_explained() {
        let base = [
            ("enable_pagerduty", "yes"),
            ("pagerduty_api_key", "k"),
            ("pagerduty_account_email", "a@b.co"),
        ];
        let with = |k, v| {
            let mut p = base.to_vec();
            p.push((k, v));
            PagerDutyConfig::from_figment(figment(&p))
                .unwrap_err()
                .to_string()
        };
        assert!(with("pagerduty_url", "api.pagerduty.com").contains("PAGERDUTY_URL"));
        assert!(with("pagerduty_routing_keys", "nokey").contains("PAGERDUTY_ROUTING_KEYS"));
        assert!(with("pagerduty_routing_keys", "A=1,A=2").contains("twice"));
        assert!(with("pagerduty_timeout_secs", "0").contains("PAGERDUTY_TIMEOUT_SECS"));
    }
}
