//! Authentication and authorization: local accounts (argon2), server-side
//! sessions with CSRF tokens, a trusted reverse-proxy header for single
//! sign-on, and API tokens with scopes.
//!
//! The [`authenticate`](middleware::authenticate) middleware resolves who is
//! calling once per request and checks CSRF tokens; handlers then ask for a
//! [`CurrentUser`], a [`StaffUser`] or the [`CsrfToken`].

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use firefighter_core::{User, UserId};

use crate::Error;
use crate::server::AppState;

pub(crate) mod middleware;
pub mod password;
pub(crate) mod routes;
pub(crate) mod session;
pub(crate) mod throttle;
mod tokens;

pub use middleware::{CSRF_FIELD, CSRF_HEADER};
pub use tokens::{default_scopes, issue_api_token, list_api_tokens, revoke_api_token};

/// Scope: read incidents and reference data.
pub const SCOPE_INCIDENTS_READ: &str = "incidents:read";
/// Scope: declare and change incidents.
pub const SCOPE_INCIDENTS_WRITE: &str = "incidents:write";
/// Scope: see private incidents one is not a member of.
pub const SCOPE_INCIDENTS_READ_PRIVATE: &str = "incidents:read_private";
/// Scope: back-office rights.
pub const SCOPE_ADMIN: &str = "admin";
/// Every scope a token may carry.
pub const SCOPES: &[&str] = &[
    SCOPE_INCIDENTS_READ,
    SCOPE_INCIDENTS_WRITE,
    SCOPE_INCIDENTS_READ_PRIVATE,
    SCOPE_ADMIN,
];

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A login session (cookie `ff_session`).
    Session,
    /// The trusted reverse-proxy header (a session is opened for it).
    Proxy,
    /// An API token (`Authorization: Bearer` or `Token`).
    Token,
}

/// The authenticated caller. As an extractor, an anonymous request is
/// answered `303 /login?next=<path>` for pages and `401` for the API.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The account.
    pub user: User,
    /// How they authenticated.
    pub method: AuthMethod,
    /// What they may do (a token's scopes, or every right of a person's account).
    pub scopes: Vec<String>,
}

impl CurrentUser {
    /// Whether the caller has `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether the account may use the back-office.
    pub fn is_staff(&self) -> bool {
        self.user.is_staff || self.user.is_admin
    }

    /// `Err(PermissionDenied)` unless the caller has `scope`.
    pub fn require(&self, scope: &str) -> Result<(), Error> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "This needs the \"{scope}\" scope."
            )))
        }
    }
}

/// The scopes an account has by itself; a token's scopes are limited to these.
pub fn account_scopes(user: &User) -> Vec<String> {
    let mut scopes = vec![
        SCOPE_INCIDENTS_READ.to_owned(),
        SCOPE_INCIDENTS_WRITE.to_owned(),
    ];
    if user.is_staff || user.is_admin {
        scopes.push(SCOPE_INCIDENTS_READ_PRIVATE.to_owned());
        scopes.push(SCOPE_ADMIN.to_owned());
    }
    scopes
}

/// The caller as core's privacy rule sees them ([`firefighter_core::Viewer`]):
/// everything for staff and tokens with `incidents:read_private`, else
/// public incidents and those they are a member of.
pub fn viewer(user: &CurrentUser) -> firefighter_core::Viewer {
    if user.has_scope(SCOPE_INCIDENTS_READ_PRIVATE) {
        firefighter_core::Viewer::Everything
    } else {
        firefighter_core::Viewer::Member(user.user.id)
    }
}

/// Which private incidents the caller may see, as core's
/// [`IncidentFilter::visible_to`](firefighter_core::IncidentFilter::visible_to).
pub fn visibility(user: &CurrentUser) -> Option<UserId> {
    viewer(user).filter()
}

/// Whether the caller may see this incident (core's one rule).
pub fn can_see(user: &CurrentUser, details: &firefighter_core::IncidentDetails) -> bool {
    viewer(user).can_see(details)
}

/// A staff member (`is_staff` or `is_admin`; a token also needs the `admin`
/// scope). Anyone else gets 403.
#[derive(Debug, Clone)]
pub struct StaffUser(pub CurrentUser);

