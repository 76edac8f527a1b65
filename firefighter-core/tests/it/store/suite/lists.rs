//! Listing and searching incidents, privacy included.

use super::*;

pub(crate) async fn list_filters_orders_and_pages(store: S) {
    let fx = fixture(&store).await;
    let a = fx
        .declare(&store, "Checkout fails for card payments", at(0))
        .await;
    let mut b_in = fx.incident("Search is slow on mobile", at(100));
    b_in.priority_id = fx.p3.id;
    b_in.category_id = fx.other_category.id;
    b_in.created_by = fx.john.id;
    b_in.environment_ids = vec![fx.stg.id];
    b_in.environment_id = fx.stg.id;
    let b = created(store.declare(fx.record(b_in)).await.unwrap());
    let c = fx.declare(&store, "Basket totals are wrong", at(200)).await;
    let c = set_status(&store, &c, Status::Mitigated, at(250)).await;
    let mut d_in = fx.incident("Invoices are not generated", at(300));
    d_in.priority_id = fx.p3.id;
    d_in.ignore = true;
    let d = created(store.declare(fx.record(d_in)).await.unwrap());
    let d = set_status(&store, &d, Status::Closed, at(350)).await;

    let list = |f: IncidentFilter| {
        let store = store.clone();
        async move { ids(&store.list_incidents(&f).await.unwrap()) }
    };
    let count = |f: IncidentFilter| {
        let store = store.clone();
        async move { store.count_incidents(&f).await.unwrap() }
    };

    assert_eq!(list(IncidentFilter::default()).await, of(&[&d, &c, &b, &a]));
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::OldestFirst,
            ..Default::default()
        })
        .await,
        of(&[&a, &b, &c, &d])
    );
    assert_eq!(
        list(IncidentFilter {
            statuses: vec![Status::Open],
            ..Default::default()
        })
        .await,
        of(&[&b, &a])
    );
    assert_eq!(
        list(IncidentFilter {
            status_at_least: Some(Status::Mitigated),
            ..Default::default()
        })
        .await,
        of(&[&d, &c])
    );
    assert_eq!(
        list(IncidentFilter {
            status_below: Some(Status::Closed),
            ..Default::default()
        })
        .await,
        of(&[&c, &b, &a])
    );
    assert_eq!(
        list(IncidentFilter {
            priority_ids: vec![fx.p3.id],
            ..Default::default()
        })
        .await,
        of(&[&d, &b])
    );
    assert_eq!(
        list(IncidentFilter {
            category_ids: vec![fx.other_category.id],
            ..Default::default()
        })
        .await,
        of(&[&b])
    );
    assert_eq!(
        list(IncidentFilter {
            group_ids: vec![fx.group.id],
            ..Default::default()
        })
        .await,
        of(&[&d, &c, &a])
    );
    assert_eq!(
        list(IncidentFilter {
            environment_ids: vec![fx.stg.id],
            ..Default::default()
        })
        .await,
        of(&[&b])
    );
    assert_eq!(
        list(IncidentFilter {
            created_by: vec![fx.john.id],
            ..Default::default()
        })
        .await,
        of(&[&b])
    );
    assert_eq!(
        list(IncidentFilter {
            created_from: Some(at(100)),
            created_before: Some(at(300)),
            ..Default::default()
        })
        .await,
        of(&[&c, &b])
    );
    assert_eq!(
        list(IncidentFilter {
            ignore: Some(true),
            ..Default::default()
        })
        .await,
        of(&[&d])
    );
    assert_eq!(
        list(IncidentFilter {
            ids: vec![a.id, c.id],
            ..Default::default()
        })
        .await,
        of(&[&c, &a])
    );
    // Several filters narrow together.
    assert_eq!(
        list(IncidentFilter {
            priority_ids: vec![fx.p3.id],
            status_below: Some(Status::Closed),
            ..Default::default()
        })
        .await,
        of(&[&b])
    );

    // Orders.
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::Priority,
            ..Default::default()
        })
        .await,
        of(&[&c, &a, &d, &b])
    );
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::StatusThenPriority,
            ..Default::default()
        })
        .await,
        of(&[&a, &b, &c, &d])
    );
    assert_eq!(
        list(IncidentFilter {
            order: IncidentOrder::Title,
            ..Default::default()
        })
        .await,
        of(&[&c, &a, &d, &b])
    );

    // Pages; counts ignore offset and limit.
    let page = IncidentFilter {
        offset: 1,
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(list(page.clone()).await, of(&[&c, &b]));
    assert_eq!(count(page).await, 4);
    assert_eq!(
        list(IncidentFilter {
            offset: 3,
            ..Default::default()
        })
        .await,
        of(&[&a])
    );
    assert_eq!(
        list(IncidentFilter {
            limit: Some(0),
            ..Default::default()
        })
        .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        count(IncidentFilter {
            statuses: vec![Status::Open],
            ..Default::default()
        })
        .await,
        2
    );
}

