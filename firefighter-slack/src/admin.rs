//! The back-office of the Slack integration: conversations and their tags,
//! user groups (added by id or handle, the rest fetched from Slack), links
//! to incident categories, SOS targets. A data layer (methods on [`Slack`],
//! the [`BackOffice`] view model) and simple pages under `/admin/slack/`.
//!
//! The pages must sit behind the server's staff-only authentication (and its
//! CSRF protection, as they accept form posts).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use firefighter_core::{CategoryId, Firefighter};
use serde::{Deserialize, Serialize};

use crate::store::{Conversation, Sos, StoredUserGroup};
use crate::{Error, Result, Slack};

/// Everything the back-office shows, ready to render or serialise.
#[derive(Debug, Clone, Serialize)]
pub struct BackOffice {
    /// Configured conversations (not incident channels).
    pub conversations: Vec<ConversationRow>,
    /// User groups.
    pub usergroups: Vec<UserGroupRow>,
    /// SOS targets.
    pub sos: Vec<SosRow>,
    /// Categories to link to: (id, "Group / Category").
    pub categories: Vec<(String, String)>,
    /// Submissions given up on after repeated failures, newest first.
    pub parked: Vec<firefighter_core::inbox::InboxItem>,
}

/// A conversation as listed.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationRow {
    /// The conversation.
    pub conversation: Conversation,
    /// Names of its linked categories.
    pub categories: String,
    /// `public`, `private`...
    pub kind: &'static str,
    /// `open`, `archived`...
    pub status: &'static str,
}

/// A user group as listed.
#[derive(Debug, Clone, Serialize)]
pub struct UserGroupRow {
    /// The group.
    pub group: StoredUserGroup,
    /// Names of its linked categories.
    pub categories: String,
}

/// An SOS target as listed.
#[derive(Debug, Clone, Serialize)]
pub struct SosRow {
    /// The target.
    pub sos: Sos,
    /// `#channel`.
    pub channel: String,
    /// `@handle` or `@here`.
    pub mention: String,
}

