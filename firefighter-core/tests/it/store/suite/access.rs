//! Access: API tokens, sessions, idempotency keys; details and ids of many incidents.

use super::*;

pub(crate) async fn api_tokens_round_trip_touch_and_revoke(store: S) {
    use firefighter_core::{ApiToken, ApiTokenId};
    let fx = fixture(&store).await;
    let token = ApiToken {
        id: ApiTokenId::new(),
        user_id: fx.jane.id,
        name: "ci".into(),
        prefix: "abcd1234".into(),
        scopes: vec!["incidents:read".into(), "incidents:write".into()],
        created_at: t0(),
        last_used_at: None,
        expires_at: Some(at(86_400)),
        revoked_at: None,
    };
    store.create_api_token(&token, "hash-1").await.unwrap();
    assert_eq!(
        store.api_token_by_hash("hash-1").await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(store.api_token_by_hash("hash-2").await.unwrap(), None);
    // The hash is unique.
    let twin = ApiToken {
        id: ApiTokenId::new(),
        ..token.clone()
    };
    assert!(matches!(
        store.create_api_token(&twin, "hash-1").await,
        Err(Error::Conflict(_))
    ));
    // Tokens of unknown users are refused.
    let orphan = ApiToken {
        id: ApiTokenId::new(),
        user_id: UserId::new(),
        ..token.clone()
    };
    assert!(matches!(
        store.create_api_token(&orphan, "hash-3").await,
        Err(Error::NotFound { .. })
    ));

    store.touch_api_token(token.id, at(10)).await.unwrap();
    let other = ApiToken {
        id: ApiTokenId::new(),
        user_id: fx.john.id,
        created_at: at(5),
        ..token.clone()
    };
    store.create_api_token(&other, "hash-4").await.unwrap();
    let all = store.api_tokens(None).await.unwrap();
    assert_eq!(
        all.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![other.id, token.id],
        "newest first"
    );
    let janes = store.api_tokens(Some(fx.jane.id)).await.unwrap();
    assert_eq!(janes.len(), 1);
    assert_eq!(janes[0].last_used_at, Some(at(10)));

    assert!(store.revoke_api_token(token.id, at(20)).await.unwrap());
    assert!(
        !store.revoke_api_token(token.id, at(30)).await.unwrap(),
        "already revoked"
    );
    let revoked = store.api_token_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at(20)));
    assert!(!revoked.is_usable(at(21)));
    assert!(matches!(
        store.revoke_api_token(ApiTokenId::new(), at(0)).await,
        Err(Error::NotFound { .. })
    ));
}

pub(crate) async fn sessions_expire_extend_and_end(store: S) {
    use firefighter_core::Session;
    let fx = fixture(&store).await;
    let session = Session {
        id_hash: "s1".into(),
        user_id: fx.jane.id,
        csrf_token: "csrf".into(),
        created_at: t0(),
        expires_at: at(3600),
    };
    store.create_session(&session).await.unwrap();
    assert_eq!(
        store.session("s1", at(10)).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(
        store.session("s1", at(3600)).await.unwrap(),
        None,
        "expired"
    );
    store.extend_session("s1", at(7200)).await.unwrap();
    assert!(store.session("s1", at(3600)).await.unwrap().is_some());
    store.delete_session("s1").await.unwrap();
    assert_eq!(store.session("s1", at(10)).await.unwrap(), None);

    for (i, user) in [fx.jane.id, fx.jane.id, fx.john.id].into_iter().enumerate() {
        store
            .create_session(&Session {
                id_hash: format!("s{}", i + 2),
                user_id: user,
                ..session.clone()
            })
            .await
            .unwrap();
    }
    assert_eq!(store.delete_user_sessions(fx.jane.id).await.unwrap(), 2);
    assert!(store.session("s4", at(10)).await.unwrap().is_some());
    assert!(matches!(
        store
            .create_session(&Session {
                user_id: UserId::new(),
                id_hash: "x".into(),
                ..session.clone()
            })
            .await,
        Err(Error::NotFound { .. })
    ));
    // Purging removes expired sessions only.
    store
        .create_session(&Session {
            id_hash: "old".into(),
            expires_at: at(5),
            ..session.clone()
        })
        .await
        .unwrap();
    assert_eq!(store.purge_access(at(100), at(0)).await.unwrap(), 1);
    assert!(store.session("s4", at(10)).await.unwrap().is_some());
}

pub(crate) async fn idempotency_keys_claim_replay_and_expire(store: S) {
    use firefighter_core::access::{IdempotencyBegin, StoredResponse};
    let begin = |key: &'static str, hash: &'static str, now| {
        let store = store.clone();
        async move {
            store
                .begin_idempotent("token:a", key, hash, now, now - chrono::Duration::hours(24))
                .await
                .unwrap()
        }
    };
    assert_eq!(begin("k", "h1", at(0)).await, IdempotencyBegin::Started);
    assert_eq!(begin("k", "h1", at(1)).await, IdempotencyBegin::InProgress);
    assert_eq!(begin("k", "h2", at(1)).await, IdempotencyBegin::Mismatch);
    let response = StoredResponse {
        status: 201,
        content_type: "application/json".into(),
        body: "{\"id\":1}".into(),
    };
    store
        .finish_idempotent("token:a", "k", &response)
        .await
        .unwrap();
    assert_eq!(
        begin("k", "h1", at(2)).await,
        IdempotencyBegin::Replay(response.clone())
    );
    // Keys belong to one caller.
    assert_eq!(
        store
            .begin_idempotent("token:b", "k", "h1", at(2), at(0))
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    // A finished key is never abandoned; an unfinished one is released.
    store.abandon_idempotent("token:a", "k").await.unwrap();
    assert_eq!(
        begin("k", "h1", at(3)).await,
        IdempotencyBegin::Replay(response)
    );
    store.abandon_idempotent("token:b", "k").await.unwrap();
    assert_eq!(
        store
            .begin_idempotent("token:b", "k", "h9", at(3), at(0))
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    // After a day the key is forgotten.
    assert_eq!(
        begin("k", "h2", at(2 * 86_400)).await,
        IdempotencyBegin::Started
    );
    assert_eq!(store.purge_access(at(0), at(10 * 86_400)).await.unwrap(), 2);
}

/// Two requests with one key at the same time: exactly one runs.
pub(crate) async fn concurrent_idempotency_claims_start_once(store: S) {
    use firefighter_core::access::IdempotencyBegin;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .begin_idempotent("user:x", "same", "h", at(0), at(-86_400))
                .await
                .unwrap()
        }));
    }
    let mut started = 0;
    for t in tasks {
        if t.await.unwrap() == IdempotencyBegin::Started {
            started += 1;
        }
    }
    assert_eq!(started, 1);
}

