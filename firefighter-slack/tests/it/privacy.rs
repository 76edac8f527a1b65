//! Private incidents in Slack: every door (command, buttons, pickers, forms,
//! the home tab, `:mega:`, submissions applied after the acknowledgement)
//! asks core's one visibility rule. A non-member who is not staff is told
//! so, sees nothing of the incident and changes nothing; members and staff
//! work as usual.

use chrono::Utc;
use firefighter_core::inbox::NewInboxItem;
use firefighter_core::{IncidentFilter, IncidentId, Status};
use firefighter_slack::submissions::kind;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestEnv, env, multi, select, text};

/// The creator of the private incident, so one of its members.
const MEMBER: &str = "UJANE";
/// In the workspace, neither a member nor staff.
const OUTSIDER: &str = "UBOB";
/// Staff (made so by [`private_incident`]), not a member.
const STAFF: &str = "USRE";

const TITLE: &str = "Credentials leaked in a public repository";
const DESCRIPTION: &str = "The deploy key of the billing vault was pushed to GitHub";
const PUBLIC_TITLE: &str = "Checkout fails for every card payment";

/// What every refusal says (never the title or the description).
const REFUSAL: &str = "not a member of incident";

/// A workspace, a private P2 declared by [`MEMBER`] (with its private
/// channel), and [`STAFF`] made staff.
async fn private_incident(t: &TestEnv) -> (IncidentId, String) {
    t.workspace().await;
    let values = vec![
        ("impact:customers_impact", select("HI")),
        ("category", select(t.category("Vulnerability").await)),
        ("environments", multi(&[t.env_id("PRD").await.to_string()])),
        ("title", text(TITLE)),
        ("description", text(DESCRIPTION)),
    ];
    t.submit(MEMBER, "VPRIV", "incident_open", json!({}), values)
        .await;
    t.drain().await;
    let incident = t
        .app
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.title == TITLE)
        .expect("the private incident is declared");
    assert!(incident.private);
    let channel = t
        .slack
        .store()
        .incident_channel(incident.id)
        .await
        .unwrap()
        .expect("its channel")
        .channel_id;
    assert!(t.fake.channel(&channel).unwrap().private);
    let mut staff = user(t, STAFF).await;
    staff.is_staff = true;
    t.app.store().update_user(&staff).await.unwrap();
    let members = t.app.incident_details(incident.id).await.unwrap().members;
    assert_eq!(members, vec![user(t, MEMBER).await.id], "only its creator");
    (incident.id, channel)
}

/// A public P2 declared by [`MEMBER`].
async fn public_incident(t: &TestEnv) -> IncidentId {
    let values = vec![
        ("impact:customers_impact", select("HI")),
        ("category", select(t.category("Checkout").await)),
        ("environments", multi(&[t.env_id("PRD").await.to_string()])),
        ("title", text(PUBLIC_TITLE)),
    ];
    t.submit(MEMBER, "VPUB", "incident_open", json!({}), values)
        .await;
    t.drain().await;
    t.app
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.title == PUBLIC_TITLE)
        .unwrap()
        .id
}

async fn user(t: &TestEnv, slack_id: &str) -> firefighter_core::User {
    t.app
        .store()
        .user_by_identity(firefighter_slack::PLATFORM, slack_id)
        .await
        .unwrap()
        .unwrap()
}

fn leaks(v: &impl ToString) -> bool {
    let s = v.to_string();
    s.contains(TITLE) || s.contains(DESCRIPTION)
}

/// The incident's version and number of timeline entries: both stay put when nothing changes.
async fn footprint(t: &TestEnv, id: IncidentId) -> (i64, usize) {
    (
        t.app.incident(id).await.unwrap().version,
        t.app.timeline(id).await.unwrap().len(),
    )
}

/// The home tab last published for `slack_user`.
fn home_of(t: &TestEnv, slack_user: &str) -> Value {
    t.fake
        .state
        .lock()
        .unwrap()
        .views
        .iter()
        .rev()
        .find(|v| v.0 == "views.publish" && v.2 == slack_user)
        .map(|v| v.1.clone())
        .unwrap_or_else(|| panic!("no home tab published for {slack_user}"))
}