fn category_names(catalog: &firefighter_core::store::Catalog, ids: &[CategoryId]) -> String {
    catalog
        .categories
        .iter()
        .filter(|c| ids.contains(&c.id))
        .map(|c| c.name.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Slack {
    /// The back-office view model.
    pub async fn back_office(&self) -> Result<BackOffice> {
        let catalog = self.app()?.catalog().await?;
        let conversations: Vec<Conversation> = self.store().configured_conversations().await?;
        let usergroups = self.store().usergroups().await?;
        let sos = self.store().sos_list().await?;
        let parked = self.inbox().parked(100).await?;
        Ok(BackOffice {
            parked,
            sos: sos
                .into_iter()
                .map(|s| SosRow {
                    channel: conversations
                        .iter()
                        .find(|c| c.channel_id == s.channel_id)
                        .map(|c| format!("#{}", c.name))
                        .unwrap_or_else(|| s.channel_id.clone()),
                    mention: s
                        .usergroup_id
                        .as_ref()
                        .and_then(|g| usergroups.iter().find(|u| &u.usergroup_id == g))
                        .map(|g| format!("@{}", g.handle))
                        .unwrap_or_else(|| "@here".into()),
                    sos: s,
                })
                .collect(),
            conversations: conversations
                .into_iter()
                .map(|c| ConversationRow {
                    categories: category_names(&catalog, &c.category_ids),
                    kind: match c.kind {
                        crate::store::ConversationKind::Public => "public",
                        crate::store::ConversationKind::Private => "private",
                        crate::store::ConversationKind::Direct => "direct message",
                        crate::store::ConversationKind::GroupDirect => "group message",
                        crate::store::ConversationKind::Unknown => "unknown",
                    },
                    status: match c.status {
                        crate::store::ConversationStatus::Archived => "archived",
                        crate::store::ConversationStatus::NotOpened => "not opened",
                        crate::store::ConversationStatus::Opened => "open",
                    },
                    conversation: c,
                })
                .collect(),
            usergroups: usergroups
                .into_iter()
                .map(|g| UserGroupRow {
                    categories: category_names(&catalog, &g.category_ids),
                    group: g,
                })
                .collect(),
            categories: catalog
                .categories
                .iter()
                .map(|c| {
                    let group = catalog
                        .groups
                        .iter()
                        .find(|g| g.id == c.group_id)
                        .map(|g| g.name.as_str())
                        .unwrap_or("");
                    (c.id.to_string(), format!("{group} / {}", c.name))
                })
                .collect(),
        })
    }

    /// Adds (or refreshes) a conversation by its id: details and members are read from Slack.
    pub async fn add_conversation(&self, channel_id: &str) -> Result<()> {
        let channel_id = channel_id.trim().trim_start_matches('#');
        if channel_id.is_empty() {
            return Err(Error::BadRequest("give the channel id (C...)".into()));
        }
        match self.refresh_conversation(channel_id).await {
            Err(e) if e.is_code("channel_not_found") => Err(Error::BadRequest(format!(
                "channel {channel_id} was not found (for a private channel, invite the app first)"
            ))),
            other => other,
        }
    }

    /// Adds (or refreshes) a user group by id (`S...`) or handle (`@sre`): the rest is read from Slack.
    pub async fn add_usergroup(&self, id_or_handle: &str) -> Result<StoredUserGroup> {
        let wanted = id_or_handle.trim().trim_start_matches('@').to_owned();
        if wanted.is_empty() {
            return Err(Error::BadRequest(
                "give the user group's id or handle".into(),
            ));
        }
        let groups = self.api().list_usergroups().await?;
        let Some(g) = groups
            .into_iter()
            .find(|g| g.id == wanted || g.handle.eq_ignore_ascii_case(&wanted))
        else {
            return Err(Error::BadRequest(format!(
                "no user group {id_or_handle} in this workspace"
            )));
        };
        self.store()
            .upsert_usergroup(&g.id, &g.handle, &g.name, &g.description, g.is_external)
            .await?;
        let members = match g.users {
            Some(u) => u,
            None => self.api().usergroup_members(&g.id).await?,
        };
        self.store().set_usergroup_members(&g.id, &members).await?;
        self.store()
            .usergroup(&g.id)
            .await?
            .ok_or_else(|| Error::BadRequest("the user group vanished".into()))
    }

    fn parse_categories(&self, ids: &[String]) -> Result<Vec<CategoryId>> {
        ids.iter()
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .map_err(|_| Error::BadRequest(format!("{s} is not a category id")))
            })
            .collect()
    }

    /// Links a conversation to categories (replacing its links).
    pub async fn link_conversation(&self, channel_id: &str, categories: &[String]) -> Result<()> {
        let ids = self.parse_categories(categories)?;
        self.store()
            .set_conversation_categories(channel_id, &ids)
            .await
    }

    /// Links a user group to categories (replacing its links).
    pub(crate) async fn link_usergroup(
        &self,
        usergroup_id: &str,
        categories: &[String],
    ) -> Result<()> {
        let ids = self.parse_categories(categories)?;
        self.store()
            .set_usergroup_categories(usergroup_id, &ids)
            .await
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "slack_admin.html")]
struct AdminPage {
    layout: firefighter_core::plugin::PageLayout,
    csrf_token: String,
    data: BackOffice,
    notice: String,
    error: bool,
}

#[derive(Deserialize)]
struct Notice {
    #[serde(default)]
    notice: String,
    #[serde(default)]
    error: bool,
}

const HOME: &str = "/admin/slack/";

/// The back-office page's address under the server's mount prefix (the
/// caller's layout says where the server is mounted), for redirects.
pub(crate) struct Home(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Home {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        let caller = parts.extensions.get::<firefighter_core::plugin::Caller>();
        Ok(Home(
            caller.map_or_else(|| HOME.to_owned(), |c| c.layout.link(HOME)),
        ))
    }
}

fn back(home: &Home, result: Result<String>) -> Response {
    let (text, error) = match result {
        Ok(t) => (t, false),
        Err(e) => (e.to_string(), true),
    };
    let q = serde_urlencoded::to_string([("notice", text), ("error", error.to_string())])
        .unwrap_or_default();
    Redirect::to(&format!("{}?{q}", home.0)).into_response()
}

fn form(body: &Bytes) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

