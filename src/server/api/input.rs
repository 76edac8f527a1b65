//! Reading request bodies: JSON (or a urlencoded form, as the original
//! accepts for `POST incidents`) into an object whose fields are then read
//! one by one, so every wrong field is reported with its name.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::server::AppState;
use crate::{Error, Problem};

/// A request body as a JSON object.
#[derive(Debug)]
pub(crate) struct Body(pub(crate) Map<String, Value>);

impl FromRequest<AppState> for Body {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let media = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge(state.config.body_limit_bytes)
            } else {
                Error::Parse(format!("the body could not be read: {e}"))
            }
        })?;
        let value: Value = if media == "application/json"
            || media.ends_with("+json")
            || (media.is_empty() && !bytes.is_empty())
        {
            serde_json::from_slice(&bytes)
                .map_err(|e| Error::Parse(format!("JSON parse error - {e}")))?
        } else if media == "application/x-www-form-urlencoded" {
            let map: Map<String, Value> = form_urlencoded::parse(&bytes)
                .into_owned()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            Value::Object(map)
        } else if bytes.is_empty() {
            Value::Object(Map::new())
        } else {
            return Err(Error::UnsupportedMediaType(format!(
                "Unsupported media type \"{media}\" in request; send application/json"
            )));
        };
        match value {
            Value::Object(map) => Ok(Body(map)),
            other => Err(Error::Parse(format!(
                "the body must be a JSON object, not {}",
                kind(&other)
            ))),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads fields of a body, collecting every problem.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    pub(crate) problems: Vec<Problem>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(body: &'a Body) -> Self {
        Fields {
            map: &body.0,
            problems: Vec::new(),
        }
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    fn wrong(&mut self, name: &str, expected: &str, v: &Value) {
        self.problems.push(Problem::field(
            name,
            "incorrect_type",
            format!("{name} must be {expected}, not {}", kind(v)),
        ));
    }

    pub(crate) fn required(&mut self, name: &str) {
        self.problems
            .push(Problem::field(name, "required", "This field is required."));
    }

    /// A string (`None` when absent or null).
    pub(crate) fn string(&mut self, name: &str) -> Option<String> {
        match self.map.get(name)? {
            Value::Null => None,
            Value::String(s) => {
                if s.contains('\0') {
                    self.problems.push(Problem::field(
                        name,
                        "null_characters_not_allowed",
                        "Null characters are not allowed.",
                    ));
                    return None;
                }
                Some(s.clone())
            }
            v => {
                let v = v.clone();
                self.wrong(name, "a string", &v);
                None
            }
        }
    }

    /// A boolean; forms send `true`/`false` strings.
    pub(crate) fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.map.get(name)? {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "on" | "yes" => Some(true),
                "false" | "0" | "off" | "no" | "" => Some(false),
                _ => {
                    self.problems
                        .push(Problem::field(name, "invalid", "Must be a valid boolean."));
                    None
                }
            },
            v => {
                let v = v.clone();
                self.wrong(name, "a boolean", &v);
                None
            }
        }
    }

    /// A UUID.
    pub(crate) fn uuid(&mut self, name: &str) -> Option<uuid::Uuid> {
        let s = self.string(name)?;
        match uuid::Uuid::parse_str(s.trim()) {
            Ok(id) => Some(id),
            Err(_) => {
                self.problems.push(Problem::field(
                    name,
                    "incorrect_type",
                    format!("Incorrect type. Expected a UUID, got \"{s}\"."),
                ));
                None
            }
        }
    }

    /// A list of UUIDs.
    pub(crate) fn uuids(&mut self, name: &str) -> Option<Vec<uuid::Uuid>> {
        match self.map.get(name)? {
            Value::Null => None,
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items.clone() {
                    match item.as_str().map(|s| uuid::Uuid::parse_str(s.trim())) {
                        Some(Ok(id)) => out.push(id),
                        _ => {
                            self.problems.push(Problem::field(
                                name,
                                "incorrect_type",
                                format!("{name} must be a list of UUIDs"),
                            ));
                            return None;
                        }
                    }
                }
                Some(out)
            }
            v => {
                let v = v.clone();
                self.wrong(name, "a list of UUIDs", &v);
                None
            }
        }
    }

    /// A list of strings.
    pub(crate) fn strings(&mut self, name: &str) -> Option<Vec<String>> {
        match self.map.get(name)? {
            Value::Null => None,
            Value::Array(items) if items.iter().all(Value::is_string) => Some(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            ),
            v => {
                let v = v.clone();
                self.wrong(name, "a list of strings", &v);
                None
            }
        }
    }

    /// An instant (RFC 3339).
    pub(crate) fn instant(&mut self, name: &str) -> Option<DateTime<Utc>> {
        let s = self.string(name)?;
        match DateTime::parse_from_rfc3339(s.trim()) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.problems.push(Problem::field(
                    name,
                    "invalid",
                    format!("\"{s}\" is not an RFC 3339 date-time (e.g. 2026-03-01T10:00:00Z)"),
                ));
                None
            }
        }
    }

    /// A required amount in EUR: a decimal string (`"12.30"`) or a number.
    /// Missing or null is a problem named after the field.
    pub(crate) fn amount_cents(&mut self, name: &str) -> Option<i64> {
        let text = match self.map.get(name) {
            None => {
                self.required(name);
                return None;
            }
            Some(Value::Null) => {
                self.problems.push(Problem::field(
                    name,
                    "null",
                    "This field may not be null: give an amount such as \"12.30\".",
                ));
                return None;
            }
            Some(v) => v,
        };
        let text = match text {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            v => {
                let v = v.clone();
                self.wrong(name, "a decimal amount", &v);
                return None;
            }
        };
        match firefighter_core::cost::parse_amount(&text) {
            Some(c) => Some(c),
            None => {
                self.problems.push(Problem::field(
                    name,
                    "invalid",
                    format!("\"{text}\" is not an amount with at most two decimals"),
                ));
                None
            }
        }
    }

    /// `Err` with every problem found so far.
    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.problems))
        }
    }
}
