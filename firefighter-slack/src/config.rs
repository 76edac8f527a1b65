//! Configuration of the Slack integration, read from the environment with
//! FireFighter's variable names.

use figment::{Figment, providers::Env};
use secrecy::SecretString;
use serde::Deserialize;

use firefighter_core::config::EnvValue;
use firefighter_core::plugin::IntegrationStatus;

use crate::{Error, Result};

/// The integration's name in status reports.
pub(crate) const NAME: &str = "slack";

/// Slack's Web API.
pub(crate) const DEFAULT_API_URL: &str = "https://slack.com/api";
/// The slash command when none is configured.
pub(crate) const DEFAULT_COMMAND: &str = "/incident";
/// The app's emoji when none is configured.
pub(crate) const DEFAULT_APP_EMOJI: &str = ":fire_extinguisher:";

/// Slack's own commands: an alias with one of these names is skipped.
const BUILTIN_COMMANDS: &[&str] = &[
    "/archive",
    "/call",
    "/collapse",
    "/dm",
    "/expand",
    "/feed",
    "/invite",
    "/leave",
    "/msg",
    "/remind",
    "/remove",
    "/rename",
    "/search",
    "/shrug",
    "/status",
    "/topic",
];

/// The environment variables this crate reads.
pub(crate) const VARIABLES: &[&str] = &[
    "ENABLE_SLACK",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_API_URL",
    "SLACK_INCIDENT_COMMAND",
    "SLACK_INCIDENT_COMMAND_ALIASES",
    "SLACK_INCIDENT_HELP_GUIDE_URL",
    "SLACK_SEVERITY_HELP_GUIDE_URL",
    "SLACK_POSTMORTEM_HELP_URL",
    "SLACK_EMERGENCY_COMMUNICATION_GUIDE_URL",
    "SLACK_EMERGENCY_USERGROUP_ID",
    "SLACK_APP_EMOJI",
    "SLACK_CLIENT_PACING",
    "SLACK_TIMEOUT_SECS",
    "FF_ROLE_REMINDER_MIN_DAYS_INTERVAL",
];

#[derive(Debug, Deserialize)]
struct Raw {
    enable_slack: Option<EnvValue>,
    slack_bot_token: Option<SecretString>,
    slack_signing_secret: Option<SecretString>,
    slack_api_url: Option<String>,
    slack_incident_command: Option<String>,
    slack_incident_command_aliases: Option<String>,
    slack_incident_help_guide_url: Option<String>,
    slack_severity_help_guide_url: Option<String>,
    slack_postmortem_help_url: Option<String>,
    slack_emergency_communication_guide_url: Option<String>,
    slack_emergency_usergroup_id: Option<String>,
    slack_app_emoji: Option<String>,
    slack_client_pacing: Option<EnvValue>,
    slack_timeout_secs: Option<u64>,
    ff_role_reminder_min_days_interval: Option<i64>,
}

/// The Slack integration's settings.
#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// `SLACK_BOT_TOKEN` (required): the bot's `xoxb-` token.
    pub bot_token: SecretString,
    /// `SLACK_SIGNING_SECRET` (required): verifies inbound requests.
    pub signing_secret: SecretString,
    /// `SLACK_API_URL`: the Web API base (default `https://slack.com/api`).
    pub api_url: String,
    /// `SLACK_INCIDENT_COMMAND`, normalised (default `/incident`).
    pub command: String,
    /// `SLACK_INCIDENT_COMMAND_ALIASES` (comma list), normalised, built-ins removed.
    pub aliases: Vec<String>,
    /// `SLACK_INCIDENT_HELP_GUIDE_URL`: linked from the help.
    pub incident_help_guide_url: Option<String>,
    /// `SLACK_SEVERITY_HELP_GUIDE_URL`: "how to choose the priority".
    pub severity_help_guide_url: Option<String>,
    /// `SLACK_POSTMORTEM_HELP_URL`: the post-mortem guide.
    pub postmortem_help_url: Option<String>,
    /// `SLACK_EMERGENCY_COMMUNICATION_GUIDE_URL`: the P1 communication process.
    pub emergency_communication_guide_url: Option<String>,
    /// `SLACK_EMERGENCY_USERGROUP_ID`: the user group mentioned in the P1 communication message.
    pub emergency_usergroup_id: Option<String>,
    /// `SLACK_APP_EMOJI` (default `:fire_extinguisher:`).
    pub app_emoji: String,
    /// `SLACK_CLIENT_PACING` (default true): pace calls per method tier.
    pub pacing: bool,
    /// `SLACK_TIMEOUT_SECS` (default 20): timeout of one Web API call.
    pub timeout_secs: u64,
    /// `FF_ROLE_REMINDER_MIN_DAYS_INTERVAL` (default 90): days between two
    /// "you have this role" DMs for the same role type; -1 never, 0 always.
    pub role_reminder_min_days: i64,
}