fn field(pairs: &[(String, String)], name: &str) -> String {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

fn fields(pairs: &[(String, String)], name: &str) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

async fn page(
    State(slack): State<Slack>,
    caller: Option<axum::Extension<firefighter_core::plugin::Caller>>,
    Query(n): Query<Notice>,
) -> Response {
    match slack.back_office().await {
        Ok(data) => AdminPage {
            layout: caller
                .as_ref()
                .map(|c| c.0.layout.clone())
                .unwrap_or_default(),
            csrf_token: caller
                .map(|c| c.0.csrf_token().to_owned())
                .unwrap_or_default(),
            data,
            notice: n.notice,
            error: n.error,
        }
        .into_response(),
        Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn add_conversation(home: Home, State(slack): State<Slack>, body: Bytes) -> Response {
    let f = form(&body);
    let id = field(&f, "channel_id");
    back(
        &home,
        slack
            .add_conversation(&id)
            .await
            .map(|_| format!("Conversation {id} added.")),
    )
}

async fn tag_conversation(
    home: Home,
    State(slack): State<Slack>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let tag = field(&form(&body), "tag");
    back(
        &home,
        slack
            .store()
            .set_conversation_tag(&id, Some(&tag))
            .await
            .map(|_| "Tag saved.".into()),
    )
}

async fn link_conversation(
    home: Home,
    State(slack): State<Slack>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let cats = fields(&form(&body), "category_id");
    back(
        &home,
        slack
            .link_conversation(&id, &cats)
            .await
            .map(|_| "Categories saved.".into()),
    )
}

async fn add_usergroup(home: Home, State(slack): State<Slack>, body: Bytes) -> Response {
    let wanted = field(&form(&body), "usergroup");
    back(
        &home,
        slack.add_usergroup(&wanted).await.map(|g| {
            format!(
                "User group @{} added with {} members.",
                g.handle, g.member_count
            )
        }),
    )
}

async fn tag_usergroup(
    home: Home,
    State(slack): State<Slack>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let tag = field(&form(&body), "tag");
    back(
        &home,
        slack
            .store()
            .set_usergroup_tag(&id, Some(&tag))
            .await
            .map(|_| "Tag saved.".into()),
    )
}

async fn link_usergroup(
    home: Home,
    State(slack): State<Slack>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let cats = fields(&form(&body), "category_id");
    back(
        &home,
        slack
            .link_usergroup(&id, &cats)
            .await
            .map(|_| "Categories saved.".into()),
    )
}

async fn delete_usergroup(
    home: Home,
    State(slack): State<Slack>,
    Path(id): Path<String>,
) -> Response {
    back(
        &home,
        slack
            .store()
            .delete_usergroup(&id)
            .await
            .map(|_| "User group removed.".into()),
    )
}

async fn add_sos(home: Home, State(slack): State<Slack>, body: Bytes) -> Response {
    let f = form(&body);
    let group = field(&f, "usergroup_id");
    let result = slack
        .store()
        .add_sos(
            &field(&f, "name"),
            &field(&f, "channel_id"),
            Some(group.as_str()).filter(|g| !g.is_empty()),
        )
        .await;
    back(&home, result.map(|s| format!("SOS {} added.", s.name)))
}

async fn delete_sos(
    home: Home,
    State(slack): State<Slack>,
    Path(id): Path<uuid::Uuid>,
) -> Response {
    back(
        &home,
        slack
            .store()
            .delete_sos(id)
            .await
            .map(|_| "SOS removed.".into()),
    )
}

async fn requeue_submission(
    home: Home,
    State(slack): State<Slack>,
    Path(id): Path<uuid::Uuid>,
) -> Response {
    back(
        &home,
        slack
            .inbox()
            .requeue(id)
            .await
            .map_err(crate::Error::from)
            .map(|queued| {
                if queued {
                    "Submission queued again: the next replay applies it.".into()
                } else {
                    "This submission is not parked any more.".into()
                }
            }),
    )
}

async fn sync_now(home: Home, State(slack): State<Slack>, Path(what): Path<String>) -> Response {
    let result = match what.as_str() {
        "usergroups" => slack
            .sync_usergroups()
            .await
            .map(|(g, m)| format!("{g} user groups refreshed ({m} memberships).")),
        "conversations" => slack
            .sync_conversations()
            .await
            .map(|(d, f)| format!("{d} conversations refreshed, {f} failed.")),
        other => Err(Error::BadRequest(format!("nothing to sync called {other}"))),
    };
    back(&home, result)
}

/// The back-office pages under `/admin/slack/` (**staff only**: mount behind the server's staff auth).
pub fn admin_routes(app: Firefighter, slack: Slack) -> Router {
    slack.attach(&app);
    Router::new()
        .route(HOME, get(page))
        .route("/admin/slack/conversations", post(add_conversation))
        .route(
            "/admin/slack/conversations/{id}/tag",
            post(tag_conversation),
        )
        .route(
            "/admin/slack/conversations/{id}/categories",
            post(link_conversation),
        )
        .route("/admin/slack/usergroups", post(add_usergroup))
        .route("/admin/slack/usergroups/{id}/tag", post(tag_usergroup))
        .route(
            "/admin/slack/usergroups/{id}/categories",
            post(link_usergroup),
        )
        .route(
            "/admin/slack/usergroups/{id}/delete",
            post(delete_usergroup),
        )
        .route("/admin/slack/sos", post(add_sos))
        .route("/admin/slack/sos/{id}/delete", post(delete_sos))
        .route("/admin/slack/sync/{what}", post(sync_now))
        .route(
            "/admin/slack/submissions/{id}/requeue",
            post(requeue_submission),
        )
        .with_state(slack)
}
