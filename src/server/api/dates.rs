//! The free-text date ranges of the `created_at` filter, as the original's
//! (`src/firefighter/incidents/views/date_filter.py`): one moment, or `A - B`.
//!
//! A moment is `today`, `yesterday`, `current_week`, `last_week`,
//! `current_month`, `last_month`, `current_quarter`, `last_quarter`,
//! `current_year`, `last_year`, `YYYY` (calendar year), `iYYYY` (ISO year),
//! `[YYYY/]Qn` (ISO-week quarters: Q1 is weeks 1 to 13), `[YYYY/]Wn` (ISO
//! week), `YYYY-MM`, `YYYY-MM-DD`, an RFC 3339 instant, `May 2022`,
//! `1 May [2022]`, `May 1[, 2022]`. It stands for the whole period; `A - B`
//! runs from the start of A to the end of B. Days begin at midnight in `TIME_ZONE`.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// A half-open range `[start, end)`.
pub(crate) type Range = (DateTime<Utc>, DateTime<Utc>);

/// A range of local days `[first, after_last)`.
type Days = (NaiveDate, NaiveDate);

/// Parses `text` relative to `today` (in `tz`).
pub(crate) fn parse_range(text: &str, today: NaiveDate, tz: Tz) -> Result<Range, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the date range is empty".into());
    }
    let (start, end) = match split_range(text) {
        Some((a, b)) => {
            let (start, _) = moment(a, today, tz)?;
            let (_, end) = moment(b, today, tz)?;
            (start, end)
        }
        None => moment(text, today, tz)?,
    };
    if end <= start {
        return Err(format!("\"{text}\" ends before it starts"));
    }
    Ok((start, end))
}

/// `A - B`, split on a dash surrounded by spaces (ISO dates contain dashes).
fn split_range(text: &str) -> Option<(&str, &str)> {
    let (a, b) = text.split_once(" - ")?;
    Some((a.trim(), b.trim()))
}

fn moment(text: &str, today: NaiveDate, tz: Tz) -> Result<Range, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        let t = t.with_timezone(&Utc);
        return Ok((t, t + Duration::microseconds(1)));
    }
    let days = days(text, today).ok_or_else(|| {
        format!(
            "\"{text}\" is not a date range I understand; try last_week, current_quarter, 2026/Q1, W12, 2026, \
             2026-03-01, May 2026 or \"2026-01-01 - 2026-02-15\""
        )
    })?;
    Ok((local_midnight(days.0, tz)?, local_midnight(days.1, tz)?))
}

fn local_midnight(day: NaiveDate, tz: Tz) -> Result<DateTime<Utc>, String> {
    let naive = day.and_hms_opt(0, 0, 0).ok_or("invalid day")?;
    // A midnight skipped by a daylight-saving change resolves to the earliest valid instant.
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{day} has no midnight in {tz}"))
}

fn iso_week_start(year: i32, week: u32) -> Option<NaiveDate> {
    NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
}

fn weeks_in(year: i32) -> u32 {
    NaiveDate::from_ymd_opt(year, 12, 28)
        .map(|d| d.iso_week().week())
        .unwrap_or(52)
}

fn week(year: i32, week: u32) -> Option<Days> {
    if week == 0 || week > weeks_in(year) {
        return None;
    }
    let start = iso_week_start(year, week)?;
    Some((start, start + Duration::days(7)))
}

/// ISO-week quarters: Q1 = weeks 1–13, Q2 = 14–26, Q3 = 27–39, Q4 = 40–52/53.
fn quarter(year: i32, q: u32) -> Option<Days> {
    if !(1..=4).contains(&q) {
        return None;
    }
    let start = iso_week_start(year, (q - 1) * 13 + 1)?;
    let end = if q == 4 {
        iso_week_start(year + 1, 1)?
    } else {
        iso_week_start(year, q * 13 + 1)?
    };
    Some((start, end))
}

