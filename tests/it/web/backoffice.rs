//! The back-office: reference data, users, API tokens, periodic tasks and
//! outbox deliveries.

use firefighter::core::outbox::Dispatcher;
use firefighter::core::store::DeliveryStatus;

use super::support::{BROKEN_TASK, FAILING_HANDLER, GOOD_TASK, PASSWORD, field_value, spawn_app};

#[tokio::test]
async fn priorities_are_created_and_edited_with_their_rules_checked() {
    let app = spawn_app().await;
    let staff = app.logged_in("staff@example.com", true).await;
    let fields = [
        ("name", "P0"),
        ("value", "0"),
        ("emoji", "🧨"),
        ("description", "Everything is down"),
        ("order", "0"),
        ("enabled_create", "on"),
        ("enabled_update", "on"),
        ("reminder_minutes", "10"),
        ("postmortem_reminder_hours", "72"),
        ("postmortem_reminder_repeat_hours", "24"),
        ("sla_minutes", "30"),
        ("response_type", "critical"),
    ];
    staff
        .post("/admin/priorities/new", &fields)
        .await
        .expect_redirect("/admin/priorities/?notice=created");
    let catalog = app.app.store().catalog().await.unwrap();
    let p0 = catalog
        .priorities
        .iter()
        .find(|p| p.name == "P0")
        .expect("created");
    assert_eq!(p0.sla.as_secs(), 1800);
    assert_eq!(p0.postmortem_reminder_time.as_secs(), 72 * 3600);
    assert_eq!(p0.postmortem_reminder_repeat_time.as_secs(), 24 * 3600);
    assert!(p0.enabled_create && !p0.needs_postmortem);
    staff
        .get("/admin/priorities/?notice=created")
        .await
        .expect(200, &["Created.", "Everything is down"]);
    // The declaration form offers it at once (the catalog cache was dropped).
    let browser = app.logged_in("jane@example.com", false).await;
    browser
        .get("/incident/create/")
        .await
        .expect(200, &["Everything is down"]);

    let mut edit: Vec<(&str, &str)> = fields.to_vec();
    edit[3] = ("description", "The whole site is down");
    staff
        .post(&format!("/admin/priorities/{}/", p0.id), &edit)
        .await
        .expect_redirect("/admin/priorities/?notice=saved");
    let catalog = app.app.store().catalog().await.unwrap();
    assert_eq!(
        catalog
            .priorities
            .iter()
            .find(|p| p.id == p0.id)
            .unwrap()
            .description,
        "The whole site is down"
    );

    // A taken name and a missing number are refused, with what was typed kept.
    let mut clash: Vec<(&str, &str)> = fields.to_vec();
    clash[0] = ("name", "P1");
    clash[1] = ("value", "");
    let r = staff.post("/admin/priorities/new", &clash).await;
    r.expect(
        422,
        &[
            "another priority already uses this name",
            "a whole number is required",
            "value=\"Everything is down\"",
        ],
    );
    let count = app.app.store().catalog().await.unwrap().priorities.len();
    assert_eq!(count, catalog.priorities.len(), "nothing written");
}

