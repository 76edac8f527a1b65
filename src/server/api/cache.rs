//! Caches of the API that are never stale: each entry records the
//! [`DataVersions`] read *before* the data it was built from, and is used only
//! while a version read from the database for the current request is the same.
//! Every write of the store increments the version it affects in its own
//! transaction, on every instance sharing the database, so an equal version
//! means nothing the entry shows has changed since it was built.
//!
//! - Responses of `incidents/` and `incidents/{id}/`, keyed by path, decoded
//!   query, format, today's date (relative `created_at` ranges) and who may
//!   see what; validated against [`DataVersions::data`]. Bodies carry an
//!   `ETag`, and `If-None-Match` is answered `304`. Clients that accept gzip
//!   (most do) get a copy compressed once per entry, not once per request.
//! - API tokens resolved to their user, keyed by the token's hash; validated
//!   against [`DataVersions::access`] (revocation, a user's rights or
//!   activity). Expiry is checked on every use.
//! - Reference data with its timestamps; validated against
//!   [`DataVersions::reference`].

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firefighter_core::access::{ApiToken, CatalogTimes};
use firefighter_core::store::{Catalog, DataVersions};
use firefighter_core::{User, UserId};

use super::render::Format;
use crate::Result;
use crate::server::AppState;

/// Most responses kept.
pub(crate) const MAX_RESPONSES: usize = 512;
/// Most bytes of response bodies kept.
pub(crate) const MAX_RESPONSE_BYTES: usize = 48 << 20;
/// Larger bodies (whole lists of many thousand incidents) are kept one at a time.
pub(crate) const MAX_RESPONSE_BODY: usize = 8 << 20;
/// Larger bodies are built for each request (still with an `ETag`).
const MAX_LARGE_BODY: usize = 256 << 20;
/// Most API tokens kept.
const MAX_TOKENS: usize = 4096;
/// Smaller bodies are sent as they are.
const MIN_GZIP_BODY: usize = 1024;
/// Larger bodies are compressed off the threads that serve requests.
const INLINE_GZIP_BODY: usize = 1 << 20;

/// The versions read for the current request (a request extension set by
/// the authentication middleware when it read them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen(pub(crate) DataVersions);

/// The versions of this request: the ones authentication read, or fresh ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Versions(pub(crate) Option<DataVersions>);

impl Versions {
    /// The versions, read from the database if authentication did not.
    pub(crate) async fn get(self, state: &AppState) -> Result<DataVersions> {
        match self.0 {
            Some(v) => Ok(v),
            None => Ok(state.app.store().data_versions().await?),
        }
    }
}

impl FromRequestParts<AppState> for Versions {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &AppState,
    ) -> std::result::Result<Self, Self::Rejection> {
        Ok(Versions(parts.extensions.get::<Seen>().map(|s| s.0)))
    }
}

/// A rendered `200` response.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub(crate) content_type: HeaderValue,
    /// `X-Total-Count` of paged lists.
    pub(crate) total: Option<u64>,
    pub(crate) body: Bytes,
    pub(crate) etag: HeaderValue,
    /// The body gzipped, and its `ETag` (made on first demand; `None` if it cannot be).
    gzip: OnceLock<Option<(Bytes, HeaderValue)>>,
}

impl Rendered {
    pub(crate) fn new(content_type: &'static str, total: Option<u64>, body: Vec<u8>) -> Rendered {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut hasher);
        let etag = HeaderValue::from_str(&format!("\"{:016x}-{:x}\"", hasher.finish(), body.len()))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        Rendered {
            content_type: HeaderValue::from_static(content_type),
            total,
            body: Bytes::from(body),
            etag,
            gzip: OnceLock::new(),
        }
    }

    /// Bytes kept for it.
    fn size(&self) -> usize {
        self.body.len()
    }

