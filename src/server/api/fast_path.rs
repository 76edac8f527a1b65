//! Cached answers served again ahead of the middleware.
//!
//! A cached `GET` answer (see [`super::cache`]) still went through every
//! layer: request ids, tracing, security headers, the login step, routing,
//! query parsing. When the same request comes again, none of that can
//! change the answer, only the data, the caller's token and the date can.
//! So the first answer is kept here whole, headers included, under
//! everything the request says that it depends on (the URI, `Accept`,
//! `Accept-Encoding`, the token's hash), with what it was valid for; the
//! next identical request gets it back, with a request id of its own, after
//! the same checks the slow path makes:
//!
//! - the [`DataVersions`] read now are the ones read before the answer was
//!   built (nothing it shows changed, no token was revoked, no right
//!   changed: the same invariant as the response cache, exact across
//!   instances);
//! - the token is still usable now (expiry), and its use was written less
//!   than a minute ago (else the slow path writes it);
//! - the day in `TIME_ZONE` is the same (relative date filters).
//!
//! Anything else (cookies, `If-None-Match`, a body, debug logging of
//! requests, another method) takes the slow path, which answers it as
//! before and may offer its answer here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::OriginalUri;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use firefighter_core::access::ApiToken;
use firefighter_core::store::DataVersions;

use super::cache::{
    self, Generation, MAX_RESPONSE_BODY, MAX_RESPONSE_BYTES, MAX_RESPONSES, Rendered,
};
use crate::server::AppState;
use crate::server::auth::middleware::{TOUCH_EVERY, bearer};
use crate::server::auth::session::sha256_hex;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What a handler says of a `200` it answered from the response cache: the
/// fast path may serve it again while these hold.
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    rendered: Arc<Rendered>,
    versions: DataVersions,
    today: chrono::NaiveDate,
}

/// Marks `response` (made by `rendered.respond`) as one the fast path may keep.
pub(crate) fn offer(
    response: &mut Response,
    rendered: Arc<Rendered>,
    versions: DataVersions,
    today: chrono::NaiveDate,
) {
    if response.status() == StatusCode::OK {
        response.extensions_mut().insert(Offer {
            rendered,
            versions,
            today,
        });
    }
}

/// A whole answer kept, and what it is valid for.
#[derive(Debug)]
struct Kept {
    headers: HeaderMap,
    body: Bytes,
    versions: DataVersions,
    today: chrono::NaiveDate,
    token: ApiToken,
    /// The slow path writes the token's use from then on.
    touch_due: DateTime<Utc>,
}

/// The answers kept, by request.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    kept: Mutex<Generation<Arc<Kept>>>,
    /// Requests answered from here.
    hits: AtomicU64,
}

impl Answers {
    /// How many requests were answered from here.
    #[cfg(test)]
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn get(&self, key: &str, data: i64) -> Option<Arc<Kept>> {
        let mut kept = self.kept.lock().expect("fast path lock");
        if !kept.at(data) {
            return None;
        }
        kept.get(key).cloned()
    }

    fn put(&self, key: String, kept: Kept) {
        let size = kept.body.len() + key.len();
        if size > MAX_RESPONSE_BODY {
            return;
        }
        let mut all = self.kept.lock().expect("fast path lock");
        if !all.at(kept.versions.data) {
            return;
        }
        // Same key and version, same body: a newer token use replaces the entry.
        let kept = Arc::new(kept);
        if !all.replace(&key, kept.clone()) {
            all.insert(key, kept, size, MAX_RESPONSES, MAX_RESPONSE_BYTES);
        }
    }
}

/// The request's key, if the fast path may answer it: a `GET` without a
/// body, cookies or validators, authenticated by an API token.
fn key_of(request: &Request<Body>) -> Option<(String, String)> {
    if request.method() != Method::GET || !request.body().is_end_stream() {
        return None;
    }
    let headers = request.headers();
    if headers.contains_key(header::COOKIE)
        || headers.contains_key(header::IF_NONE_MATCH)
        || headers.contains_key(header::TRANSFER_ENCODING)
    {
        return None;
    }
    let Some(Ok(secret)) = bearer(headers) else {
        return None;
    };
    let hash = sha256_hex(secret);
    let uri = request
        .extensions()
        .get::<OriginalUri>()
        .map_or(request.uri(), |o| &o.0);
    let mut key = String::with_capacity(160);
    match (uri.scheme_str(), uri.authority()) {
        (None, None) => key.push_str(uri.path_and_query().map_or("/", |p| p.as_str())),
        _ => key.push_str(&uri.to_string()),
    }
    for name in [header::ACCEPT, header::ACCEPT_ENCODING] {
        key.push('\n');
        for (i, value) in headers.get_all(&name).iter().enumerate() {
            if i > 0 {
                key.push(',');
            }
            key.push_str(value.to_str().ok()?);
        }
    }
    key.push('\n');
    key.push_str(&hash);
    Some((key, hash))
}

