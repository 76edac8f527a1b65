//! The stylesheet and htmx, compiled into the binary and served with a
//! content hash as `ETag`: browsers revalidate cheaply and never load
//! anything from elsewhere.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::server::AppState;

/// A file served from the binary.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: HeaderValue,
}

impl Asset {
    fn new(body: &'static [u8], content_type: &'static str) -> Asset {
        let digest = hex::encode(&Sha256::digest(body)[..12]);
        Asset {
            body,
            content_type,
            etag: HeaderValue::from_str(&format!("\"{digest}\""))
                .expect("hex is a valid header value"),
        }
    }

    fn serve(&self, request: &HeaderMap) -> Response {
        let fresh = request.get(header::IF_NONE_MATCH).is_some_and(|v| {
            v.as_bytes()
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii() == self.etag.as_bytes())
        });
        let headers = [
            (header::ETAG, self.etag.clone()),
            // An hour without asking, then a cheap revalidation: a new release is picked up quickly.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600, must-revalidate"),
            ),
        ];
        if fresh {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        (
            headers,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            )],
            self.body,
        )
            .into_response()
    }
}

static STYLESHEET: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(include_bytes!("assets/app.css"), "text/css; charset=utf-8"));

/// htmx 2.0.11, from the npm package `htmx.org` (`dist/htmx.min.js`).
static HTMX: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("assets/htmx.min.js"),
        "text/javascript; charset=utf-8",
    )
});

/// The routes under `/static`.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/app.css",
            get(|h: HeaderMap| async move { STYLESHEET.serve(&h) }),
        )
        .route(
            "/htmx.min.js",
            get(|h: HeaderMap| async move { HTMX.serve(&h) }),
        )
}
