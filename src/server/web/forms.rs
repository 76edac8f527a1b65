//! Submitted forms, read field by field so that every problem is reported
//! next to its field instead of rejecting the whole request.

use std::collections::BTreeMap;

use firefighter_core::FieldError;

/// The fields of a submitted form (`application/x-www-form-urlencoded`),
/// in order, repeated names kept (multi-selects, checkboxes).
#[derive(Debug, Clone, Default)]
pub(crate) struct FormData(pub(crate) Vec<(String, String)>);

impl FormData {
    /// The last value of a field, trimmed; `""` when absent.
    pub(crate) fn text(&self, name: &str) -> &str {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }

    /// The last value of a field, untrimmed (passwords, long texts).
    pub(crate) fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every non-empty value of a field.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// A checkbox: present with any value other than `false`/`0`/`off`.
    pub(crate) fn checked(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|(k, v)| k == name && !matches!(v.as_str(), "" | "false" | "0" | "off"))
    }

    /// Fields whose names start with `prefix`, without it (`roles.commander` → `commander`).
    pub(crate) fn with_prefix(&self, prefix: &str) -> BTreeMap<String, String> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(prefix)
                    .map(|k| (k.to_owned(), v.trim().to_owned()))
            })
            .collect()
    }
}

/// Messages of a refused form, by field (`""` for the form as a whole).
#[derive(Debug, Clone, Default)]
pub(crate) struct Messages(pub(crate) BTreeMap<String, Vec<String>>);

impl Messages {
    /// Adds a message about `field`.
    pub(crate) fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// Whether nothing was reported.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Messages about one field.
    pub(crate) fn about(&self, field: &str) -> &[String] {
        self.0.get(field).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every message, field by field (each names what it is about).
    pub(crate) fn all(&self) -> Vec<String> {
        self.0.values().flatten().cloned().collect()
    }

    /// The messages of a core error: field errors by field, a refused
    /// status change as one message per reason, anything else as a failure.
    pub(crate) fn from_core(
        error: firefighter_core::Error,
    ) -> Result<Messages, firefighter_core::Error> {
        let mut messages = Messages::default();
        match error {
            firefighter_core::Error::Invalid(fields) => {
                for FieldError { field, message } in fields {
                    messages.push(&field, message);
                }
            }
            firefighter_core::Error::Refused(refusal) => {
                for m in refusal.messages() {
                    messages.push("status", m);
                }
            }
            firefighter_core::Error::Conflict(m) => messages.push("", m),
            other => return Err(other),
        }
        Ok(messages)
    }

    /// The messages of a server error (API tokens, passwords).
    pub(crate) fn from_server(error: crate::Error) -> Result<Messages, crate::Error> {
        let mut messages = Messages::default();
        match error {
            crate::Error::Invalid(problems) => {
                for p in problems {
                    messages.push(p.attr.as_deref().unwrap_or(""), p.detail);
                }
            }
            crate::Error::Core(core) => {
                return Messages::from_core(core).map_err(crate::Error::Core);
            }
            other => return Err(other),
        }
        Ok(messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields() {
        let form = FormData(vec![
            ("title".into(), "  Checkout down  ".into()),
            ("env".into(), "a".into()),
            ("env".into(), "".into()),
            ("env".into(), "b".into()),
            ("private".into(), "on".into()),
            ("roles.commander".into(), "u1".into()),
        ]);
        assert_eq!(form.text("title"), "Checkout down");
        assert_eq!(form.raw("title"), "  Checkout down  ");
        assert_eq!(form.all("env"), ["a", "b"]);
        assert!(form.checked("private"));
        assert!(!form.checked("ignore"));
        assert_eq!(form.with_prefix("roles.")["commander"], "u1");
        assert_eq!(form.text("missing"), "");
    }

    #[test]
    fn refusals_become_one_message_per_reason() {
        use firefighter_core::Status;
        use firefighter_core::lifecycle::{Refusal, RefusalReason};
        let refusal = Refusal {
            from: Status::Open,
            to: Status::Closed,
            reasons: vec![
                RefusalReason::ClosureReasonRequired,
                RefusalReason::MessageRequired,
            ],
        };
        let m = Messages::from_core(refusal.into()).unwrap();
        assert_eq!(m.about("status").len(), 2);
        assert!(m.all()[0].contains("closure reason"));
    }
}
