//! Core settings, read from environment variables with FireFighter's names
//! wherever the concept is the same, so its users can switch without renaming.

use figment::{Figment, providers::Env};
use secrecy::SecretString;
use serde::Deserialize;

use crate::{Error, Result};

/// The default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:firefighter.db";

/// Core settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `DATABASE_URL`: `sqlite:<file>` (default `sqlite:firefighter.db`) or `postgres://...`.
    #[serde(default = "default_database_url")]
    pub database_url: SecretString,
    /// `BASE_URL`: public URL of the web UI, used in links.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// `APP_DISPLAY_NAME`: product name shown to people.
    #[serde(default = "default_app_name")]
    pub app_display_name: String,
    /// `TIME_ZONE`: local time zone (channel names, office hours, cron schedules).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// `FF_INVITE_PROVIDER_TIMEOUT_SECS`: how long one invite provider may take.
    #[serde(
        default = "default_invite_timeout",
        rename = "ff_invite_provider_timeout_secs"
    )]
    pub invite_provider_timeout_secs: u64,
    /// `FF_OUTBOX_MAX_BACKOFF_SECS`: longest wait between two delivery attempts.
    #[serde(default = "default_max_backoff", rename = "ff_outbox_max_backoff_secs")]
    pub outbox_max_backoff_secs: u64,
    /// `FF_OUTBOX_MAX_ATTEMPTS`: attempts before a delivery is parked as failed.
    #[serde(default = "default_max_attempts", rename = "ff_outbox_max_attempts")]
    pub outbox_max_attempts: u32,
    /// `FF_WORKERS`: run the outbox dispatcher and the task runner in this process.
    #[serde(
        default = "default_true",
        rename = "ff_workers",
        deserialize_with = "deserialize_flag"
    )]
    pub workers: bool,
    /// `FF_BUILTIN_POSTMORTEM`: firefighter holds a post-mortem itself,
    /// written on the incident's page and marked ready there, which closing
    /// an incident that needs one waits for.
    #[serde(
        default = "default_true",
        rename = "ff_builtin_postmortem",
        deserialize_with = "deserialize_flag"
    )]
    pub builtin_postmortem: bool,
}

fn default_database_url() -> SecretString {
    SecretString::from(DEFAULT_DATABASE_URL)
}
fn default_base_url() -> String {
    "http://127.0.0.1:8000".to_owned()
}
fn default_app_name() -> String {
    "FireFighter".to_owned()
}
fn default_time_zone() -> String {
    "UTC".to_owned()
}
fn default_invite_timeout() -> u64 {
    5
}
fn default_max_backoff() -> u64 {
    900
}
fn default_max_attempts() -> u32 {
    25
}
fn default_true() -> bool {
    true
}

/// The environment variables core reads.
pub const VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "BASE_URL",
    "APP_DISPLAY_NAME",
    "TIME_ZONE",
    "FF_INVITE_PROVIDER_TIMEOUT_SECS",
    "FF_OUTBOX_MAX_BACKOFF_SECS",
    "FF_OUTBOX_MAX_ATTEMPTS",
    "FF_WORKERS",
    "FF_BUILTIN_POSTMORTEM",
];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: default_database_url(),
            base_url: default_base_url(),
            app_display_name: default_app_name(),
            time_zone: default_time_zone(),
            invite_provider_timeout_secs: default_invite_timeout(),
            outbox_max_backoff_secs: default_max_backoff(),
            outbox_max_attempts: default_max_attempts(),
            workers: true,
            builtin_postmortem: true,
        }
    }
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Settings> {
        Settings::from_figment(Figment::new().merge(Env::raw().only(VARIABLES)))
    }

    /// Reads the settings from a figment (tests use `figment::Jail` or `Serialized` values).
    pub fn from_figment(figment: Figment) -> Result<Settings> {
        let settings: Settings = figment
            .extract()
            .map_err(|e| Error::Config(describe_config_error(&e)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<()> {
        self.tz()?;
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "BASE_URL must start with http:// or https:// (got \"{}\")",
                self.base_url
            )));
        }
        if self.invite_provider_timeout_secs == 0 {
            return Err(Error::Config(
                "FF_INVITE_PROVIDER_TIMEOUT_SECS must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The configured time zone.
    pub fn tz(&self) -> Result<chrono_tz::Tz> {
        self.time_zone.parse().map_err(|_| {
            Error::Config(format!(
                "TIME_ZONE \"{}\" is not a known time zone (e.g. Europe/Paris)",
                self.time_zone
            ))
        })
    }

    /// `BASE_URL` without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    /// The public page of an incident.
    pub fn incident_url(&self, id: crate::IncidentId) -> String {
        format!("{}/incident/{}/", self.base_url(), id.0)
    }
}

/// The words a yes/no variable accepts, in any case and with spaces around:
/// FireFighter's (Python's `strtobool`), so its settings keep their meaning.
pub const FLAG_WORDS: &str = "1/true/yes/on/y/t or 0/false/no/off/n/f";

/// Reads a yes/no word; `None` for a word that is neither (see [`FLAG_WORDS`]).
/// The one truthiness rule of the server and of every integration.
pub fn flag(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "y" | "t" => Some(true),
        "0" | "false" | "no" | "off" | "n" | "f" => Some(false),
        _ => None,
    }
}

/// Reads the yes/no variable `name`; a word that is neither yes nor no is an
/// error naming the variable, never a silent "off".
pub fn flag_var(name: &str, value: &str) -> std::result::Result<bool, FlagError> {
    flag(value).ok_or_else(|| FlagError {
        variable: name.to_owned(),
        value: value.trim().to_owned(),
    })
}

/// A yes/no variable set to a word that is neither.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable} must be one of {FLAG_WORDS} (got \"{value}\")")]
pub struct FlagError {
    /// The variable.
    pub variable: String,
    /// What it was set to.
    pub value: String,
}

impl From<FlagError> for Error {
    fn from(error: FlagError) -> Error {
        Error::Config(error.to_string())
    }
}

/// A variable's value as figment hands it over: `ENABLE_X=1` arrives as a
/// number, `=true` as a boolean, anything else as text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EnvValue {
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// Text.
    Text(String),
}