    /// The gzipped body and its `ETag`, compressed on first use.
    pub(crate) fn gzipped(&self) -> Option<&(Bytes, HeaderValue)> {
        self.gzip
            .get_or_init(|| {
                // Large bodies: faster.
                let level = if self.body.len() > INLINE_GZIP_BODY {
                    flate2::Compression::fast()
                } else {
                    flate2::Compression::default()
                };
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::with_capacity(self.body.len() / 8), level);
                encoder.write_all(&self.body).ok()?;
                let zipped = encoder.finish().ok()?;
                let tag = self.etag.to_str().ok()?.trim_end_matches('"');
                let etag = HeaderValue::from_str(&format!("{tag}-gz\"")).ok()?;
                Some((Bytes::from(zipped), etag))
            })
            .as_ref()
    }

    /// `200` with the body (no validators).
    pub(crate) fn plain(self) -> Response {
        let mut r = (StatusCode::OK, self.body).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, self.content_type);
        if let Some(total) = self.total {
            r.headers_mut()
                .insert("x-total-count", HeaderValue::from(total));
        }
        r
    }

    /// [`Rendered::respond`], compressing a large body first on a blocking thread.
    pub(crate) async fn respond_to(self: Arc<Self>, request: &HeaderMap) -> Response {
        if self.body.len() > INLINE_GZIP_BODY && self.gzip.get().is_none() && accepts_gzip(request)
        {
            let this = self.clone();
            let _ = tokio::task::spawn_blocking(move || {
                this.gzipped();
            })
            .await;
        }
        self.respond(request)
    }

    /// `200` with the body (gzipped if the client accepts it), or `304`
    /// when `If-None-Match` names its `ETag` (of either encoding).
    pub(crate) fn respond(&self, request: &HeaderMap) -> Response {
        let gzip = if self.body.len() >= MIN_GZIP_BODY && accepts_gzip(request) {
            self.gzipped()
        } else {
            None
        };
        let (body, etag) = match gzip {
            Some((zipped, etag)) => (zipped, etag),
            None => (&self.body, &self.etag),
        };
        let gzip_etag = self.gzip.get().and_then(|g| g.as_ref()).map(|(_, t)| t);
        let not_modified = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| {
                t == "*"
                    || t.as_bytes() == self.etag.as_bytes()
                    || gzip_etag.is_some_and(|g| t.as_bytes() == g.as_bytes())
            });
        let mut response = if not_modified {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut r = (StatusCode::OK, body.clone()).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, self.content_type.clone());
            if gzip.is_some() {
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            if let Some(total) = self.total {
                r.headers_mut()
                    .insert("x-total-count", HeaderValue::from(total));
            }
            r
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, etag.clone());
        // Per caller, and to be checked again before each reuse.
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        headers.insert(
            header::VARY,
            HeaderValue::from_static("accept, accept-encoding"),
        );
        response
    }
}

/// Whether `Accept-Encoding` allows gzip.
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            q > 0.0
                && (name.eq_ignore_ascii_case("gzip")
                    || name.eq_ignore_ascii_case("x-gzip")
                    || name == "*")
        })
}

/// Today in `TIME_ZONE` (relative `created_at` ranges depend on it).
pub(crate) fn today(state: &AppState) -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&state.app.time_zone())
        .date_naive()
}

/// The key of a response: everything it depends on besides the data.
pub(crate) fn response_key(
    path: &str,
    query: &[(String, String)],
    format: Format,
    visible_to: Option<UserId>,
    today: chrono::NaiveDate,
) -> String {
    use std::fmt::Write as _;
    let mut key = String::with_capacity(64 + path.len());
    let _ = write!(
        key,
        "{path}\n{format:?}\n{}\n{today}",
        visible_to.map_or_else(|| "*".to_owned(), |u| u.to_string())
    );
    // Decoded pairs, in order (`next`/`previous` links repeat them);
    // lengths make the encoding unambiguous.
    for (k, v) in query {
        let _ = write!(key, "\n{}:{k}{}:{v}", k.len(), v.len());
    }
    key
}

/// Entries valid at one version; older ones are dropped when a newer version is seen.
#[derive(Debug)]
pub(crate) struct Generation<T> {
    version: i64,
    entries: HashMap<String, T>,
    order: VecDeque<String>,
    bytes: usize,
}

