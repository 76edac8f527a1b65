//! The ticket intake (FireFighter's Landbot API, reference §8.3):
//! `POST /api/v2/firefighter/raid/jira_bot` makes a Jira ticket without an
//! incident from a bot's (or any client's) JSON, uploads its attachments,
//! and sends the RAID alert ([`crate::alerts`]). The answer is `201` with
//! the ticket key as a JSON string (`"SBI-42"`).
//!
//! **Who may call it.** The route sits behind the server's login, which also
//! takes API tokens (`Authorization: Bearer <token>` or `Token <token>`);
//! the server hands the caller over as a [`Caller`]. Without it: 401.
//!
//! **The body**, field by field as FireFighter's (`null` where it says
//! "may be null"); every problem is answered at once, `400` in the API's
//! error format (`{"type": "validation_error", "errors": [{"code",
//! "detail", "attr"}]}`), and nothing is created:
//!
//! | Field | Rule |
//! |---|---|
//! | `summary` | required text, at most 255 characters |
//! | `description` | required text, at most 30,000 characters |
//! | `reporter_email` | required e-mail |
//! | `platform` | required: `ES`, `IT`, `FR`, `UK`, `DE`, `All`, `Internal` |
//! | `suggested_team_routing` | required text, at most 10 characters ("Team suggested for routing" in the description unless `SBI`) |
//! | `seller_contract_id` | required, may be null, at most 128 characters (with `RAID_TOOLBOX_URL`: a link to the seller in the description) |
//! | `zoho` | required, may be null, at most 256 characters |
//! | `incident_category` | required, may be null, at most 128 characters (written to `RAID_JIRA_INCIDENT_CATEGORY_FIELD` when set) |
//! | `priority` | required, may be null: 1 to 5 (null: `-`) |
//! | `business_impact` | required, may be null: `High`, `Medium`, `Low` |
//! | `zendesk` | optional, may be null, at most 256 characters |
//! | `labels` | optional list of labels (null: none), each at most 128 characters without spaces; empty ones dropped |
//! | `environments` | optional list of `INT`, `STG`, `PRD`, `SUPPORT`, `-` (null or empty: `-`); empty ones dropped |
//! | `project` | optional project key (letters, digits, `_`, starting with a letter; upper-cased; null or empty: `RAID_INTAKE_PROJECT_KEY`, default `SBI`) |
//! | `issue_type` | optional: `Incident` (default), `Service Request`, `Documentation/Process Request`, `Feature Request` |
//! | `attachments` | optional text: empty, a URL, URLs separated by commas, or a list as text (`['a', 'b']`): at most 10, each at most 2048 characters, `http`/`https`, its host resolving to public addresses only ([`crate::attachments`]) |
//!
//! **The ticket.** The reporter is the firefighter account with this e-mail
//! and its Jira account, else `RAID_DEFAULT_JIRA_QRAFT_USER_ID` (also when
//! Jira refuses that account as reporter). The description ends with a
//! line saying the ticket came through the intake and, for an address
//! outside the company's domains (`RAID_COMPANY_EMAIL_DOMAINS`; unset: every
//! address is outside), the reporter's e-mail. The custom fields are
//! [`crate::config`]'s.
//!
//! **Attachments** are refused before anything is created when they break a
//! rule above (400, `attr: "attachments"`). After the ticket is created, an
//! attachment that fails (the server answers 404, it is larger than the
//! limit, a redirect leads to a private address...) does not undo the
//! ticket: the answer is still `201` with the key, and carries the header
//! `Firefighter-Attachment-Errors`, a JSON array of
//! `{"index", "url", "detail"}` (index from 0), one per failed attachment.
//!
//! **Exactly once.** With an `Idempotency-Key` header (1 to 255 visible
//! characters), the key is claimed for the caller in core's idempotency
//! records (the same table as the REST API's, its own scope): the same key
//! and body answered before are answered the same again (header
//! `Idempotent-Replayed: true`); the same key with another body is refused
//! (422); while the first request runs, 409. The ticket carries the label
//! `ff-intake-<hash of caller and key>` and is searched by it before it is
//! created: a request cut short (the process died, the request timed out)
//! and retried adopts the ticket instead of making a second, uploads only
//! the attachments it lacks, and sends the alert once. Without the header a
//! retry makes another ticket.
//!
//! **The alert** is sent after the attachments. A failure worth retrying
//! (the chat vendor's rate limit) is retried in the background three times
//! over about six minutes (its key makes that safe); a process that stops
//! meanwhile drops it (logged).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use figment::Figment;
use firefighter_core::access::{IdempotencyBegin, StoredResponse};
use firefighter_core::env_vars::EnvVars;
use firefighter_core::plugin::Caller;
use firefighter_core::{Email, Firefighter, User};
use reqwest::Url;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::alerts::{AlertOutcome, NewTicket, alert_new_ticket};
use crate::attachments::{Attached, AttachmentReport, Downloader, attach_all};
use crate::error::Problem;
use crate::models::adf;
use crate::users::{JiraUserStore, account_of};
use crate::{Error, JiraClient, JiraConfig, Result};

