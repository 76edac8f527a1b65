//! Configuration, from environment variables with FireFighter's names
//! (reference §8.8). The custom field ids FireFighter hard-codes are
//! settings here (`JIRA_FIELD_*`), each defaulting to the original's id.
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `ENABLE_JIRA` | off | a yes/no word (`1`/`true`/`yes`/`on`/`y`/`t` or `0`/`false`/`no`/`off`/`n`/`f`; anything else is an error) switches the integration on |
//! | `RAID_JIRA_API_URL` | required | the site (`https://x.atlassian.net`); `https://` is added when there is no scheme, a trailing `/` is dropped (FireFighter's rule) |
//! | `RAID_JIRA_API_USER` | required | the account (e-mail) of the API token; every write is made as this account |
//! | `RAID_JIRA_API_PASSWORD` | required | its API token (secret) |
//! | `RAID_JIRA_PROJECT_KEY` | required | the project incident tickets are created in |
//! | `RAID_DEFAULT_JIRA_QRAFT_USER_ID` | required | the Jira account id used as reporter when the creator has no Jira account |
//! | `RAID_JIRA_INCIDENT_CATEGORY_FIELD` | none | the field (`customfield_<n>` or `<n>`) the incident's category is written to (`{"value": name}`); unset: not written |
//! | `JIRA_TICKET_PRIORITIES` | `all` | which incidents get a ticket: `all` (FireFighter: every incident declared), or priority names separated by commas (`P1,P2,P3`) |
//! | `JIRA_ISSUE_TYPE` | `Incident` | the issue type of incident tickets |
//! | `JIRA_TIMEOUT_SECS` | `15` | timeout of one HTTP request |
//! | `JIRA_FIELD_PRIORITY` | `customfield_11064` | priority `{"value": "<1..5>"}` |
//! | `JIRA_FIELD_ENVIRONMENTS` | `customfield_11049` | environments `[{"value": "PRD"}, ...]` |
//! | `JIRA_FIELD_PLATFORM` | `customfield_10201` | platform `{"value": ...}` (from the incident's `custom_fields["platform"]`, `platform-` prefix dropped) |
//! | `JIRA_FIELD_BUSINESS_IMPACT` | `customfield_10936` | business impact `{"value": "Lowest".."Highest"}` (from `custom_fields["business_impact"]`; `N/A` left out) |
//! | `JIRA_FIELD_ZENDESK_TICKET` | `customfield_10895` | Zendesk ticket (from `custom_fields["zendesk_ticket"]`) |
//! | `JIRA_FIELD_ZOHO_DESK_TICKET` | `customfield_10896` | Zoho Desk ticket (from `custom_fields["zoho_desk_ticket"]`) |
//! | `JIRA_FIELD_SELLER_CONTRACT_ID` | `customfield_10908` | seller contract id (from `custom_fields["seller_contract_id"]`) |
//! | `RAID_JIRA_WEBHOOK_SECRET` | unset | the secret Jira signs its webhooks with (`X-Hub-Signature: sha256=<HMAC-SHA256 of the body>`); unset: every webhook is refused (401) |
//! | `RAID_WATCHER_EMAIL_EXCLUSIONS` | none | e-mails (comma-separated, any case) of watchers never told about a ticket's comments and changes |
//! | `JIRA_SYNC_CACHE_TIMEOUT` | `60` | seconds a change firefighter pushed to Jira is remembered, so the webhook announcing it is not applied back (FireFighter's setting of the same name) |
//! | `JIRA_WORKFLOW_NAME` | unset | the workflow of incident tickets, read to find the shortest path of transitions; unset: found through the project's workflow scheme, and when Jira does not show workflows to the account, only transitions offered from the ticket's current status are used |

use std::time::Duration;

use figment::{Figment, providers::Env};
use secrecy::SecretString;

use firefighter_core::env_vars::{EnvVars, LogOnce, status_of};
use firefighter_core::plugin::IntegrationStatus;

use crate::{Error, Result};

/// The integration's name in status reports.
pub const NAME: &str = "jira";

