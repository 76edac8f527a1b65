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
//! | `CONFLUENCE_POSTMORTEM_SPACE` | none | key of the space post-mortem pages are created in; with the folder, switches the post-mortem backend on |
//! | `CONFLUENCE_POSTMORTEM_FOLDER_ID` | none | the page (or folder) post-mortem pages are created under |
//! | `CONFLUENCE_POSTMORTEM_TEMPLATE_PAGE_ID` | none | page whose storage body every post-mortem starts from; unset: the generated facts alone |
//! | `CONFLUENCE_POSTMORTEM_READY_LABEL` | `postmortem-ready` | the label that marks a post-mortem page ready (closing waits for it) |
//! | `CONFLUENCE_RUNBOOKS_FOLDER_ID` | none | the page whose sub-pages hold the runbooks (`<type>.<service> [RUNBOOK]`, two levels); unset: `confluence.sync_runbooks` and `confluence.sort_runbooks` are skipped, and say so |
//! | `CONFLUENCE_HOUSEKEEPING_DRY_RUN` | yes | a yes/no word: while yes, `confluence.sort_runbooks` and `confluence.archive_and_sort_postmortems` move nothing and report what they would move (FireFighter's tasks' `dry_run` argument, which core's task runner has no place for) |
//! | `ENV` | `dev` | FireFighter's environment name: outside `prod` and `support`, post-mortem titles start with `[IGNORE - TEST <ENV>] ` |

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
    "CONFLUENCE_POSTMORTEM_SPACE",
    "CONFLUENCE_POSTMORTEM_FOLDER_ID",
    "CONFLUENCE_POSTMORTEM_TEMPLATE_PAGE_ID",
    "CONFLUENCE_POSTMORTEM_READY_LABEL",
    "CONFLUENCE_RUNBOOKS_FOLDER_ID",
    "CONFLUENCE_HOUSEKEEPING_DRY_RUN",
    "ENV",
];

/// The default of `CONFLUENCE_POSTMORTEM_READY_LABEL`.
pub const DEFAULT_READY_LABEL: &str = "postmortem-ready";

/// Where and how post-mortem pages are created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostMortemConfig {
    /// Key of the space (`CONFLUENCE_POSTMORTEM_SPACE`).
    pub space_key: String,
    /// The parent page or folder (`CONFLUENCE_POSTMORTEM_FOLDER_ID`).
    pub folder_id: String,
    /// The template page (`CONFLUENCE_POSTMORTEM_TEMPLATE_PAGE_ID`).
    pub template_page_id: Option<String>,
    /// The label that marks a page ready.
    pub ready_label: String,
    /// FireFighter's `ENV` (`dev` when unset).
    pub env: String,
}

impl PostMortemConfig {
    /// Post-mortems in `space_key` under `folder_id`, without template, in `ENV=dev`.
    pub fn new(space_key: impl Into<String>, folder_id: impl Into<String>) -> PostMortemConfig {
        PostMortemConfig {
            space_key: space_key.into(),
            folder_id: folder_id.into(),
            template_page_id: None,
            ready_label: DEFAULT_READY_LABEL.to_owned(),
            env: "dev".to_owned(),
        }
    }

    /// What titles start with in this environment: nothing in `prod` and
    /// `support` (FireFighter's rule, on the raw `ENV`), else
    /// `[IGNORE - TEST <ENV>] `.
    pub fn title_prefix(&self) -> String {
        if matches!(self.env.as_str(), "prod" | "support") {
            String::new()
        } else {
            format!("[IGNORE - TEST {}] ", self.env)
        }
    }
}

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
    /// The post-mortem backend's settings, or why it is off.
    pub postmortems: std::result::Result<PostMortemConfig, String>,
    /// The runbooks' root page (`CONFLUENCE_RUNBOOKS_FOLDER_ID`).
    pub runbooks_folder_id: Option<String>,
    /// Whether the sorting and archiving tasks only say what they would move
    /// (`CONFLUENCE_HOUSEKEEPING_DRY_RUN`, default yes).
    pub housekeeping_dry_run: bool,
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
            postmortems: Err(
                "CONFLUENCE_POSTMORTEM_SPACE and CONFLUENCE_POSTMORTEM_FOLDER_ID are not set"
                    .into(),
            ),
            runbooks_folder_id: None,
            housekeeping_dry_run: true,
        }
    }

    /// The same configuration with the post-mortem backend on.
    pub fn with_postmortems(mut self, postmortems: PostMortemConfig) -> ConfluenceConfig {
        self.postmortems = Ok(postmortems);
        self
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
            config.oncall_page_id = Some(page_id("CONFLUENCE_ON_CALL_PAGE_ID", id)?);
        }
        if let Some(timeout) = vars.seconds("CONFLUENCE_TIMEOUT_SECS")? {
            config.timeout = timeout;
        }
        config.postmortems = postmortem_config(&vars)?;
        if let Some(id) = vars.optional("CONFLUENCE_RUNBOOKS_FOLDER_ID") {
            config.runbooks_folder_id = Some(page_id("CONFLUENCE_RUNBOOKS_FOLDER_ID", id)?);
        }
        if vars.optional("CONFLUENCE_HOUSEKEEPING_DRY_RUN").is_some() {
            config.housekeeping_dry_run = vars.flag("CONFLUENCE_HOUSEKEEPING_DRY_RUN")?;
        }
        Ok(Ok(config))
    }
}

