//! Static registration through `inventory`: what this test binary registers
//! must be found, and disappearing registrations must fail a test.

use std::sync::Arc;

use async_trait::async_trait;
use firefighter_core::event::{Delivery, EventHandlerRegistration, HandlerError};
use firefighter_core::invite::{
    InviteCandidate, InviteContext, InviteProviderRegistration, ProviderError,
};
use firefighter_core::plugin::PluginContext;
use firefighter_core::task::{PeriodicTask, Schedule, TaskError, TaskRegistration, TaskReport};
use firefighter_core::{EventHandler, InviteProvider, InviteRegistry};

use super::support::*;

struct EveryoneInSre;

#[async_trait]
impl InviteProvider for EveryoneInSre {
    fn name(&self) -> &str {
        "test.sre"
    }
    async fn invitees(&self, _: &InviteContext) -> Result<Vec<InviteCandidate>, ProviderError> {
        Ok(vec![])
    }
}

struct Noop;

#[async_trait]
impl EventHandler for Noop {
    fn name(&self) -> &str {
        "test.noop"
    }
    async fn handle(&self, _: &Delivery) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[async_trait]
impl PeriodicTask for Noop {
    fn name(&self) -> &str {
        "test.noop_task"
    }
    fn description(&self) -> &str {
        "does nothing"
    }
    fn default_schedule(&self) -> Option<Schedule> {
        None
    }
    async fn run(&self) -> Result<TaskReport, TaskError> {
        Ok(TaskReport::note("nothing to do"))
    }
}

fn build_sre(_: &PluginContext) -> firefighter_core::Result<Option<Arc<dyn InviteProvider>>> {
    Ok(Some(Arc::new(EveryoneInSre)))
}

fn build_switched_off(
    _: &PluginContext,
) -> firefighter_core::Result<Option<Arc<dyn InviteProvider>>> {
    Ok(None)
}

fn build_noop(_: &PluginContext) -> firefighter_core::Result<Option<Arc<dyn EventHandler>>> {
    Ok(Some(Arc::new(Noop)))
}

fn build_noop_task(_: &PluginContext) -> firefighter_core::Result<Option<Arc<dyn PeriodicTask>>> {
    Ok(Some(Arc::new(Noop)))
}

firefighter_core::register_invite_provider!(InviteProviderRegistration {
    name: "test.sre",
    build: build_sre,
});
firefighter_core::register_invite_provider!(InviteProviderRegistration {
    name: "test.off",
    build: build_switched_off,
});
firefighter_core::register_event_handler!(EventHandlerRegistration {
    name: "test.noop",
    build: build_noop,
});
firefighter_core::register_task!(TaskRegistration {
    name: "test.noop_task",
    build: build_noop_task,
});

#[test]
fn static_registrations_are_all_found() {
    assert_eq!(
        InviteRegistry::registered_names(),
        vec!["test.off", "test.sre"]
    );
}

#[tokio::test]
async fn the_builder_builds_registered_plugins_and_skips_switched_off_ones() {
    let app = firefighter_core::Firefighter::builder(firefighter_core::Settings::default())
        .store(sqlite_store().await)
        .build()
        .await
        .unwrap();
    assert_eq!(app.invites().names(), vec!["test.sre".to_owned()]);
    assert_eq!(&*app.subscribers(), &["test.noop".to_owned()]);
    assert_eq!(app.task_names(), vec!["test.noop_task".to_owned()]);
    // Run-time registrations come on top.
    let app = firefighter_core::Firefighter::builder(firefighter_core::Settings::default())
        .store(sqlite_store().await)
        .event_handler(RecordingHandler::new("runtime"))
        .build()
        .await
        .unwrap();
    assert_eq!(
        &*app.subscribers(),
        &["test.noop".to_owned(), "runtime".to_owned()]
    );
}

#[tokio::test]
async fn a_dry_run_says_who_would_be_invited_without_writing() {
    use firefighter_core::invite::InviteCandidate;
    struct Fixed(firefighter_core::UserId);
    #[async_trait]
    impl InviteProvider for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        async fn invitees(
            &self,
            ctx: &InviteContext,
        ) -> Result<Vec<InviteCandidate>, ProviderError> {
            Ok(if ctx.priority.value == 1 {
                vec![InviteCandidate {
                    user_id: self.0,
                    reason: format!("on call for {}", ctx.category.name).into(),
                }]
            } else {
                vec![]
            })
        }
    }
    let store = sqlite_store().await;
    let app0 = builder(store.clone()).build().await.unwrap();
    let max = person(&app0, "max").await;
    let jane = person(&app0, "jane").await;
    let app = builder(store)
        .invite_provider(Arc::new(Fixed(max.id)))
        .build()
        .await
        .unwrap();
    let catalog = app.catalog().await.unwrap();
    let checkout = catalog
        .categories
        .iter()
        .find(|c| c.name == "Checkout")
        .unwrap()
        .id;
    let p1 = priority(&catalog, "P1");
    let result = app
        .dry_run_invites(p1, checkout, &[], None, Some(jane.id), None)
        .await
        .unwrap();
    let ids: Vec<_> = result.invitees.iter().map(|i| i.user_id).collect();
    assert!(ids.contains(&max.id) && ids.contains(&jane.id));
    let max_reasons = &result
        .invitees
        .iter()
        .find(|i| i.user_id == max.id)
        .unwrap()
        .reasons;
    assert_eq!(
        max_reasons,
        &vec![std::sync::Arc::<str>::from("on call for Checkout")]
    );
    assert_eq!(
        app.store()
            .count_incidents(&firefighter_core::IncidentFilter::default())
            .await
            .unwrap(),
        0
    );
    let p4 = priority(&catalog, "P4");
    let result = app
        .dry_run_invites(p4, checkout, &[], None, None, None)
        .await
        .unwrap();
    assert!(result.invitees.is_empty());
}

