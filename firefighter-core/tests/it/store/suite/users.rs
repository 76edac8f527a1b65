//! Users, their identities and passwords.

use super::*;

pub(crate) async fn users_by_email_or_created_once_under_concurrency(store: S) {
    let new = NewUser::person(Email::parse("Many.Doors@example.com").unwrap());
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        let new = new.clone();
        tokio::spawn(async move { store.user_by_email_or_create(&new).await.unwrap() })
    });
    let results = futures::future::join_all(attempts).await;
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
    assert!(results.iter().all(|(u, _)| u.id == results[0].0.id));
    let (again, created) = store.user_by_email_or_create(&new).await.unwrap();
    assert!(!created);
    assert_eq!(again.id, results[0].0.id);
    assert_eq!(again.email, "many.doors@example.com");
}

pub(crate) async fn users_identities_and_passwords(store: S) {
    let jane = store
        .create_user(&NewUser {
            email: Email::parse("Jane.Doe@Example.com").unwrap(),
            name: Some("Jane Doe".into()),
            is_staff: true,
            is_admin: false,
            bot: false,
        })
        .await
        .unwrap();
    assert_eq!(jane.email, "jane.doe@example.com");
    assert_eq!(jane.name, "Jane Doe");
    assert!(jane.is_active && jane.is_staff && !jane.is_admin);
    assert_eq!(store.user(jane.id).await.unwrap(), Some(jane.clone()));

    let err = store
        .create_user(&NewUser::person(
            Email::parse("JANE.DOE@example.com").unwrap(),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("jane.doe@example.com")),
        "{err}"
    );

    let bot = store
        .create_user(&NewUser {
            email: Email::parse("alertmanager@example.com").unwrap(),
            name: None,
            is_staff: false,
            is_admin: false,
            bot: true,
        })
        .await
        .unwrap();
    assert_eq!(
        bot.name, "alertmanager",
        "the name defaults to the e-mail's local part"
    );

    assert_eq!(
        store
            .user_by_email(" JANE.doe@EXAMPLE.com ")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(jane.id)
    );
    assert_eq!(
        store.user_by_email("nobody@example.com").await.unwrap(),
        None
    );

    store.set_identity(jane.id, "slack", "U1").await.unwrap();
    store
        .set_identity(jane.id, "pagerduty", "P1")
        .await
        .unwrap();
    store.set_identity(jane.id, "slack", "U2").await.unwrap();
    let found = store
        .user_by_identity("slack", "U2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found.identities,
        BTreeMap::from([
            ("pagerduty".to_owned(), "P1".to_owned()),
            ("slack".to_owned(), "U2".to_owned())
        ])
    );
    assert_eq!(store.user_by_identity("slack", "U1").await.unwrap(), None);
    // Relinking moves the external id to the new holder.
    store.set_identity(bot.id, "slack", "U2").await.unwrap();
    assert_eq!(
        store
            .user_by_identity("slack", "U2")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(bot.id)
    );
    assert_eq!(
        store
            .user(jane.id)
            .await
            .unwrap()
            .unwrap()
            .identity("slack"),
        None
    );
    assert!(matches!(
        store
            .set_identity(UserId::new(), "slack", "U3")
            .await
            .unwrap_err(),
        Error::NotFound { what: "user", .. }
    ));

    let mut changed = store.user(jane.id).await.unwrap().unwrap();
    changed.name = "Jane D.".into();
    changed.is_active = false;
    changed.is_admin = true;
    changed.avatar = Some("https://example.com/jane.png".into());
    store.update_user(&changed).await.unwrap();
    assert_eq!(store.user(jane.id).await.unwrap(), Some(changed.clone()));
    let mut ghost = changed.clone();
    ghost.id = UserId::new();
    assert!(matches!(
        store.update_user(&ghost).await.unwrap_err(),
        Error::NotFound { .. }
    ));

    assert_eq!(store.password_hash(jane.id).await.unwrap(), None);
    store
        .set_password_hash(jane.id, Some("$argon2id$x"))
        .await
        .unwrap();
    assert_eq!(
        store.password_hash(jane.id).await.unwrap().as_deref(),
        Some("$argon2id$x")
    );
    store.set_password_hash(jane.id, None).await.unwrap();
    assert_eq!(store.password_hash(jane.id).await.unwrap(), None);
    assert!(matches!(
        store
            .set_password_hash(UserId::new(), None)
            .await
            .unwrap_err(),
        Error::NotFound { .. }
    ));

    let all = store.list_users().await.unwrap();
    assert_eq!(
        all.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
        vec!["alertmanager@example.com", "jane.doe@example.com"]
    );
    assert_eq!(all[0].identity("slack"), Some("U2"));
}

pub(crate) async fn users_lookup_of_many_ids(store: S) {
    let mut wanted = Vec::new();
    for n in 0..1200 {
        let u = user(&store, &format!("user{n:04}@example.com")).await;
        if n % 100 == 0 {
            store
                .set_identity(u.id, "slack", &format!("U{n}"))
                .await
                .unwrap();
        }
        wanted.push(u.id);
    }
    // Missing ids are left out; repeated ones are returned once.
    let mut asked = wanted.clone();
    asked.extend((0..50).map(|_| UserId::new()));
    asked.push(wanted[0]);
    let found = store.users(&asked).await.unwrap();
    assert_eq!(found.len(), 1200);
    let found_ids: HashSet<UserId> = found.iter().map(|u| u.id).collect();
    assert_eq!(found_ids, wanted.iter().copied().collect());
    assert_eq!(
        found
            .iter()
            .filter(|u| u.identity("slack").is_some())
            .count(),
        12
    );
    assert!(store.users(&[]).await.unwrap().is_empty());
}

/// Users come back with every identity, whichever way they are looked up.
pub(crate) async fn users_come_with_their_identities(store: S) {
    let fx = fixture(&store).await;
    store.set_identity(fx.jane.id, "slack", "U1").await.unwrap();
    store
        .set_identity(fx.jane.id, "pagerduty", "P1")
        .await
        .unwrap();
    let expected: BTreeMap<String, String> = [("pagerduty", "P1"), ("slack", "U1")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let by_id = store.user(fx.jane.id).await.unwrap().unwrap();
    assert_eq!(by_id.identities, expected);
    let by_email = store
        .user_by_email("JANE@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_email, by_id);
    let by_identity = store
        .user_by_identity("pagerduty", "P1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_identity, by_id);
    let mut many = store
        .users(&[fx.john.id, fx.jane.id, fx.jane.id, UserId::new()])
        .await
        .unwrap();
    many.sort_by(|a, b| a.email.cmp(&b.email));
    assert_eq!(many.len(), 2);
    assert_eq!(many[0], by_id);
    assert!(many[1].identities.is_empty());
    assert_eq!(store.user(UserId::new()).await.unwrap(), None);
    assert_eq!(store.users(&[]).await.unwrap(), Vec::new());
}
