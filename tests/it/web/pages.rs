//! Every page renders, anonymous visitors are sent to the login page, the
//! back-office is for staff only, assets come from the binary.

use super::support::{http_client, spawn_app};

#[tokio::test]
async fn every_page_renders_for_a_logged_in_user() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    let id = app
        .declare(
            &browser.user,
            "Checkout fails for every card payment",
            "P2",
            false,
        )
        .await;
    let closed = app
        .declare(
            &browser.user,
            "Search is slow for some sellers",
            "P4",
            false,
        )
        .await;
    app.app
        .close(
            closed,
            Some(browser.user.id),
            Some(firefighter::core::ClosureReason::FalsePositive),
            Some("Nothing was wrong".into()),
            None,
        )
        .await
        .unwrap();

    let dashboard = browser.get("/").await;
    dashboard.expect(
        200,
        &[
            "Active incidents",
            "Checkout fails for every card payment",
            "Declare an incident",
            "Latest event",
        ],
    );
    assert!(
        !dashboard.body.contains("Search is slow"),
        "closed incidents are not active"
    );

    browser.get("/incident/").await.expect(
        200,
        &[
            "Checkout fails for every card payment",
            "Search is slow for some sellers",
            "Incidents 1–2 of 2",
            "format=csv",
        ],
    );
    browser.get(&format!("/incident/{}/", id.0)).await.expect(
        200,
        &[
            "Checkout fails for every card payment",
            "id=\"update-status\"",
            "id=\"timeline\"",
            "id=\"roles\"",
            "id=\"key-events\"",
            "id=\"metrics\"",
            "id=\"costs\"",
            "Commander",
            "jane@example.com",
        ],
    );
    browser
        .get("/incident/create/")
        .await
        .expect(200, &["Declare an incident", "name=\"title\"", "<optgroup"]);
    browser.get("/statistics/").await.expect(
        200,
        &[
            "By priority",
            "Age of open incidents",
            "Time to mitigate",
            "By group",
            "By status",
            "2 incidents.",
        ],
    );
    browser
        .get("/docs/role_types/")
        .await
        .expect(200, &["Role types", "Commander"]);
    browser
        .get("/docs/role_types/commander/")
        .await
        .expect(200, &["Commander", "Role types"]);
    let commander = app
        .catalog
        .role_types
        .iter()
        .find(|r| r.slug == "commander")
        .unwrap();
    browser
        .get(&format!("/docs/role_types/{}/", commander.id))
        .await
        .expect(200, &["Commander"]);
    browser
        .get("/docs/metrics/")
        .await
        .expect(200, &["Metrics", "Key events"]);
}

#[tokio::test]
async fn unknown_things_are_not_found() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", true).await;
    for path in [
        "/incident/999/",
        "/incident/abc/",
        "/docs/role_types/nobody/",
        "/admin/spaceships/",
        "/admin/priorities/not-an-id/",
        "/admin/users/not-an-id/",
    ] {
        assert_eq!(browser.get(path).await.status, 404, "{path}");
    }
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_the_login_page() {
    let app = spawn_app().await;
    let anonymous = http_client();
    for path in [
        "/",
        "/incident/",
        "/incident/1/",
        "/incident/create/",
        "/statistics/",
        "/docs/metrics/",
        "/docs/role_types/",
        "/admin/",
        "/admin/priorities/",
    ] {
        let r = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        let location = r.headers()["location"].to_str().unwrap();
        assert!(location.starts_with("/login?next="), "{path} → {location}");
    }
    let r = anonymous
        .get(app.url("/incident/"))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().contains_key("HX-Redirect"),
        "htmx is asked to navigate to the login page"
    );
}

#[tokio::test]
async fn the_back_office_is_for_staff_only() {
    let app = spawn_app().await;
    let responder = app.logged_in("responder@example.com", false).await;
    for path in [
        "/admin/",
        "/admin/priorities/",
        "/admin/priorities/new",
        "/admin/users/",
        "/admin/tokens/",
        "/admin/tasks/",
        "/admin/deliveries/",
    ] {
        assert_eq!(responder.get(path).await.status, 403, "{path}");
    }
    let r = responder
        .post("/admin/groups/new", &[("name", "Sneaky"), ("order", "1")])
        .await;
    assert_eq!(r.status, 403);
    assert!(
        !app.app
            .store()
            .catalog()
            .await
            .unwrap()
            .groups
            .iter()
            .any(|g| g.name == "Sneaky")
    );
    assert!(
        !responder.get("/").await.body.contains("Back-office"),
        "no back-office link for non-staff"
    );

    let staff = app.logged_in("staff@example.com", true).await;
    assert!(staff.get("/").await.body.contains("Back-office"));
    staff.get("/admin/").await.expect(
        200,
        &[
            "Reference data",
            "Priorities",
            "Key event types",
            "API tokens",
            "Periodic tasks",
        ],
    );
    for kind in [
        "priorities",
        "environments",
        "groups",
        "categories",
        "role_types",
        "milestone_types",
        "metric_types",
        "cost_types",
    ] {
        staff
            .get(&format!("/admin/{kind}/"))
            .await
            .expect(200, &["<table"]);
        staff
            .get(&format!("/admin/{kind}/new"))
            .await
            .expect(200, &["id=\"edit-form\""]);
    }
    let p1 = app.priority("P1");
    staff
        .get(&format!("/admin/priorities/{p1}/"))
        .await
        .expect(200, &["value=\"P1\""]);
    staff
        .get("/admin/milestone_types/started/")
        .await
        .expect(200, &["value=\"started\""]);
    staff
        .get("/admin/users/")
        .await
        .expect(200, &["responder@example.com"]);
    staff
        .get("/admin/tokens/")
        .await
        .expect(200, &["New token"]);
    staff
        .get("/admin/tasks/")
        .await
        .expect(200, &["test.count_things"]);
    staff
        .get("/admin/deliveries/")
        .await
        .expect(200, &["Outbox deliveries"]);
}