/// The environment variables this crate reads.
pub const VARIABLES: &[&str] = &[
    "ENABLE_JIRA",
    "RAID_JIRA_API_URL",
    "RAID_JIRA_API_USER",
    "RAID_JIRA_API_PASSWORD",
    "RAID_JIRA_PROJECT_KEY",
    "RAID_DEFAULT_JIRA_QRAFT_USER_ID",
    "RAID_JIRA_INCIDENT_CATEGORY_FIELD",
    "JIRA_TICKET_PRIORITIES",
    "JIRA_ISSUE_TYPE",
    "JIRA_TIMEOUT_SECS",
    "JIRA_FIELD_PRIORITY",
    "JIRA_FIELD_ENVIRONMENTS",
    "JIRA_FIELD_PLATFORM",
    "JIRA_FIELD_BUSINESS_IMPACT",
    "JIRA_FIELD_ZENDESK_TICKET",
    "JIRA_FIELD_ZOHO_DESK_TICKET",
    "JIRA_FIELD_SELLER_CONTRACT_ID",
    "RAID_JIRA_WEBHOOK_SECRET",
    "RAID_WATCHER_EMAIL_EXCLUSIONS",
    "JIRA_SYNC_CACHE_TIMEOUT",
    "JIRA_WORKFLOW_NAME",
];

/// The custom fields of incident tickets (FireFighter's hard-coded ids by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraFields {
    /// `JIRA_FIELD_PRIORITY`.
    pub priority: String,
    /// `JIRA_FIELD_ENVIRONMENTS`.
    pub environments: String,
    /// `JIRA_FIELD_PLATFORM`.
    pub platform: String,
    /// `JIRA_FIELD_BUSINESS_IMPACT`.
    pub business_impact: String,
    /// `JIRA_FIELD_ZENDESK_TICKET`.
    pub zendesk_ticket: String,
    /// `JIRA_FIELD_ZOHO_DESK_TICKET`.
    pub zoho_desk_ticket: String,
    /// `JIRA_FIELD_SELLER_CONTRACT_ID`.
    pub seller_contract_id: String,
    /// `RAID_JIRA_INCIDENT_CATEGORY_FIELD`.
    pub incident_category: Option<String>,
}

impl Default for JiraFields {
    fn default() -> Self {
        JiraFields {
            priority: "customfield_11064".into(),
            environments: "customfield_11049".into(),
            platform: "customfield_10201".into(),
            business_impact: "customfield_10936".into(),
            zendesk_ticket: "customfield_10895".into(),
            zoho_desk_ticket: "customfield_10896".into(),
            seller_contract_id: "customfield_10908".into(),
            incident_category: None,
        }
    }
}

/// Which incidents get a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TicketPriorities {
    /// Every declared incident (FireFighter's behaviour).
    #[default]
    All,
    /// Only these priority names.
    Only(Vec<String>),
}

impl TicketPriorities {
    /// Whether an incident of priority `name` gets a ticket.
    pub fn includes(&self, name: &str) -> bool {
        match self {
            TicketPriorities::All => true,
            TicketPriorities::Only(names) => names.iter().any(|n| n.eq_ignore_ascii_case(name)),
        }
    }
}

/// The Jira integration's settings.
#[derive(Debug, Clone)]
pub struct JiraConfig {
    /// The site, without trailing slash.
    pub api_url: String,
    /// The account.
    pub user: String,
    /// Its API token.
    pub password: SecretString,
    /// The project of incident tickets.
    pub project_key: String,
    /// The reporter when the creator has no Jira account.
    pub default_reporter: String,
    /// Which incidents get a ticket.
    pub priorities: TicketPriorities,
    /// The issue type.
    pub issue_type: String,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// The custom fields.
    pub fields: JiraFields,
    /// The webhooks' signing secret (`None`: webhooks refused).
    pub webhook_secret: Option<SecretString>,
    /// Watchers never told (lower-case e-mails).
    pub watcher_exclusions: Vec<String>,
    /// How long a pushed change is remembered against its echo.
    pub sync_marker_ttl: Duration,
    /// The workflow of incident tickets, when set.
    pub workflow_name: Option<String>,
}

impl JiraConfig {
    /// A configuration with these settings and every default.
    pub fn new(
        api_url: &str,
        user: impl Into<String>,
        password: impl Into<String>,
        project_key: impl Into<String>,
        default_reporter: impl Into<String>,
    ) -> JiraConfig {
        JiraConfig {
            api_url: site_url(api_url),
            user: user.into(),
            password: SecretString::from(password.into()),
            project_key: project_key.into(),
            default_reporter: default_reporter.into(),
            priorities: TicketPriorities::All,
            issue_type: "Incident".into(),
            timeout: Duration::from_secs(15),
            fields: JiraFields::default(),
            webhook_secret: None,
            watcher_exclusions: Vec::new(),
            sync_marker_ttl: Duration::from_secs(60),
            workflow_name: None,
        }
    }

    /// Reads the configuration from the process environment; `Ok(None)` when
    /// switched off or a required variable is missing (logged once).
    pub fn from_env() -> Result<Option<JiraConfig>> {
        JiraConfig::from_figment(Figment::new().merge(Env::raw().only(VARIABLES)))
    }