async fn open_home(t: &TestEnv, slack_user: &str, event_id: &str) -> String {
    t.event(
        event_id,
        json!({"type": "app_home_opened", "user": slack_user, "tab": "home"}),
    )
    .await;
    t.fake
        .wait_for("the home tab", |f| {
            f.state
                .lock()
                .unwrap()
                .views
                .iter()
                .any(|v| v.0 == "views.publish" && v.2 == slack_user)
        })
        .await;
    home_of(t, slack_user).to_string()
}

#[tokio::test]
async fn the_home_tab_shows_a_private_incident_to_its_members_and_staff_only() {
    let t = env().await;
    let (id, _) = private_incident(&t).await;
    let public = public_incident(&t).await;

    let home = open_home(&t, OUTSIDER, "EH1").await;
    assert!(!leaks(&home), "{home}");
    assert!(!home.contains(&format!("\"value\":\"{}\"", id.0)), "{home}");
    assert!(
        home.contains(PUBLIC_TITLE) && home.contains(&format!("\"value\":\"{}\"", public.0)),
        "public incidents are still listed: {home}"
    );
    assert!(
        home.contains("1 critical incident active"),
        "the count does not give the private one away: {home}"
    );

    for (who, event) in [(MEMBER, "EH2"), (STAFF, "EH3")] {
        let home = open_home(&t, who, event).await;
        assert!(
            home.contains(TITLE) && home.contains(PUBLIC_TITLE),
            "{who}: {home}"
        );
        assert!(
            home.contains("2 critical incidents active"),
            "{who}: {home}"
        );
    }
}

/// Opens `/incident <text>` in `channel` as `who`: the modal opened, if any.
async fn command_view(t: &TestEnv, who: &str, channel: &str, text: &str) -> Option<Value> {
    let before = t.fake.views("views.open").len();
    let (status, answer) = t.command(who, channel, text).await;
    assert!(status.is_success(), "{answer}");
    assert!(!leaks(&answer), "{answer}");
    let views = t.fake.views("views.open");
    (views.len() > before).then(|| views.last().unwrap().clone())
}

#[tokio::test]
async fn the_incident_picker_lists_a_private_incident_to_its_members_and_staff_only() {
    let t = env().await;
    let (id, _) = private_incident(&t).await;
    let public = public_incident(&t).await;
    let option = |id: IncidentId| format!("\"value\":\"{}\"", id.0);

    let picker = command_view(&t, OUTSIDER, "CPAY", "status")
        .await
        .expect("the picker")
        .to_string();
    assert!(picker.contains("incident_select"), "{picker}");
    assert!(!leaks(&picker) && !picker.contains(&option(id)), "{picker}");
    assert!(picker.contains(&option(public)), "{picker}");

    for who in [MEMBER, STAFF] {
        let picker = command_view(&t, who, "CPAY", "update")
            .await
            .expect("the picker")
            .to_string();
        assert!(
            picker.contains(TITLE) && picker.contains(&option(id)),
            "{who}: {picker}"
        );
    }
}

async fn submit_picker(t: &TestEnv, who: &str, id: IncidentId) -> Value {
    t.submit(
        who,
        "VSEL",
        "incident_select",
        json!({"target": "status"}),
        vec![("incident", select(id.0))],
    )
    .await
    .1
}

#[tokio::test]
async fn submitting_the_picker_opens_a_private_incident_for_its_members_and_staff_only() {
    let t = env().await;
    let (id, _) = private_incident(&t).await;

    let answer = submit_picker(&t, OUTSIDER, id).await;
    assert!(!leaks(&answer), "{answer}");
    assert!(answer.to_string().contains(REFUSAL), "{answer}");

    for who in [MEMBER, STAFF] {
        let answer = submit_picker(&t, who, id).await;
        assert_eq!(
            answer["view"]["callback_id"], "incident_status",
            "{who}: {answer}"
        );
        assert!(leaks(&answer), "{who} sees the incident: {answer}");
    }
}

#[tokio::test]
async fn a_command_typed_in_a_private_incident_channel_is_refused_to_a_non_member() {
    let t = env().await;
    let (_, channel) = private_incident(&t).await;

    assert!(
        command_view(&t, OUTSIDER, &channel, "update")
            .await
            .is_none()
    );
    let told = t.fake.responses();
    assert!(
        told.iter().any(|r| r.to_string().contains(REFUSAL)),
        "{told:?}"
    );
    assert!(!told.iter().any(leaks), "{told:?}");

    for who in [MEMBER, STAFF] {
        let view = command_view(&t, who, &channel, "status")
            .await
            .expect("the status modal");
        assert_eq!(view["callback_id"], "incident_status", "{who}");
        assert!(leaks(&view), "{who}");
    }
}

