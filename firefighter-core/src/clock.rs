//! Time as the store keeps it: microseconds, on both backends.

use chrono::{DateTime, Utc};

/// Timestamps are stored with microsecond precision on both backends.
pub fn now() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

/// Drops sub-microsecond precision so values round-trip through both databases.
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{SubsecRound, Timelike};
    let nanos = t.nanosecond() % 1_000_000_000;
    t.trunc_subsecs(6)
        .with_nanosecond(nanos / 1000 * 1000)
        .unwrap_or(t)
}