pub(crate) async fn search_escapes_wildcards_and_matches_ids(store: S) {
    let fx = fixture(&store).await;
    let checkout = fx
        .declare(&store, "Checkout fails for card payments", at(0))
        .await;
    let mut cpu_in = fx.incident("100% CPU on db_primary node", at(10));
    cpu_in.description = "The database is saturated".into();
    let cpu = created(store.declare(fx.record(cpu_in)).await.unwrap());
    let mut other_in = fx.incident("Database replica lag is high", at(20));
    other_in.description = "dbXprimary is fine".into();
    let other = created(store.declare(fx.record(other_in)).await.unwrap());

    let search = |text: &str| {
        let store = store.clone();
        let f = IncidentFilter {
            search: Some(text.into()),
            order: IncidentOrder::OldestFirst,
            ..Default::default()
        };
        async move { ids(&store.list_incidents(&f).await.unwrap()) }
    };
    assert_eq!(search("checkout").await, of(&[&checkout]));
    assert_eq!(
        search("CHECKOUT Card").await,
        of(&[&checkout]),
        "every word, any case"
    );
    assert_eq!(search("checkout mobile").await, Vec::<i64>::new());
    assert_eq!(
        search("database").await,
        of(&[&cpu, &other]),
        "title or description"
    );
    assert_eq!(
        search("db_primary").await,
        of(&[&cpu]),
        "_ is not a wildcard"
    );
    assert_eq!(search("100%").await, of(&[&cpu]));
    assert_eq!(search("%").await, of(&[&cpu]), "% is not a wildcard");
    assert_eq!(search(r"\").await, Vec::<i64>::new());
    assert_eq!(search(&format!("#{}", other.id.0)).await, of(&[&other]));
    assert_eq!(search("   ").await, of(&[&checkout, &cpu, &other]));
    assert_eq!(
        store
            .count_incidents(&IncidentFilter {
                search: Some("database".into()),
                ..Default::default()
            })
            .await
            .unwrap(),
        2
    );
}

pub(crate) async fn private_incidents_are_listed_to_members_only(store: S) {
    let fx = fixture(&store).await;
    let public = fx
        .declare(&store, "Checkout fails for card payments", at(0))
        .await;
    let mut secret_in = fx.incident("Suspected data leak in exports", at(10));
    secret_in.private = true;
    let secret = created(store.declare(fx.record(secret_in)).await.unwrap());
    let outsider = user(&store, "outsider@example.com").await;

    let visible = |user: Option<UserId>| {
        let store = store.clone();
        let f = IncidentFilter {
            visible_to: user,
            ..Default::default()
        };
        async move {
            (
                ids(&store.list_incidents(&f).await.unwrap()),
                store.count_incidents(&f).await.unwrap(),
            )
        }
    };
    assert_eq!(visible(None).await, (of(&[&secret, &public]), 2));
    assert_eq!(
        visible(Some(fx.jane.id)).await,
        (of(&[&secret, &public]), 2)
    );
    assert_eq!(visible(Some(outsider.id)).await, (of(&[&public]), 1));

    // Joining makes it visible.
    let mut change = IncidentChange::from(&secret, subscribers());
    change.members_added.push(outsider.id);
    store.apply(change).await.unwrap();
    assert_eq!(visible(Some(outsider.id)).await.1, 2);
}
