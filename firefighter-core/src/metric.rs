//! Metrics: durations between two key events (time to detect, to fix...).

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::KeyEvent;

/// A kind of metric: `end - start` between two key event types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricType {
    /// Unique slug (`time_to_fix`).
    pub slug: String,
    /// Short code (`TTF`).
    pub code: String,
    /// Name.
    pub name: String,
    /// What it measures.
    pub description: String,
    /// The key event that ends the duration.
    pub end_event: String,
    /// The key event that starts it.
    pub start_event: String,
}

/// A computed metric of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metric {
    /// The metric's slug.
    pub slug: String,
    /// The duration.
    pub duration: Duration,
}

/// Computes every metric whose two key events are recorded and in order.
/// A negative duration means the key events contradict each other: it is left out.
pub fn compute(types: &[MetricType], events: &[KeyEvent]) -> Vec<Metric> {
    let at = |slug: &str| events.iter().find(|e| e.event_type == slug).map(|e| e.at);
    types
        .iter()
        .filter_map(|t| {
            let duration = at(&t.end_event)? - at(&t.start_event)?;
            (duration >= Duration::zero()).then(|| Metric {
                slug: t.slug.clone(),
                duration,
            })
        })
        .collect()
}

/// Formats a duration as `HH:MM:SS` (hours may exceed 24), as FireFighter's API does.
pub fn format_hms(duration: Duration) -> String {
    let total = duration.num_seconds().max(0);
    format!(
        "{:02}:{:02}:{:02}",
        total / 3600,
        (total % 3600) / 60,
        total % 60
    )
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn ev(slug: &str, minute: u32) -> KeyEvent {
        KeyEvent {
            event_type: slug.into(),
            at: Utc.with_ymd_and_hms(2026, 1, 1, 10, minute, 0).unwrap(),
            recorded_by: None,
        }
    }

    fn ttd() -> MetricType {
        MetricType {
            slug: "time_to_detect".into(),
            code: "TTD".into(),
            name: "Time to detect".into(),
            description: String::new(),
            end_event: "detected".into(),
            start_event: "started".into(),
        }
    }

    #[test]
    fn computes_duration_between_key_events() {
        let m = compute(&[ttd()], &[ev("started", 0), ev("detected", 15)]);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].duration, Duration::minutes(15));
        assert_eq!(format_hms(m[0].duration), "00:15:00");
    }

    #[test]
    fn skips_missing_or_negative() {
        assert!(compute(&[ttd()], &[ev("started", 0)]).is_empty());
        assert!(compute(&[ttd()], &[ev("started", 30), ev("detected", 15)]).is_empty());
    }

    #[test]
    fn formats_long_durations() {
        assert_eq!(format_hms(Duration::seconds(26 * 3600 + 61)), "26:01:01");
    }
}
