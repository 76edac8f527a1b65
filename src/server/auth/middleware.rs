//! Resolves the caller of every request (API token, trusted proxy header or
//! session cookie), checks CSRF tokens of cookie-authenticated changes, and
//! tags responses with the user id.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use firefighter_core::{ApiTokenId, Email, NewUser, User};
use secrecy::ExposeSecret;

use super::session::{self, SESSION_COOKIE, constant_time_eq, sha256_hex};
use super::{AuthMethod, Authenticated, CurrentUser, account_scopes, is_api, mount_prefix};
use crate::Error;
use crate::server::api::cache::Seen;
use crate::server::error::html_response;
use crate::server::{AppState, ServerConfig};

/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
/// The header carrying the CSRF token (htmx, scripts).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How often a token's `last_used_at` is written at most.
pub(crate) const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

fn reject(error: Error, api: bool) -> Response {
    if api {
        error.into_response()
    } else {
        html_response(error)
    }
}

/// The secret of `Authorization: Bearer <t>` or `Token <t>` (DRF clients).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let Ok(value) = value.to_str() else {
        return Some(Err(()));
    };
    let (scheme, token) = value.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        let token = token.trim();
        Some(if token.is_empty() { Err(()) } else { Ok(token) })
    } else {
        None
    }
}

/// The caller behind a token secret, and the data versions read first.
///
/// Tokens found are kept with their owner while the store's access version
/// (revocations, users' rights and activity) stays the same, read from the
/// database for each request: a revoked token or a deactivated owner is
/// refused from the next request on, on every instance. Expiry is checked
/// each time. The versions go on to the handlers (one query for both).
async fn token_user(
    state: &AppState,
    secret: &str,
) -> Result<Option<(CurrentUser, ApiTokenId, Seen)>, Error> {
    let store = state.app.store();
    let versions = store.data_versions().await?;
    let hash = sha256_hex(secret);
    let tokens = &state.cache.tokens;
    let (token, user) = match tokens.get(&hash, versions.access) {
        Some(found) => found,
        None => {
            let Some(token) = store.api_token_by_hash(&hash).await? else {
                return Ok(None);
            };
            let Some(user) = store.user(token.user_id).await? else {
                return Ok(None);
            };
            tokens.put(hash.clone(), versions.access, token.clone(), user.clone());
            (token, user)
        }
    };
    let now = firefighter_core::store::now();
    if !token.is_usable(now) || !user.is_active {
        return Ok(None);
    }
    if token.last_used_at.is_none_or(|t| now - t > TOUCH_EVERY) {
        tokens.touched(&hash, now);
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_token(token.id, now).await {
                tracing::warn!(error = %e, "could not record the use of an API token");
            }
        });
    }
    // A token never grants more than its owner has now.
    let allowed = account_scopes(&user);
    let scopes = token
        .scopes
        .into_iter()
        .filter(|s| allowed.contains(s))
        .collect();
    Ok(Some((
        CurrentUser {
            user,
            method: AuthMethod::Token,
            scopes,
        },
        token.id,
        Seen(versions),
    )))
}

/// Whether the request came through the trusted proxy: the proxy mode is
/// on and, when the proxy has a secret, the request carries it.
pub(crate) fn through_trusted_proxy(config: &ServerConfig, headers: &HeaderMap) -> bool {
    if config.trusted_proxy_user_header.is_none() {
        return false;
    }
    match (
        config.trusted_proxy_secret_header.as_deref(),
        config.trusted_proxy_secret.as_ref(),
    ) {
        (Some(name), Some(secret)) => {
            let given = headers.get(name).map(HeaderValue::as_bytes).unwrap_or(b"");
            constant_time_eq(given, secret.expose_secret().as_bytes())
        }
        _ => true,
    }
}

/// The e-mail the trusted proxy vouches for, if the proxy mode is on and the
/// request proves it came through the proxy.
fn proxy_email(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let config = &state.config;
    let user_header = config.trusted_proxy_user_header.as_deref()?;
    let email = headers.get(user_header)?.to_str().ok()?.trim();
    if email.is_empty() {
        return None;
    }
    if !through_trusted_proxy(config, headers) {
        tracing::warn!(
            header = user_header,
            "proxy user header without the proxy's secret: ignored"
        );
        return None;
    }
    Some(email.to_owned())
}

/// The account behind a proxy-vouched e-mail; created on first sight, as the
/// original does for single sign-on users.
async fn proxy_account(state: &AppState, email: &str) -> Result<Option<User>, Error> {
    let email = Email::parse(email).map_err(|_| Error::AuthenticationFailed)?;
    let (user, created) = state
        .app
        .store()
        .user_by_email_or_create(&NewUser::person(email))
        .await?;
    if created {
        tracing::info!(user = %user.email, "account created for a user authenticated by the proxy");
    }
    Ok(user.is_active.then_some(user))
}

