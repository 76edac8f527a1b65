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
    #[serde(default = "default_true", rename = "ff_workers")]
    pub workers: bool,
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
            .map_err(|e| Error::Config(e.to_string()))?;
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
    fn secrets_stay_out_of_debug_output() {
        let s = Settings::from_figment(Figment::new().merge(Serialized::default(
            "database_url",
            "postgres://app:hunter2@db/ff",
        )))
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