impl SlackConfig {
    /// A configuration with these credentials and every default.
    pub fn new(bot_token: &str, signing_secret: &str) -> SlackConfig {
        SlackConfig {
            bot_token: SecretString::from(bot_token),
            signing_secret: SecretString::from(signing_secret),
            api_url: DEFAULT_API_URL.to_owned(),
            command: DEFAULT_COMMAND.to_owned(),
            aliases: Vec::new(),
            incident_help_guide_url: None,
            severity_help_guide_url: None,
            postmortem_help_url: None,
            emergency_communication_guide_url: None,
            emergency_usergroup_id: None,
            app_emoji: DEFAULT_APP_EMOJI.to_owned(),
            pacing: true,
            timeout_secs: 20,
            role_reminder_min_days: 90,
        }
    }

    /// Reads the process environment. `Ok(None)` when Slack is switched off
    /// (`ENABLE_SLACK` says no, or a credential is missing); the reason is logged.
    pub fn from_env() -> Result<Option<SlackConfig>> {
        SlackConfig::from_figment(Figment::new().merge(Env::raw().only(VARIABLES)))
    }

    /// Reads a figment (tests use `figment::Jail` or serialized values).
    pub fn from_figment(figment: Figment) -> Result<Option<SlackConfig>> {
        Ok(SlackConfig::read(figment)?
            .inspect_err(|why| {
                static LOGGED: std::sync::Once = std::sync::Once::new();
                LOGGED.call_once(|| tracing::info!("Slack is switched off: {why}"));
            })
            .ok())
    }

    /// Whether Slack is on in `figment`'s environment, and why not.
    pub fn status(figment: Figment) -> IntegrationStatus {
        match SlackConfig::read(figment) {
            Ok(Ok(_)) => IntegrationStatus::on(NAME),
            Ok(Err(why)) => IntegrationStatus::off(NAME, why),
            Err(e) => IntegrationStatus::off(NAME, e.to_string()),
        }
    }

