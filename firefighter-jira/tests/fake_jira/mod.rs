//! A stateful fake of Jira Cloud for the sync's tests: issues with a
//! status in FireFighter's incident workflow, transitions offered from the
//! status, the workflow scheme and the workflow, watchers, remote links,
//! field edits; and, like Jira, a webhook for each change it applies (kept
//! in `outgoing` for the test to deliver), authored by `author`.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use firefighter_jira::webhooks::UPDATE_PATH;
use serde_json::{Value, json};

/// The API token's account: Jira names it as the author of our changes.
pub const API_ACCOUNT: &str = "557058:api-token-account";

#[derive(Debug, Clone)]
pub struct Issue {
    pub key: String,
    pub status: String,
    pub labels: Vec<String>,
    pub fields: serde_json::Map<String, Value>,
    pub watchers: Vec<String>,
    pub links: Vec<String>,
}

#[derive(Default)]
pub struct Jira {
    pub issues: Vec<Issue>,
    /// Every write firefighter made: `create`, `transition <to>`, `put <field>`...
    pub writes: Vec<String>,
    /// Who Jira says made the changes it announces (the API account, like Jira).
    pub author: String,
    /// Where Jira sends its webhooks, once known.
    pub hooks: Option<String>,
    /// Webhooks to send (url, body) after the answer.
    pub outgoing: Vec<(String, Value)>,
    /// Watchers' e-mails by account.
    pub emails: HashMap<String, String>,
    pub sent: u64,
}

pub type Shared = Arc<Mutex<Jira>>;

pub const STATUSES: &[(&str, &str, &str)] = &[
    ("s1", "Incoming", "new"),
    ("s2", "Pending resolution", "indeterminate"),
    ("s3", "in progress", "indeterminate"),
    ("s4", "Reporter validation", "indeterminate"),
    ("s5", "Closed", "done"),
];

/// (from, to): the workflow of FireFighter's incident tickets, with a
/// shortcut from Incoming to Closed that a path must not go through.
pub const TRANSITIONS: &[(&str, &str)] = &[
    ("s1", "s2"),
    ("s2", "s3"),
    ("s3", "s4"),
    ("s4", "s3"),
    ("s4", "s5"),
    ("s1", "s5"),
    ("s5", "s4"),
];

pub fn status_ref(name: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
        .map(|(r, _, _)| *r)
        .unwrap_or("?")
}

pub fn status_name(reference: &str) -> &'static str {
    STATUSES.iter().find(|(r, _, _)| *r == reference).unwrap().1
}

pub fn category(name: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, _, c)| *c)
        .unwrap_or("new")
}

pub fn update_hook(key: &str, author: &str, items: Value) -> Value {
    json!({
        "webhookEvent": "jira:issue_updated",
        "issue": { "id": "10001", "key": key, "fields": { "summary": "Checkout fails" } },
        "user": { "accountId": author, "displayName": author },
        "changelog": { "items": items }
    })
}

