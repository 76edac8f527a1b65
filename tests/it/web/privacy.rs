//! Private incidents are seen by their members and staff only: on the
//! dashboard, in the list, on their page, in the statistics.

use super::support::spawn_app;

#[tokio::test]
async fn private_incidents_are_hidden_from_non_members() {
    let app = spawn_app().await;
    let owner = app.logged_in("owner@example.com", false).await;
    let outsider = app.logged_in("outsider@example.com", false).await;
    let staff = app.logged_in("staff@example.com", true).await;
    let secret = app
        .declare(&owner.user, "Secret payroll export leaked", "P2", true)
        .await;
    app.declare(
        &owner.user,
        "Public search outage for everyone",
        "P2",
        false,
    )
    .await;
    let secret_page = format!("/incident/{}/", secret.0);

    for browser in [&owner, &staff] {
        browser
            .get("/")
            .await
            .expect(200, &["Secret payroll export leaked"]);
        browser
            .get("/incident/")
            .await
            .expect(200, &["Secret payroll export leaked", "of 2"]);
        browser
            .get(&secret_page)
            .await
            .expect(200, &["Secret payroll export leaked", "private"]);
        browser
            .get("/statistics/")
            .await
            .expect(200, &["2 incidents."]);
    }

    let dashboard = outsider.get("/").await;
    dashboard.expect(200, &["Public search outage"]);
    assert!(!dashboard.body.contains("Secret payroll"));
    let list = outsider.get("/incident/").await;
    list.expect(200, &["Public search outage", "of 1"]);
    assert!(!list.body.contains("Secret payroll"));
    let searched = outsider.get("/incident/?search=payroll").await;
    assert!(!searched.body.contains("Secret payroll"));
    assert_eq!(
        outsider.get(&secret_page).await.status,
        404,
        "not even its existence"
    );
    outsider
        .get("/statistics/")
        .await
        .expect(200, &["1 incidents."]);

    // Nor can they change it.
    let r = outsider
        .post(
            &format!("/incident/{}/status", secret.0),
            &[("status", "investigating"), ("message", "peeking")],
        )
        .await;
    assert_eq!(r.status, 404);
    let r = outsider
        .post(
            &format!("/incident/{}/costs", secret.0),
            &[
                ("cost_type", &app.catalog.cost_types[0].id.to_string()),
                ("amount", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        app.app.incident(secret).await.unwrap().status,
        firefighter::core::Status::Open
    );

    // Once given a role, the outsider is a member and sees it.
    let r = owner
        .post(
            &format!("/incident/{}/roles", secret.0),
            &[
                ("role.commander", &owner.user.id.to_string()),
                ("role.communication_lead", &outsider.user.id.to_string()),
            ],
        )
        .await;
    r.expect_redirect("/incident/");
    outsider
        .get(&secret_page)
        .await
        .expect(200, &["Secret payroll export leaked"]);
}