#[tokio::test]
async fn groups_categories_and_types_are_created_from_the_back_office() {
    let app = spawn_app().await;
    let staff = app.logged_in("staff@example.com", true).await;
    staff
        .post(
            "/admin/groups/new",
            &[
                ("name", "Logistics"),
                ("description", "Warehouses and carriers"),
                ("order", "9"),
            ],
        )
        .await
        .expect_redirect("/admin/groups/");
    let group = app
        .app
        .store()
        .catalog()
        .await
        .unwrap()
        .groups
        .into_iter()
        .find(|g| g.name == "Logistics")
        .unwrap();
    staff
        .post(
            "/admin/categories/new",
            &[
                ("name", "Carrier labels"),
                ("group", &group.id.to_string()),
                ("order", "1"),
                ("private", "on"),
            ],
        )
        .await
        .expect_redirect("/admin/categories/");
    let catalog = app.app.store().catalog().await.unwrap();
    let category = catalog
        .categories
        .iter()
        .find(|c| c.name == "Carrier labels")
        .unwrap();
    assert!(category.private);
    assert_eq!(category.group_id, group.id);

    staff
        .post(
            "/admin/role_types/new",
            &[
                ("slug", "scribe"),
                ("name", "Scribe"),
                ("order", "5"),
                ("summary", "Takes notes"),
            ],
        )
        .await
        .expect_redirect("/admin/role_types/");
    staff
        .post(
            "/admin/role_types/new",
            &[("slug", "Bad Slug"), ("name", "Bad"), ("order", "6")],
        )
        .await
        .expect(422, &["lowercase letters"]);

    staff
        .post(
            "/admin/milestone_types/new",
            &[
                ("event_type", "escalated"),
                ("name", "Escalated"),
                ("user_editable", "on"),
                ("asked_for", "on"),
            ],
        )
        .await
        .expect_redirect("/admin/milestone_types/");
    staff
        .post(
            "/admin/metric_types/new",
            &[
                ("slug", "time_to_escalate"),
                ("code", "TTE"),
                ("name", "Time to escalate"),
                ("start_event", "detected"),
                ("end_event", "escalated"),
            ],
        )
        .await
        .expect_redirect("/admin/metric_types/");
    staff
        .post(
            "/admin/metric_types/new",
            &[
                ("slug", "loop"),
                ("code", "L"),
                ("name", "Loop"),
                ("start_event", "detected"),
                ("end_event", "detected"),
            ],
        )
        .await
        .expect(422, &["two different key events"]);
    staff
        .post(
            "/admin/cost_types/new",
            &[("name", "Carrier penalties"), ("editable", "on")],
        )
        .await
        .expect_redirect("/admin/cost_types/");
    staff
        .post(
            "/admin/environments/new",
            &[
                ("value", "PRD"),
                ("name", "Another production"),
                ("order", "3"),
            ],
        )
        .await
        .expect(422, &["already uses this value"]);

    let catalog = app.app.store().catalog().await.unwrap();
    assert!(catalog.role_types.iter().any(|r| r.slug == "scribe"));
    assert!(
        catalog
            .milestone_types
            .iter()
            .any(|m| m.event_type == "escalated")
    );
    assert!(
        catalog
            .metric_types
            .iter()
            .any(|m| m.slug == "time_to_escalate")
    );
    assert!(
        catalog
            .cost_types
            .iter()
            .any(|c| c.name == "Carrier penalties")
    );
    let browser = app.logged_in("jane@example.com", false).await;
    browser
        .get("/docs/metrics/")
        .await
        .expect(200, &["Time to escalate"]);
    browser
        .get("/docs/role_types/scribe/")
        .await
        .expect(200, &["Takes notes"]);
}

#[tokio::test]
async fn users_are_created_flagged_and_given_a_password() {
    let app = spawn_app().await;
    let staff = app.logged_in("staff@example.com", true).await;
    let r = staff
        .post(
            "/admin/users/",
            &[("email", "New.Person@Example.com"), ("name", "New Person")],
        )
        .await;
    let location = r.expect_redirect("/admin/users/");
    let user = app
        .app
        .store()
        .user_by_email("new.person@example.com")
        .await
        .unwrap()
        .expect("created");
    staff
        .get(&location)
        .await
        .expect(200, &["Created.", "User new.person@example.com"]);
    staff
        .post("/admin/users/", &[("email", "new.person@example.com")])
        .await
        .expect(422, &["already exists"]);
    staff
        .post("/admin/users/", &[("email", "not an address")])
        .await
        .expect(422, &["not a valid e-mail address"]);

    let path = format!("/admin/users/{}/password", user.id);
    staff
        .post(&path, &[("password", "short")])
        .await
        .expect(422, &["at least 10 characters"]);
    staff
        .post(&path, &[("password", PASSWORD)])
        .await
        .expect_redirect(&format!("/admin/users/{}/?notice=password", user.id));
    let browser = app.login(&user).await;
    browser.get("/").await.expect(200, &["New Person"]);

    // Staff flag: the back-office opens for them; deactivation closes their sessions.
    staff
        .post(
            &format!("/admin/users/{}/", user.id),
            &[
                ("name", "New Person"),
                ("is_active", "on"),
                ("is_staff", "on"),
            ],
        )
        .await
        .expect_redirect("/admin/users/");
    assert_eq!(browser.get("/admin/").await.status, 200);
    staff
        .post(
            &format!("/admin/users/{}/", user.id),
            &[("name", "New Person")],
        )
        .await
        .expect_redirect("/admin/users/");
    assert_eq!(
        browser.get("/").await.status,
        303,
        "deactivated: logged out"
    );

    // Nobody locks themselves out.
    staff
        .post(
            &format!("/admin/users/{}/", staff.user.id),
            &[("name", "Staff"), ("is_active", "on")],
        )
        .await
        .expect(422, &["You cannot deactivate yourself"]);
}