/// Whether request logging asks for each request's events (then every
/// request goes through the layer that logs them).
fn requests_logged() -> bool {
    tracing::enabled!(target: "tower_http::trace::on_request", tracing::Level::DEBUG)
        || tracing::enabled!(target: "tower_http::trace::on_response", tracing::Level::DEBUG)
}

/// The kept answer to `key`, if it is still exactly what the slow path would send.
async fn kept_answer(state: &AppState, key: &str) -> Option<Arc<Kept>> {
    let versions = state.app.store().data_versions().await.ok()?;
    let kept = state.cache.answers.get(key, versions.data)?;
    let now = firefighter_core::store::now();
    (kept.versions == versions
        && kept.token.is_usable(now)
        && now < kept.touch_due
        && kept.today == cache::today(state))
    .then_some(kept)
}

/// Keeps `response` if its handler offered it and no layer changed its body.
fn keep(state: &AppState, key: String, hash: &str, response: &Response) {
    let Some(offer) = response.extensions().get::<Offer>() else {
        return;
    };
    let encoding = response.headers().get(header::CONTENT_ENCODING);
    let body = match encoding.map(HeaderValue::as_bytes) {
        None => offer.rendered.body.clone(),
        Some(b"gzip") => match offer.rendered.gzipped() {
            Some((zipped, _)) => zipped.clone(),
            None => return,
        },
        Some(_) => return,
    };
    // The token as the login step saw it for these versions.
    let Some((token, user)) = state.cache.tokens.get(hash, offer.versions.access) else {
        return;
    };
    let Some(used) = token.last_used_at else {
        return;
    };
    if !user.is_active || response.headers().contains_key(header::SET_COOKIE) {
        return;
    }
    let mut headers = response.headers().clone();
    headers.remove(REQUEST_ID);
    state.cache.answers.put(
        key,
        Kept {
            headers,
            body,
            versions: offer.versions,
            today: offer.today,
            token,
            touch_due: used + TOUCH_EVERY,
        },
    );
}

/// The layer: the fast path in front of `inner` (the whole router with its middleware).
#[derive(Clone)]
pub(crate) struct FastPath<S> {
    state: Arc<AppState>,
    inner: S,
    ids: crate::server::run::SequentialIds,
}

impl<S> FastPath<S> {
    pub(crate) fn new(state: AppState, inner: S, ids: crate::server::run::SequentialIds) -> Self {
        FastPath {
            state: Arc::new(state),
            inner,
            ids,
        }
    }
}

