//! The back-office pages and their data layer.

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use crate::support::env;

#[tokio::test]
async fn the_back_office_adds_groups_by_handle_and_links_categories() {
    let t = env().await;
    t.workspace().await;
    let router = firefighter_slack::admin_routes(t.app.clone(), t.slack.clone());
    t.fake
        .add_usergroup("S0WEB", "web-team", &["UBOB", "UJANE"]);
    let post = |uri: &str, body: String| {
        Request::post(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    let resp = router
        .clone()
        .oneshot(post(
            "/admin/slack/usergroups",
            "usergroup=%40web-team".into(),
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("added"), "{location}");
    let g = t.slack.store().usergroup("S0WEB").await.unwrap().unwrap();
    assert_eq!((g.handle.as_str(), g.member_count), ("web-team", 2));

    let website = t.category("Website").await;
    let search = t.category("Search").await;
    let resp = router
        .clone()
        .oneshot(post(
            "/admin/slack/usergroups/S0WEB/categories",
            format!("category_id={website}&category_id={search}"),
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(
        t.slack
            .store()
            .usergroup("S0WEB")
            .await
            .unwrap()
            .unwrap()
            .category_ids
            .len(),
        2
    );

    // A tag already on another conversation is refused with a clear message.
    let resp = router
        .clone()
        .oneshot(post(
            "/admin/slack/conversations/CPAY/tag",
            "tag=tech_incidents".into(),
        ))
        .await
        .unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("error=true") && location.contains("already"),
        "{location}"
    );
    // An unknown group.
    let resp = router
        .clone()
        .oneshot(post("/admin/slack/usergroups", "usergroup=S0NOPE".into()))
        .await
        .unwrap();
    assert!(
        resp.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=true")
    );
    // SOS.
    let resp = router
        .clone()
        .oneshot(post(
            "/admin/slack/sos",
            "name=SRE&channel_id=CHELP&usergroup_id=S0SRE".into(),
        ))
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);

    let page = router
        .oneshot(Request::get("/admin/slack/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = String::from_utf8(
        axum::body::to_bytes(page.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        // The frame (stylesheet, navigation) is the server's, not the crate's.
        html.contains("<h1>Slack</h1>")
            && html.contains("@web-team")
            && html.contains("#payments-team")
            && html.contains("@sre"),
        "{html}"
    );
    assert!(html.contains("tech_incidents"));
}
