//! # firefighter-core
//!
//! The heart of firefighter, incident management as a library: the incident
//! model, the lifecycle state machine, storage on SQLite or PostgreSQL, durable
//! events (an outbox) with their handlers, periodic tasks, and the registry of
//! invitation strategies. It knows no vendor: Slack, PagerDuty, Confluence and
//! Jira live in their own crates and plug in through the traits defined here.
//!
//! ```no_run
//! use firefighter_core::{Declaration, Firefighter, Settings, Status, Update};
//!
//! # async fn demo() -> firefighter_core::Result<()> {
//! let app = Firefighter::builder(Settings::default()).build().await?;
//! let catalog = app.catalog().await?;
//! let user = app.store().create_user(&firefighter_core::NewUser::person(
//!     firefighter_core::Email::parse("jane@example.com")?,
//! )).await?;
//! let declared = app
//!     .declare(Declaration {
//!         title: "Checkout fails for every card payment".into(),
//!         category_id: Some(catalog.categories[0].id),
//!         created_by: Some(user.id),
//!         ..Declaration::default()
//!     })
//!     .await?;
//! app.update(declared.incident.id, Update {
//!     status: Some(Status::Investigating),
//!     message: Some("Looking at the payment gateway logs".into()),
//!     by: Some(user.id),
//!     ..Update::default()
//! }).await?;
//! # Ok(()) }
//! ```
//!
//! ## Writing an integration
//!
//! An integration crate implements [`EventHandler`] (react to incident events),
//! [`InviteProvider`] (propose responders), [`PeriodicTask`] (syncs, reminders),
//! [`PostMortemProvider`] (post-mortem readiness) or [`OnCall`] (an on-call
//! vendor: roster and paging; at most one is on), and registers them with
//! [`register_event_handler!`], [`register_invite_provider!`],
//! [`register_task!`] and [`register_oncall!`], or at run time on
//! [`FirefighterBuilder`]. Integrations use another's capability through core
//! ([`Firefighter::oncall`]), never through its crate. A crate's
//! static registrations only exist if the final binary links it: reference it
//! (the `firefighter` facade does this for every enabled feature).
//!
//! | Feature | What it adds |
//! |---|---|
//! | `test-util` | `mockall` mocks of the core traits (`MockStore`, `MockEventHandler`, `MockOnCall`, ...) |
//! | `postgres-tests` | runs the PostgreSQL half of the store test suite (needs `FIREFIGHTER_TEST_POSTGRES_URL`) |

pub mod access;
mod app;
pub mod category;
pub mod clock;
pub mod config;
pub mod cost;
pub mod env_vars;
pub mod environment;
mod error;
pub mod event;
mod id;
pub mod impact;
pub mod inbox;
pub mod incident;
pub mod instance;
pub mod invite;
pub mod key_event;
pub mod lifecycle;
pub mod metric;
pub mod notify;
pub mod oncall;
pub mod outbox;
pub mod plugin;
pub mod postmortem;
pub mod priority;
pub mod role;
pub mod seed;
pub mod store;
pub mod task;
pub mod timeline;
pub mod user;

#[doc(hidden)]
pub use inventory as __inventory;

pub use access::{ApiToken, ApiTokenId, Session, Viewer};
pub use app::{
    Declaration, DeclareOutcome, Firefighter, FirefighterBuilder, PostMortemCreation,
    PostMortemReport, Update,
};
pub use category::{Group, IncidentCategory};
pub use config::Settings;
pub use cost::{CostType, IncidentCost};
pub use environment::Environment;
pub use error::{Error, FieldError, Result};
pub use event::{EventHandler, IncidentEvent, Retryable, StoredEvent};
pub use id::{
    CategoryId, CostId, CostTypeId, EnvironmentId, GroupId, IncidentId, PriorityId, RoleTypeId,
    UpdateId, UserId,
};
pub use impact::{ImpactLevel, ImpactLevelOption, ImpactType};
pub use incident::{
    ClosureReference, DedupKey, Description, Incident, IncidentDetails, IncidentFilter,
    IncidentOrder, Message, PostMortemFilter, Tag, Title,
};
pub use invite::{InviteProvider, InviteRegistry};
pub use key_event::{KeyEvent, MilestoneType};
pub use lifecycle::{ClosureReason, Status};
pub use metric::{Metric, MetricType};
pub use notify::{Notification, Notifier};
pub use oncall::OnCall;
pub use postmortem::PostMortemProvider;
pub use priority::{Priority, ResponseType};
pub use role::{RoleAssignment, RoleType};
pub use store::Store;
pub use task::{PeriodicTask, TaskError, TaskReport};
pub use timeline::{FieldChange, TimelineEntry};
pub use user::{Email, NewUser, User};
