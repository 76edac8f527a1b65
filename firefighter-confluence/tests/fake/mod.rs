//! A stateful fake of Confluence Cloud: a tree of pages served through the
//! v2 and v1 endpoints the crate uses, two results per page of results
//! (every list crosses `_links.next`), moves applied to the tree and
//! recorded, and a 429 with `Retry-After` on demand.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

pub mod proxy;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

/// Results per page of results.
pub const PER_PAGE: usize = 2;

#[derive(Debug, Clone)]
pub struct FakePage {
    pub id: String,
    pub title: String,
    pub parent: Option<String>,
    pub body: String,
    pub version: i64,
}

#[derive(Debug, Default)]
pub struct Tree {
    /// Pages in their order under their parent.
    pub pages: Vec<FakePage>,
    /// `(page, position, target)` of every move.
    pub moves: Vec<(String, String, String)>,
    /// Titles of pages created.
    pub created: Vec<String>,
    /// Every request, as `METHOD path?query`.
    pub requests: Vec<String>,
    /// Answer 429 to this many requests first.
    pub throttle: usize,
    /// Pages the bulk read (`GET /pages?id=`) leaves out, as Confluence
    /// may; read alone they answer.
    pub hidden: Vec<String>,
    next_id: u64,
}

impl Tree {
    pub fn add(&mut self, id: &str, parent: Option<&str>, title: &str, body: &str) {
        self.pages.push(FakePage {
            id: id.into(),
            title: title.into(),
            parent: parent.map(str::to_owned),
            body: body.into(),
            version: 1,
        });
    }

    pub fn remove(&mut self, id: &str) {
        self.pages.retain(|p| p.id != id);
    }

    pub fn children(&self, id: &str) -> Vec<FakePage> {
        self.pages
            .iter()
            .filter(|p| p.parent.as_deref() == Some(id))
            .cloned()
            .collect()
    }

    pub fn child_titles(&self, id: &str) -> Vec<String> {
        self.children(id).into_iter().map(|p| p.title).collect()
    }

    fn descendants(&self, id: &str) -> Vec<FakePage> {
        let mut out = Vec::new();
        for child in self.children(id) {
            out.push(child.clone());
            out.extend(self.descendants(&child.id));
        }
        out
    }

    fn apply_move(&mut self, page: &str, position: &str, target: &str) -> bool {
        let Some(from) = self.pages.iter().position(|p| p.id == page) else {
            return false;
        };
        if !self.pages.iter().any(|p| p.id == target) {
            return false;
        }
        let mut moved = self.pages.remove(from);
        let at = self.pages.iter().position(|p| p.id == target).unwrap();
        match position {
            "append" => {
                moved.parent = Some(target.to_owned());
                self.pages.push(moved);
            }
            "before" => {
                moved.parent = self.pages[at].parent.clone();
                self.pages.insert(at, moved);
            }
            _ => {
                moved.parent = self.pages[at].parent.clone();
                self.pages.insert(at + 1, moved);
            }
        }
        true
    }
}

pub type Shared = Arc<Mutex<Tree>>;

#[derive(Debug)]
pub struct Fake {
    pub uri: String,
    pub tree: Shared,
}

impl Fake {
    pub async fn start() -> Fake {
        let tree: Shared = Arc::default();
        let app = Router::new()
            .route("/wiki/api/v2/pages/{id}/children", get(children))
            .route("/wiki/api/v2/pages", get(pages).post(create))
            .route("/wiki/api/v2/pages/{id}", get(one_page))
            .route("/wiki/api/v2/spaces", get(spaces))
            .route(
                "/wiki/rest/api/content/{id}/descendant/page",
                get(descendants),
            )
            .route(
                "/wiki/rest/api/content/{id}/move/{position}/{target}",
                put(move_page),
            )
            .route("/wiki/api/v2/unused", post(|| async { "" }))
            .with_state(tree.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fake { uri, tree }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Tree) -> T) -> T {
        f(&mut self.tree.lock().unwrap())
    }
}

fn params(query: &Option<String>) -> Vec<(String, String)> {
    query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_owned(), v.replace("%2C", ",").replace("%2c", ","))
        })
        .collect()
}

fn param(query: &Option<String>, name: &str) -> Option<String> {
    params(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Records the request; `Some(429)` when throttled.
fn enter(tree: &Shared, what: String) -> Option<Response> {
    let mut t = tree.lock().unwrap();
    t.requests.push(what);
    if t.throttle > 0 {
        t.throttle -= 1;
        return Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                "slow down",
            )
                .into_response(),
        );
    }
    None
}

fn page_json(p: &FakePage, body: bool) -> Value {
    let mut v = json!({
        "id": p.id,
        "title": p.title,
        "status": "current",
        "spaceId": "777",
        "parentId": p.parent,
        "version": {"number": p.version},
        "_links": {"webui": format!("/spaces/RB/pages/{}", p.id)},
    });
    if body {
        v["body"] = json!({"storage": {"value": p.body, "representation": "storage"}});
    }
    v
}