    /// Reads the configuration from a figment.
    pub fn from_figment(figment: Figment) -> Result<Option<JiraConfig>> {
        Ok(JiraConfig::read(&figment)?
            .inspect_err(|why| SWITCHED_OFF.info(&format!("Jira is switched off: {why}")))
            .ok())
    }

    /// Whether Jira is on in `figment`'s environment, and why not.
    pub fn status(figment: Figment) -> IntegrationStatus {
        status_of(NAME, JiraConfig::read(&figment))
    }

    /// The configuration, or why the integration is off (`Ok(Err(why))`).
    pub(crate) fn read(figment: &Figment) -> Result<std::result::Result<JiraConfig, String>> {
        let vars = EnvVars::read(figment, VARIABLES)?;
        if !vars.flag("ENABLE_JIRA")? {
            return Ok(Err("ENABLE_JIRA is not set to yes".into()));
        }
        let [url, user, password, project, reporter] = match vars.required(
            "ENABLE_JIRA",
            [
                "RAID_JIRA_API_URL",
                "RAID_JIRA_API_USER",
                "RAID_JIRA_API_PASSWORD",
                "RAID_JIRA_PROJECT_KEY",
                "RAID_DEFAULT_JIRA_QRAFT_USER_ID",
            ],
        ) {
            Ok(values) => values,
            Err(why) => return Ok(Err(why)),
        };
        if url.chars().any(char::is_whitespace) || site_url(&url).ends_with("://") {
            return Err(Error::Config(format!(
                "RAID_JIRA_API_URL must be the Jira site (https://x.atlassian.net), got \"{url}\""
            )));
        }
        let project = project_key("RAID_JIRA_PROJECT_KEY", &project)?;
        let mut config = JiraConfig::new(&url, user, password, project, reporter);
        if let Some(list) = vars.optional("JIRA_TICKET_PRIORITIES") {
            config.priorities = priorities(&list)?;
        }
        if let Some(kind) = vars.optional("JIRA_ISSUE_TYPE") {
            config.issue_type = kind;
        }
        if let Some(timeout) = vars.seconds("JIRA_TIMEOUT_SECS")? {
            config.timeout = timeout;
        }
        let fields = &mut config.fields;
        for (name, slot) in [
            ("JIRA_FIELD_PRIORITY", &mut fields.priority),
            ("JIRA_FIELD_ENVIRONMENTS", &mut fields.environments),
            ("JIRA_FIELD_PLATFORM", &mut fields.platform),
            ("JIRA_FIELD_BUSINESS_IMPACT", &mut fields.business_impact),
            ("JIRA_FIELD_ZENDESK_TICKET", &mut fields.zendesk_ticket),
            ("JIRA_FIELD_ZOHO_DESK_TICKET", &mut fields.zoho_desk_ticket),
            (
                "JIRA_FIELD_SELLER_CONTRACT_ID",
                &mut fields.seller_contract_id,
            ),
        ] {
            if let Some(value) = vars.optional(name) {
                *slot = field_id(name, &value)?;
            }
        }
        fields.incident_category = vars
            .optional("RAID_JIRA_INCIDENT_CATEGORY_FIELD")
            .map(|v| field_id("RAID_JIRA_INCIDENT_CATEGORY_FIELD", &v))
            .transpose()?;
        config.webhook_secret = vars
            .optional("RAID_JIRA_WEBHOOK_SECRET")
            .map(SecretString::from);
        if let Some(list) = vars.optional("RAID_WATCHER_EMAIL_EXCLUSIONS") {
            config.watcher_exclusions = list
                .split(',')
                .map(|e| e.trim().to_lowercase())
                .filter(|e| !e.is_empty())
                .collect();
        }
        if let Some(ttl) = vars.seconds("JIRA_SYNC_CACHE_TIMEOUT")? {
            config.sync_marker_ttl = ttl;
        }
        config.workflow_name = vars.optional("JIRA_WORKFLOW_NAME");
        Ok(Ok(config))
    }
}

static SWITCHED_OFF: LogOnce = LogOnce::new();

/// FireFighter's URL rule: `https://` added when there is no scheme, the
/// trailing `/` dropped.
pub fn site_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.starts_with("https://") || url.starts_with("http://") {
        url.to_owned()
    } else {
        format!("https://{url}")
    }
}

/// A project key setting: upper-case letters, digits and `_`, starting
/// with a letter.
pub fn project_key(name: &str, value: &str) -> Result<String> {
    if value
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && value.starts_with(|c: char| c.is_ascii_uppercase())
    {
        Ok(value.to_owned())
    } else {
        Err(Error::Config(format!(
            "{name} must be a project key (upper-case letters, digits, _; starting with a letter), got \"{value}\""
        )))
    }
}