/// Where the intake is served.
pub const INTAKE_PATH: &str = "/api/v2/firefighter/raid/jira_bot";
/// The answer's header listing the attachments that failed.
pub const ATTACHMENT_ERRORS_HEADER: &str = "firefighter-attachment-errors";

/// The environment variables the intake reads (besides [`crate::config`]'s).
pub const INTAKE_VARIABLES: &[&str] = &[
    "RAID_TOOLBOX_URL",
    "RAID_COMPANY_EMAIL_DOMAINS",
    "RAID_INTAKE_PROJECT_KEY",
    "RAID_INTAKE_ATTACHMENT_MAX_BYTES",
    "RAID_INTAKE_ATTACHMENT_TIMEOUT_SECS",
];

/// `platform`'s choices.
pub const PLATFORMS: &[&str] = &["ES", "IT", "FR", "UK", "DE", "All", "Internal"];
/// `environments`' choices.
pub const ENVIRONMENTS: &[&str] = &["INT", "STG", "PRD", "SUPPORT", "-"];
/// `business_impact`'s choices.
pub const INTAKE_BUSINESS_IMPACTS: &[&str] = &["High", "Medium", "Low"];
/// `issue_type`'s choices (the first is the default).
pub const ISSUE_TYPES: &[&str] = &[
    "Incident",
    "Service Request",
    "Documentation/Process Request",
    "Feature Request",
];
/// Longest description taken.
pub const MAX_DESCRIPTION_CHARS: usize = 30_000;

/// How long a claimed key is this request's before a retry may take it
/// over (longer than any intake runs: the create, ten attachments).
const CLAIM: chrono::TimeDelta = chrono::TimeDelta::minutes(3);
/// How long a key is remembered (as the REST API's).
const KEY_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// Waits before the background retries of an alert.
const ALERT_RETRIES: [Duration; 3] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(300),
];

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
fn project_key(text: &str) -> Result<String, String> {
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

/// A valid intake request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeRequest {
    /// The title.
    pub summary: String,
    /// The description.
    pub description: String,
    /// The seller's contract id.
    pub seller_contract_id: Option<String>,
    /// The Zoho Desk ticket.
    pub zoho: Option<String>,
    /// The Zendesk ticket.
    pub zendesk: Option<String>,
    /// The platform (`FR`...).
    pub platform: String,
    /// Who reported it.
    pub reporter_email: Email,
    /// The labels asked for.
    pub labels: Vec<String>,
    /// The incident category's name.
    pub incident_category: Option<String>,
    /// The team suggested for routing.
    pub suggested_team_routing: String,
    /// The project key.
    pub project: String,
    /// 1 to 5.
    pub priority: Option<u8>,
    /// `High`, `Medium`, `Low`.
    pub business_impact: Option<String>,
    /// Never empty (`-` when none was given).
    pub environments: Vec<String>,
    /// The attachments' URLs.
    pub attachments: Vec<Url>,
    /// The issue type.
    pub issue_type: String,
}

/// Whether a field may be left out, or be null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    /// Present, not null.
    Required,
    /// Present, may be null.
    RequiredNullable,
    /// May be left out or null.
    Optional,
}

