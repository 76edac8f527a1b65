//! Reading an integration's settings from environment variables, by one set
//! of rules for every integration: the yes/no words of [`crate::config::flag`],
//! empty meaning unset, values trimmed, and every error naming its variable.
//!
//! ```
//! use figment::{Figment, providers::Serialized};
//! use firefighter_core::env_vars::EnvVars;
//!
//! let env = Figment::new()
//!     .merge(Serialized::default("enable_wiki", "y"))
//!     .merge(Serialized::default("wiki_url", " https://wiki.example.com "));
//! let vars = EnvVars::read(&env, &["ENABLE_WIKI", "WIKI_URL", "WIKI_TOKEN"]).unwrap();
//! assert!(vars.flag("ENABLE_WIKI").unwrap());
//! assert_eq!(vars.optional("WIKI_URL").as_deref(), Some("https://wiki.example.com"));
//! assert_eq!(
//!     vars.required("ENABLE_WIKI", ["WIKI_URL", "WIKI_TOKEN"]).unwrap_err(),
//!     "ENABLE_WIKI is set but WIKI_URL or WIKI_TOKEN is missing",
//! );
//! ```

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use figment::Figment;

use crate::config::{EnvValue, flag_is_on};
use crate::plugin::IntegrationStatus;

/// A variable with a value that cannot be used; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingError(pub String);

/// The values of an integration's variables, as figment hands them over
/// (keys in lower case, as figment's `Env` provider gives them).
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    values: BTreeMap<String, EnvValue>,
}

impl EnvVars {
    /// Reads the variables `names` from `figment`; the others are left alone.
    pub fn read(figment: &Figment, names: &[&str]) -> Result<EnvVars, SettingError> {
        let mut values = BTreeMap::new();
        for name in names {
            let key = name.to_ascii_lowercase();
            if figment.contains(&key) {
                let value = figment
                    .extract_inner::<EnvValue>(&key)
                    .map_err(|e| SettingError(e.to_string()))?;
                values.insert(name.to_ascii_uppercase(), value);
            }
        }
        Ok(EnvVars { values })
    }

    fn value(&self, name: &str) -> Option<&EnvValue> {
        self.values.get(name)
    }

    /// Whether the yes/no variable `name` is set to yes; unset or empty is no,
    /// a word that is neither is an error.
    pub fn flag(&self, name: &str) -> Result<bool, SettingError> {
        flag_is_on(name, self.value(name)).map_err(|e| SettingError(e.to_string()))
    }

    /// The value of `name`, trimmed; `None` when unset or empty.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.value(name)
            .cloned()
            .map(EnvValue::into_string)
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    }

    /// The values of `names`, all set, or why the integration switched on by
    /// `switch` is off: `"SWITCH is set but A, B or C is missing"`.
    pub fn required<const N: usize>(
        &self,
        switch: &str,
        names: [&str; N],
    ) -> Result<[String; N], String> {
        let values = names.map(|name| self.optional(name));
        if values.iter().all(Option::is_some) {
            return Ok(values.map(Option::unwrap_or_default));
        }
        let listed = match names.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        Err(format!("{switch} is set but {listed} is missing"))
    }

    /// The whole number above zero `name` is set to; `None` when unset or empty.
    pub fn positive(&self, name: &str) -> Result<Option<u64>, SettingError> {
        let Some(text) = self.optional(name) else {
            return Ok(None);
        };
        match text.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(SettingError(format!(
                "{name} must be a positive whole number (got \"{text}\")"
            ))),
        }
    }

    /// The seconds (above zero) `name` is set to; `None` when unset or empty.
    pub fn seconds(&self, name: &str) -> Result<Option<Duration>, SettingError> {
        Ok(self.positive(name)?.map(Duration::from_secs))
    }
}

/// `url` if it is a web address (`https://` or `http://`); else an error naming `name`.
pub fn http_url(name: &str, url: &str) -> Result<String, SettingError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(url.to_owned())
    } else {
        Err(SettingError(format!(
            "{name} must start with https:// or http:// (got \"{url}\")"
        )))
    }
}

/// An integration's status from reading its settings: on, off for a reason
/// (`Ok(Err(why))`), or off because a setting is wrong.
pub fn status_of<T, E: Display>(
    name: &'static str,
    read: Result<Result<T, String>, E>,
) -> IntegrationStatus {
    match read {
        Ok(Ok(_)) => IntegrationStatus::on(name),
        Ok(Err(why)) => IntegrationStatus::off(name, why),
        Err(e) => IntegrationStatus::off(name, e.to_string()),
    }
}

/// Logs a message the first time only (why an integration is off, read at
/// every start of a task, is worth one line).
#[derive(Debug, Default)]
pub struct LogOnce(AtomicBool);

impl LogOnce {
    /// Not logged yet.
    pub const fn new() -> LogOnce {
        LogOnce(AtomicBool::new(false))
    }

    /// Logs `message` at info level, unless this already logged.
    pub fn info(&self, message: &str) {
        if !self.0.swap(true, Ordering::Relaxed) {
            tracing::info!("{message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use figment::providers::Serialized;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> EnvVars {
        let figment = pairs.iter().fold(Figment::new(), |f, (k, v)| {
            f.merge(Serialized::default(k, v))
        });
        EnvVars::read(&figment, &["ENABLE_X", "X_URL", "X_KEY", "X_SECS"]).unwrap()
    }

    #[test]
    fn empty_is_unset_and_values_are_trimmed() {
        let v = vars(&[("x_url", "  "), ("x_key", " k ")]);
        assert_eq!(v.optional("X_URL"), None);
        assert_eq!(v.optional("X_KEY").as_deref(), Some("k"));
        assert!(!v.flag("ENABLE_X").unwrap());
    }

    #[test]
    fn errors_name_the_variable() {
        let v = vars(&[("enable_x", "maybe"), ("x_secs", "0")]);
        assert!(v.flag("ENABLE_X").unwrap_err().0.contains("ENABLE_X"));
        assert_eq!(
            v.seconds("X_SECS").unwrap_err().0,
            "X_SECS must be a positive whole number (got \"0\")"
        );
        assert!(
            http_url("X_URL", "example.com")
                .unwrap_err()
                .0
                .contains("X_URL")
        );
        assert_eq!(
            vars(&[]).required("ENABLE_X", ["X_KEY"]).unwrap_err(),
            "ENABLE_X is set but X_KEY is missing"
        );
    }
}