pub async fn fake_jira(state: Shared) -> String {
    async fn create(State(s): State<Shared>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
        let mut j = s.lock().unwrap();
        let n = j.issues.len() + 1;
        let key = format!("INC-{n}");
        let fields = body["fields"].as_object().cloned().unwrap_or_default();
        j.issues.push(Issue {
            key: key.clone(),
            status: "Incoming".into(),
            labels: fields["labels"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            fields,
            watchers: Vec::new(),
            links: Vec::new(),
        });
        j.writes.push("create".into());
        (
            StatusCode::CREATED,
            Json(json!({ "id": format!("{}", 10000 + n), "key": key })),
        )
    }
    async fn search(
        State(s): State<Shared>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Json<Value> {
        let jql = q.get("jql").cloned().unwrap_or_default();
        let j = s.lock().unwrap();
        let issues: Vec<Value> = j
            .issues
            .iter()
            .filter(|i| i.labels.iter().any(|l| jql.contains(&format!("\"{l}\""))))
            .map(|i| json!({ "id": "1", "key": i.key }))
            .collect();
        Json(json!({ "issues": issues }))
    }
    async fn issue(State(s): State<Shared>, Path(key): Path<String>) -> (StatusCode, Json<Value>) {
        let j = s.lock().unwrap();
        match j.issues.iter().find(|i| i.key == key) {
            Some(i) => (
                StatusCode::OK,
                Json(json!({ "key": i.key, "fields": {
                    "status": { "name": i.status, "statusCategory": { "key": category(&i.status) } },
                    "project": { "id": "10000" },
                    "issuetype": { "id": "10004" }
                }})),
            ),
            None => (
                StatusCode::NOT_FOUND,
                Json(json!({ "errorMessages": ["no issue"] })),
            ),
        }
    }
    async fn put_issue(
        State(s): State<Shared>,
        Path(key): Path<String>,
        Json(body): Json<Value>,
    ) -> StatusCode {
        let mut j = s.lock().unwrap();
        let author = j.author.clone();
        let hooks = j.hooks.clone();
        let Some(i) = j.issues.iter_mut().find(|i| i.key == key) else {
            return StatusCode::NOT_FOUND;
        };
        let mut items = Vec::new();
        for (field, value) in body["fields"].as_object().cloned().unwrap_or_default() {
            let from = i
                .fields
                .get(&field)
                .and_then(|v| v["value"].as_str())
                .map(str::to_owned);
            items.push(json!({ "field": "Priority", "fieldId": field, "fromString": from, "toString": value["value"] }));
            i.fields.insert(field.clone(), value);
        }
        let fields: Vec<String> = body["fields"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        j.writes.push(format!("put {}", fields.join(",")));
        if let Some(url) = hooks {
            j.outgoing.push((
                format!("{url}{UPDATE_PATH}"),
                update_hook(&key, &author, Value::Array(items)),
            ));
        }
        StatusCode::NO_CONTENT
    }
    async fn transitions(State(s): State<Shared>, Path(key): Path<String>) -> Json<Value> {
        let j = s.lock().unwrap();
        let i = j.issues.iter().find(|i| i.key == key).unwrap();
        let at = status_ref(&i.status);
        let offered: Vec<Value> = TRANSITIONS
            .iter()
            .filter(|(from, _)| *from == at)
            .map(|(from, to)| json!({
                "id": format!("{from}-{to}"),
                "name": format!("to {}", status_name(to)),
                "to": { "name": status_name(to), "statusCategory": { "key": category(status_name(to)) } }
            }))
            .collect();
        Json(json!({ "transitions": offered }))
    }
    async fn transition(
        State(s): State<Shared>,
        Path(key): Path<String>,
        Json(body): Json<Value>,
    ) -> StatusCode {
        let mut j = s.lock().unwrap();
        let author = j.author.clone();
        let hooks = j.hooks.clone();
        let id = body["transition"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let i = j.issues.iter_mut().find(|i| i.key == key).unwrap();
        let at = status_ref(&i.status);
        let Some((_, to)) = TRANSITIONS
            .iter()
            .find(|(f, t)| format!("{f}-{t}") == id && *f == at)
        else {
            return StatusCode::BAD_REQUEST;
        };
        let from = std::mem::replace(&mut i.status, status_name(to).to_owned());
        j.writes.push(format!("transition {}", status_name(to)));
        if let Some(url) = hooks {
            let items = json!([{ "field": "status", "fieldId": "status", "fromString": from, "toString": status_name(to) }]);
            j.outgoing.push((
                format!("{url}{UPDATE_PATH}"),
                update_hook(&key, &author, items),
            ));
        }
        StatusCode::NO_CONTENT
    }
    async fn watch(
        State(s): State<Shared>,
        Path(key): Path<String>,
        Json(account): Json<String>,
    ) -> StatusCode {
        let mut j = s.lock().unwrap();
        j.writes.push("watch".into());
        let i = j.issues.iter_mut().find(|i| i.key == key).unwrap();
        if !i.watchers.contains(&account) {
            i.watchers.push(account);
        }
        StatusCode::NO_CONTENT
    }
    async fn watchers(State(s): State<Shared>, Path(key): Path<String>) -> Json<Value> {
        let j = s.lock().unwrap();
        let i = j.issues.iter().find(|i| i.key == key).unwrap();
        let list: Vec<Value> = i
            .watchers
            .iter()
            .map(|a| {
                json!({
                    "accountId": a,
                    "accountType": if a.starts_with("app:") { "app" } else { "atlassian" },
                    "emailAddress": j.emails.get(a),
                    "active": true
                })
            })
            .collect();
        Json(json!({ "isWatching": false, "watchCount": list.len(), "watchers": list }))
    }
    async fn link(
        State(s): State<Shared>,
        Path(key): Path<String>,
        Json(body): Json<Value>,
    ) -> (StatusCode, Json<Value>) {
        let mut j = s.lock().unwrap();
        j.writes.push("link".into());
        let i = j.issues.iter_mut().find(|i| i.key == key).unwrap();
        let id = body["globalId"].as_str().unwrap_or_default().to_owned();
        if !i.links.contains(&id) {
            i.links.push(id);
        }
        (StatusCode::CREATED, Json(json!({ "id": 1, "self": "x" })))
    }
    async fn scheme() -> Json<Value> {
        Json(
            json!({ "values": [{ "projectIds": ["10000"], "workflowScheme": {
            "defaultWorkflow": "jira", "issueTypeMappings": { "10004": "Incident workflow" } } }] }),
        )
    }
    async fn workflows(Query(q): Query<HashMap<String, String>>) -> Json<Value> {
        assert_eq!(
            q.get("queryString").map(String::as_str),
            Some("Incident workflow")
        );
        let statuses: Vec<Value> = STATUSES
            .iter()
            .map(|(r, n, c)| {
                json!({ "statusReference": r, "name": n,
                "statusCategory": if *c == "done" { "DONE" } else { "IN_PROGRESS" } })
            })
            .collect();
        let transitions: Vec<Value> = TRANSITIONS
            .iter()
            .map(|(f, t)| {
                json!({ "id": format!("{f}-{t}"), "type": "DIRECTED", "toStatusReference": t,
                "links": [{ "fromStatusReference": f }] })
            })
            .collect();
        Json(json!({ "values": [{ "name": "Incident workflow",
            "statuses": STATUSES.iter().map(|(r, _, _)| json!({ "statusReference": r })).collect::<Vec<_>>(),
            "transitions": transitions }], "statuses": statuses }))
    }
    let app = Router::new()
        .route("/rest/api/3/issue", post(create))
        .route("/rest/api/3/search/jql", get(search))
        .route("/rest/api/3/issue/{key}", get(issue).put(put_issue))
        .route(
            "/rest/api/3/issue/{key}/transitions",
            get(transitions).post(transition),
        )
        .route(
            "/rest/api/3/issue/{key}/watchers",
            get(watchers).post(watch),
        )
        .route("/rest/api/3/issue/{key}/remotelink", post(link))
        .route("/rest/api/3/user/search", get(|| async { Json(json!([])) }))
        .route(
            "/rest/api/3/user",
            get(|| async { (StatusCode::NOT_FOUND, Json(json!({}))) }),
        )
        .route(
            "/rest/api/3/myself",
            get(|| async { Json(json!({ "accountId": API_ACCOUNT })) }),
        )
        .route("/rest/api/3/workflowscheme/project", get(scheme))
        .route("/rest/api/3/workflows/search", get(workflows))
        .with_state(state);
    serve(app).await
}

pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}
