//! The intake's body, read and checked field by field.

use firefighter_core::Email;
use reqwest::Url;
use serde_json::{Map, Value};

use super::settings::{IntakeSettings, project_key};
use super::{ENVIRONMENTS, INTAKE_BUSINESS_IMPACTS, ISSUE_TYPES, MAX_DESCRIPTION_CHARS, PLATFORMS};
use crate::error::Problem;
use crate::{Error, Result};

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
    /// [`Intake::check_attachments`](super::Intake::check_attachments)).
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