impl<S> tower::Service<Request<Body>> for FastPath<S>
where
    S: tower::Service<Request<Body>, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response, std::convert::Infallible>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was made ready answers this request.
        let inner = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, inner);
        let state = self.state.clone();
        let ids = self.ids.clone();
        Box::pin(async move {
            let key = if requests_logged() {
                None
            } else {
                key_of(&request)
            };
            if let Some((key, _)) = &key
                && let Some(kept) = kept_answer(&state, key).await
            {
                let id = match request.headers().get(REQUEST_ID) {
                    Some(given) => given.clone(),
                    None => ids.next_id(),
                };
                state.cache.answers.hits.fetch_add(1, Ordering::Relaxed);
                let mut response = Response::new(Body::from(kept.body.clone()));
                *response.headers_mut() = kept.headers.clone();
                response.headers_mut().insert(REQUEST_ID, id);
                return Ok(response);
            }
            let response = inner.call(request).await?;
            if let Some((key, hash)) = key {
                keep(&state, key, &hash, &response);
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use firefighter_core::store::SqliteStore;
    use firefighter_core::{Declaration, Email, Firefighter, NewUser, Settings};
    use tower::ServiceExt as _;

    use super::*;
    use crate::server::ServerConfig;
    use crate::server::auth::{default_scopes, issue_api_token};

    async fn send(router: &axum::Router, token: &str) -> (StatusCode, HeaderMap, Bytes) {
        let request = Request::get("/api/v2/firefighter/incidents/")
            .header("authorization", format!("Bearer {token}"))
            .header("accept-encoding", "gzip")
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        (
            parts.status,
            parts.headers,
            to_bytes(body, usize::MAX).await.unwrap(),
        )
    }

    #[tokio::test]
    async fn a_repeated_answer_is_the_same_and_never_outlives_its_data_or_token() {
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", tmp.path().join("ff.db").display());
        let store = Arc::new(SqliteStore::connect(&url).await.unwrap());
        let app = Firefighter::builder(Settings::default())
            .store(store)
            .with_registered_plugins(false)
            .build()
            .await
            .unwrap();
        let state = AppState::new(app.clone(), ServerConfig::default());
        let router = crate::server::router(state.clone());
        let (user, _) = app
            .store()
            .user_by_email_or_create(&NewUser::person(Email::parse("jane@example.com").unwrap()))
            .await
            .unwrap();
        let (token, issued) = issue_api_token(&state, user.id, "test", &default_scopes(), None)
            .await
            .unwrap();
        let category = app.catalog().await.unwrap().categories[0].id;
        let declare = |title: &str| Declaration {
            title: title.into(),
            category_id: Some(category),
            created_by: Some(user.id),
            request_conversation: Some(false),
            ..Declaration::default()
        };
        app.declare(declare("The first incident of the day"))
            .await
            .unwrap();

        let (status, first_headers, first) = send(&router, &token).await;
        assert_eq!(status, 200);
        assert_eq!(state.cache.answers.hits(), 0);
        let (status, headers, again) = send(&router, &token).await;
        assert_eq!((status, state.cache.answers.hits()), (StatusCode::OK, 1));
        assert_eq!(again, first, "the same bytes");
        assert_ne!(headers.get(REQUEST_ID), first_headers.get(REQUEST_ID));
        let without_id = |h: &HeaderMap| {
            let mut h = h.clone();
            h.remove(REQUEST_ID);
            h
        };
        assert_eq!(
            without_id(&headers),
            without_id(&first_headers),
            "the same headers"
        );
        assert_eq!(headers.get(header::CONTENT_ENCODING).unwrap(), "gzip");

        // A write: the next answer shows it, then is served again.
        app.declare(declare("The second incident of the day"))
            .await
            .unwrap();
        let (_, _, changed) = send(&router, &token).await;
        assert_ne!(changed, first);
        assert_eq!(state.cache.answers.hits(), 1);
        let (_, _, same) = send(&router, &token).await;
        assert_eq!((same, state.cache.answers.hits()), (changed, 2));

        // Revoked: refused at once, never served from here.
        assert!(
            app.store()
                .revoke_api_token(issued.id, firefighter_core::store::now())
                .await
                .unwrap()
        );
        let (status, _, _) = send(&router, &token).await;
        assert_eq!(
            (status, state.cache.answers.hits()),
            (StatusCode::UNAUTHORIZED, 2)
        );
    }

    fn get(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
        let mut r = Request::get(uri);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(Body::empty()).unwrap()
    }

    #[test]
    fn a_later_use_of_the_token_replaces_the_kept_answer() {
        let now = firefighter_core::store::now();
        let kept = |due: DateTime<Utc>| Kept {
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"[]"),
            versions: DataVersions {
                data: 3,
                reference: 1,
                access: 2,
            },
            today: now.date_naive(),
            token: ApiToken {
                id: firefighter_core::ApiTokenId::new(),
                user_id: firefighter_core::UserId::new(),
                name: "t".into(),
                prefix: "abcdefgh".into(),
                scopes: Vec::new(),
                created_at: now,
                last_used_at: Some(now),
                expires_at: None,
                revoked_at: None,
            },
            touch_due: due,
        };
        let answers = Answers::default();
        let later = now + chrono::Duration::seconds(60);
        answers.put("k".into(), kept(now));
        answers.put("k".into(), kept(later));
        assert_eq!(answers.get("k", 3).unwrap().touch_due, later);
        // A newer data version drops it.
        assert!(answers.get("k", 4).is_none());
        answers.put("k".into(), kept(later));
        assert!(
            answers.get("k", 4).is_none(),
            "built from older data: not kept"
        );
    }

    #[test]
    fn only_token_gets_without_validators_or_cookies_have_a_key() {
        let token = ("authorization", "Bearer secret-token");
        assert!(key_of(&get("/api/v2/firefighter/incidents/", &[token])).is_some());
        assert!(key_of(&get("/api/v2/firefighter/incidents/", &[])).is_none());
        assert!(
            key_of(&get(
                "/api/v2/firefighter/incidents/",
                &[token, ("cookie", "ff_session=x")]
            ))
            .is_none()
        );
        assert!(
            key_of(&get(
                "/api/v2/firefighter/incidents/",
                &[token, ("if-none-match", "\"x\"")]
            ))
            .is_none()
        );
        let post = Request::post("/api/v2/firefighter/incidents/")
            .header("authorization", "Bearer secret-token")
            .body(Body::from("{}"))
            .unwrap();
        assert!(key_of(&post).is_none());
    }

    #[test]
    fn the_key_holds_what_the_answer_depends_on_and_no_secret() {
        let token = ("authorization", "Bearer secret-token");
        let other = ("authorization", "Token other-token");
        let (plain, _) =
            key_of(&get("/api/v2/firefighter/incidents/?status=10", &[token])).unwrap();
        assert!(!plain.contains("secret-token"), "{plain}");
        let variants = [
            key_of(&get("/api/v2/firefighter/incidents/?status=20", &[token])),
            key_of(&get("/api/v2/firefighter/incidents/?status=10", &[other])),
            key_of(&get(
                "/api/v2/firefighter/incidents/?status=10",
                &[token, ("accept", "text/csv")],
            )),
            key_of(&get(
                "/api/v2/firefighter/incidents/?status=10",
                &[token, ("accept-encoding", "gzip")],
            )),
        ];
        for v in variants {
            assert_ne!(v.unwrap().0, plain);
        }
        let again = key_of(&get("/api/v2/firefighter/incidents/?status=10", &[token])).unwrap();
        assert_eq!(again.0, plain);
    }
}