/// One page of results, with `_links.next` built by `next` from the next start.
fn paginate(items: Vec<Value>, start: usize, next: impl Fn(usize) -> String) -> Value {
    let end = (start + PER_PAGE).min(items.len());
    let slice: Vec<Value> = items.get(start..end).unwrap_or_default().to_vec();
    let mut out = json!({"results": slice, "_links": {}});
    if end < items.len() {
        out["_links"]["next"] = json!(next(end));
    }
    out
}

async fn children(
    State(tree): State<Shared>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(r) = enter(
        &tree,
        format!(
            "GET /pages/{id}/children?{}",
            query.clone().unwrap_or_default()
        ),
    ) {
        return r;
    }
    let t = tree.lock().unwrap();
    if !t.pages.iter().any(|p| p.id == id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let start: usize = param(&query, "cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let items = t
        .children(&id)
        .iter()
        .map(|p| json!({"id": p.id, "title": p.title, "status": "current", "spaceId": "777"}))
        .collect();
    axum::Json(paginate(items, start, |n| {
        format!("/wiki/api/v2/pages/{id}/children?cursor={n}&limit=2")
    }))
    .into_response()
}

async fn pages(State(tree): State<Shared>, RawQuery(query): RawQuery) -> Response {
    if let Some(r) = enter(
        &tree,
        format!("GET /pages?{}", query.clone().unwrap_or_default()),
    ) {
        return r;
    }
    let t = tree.lock().unwrap();
    let ids: Vec<String> = params(&query)
        .into_iter()
        .filter(|(k, _)| k == "id")
        .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let start: usize = param(&query, "cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = param(&query, "body-format").as_deref() == Some("storage");
    let items = t
        .pages
        .iter()
        .filter(|p| ids.contains(&p.id) && !t.hidden.contains(&p.id))
        .map(|p| page_json(p, body))
        .collect();
    let rest: String = ids.iter().map(|id| format!("id={id}&")).collect();
    axum::Json(paginate(items, start, |n| {
        format!("/wiki/api/v2/pages?{rest}body-format=storage&cursor={n}&limit=2")
    }))
    .into_response()
}

async fn one_page(State(tree): State<Shared>, Path(id): Path<String>) -> Response {
    if let Some(r) = enter(&tree, format!("GET /pages/{id}")) {
        return r;
    }
    let t = tree.lock().unwrap();
    match t.pages.iter().find(|p| p.id == id) {
        Some(p) => axum::Json(page_json(p, true)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn create(State(tree): State<Shared>, axum::Json(body): axum::Json<Value>) -> Response {
    if let Some(r) = enter(&tree, "POST /pages".into()) {
        return r;
    }
    let mut t = tree.lock().unwrap();
    t.next_id += 1;
    let id = format!("{}", 80_000 + t.next_id);
    let title = body["title"].as_str().unwrap_or_default().to_owned();
    let parent = body["parentId"].as_str().map(str::to_owned);
    t.created.push(title.clone());
    let page = FakePage {
        id: id.clone(),
        title,
        parent,
        body: String::new(),
        version: 1,
    };
    let json = page_json(&page, false);
    t.pages.push(page);
    axum::Json(json).into_response()
}

async fn spaces(State(tree): State<Shared>, RawQuery(query): RawQuery) -> Response {
    if let Some(r) = enter(
        &tree,
        format!("GET /spaces?{}", query.clone().unwrap_or_default()),
    ) {
        return r;
    }
    let key = param(&query, "keys").unwrap_or_default();
    axum::Json(json!({"results": [{"id": "777", "key": key}], "_links": {}})).into_response()
}

async fn descendants(
    State(tree): State<Shared>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(r) = enter(
        &tree,
        format!(
            "GET /content/{id}/descendant/page?{}",
            query.clone().unwrap_or_default()
        ),
    ) {
        return r;
    }
    let t = tree.lock().unwrap();
    if !t.pages.iter().any(|p| p.id == id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let start: usize = param(&query, "start")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let items = t
        .descendants(&id)
        .iter()
        .map(|p| {
            json!({"id": p.id, "type": "page", "status": "current", "title": p.title,
                   "_links": {"webui": format!("/spaces/PM/pages/{}", p.id)}})
        })
        .collect();
    axum::Json(paginate(items, start, |n| {
        format!("/rest/api/content/{id}/descendant/page?limit=2&start={n}")
    }))
    .into_response()
}

async fn move_page(
    State(tree): State<Shared>,
    Path((id, position, target)): Path<(String, String, String)>,
) -> Response {
    if let Some(r) = enter(&tree, format!("PUT /content/{id}/move/{position}/{target}")) {
        return r;
    }
    let mut t = tree.lock().unwrap();
    if !t.apply_move(&id, &position, &target) {
        return StatusCode::NOT_FOUND.into_response();
    }
    t.moves.push((id.clone(), position, target));
    axum::Json(json!({"pageId": id})).into_response()
}