/// The CSRF token of the current session, to embed in forms as
/// `<input type="hidden" name="csrf_token" value="...">` and in htmx's
/// `hx-headers` as `X-CSRF-Token`. Empty for token-authenticated calls (exempt).
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

/// Who the middleware found behind a request (a request extension).
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub(crate) current: CurrentUser,
    pub(crate) csrf_token: Option<String>,
    /// The API token used, if any.
    pub(crate) token_id: Option<firefighter_core::ApiTokenId>,
}

/// Why an extractor refused a request.
#[derive(Debug)]
pub enum AuthRejection {
    /// Nobody is logged in.
    Anonymous {
        /// Where the login page sends them back.
        next: String,
        /// Mount point of the firefighter router (empty at the root).
        prefix: String,
        /// An API call (JSON answer).
        api: bool,
        /// An htmx call (`HX-Redirect` answer).
        htmx: bool,
    },
    /// Logged in but not allowed.
    Forbidden {
        /// An API call (JSON answer).
        api: bool,
    },
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Anonymous { api: true, .. } => Error::NotAuthenticated.into_response(),
            AuthRejection::Anonymous {
                next, prefix, htmx, ..
            } => {
                let location = format!("{prefix}/login?next={}", encode_query_value(&next));
                if htmx {
                    // htmx follows redirects inside the XHR; ask it to navigate instead.
                    let mut r = StatusCode::UNAUTHORIZED.into_response();
                    if let Ok(v) = HeaderValue::from_str(&location) {
                        r.headers_mut().insert("HX-Redirect", v);
                    }
                    r
                } else {
                    Redirect::to(&location).into_response()
                }
            }
            AuthRejection::Forbidden { api: true } => {
                Error::PermissionDenied("You do not have permission to perform this action.".into())
                    .into_response()
            }
            AuthRejection::Forbidden { api: false } => crate::server::error::html_response(
                Error::PermissionDenied("This page is for staff members only.".into()),
            ),
        }
    }
}

/// Where the firefighter router is mounted and whether the request is an API
/// call, recorded by the middleware before nested routers strip the path.
#[derive(Debug, Clone)]
pub(crate) struct Mount {
    pub(crate) prefix: String,
    pub(crate) api: bool,
}

/// Percent-encodes a query value.
pub(crate) fn encode_query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The path the firefighter router is mounted under (`""` at the root),
/// from the difference between the original and the nested URI.
pub(crate) fn mount_prefix(parts: &Parts) -> String {
    if let Some(m) = parts.extensions.get::<Mount>() {
        return m.prefix.clone();
    }
    let Some(original) = parts.extensions.get::<axum::extract::OriginalUri>() else {
        return String::new();
    };
    let full = original.0.path();
    let inner = parts.uri.path();
    if inner == "/" {
        return full.trim_end_matches('/').to_owned();
    }
    full.strip_suffix(inner).unwrap_or_default().to_owned()
}

/// Whether the request is an API call (answered in JSON).
pub(crate) fn is_api(parts: &Parts) -> bool {
    if let Some(m) = parts.extensions.get::<Mount>() {
        return m.api;
    }
    parts.uri.path().starts_with("/api/")
        || parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.starts_with("application/json"))
}

fn anonymous(parts: &Parts) -> AuthRejection {
    let next = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|u| u.0.clone())
        .unwrap_or_else(|| parts.uri.clone());
    let next = next
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    AuthRejection::Anonymous {
        next,
        prefix: mount_prefix(parts),
        api: is_api(parts),
        htmx: parts.headers.contains_key("HX-Request"),
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Authenticated>() {
            Some(a) => Ok(a.current.clone()),
            None => Err(anonymous(parts)),
        }
    }
}

impl OptionalFromRequestParts<AppState> for CurrentUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Authenticated>()
            .map(|a| a.current.clone()))
    }
}

impl FromRequestParts<AppState> for StaffUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user =
            <CurrentUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        let allowed = user.is_staff() && user.has_scope(SCOPE_ADMIN);
        if allowed {
            Ok(StaffUser(user))
        } else {
            Err(AuthRejection::Forbidden { api: is_api(parts) })
        }
    }
}

impl FromRequestParts<AppState> for CsrfToken {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Authenticated>() {
            Some(a) => Ok(CsrfToken(a.csrf_token.clone().unwrap_or_default())),
            None => Err(anonymous(parts)),
        }
    }
}
