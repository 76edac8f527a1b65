//! Data versions.

use super::*;

/// Every kind of write moves the versions it covers, and only those; reads,
/// and writes no representation shows, move none.
pub(crate) async fn data_versions_grow_with_every_write(store: S) {
    use firefighter_core::store::DataVersions;
    use firefighter_core::{ApiToken, ApiTokenId};

    /// Runs a write, then checks which versions moved.
    async fn moved<F: std::future::Future<Output = ()>>(
        store: &S,
        what: &str,
        (data, reference, access): (bool, bool, bool),
        write: F,
    ) {
        let before: DataVersions = store.data_versions().await.unwrap();
        write.await;
        let after = store.data_versions().await.unwrap();
        assert_eq!(
            (
                after.data > before.data,
                after.reference > before.reference,
                after.access > before.access
            ),
            (data, reference, access),
            "{what}: {before:?} -> {after:?}"
        );
        assert!(
            after.data >= before.data
                && after.reference >= before.reference
                && after.access >= before.access,
            "{what}: versions only grow"
        );
        assert_eq!(store.data_version().await.unwrap(), after.data);
    }
    const DATA: (bool, bool, bool) = (true, false, false);
    const REFERENCE: (bool, bool, bool) = (true, true, false);
    const USER: (bool, bool, bool) = (true, false, true);
    const ACCESS: (bool, bool, bool) = (false, false, true);
    const NOTHING: (bool, bool, bool) = (false, false, false);

    let fx = fixture(&store).await;
    let s = &store;

    // Reference data.
    let mut p = fx.p1.clone();
    p.description = "Everything is down".into();
    moved(s, "upsert_priority", REFERENCE, async {
        s.upsert_priority(&p).await.unwrap()
    })
    .await;
    let mut e = fx.prd.clone();
    e.name = "Production!".into();
    moved(s, "upsert_environment", REFERENCE, async {
        s.upsert_environment(&e).await.unwrap()
    })
    .await;
    let mut g = fx.group.clone();
    g.name = "Payments & billing".into();
    moved(s, "upsert_group", REFERENCE, async {
        s.upsert_group(&g).await.unwrap()
    })
    .await;
    let mut c = fx.category.clone();
    c.name = "Checkout page".into();
    moved(s, "upsert_category", REFERENCE, async {
        s.upsert_category(&c).await.unwrap()
    })
    .await;
    let mut r = fx.comms.clone();
    r.name = "Comms".into();
    moved(s, "upsert_role_type", REFERENCE, async {
        s.upsert_role_type(&r).await.unwrap()
    })
    .await;
    moved(s, "upsert_milestone_type", REFERENCE, async {
        s.upsert_milestone_type(&milestone("acknowledged"))
            .await
            .unwrap()
    })
    .await;
    let ttd = MetricType {
        slug: "time_to_detect".into(),
        code: "TTD".into(),
        name: "Time to detect".into(),
        description: String::new(),
        end_event: "detected".into(),
        start_event: "started".into(),
    };
    moved(s, "upsert_metric_type", REFERENCE, async {
        s.upsert_metric_type(&ttd).await.unwrap()
    })
    .await;
    let mut ct = fx.cost_type.clone();
    ct.description = "Money sent back".into();
    moved(s, "upsert_cost_type", REFERENCE, async {
        s.upsert_cost_type(&ct).await.unwrap()
    })
    .await;
    let impact = ImpactType {
        value: "customers_impact".into(),
        name: "Customers".into(),
        emoji: "🛒".into(),
        help_text: String::new(),
        order: 1,
        levels: vec![ImpactLevelOption {
            level: ImpactLevel::High,
            name: "Many".into(),
            description: String::new(),
        }],
    };
    moved(s, "upsert_impact_type", REFERENCE, async {
        s.upsert_impact_type(&impact).await.unwrap()
    })
    .await;
    // A refused write moves nothing.
    let orphan = IncidentCategory {
        id: CategoryId::new(),
        group_id: GroupId::new(),
        ..fx.category.clone()
    };
    moved(s, "refused upsert_category", NOTHING, async {
        assert!(s.upsert_category(&orphan).await.is_err())
    })
    .await;

    // Users.
    let mut ann = None;
    moved(s, "create_user", DATA, async {
        ann = Some(user(s, "ann@example.com").await);
    })
    .await;
    let mut ann = ann.unwrap();
    moved(s, "refused create_user", NOTHING, async {
        assert!(
            s.create_user(&NewUser::person(Email::parse("ann@example.com").unwrap()))
                .await
                .is_err()
        )
    })
    .await;
    ann.name = "Ann Other".into();
    moved(s, "update_user (name)", USER, async {
        s.update_user(&ann).await.unwrap()
    })
    .await;
    ann.is_active = false;
    moved(s, "update_user (deactivated)", USER, async {
        s.update_user(&ann).await.unwrap()
    })
    .await;
    moved(s, "set_identity", USER, async {
        s.set_identity(ann.id, "slack", "U42").await.unwrap()
    })
    .await;
    moved(s, "set_password_hash", NOTHING, async {
        s.set_password_hash(ann.id, Some("hash")).await.unwrap()
    })
    .await;

    // Incidents.
    let mut incident = None;
    moved(s, "declare", DATA, async {
        incident = Some(
            fx.declare(s, "Checkout fails for every card payment", t0())
                .await,
        );
    })
    .await;
    let incident = incident.unwrap();
    let mut dedup = fx.incident("Alert: checkout latency", at(1));
    dedup.dedup_key = Some("alert-1".into());
    moved(s, "declare with a new dedup_key", DATA, async {
        created(s.declare(fx.record(dedup.clone())).await.unwrap());
    })
    .await;
    moved(s, "declare matching an open dedup_key", NOTHING, async {
        assert!(matches!(
            s.declare(fx.record(dedup.clone())).await.unwrap(),
            Declared::Existing(_)
        ))
    })
    .await;
    let mut updated = None;
    moved(s, "apply", DATA, async {
        updated = Some(set_status(s, &incident, Status::Investigating, at(10)).await);
    })
    .await;
    let updated = updated.unwrap();
    let mut change = IncidentChange::from(&updated, subscribers());
    change.roles_set = vec![(fx.comms.id, fx.john.id)];
    change.members_added = vec![fx.john.id];
    moved(s, "apply (roles)", DATA, async {
        s.apply(change).await.unwrap();
    })
    .await;
    moved(s, "apply with a stale version", NOTHING, async {
        let stale = IncidentChange::from(&updated, subscribers());
        assert!(s.apply(stale).await.is_err())
    })
    .await;
    moved(s, "append", DATA, async {
        s.append(
            incident.id,
            vec![entry(at(20), None, "paged")],
            Vec::new(),
            subscribers(),
        )
        .await
        .unwrap()
    })
    .await;

    // Access.
    let token = ApiToken {
        id: ApiTokenId::new(),
        user_id: fx.jane.id,
        name: "ci".into(),
        prefix: "abcd1234".into(),
        scopes: vec!["incidents:read".into()],
        created_at: t0(),
        last_used_at: None,
        expires_at: None,
        revoked_at: None,
    };
    moved(s, "create_api_token", NOTHING, async {
        s.create_api_token(&token, "hash-v").await.unwrap()
    })
    .await;
    moved(s, "touch_api_token", NOTHING, async {
        s.touch_api_token(token.id, at(5)).await.unwrap()
    })
    .await;
    moved(s, "revoke_api_token", ACCESS, async {
        assert!(s.revoke_api_token(token.id, at(6)).await.unwrap())
    })
    .await;
    moved(s, "revoke_api_token again", NOTHING, async {
        assert!(!s.revoke_api_token(token.id, at(7)).await.unwrap())
    })
    .await;

    // Reads move nothing.
    moved(s, "reads", NOTHING, async {
        s.catalog().await.unwrap();
        s.list_incidents(&IncidentFilter::default()).await.unwrap();
        s.incident_details(incident.id).await.unwrap();
        s.users(&[fx.jane.id, fx.john.id]).await.unwrap();
    })
    .await;
}