fn quarter_of(day: NaiveDate) -> (i32, u32) {
    let w = day.iso_week();
    (w.year(), ((w.week() - 1) / 13 + 1).min(4))
}

fn month(year: i32, m: u32) -> Option<Days> {
    let start = NaiveDate::from_ymd_opt(year, m, 1)?;
    let end = if m == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, m + 1, 1)?
    };
    Some((start, end))
}

fn year(y: i32) -> Option<Days> {
    Some((
        NaiveDate::from_ymd_opt(y, 1, 1)?,
        NaiveDate::from_ymd_opt(y + 1, 1, 1)?,
    ))
}

fn day(d: NaiveDate) -> Days {
    (d, d + Duration::days(1))
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let n = name.trim_end_matches('.').to_lowercase();
    if n.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(&n))
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn number<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days(text: &str, today: NaiveDate) -> Option<Days> {
    let t = text.trim().to_lowercase();
    let this_week = today.iso_week();
    match t.as_str() {
        "today" => return Some(day(today)),
        "yesterday" => return Some(day(today - Duration::days(1))),
        "current_week" | "this_week" => return week(this_week.year(), this_week.week()),
        "last_week" => {
            let w = (today - Duration::days(7)).iso_week();
            return week(w.year(), w.week());
        }
        "current_month" | "this_month" => return month(today.year(), today.month()),
        "last_month" => {
            let d = today.with_day(1)? - Duration::days(1);
            return month(d.year(), d.month());
        }
        "current_quarter" | "this_quarter" => {
            let (y, q) = quarter_of(today);
            return quarter(y, q);
        }
        "last_quarter" => {
            let (y, q) = quarter_of(today);
            return if q == 1 {
                quarter(y - 1, 4)
            } else {
                quarter(y, q - 1)
            };
        }
        "current_year" | "this_year" => return year(today.year()),
        "last_year" => return year(today.year() - 1),
        _ => {}
    }
    // [YYYY/]Qn and [YYYY/]Wn
    let (y, rest) = match t.split_once('/') {
        Some((y, rest)) => (Some(number::<i32>(y)?), rest),
        None => (None, t.as_str()),
    };
    if let Some(q) = rest.strip_prefix('q') {
        let y = y.unwrap_or_else(|| quarter_of(today).0);
        return quarter(y, number(q)?);
    }
    if let Some(w) = rest.strip_prefix('w') {
        let y = y.unwrap_or(this_week.year());
        return week(y, number(w)?);
    }
    if y.is_some() {
        return None;
    }
    if let Some(iy) = t.strip_prefix('i') {
        let iy: i32 = number(iy)?;
        return Some((iso_week_start(iy, 1)?, iso_week_start(iy + 1, 1)?));
    }
    if t.len() == 4 {
        return year(number(&t)?);
    }
    // YYYY-MM-DD and YYYY-MM
    let parts: Vec<&str> = t.split('-').collect();
    match parts.as_slice() {
        [y, m, d] if y.len() == 4 => {
            return NaiveDate::from_ymd_opt(number(y)?, number(m)?, number(d)?).map(day);
        }
        [y, m] if y.len() == 4 => return month(number(y)?, number(m)?),
        _ => {}
    }
    // Month names: "may 2022", "1 may", "1 may 2022", "may 1", "may 1, 2022".
    let words: Vec<&str> = t
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let day_number = |w: &str| number::<u32>(w.trim_end_matches(['s', 't', 'n', 'd', 'r', 'h']));
    match words.as_slice() {
        [m] => month(today.year(), month_number(m)?),
        [a, b] => {
            if let Some(m) = month_number(a) {
                if b.len() == 4 {
                    month(number(b)?, m)
                } else {
                    NaiveDate::from_ymd_opt(today.year(), m, day_number(b)?).map(day)
                }
            } else {
                NaiveDate::from_ymd_opt(today.year(), month_number(b)?, day_number(a)?).map(day)
            }
        }
        [a, b, c] => {
            let (m, d) = match month_number(a) {
                Some(m) => (m, day_number(b)?),
                None => (month_number(b)?, day_number(a)?),
            };
            NaiveDate::from_ymd_opt(number(c)?, m, d).map(day)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn utc(y: i32, m: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, day, 0, 0, 0).unwrap()
    }

    /// Thursday 2026-03-19, ISO week 12 of 2026.
    fn today() -> NaiveDate {
        d(2026, 3, 19)
    }

    fn p(text: &str) -> Range {
        parse_range(text, today(), chrono_tz::UTC).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn named_periods() {
        assert_eq!(p("today"), (utc(2026, 3, 19), utc(2026, 3, 20)));
        assert_eq!(p("current_week"), (utc(2026, 3, 16), utc(2026, 3, 23)));
        assert_eq!(p("last_week"), (utc(2026, 3, 9), utc(2026, 3, 16)));
        assert_eq!(p("last_month"), (utc(2026, 2, 1), utc(2026, 3, 1)));
        // ISO 2026 starts on Monday 2025-12-29; Q1 is weeks 1-13.
        assert_eq!(p("current_quarter"), (utc(2025, 12, 29), utc(2026, 3, 30)));
        assert_eq!(p("last_quarter"), (utc(2025, 9, 29), utc(2025, 12, 29)));
    }

    #[test]
    fn years_quarters_weeks() {
        assert_eq!(p("2026"), (utc(2026, 1, 1), utc(2027, 1, 1)));
        assert_eq!(p("i2026"), (utc(2025, 12, 29), utc(2027, 1, 4)));
        assert_eq!(p("2026/Q1"), p("Q1"));
        assert_eq!(p("2026/q2"), (utc(2026, 3, 30), utc(2026, 6, 29)));
        assert_eq!(p("W12"), p("current_week"));
        assert_eq!(p("2020/W53"), (utc(2020, 12, 28), utc(2021, 1, 4)));
        assert!(
            parse_range("2025/W53", today(), chrono_tz::UTC).is_err(),
            "2025 has 52 ISO weeks"
        );
    }

    #[test]
    fn dates_months_and_ranges() {
        assert_eq!(p("2026-03-01"), (utc(2026, 3, 1), utc(2026, 3, 2)));
        assert_eq!(p("2026-02"), (utc(2026, 2, 1), utc(2026, 3, 1)));
        assert_eq!(p("May 2022"), (utc(2022, 5, 1), utc(2022, 6, 1)));
        assert_eq!(p("1 may"), (utc(2026, 5, 1), utc(2026, 5, 2)));
        assert_eq!(p("May 1, 2022"), (utc(2022, 5, 1), utc(2022, 5, 2)));
        assert_eq!(
            p("2026-01-01 - 2026-02-15"),
            (utc(2026, 1, 1), utc(2026, 2, 16))
        );
        assert_eq!(
            p("2025/Q4 - current_week"),
            (utc(2025, 9, 29), utc(2026, 3, 23))
        );
        let (start, end) = p("2026-03-01T10:00:00Z");
        assert_eq!(end - start, Duration::microseconds(1));
    }

    #[test]
    fn time_zone_moves_midnight() {
        let (start, _) = parse_range("2026-03-01", today(), chrono_tz::Europe::Paris).unwrap();
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 2, 28, 23, 0, 0).unwrap());
    }

    #[test]
    fn nonsense_is_explained() {
        for bad in [
            "",
            "next tuesday",
            "Q5",
            "W0",
            "2026-13",
            "2026-02-30",
            "2026/x",
            "2026-03-02 - 2026-03-01",
        ] {
            let err = parse_range(bad, today(), chrono_tz::UTC).unwrap_err();
            assert!(!err.is_empty(), "{bad}");
        }
    }
}
