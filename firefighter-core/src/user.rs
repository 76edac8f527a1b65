//! People: responders, commanders, API clients. One account per person, with
//! at most one identity per integration (Slack id, PagerDuty id, Jira account id...).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, UserId};

/// A person (or a bot) known to firefighter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// E-mail, unique, lowercase.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Can log in and be invited.
    pub is_active: bool,
    /// Can use the back-office.
    pub is_staff: bool,
    /// Can do everything.
    pub is_admin: bool,
    /// A bot or service account: never invited.
    pub bot: bool,
    /// Avatar URL.
    pub avatar: Option<String>,
    /// Identities per integration: platform name → external id.
    pub identities: BTreeMap<String, String>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl User {
    /// The user's id on `platform`, if linked.
    pub fn identity(&self, platform: &str) -> Option<&str> {
        self.identities.get(platform).map(String::as_str)
    }

    /// Whether the user may be invited to an incident on `platform`.
    pub fn invitable_on(&self, platform: &str) -> bool {
        self.is_active && !self.bot && self.identity(platform).is_some_and(|id| !id.is_empty())
    }
}

/// A validated, lowercased e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Validates an e-mail address: one `@`, a non-empty local part and a dotted domain, no spaces.
    pub fn parse(text: &str) -> Result<Email, Error> {
        let t = text.trim().to_lowercase();
        let invalid = |why: &str| {
            Error::invalid(
                "email",
                format!("\"{text}\" is not a valid e-mail address: {why}"),
            )
        };
        if t.len() > 254 {
            return Err(invalid("it is longer than 254 characters"));
        }
        let (local, domain) = t.split_once('@').ok_or_else(|| invalid("it has no @"))?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(invalid(
                "it needs exactly one @ between a name and a domain",
            ));
        }
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(invalid("the domain needs a dot"));
        }
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("it contains spaces"));
        }
        Ok(Email(t))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is needed to create an account.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// E-mail.
    pub email: Email,
    /// Display name (defaults to the e-mail's local part).
    pub name: Option<String>,
    /// Can use the back-office.
    pub is_staff: bool,
    /// Can do everything.
    pub is_admin: bool,
    /// A bot or service account.
    pub bot: bool,
}

impl NewUser {
    /// A regular, active person.
    pub fn person(email: Email) -> NewUser {
        NewUser {
            email,
            name: None,
            is_staff: false,
            is_admin: false,
            bot: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_validated_and_lowercased() {
        assert_eq!(
            Email::parse(" Jane.Doe@Example.com ").unwrap().as_str(),
            "jane.doe@example.com"
        );
        for bad in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@example",
            "ja ne@example.com",
            "a@b@c.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
