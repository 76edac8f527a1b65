//! The on-call capability: one vendor registered (statically or at run time),
//! visible to plugins while they are built, and the off-hours hint written
//! with the channel it belongs to.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use firefighter_core::event::{ChannelInfo, IncidentEvent};
use firefighter_core::oncall::{
    self, OnCall, OnCallError, OnCallRegistration, PageOutcome, PageRequest, PageableService,
    Roster,
};
use firefighter_core::plugin::PluginContext;
use firefighter_core::timeline::event_type;
use firefighter_core::{Firefighter, IncidentId, Settings};

use super::support::*;

/// An on-call vendor that knows nobody and pages nothing.
struct Quiet(&'static str);

#[async_trait]
impl OnCall for Quiet {
    fn name(&self) -> &str {
        self.0
    }
    fn display_name(&self) -> &str {
        "Quiet"
    }
    async fn roster(&self) -> Result<Roster, OnCallError> {
        Ok(Roster::empty(Utc::now()))
    }
    async fn services_to_page(&self, _: IncidentId) -> Result<Vec<PageableService>, OnCallError> {
        Ok(Vec::new())
    }
    async fn page(&self, _: PageRequest) -> Result<PageOutcome, OnCallError> {
        Err(OnCallError::Invalid("nothing can be paged".into()))
    }
}

fn build_quiet(_: &PluginContext) -> firefighter_core::Result<Option<Arc<dyn OnCall>>> {
    Ok(Some(Arc::new(Quiet("test.oncall"))))
}

fn build_switched_off(_: &PluginContext) -> firefighter_core::Result<Option<Arc<dyn OnCall>>> {
    Ok(None)
}

firefighter_core::register_oncall!(OnCallRegistration {
    name: "test.oncall",
    build: build_quiet,
});
firefighter_core::register_oncall!(OnCallRegistration {
    name: "test.oncall_off",
    build: build_switched_off,
});

#[test]
fn static_oncall_registrations_are_all_found() {
    assert_eq!(
        oncall::registered_names(),
        vec!["test.oncall", "test.oncall_off"]
    );
}

#[tokio::test]
async fn no_oncall_vendor_unless_one_is_registered() {
    let app = app().await;
    assert!(app.oncall().is_none());
    let app = builder(sqlite_store().await)
        .oncall(Arc::new(Quiet("runtime")))
        .build()
        .await
        .unwrap();
    assert_eq!(app.oncall().map(|o| o.name()), Some("runtime"));
}

#[tokio::test]
async fn the_registered_oncall_vendor_is_built_and_switched_off_ones_skipped() {
    let app = Firefighter::builder(Settings::default())
        .store(sqlite_store().await)
        .build()
        .await
        .unwrap();
    assert_eq!(app.oncall().map(|o| o.name()), Some("test.oncall"));
}

#[tokio::test]
async fn two_oncall_vendors_are_refused_with_both_names() {
    // A static one and a run-time one.
    let err = Firefighter::builder(Settings::default())
        .store(sqlite_store().await)
        .oncall(Arc::new(Quiet("runtime")))
        .build()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, firefighter_core::Error::Config(_)), "{err:?}");
    assert!(
        text.contains("test.oncall") && text.contains("runtime"),
        "{text}"
    );
    // Two at run time.
    let err = builder(sqlite_store().await)
        .oncall(Arc::new(Quiet("one")))
        .oncall(Arc::new(Quiet("two")))
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("one, two"), "{err}");
}

// ------------------------------------------------------------------ off-hours hint

fn paris() -> Settings {
    Settings {
        time_zone: "Europe/Paris".into(),
        ..Settings::default()
    }
}

fn channel() -> ChannelInfo {
    ChannelInfo {
        platform: "chat".into(),
        id: "C123".into(),
        name: "inc-20260110-1".into(),
        url: "https://chat.example.com/C123".into(),
    }
}

async fn hints(app: &Firefighter, id: IncidentId) -> (usize, usize, usize) {
    let events = app.store().incident_events(id).await.unwrap();
    let ready = events
        .iter()
        .filter(|e| matches!(e.event, IncidentEvent::ChannelReady { .. }))
        .count();
    let hinted = events
        .iter()
        .filter(|e| matches!(e.event, IncidentEvent::OffHoursHint { .. }))
        .count();
    let on_timeline = app
        .timeline(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type.as_deref() == Some(event_type::ONCALL_HINT))
        .count();
    (ready, hinted, on_timeline)
}

#[tokio::test]
async fn a_channel_opened_outside_office_hours_gets_one_hint_when_on_call_is_on() {
    let app = Firefighter::builder(paris())
        .store(sqlite_store().await)
        .with_registered_plugins(false)
        .oncall(Arc::new(Quiet("quiet")))
        .build()
        .await
        .unwrap();
    let jane = person(&app, "jane").await;
    let id = app
        .declare(declaration(&app, &jane, "P1", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;

    // Monday 10:00 in Paris: office hours, the channel only.
    let monday = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
    let hint = app
        .channel_ready(id, channel(), Some(("Channel ready.", None)), monday)
        .await
        .unwrap();
    assert_eq!(hint, None);
    assert_eq!(hints(&app, id).await, (1, 0, 0));

    // Saturday 22:14 in Paris: the hint, typed, with the channel and the local time.
    let saturday = Utc.with_ymd_and_hms(2026, 1, 10, 21, 14, 0).unwrap();
    let hint = app
        .channel_ready(id, channel(), None, saturday)
        .await
        .unwrap()
        .expect("a hint outside office hours");
    assert_eq!(hint.local_time, "Saturday 22:14 (Europe/Paris)");
    assert_eq!(hint.opened_at, saturday);
    assert_eq!(hint.channel, channel());
    assert_eq!(hints(&app, id).await, (2, 1, 1));
    let events = app.store().incident_events(id).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.event, IncidentEvent::OffHoursHint { hint: h } if *h == hint))
    );

    // Once per incident: another channel later adds no second hint.
    let again = app
        .channel_ready(id, channel(), None, saturday)
        .await
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(hints(&app, id).await, (3, 1, 1));
}

#[tokio::test]
async fn no_hint_without_an_oncall_vendor() {
    let app = Firefighter::builder(paris())
        .store(sqlite_store().await)
        .with_registered_plugins(false)
        .build()
        .await
        .unwrap();
    let jane = person(&app, "jane").await;
    let id = app
        .declare(declaration(&app, &jane, "P1", "PRD").await)
        .await
        .unwrap()
        .incident
        .id;
    let saturday = Utc.with_ymd_and_hms(2026, 1, 10, 21, 14, 0).unwrap();
    let hint = app
        .channel_ready(id, channel(), None, saturday)
        .await
        .unwrap();
    assert_eq!(hint, None);
    assert_eq!(hints(&app, id).await, (1, 0, 0));
}

#[tokio::test]
async fn a_channel_of_an_unknown_incident_is_refused_and_nothing_is_written() {
    let app = builder(sqlite_store().await)
        .oncall(Arc::new(Quiet("quiet")))
        .build()
        .await
        .unwrap();
    let saturday = Utc.with_ymd_and_hms(2026, 1, 10, 21, 14, 0).unwrap();
    let err = app
        .channel_ready(IncidentId(4242), channel(), Some(("x", None)), saturday)
        .await
        .unwrap_err();
    assert!(
        matches!(err, firefighter_core::Error::NotFound { .. }),
        "{err:?}"
    );
    assert!(
        app.store()
            .incident_events(IncidentId(4242))
            .await
            .unwrap()
            .is_empty()
    );
}