/// The post-mortem settings, or why the backend is off (`Ok(Err(why))`).
fn postmortem_config(vars: &EnvVars) -> Result<std::result::Result<PostMortemConfig, String>> {
    let space = vars.optional("CONFLUENCE_POSTMORTEM_SPACE");
    let folder = vars.optional("CONFLUENCE_POSTMORTEM_FOLDER_ID");
    let (space_key, folder_id) = match (space, folder) {
        (Some(space), Some(folder)) => (space, folder),
        (None, None) => {
            return Ok(Err(
                "CONFLUENCE_POSTMORTEM_SPACE and CONFLUENCE_POSTMORTEM_FOLDER_ID are not set"
                    .into(),
            ));
        }
        (Some(_), None) => {
            return Ok(Err(
                "CONFLUENCE_POSTMORTEM_SPACE is set but CONFLUENCE_POSTMORTEM_FOLDER_ID is missing"
                    .into(),
            ));
        }
        (None, Some(_)) => {
            return Ok(Err(
                "CONFLUENCE_POSTMORTEM_FOLDER_ID is set but CONFLUENCE_POSTMORTEM_SPACE is missing"
                    .into(),
            ));
        }
    };
    let mut config = PostMortemConfig::new(
        space_key,
        page_id("CONFLUENCE_POSTMORTEM_FOLDER_ID", folder_id)?,
    );
    config.template_page_id = vars
        .optional("CONFLUENCE_POSTMORTEM_TEMPLATE_PAGE_ID")
        .map(|id| page_id("CONFLUENCE_POSTMORTEM_TEMPLATE_PAGE_ID", id))
        .transpose()?;
    if let Some(label) = vars.optional("CONFLUENCE_POSTMORTEM_READY_LABEL") {
        // Confluence stores labels lower-cased, without spaces.
        if label.chars().any(char::is_whitespace) {
            return Err(Error::Config(format!(
                "CONFLUENCE_POSTMORTEM_READY_LABEL must be one label, without spaces, got \"{label}\""
            )));
        }
        config.ready_label = label.to_lowercase();
    }
    if let Some(env) = vars.optional("ENV") {
        config.env = env;
    }
    Ok(Ok(config))
}

/// A page id setting: digits only.
fn page_id(name: &str, id: String) -> Result<String> {
    if id.chars().all(|c| c.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(Error::Config(format!(
            "{name} must be a page id (digits), got \"{id}\""
        )))
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
    fn the_post_mortem_backend_needs_the_space_and_the_folder() {
        let base = [
            ("enable_confluence", "yes"),
            ("confluence_url", "https://x.atlassian.net"),
            ("confluence_username", "u"),
            ("confluence_api_key", "k"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let pairs: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
            ConfluenceConfig::from_figment(figment(&pairs))
        };
        let off = with(&[]).unwrap().unwrap();
        assert_eq!(
            off.postmortems.unwrap_err(),
            "CONFLUENCE_POSTMORTEM_SPACE and CONFLUENCE_POSTMORTEM_FOLDER_ID are not set"
        );
        let half = with(&[("confluence_postmortem_space", "PM")])
            .unwrap()
            .unwrap();
        assert!(
            half.postmortems
                .unwrap_err()
                .contains("CONFLUENCE_POSTMORTEM_FOLDER_ID is missing")
        );
        let on = with(&[
            ("confluence_postmortem_space", "PM"),
            ("confluence_postmortem_folder_id", "42"),
            ("confluence_postmortem_template_page_id", "43"),
            ("confluence_postmortem_ready_label", "Reviewed"),
            ("env", "prod"),
        ])
        .unwrap()
        .unwrap()
        .postmortems
        .unwrap();
        assert_eq!(on.space_key, "PM");
        assert_eq!(on.folder_id, "42");
        assert_eq!(on.template_page_id.as_deref(), Some("43"));
        assert_eq!(on.ready_label, "reviewed");
        assert_eq!(on.title_prefix(), "");
        let defaults = with(&[
            ("confluence_postmortem_space", "PM"),
            ("confluence_postmortem_folder_id", "42"),
        ])
        .unwrap()
        .unwrap()
        .postmortems
        .unwrap();
        assert_eq!(defaults.ready_label, DEFAULT_READY_LABEL);
        assert_eq!(defaults.template_page_id, None);
        assert_eq!(defaults.title_prefix(), "[IGNORE - TEST dev] ");
        let mut support = defaults.clone();
        support.env = "support".into();
        assert_eq!(support.title_prefix(), "");
        // FireFighter's rule is on the raw value: `prd` is not `prod`.
        support.env = "prd".into();
        assert_eq!(support.title_prefix(), "[IGNORE - TEST prd] ");
        let bad = with(&[
            ("confluence_postmortem_space", "PM"),
            ("confluence_postmortem_folder_id", "folder"),
        ])
        .unwrap_err();
        assert!(
            bad.to_string().contains("CONFLUENCE_POSTMORTEM_FOLDER_ID"),
            "{bad}"
        );
        // Confluence switched off: so is its post-mortem backend.
        assert!(
            ConfluenceConfig::from_figment(figment(&[
                ("confluence_postmortem_space", "PM"),
                ("confluence_postmortem_folder_id", "42"),
            ]))
            .unwrap()
            .is_none()
        );
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