/// Reads a JSON object field by field, keeping every problem.
struct Reader<'a> {
    body: &'a Map<String, Value>,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn problem(&mut self, attr: &str, code: &'static str, detail: String) {
        self.problems.push(Problem::field(attr, code, detail));
    }

    /// The value of `name` (`None`: absent or null, a problem noted when
    /// that is not allowed).
    fn value(&mut self, name: &str, presence: Presence) -> Option<&Value> {
        match self.body.get(name) {
            None if presence != Presence::Optional => {
                self.problem(name, "required", format!("{name} is required"));
                None
            }
            Some(Value::Null) if presence == Presence::Required => {
                self.problem(name, "null", format!("{name} may not be null"));
                None
            }
            None | Some(Value::Null) => None,
            Some(_) => self.body.get(name),
        }
    }

    /// Text (numbers taken as text), trimmed; blank is `None` when
    /// `blank_ok`, a problem otherwise.
    fn text(
        &mut self,
        name: &str,
        presence: Presence,
        max_chars: usize,
        blank_ok: bool,
    ) -> Option<String> {
        let text = match self.value(name, presence)? {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            other => {
                let kind = kind(other);
                self.problem(name, "invalid", format!("{name} must be text, not {kind}"));
                return None;
            }
        };
        if text.is_empty() {
            if !blank_ok {
                self.problem(name, "blank", format!("{name} may not be empty"));
            }
            return None;
        }
        let count = text.chars().count();
        if count > max_chars {
            self.problem(
                name,
                "max_length",
                format!("{name} has {count} characters: at most {max_chars} are taken"),
            );
            return None;
        }
        Some(text)
    }

    /// One of `choices` (exactly as written).
    fn choice(&mut self, name: &str, presence: Presence, choices: &[&str]) -> Option<String> {
        let value = self.value(name, presence)?.clone();
        match value.as_str() {
            Some(text) if choices.contains(&text) => Some(text.to_owned()),
            _ => {
                self.problem(
                    name,
                    "invalid_choice",
                    format!("{name} must be one of {}, not {value}", choices.join(", ")),
                );
                None
            }
        }
    }

    /// A list of texts, empty ones dropped (`None`: absent or null).
    fn list(&mut self, name: &str) -> Option<Vec<(usize, String)>> {
        let value = self.value(name, Presence::Optional)?.clone();
        let Value::Array(items) = value else {
            let kind = kind(&value);
            self.problem(
                name,
                "not_a_list",
                format!("{name} must be a list, not {kind}"),
            );
            return None;
        };
        let mut texts = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) if s.trim().is_empty() => {}
                Value::Null => {}
                Value::String(s) => texts.push((i, s.trim().to_owned())),
                other => {
                    let kind = kind(other);
                    self.problem(
                        &format!("{name}.{i}"),
                        "invalid",
                        format!("{name}[{i}] must be text, not {kind}"),
                    );
                }
            }
        }
        Some(texts)
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl IntakeRequest {
    /// Reads and checks a request body; every problem in one
    /// [`Error::Request`]. Nothing is resolved or fetched here (see
    /// [`Intake::check_attachments`]).
    pub fn from_json(body: &[u8], settings: &IntakeSettings) -> Result<IntakeRequest> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            Error::Request(vec![Problem {
                attr: None,
                code: "parse_error",
                detail: format!("the body is not JSON: {e}"),
            }])
        })?;
        let Value::Object(body) = value else {
            return Err(Error::Request(vec![Problem {
                attr: None,
                code: "parse_error",
                detail: format!("the body must be a JSON object, not {}", kind(&value)),
            }]));
        };
        let mut r = Reader {
            body: &body,
            problems: Vec::new(),
        };
        use Presence::{Optional, Required, RequiredNullable};
        let summary = r.text(
            "summary",
            Required,
            crate::tickets::MAX_SUMMARY_CHARS,
            false,
        );
        let description = r.text("description", Required, MAX_DESCRIPTION_CHARS, false);
        let seller_contract_id = r.text("seller_contract_id", RequiredNullable, 128, true);
        let zoho = r.text("zoho", RequiredNullable, 256, true);
        let zendesk = r.text("zendesk", Optional, 256, true);
        let platform = r.choice("platform", Required, PLATFORMS);
        let reporter_email = r
            .text("reporter_email", Required, 254, false)
            .and_then(|text| match Email::parse(&text) {
                Ok(email) => Some(email),
                Err(e) => {
                    let why = match e {
                        firefighter_core::Error::Invalid(fields) => fields
                            .into_iter()
                            .map(|f| f.message)
                            .collect::<Vec<_>>()
                            .join("; "),
                        other => other.to_string(),
                    };
                    r.problem("reporter_email", "invalid", why);
                    None
                }
            });
        let mut labels = Vec::new();
        for (i, label) in r.list("labels").unwrap_or_default() {
            let attr = format!("labels.{i}");
            if label.chars().count() > 128 {
                r.problem(
                    &attr,
                    "max_length",
                    format!("label \"{label}\" is longer than 128 characters"),
                );
            } else if label.contains(char::is_whitespace) {
                r.problem(
                    &attr,
                    "invalid",
                    format!("label \"{label}\" contains a space: Jira labels cannot"),
                );
            } else if !labels.contains(&label) {
                labels.push(label);
            }
        }
        let incident_category = r.text("incident_category", RequiredNullable, 128, true);
        let suggested_team_routing = r.text("suggested_team_routing", Required, 10, false);
        let project = match r.text("project", Optional, 128, true) {
            None => Some(settings.default_project.clone()),
            Some(text) => match project_key(&text) {
                Ok(key) => Some(key),
                Err(why) => {
                    r.problem("project", "invalid", format!("project {why}"));
                    None
                }
            },
        };
        let priority = match r.value("priority", RequiredNullable).cloned() {
            None => Some(None),
            Some(value) => {
                let number = match &value {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                };
                match number {
                    Some(n @ 1..=5) => Some(Some(n as u8)),
                    Some(n) => {
                        let code = if n < 1 { "min_value" } else { "max_value" };
                        r.problem(
                            "priority",
                            code,
                            format!("priority must be 1 to 5, not {n}"),
                        );
                        None
                    }
                    None => {
                        r.problem(
                            "priority",
                            "invalid",
                            format!("priority must be a whole number from 1 to 5, not {value}"),
                        );
                        None
                    }
                }
            }
        };
        let business_impact =
            r.choice("business_impact", RequiredNullable, INTAKE_BUSINESS_IMPACTS);
        let mut environments = Vec::new();
        for (i, env) in r.list("environments").unwrap_or_default() {
            if !ENVIRONMENTS.contains(&env.as_str()) {
                r.problem(
                    &format!("environments.{i}"),
                    "invalid_choice",
                    format!(
                        "environment \"{env}\" is not one of {}",
                        ENVIRONMENTS.join(", ")
                    ),
                );
            } else if !environments.contains(&env) {
                environments.push(env);
            }
        }
        if environments.is_empty() {
            environments.push("-".to_owned());
        }
        let attachments = match r.value("attachments", Optional).cloned() {
            None => Vec::new(),
            Some(Value::String(text)) => match crate::attachments::parse(&text) {
                Ok(urls) => urls,
                Err(problems) => {
                    for detail in problems {
                        r.problem("attachments", "invalid", detail);
                    }
                    Vec::new()
                }
            },
            Some(other) => {
                let kind = kind(&other);
                r.problem(
                    "attachments",
                    "invalid",
                    format!("attachments must be text (URLs separated by commas), not {kind}"),
                );
                Vec::new()
            }
        };
        let issue_type = match r.value("issue_type", Optional).cloned() {
            None => Some(ISSUE_TYPES[0].to_owned()),
            Some(Value::String(s)) if s.trim().is_empty() => Some(ISSUE_TYPES[0].to_owned()),
            Some(_) => r.choice("issue_type", Optional, ISSUE_TYPES),
        };
        let problems = std::mem::take(&mut r.problems);
        match (
            summary,
            description,
            platform,
            reporter_email,
            suggested_team_routing,
            project,
            priority,
            issue_type,
        ) {
            (
                Some(summary),
                Some(description),
                Some(platform),
                Some(reporter_email),
                Some(suggested_team_routing),
                Some(project),
                Some(priority),
                Some(issue_type),
            ) if problems.is_empty() => Ok(IntakeRequest {
                summary,
                description,
                seller_contract_id,
                zoho,
                zendesk,
                platform,
                reporter_email,
                labels,
                incident_category,
                suggested_team_routing,
                project,
                priority,
                business_impact,
                environments,
                attachments,
                issue_type,
            }),
            _ => Err(Error::Request(problems)),
        }
    }
}