    /// The configuration, or why Slack is off (`Ok(Err(why))`).
    fn read(figment: Figment) -> Result<std::result::Result<SlackConfig, &'static str>> {
        let raw: Raw = figment
            .extract()
            .map_err(|e| Error::Config(e.to_string()))?;
        let flag = |name, value: Option<&EnvValue>| {
            value
                .filter(|v| !matches!(v, EnvValue::Text(t) if t.trim().is_empty()))
                .map(|v| v.flag(name))
                .transpose()
                .map_err(|e| Error::Config(e.to_string()))
        };
        // On by default, as in FireFighter: the credentials decide.
        if flag("ENABLE_SLACK", raw.enable_slack.as_ref())? == Some(false) {
            return Ok(Err("ENABLE_SLACK is set to no"));
        }
        let pacing = flag("SLACK_CLIENT_PACING", raw.slack_client_pacing.as_ref())?;
        let (Some(bot_token), Some(signing_secret)) =
            (raw.slack_bot_token, raw.slack_signing_secret)
        else {
            return Ok(Err(
                "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not both set",
            ));
        };
        let api_url = raw
            .slack_api_url
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "SLACK_API_URL must start with http:// or https:// (got \"{api_url}\")"
            )));
        }
        let command = normalize_command(
            raw.slack_incident_command
                .as_deref()
                .unwrap_or(DEFAULT_COMMAND),
        )
        .ok_or_else(|| Error::Config("SLACK_INCIDENT_COMMAND is empty".into()))?;
        let mut aliases = Vec::new();
        for alias in raw
            .slack_incident_command_aliases
            .as_deref()
            .unwrap_or_default()
            .split(',')
        {
            let Some(alias) = normalize_command(alias) else {
                continue;
            };
            if BUILTIN_COMMANDS.contains(&alias.as_str()) {
                tracing::warn!(
                    alias,
                    "command alias skipped: it is one of Slack's own commands"
                );
            } else if alias != command && !aliases.contains(&alias) {
                aliases.push(alias);
            }
        }
        let url = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(Ok(SlackConfig {
            bot_token,
            signing_secret,
            api_url,
            command,
            aliases,
            incident_help_guide_url: url(raw.slack_incident_help_guide_url),
            severity_help_guide_url: url(raw.slack_severity_help_guide_url),
            postmortem_help_url: url(raw.slack_postmortem_help_url),
            emergency_communication_guide_url: url(raw.slack_emergency_communication_guide_url),
            emergency_usergroup_id: url(raw.slack_emergency_usergroup_id),
            app_emoji: url(raw.slack_app_emoji).unwrap_or_else(|| DEFAULT_APP_EMOJI.to_owned()),
            pacing: pacing.unwrap_or(true),
            timeout_secs: raw.slack_timeout_secs.unwrap_or(20).max(1),
            role_reminder_min_days: raw.ff_role_reminder_min_days_interval.unwrap_or(90),
        }))
    }

    /// The configuration for `slack manifest`: the command and aliases from
    /// the environment, credentials not needed (empty when unset).
    pub fn from_env_for_manifest() -> Result<SlackConfig> {
        let figment = Figment::new()
            .merge(figment::providers::Serialized::default(
                "slack_bot_token",
                "",
            ))
            .merge(figment::providers::Serialized::default(
                "slack_signing_secret",
                "",
            ))
            .merge(Env::raw().only(VARIABLES))
            // The manifest describes the app whether or not this process runs it.
            .merge(figment::providers::Serialized::default(
                "enable_slack",
                "yes",
            ));
        Ok(SlackConfig::from_figment(figment)?.expect("credentials are defaulted"))
    }

    /// The command and its aliases.
    pub fn commands(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.command.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// Whether `command` (as Slack sends it) is ours.
    pub fn is_our_command(&self, command: &str) -> bool {
        normalize_command(command).is_some_and(|c| self.commands().any(|ours| ours == c))
    }
}

/// FireFighter's normalisation: leading `/` added, spaces removed, at most 32
/// characters, lower-cased. `None` when nothing is left.
pub(crate) fn normalize_command(text: &str) -> Option<String> {
    let mut c: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    c = c.to_lowercase();
    if c.trim_start_matches('/').is_empty() {
        return None;
    }
    if !c.starts_with('/') {
        c.insert(0, '/');
    }
    Some(c.chars().take(32).collect())
}

#[cfg(test)]
mod tests {
    use figment::providers::Serialized;
    use secrecy::ExposeSecret;

    use super::*;

    fn figment(pairs: &[(&str, &str)]) -> Figment {
        let mut f = Figment::new();
        for (k, v) in pairs {
            f = f.merge(Serialized::default(k, v));
        }
        f
    }

    #[test]
    fn switched_off_without_both_credentials() {
        assert!(SlackConfig::from_figment(figment(&[])).unwrap().is_none());
        assert!(
            SlackConfig::from_figment(figment(&[("slack_bot_token", "xoxb-1")]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn defaults_and_aliases() {
        let c = SlackConfig::from_figment(figment(&[
            ("slack_bot_token", "xoxb-1"),
            ("slack_signing_secret", "s3cr3t"),
            (
                "slack_incident_command_aliases",
                "ff, /Fire Fighter ,/topic,,/incident",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.api_url, DEFAULT_API_URL);
        assert_eq!(c.command, "/incident");
        assert_eq!(c.aliases, vec!["/ff", "/firefighter"]);
        assert!(c.is_our_command("/FF"));
        assert!(!c.is_our_command("/topic"));
        assert_eq!(c.signing_secret.expose_secret(), "s3cr3t");
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn normalises_like_firefighter() {
        assert_eq!(normalize_command("Incident").as_deref(), Some("/incident"));
        assert_eq!(normalize_command("/ a b ").as_deref(), Some("/ab"));
        assert_eq!(normalize_command(" / "), None);
        assert_eq!(
            normalize_command(&"x".repeat(40)).unwrap().chars().count(),
            32
        );
    }

    #[test]
    fn refuses_a_bad_api_url() {
        let err = SlackConfig::from_figment(figment(&[
            ("slack_bot_token", "xoxb-1"),
            ("slack_signing_secret", "s"),
            ("slack_api_url", "slack.com"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("SLACK_API_URL"));
    }
}