#[tokio::test]
async fn buttons_open_a_private_incident_s_modals_for_its_members_and_staff_only() {
    let t = env().await;
    let (id, channel) = private_incident(&t).await;
    let click = |who: &str, action: &str| {
        json!({
            "type": "block_actions", "user": {"id": who}, "trigger_id": "tb",
            "channel": {"id": channel},
            "actions": [{"action_id": action, "block_id": "b", "value": id.0.to_string()}],
        })
    };
    for (action, method, callback) in [
        ("update_status", "views.open", "incident_update_status"),
        ("update_incident", "views.open", "incident_update"),
        ("push_edit", "views.push", "incident_edit"),
        ("downgrade_incident", "views.open", "incident_downgrade"),
    ] {
        let before = t.fake.views(method).len();
        t.interaction(click(OUTSIDER, action)).await;
        let views = t.fake.views(method);
        assert_eq!(views.len(), before + 1, "{action}: the person is answered");
        let shown = views.last().unwrap();
        assert!(!leaks(shown), "{action}: {shown}");
        assert!(shown.to_string().contains(REFUSAL), "{action}: {shown}");
        assert_ne!(shown["callback_id"], callback, "{action}");

        for who in [MEMBER, STAFF] {
            t.interaction(click(who, action)).await;
            let shown = t.fake.views(method).pop().unwrap();
            assert_eq!(shown["callback_id"], callback, "{who} {action}: {shown}");
        }
    }
}

async fn update_status(t: &TestEnv, who: &str, id: IncidentId, to: &str, message: &str) -> Value {
    t.submit(
        who,
        "VUS",
        "incident_update_status",
        json!({"incident": id.0}),
        vec![("status", select(to)), ("message", text(message))],
    )
    .await
    .1
}

#[tokio::test]
async fn a_status_update_on_a_private_incident_is_refused_to_a_non_member() {
    let t = env().await;
    let (id, _) = private_incident(&t).await;
    let before = footprint(&t, id).await;

    let answer = update_status(&t, OUTSIDER, id, "investigating", "Looking").await;
    assert!(answer.to_string().contains(REFUSAL), "{answer}");
    assert!(!leaks(&answer), "{answer}");
    assert_eq!(footprint(&t, id).await, before, "nothing written");
    assert_eq!(t.app.incident(id).await.unwrap().status, Status::Open);

    let answer = update_status(&t, STAFF, id, "investigating", "Staff looking").await;
    assert_eq!(answer["response_action"], "clear", "{answer}");
    assert_eq!(
        t.app.incident(id).await.unwrap().status,
        Status::Investigating
    );
    let answer = update_status(&t, MEMBER, id, "mitigating", "Key rotated").await;
    assert_eq!(answer["response_action"], "clear", "{answer}");
    assert_eq!(t.app.incident(id).await.unwrap().status, Status::Mitigating);
}

#[tokio::test]
async fn every_form_of_a_private_incident_is_refused_to_a_non_member() {
    let t = env().await;
    let (id, _) = private_incident(&t).await;
    let before = footprint(&t, id).await;
    let forms: Vec<(&str, Vec<(&str, Value)>)> = vec![
        (
            "incident_edit",
            vec![
                ("title", text("Renamed by someone else")),
                ("description", text("x")),
            ],
        ),
        (
            "incident_update_roles",
            vec![(
                "role:commander",
                json!({"type": "users_select", "selected_user": OUTSIDER}),
            )],
        ),
        ("incident_close", vec![("message", text("Closing"))]),
        (
            "incident_closure_reason",
            vec![("reason", select("duplicate")), ("message", text("Dup"))],
        ),
        ("incident_send_sos", vec![("sos", select(Uuid::new_v4()))]),
        ("incident_downgrade", vec![]),
        ("incident_oncall_trigger", vec![]),
    ];
    for (callback, values) in forms {
        let (_, answer) = t
            .submit(OUTSIDER, "VF", callback, json!({"incident": id.0}), values)
            .await;
        assert!(answer.to_string().contains(REFUSAL), "{callback}: {answer}");
        assert!(!leaks(&answer), "{callback}: {answer}");
        assert_eq!(
            footprint(&t, id).await,
            before,
            "{callback}: nothing written"
        );
    }
    t.drain().await;
    let details = t.app.incident_details(id).await.unwrap();
    assert_eq!(details.incident.title, TITLE);
    assert_eq!(details.members, vec![user(&t, MEMBER).await.id]);

    // Members and staff use the same forms.
    for (who, title) in [(STAFF, "Renamed by staff"), (MEMBER, "Renamed by a member")] {
        let (_, answer) = t
            .submit(
                who,
                "VF",
                "incident_edit",
                json!({"incident": id.0}),
                vec![("title", text(title)), ("description", text(DESCRIPTION))],
            )
            .await;
        assert_eq!(answer["response_action"], "clear", "{who}: {answer}");
        assert_eq!(t.app.incident(id).await.unwrap().title, title);
    }
}