/// The label of a keyed intake ticket: how a retry finds it. Made of the
/// caller's scope and the key, hashed (a label has no spaces and a bounded
/// length).
pub fn intake_label(scope: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{scope}\n{key}").as_bytes());
    format!("ff-intake-{}", &hex::encode(digest)[..32])
}

/// The description sent to Jira: the text, the additional information, and
/// the intake's footer.
pub fn intake_description(settings: &IntakeSettings, request: &IntakeRequest) -> String {
    let mut text = request.description.trim().to_owned();
    let mut addenda = Vec::new();
    if request.suggested_team_routing != "SBI" {
        addenda.push(format!(
            "Team suggested for routing: *{}*",
            request.suggested_team_routing
        ));
    }
    if let (Some(toolbox), Some(seller)) = (&settings.toolbox_url, &request.seller_contract_id)
        && let Ok(mut url) = Url::parse(toolbox)
    {
        url.query_pairs_mut().append_pair("seller_id", seller);
        addenda.push(format!("Seller in the toolbox: {url}"));
    }
    if !addenda.is_empty() {
        text = format!("{text}\n\n*Additional Information*\n{}", addenda.join("\n"));
    }
    let mut footer = "🤖 This ticket came in through FireFighter's ticket intake.".to_owned();
    if settings.is_outside(&request.reporter_email) {
        footer.push_str(&format!("\nReported by {}", request.reporter_email));
    }
    format!("{text}\n\n{footer}")
}

