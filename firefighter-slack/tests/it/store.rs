//! Our tables, the same suite on SQLite and (with `postgres-tests`) PostgreSQL.

use firefighter_core::store::DatabasePool;
use firefighter_core::{CategoryId, IncidentId, UserId};
use firefighter_slack::store::{ConversationKind, ConversationStatus, SlackStore, SlackUserRow};

fn member(id: &str, user: Option<UserId>) -> SlackUserRow {
    SlackUserRow {
        slack_id: id.into(),
        user_id: user.map(|u| u.0),
        team_id: Some("T1".into()),
        handle: id.to_lowercase(),
        name: format!("Member {id}"),
        email: Some(format!("{}@example.com", id.to_lowercase())),
        image: None,
        is_bot: false,
        deleted: false,
        updated_at: firefighter_core::store::now(),
    }
}

async fn exercise(pool: DatabasePool) {
    // Core's tables first, as connecting the store does (Slack's moved its submissions into core's inbox).
    match &pool {
        DatabasePool::Sqlite(p) => firefighter_core::store::SqliteStore::from_pool(p.clone())
            .migrate()
            .await
            .unwrap(),
        DatabasePool::Postgres(p) => firefighter_core::store::PgStore::from_pool(p.clone())
            .migrate()
            .await
            .unwrap(),
    }
    firefighter_slack::store::migrate(&pool).await.unwrap();
    // Migrating twice is a no-op.
    firefighter_slack::store::migrate(&pool).await.unwrap();
    let s = SlackStore::new(pool);
    let (ann, bob) = (UserId::new(), UserId::new());
    let mut rows: Vec<SlackUserRow> = (0..1200)
        .map(|i| member(&format!("U{i:05}"), None))
        .collect();
    rows.push(member("UANN", Some(ann)));
    rows.push(member("UBOB", Some(bob)));
    s.upsert_users(&rows).await.unwrap();
    // A later write without a link keeps the link.
    s.upsert_users(&[member("UANN", None)]).await.unwrap();
    assert_eq!(
        s.slack_user("UANN").await.unwrap().unwrap().user_id,
        Some(ann.0)
    );
    assert_eq!(s.count_users().await.unwrap(), 1202);
    assert_eq!(s.user_links().await.unwrap().len(), 2);

    s.upsert_conversation(
        "C1",
        "payments",
        ConversationKind::Public,
        ConversationStatus::Opened,
        false,
    )
    .await
    .unwrap();
    s.upsert_conversation(
        "C2",
        "announcements",
        ConversationKind::Public,
        ConversationStatus::Opened,
        false,
    )
    .await
    .unwrap();
    s.set_conversation_tag("C2", Some("tech_incidents"))
        .await
        .unwrap();
    assert!(
        s.set_conversation_tag("C1", Some("tech_incidents"))
            .await
            .is_err(),
        "a tag belongs to one conversation"
    );
    assert!(
        s.set_conversation_tag("C9", Some("x")).await.is_err(),
        "unknown conversation"
    );
    s.set_conversation_tag("C1", None).await.unwrap();
    let cat = CategoryId::new();
    s.set_conversation_categories("C1", &[cat]).await.unwrap();
    s.set_conversation_members("C1", &["UANN".into(), "UNOBODY".into()])
        .await
        .unwrap();
    s.upsert_usergroup("S1", "sre", "SRE", "", false)
        .await
        .unwrap();
    s.set_usergroup_members("S1", &["UBOB".into()])
        .await
        .unwrap();
    s.set_usergroup_categories("S1", &[cat]).await.unwrap();
    s.set_usergroup_tag("S1", Some("invited_for_all_public_p1"))
        .await
        .unwrap();
    let mut invitees = s.category_invitees(cat).await.unwrap();
    invitees.sort_by_key(|(u, _)| *u);
    assert_eq!(invitees.len(), 2, "{invitees:?}");
    assert!(invitees.iter().any(|(u, w)| *u == ann && w == "#payments"));
    assert!(invitees.iter().any(|(u, w)| *u == bob && w == "@sre"));
    assert_eq!(
        s.tagged_usergroup_members("invited_for_all_public_p1")
            .await
            .unwrap(),
        vec![(bob, "sre".to_owned())]
    );
    let g = s.usergroup("S1").await.unwrap().unwrap();
    assert_eq!((g.member_count, g.category_ids.clone()), (1, vec![cat]));

    s.link_incident_channel(IncidentId(7), "C3").await.unwrap();
    s.upsert_conversation(
        "C3",
        "20260101-7-prd-checkout",
        ConversationKind::Private,
        ConversationStatus::Opened,
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        s.incident_of_channel("C3").await.unwrap(),
        Some(IncidentId(7))
    );
    assert_eq!(
        s.incident_channel(IncidentId(7))
            .await
            .unwrap()
            .unwrap()
            .incident_id,
        Some(IncidentId(7))
    );
    assert_eq!(s.configured_conversations().await.unwrap().len(), 2);
    s.record_message(
        "C3",
        "1.1",
        "ff_incident_declared",
        Some(IncidentId(7)),
        None,
    )
    .await
    .unwrap();
    s.record_message(
        "C3",
        "1.1",
        "ff_incident_declared",
        Some(IncidentId(7)),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        s.messages(IncidentId(7), "ff_incident_declared")
            .await
            .unwrap()
            .len(),
        1
    );
    s.change_channel_id("C3", "C4").await.unwrap();
    assert_eq!(
        s.incident_of_channel("C4").await.unwrap(),
        Some(IncidentId(7))
    );
    assert_eq!(
        s.messages(IncidentId(7), "ff_incident_declared")
            .await
            .unwrap()[0]
            .channel_id,
        "C4"
    );

    assert!(s.claim_event("Ev1").await.unwrap());
    assert!(!s.claim_event("Ev1").await.unwrap());
    assert!(s.claim_reaction("C4", "1.1", IncidentId(7)).await.unwrap());
    assert!(!s.claim_reaction("C4", "1.1", IncidentId(7)).await.unwrap());
    assert_eq!(s.effect("k:step").await.unwrap(), None);
    s.record_effect("k:step", "C1 1.1").await.unwrap();
    assert_eq!(s.effect("k:step").await.unwrap().as_deref(), Some("C1 1.1"));
    assert!(
        s.record_role_notice(ann, "commander", IncidentId(7))
            .await
            .unwrap()
    );
    assert!(
        !s.record_role_notice(ann, "commander", IncidentId(7))
            .await
            .unwrap()
    );
    assert!(
        s.last_role_notice(ann, "commander", IncidentId(7))
            .await
            .unwrap()
            .is_none(),
        "this incident does not count"
    );
    assert!(
        s.last_role_notice(ann, "commander", IncidentId(8))
            .await
            .unwrap()
            .is_some()
    );

    let sos = s.add_sos("SRE", "C2", Some("S1")).await.unwrap();
    assert!(
        s.add_sos("SRE", "C1", None).await.is_err(),
        "names are unique"
    );
    s.delete_usergroup("S1").await.unwrap();
    assert_eq!(s.sos_list().await.unwrap()[0].usergroup_id, None);
    assert!(s.delete_sos(sos.id).await.unwrap());
    assert!(
        s.purge_events(chrono::Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap()
            >= 1
    );

    // Attempt markers go once their effect is done; an unfinished one stays.
    s.record_effect("post:1", "C1/1.1").await.unwrap();
    s.record_effect("post:1:attempt", "1.000000").await.unwrap();
    s.record_effect("post:2:attempt", "1.000000").await.unwrap();
    let later = chrono::Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(s.purge_attempt_markers(later).await.unwrap(), 1);
    assert!(s.effect("post:1:attempt").await.unwrap().is_none());
    assert!(s.effect("post:2:attempt").await.unwrap().is_some());
    assert!(s.effect("post:1").await.unwrap().is_some());
}

#[tokio::test]
async fn the_store_on_sqlite() {
    let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    exercise(DatabasePool::Sqlite(pool)).await;
}

#[tokio::test]
#[cfg_attr(
    not(feature = "postgres-tests"),
    ignore = "needs FIREFIGHTER_TEST_POSTGRES_URL and --features postgres-tests"
)]
async fn the_store_on_postgres() {
    let url =
        std::env::var("FIREFIGHTER_TEST_POSTGRES_URL").expect("FIREFIGHTER_TEST_POSTGRES_URL");
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let db = format!("ff_slack_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&admin)
        .await
        .unwrap();
    let base = url
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(url.clone());
    let pool = sqlx::PgPool::connect(&format!("{base}/{db}"))
        .await
        .unwrap();
    exercise(DatabasePool::Postgres(pool.clone())).await;
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {db}")))
        .execute(&admin)
        .await
        .unwrap();
}
