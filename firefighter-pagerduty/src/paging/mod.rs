//! Paging a service's on-call, by anyone, exactly once per incident and service.
//!
//! A page is first written to `pd_pages` (status `pending`, unique key), then
//! sent while holding a short lease on the row, then marked `sent` and put on
//! the incident's timeline. A page PagerDuty could not take (network, 429,
//! 5xx) stays `pending` and the `pagerduty.trigger_oncall` task sends it
//! later; a page PagerDuty refused (4xx) is marked `failed` with the reason
//! and can be asked for again. PagerDuty's own de-duplication (`incident_key`
//! on REST, `dedup_key` on Events v2) covers the window where an answer is lost.
//!
//! One file per step: `services` (which services can be paged),
//! `request` (checking a request and recording it once), `details` (the
//! text PagerDuty receives), `delivery` (the lease, retries and the
//! timeline) and `trigger` (the Events API or REST call itself); `page`
//! holds pages as people see them.

pub use firefighter_core::oncall::PageRequest;

mod delivery;
mod details;
mod page;
mod request;
mod services;
mod trigger;

pub use delivery::{DeliveryReport, PAGE_EVENT_TYPE};
pub use page::{PageInfo, PageOutcome, PageStatus, pages, recent_pages};
pub use request::{MAX_DETAILS_CHARS, MAX_SUMMARY_CHARS, trigger_oncall};
pub(crate) use services::services_left;
pub use services::{ServiceChoice, services, services_not_yet_paged, set_service_ignored};
