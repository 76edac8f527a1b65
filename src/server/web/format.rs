//! How values are written on pages: instants in the configured time zone,
//! durations, amounts.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// `2026-03-19 10:04 CET`.
pub(crate) fn instant(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// The value of an `<input type="datetime-local">`: `2026-03-19T10:04`.
pub(crate) fn datetime_local(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string()
}

/// Parses an `<input type="datetime-local">` value (minutes, optional
/// seconds) read in `tz`.
pub(crate) fn parse_datetime_local(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let t = text.trim();
    let naive = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// A timeline value: RFC 3339 instants (key events) in the time zone, other text as is.
pub(crate) fn change_value(value: Option<&str>, tz: Tz) -> String {
    match value {
        None => "—".to_owned(),
        Some(v) => match DateTime::parse_from_rfc3339(v) {
            Ok(t) => instant(t.with_timezone(&Utc), tz),
            Err(_) => v.to_owned(),
        },
    }
}

/// A rough age: `3 min`, `5 h`, `2 days`.
pub(crate) fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - since).num_minutes().max(0);
    match minutes {
        0..=59 => format!("{minutes} min"),
        60..=2879 => format!("{} h", minutes / 60),
        _ => format!("{} days", minutes / 1440),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_local_round_trips_in_the_time_zone() {
        let tz = chrono_tz::Europe::Paris;
        let at = Utc.with_ymd_and_hms(2026, 1, 5, 9, 30, 0).unwrap();
        assert_eq!(datetime_local(at, tz), "2026-01-05T10:30");
        assert_eq!(parse_datetime_local("2026-01-05T10:30", tz), Some(at));
        assert_eq!(parse_datetime_local("2026-01-05T10:30:00", tz), Some(at));
        assert_eq!(parse_datetime_local("yesterday", tz), None);
        assert_eq!(instant(at, tz), "2026-01-05 10:30 CET");
    }

    #[test]
    fn timeline_values_show_instants_in_the_time_zone() {
        let tz = chrono_tz::UTC;
        assert_eq!(
            change_value(Some("2026-01-05T09:30:00+00:00"), tz),
            "2026-01-05 09:30 UTC"
        );
        assert_eq!(change_value(Some("P1"), tz), "P1");
        assert_eq!(change_value(None, tz), "—");
    }

    #[test]
    fn ages_are_rough() {
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 9, 30, 0).unwrap();
        assert_eq!(age(now - chrono::Duration::minutes(3), now), "3 min");
        assert_eq!(age(now - chrono::Duration::hours(5), now), "5 h");
        assert_eq!(age(now - chrono::Duration::days(9), now), "9 days");
    }
}
