//! Reference data.

use super::*;

pub(crate) async fn catalog_round_trip_and_upserts(store: S) {
    assert!(!store.seeded().await.unwrap());
    assert_eq!(store.catalog().await.unwrap(), Catalog::default());

    let fx = fixture(&store).await;
    let ttd = MetricType {
        slug: "time_to_detect".into(),
        code: "TTD".into(),
        name: "Time to detect".into(),
        description: String::new(),
        end_event: "detected".into(),
        start_event: "started".into(),
    };
    store.upsert_metric_type(&ttd).await.unwrap();
    let bad_metric = MetricType {
        slug: "time_to_nothing".into(),
        end_event: "nothing".into(),
        ..ttd.clone()
    };
    assert!(store.upsert_metric_type(&bad_metric).await.is_err());
    let customers = ImpactType {
        value: "customers_impact".into(),
        name: "Customers".into(),
        emoji: "🛒".into(),
        help_text: "Who is hit".into(),
        order: 2,
        levels: vec![
            ImpactLevelOption {
                level: ImpactLevel::High,
                name: "Many".into(),
                description: "Most customers".into(),
            },
            ImpactLevelOption {
                level: ImpactLevel::Low,
                name: "Few".into(),
                description: String::new(),
            },
        ],
    };
    let business = ImpactType {
        value: "business_impact".into(),
        name: "Business".into(),
        emoji: "💶".into(),
        help_text: String::new(),
        order: 1,
        levels: vec![ImpactLevelOption {
            level: ImpactLevel::None,
            name: "None".into(),
            description: String::new(),
        }],
    };
    store.upsert_impact_type(&customers).await.unwrap();
    store.upsert_impact_type(&business).await.unwrap();

    let catalog = store.catalog().await.unwrap();
    assert_eq!(catalog.priorities, vec![fx.p1.clone(), fx.p3.clone()]);
    assert_eq!(catalog.environments, vec![fx.prd.clone(), fx.stg.clone()]);
    assert_eq!(
        catalog.groups,
        vec![fx.group.clone(), fx.other_group.clone()]
    );
    assert_eq!(
        catalog.categories,
        vec![fx.category.clone(), fx.other_category.clone()]
    );
    assert_eq!(
        catalog.role_types,
        vec![fx.commander.clone(), fx.comms.clone()]
    );
    assert_eq!(
        catalog
            .milestone_types
            .iter()
            .map(|m| m.event_type.as_str())
            .collect::<Vec<_>>(),
        vec![
            "started",
            "detected",
            "declared",
            "recovered",
            "mitigated",
            "resolved"
        ],
        "in the order first stored"
    );
    assert_eq!(catalog.milestone_types[2], milestone("declared"));
    assert_eq!(catalog.metric_types, vec![ttd.clone()]);
    assert_eq!(catalog.cost_types, vec![fx.cost_type.clone()]);
    assert_eq!(
        catalog.impact_types,
        vec![business.clone(), customers.clone()]
    );

    // Upserts update in place (and keep the first-stored order).
    let mut p1 = fx.p1.clone();
    p1.description = "Critical".into();
    p1.sla = Duration::from_secs(900);
    p1.recommended_response_type = Some(ResponseType::Normal);
    p1.order = 10;
    store.upsert_priority(&p1).await.unwrap();
    let mut started = milestone("started");
    started.required = true;
    store.upsert_milestone_type(&started).await.unwrap();
    let mut customers2 = customers.clone();
    customers2.levels = vec![ImpactLevelOption {
        level: ImpactLevel::Highest,
        name: "All".into(),
        description: String::new(),
    }];
    store.upsert_impact_type(&customers2).await.unwrap();
    let mut category = fx.category.clone();
    category.group_id = fx.other_group.id;
    category.private = true;
    store.upsert_category(&category).await.unwrap();

    let catalog = store.catalog().await.unwrap();
    assert_eq!(catalog.priorities, vec![fx.p3.clone(), p1]);
    assert_eq!(catalog.milestone_types[0], started);
    assert_eq!(catalog.impact_types[1], customers2);
    assert_eq!(
        catalog.categories,
        vec![category.clone(), fx.other_category.clone()]
    );

    // Unique names stay unique.
    let mut clash = environment("PRD", 5);
    clash.name = "Another production".into();
    let err = store.upsert_environment(&clash).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    let mut orphan = fx.other_category.clone();
    orphan.id = CategoryId::new();
    orphan.group_id = GroupId::new();
    assert!(matches!(
        store.upsert_category(&orphan).await.unwrap_err(),
        Error::NotFound { what: "group", .. }
    ));

    store.mark_seeded().await.unwrap();
    store.mark_seeded().await.unwrap();
    assert!(store.seeded().await.unwrap());
}