/// The `fields` of the create request.
pub fn intake_fields(
    config: &JiraConfig,
    settings: &IntakeSettings,
    request: &IntakeRequest,
    reporter: &str,
    label: Option<&str>,
) -> Map<String, Value> {
    let f = &config.fields;
    let mut fields = Map::new();
    fields.insert("project".into(), json!({ "key": request.project }));
    fields.insert("issuetype".into(), json!({ "name": request.issue_type }));
    fields.insert("summary".into(), json!(request.summary));
    fields.insert(
        "description".into(),
        adf::document(&intake_description(settings, request)),
    );
    fields.insert("reporter".into(), json!({ "id": reporter }));
    let mut labels = request.labels.clone();
    if let Some(label) = label {
        labels.push(label.to_owned());
    }
    fields.insert("labels".into(), json!(labels));
    let priority = request
        .priority
        .map_or_else(|| "-".to_owned(), |p| p.to_string());
    fields.insert(f.priority.clone(), json!({ "value": priority }));
    let environments: Vec<Value> = request
        .environments
        .iter()
        .map(|e| json!({ "value": e }))
        .collect();
    fields.insert(f.environments.clone(), Value::Array(environments));
    fields.insert(f.platform.clone(), json!({ "value": request.platform }));
    if let Some(impact) = &request.business_impact {
        fields.insert(f.business_impact.clone(), json!({ "value": impact }));
    }
    for (value, field) in [
        (&request.zendesk, &f.zendesk_ticket),
        (&request.zoho, &f.zoho_desk_ticket),
        (&request.seller_contract_id, &f.seller_contract_id),
    ] {
        if let Some(value) = value {
            fields.insert(field.clone(), json!(value));
        }
    }
    if let (Some(field), Some(category)) = (&f.incident_category, &request.incident_category) {
        fields.insert(field.clone(), json!({ "value": category }));
    }
    fields
}

/// What the intake did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The ticket's key.
    pub key: String,
    /// `false`: an earlier attempt made it and this one adopted it.
    pub created: bool,
    /// Each attachment's outcome, in the request's order.
    pub attachments: Vec<AttachmentReport>,
    /// The alert: what it did, or why it is still to be sent.
    pub alert: std::result::Result<AlertOutcome, String>,
}

impl Submitted {
    /// The attachments that failed, as the answer's header lists them.
    pub fn attachment_errors(&self) -> Vec<Value> {
        self.attachments
            .iter()
            .filter_map(|a| match &a.outcome {
                Attached::Failed(why) => {
                    Some(json!({"index": a.index, "url": a.url, "detail": why}))
                }
                _ => None,
            })
            .collect()
    }
}

/// The intake: what it needs to make tickets.
#[derive(Debug, Clone)]
pub struct Intake {
    app: Firefighter,
    client: JiraClient,
    users: JiraUserStore,
    config: JiraConfig,
    settings: IntakeSettings,
    downloader: Downloader,
}

impl Intake {
    /// The intake for this configuration (attachments fetched from public
    /// addresses only).
    pub fn new(
        app: Firefighter,
        client: JiraClient,
        users: JiraUserStore,
        config: JiraConfig,
        settings: IntakeSettings,
    ) -> Intake {
        let downloader =
            Downloader::new(settings.attachment_max_bytes, settings.attachment_timeout);
        Intake {
            app,
            client,
            users,
            config,
            settings,
            downloader,
        }
    }

    /// Replaces the downloader (tests: a local server, see
    /// [`Downloader::allowing_loopback_for_tests`]).
    pub fn with_downloader(mut self, downloader: Downloader) -> Intake {
        self.downloader = downloader;
        self
    }

    /// The settings.
    pub fn settings(&self) -> &IntakeSettings {
        &self.settings
    }

    /// Resolves each attachment's host and checks its addresses: the
    /// problems found (`attr: "attachments"`), before anything is created.
    pub async fn check_attachments(&self, request: &IntakeRequest) -> Vec<Problem> {
        let checks = request
            .attachments
            .iter()
            .map(|url| self.downloader.check(url));
        futures::future::join_all(checks)
            .await
            .into_iter()
            .filter_map(std::result::Result::err)
            .map(|e| Problem::field("attachments", "invalid", e.to_string()))
            .collect()
    }

    /// The reporter's Jira account (theirs, else the default one) and their
    /// firefighter account, if any.
    async fn reporter(&self, email: &Email) -> Result<(String, Option<User>)> {
        let user = self.app.store().user_by_email(email.as_str()).await?;
        let account = match &user {
            Some(user) => match account_of(&self.client, &self.users, user).await {
                Ok(account) => account,
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => {
                    tracing::warn!(reporter = %email, error = %e, "the reporter's Jira account could not be looked up");
                    None
                }
            },
            None => None,
        };
        Ok((
            account.unwrap_or_else(|| self.config.default_reporter.clone()),
            user,
        ))
    }

    async fn find(&self, project: &str, label: &str) -> Result<Option<String>> {
        let jql = format!("project = \"{project}\" AND labels = \"{label}\" ORDER BY created ASC");
        Ok(self
            .client
            .search(&jql)
            .await?
            .into_iter()
            .next()
            .map(|i| i.key))
    }