pub(crate) async fn details_of_many_incidents_and_costs(store: S) {
    let fx = fixture(&store).await;
    let a = fx
        .declare(&store, "First incident of the batch", at(0))
        .await;
    let b = fx
        .declare(&store, "Second incident of the batch", at(1))
        .await;
    let cost = IncidentCost {
        id: CostId::new(),
        incident_id: b.id,
        cost_type_id: fx.cost_type.id,
        amount_cents: Some(1234),
        details: "refunds".into(),
        created_at: at(2),
    };
    let mut change = IncidentChange::from(&b, subscribers());
    change.costs_added.push(cost.clone());
    change.members_added.push(fx.john.id);
    store.apply(change).await.unwrap();
    let b = store.incident(b.id).await.unwrap().unwrap();
    let many = store
        .incident_details_many(vec![b.clone(), a.clone()])
        .await
        .unwrap();
    assert_eq!(many.len(), 2);
    assert_eq!(
        many[0],
        store.incident_details(b.id).await.unwrap().unwrap(),
        "same as one by one"
    );
    assert_eq!(
        many[1],
        store.incident_details(a.id).await.unwrap().unwrap()
    );
    assert_eq!(many[0].costs, vec![cost.clone()]);
    assert!(
        store
            .incident_details_many(Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.incident_cost(cost.id).await.unwrap(), Some(cost));
    assert_eq!(store.incident_cost(CostId::new()).await.unwrap(), None);
}

pub(crate) async fn id_ranges_and_new_orders(store: S) {
    let fx = fixture(&store).await;
    let a = fx
        .declare(&store, "Alpha incident for ordering", at(0))
        .await;
    let b = fx
        .declare(&store, "Bravo incident for ordering", at(1))
        .await;
    let c = fx
        .declare(&store, "Charlie incident for ordering", at(2))
        .await;
    let ids = |v: Vec<Incident>| v.into_iter().map(|i| i.id).collect::<Vec<_>>();
    let list = |f: IncidentFilter| {
        let store = store.clone();
        async move { store.list_incidents(&f).await.unwrap() }
    };
    assert_eq!(
        ids(list(IncidentFilter {
            id_min: Some(b.id),
            order: IncidentOrder::OldestFirst,
            ..Default::default()
        })
        .await),
        vec![b.id, c.id]
    );
    assert_eq!(
        ids(list(IncidentFilter {
            id_max: Some(b.id),
            order: IncidentOrder::OldestFirst,
            ..Default::default()
        })
        .await),
        vec![a.id, b.id]
    );
    assert_eq!(
        ids(list(IncidentFilter {
            order: IncidentOrder::TitleDescending,
            ..Default::default()
        })
        .await),
        vec![c.id, b.id, a.id]
    );
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::PriorityDescending,
            ..Default::default()
        })
        .await
        .len(),
        3
    );
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::CreatedBy,
            ..Default::default()
        })
        .await
        .len(),
        3
    );
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::CreatedByDescending,
            ..Default::default()
        })
        .await
        .len(),
        3
    );
}

pub(crate) async fn reference_rows_record_when_they_change(store: S) {
    let fx = fixture(&store).await;
    let times = store.catalog_times().await.unwrap();
    let p = times.priorities[&fx.p1.id];
    assert!(p.created_at.is_some() && p.created_at == p.updated_at);
    assert!(times.groups[&fx.group.id].created_at.is_some());
    assert!(times.categories[&fx.category.id].created_at.is_some());
    assert!(times.cost_types[&fx.cost_type.id].created_at.is_some());
    tokio::time::sleep(Duration::from_millis(5)).await;
    store
        .upsert_priority(&Priority {
            description: "changed".into(),
            ..fx.p1.clone()
        })
        .await
        .unwrap();
    let after = store.catalog_times().await.unwrap().priorities[&fx.p1.id];
    assert_eq!(after.created_at, p.created_at);
    assert!(after.updated_at > p.updated_at);
}