fn key_event(who: &str, channel: &str, id: IncidentId, slug: &str) -> Value {
    // `started` must come before `detected`, even when a second ticks between two picks.
    let ago = if slug == "started" { 1200 } else { 600 };
    json!({
        "type": "block_actions", "user": {"id": who},
        "channel": {"id": channel},
        "actions": [{"action_id": format!("key_event_{slug}"), "block_id": format!("key_event:{}:{slug}", id.0),
                     "selected_date_time": Utc::now().timestamp() - ago}],
    })
}

async fn has_key_event(t: &TestEnv, id: IncidentId, slug: &str) -> bool {
    t.app
        .incident_details(id)
        .await
        .unwrap()
        .key_events
        .iter()
        .any(|k| k.event_type == slug)
}

#[tokio::test]
async fn a_key_event_button_of_a_private_incident_is_refused_to_a_non_member() {
    let t = env().await;
    let (id, channel) = private_incident(&t).await;
    let before = footprint(&t, id).await;

    let (status, answer) = t
        .interaction(key_event(OUTSIDER, &channel, id, "detected"))
        .await;
    assert!(status.is_success());
    assert!(!leaks(&answer), "{answer}");
    assert!(!has_key_event(&t, id, "detected").await);
    assert_eq!(footprint(&t, id).await, before, "nothing written");
    let told = t.fake.ephemerals();
    assert!(
        told.iter()
            .any(|(_, u, m)| u == OUTSIDER && m.contains(REFUSAL)),
        "{told:?}"
    );

    t.interaction(key_event(MEMBER, &channel, id, "detected"))
        .await;
    assert!(has_key_event(&t, id, "detected").await);
    t.interaction(key_event(STAFF, &channel, id, "started"))
        .await;
    assert!(has_key_event(&t, id, "started").await);
}

/// A message someone wrote in a channel (in the fake); its ts.
fn said(t: &TestEnv, channel: &str, who: &str, text: &str) -> String {
    let mut state = t.fake.state.lock().unwrap();
    let ts = format!("1700009000.{:06}", state.messages.len());
    state.messages.push(crate::fake_slack::FakeMessage {
        channel: channel.to_owned(),
        ts: ts.clone(),
        text: text.to_owned(),
        blocks: json!([]),
        kind: None,
        metadata: Value::Null,
        user: who.to_owned(),
        deleted: false,
        edits: 0,
    });
    ts
}

#[tokio::test]
async fn a_mega_reaction_in_a_private_incident_channel_is_refused_to_a_non_member() {
    let t = env().await;
    let (id, channel) = private_incident(&t).await;
    let promoted = || async {
        t.app
            .timeline(id)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.event_type.as_deref() == Some("slack_message"))
            .count()
    };
    let messages: Vec<String> = (1..=3)
        .map(|n| said(&t, &channel, MEMBER, &format!("Finding number {n}")))
        .collect();
    let react = |who: &str, ts: &str, event: &'static str| {
        let reaction = json!({"type": "reaction_added", "user": who, "reaction": "mega",
                              "item": {"type": "message", "channel": channel, "ts": ts}});
        t.event(event, reaction)
    };
    let before = footprint(&t, id).await;
    react(OUTSIDER, &messages[0], "EM1").await;
    assert_eq!(promoted().await, 0);
    assert_eq!(footprint(&t, id).await, before, "nothing written");
    let told = t.fake.ephemerals();
    assert!(
        told.iter()
            .any(|(_, u, m)| u == OUTSIDER && m.contains(REFUSAL)),
        "{told:?}"
    );

    react(MEMBER, &messages[1], "EM2").await;
    assert_eq!(promoted().await, 1);
    react(STAFF, &messages[2], "EM3").await;
    assert_eq!(promoted().await, 2);
    // The refused message can still be promoted by a member.
    react(MEMBER, &messages[0], "EM4").await;
    assert_eq!(promoted().await, 3);
}