    /// Makes the ticket of `request` (adopting the one carrying `label`,
    /// when a label is given and Jira has it), uploads its attachments and
    /// sends the alert.
    pub async fn submit(&self, request: &IntakeRequest, label: Option<&str>) -> Result<Submitted> {
        let (mut reporter, user) = self.reporter(&request.reporter_email).await?;
        let found = match label {
            Some(label) => self.find(&request.project, label).await?,
            None => None,
        };
        let (key, created) = match found {
            Some(key) => (key, false),
            None => {
                let fields = intake_fields(&self.config, &self.settings, request, &reporter, label);
                let mut made = self.client.create_issue(&fields).await;
                // The reporter's account cannot report in this project: the
                // default one does.
                if let Err(e) = &made
                    && e.field("reporter").is_some()
                    && reporter != self.config.default_reporter
                {
                    tracing::warn!(reporter = %request.reporter_email, error = %e, "Jira refused the reporter; using RAID_DEFAULT_JIRA_QRAFT_USER_ID");
                    reporter = self.config.default_reporter.clone();
                    let fields =
                        intake_fields(&self.config, &self.settings, request, &reporter, label);
                    made = self.client.create_issue(&fields).await;
                }
                match made {
                    Ok(issue) => (issue.key, true),
                    // Jira may have made it before failing: look again at once.
                    Err(e @ (Error::Unavailable { .. } | Error::Transport(_))) => match label {
                        Some(label) => match self.find(&request.project, label).await {
                            Ok(Some(key)) => (key, false),
                            _ => return Err(e),
                        },
                        None => return Err(e),
                    },
                    Err(e) => return Err(e),
                }
            }
        };
        tracing::info!(key, created, "intake ticket");
        let attachments = attach_all(
            &self.client,
            &self.downloader,
            &key,
            &request.attachments,
            !created,
        )
        .await?;
        for failed in attachments
            .iter()
            .filter(|a| matches!(a.outcome, Attached::Failed(_)))
        {
            tracing::warn!(key, attachment = failed.index, url = %failed.url, outcome = ?failed.outcome, "attachment not added");
        }
        let ticket = NewTicket {
            key: key.clone(),
            url: self.client.browse_url(&key),
            project_key: request.project.clone(),
            issue_type: request.issue_type.clone(),
            summary: request.summary.clone(),
            description: request.description.clone(),
            business_impact: request.business_impact.clone(),
            reporter: user,
            reporter_email: Some(request.reporter_email.to_string()),
            incident_priority: None,
        };
        let alert = match alert_new_ticket(&self.app, &ticket).await {
            Ok(outcome) => Ok(outcome),
            Err(e) if e.is_retryable() => {
                retry_alert_later(self.app.clone(), ticket);
                Err(format!("to be retried: {e}"))
            }
            Err(e) => {
                tracing::warn!(key, error = %e, "RAID alert not sent");
                Err(e.to_string())
            }
        };
        Ok(Submitted {
            key,
            created,
            attachments,
            alert,
        })
    }
}

/// Sends the alert again later, a few times (the key makes it safe).
fn retry_alert_later(app: Firefighter, ticket: NewTicket) {
    tokio::spawn(async move {
        for wait in ALERT_RETRIES {
            tokio::time::sleep(wait).await;
            match alert_new_ticket(&app, &ticket).await {
                Ok(_) => return,
                Err(e) if e.is_retryable() => {
                    tracing::warn!(key = %ticket.key, error = %e, "RAID alert still not sent; retrying");
                }
                Err(e) => {
                    tracing::error!(key = %ticket.key, error = %e, "RAID alert not sent");
                    return;
                }
            }
        }
        tracing::error!(key = %ticket.key, "RAID alert given up after its retries");
    });
}

/// An answer in the API's error format.
fn error_answer(status: StatusCode, kind: &str, problems: Vec<Problem>) -> Response {
    let errors: Vec<Value> = problems
        .into_iter()
        .map(|p| json!({"code": p.code, "detail": p.detail, "attr": p.attr}))
        .collect();
    (status, Json(json!({"type": kind, "errors": errors}))).into_response()
}

fn one(code: &'static str, detail: impl Into<String>) -> Vec<Problem> {
    vec![Problem {
        attr: None,
        code,
        detail: detail.into(),
    }]
}

/// The request's field Jira's field id stands for.
fn request_field(config: &JiraConfig, field: &str) -> Option<&'static str> {
    let f = &config.fields;
    let custom = [
        (f.priority.as_str(), "priority"),
        (f.environments.as_str(), "environments"),
        (f.platform.as_str(), "platform"),
        (f.business_impact.as_str(), "business_impact"),
        (f.zendesk_ticket.as_str(), "zendesk"),
        (f.zoho_desk_ticket.as_str(), "zoho"),
        (f.seller_contract_id.as_str(), "seller_contract_id"),
        (
            f.incident_category.as_deref().unwrap_or("-"),
            "incident_category",
        ),
        ("project", "project"),
        ("issuetype", "issue_type"),
        ("summary", "summary"),
        ("description", "description"),
        ("labels", "labels"),
    ];
    custom.iter().find(|(id, _)| *id == field).map(|(_, a)| *a)
}