impl EnvValue {
    /// The value as the text it was written as.
    pub fn into_string(self) -> String {
        match self {
            EnvValue::Bool(b) => b.to_string(),
            EnvValue::Int(i) => i.to_string(),
            EnvValue::Float(f) => f.to_string(),
            EnvValue::Text(s) => s,
        }
    }

    /// The value of the yes/no variable `name` (see [`flag_var`]).
    pub fn flag(&self, name: &str) -> std::result::Result<bool, FlagError> {
        match self {
            EnvValue::Bool(b) => Ok(*b),
            EnvValue::Int(i) => flag_var(name, &i.to_string()),
            EnvValue::Float(f) => flag_var(name, &f.to_string()),
            EnvValue::Text(s) => flag_var(name, s),
        }
    }
}

/// Whether the yes/no variable `name` is set to yes; unset or empty is no.
pub fn flag_is_on(name: &str, value: Option<&EnvValue>) -> std::result::Result<bool, FlagError> {
    match value {
        None => Ok(false),
        Some(EnvValue::Text(s)) if s.trim().is_empty() => Ok(false),
        Some(v) => v.flag(name),
    }
}

/// `deserialize_with` for a `bool` field read from the environment: the
/// words of [`flag`]. [`describe_config_error`] names the variable in the error.
pub fn deserialize_flag<'de, D>(deserializer: D) -> std::result::Result<bool, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = EnvValue::deserialize(deserializer)?;
    match value {
        EnvValue::Bool(b) => Ok(b),
        other => {
            let text = other.into_string();
            flag(&text).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "must be one of {FLAG_WORDS} (got \"{}\")",
                    text.trim()
                ))
            })
        }
    }
}

/// What is wrong with a configuration, naming the variable it is about
/// (figment knows the key, in lower case).
pub fn describe_config_error(error: &figment::Error) -> String {
    match error.path.last() {
        Some(key) => format!("{}: {}", key.to_ascii_uppercase(), error.kind),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use figment::providers::Serialized;
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let s = Settings::from_figment(Figment::new()).unwrap();
        assert_eq!(s.database_url.expose_secret(), DEFAULT_DATABASE_URL);
        assert_eq!(s.time_zone, "UTC");
        let s = Settings::from_figment(
            Figment::new().merge(Serialized::default("time_zone", "Europe/Paris")),
        )
        .unwrap();
        assert_eq!(s.tz().unwrap(), chrono_tz::Europe::Paris);
    }

    #[test]
    fn bad_values_are_explained() {
        let err = Settings::from_figment(
            Figment::new().merge(Serialized::default("time_zone", "Mars/Base")),
        )
        .unwrap_err();
        assert!(err.to_string().contains("Mars/Base"), "{err}");
        let err = Settings::from_figment(
            Figment::new().merge(Serialized::default("base_url", "example.com")),
        )
        .unwrap_err();
        assert!(err.to_string().contains("BASE_URL"), "{err}");
    }

    #[test]
    fn yes_no_words_are_fire_fighters_and_anything_else_is_refused() {
        for yes in ["1", "true", "YES", " on ", "y", "T"] {
            assert_eq!(flag(yes), Some(true), "{yes}");
        }
        for no in ["0", "false", "No", "off", "n", "f"] {
            assert_eq!(flag(no), Some(false), "{no}");
        }
        assert_eq!(flag("maybe"), None);
        let err = flag_var("ENABLE_PAGERDUTY", "maybe")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ENABLE_PAGERDUTY"), "{err}");
        assert!(err.contains("maybe"), "{err}");
    }

    #[test]
    fn a_boolean_setting_takes_the_same_words_and_names_its_variable() {
        let s =
            Settings::from_figment(Figment::new().merge(Serialized::default("ff_workers", "n")))
                .unwrap();
        assert!(!s.workers);
        let err = Settings::from_figment(
            Figment::new().merge(Serialized::default("ff_workers", "maybe")),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("FF_WORKERS"), "{err}");
        assert!(err.contains("maybe"), "{err}");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let s = Settings::from_figment(Figment::new().merge(Serialized::default(
            "database_url",
            "postgres://app:hunter2@db/ff",
        )))
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