/// A custom field setting: `customfield_<digits>` or `<digits>`.
pub fn field_id(name: &str, value: &str) -> Result<String> {
    let digits = value.strip_prefix("customfield_").unwrap_or(value);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(format!("customfield_{digits}"))
    } else {
        Err(Error::Config(format!(
            "{name} must be a Jira custom field id (customfield_<digits> or <digits>), got \"{value}\""
        )))
    }
}

fn priorities(list: &str) -> Result<TicketPriorities> {
    if list.trim().eq_ignore_ascii_case("all") {
        return Ok(TicketPriorities::All);
    }
    let names: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    if names.is_empty() || names.iter().any(|n| n.chars().any(char::is_whitespace)) {
        return Err(Error::Config(format!(
            "JIRA_TICKET_PRIORITIES must be \"all\" or priority names separated by commas (P1,P2,P3), got \"{list}\""
        )));
    }
    Ok(TicketPriorities::Only(names))
}

/// Settings as the environment would give them (`pairs` of names and values), for tests.
#[cfg(test)]
pub(crate) fn env(pairs: &[(&str, &str)]) -> Figment {
    let map: std::collections::BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
        .collect();
    Figment::new().merge(figment::providers::Serialized::defaults(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON: &[(&str, &str)] = &[
        ("ENABLE_JIRA", "yes"),
        ("RAID_JIRA_API_URL", "acme.atlassian.net/"),
        ("RAID_JIRA_API_USER", "bot@acme.com"),
        ("RAID_JIRA_API_PASSWORD", "token"),
        ("RAID_JIRA_PROJECT_KEY", "INC"),
        ("RAID_DEFAULT_JIRA_QRAFT_USER_ID", "557058:abc"),
    ];

    #[test]
    fn off_by_default_and_on_with_a_yes_word() {
        assert!(JiraConfig::from_figment(env(&[])).unwrap().is_none());
        assert!(!JiraConfig::status(env(&[])).on);
        let config = JiraConfig::from_figment(env(ON)).unwrap().unwrap();
        assert_eq!(config.api_url, "https://acme.atlassian.net");
        assert_eq!(config.project_key, "INC");
        assert_eq!(config.default_reporter, "557058:abc");
        assert_eq!(config.fields, JiraFields::default());
        assert_eq!(config.fields.priority, "customfield_11064");
        assert_eq!(config.fields.environments, "customfield_11049");
        assert_eq!(config.fields.platform, "customfield_10201");
        assert_eq!(config.fields.business_impact, "customfield_10936");
        assert_eq!(config.priorities, TicketPriorities::All);
        assert!(JiraConfig::status(env(ON)).on);
        let mut bad = ON.to_vec();
        bad[0] = ("ENABLE_JIRA", "maybe");
        assert!(JiraConfig::from_figment(env(&bad)).is_err());
    }

    #[test]
    fn missing_variables_switch_it_off_with_the_reason() {
        let status = JiraConfig::status(env(&ON[..4]));
        assert!(!status.on);
        let why = format!("{status:?}");
        assert!(why.contains("RAID_DEFAULT_JIRA_QRAFT_USER_ID"), "{why}");
    }

    #[test]
    fn field_ids_and_priorities_are_checked() {
        let mut vars = ON.to_vec();
        vars.push(("JIRA_FIELD_PRIORITY", "12000"));
        vars.push(("RAID_JIRA_INCIDENT_CATEGORY_FIELD", "customfield_10999"));
        vars.push(("JIRA_TICKET_PRIORITIES", "P1, P2"));
        let config = JiraConfig::from_figment(env(&vars)).unwrap().unwrap();
        assert_eq!(config.fields.priority, "customfield_12000");
        assert_eq!(
            config.fields.incident_category.as_deref(),
            Some("customfield_10999")
        );
        assert!(config.priorities.includes("p2"));
        assert!(!config.priorities.includes("P3"));
        vars.push(("JIRA_FIELD_PLATFORM", "platform"));
        let e = JiraConfig::from_figment(env(&vars))
            .unwrap_err()
            .to_string();
        assert!(e.contains("JIRA_FIELD_PLATFORM"), "{e}");
        let mut vars = ON.to_vec();
        vars.push(("RAID_JIRA_PROJECT_KEY", "my project"));
        let e = JiraConfig::from_figment(env(&vars))
            .unwrap_err()
            .to_string();
        assert!(e.contains("RAID_JIRA_PROJECT_KEY"), "{e}");
    }
}
