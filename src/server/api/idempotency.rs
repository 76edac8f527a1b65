//! `Idempotency-Key` on every request that changes data (POST, PUT, PATCH,
//! DELETE): the same key with the same request replays the stored response;
//! with another request it is refused (422). Keys are per caller (token or
//! user) and kept a day, in the database.
//!
//! While a request runs its key is leased to this instance for the request
//! timeout (plus a margin). A retry while it runs is refused (409); a retry
//! after this instance died (its heartbeat stopped) or after the lease ended
//! runs the request again. Handlers that change data do so under the key
//! ([`RequestKey`]: a declaration or an update recorded with it is found
//! again rather than made twice), so the retry gets the applied result.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use firefighter_core::access::{IdempotencyBegin, StoredResponse};

use super::IDEMPOTENCY_TTL_SECS;
use crate::Error;
use crate::server::AppState;
use crate::server::auth::{AuthMethod, Authenticated, session::sha256_hex};

/// The header.
pub(crate) const HEADER: &str = "idempotency-key";

/// The caller's idempotency key, for handlers to record their change under
/// (core's request keys): unique per caller and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestKey(pub(crate) String);

/// Longer than any request may run: the request timeout, and a margin for the
/// answer to be stored.
fn lease(state: &AppState) -> chrono::Duration {
    chrono::Duration::from_std(state.config.request_timeout())
        .unwrap_or(chrono::Duration::minutes(1))
        + chrono::Duration::seconds(15)
}

pub(super) async fn idempotent(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // Reads need no key. PUT is covered too: a PUT that finds nothing to
    // change is refused (400), so its retry after a lost answer must be told
    // what the first attempt did.
    if !matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    // Anonymous calls are refused by the handler (401) whatever their key:
    // nothing to check or remember.
    let Some(auth) = request.extensions().get::<Authenticated>().cloned() else {
        return next.run(request).await;
    };
    let key = match key.to_str().map(str::trim) {
        Ok(k) if !k.is_empty() && k.len() <= 255 => k.to_owned(),
        _ => {
            return Error::invalid(
                "Idempotency-Key",
                "invalid",
                "an Idempotency-Key has 1 to 255 visible ASCII characters",
            )
            .into_response();
        }
    };
    let scope = match (auth.current.method, auth.token_id) {
        (AuthMethod::Token, Some(token)) => format!("token:{token}"),
        _ => format!("user:{}", auth.current.user.id),
    };
    let (mut parts, body) = request.into_parts();
    let limit = state.config.body_limit_bytes;
    let bytes = match to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return Error::PayloadTooLarge(limit).into_response(),
    };
    let mut fingerprint = format!("{} {}\n", parts.method, parts.uri);
    fingerprint.push_str(&String::from_utf8_lossy(&bytes));
    let hash = sha256_hex(&fingerprint);
    let store = state.app.store().clone();
    let now = firefighter_core::store::now();
    let begun = store
        .begin_idempotent(
            &scope,
            &key,
            &hash,
            firefighter_core::instance::id(),
            now,
            now + lease(&state),
            now - chrono::Duration::seconds(IDEMPOTENCY_TTL_SECS),
        )
        .await;
    match begun {
        Err(e) => return Error::from(e).into_response(),
        Ok(IdempotencyBegin::Mismatch) => return Error::IdempotencyMismatch.into_response(),
        Ok(IdempotencyBegin::InProgress) => return Error::IdempotencyInProgress.into_response(),
        Ok(IdempotencyBegin::Replay(stored)) => {
            let mut r = (
                axum::http::StatusCode::from_u16(stored.status)
                    .unwrap_or(axum::http::StatusCode::OK),
                stored.body,
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&stored.content_type) {
                r.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            r.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return r;
        }
        Ok(IdempotencyBegin::Started) => {}
        Ok(IdempotencyBegin::Resumed) => {
            tracing::info!(%scope, "an idempotency key left unanswered (its instance died, or the request outlived its lease) is taken over by its retry");
        }
    }
    parts.extensions.insert(RequestKey(format!(
        "api:{}",
        sha256_hex(&format!("{scope}\n{key}"))
    )));
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (rparts, rbody) = response.into_parts();
    let rbytes = match to_bytes(rbody, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            let _ = store.abandon_idempotent(&scope, &key).await;
            return Error::Internal(format!("cannot read the response: {e}")).into_response();
        }
    };
    // Server errors are not remembered: the client may retry.
    let text = String::from_utf8(rbytes.to_vec());
    match (&text, rparts.status.is_server_error()) {
        (Ok(text), false) => {
            let stored = StoredResponse {
                status: rparts.status.as_u16(),
                content_type: rparts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("application/json")
                    .to_owned(),
                body: text.clone(),
            };
            if let Err(e) = store.finish_idempotent(&scope, &key, &stored).await {
                tracing::warn!(error = %e, "could not store the response of an idempotent request");
            }
        }
        _ => {
            if let Err(e) = store.abandon_idempotent(&scope, &key).await {
                tracing::warn!(error = %e, "could not release an idempotency key");
            }
        }
    }
    Response::from_parts(rparts, Body::from(rbytes))
}