/// The answer to a failed intake.
fn failure(config: &JiraConfig, e: Error) -> Response {
    match e {
        Error::Request(problems) => {
            error_answer(StatusCode::BAD_REQUEST, "validation_error", problems)
        }
        Error::Rejected {
            status: 400,
            messages,
            fields,
        } => {
            let mut problems: Vec<Problem> = messages
                .into_iter()
                .map(|m| Problem {
                    attr: None,
                    code: "jira_refused",
                    detail: format!("Jira refused the ticket: {m}"),
                })
                .collect();
            problems.extend(fields.into_iter().map(|(field, message)| {
                match request_field(config, &field) {
                    Some(attr) => Problem::field(
                        attr,
                        "jira_refused",
                        format!("Jira refused {attr} ({field}): {message}"),
                    ),
                    None => Problem {
                        attr: None,
                        code: "jira_refused",
                        detail: format!("Jira refused {field}: {message}"),
                    },
                }
            }));
            error_answer(StatusCode::BAD_REQUEST, "validation_error", problems)
        }
        e @ Error::Rejected { .. } => {
            tracing::error!(error = %e, "the intake's ticket was refused by Jira");
            error_answer(
                StatusCode::BAD_GATEWAY,
                "server_error",
                one(
                    "jira_refused",
                    format!("{e}: check the Jira account's rights"),
                ),
            )
        }
        Error::Invalid(detail) => error_answer(
            StatusCode::BAD_REQUEST,
            "validation_error",
            one("invalid", detail),
        ),
        e if e.is_retryable() => {
            tracing::warn!(error = %e, "the intake's ticket could not be made now");
            let wait = e.retry_after().map_or(30, |d| d.as_secs().max(1));
            let mut answer = error_answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                one(
                    "jira_unavailable",
                    format!("{e}; try again later (with the same Idempotency-Key)"),
                ),
            );
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            answer
        }
        e => {
            tracing::error!(error = %e, "the intake failed");
            error_answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                one("error", format!("the ticket could not be made: {e}")),
            )
        }
    }
}

/// The answer as it is sent and as it is remembered for a replay.
#[derive(Debug, Clone)]
struct Answer {
    status: StatusCode,
    body: Value,
    attachment_errors: Vec<Value>,
}

impl Answer {
    fn created(submitted: &Submitted) -> Answer {
        Answer {
            status: StatusCode::CREATED,
            body: json!(submitted.key),
            attachment_errors: submitted.attachment_errors(),
        }
    }

    fn response(&self) -> Response {
        let mut response = (self.status, Json(self.body.clone())).into_response();
        if !self.attachment_errors.is_empty() {
            // A header value is visible ASCII: anything else is escaped.
            let text = serde_json::to_string(&self.attachment_errors)
                .unwrap_or_default()
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() || c == ' ' {
                        c.to_string()
                    } else {
                        format!("\\u{:04x}", u32::from(c))
                    }
                })
                .collect::<String>();
            if let Ok(value) = HeaderValue::from_str(&text) {
                response
                    .headers_mut()
                    .insert(ATTACHMENT_ERRORS_HEADER, value);
            }
        }
        response
    }

    fn stored(&self) -> StoredResponse {
        StoredResponse {
            status: self.status.as_u16(),
            content_type: "application/json".into(),
            body: json!({"body": self.body, "attachment_errors": self.attachment_errors})
                .to_string(),
        }
    }

    fn replayed(stored: &StoredResponse) -> Option<Answer> {
        let envelope: Value = serde_json::from_str(&stored.body).ok()?;
        Some(Answer {
            status: StatusCode::from_u16(stored.status).ok()?,
            body: envelope.get("body")?.clone(),
            attachment_errors: envelope
                .get("attachment_errors")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        })
    }
}

/// Gives a claimed key back when the request ends without an answer (its
/// future dropped by the server's time-out): a retry may then run at once.
struct Claim {
    store: Option<Arc<dyn firefighter_core::Store>>,
    scope: String,
    key: String,
}

impl Claim {
    fn done(mut self) {
        self.store = None;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            let (scope, key) = (
                std::mem::take(&mut self.scope),
                std::mem::take(&mut self.key),
            );
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(e) = store.abandon_idempotent(&scope, &key).await {
                        tracing::warn!(error = %e, "could not release an intake's Idempotency-Key");
                    }
                });
            }
        }
    }
}

/// The caller's `Idempotency-Key`, checked.
fn idempotency_key(headers: &HeaderMap) -> std::result::Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str().map(str::trim) {
        Ok(key)
            if !key.is_empty()
                && key.len() <= 255
                && key.chars().all(|c| c.is_ascii_graphic() || c == ' ') =>
        {
            Ok(Some(key.to_owned()))
        }
        _ => Err(Problem::field(
            "Idempotency-Key",
            "invalid",
            "an Idempotency-Key has 1 to 255 visible ASCII characters",
        )),
    }
}

