//! What an incident cost (lost revenue, refunds, overtime...).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{CostId, CostTypeId, IncidentId};

/// A kind of cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostType {
    /// Identifier.
    pub id: CostTypeId,
    /// Name, unique.
    pub name: String,
    /// Description.
    pub description: String,
    /// Free-form category.
    pub category: String,
    /// Proposed by default.
    pub default: bool,
    /// Can be edited by people.
    pub editable: bool,
}

/// A cost recorded on an incident. Amounts are in cents of [`CURRENCY`] to stay exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentCost {
    /// Identifier.
    pub id: CostId,
    /// The incident.
    pub incident_id: IncidentId,
    /// The kind of cost.
    pub cost_type_id: CostTypeId,
    /// Amount in cents; `None` when not known yet.
    pub amount_cents: Option<i64>,
    /// Details.
    pub details: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// The currency of every amount.
pub const CURRENCY: &str = "EUR";

/// Formats cents as a decimal amount (`1234` → `12.34`).
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Parses a decimal amount with at most two decimals into cents.
pub fn parse_amount(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (units, frac) = t.split_once('.').unwrap_or((t, ""));
    if units.is_empty()
        || !units.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let units: i64 = units.parse().ok()?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    let cents = units.checked_mul(100)?.checked_add(frac)?;
    Some(if neg { -cents } else { cents })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip() {
        assert_eq!(parse_amount("12.3"), Some(1230));
        assert_eq!(parse_amount("0.05"), Some(5));
        assert_eq!(parse_amount("-7"), Some(-700));
        assert_eq!(parse_amount("1.234"), None);
        assert_eq!(parse_amount("abc"), None);
        assert_eq!(format_cents(1230), "12.30");
        assert_eq!(format_cents(-5), "-0.05");
    }
}
