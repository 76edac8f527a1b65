//! API tokens: every token, creating one for a user with scopes (its secret
//! is shown once, on the answer to the form), revoking.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use firefighter_core::{ApiTokenId, UserId};

use crate::server::AppState;
use crate::server::auth::{SCOPES, issue_api_token, list_api_tokens, revoke_api_token};
use crate::server::web::format;
use crate::server::web::forms::{FormData, Messages};
use crate::server::web::incidents::list::Choice;
use crate::server::web::page::{Chrome, PageResult, StaffChrome, WebError, notice, unprocessable};

#[derive(Debug, Clone)]
struct TokenRow {
    id: String,
    owner: String,
    name: String,
    prefix: String,
    scopes: String,
    created: String,
    last_used: String,
    expires: String,
    revoked: Option<String>,
}

/// A token just created: its secret, shown this once.
#[derive(Debug, Clone)]
struct Issued {
    secret: String,
    owner: String,
    scopes: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "backoffice/tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenRow>,
    users: Vec<Choice>,
    scopes: Vec<Choice>,
    name: String,
    expires_days: String,
    messages: Vec<String>,
    issued: Option<Issued>,
    notice: Option<&'static str>,
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct NoticeQuery {
    notice: Option<String>,
}

async fn page(
    state: &AppState,
    chrome: Chrome,
    form: &FormData,
    messages: Vec<String>,
    issued: Option<Issued>,
    notice: Option<&'static str>,
) -> Result<TokensPage, WebError> {
    let tz = state.app.time_zone();
    let users = state.app.store().list_users().await?;
    let email = |id: UserId| {
        users
            .iter()
            .find(|u| u.id == id)
            .map(|u| u.email.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let tokens = list_api_tokens(state, None)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            owner: email(t.user_id),
            name: t.name,
            prefix: t.prefix,
            scopes: t.scopes.join(", "),
            created: format::instant(t.created_at, tz),
            last_used: t
                .last_used_at
                .map(|at| format::instant(at, tz))
                .unwrap_or_else(|| "never".into()),
            expires: t
                .expires_at
                .map(|at| format::instant(at, tz))
                .unwrap_or_else(|| "never".into()),
            revoked: t.revoked_at.map(|at| format::instant(at, tz)),
        })
        .collect();
    let submitted = !form.0.is_empty() && issued.is_none();
    let chosen_scopes = form.all("scopes");
    Ok(TokensPage {
        users: users
            .iter()
            .filter(|u| u.is_active)
            .map(|u| Choice {
                value: u.id.to_string(),
                label: u.email.clone(),
                selected: if submitted {
                    form.text("user") == u.id.to_string()
                } else {
                    u.id == chrome.user.user.id
                },
            })
            .collect(),
        scopes: SCOPES
            .iter()
            .map(|s| Choice {
                value: (*s).to_owned(),
                label: (*s).to_owned(),
                selected: if submitted {
                    chosen_scopes.contains(s)
                } else {
                    crate::server::auth::default_scopes().iter().any(|d| d == s)
                },
            })
            .collect(),
        name: if submitted {
            form.text("name").to_owned()
        } else {
            String::new()
        },
        expires_days: if submitted {
            form.text("expires_days").to_owned()
        } else {
            String::new()
        },
        chrome,
        tokens,
        messages,
        issued,
        notice,
    })
}

/// `GET /admin/tokens/`.
pub(super) async fn list(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Query(q): Query<NoticeQuery>,
) -> PageResult {
    Ok(page(
        &state,
        chrome,
        &FormData::default(),
        Vec::new(),
        None,
        notice(q.notice.as_deref()),
    )
    .await?
    .into_response())
}

/// `POST /admin/tokens/`: `user`, `name`, `scopes` (repeated), `expires_days` (optional).
pub(super) async fn create(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let form = FormData(fields);
    let mut problems = Messages::default();
    let user = form.text("user").parse::<UserId>().ok();
    if user.is_none() {
        problems.push("user", "choose the token's owner");
    }
    let expires_at = match form.text("expires_days") {
        "" => None,
        text => match text.parse::<i64>() {
            Ok(days) if (1..=3650).contains(&days) => {
                Some(chrono::Utc::now() + chrono::Duration::days(days))
            }
            _ => {
                problems.push(
                    "expires_days",
                    "a number of days from 1 to 3650, or empty for no expiry",
                );
                None
            }
        },
    };
    let scopes: Vec<String> = form.all("scopes").into_iter().map(str::to_owned).collect();
    if let Some(user) = user.filter(|_| problems.is_empty()) {
        match issue_api_token(&state, user, form.text("name"), &scopes, expires_at).await {
            Ok((secret, token)) => {
                let owner = state
                    .app
                    .store()
                    .user(user)
                    .await?
                    .map(|u| u.email)
                    .unwrap_or_default();
                tracing::info!(token = %token.id, by = %chrome.user.user.email, "API token created from the back-office");
                let issued = Issued {
                    secret,
                    owner,
                    scopes: token.scopes.join(", "),
                };
                let page = page(
                    &state,
                    chrome,
                    &form,
                    Vec::new(),
                    Some(issued),
                    Some("Token created."),
                )
                .await?;
                // The secret must not stay in any cache.
                return Ok((
                    [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
                    page,
                )
                    .into_response());
            }
            Err(e) => problems = Messages::from_server(e).map_err(WebError::from)?,
        }
    }
    Ok(unprocessable(
        page(&state, chrome, &form, problems.all(), None, None).await?,
    ))
}

/// `POST /admin/tokens/<id>/revoke`.
pub(super) async fn revoke(
    State(state): State<AppState>,
    StaffChrome(chrome): StaffChrome,
    Path(id): Path<String>,
) -> PageResult {
    let id = id
        .parse::<ApiTokenId>()
        .map_err(|_| WebError::not_found())?;
    if !list_api_tokens(&state, None)
        .await?
        .iter()
        .any(|t| t.id == id)
    {
        return Err(WebError::not_found());
    }
    let revoked = revoke_api_token(&state, id).await?;
    Ok(chrome.redirect(if revoked {
        "/admin/tokens/?notice=revoked"
    } else {
        "/admin/tokens/?notice=already_revoked"
    }))
}