async fn jira_bot(
    State(intake): State<Arc<Intake>>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(Extension(caller)) = caller else {
        return error_answer(
            StatusCode::UNAUTHORIZED,
            "client_error",
            one(
                "not_authenticated",
                "Log in or send an API token (Authorization: Bearer <token>).",
            ),
        );
    };
    let key = match idempotency_key(&headers) {
        Ok(key) => key,
        Err(problem) => {
            return error_answer(StatusCode::BAD_REQUEST, "validation_error", vec![problem]);
        }
    };
    let request = match IntakeRequest::from_json(&body, &intake.settings) {
        Ok(request) => request,
        Err(e) => return failure(&intake.config, e),
    };
    let refused = intake.check_attachments(&request).await;
    if !refused.is_empty() {
        return error_answer(StatusCode::BAD_REQUEST, "validation_error", refused);
    }
    let Some(key) = key else {
        return match intake.submit(&request, None).await {
            Ok(submitted) => Answer::created(&submitted).response(),
            Err(e) => failure(&intake.config, e),
        };
    };

    let store = intake.app.store().clone();
    let scope = format!("jira-intake:user:{}", caller.user.id);
    let hash = hex::encode(Sha256::digest(&body));
    let now = firefighter_core::store::now();
    let begun = store
        .begin_idempotent(
            &scope,
            &key,
            &hash,
            firefighter_core::instance::id(),
            now,
            now + CLAIM,
            now - KEY_TTL,
        )
        .await;
    match begun {
        Err(e) => return failure(&intake.config, Error::Core(e)),
        Ok(IdempotencyBegin::Replay(stored)) => {
            return match Answer::replayed(&stored) {
                Some(answer) => {
                    let mut response = answer.response();
                    response
                        .headers_mut()
                        .insert("idempotent-replayed", HeaderValue::from_static("true"));
                    response
                }
                None => error_answer(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    one(
                        "error",
                        "the answer remembered for this Idempotency-Key is unreadable",
                    ),
                ),
            };
        }
        Ok(IdempotencyBegin::Mismatch) => {
            return error_answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                "client_error",
                one(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another request body",
                ),
            );
        }
        Ok(IdempotencyBegin::InProgress) => {
            return error_answer(
                StatusCode::CONFLICT,
                "client_error",
                one(
                    "idempotency_key_in_use",
                    "a request with this Idempotency-Key is still being processed; retry later",
                ),
            );
        }
        Ok(IdempotencyBegin::Started) => {}
        Ok(IdempotencyBegin::Resumed) => {
            tracing::info!("an intake left unanswered is taken over by its retry");
        }
    }
    let claim = Claim {
        store: Some(store.clone()),
        scope: scope.clone(),
        key: key.clone(),
    };
    let label = intake_label(&scope, &key);
    match intake.submit(&request, Some(&label)).await {
        Ok(submitted) => {
            let answer = Answer::created(&submitted);
            if let Err(e) = store
                .finish_idempotent(&scope, &key, &answer.stored())
                .await
            {
                tracing::warn!(error = %e, "could not remember the intake's answer");
            }
            claim.done();
            answer.response()
        }
        // Not remembered: the retry runs again (and adopts the ticket if
        // one was made).
        Err(e) => {
            if let Err(e) = store.abandon_idempotent(&scope, &key).await {
                tracing::warn!(error = %e, "could not release an intake's Idempotency-Key");
            }
            claim.done();
            failure(&intake.config, e)
        }
    }
}

/// The crate's routes (the intake) when Jira is on, configured from the
/// environment; none when it is off, or misconfigured (logged). Mount them
/// behind the server's login.
pub fn routes(app: Firefighter) -> Router {
    let built = (|| -> Result<Option<Intake>> {
        let Some(config) = JiraConfig::from_env()? else {
            return Ok(None);
        };
        let settings = IntakeSettings::from_env()?;
        let client = JiraClient::new(&config)?;
        let users = JiraUserStore::of(app.store().as_ref())?;
        Ok(Some(Intake::new(app, client, users, config, settings)))
    })();
    match built {
        Ok(Some(intake)) => intake_routes(intake),
        Ok(None) => Router::new(),
        Err(e) => {
            tracing::error!(error = %e, "the Jira intake is misconfigured and not served");
            Router::new()
        }
    }
}

/// The intake's route over `intake`; mount it behind the server's login
/// (which hands over the [`Caller`]).
pub fn intake_routes(intake: Intake) -> Router {
    Router::new()
        .route(INTAKE_PATH, post(jira_bot))
        .route(&format!("{INTAKE_PATH}/"), post(jira_bot))
        .with_state(Arc::new(intake))
}
