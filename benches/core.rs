//! Core benchmarks: `cargo bench --bench core`.
//!
//! Prints
//! - incident lifecycles per second (declare + 3 updates + close) on a SQLite
//!   file, and on PostgreSQL when `FIREFIGHTER_BENCH_POSTGRES_URL` is set;
//! - invite resolution for 10 providers over 50,000 users (target < 50 ms);
//! - the cost of one lifecycle transition check (target < 1 µs).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use std::hint::black_box;

use criterion::Criterion;
use firefighter::core::invite::{
    InviteCandidate, InviteContext, InviteRegistry, InviteeFacts, ProviderError, UserDirectory,
};
use firefighter::core::lifecycle::{self, LifecycleFacts, PostMortemState, StatusChange};
use firefighter::core::{
    Declaration, Email, Firefighter, InviteProvider, NewUser, Settings, Status, Store, Update,
    User, UserId,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn lifecycles_per_second(
    label: &str,
    store: Arc<dyn Store>,
    concurrency: usize,
    total: usize,
) {
    let app = Firefighter::builder(Settings::default())
        .store(store)
        .with_registered_plugins(false)
        .build()
        .await
        .expect("app");
    let user = app
        .store()
        .create_user(&NewUser::person(
            Email::parse(&format!("bench-{}@example.com", uuid::Uuid::new_v4())).unwrap(),
        ))
        .await
        .expect("user");
    let catalog = app.catalog().await.expect("catalog");
    let p4 = catalog
        .priorities
        .iter()
        .find(|p| p.name == "P4")
        .unwrap()
        .id;
    let category = catalog.categories[0].id;
    let start = Instant::now();
    let per_worker = total / concurrency;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                for _ in 0..per_worker {
                    let id = app
                        .declare(Declaration {
                            title: "Benchmark incident for throughput".into(),
                            priority_id: Some(p4),
                            category_id: Some(category),
                            created_by: Some(user.id),
                            ..Declaration::default()
                        })
                        .await
                        .expect("declare")
                        .incident
                        .id;
                    for s in [
                        Status::Investigating,
                        Status::Mitigating,
                        Status::Mitigated,
                        Status::Closed,
                    ] {
                        app.update(
                            id,
                            Update {
                                status: Some(s),
                                by: Some(user.id),
                                ..Update::default()
                            },
                        )
                        .await
                        .expect("update");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = start.elapsed();
    let done = per_worker * concurrency;
    println!(
        "lifecycle throughput [{label}, concurrency {concurrency}]: {done} lifecycles (declare + 3 updates + close) in {:.2?} = {:.1} lifecycles/s, {:.1} commands/s",
        elapsed,
        done as f64 / elapsed.as_secs_f64(),
        (done * 5) as f64 / elapsed.as_secs_f64()
    );
}

struct Directory(HashMap<UserId, User>);

#[async_trait]
impl UserDirectory for Directory {
    async fn invitee_facts(
        &self,
        ids: &[UserId],
        platform: Option<&str>,
    ) -> firefighter::core::Result<Vec<InviteeFacts>> {
        // What a store query selecting only these columns returns.
        Ok(ids
            .iter()
            .filter_map(|id| self.0.get(id))
            .map(|u| InviteeFacts::of(u, platform))
            .collect())
    }
}

/// Proposes a slice of the users, as a usergroup or a channel would.
struct SliceProvider {
    name: String,
    users: Arc<Vec<UserId>>,
    offset: usize,
    len: usize,
}

#[async_trait]
impl InviteProvider for SliceProvider {
    fn name(&self) -> &str {
        &self.name
    }
    async fn invitees(&self, _: &InviteContext) -> Result<Vec<InviteCandidate>, ProviderError> {
        let reason: Arc<str> = format!("member of {}", self.name).into();
        Ok(self.users[self.offset..self.offset + self.len]
            .iter()
            .map(|&user_id| InviteCandidate::new(user_id, reason.clone()))
            .collect())
    }
}

fn invite_setup() -> (InviteRegistry, Directory, InviteContext) {
    let mut users = HashMap::new();
    let mut ids = Vec::new();
    for i in 0..50_000 {
        let id = UserId::new();
        ids.push(id);
        users.insert(
            id,
            User {
                id,
                email: format!("user{i}@example.com"),
                name: format!("User {i}"),
                is_active: i % 50 != 0,
                is_staff: false,
                is_admin: false,
                bot: i % 97 == 0,
                avatar: None,
                identities: [("slack".to_owned(), format!("U{i:08}"))]
                    .into_iter()
                    .collect(),
                created_at: Utc::now(),
            },
        );
    }
    let ids = Arc::new(ids);
    let mut registry = InviteRegistry::new();
    // 10 providers of 7,500 users each, overlapping: 50,000 distinct users in all.
    for p in 0..10 {
        registry
            .register(Arc::new(SliceProvider {
                name: format!("provider-{p}"),
                users: ids.clone(),
                offset: p * 4_250,
                len: 7_750,
            }))
            .unwrap();
    }
    let category = firefighter::core::seed::groups_and_categories().1.remove(0);
    let ctx = InviteContext {
        incident_id: None,
        priority: firefighter::core::seed::priorities().remove(0),
        category,
        environments: firefighter::core::seed::environments(),
        private: false,
        created_by: Some(ids[0]),
        role_holders: vec![],
    };
    (registry, Directory(users), ctx)
}

fn main() {
    let rt = runtime();

    // Lifecycle throughput on a SQLite file (the embedded default).
    // `FF_BENCH_SKIP_LIFECYCLE=1` runs only the in-memory benchmarks.
    let skip_lifecycle = std::env::var_os("FF_BENCH_SKIP_LIFECYCLE").is_some();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("bench.db").display());
    if !skip_lifecycle {
        rt.block_on(async {
            let store = firefighter::core::store::connect(&url)
                .await
                .expect("sqlite");
            lifecycles_per_second("SQLite file", store.clone(), 1, 300).await;
            lifecycles_per_second("SQLite file", store, 8, 800).await;
        });
    }
    match std::env::var("FIREFIGHTER_BENCH_POSTGRES_URL") {
        Ok(_) if skip_lifecycle => {}
        Ok(pg) => rt.block_on(async {
            let store = firefighter::core::store::connect(&pg)
                .await
                .expect("postgres");
            lifecycles_per_second("PostgreSQL", store.clone(), 1, 300).await;
            lifecycles_per_second("PostgreSQL", store, 8, 800).await;
        }),
        Err(_) => println!(
            "lifecycle throughput [PostgreSQL]: skipped (set FIREFIGHTER_BENCH_POSTGRES_URL)"
        ),
    }

    // Invite resolution: one timed run with its figures, then criterion.
    let (registry, directory, ctx) = invite_setup();
    let start = Instant::now();
    let resolution = rt
        .block_on(registry.resolve(&ctx, Some("slack"), &directory))
        .expect("resolution");
    println!(
        "invite resolution [10 providers, 50,000 users]: {} invited, {} excluded in {:.2?}",
        resolution.invitees.len(),
        resolution.excluded.len(),
        start.elapsed()
    );

    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    c.bench_function("invite resolution, 10 providers over 50,000 users", |b| {
        b.to_async(&rt)
            .iter(|| registry.resolve(&ctx, Some("slack"), &directory))
    });

    let pm = PostMortemState::Ready;
    let missing: Vec<String> = vec!["started".into()];
    c.bench_function("lifecycle transition check (allowed)", |b| {
        let facts = LifecycleFacts {
            status: Status::Investigating,
            priority_value: 1,
            postmortem_required: true,
            ignore: false,
            was_mitigated: false,
            postmortem: &pm,
            missing_key_events: &missing,
        };
        b.iter(|| {
            lifecycle::check_transition(
                black_box(&facts),
                black_box(&StatusChange {
                    to: Status::Mitigating,
                    message: None,
                    closure_reason: None,
                }),
            )
        })
    });
    c.bench_function("lifecycle transition check (refused, 2 reasons)", |b| {
        let facts = LifecycleFacts {
            status: Status::Mitigated,
            priority_value: 1,
            postmortem_required: true,
            ignore: false,
            was_mitigated: true,
            postmortem: &pm,
            missing_key_events: &missing,
        };
        b.iter(|| {
            lifecycle::check_transition(
                black_box(&facts),
                black_box(&StatusChange {
                    to: Status::Closed,
                    message: None,
                    closure_reason: None,
                }),
            )
        })
    });
    c.final_summary();
}