fn person(user: User, method: AuthMethod) -> CurrentUser {
    let scopes = account_scopes(&user);
    CurrentUser {
        user,
        method,
        scopes,
    }
}

/// The middleware.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let api = is_api(&parts);
    let prefix = mount_prefix(&parts);
    parts.extensions.insert(super::Mount {
        prefix: prefix.clone(),
        api,
    });
    let limit = state.config.body_limit_bytes;
    let declared_length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared_length.is_some_and(|n| n > limit) {
        return reject(Error::PayloadTooLarge(limit), api);
    }

    let jar = CookieJar::from_headers(&parts.headers);
    let cookie_session = match jar.get(SESSION_COOKIE) {
        Some(c) if !c.value().is_empty() => {
            match state
                .app
                .store()
                .session(&sha256_hex(c.value()), firefighter_core::store::now())
                .await
            {
                Ok(s) => s,
                Err(e) => return reject(e.into(), api),
            }
        }
        _ => None,
    };
    let mut new_cookie = None;
    let mut seen = None;

    let resolved: Result<Option<Authenticated>, Error> = async {
        if let Some(token) = bearer(&parts.headers) {
            let Ok(secret) = token else {
                return Err(Error::AuthenticationFailed);
            };
            return match token_user(&state, secret).await? {
                Some((current, token_id, versions)) => {
                    seen = Some(versions);
                    Ok(Some(Authenticated {
                        current,
                        csrf_token: None,
                        token_id: Some(token_id),
                    }))
                }
                None => Err(Error::AuthenticationFailed),
            };
        }
        if let Some(email) = proxy_email(&state, &parts.headers) {
            let Some(user) = proxy_account(&state, &email).await? else {
                return Err(Error::PermissionDenied(format!(
                    "The account {email} is deactivated."
                )));
            };
            let csrf_token = match cookie_session.as_ref().filter(|s| s.user_id == user.id) {
                Some(s) => s.csrf_token.clone(),
                None => {
                    let (id, s) = session::open(&state, user.id).await?;
                    new_cookie = Some(session::cookie(&state, id, &prefix));
                    s.csrf_token
                }
            };
            return Ok(Some(Authenticated {
                current: person(user, AuthMethod::Proxy),
                csrf_token: Some(csrf_token),
                token_id: None,
            }));
        }
        let Some(s) = cookie_session.as_ref() else {
            return Ok(None);
        };
        let Some(user) = state
            .app
            .store()
            .user(s.user_id)
            .await?
            .filter(|u| u.is_active)
        else {
            return Ok(None);
        };
        // Sliding expiry, written at most once per half lifetime.
        let now = firefighter_core::store::now();
        let lifetime = session::expiry(&state, now) - now;
        if s.expires_at - now < lifetime / 2 {
            state
                .app
                .store()
                .extend_session(&s.id_hash, session::expiry(&state, now))
                .await?;
        }
        Ok(Some(Authenticated {
            current: person(user, AuthMethod::Session),
            csrf_token: Some(s.csrf_token.clone()),
            token_id: None,
        }))
    }
    .await;
    let authenticated = match resolved {
        Ok(a) => a,
        Err(e) => return reject(e, api),
    };

    let mut body = body;
    if let Some(auth) = &authenticated
        && auth.current.method != AuthMethod::Token
        && !matches!(
            parts.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        )
    {
        let expected = auth.csrf_token.clone().unwrap_or_default();
        let from_header = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let given = match from_header {
            Some(t) => Some(t),
            None if is_form(&parts.headers) => {
                let bytes = match to_bytes(body, limit).await {
                    Ok(b) => b,
                    Err(_) => return reject(Error::PayloadTooLarge(limit), api),
                };
                let token = form_urlencoded::parse(&bytes)
                    .find(|(k, _)| k == CSRF_FIELD)
                    .map(|(_, v)| v.into_owned());
                body = Body::from(bytes);
                token
            }
            None => None,
        };
        let valid = given.as_deref().is_some_and(|g| {
            !expected.is_empty() && constant_time_eq(g.as_bytes(), expected.as_bytes())
        });
        if !valid {
            tracing::info!(method = %parts.method, path = parts.uri.path(), "refused: missing or wrong CSRF token");
            return reject(Error::Csrf, api);
        }
    }

    let user_id = authenticated.as_ref().map(|a| a.current.user.id);
    if let Some(a) = authenticated {
        parts.extensions.insert(a);
    }
    if let Some(versions) = seen {
        parts.extensions.insert(versions);
    }
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let Some(id) = user_id
        && let Ok(name) = HeaderName::from_bytes(state.config.user_id_header.as_bytes())
        && let Ok(value) = HeaderValue::from_str(&id.to_string())
    {
        response.headers_mut().insert(name, value);
    }
    if let Some(c) = new_cookie
        && let Ok(v) = HeaderValue::from_str(&c.to_string())
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    // A page made for one person is kept by no browser or proxy (a shared
    // computer's back button after logout); the API says its own policy.
    if user_id.is_some() && !api && !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}