/// A submission recorded earlier (a crash, or accepted before the person
/// left the incident) and left for the replay.
fn queued(kind: &str, slack_user: &str, payload: Value) -> NewInboxItem {
    NewInboxItem {
        id: Uuid::new_v4(),
        kind: kind.to_owned(),
        payload: payload.to_string(),
        actor: slack_user.to_owned(),
        claim_token: Uuid::new_v4(),
        claimed_until: Utc::now() - chrono::Duration::seconds(1),
        claim_owner: None,
    }
}

fn investigating(id: IncidentId, message: &str) -> Value {
    json!({"incident": id.0, "by": null, "message": message, "status": Status::Investigating,
           "priority_id": null, "category_id": null, "closure_reason": null, "closure_reference": null})
}

fn detected(id: IncidentId, channel: &str) -> Value {
    json!({"incident": id.0, "slug": "detected", "at": Utc::now() - chrono::Duration::minutes(5),
           "response_url": null, "channel": channel})
}

#[tokio::test]
async fn submissions_applied_later_are_checked_again_when_applied() {
    let t = env().await;
    let (id, channel) = private_incident(&t).await;
    let before = footprint(&t, id).await;
    let refused = [
        queued(
            kind::UPDATE,
            OUTSIDER,
            investigating(id, "Queued by an outsider"),
        ),
        queued(kind::KEY_EVENT, OUTSIDER, detected(id, &channel)),
    ];
    t.slack.inbox().insert(&refused).await.unwrap();
    let report = t.slack.replay_submissions(Utc::now()).await.unwrap();
    assert_eq!(report.done, 2, "{report:?}");
    assert_eq!(footprint(&t, id).await, before, "nothing written");
    assert!(!has_key_event(&t, id, "detected").await);
    for row in &refused {
        let stored = t.slack.inbox().item(row.id).await.unwrap().unwrap();
        assert!(stored.done_at.is_some(), "refused for good, not retried");
        assert!(
            stored
                .last_error
                .as_deref()
                .unwrap_or_default()
                .contains(REFUSAL),
            "{stored:?}"
        );
    }
    let told = t.fake.ephemerals();
    assert_eq!(
        told.iter()
            .filter(|(_, u, m)| u == OUTSIDER && m.contains(REFUSAL) && !leaks(m))
            .count(),
        2,
        "{told:?}"
    );

    let accepted = [
        queued(kind::UPDATE, STAFF, investigating(id, "Queued by staff")),
        queued(kind::KEY_EVENT, MEMBER, detected(id, &channel)),
    ];
    t.slack.inbox().insert(&accepted).await.unwrap();
    t.slack.replay_submissions(Utc::now()).await.unwrap();
    assert_eq!(
        t.app.incident(id).await.unwrap().status,
        Status::Investigating
    );
    assert!(has_key_event(&t, id, "detected").await);
}

#[tokio::test]
async fn someone_without_an_account_sees_public_incidents_only() {
    let t = env().await;
    let (id, _) = private_incident(&t).await;
    public_incident(&t).await;
    // Not in the workspace: no firefighter account can be linked.
    let ghost = "UGHOST";

    let home = open_home(&t, ghost, "EG1").await;
    assert!(!leaks(&home), "{home}");
    assert!(home.contains(PUBLIC_TITLE), "{home}");

    let answer = submit_picker(&t, ghost, id).await;
    assert!(!leaks(&answer), "{answer}");
    assert!(answer.to_string().contains(REFUSAL), "{answer}");
    assert!(
        t.app
            .store()
            .user_by_identity(firefighter_slack::PLATFORM, ghost)
            .await
            .unwrap()
            .is_none(),
        "no account is made up"
    );
}