#[tokio::test]
async fn api_tokens_are_shown_once_work_and_can_be_revoked() {
    let app = spawn_app().await;
    let staff = app.logged_in("staff@example.com", true).await;
    let jane = app.user("jane@example.com", false).await;
    let jane_id = jane.id.to_string();
    let page = staff
        .post(
            "/admin/tokens/",
            &[
                ("user", &jane_id),
                ("name", "Monitoring"),
                ("scopes", "incidents:read"),
            ],
        )
        .await;
    page.expect(200, &["Copy it now", "jane@example.com", "incidents:read"]);
    let secret = page
        .body
        .split("<pre><code>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_owned();
    assert_eq!(secret.len(), 40);
    assert!(
        !staff.get("/admin/tokens/").await.body.contains(&secret),
        "shown once"
    );

    let api = reqwest::Client::new();
    let ok = api
        .get(format!("{}/api/v2/firefighter/incidents/", app.base))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    staff
        .post(
            "/admin/tokens/",
            &[
                ("user", &jane_id),
                ("name", "Too much"),
                ("scopes", "admin"),
            ],
        )
        .await
        .expect(422, &["may not hold the &#34;admin&#34; scope"]);
    staff
        .post("/admin/tokens/", &[("user", &jane_id), ("name", "")])
        .await
        .expect(422, &["a token name has 1 to 100 characters"]);

    let token = app
        .app
        .store()
        .api_tokens(Some(jane.id))
        .await
        .unwrap()
        .remove(0);
    staff
        .post(&format!("/admin/tokens/{}/revoke", token.id), &[])
        .await
        .expect_redirect("/admin/tokens/?notice=revoked");
    let refused = api
        .get(format!("{}/api/v2/firefighter/incidents/", app.base))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    staff
        .post(&format!("/admin/tokens/{}/revoke", token.id), &[])
        .await
        .expect_redirect("/admin/tokens/?notice=already_revoked");
}

#[tokio::test]
async fn tasks_run_now_show_their_outcome_and_schedules_are_edited() {
    let app = spawn_app().await;
    let staff = app.logged_in("staff@example.com", true).await;
    staff
        .get("/admin/tasks/")
        .await
        .expect(200, &[GOOD_TASK, BROKEN_TASK, "every 1h", "by hand only"]);

    let location = staff
        .post(&format!("/admin/tasks/{GOOD_TASK}/run"), &[])
        .await
        .expect_redirect("/admin/tasks/?run=");
    staff
        .get(&location)
        .await
        .expect(200, &["id=\"run-result\"", "succeeded", "counted 3 things"]);
    let location = staff
        .post(&format!("/admin/tasks/{BROKEN_TASK}/run"), &[])
        .await
        .expect_redirect("/admin/tasks/?run=");
    staff.get(&location).await.expect(
        200,
        &["failed", "the vendor answered 503 Service Unavailable"],
    );
    assert_eq!(
        staff
            .post("/admin/tasks/no.such.task/run", &[])
            .await
            .status,
        404
    );

    let path = format!("/admin/tasks/{BROKEN_TASK}/schedule");
    staff
        .post(&path, &[("enabled", "on"), ("schedule", "every tuesday")])
        .await
        .expect(
            422,
            &["is not a valid cron expression", "value=\"every tuesday\""],
        );
    staff
        .post(&path, &[("enabled", "on"), ("schedule", "0 10 * * 1-5")])
        .await
        .expect_redirect("/admin/tasks/?notice=schedule");
    let schedules = app.app.store().task_schedules().await.unwrap();
    let s = schedules.iter().find(|s| s.name == BROKEN_TASK).unwrap();
    assert!(s.enabled && s.next_run_at.is_some());
    staff
        .post(&path, &[("schedule", "15m")])
        .await
        .expect_redirect("/admin/tasks/");
    let schedules = app.app.store().task_schedules().await.unwrap();
    let s = schedules.iter().find(|s| s.name == BROKEN_TASK).unwrap();
    assert!(
        !s.enabled && s.next_run_at.is_none(),
        "disabled: no next run"
    );
    staff.get("/admin/tasks/").await.expect(200, &["every 15m"]);
}

#[tokio::test]
async fn failed_deliveries_are_listed_with_their_error_and_re_queued() {
    let app = spawn_app().await;
    let staff = app.logged_in("staff@example.com", true).await;
    app.declare(
        &staff.user,
        "Checkout fails for every card payment",
        "P3",
        false,
    )
    .await;
    let report = Dispatcher::for_app(&app.app).run_once().await.unwrap();
    assert!(report.parked >= 1, "{report:?}");

    let page = staff.get("/admin/deliveries/").await;
    page.expect(
        200,
        &[
            FAILING_HANDLER,
            "the vendor refused the token (401)",
            "Re-queue",
        ],
    );
    let failed = app
        .app
        .store()
        .list_deliveries(Some(DeliveryStatus::Failed), 10)
        .await
        .unwrap();
    let id = failed[0].id;
    staff
        .post(&format!("/admin/deliveries/{id}/requeue"), &[])
        .await
        .expect_redirect("/admin/deliveries/?notice=requeued");
    let pending = app
        .app
        .store()
        .list_deliveries(Some(DeliveryStatus::Pending), 10)
        .await
        .unwrap();
    assert!(pending.iter().any(|d| d.id == id));
    staff
        .get("/admin/deliveries/?status=pending")
        .await
        .expect(200, &[FAILING_HANDLER]);
    staff
        .post(&format!("/admin/deliveries/{id}/requeue"), &[])
        .await
        .expect_redirect("/admin/deliveries/?notice=not_requeued");
    assert_eq!(
        staff.get("/admin/deliveries/?status=sideways").await.status,
        404
    );
    let _ = field_value;
}

#[tokio::test]
async fn parked_inbox_requests_are_listed_with_their_error_and_re_queued() {
    use firefighter_core::inbox::{InboxEnd, NewInboxItem};
    let app = spawn_app().await;
    let staff = app.logged_in("staff@example.com", true).await;
    let store = app.app.store();
    let item = NewInboxItem {
        id: uuid::Uuid::new_v4(),
        kind: "webhook".into(),
        payload: r#"{"issue":"INC-42"}"#.into(),
        actor: "jira-user-7".into(),
        claim_token: uuid::Uuid::new_v4(),
        // A lease long over (one ending in the same microsecond as the claim
        // below would still hold it).
        claimed_until: firefighter_core::store::now() - chrono::Duration::seconds(60),
        claim_owner: None,
    };
    let now = firefighter_core::store::now();
    store
        .insert_inbox_items("jira", std::slice::from_ref(&item), now)
        .await
        .unwrap();
    let claimed = store
        .claim_inbox_items(
            "jira",
            "instance-test",
            now,
            now + chrono::Duration::minutes(5),
            1,
        )
        .await
        .unwrap();
    let end = InboxEnd::Park("the incident category is unknown".into());
    assert!(
        store
            .end_inbox_item(item.id, claimed[0].claim_token.unwrap(), &end, now)
            .await
            .unwrap()
    );

    staff.get("/admin/").await.expect(200, &["/admin/inbox/"]);
    staff.get("/admin/inbox/").await.expect(
        200,
        &[
            "jira",
            "webhook",
            "jira-user-7",
            "the incident category is unknown",
            "INC-42",
            "Re-queue",
        ],
    );
    let path = format!("/admin/inbox/{}/requeue", item.id);
    staff
        .post(&path, &[])
        .await
        .expect_redirect("/admin/inbox/?notice=inbox_requeued");
    let requeued = store.inbox_item(item.id).await.unwrap().unwrap();
    assert_eq!((requeued.parked_at, requeued.attempts), (None, 0));
    staff
        .get("/admin/inbox/")
        .await
        .expect(200, &["No parked request."]);
    staff
        .post(&path, &[])
        .await
        .expect_redirect("/admin/inbox/?notice=inbox_not_requeued");
    // Only staff see it.
    let person = app.logged_in("someone@example.com", false).await;
    assert_ne!(person.get("/admin/inbox/").await.status, 200);
}