impl<T> Default for Generation<T> {
    fn default() -> Self {
        Generation {
            version: i64::MIN,
            entries: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
        }
    }
}

impl<T> Generation<T> {
    /// Moves to `version` if it is newer; whether entries of `version` may be used.
    pub(crate) fn at(&mut self, version: i64) -> bool {
        if version > self.version {
            self.version = version;
            self.entries.clear();
            self.order.clear();
            self.bytes = 0;
        }
        version == self.version
    }

    pub(crate) fn get(&self, key: &str) -> Option<&T> {
        self.entries.get(key)
    }

    /// Replaces the value under `key`, if there is one (of the same size).
    pub(crate) fn replace(&mut self, key: &str, value: T) -> bool {
        match self.entries.get_mut(key) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        }
    }

    pub(crate) fn insert(
        &mut self,
        key: String,
        value: T,
        size: usize,
        max_entries: usize,
        max_bytes: usize,
    ) {
        if self.entries.contains_key(&key) {
            return;
        }
        while !self.order.is_empty()
            && (self.entries.len() >= max_entries || self.bytes + size > max_bytes)
        {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
        self.entries.insert(key.clone(), value);
        self.order.push_back(key);
        self.bytes += size;
    }
}

/// Rendered responses.
#[derive(Debug, Default)]
pub(crate) struct Responses {
    inner: Mutex<Generation<Arc<Rendered>>>,
    /// At most one very large body.
    large: Mutex<Generation<Arc<Rendered>>>,
    /// Keys being built: requests for the same key wait for the first one
    /// instead of all building it.
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Responses {
    /// The response stored under `key` at data version `version`.
    pub(crate) fn get(&self, key: &str, version: i64) -> Option<Arc<Rendered>> {
        for generation in [&self.inner, &self.large] {
            let mut g = generation.lock().expect("response cache lock");
            if g.at(version)
                && let Some(hit) = g.entries.get(key)
            {
                return Some(hit.clone());
            }
        }
        None
    }

    /// The response stored under `key` at data version `version` or a later one
    /// (built from data at least as recent as the caller's).
    fn get_at_least(&self, key: &str, version: i64) -> Option<Arc<Rendered>> {
        [&self.inner, &self.large]
            .into_iter()
            .find_map(|generation| {
                let g = generation.lock().expect("response cache lock");
                if g.version >= version {
                    g.entries.get(key).cloned()
                } else {
                    None
                }
            })
    }

    /// Keeps a response built from data read after `version` was read.
    pub(crate) fn put(&self, key: String, version: i64, rendered: Arc<Rendered>) {
        let size = rendered.size() + key.len();
        let (generation, max_entries, max_bytes) = if size <= MAX_RESPONSE_BODY {
            (&self.inner, MAX_RESPONSES, MAX_RESPONSE_BYTES)
        } else if size <= MAX_LARGE_BODY {
            (&self.large, 1, MAX_LARGE_BODY)
        } else {
            return;
        };
        let mut g = generation.lock().expect("response cache lock");
        if g.at(version) {
            g.insert(key, rendered, size, max_entries, max_bytes);
        }
    }

    /// The response under `key` at data version `version`, built by `build`
    /// (from data read after `version` was) when missing; concurrent requests
    /// for one key wait for a single build.
    pub(crate) async fn get_or_build<F, Fut>(
        &self,
        key: String,
        version: i64,
        build: F,
    ) -> Result<Arc<Rendered>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Rendered>>,
    {
        if let Some(hit) = self.get(&key, version) {
            return Ok(hit);
        }
        let gate = self
            .building
            .lock()
            .expect("response cache lock")
            .entry(key.clone())
            .or_default()
            .clone();
        let built = {
            let _turn = gate.lock().await;
            match self.get_at_least(&key, version) {
                Some(hit) => Ok(hit),
                None => build().await.map(|rendered| {
                    let rendered = Arc::new(rendered);
                    self.put(key.clone(), version, rendered.clone());
                    rendered
                }),
            }
        };
        let mut building = self.building.lock().expect("response cache lock");
        // Only the map and this request hold the gate: nobody waits for it.
        if Arc::strong_count(&gate) <= 2 {
            building.remove(&key);
        }
        built
    }
}

/// API tokens resolved to their owner.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    inner: Mutex<Generation<(ApiToken, User)>>,
}

