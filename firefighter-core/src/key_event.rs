//! Key events (milestones): when the incident started, was detected, declared,
//! recovered... They feed the metrics and the closing guard.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::UserId;

/// The impact started.
pub const STARTED: &str = "started";
/// Someone noticed.
pub const DETECTED: &str = "detected";
/// The incident was declared (set by the system).
pub const DECLARED: &str = "declared";
/// The impact ended (set when the status becomes Mitigated, editable).
pub const RECOVERED: &str = "recovered";
/// The status became Mitigated (set by the system).
pub const MITIGATED: &str = "mitigated";
/// The incident was closed (set by the system).
pub const RESOLVED: &str = "resolved";

/// A kind of key event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneType {
    /// Unique slug (`started`, `detected`...).
    pub event_type: String,
    /// Name.
    pub name: String,
    /// One-line summary.
    pub summary: String,
    /// People may set it (otherwise only the system does).
    pub user_editable: bool,
    /// Needed before closing a P1 to P3.
    pub required: bool,
    /// Shown in the key-events forms.
    pub asked_for: bool,
    /// Longer explanation.
    pub description: String,
}

/// A recorded key event of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEvent {
    /// Its type's slug.
    pub event_type: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who recorded it (`None`: the system).
    pub recorded_by: Option<UserId>,
}

/// The required key event types missing from `recorded`.
pub fn missing_required(types: &[MilestoneType], recorded: &[KeyEvent]) -> Vec<String> {
    types
        .iter()
        .filter(|t| t.required && !recorded.iter().any(|k| k.event_type == t.event_type))
        .map(|t| t.event_type.clone())
        .collect()
}

/// Key events that must not come before another: `(earlier, later)`. Each
/// pair keeps a metric (time to detect, to respond, to repair…) from being
/// negative, the rule the original's metric durations enforce.
pub const ORDER: &[(&str, &str)] = &[
    (STARTED, DETECTED),
    (DETECTED, RECOVERED),
    (STARTED, RECOVERED),
    (STARTED, DECLARED),
    (DECLARED, MITIGATED),
    (STARTED, RESOLVED),
];

/// How far before its declaration an incident's key event may be: further
/// back is a typing mistake (year 1), not a latent fault.
pub const OLDEST: chrono::TimeDelta = chrono::TimeDelta::days(3653);

/// How far in the future a key event may be (clocks differ a little).
pub const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Where a set of key events breaks [`ORDER`]: `(slug, reason)` for each
/// broken pair, blaming the key event being changed (the later one of the
/// pair when both are), with a reason naming the other.
pub fn order_problems(
    events: &std::collections::BTreeMap<String, DateTime<Utc>>,
    changed: impl Fn(&str) -> bool,
) -> Vec<(String, String)> {
    let mut problems: Vec<(String, String)> = Vec::new();
    for (earlier, later) in ORDER {
        let (Some(a), Some(b)) = (events.get(*earlier), events.get(*later)) else {
            continue;
        };
        if a <= b {
            continue;
        }
        let (slug, reason) = if changed(later) || !changed(earlier) {
            (
                *later,
                format!("{later} cannot be before {earlier} ({})", a.to_rfc3339()),
            )
        } else {
            (
                *earlier,
                format!("{earlier} cannot be after {later} ({})", b.to_rfc3339()),
            )
        };
        if !problems.iter().any(|(s, _)| s == slug) {
            problems.push((slug.to_owned(), reason));
        }
    }
    problems
}

/// Whether `at` is a believable time for a key event of an incident declared
/// at `declared`, seen at `now`; the reason when it is not.
pub fn range_problem(
    slug: &str,
    at: DateTime<Utc>,
    declared: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<String> {
    if at > now + CLOCK_SKEW {
        Some(format!("{slug} cannot be in the future"))
    } else if at < declared - OLDEST {
        Some(format!(
            "{slug} cannot be more than ten years before the declaration ({})",
            declared.to_rfc3339()
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{TimeDelta, Utc};

    use super::*;

    #[test]
    fn a_broken_pair_blames_the_changed_event_and_names_the_other() {
        let now = Utc::now();
        let events: BTreeMap<String, _> = [
            (STARTED.to_owned(), now - TimeDelta::hours(1)),
            (DETECTED.to_owned(), now - TimeDelta::hours(2)),
        ]
        .into();
        let p = order_problems(&events, |s| s == DETECTED);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, DETECTED);
        assert!(p[0].1.contains(STARTED));
        let p = order_problems(&events, |s| s == STARTED);
        assert_eq!(p[0].0, STARTED);
        assert!(p[0].1.contains(DETECTED));
        let ok: BTreeMap<String, _> = [
            (STARTED.to_owned(), now - TimeDelta::hours(2)),
            (DETECTED.to_owned(), now - TimeDelta::hours(2)),
            (DECLARED.to_owned(), now),
        ]
        .into();
        assert!(order_problems(&ok, |_| true).is_empty());
    }

    #[test]
    fn times_in_the_future_or_decades_old_are_refused() {
        let now = Utc::now();
        assert!(range_problem(STARTED, now + TimeDelta::hours(1), now, now).is_some());
        assert!(range_problem(STARTED, now + TimeDelta::minutes(1), now, now).is_none());
        assert!(range_problem(STARTED, now - TimeDelta::days(4000), now, now).is_some());
        assert!(range_problem(STARTED, now - TimeDelta::days(400), now, now).is_none());
    }
}