fn migrate_test_schema(
    pool: firefighter_core::store::DatabasePool,
) -> futures::future::BoxFuture<'static, firefighter_core::Result<()>> {
    Box::pin(async move {
        if let firefighter_core::store::DatabasePool::Sqlite(pool) = pool {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS test_integration_rows (id INTEGER PRIMARY KEY)",
            )
            .execute(&pool)
            .await?;
        }
        Ok(())
    })
}

firefighter_core::register_schema!(firefighter_core::plugin::SchemaRegistration {
    name: "test.schema",
    migrate: migrate_test_schema,
});

static CONTEXTS: std::sync::Mutex<Vec<PluginContext>> = std::sync::Mutex::new(Vec::new());

fn build_context_keeper(
    ctx: &PluginContext,
) -> firefighter_core::Result<Option<Arc<dyn PeriodicTask>>> {
    CONTEXTS.lock().unwrap().push(ctx.clone());
    assert!(
        ctx.app().is_none(),
        "the application does not exist while plugins are built"
    );
    Ok(None)
}

firefighter_core::register_task!(TaskRegistration {
    name: "test.context_keeper",
    build: build_context_keeper,
});

#[tokio::test]
async fn integrations_get_their_tables_and_a_handle_to_the_app() {
    let store = sqlite_store().await;
    let app = firefighter_core::Firefighter::builder(firefighter_core::Settings::default())
        .store(store.clone())
        .build()
        .await
        .unwrap();
    let Some(firefighter_core::store::DatabasePool::Sqlite(pool)) = store.database() else {
        panic!("a SQLite pool")
    };
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM test_integration_rows")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    // Several tests build apps: find the context of this build by its store.
    let contexts = CONTEXTS.lock().unwrap().clone();
    let ours = contexts
        .iter()
        .find(|c| Arc::ptr_eq(&c.store, &store))
        .expect("the build function ran with this store");
    assert_eq!(
        ours.oncall().map(|o| o.name()),
        Some("test.oncall"),
        "plugins see the on-call vendor while they are built"
    );
    let handle = ours
        .app()
        .expect("the handle resolves once the app is built");
    assert_eq!(handle.subscribers(), app.subscribers());
    drop(handle);
    drop(app);
    assert!(
        ours.app().is_none(),
        "the handle does not keep the application alive"
    );
}
