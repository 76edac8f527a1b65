//! Office hours, and the hint given when an incident's channel opens outside them.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use firefighter_core::event::ChannelInfo;
use firefighter_core::{Firefighter, IncidentId};
use serde::Serialize;

use crate::Result;
use crate::paging::ServiceChoice;
use crate::store::HintRow;

/// Whether `at` falls in office hours in `tz`: Monday to Friday, 9:00 to
/// 18:00 (FireFighter: hours 9 through 17 inclusive).
pub fn is_office_hours(at: DateTime<Utc>, tz: chrono_tz::Tz) -> bool {
    let local = at.with_timezone(&tz);
    !matches!(local.weekday(), Weekday::Sat | Weekday::Sun) && (9..18).contains(&local.hour())
}

/// What to show in an incident's channel when it opened outside office
/// hours: people may not be at their desks, so offer to page the on-call.
/// The Slack integration posts it; this crate only decides and records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OffHoursHint {
    /// The incident.
    pub incident_id: IncidentId,
    /// Its channel.
    pub channel: ChannelInfo,
    /// When the channel opened.
    pub opened_at: DateTime<Utc>,
    /// That instant in `TIME_ZONE`, for people (`Saturday 22:14 (Europe/Paris)`).
    pub local_time: String,
    /// The message, in plain text.
    pub text: String,
    /// The web form that pages a service for this incident.
    pub trigger_url: String,
    /// Services that can still be paged for this incident.
    pub services: Vec<ServiceChoice>,
}

/// The hint text.
pub(crate) fn hint_text(local_time: &str, trigger_url: &str) -> String {
    format!(
        "This incident started outside office hours ({local_time}): responders may not be around. \
         If it cannot wait, page the on-call with /incident oncall or at {trigger_url}"
    )
}

/// The off-hours hint recorded for an incident, if its channel opened
/// outside office hours (recorded by the `pagerduty.off_hours_hint` handler).
pub async fn off_hours_hint(
    app: &Firefighter,
    incident: IncidentId,
) -> Result<Option<OffHoursHint>> {
    let store = crate::store_of(app)?;
    let Some(row) = store.hint(incident).await? else {
        return Ok(None);
    };
    let tz = app.time_zone();
    let local_time = local_time(row.opened_at, tz);
    let trigger_url = trigger_url(app.settings().base_url(), incident);
    Ok(Some(OffHoursHint {
        incident_id: incident,
        channel: ChannelInfo {
            platform: row.channel_platform,
            id: row.channel_id,
            name: row.channel_name,
            url: row.channel_url,
        },
        opened_at: row.opened_at,
        text: hint_text(&local_time, &trigger_url),
        local_time,
        trigger_url,
        services: crate::paging::services_not_yet_paged(app, incident).await?,
    }))
}

/// Records, once per incident, that its channel opened outside office
/// hours, and puts the hint on the timeline (event type `oncall_hint`).
/// Returns whether a hint was recorded by this call (false during office
/// hours or when it was already recorded).
pub async fn record_off_hours_hint(
    app: &Firefighter,
    incident: IncidentId,
    channel: &ChannelInfo,
    opened_at: DateTime<Utc>,
) -> Result<bool> {
    let tz = app.time_zone();
    if is_office_hours(opened_at, tz) {
        return Ok(false);
    }
    let store = crate::store_of(app)?;
    store
        .insert_hint(&HintRow {
            incident_id: incident.0,
            channel_platform: channel.platform.clone(),
            channel_id: channel.id.clone(),
            channel_name: channel.name.clone(),
            channel_url: channel.url.clone(),
            opened_at,
            timeline_recorded: false,
        })
        .await?;
    if store
        .hint(incident)
        .await?
        .is_some_and(|h| h.timeline_recorded)
    {
        return Ok(false);
    }
    let text = hint_text(
        &local_time(opened_at, tz),
        &trigger_url(app.settings().base_url(), incident),
    );
    app.post_message(
        incident,
        None,
        &text,
        Some(crate::provider::OFF_HOURS_EVENT_TYPE),
    )
    .await?;
    store.mark_hint_recorded(incident).await?;
    Ok(true)
}

pub(crate) fn local_time(at: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    format!("{} ({tz})", at.with_timezone(&tz).format("%A %H:%M"))
}

pub(crate) fn trigger_url(base_url: &str, incident: IncidentId) -> String {
    format!(
        "{}/oncall/trigger/?incident={}",
        base_url.trim_end_matches('/'),
        incident.0
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn office_hours_are_weekdays_nine_to_six_local_time() {
        let paris = chrono_tz::Europe::Paris;
        // Monday 5 January 2026: Paris is UTC+1.
        let utc = |d, h, m| Utc.with_ymd_and_hms(2026, 1, d, h, m, 0).unwrap();
        assert!(!is_office_hours(utc(5, 7, 59), paris)); // 08:59 Paris
        assert!(is_office_hours(utc(5, 8, 0), paris)); // 09:00
        assert!(is_office_hours(utc(5, 16, 59), paris)); // 17:59
        assert!(!is_office_hours(utc(5, 17, 0), paris)); // 18:00
        assert!(!is_office_hours(utc(10, 10, 0), paris)); // Saturday
        assert!(!is_office_hours(utc(11, 10, 0), paris)); // Sunday
        // The same instant is in office hours in UTC, not in Tokyo (19:00).
        assert!(is_office_hours(utc(5, 10, 0), chrono_tz::UTC));
        assert!(!is_office_hours(utc(5, 10, 0), chrono_tz::Asia::Tokyo));
        // Summer time: 07:30 UTC is 09:30 in Paris in July.
        let july = Utc.with_ymd_and_hms(2026, 7, 6, 7, 30, 0).unwrap();
        assert!(is_office_hours(july, paris));
        // Friday 17:59 yes, Friday 18:00 no.
        assert!(is_office_hours(utc(9, 16, 59), paris));
        assert!(!is_office_hours(utc(9, 17, 0), paris));
    }

    #[test]
    fn the_hint_names_the_time_and_the_form() {
        let at = Utc.with_ymd_and_hms(2026, 1, 10, 21, 14, 0).unwrap();
        let local = local_time(at, chrono_tz::Europe::Paris);
        assert_eq!(local, "Saturday 22:14 (Europe/Paris)");
        let url = trigger_url("https://ff.example.com/", IncidentId(7));
        assert_eq!(url, "https://ff.example.com/oncall/trigger/?incident=7");
        assert!(hint_text(&local, &url).contains("/incident oncall"));
    }
}