#[tokio::test]
async fn assets_are_served_from_the_binary_with_cache_headers() {
    let app = spawn_app().await;
    let client = http_client();
    for (path, kind) in [
        ("/static/app.css", "text/css"),
        ("/static/htmx.min.js", "text/javascript"),
    ] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age")
        );
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        let body = r.text().await.unwrap();
        assert!(body.len() > 1000, "{path} has content");
        let again = client
            .get(app.url(path))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path} revalidates");
    }
    let js = client
        .get(app.url("/static/htmx.min.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(js.contains("htmx"), "the vendored htmx");
}

#[tokio::test]
async fn the_list_filters_paginates_and_exports_with_the_same_filters() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    app.declare(
        &browser.user,
        "Checkout fails for every card payment",
        "P1",
        false,
    )
    .await;
    app.declare(
        &browser.user,
        "Search is slow for some sellers",
        "P4",
        false,
    )
    .await;

    let p1 = app.priority("P1");
    let filtered = browser.get(&format!("/incident/?priority={p1}")).await;
    filtered.expect(
        200,
        &[
            "Checkout fails",
            "Incidents 1–1 of 1",
            &format!("/api/v2/firefighter/incidents/?priority={p1}&#38;format=csv"),
        ],
    );
    assert!(!filtered.body.contains("Search is slow"));

    let searched = browser.get("/incident/?search=sellers").await;
    searched.expect(200, &["Search is slow"]);
    assert!(!searched.body.contains("Checkout fails"));

    browser
        .get("/incident/?created_at=current_quarter")
        .await
        .expect(200, &["Incidents 1–2 of 2"]);
    browser
        .get("/incident/?created_at=2019%2FQ1")
        .await
        .expect(200, &["No incident matches."]);
    browser
        .get("/incident/?status=60")
        .await
        .expect(200, &["No incident matches."]);

    let bad = browser.get("/incident/?created_at=next+tuesday").await;
    bad.expect(
        400,
        &["is not a date range I understand", "value=\"next tuesday\""],
    );

    // htmx asks for the results only.
    let fragment = browser
        .http
        .get(app.url("/incident/?search=checkout"))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(fragment.contains("Checkout fails"));
    assert!(!fragment.contains("<html"), "a fragment, not a page");

    // The export link works with the session, with the filters applied.
    let csv = browser
        .http
        .get(app.url(&format!(
            "/api/v2/firefighter/incidents/?priority={p1}&format=csv"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    assert!(
        csv.contains("Checkout fails") && !csv.contains("Search is slow"),
        "{csv}"
    );
}

#[tokio::test]
async fn the_list_has_pages_of_125() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    for n in 0..130 {
        app.declare(
            &browser.user,
            &format!("Generated incident number {n:03}"),
            "P4",
            false,
        )
        .await;
    }
    let first = browser.get("/incident/").await;
    first.expect(200, &["Incidents 1–125 of 130", "page=2"]);
    let second = browser.get("/incident/?page=2").await;
    second.expect(
        200,
        &["Incidents 126–130 of 130", "Generated incident number 000"],
    );
}

#[tokio::test]
async fn output_is_escaped() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    let id = app
        .declare(
            &browser.user,
            "<script>alert('owned')</script> checkout",
            "P3",
            false,
        )
        .await;
    for path in [
        "/".to_owned(),
        "/incident/".to_owned(),
        format!("/incident/{}/", id.0),
    ] {
        let page = browser.get(&path).await;
        assert!(
            !page.body.contains("<script>alert"),
            "{path} escapes titles"
        );
        assert!(page.body.contains("&#60;script&#62;"), "{path}");
    }
}

#[tokio::test]
async fn statistics_cells_link_to_the_incidents_they_count() {
    let app = spawn_app().await;
    let browser = app.logged_in("jane@example.com", false).await;
    app.declare(
        &browser.user,
        "Checkout fails for every card payment",
        "P3",
        false,
    )
    .await;
    let other = app
        .declare(
            &browser.user,
            "Search is slow for some sellers",
            "P4",
            false,
        )
        .await;
    app.app
        .update(
            other,
            firefighter::core::Update {
                status: Some(firefighter::core::Status::Mitigated),
                by: Some(browser.user.id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let page = browser.get("/statistics/").await;
    page.expect(200, &["2 incidents."]);
    // The one non-zero age cell (the P3, 0–2 days) links to a filtered list.
    let href = page
        .body
        .split("<td class=\"num\"><a href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a linked cell")
        .replace("&#38;", "&");
    assert!(
        href.contains(&format!("priority={}", app.priority("P3"))),
        "{href}"
    );
    let list = browser.get(&href).await;
    list.expect(
        200,
        &[
            "Checkout fails for every card payment",
            "Incidents 1–1 of 1",
        ],
    );
    // The P4 reached Mitigated: it is counted in the time to mitigate, under an hour.
    assert!(page.body.contains("id=\"mitigation\""));
}