impl Tokens {
    /// The token with this hash and its owner, as stored at access version `version`.
    pub(crate) fn get(&self, hash: &str, version: i64) -> Option<(ApiToken, User)> {
        let mut inner = self.inner.lock().expect("token cache lock");
        if !inner.at(version) {
            return None;
        }
        inner.entries.get(hash).cloned()
    }

    /// Keeps a token and its owner read after access version `version` was read.
    pub(crate) fn put(&self, hash: String, version: i64, token: ApiToken, user: User) {
        let mut inner = self.inner.lock().expect("token cache lock");
        if inner.at(version) {
            inner.insert(hash, (token, user), 1, MAX_TOKENS, usize::MAX);
        }
    }

    /// Records a use written to the database (so it is written once a minute, not per request).
    pub(crate) fn touched(&self, hash: &str, at: chrono::DateTime<chrono::Utc>) {
        let mut inner = self.inner.lock().expect("token cache lock");
        if let Some((token, _)) = inner.entries.get_mut(hash) {
            token.last_used_at = Some(at);
        }
    }
}

/// Reference data and when its rows changed, as of a reference version.
#[derive(Debug)]
pub(crate) struct Reference {
    pub(crate) version: i64,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) times: Arc<CatalogTimes>,
}

/// The reference data of reference version `version` (or newer).
pub(crate) async fn reference(state: &AppState, version: i64) -> Result<Arc<Reference>> {
    if let Some(r) = state
        .cache
        .reference
        .lock()
        .expect("reference lock")
        .as_ref()
        && r.version >= version
    {
        return Ok(r.clone());
    }
    let store = state.app.store();
    let catalog = Arc::new(store.catalog().await?);
    let times = Arc::new(store.catalog_times().await?);
    // Commands of this instance see the change too, without waiting for core's cache to expire.
    state.app.invalidate_catalog();
    let fresh = Arc::new(Reference {
        version,
        catalog,
        times,
    });
    let mut slot = state.cache.reference.lock().expect("reference lock");
    match slot.as_ref() {
        Some(r) if r.version >= version => Ok(r.clone()),
        _ => {
            *slot = Some(fresh.clone());
            Ok(fresh)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_requests_for_one_key_build_it_once() {
        let cache = Arc::new(Responses::default());
        let builds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (cache, builds) = (cache.clone(), builds.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_build("k".into(), 7, || async {
                        builds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        Ok(Rendered::new("application/json", None, b"[]".to_vec()))
                    })
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().body, "[]");
        }
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(cache.building.lock().unwrap().is_empty());
        // An error is not kept: the next request builds again.
        let failed = cache
            .get_or_build("e".into(), 7, || async { Err(crate::Error::NotFound) })
            .await;
        assert!(failed.is_err());
        assert!(cache.get("e", 7).is_none());
    }

    #[test]
    fn a_very_large_body_is_kept_alone() {
        let cache = Responses::default();
        let big = Arc::new(Rendered::new(
            "application/json",
            None,
            vec![b' '; MAX_RESPONSE_BODY + 1],
        ));
        cache.put("big".into(), 1, big.clone());
        cache.put("small".into(), 1, rendered("[]"));
        assert!(cache.get("big", 1).is_some() && cache.get("small", 1).is_some());
        cache.put("big2".into(), 1, big);
        assert!(cache.get("big", 1).is_none() && cache.get("big2", 1).is_some());
        assert!(cache.get("big2", 2).is_none());
    }

    fn rendered(body: &str) -> Arc<Rendered> {
        Arc::new(Rendered::new(
            "application/json",
            None,
            body.as_bytes().to_vec(),
        ))
    }

    #[test]
    fn entries_live_as_long_as_their_version() {
        let cache = Responses::default();
        cache.put("a".into(), 3, rendered("[1]"));
        assert_eq!(cache.get("a", 3).unwrap().body, "[1]");
        assert!(cache.get("b", 3).is_none());
        // A newer version drops everything older.
        assert!(cache.get("a", 4).is_none());
        assert!(cache.get("a", 3).is_none());
        // Built from an older version than one already seen: not kept.
        cache.put("a".into(), 3, rendered("[1]"));
        assert!(cache.get("a", 4).is_none());
        cache.put("a".into(), 4, rendered("[2]"));
        assert_eq!(cache.get("a", 4).unwrap().body, "[2]");
    }

    #[test]
    fn the_oldest_entries_make_room() {
        let mut g: Generation<u8> = Generation::default();
        assert!(g.at(1));
        for i in 0..5u8 {
            g.insert(format!("k{i}"), i, 10, 3, 1000);
        }
        assert_eq!(g.entries.len(), 3);
        assert!(g.entries.contains_key("k4") && !g.entries.contains_key("k1"));
        g.insert("big".into(), 9, 995, 3, 1000);
        assert_eq!(g.entries.len(), 1);
    }

    #[test]
    fn etags_follow_the_body_and_answer_if_none_match() {
        let a = rendered("[1]");
        let b = rendered("[2]");
        assert_ne!(a.etag, b.etag);
        assert_eq!(a.etag, rendered("[1]").etag);
        let mut h = HeaderMap::new();
        assert_eq!(a.respond(&h).status(), StatusCode::OK);
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"x\", W/{}", a.etag.to_str().unwrap())).unwrap(),
        );
        let r = a.respond(&h);
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers().get(header::ETAG), Some(&a.etag));
        assert_eq!(b.respond(&h).status(), StatusCode::OK);
    }

    #[test]
    fn clients_that_accept_gzip_get_the_compressed_copy() {
        let body = format!(
            "[{}]",
            vec!["{\"title\":\"Checkout fails\"}"; 200].join(",")
        );
        let r = rendered(&body);
        let mut h = HeaderMap::new();
        let plain = r.respond(&h);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        for (accept, gzip) in [
            ("gzip, deflate", true),
            ("br;q=1.0, gzip;q=0.5", true),
            ("*", true),
            ("gzip;q=0", false),
            ("identity", false),
        ] {
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(accept));
            let response = r.respond(&h);
            assert_eq!(
                response.headers().get(header::CONTENT_ENCODING).is_some(),
                gzip,
                "{accept}"
            );
        }
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        let response = r.respond(&h);
        let etag = response.headers().get(header::ETAG).unwrap().clone();
        assert_ne!(etag, r.etag);
        let (zipped, _) = r.gzipped().unwrap();
        let mut decoder = flate2::read::GzDecoder::new(&zipped[..]);
        let mut out = String::new();
        std::io::Read::read_to_string(&mut decoder, &mut out).unwrap();
        assert_eq!(out, body);
        // Either tag revalidates.
        for tag in [etag, r.etag.clone()] {
            h.insert(header::IF_NONE_MATCH, tag);
            assert_eq!(r.respond(&h).status(), StatusCode::NOT_MODIFIED);
        }
    }

    #[test]
    fn keys_tell_every_input_apart() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let base = response_key("/i/", &q(&[("a", "b")]), Format::Json, None, today);
        let user = UserId::new();
        for other in [
            response_key("/i/", &q(&[("a", "b")]), Format::Csv, None, today),
            response_key("/i/", &q(&[("a", "b")]), Format::Json, Some(user), today),
            response_key(
                "/i/",
                &q(&[("a", "b")]),
                Format::Json,
                None,
                today.succ_opt().unwrap(),
            ),
            response_key("/i/", &q(&[("ab", "")]), Format::Json, None, today),
            response_key(
                "/i/",
                &q(&[("a", "b"), ("c", "d")]),
                Format::Json,
                None,
                today,
            ),
            response_key("/j/", &q(&[("a", "b")]), Format::Json, None, today),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(
            base,
            response_key("/i/", &q(&[("a", "b")]), Format::Json, None, today)
        );
    }
}
