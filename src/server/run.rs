//! Assembling the router with its middleware, and running it: bind, serve,
//! workers, graceful shutdown.

use std::any::Any;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use firefighter_core::{Email, Firefighter, NewUser, Settings};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use super::{AppState, ServerConfig, api, auth, web};
use crate::{Error, Result};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Pages may be framed by nobody, load nothing from elsewhere, and post forms only here.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
     script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

pub(super) fn assemble(state: AppState) -> Router {
    let config = state.config.clone();
    let routes = Router::new()
        .nest(API_PREFIX, api::router(&state))
        .merge(auth::routes::router())
        .merge(web::router())
        .with_state(state.clone())
        .merge(super::integrations::router(&state))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::middleware::authenticate,
        ))
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        // Assets need no identity: no database query per file.
        .merge(
            Router::new()
                .nest("/static", web::assets())
                .with_state(state.clone()),
        )
        // Integrations that check their own signatures (Slack).
        .merge(super::integrations::public_router(&state));
    let ids = SequentialIds::new();
    let assembled = with_middleware(routes, &config, state.secure_cookies(), ids.clone());
    // Rewritten before routing, so the API's routes see `?format=`.
    let assembled = tower::ServiceExt::map_request(assembled, format_suffix);
    // Outermost: a cached answer asked again skips every layer (see `fast_path`).
    Router::new().fallback_service(api::fast_path::FastPath::new(state, assembled, ids))
}

/// The middleware every answer goes through, around `routes`, outermost
/// first. The headers every answer carries are set outside the layers that
/// answer panics and timeouts, so those answers carry them too.
fn with_middleware(
    routes: Router,
    config: &ServerConfig,
    https: bool,
    ids: SequentialIds,
) -> Router {
    let mut sensitive = vec![header::AUTHORIZATION, header::COOKIE];
    if let Some(name) = config
        .trusted_proxy_secret_header
        .as_deref()
        .and_then(|n| HeaderName::from_bytes(n.as_bytes()).ok())
    {
        sensitive.push(name);
    }
    routes.layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new(sensitive))
            .layer(SetRequestIdLayer::new(REQUEST_ID, ids))
            .layer(
                TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                    let id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
                }),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(axum::middleware::from_fn(close_unless_read))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("DENY"),
            ))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::STRICT_TRANSPORT_SECURITY,
                https.then(|| HeaderValue::from_static(STRICT_TRANSPORT_SECURITY)),
            ))
            .layer(axum::middleware::from_fn_with_state(
                config.request_timeout(),
                answer_failures,
            ))
            .layer(CatchPanicLayer::custom(panicked))
            .layer(CompressionLayer::new()),
    )
}

/// Request ids: a random prefix drawn once per process, then a counter.
/// As unique as a random id per request, without a draw (a system call)
/// for each one.
#[derive(Clone)]
pub(crate) struct SequentialIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl SequentialIds {
    fn new() -> SequentialIds {
        SequentialIds {
            prefix: uuid::Uuid::new_v4().simple().to_string().into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The next id.
    pub(crate) fn next_id(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:x}", self.prefix))
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

impl MakeRequestId for SequentialIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        Some(RequestId::new(self.next_id()))
    }
}

/// Browsers reach the site over https only, for a year, once they saw it
/// over https (sent only when `BASE_URL` is https).
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// Marks the answer to a panic, for [`answer_failures`].
#[derive(Debug, Clone, Copy)]
struct Panicked;

fn panicked(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|m| (*m).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %message, "a request handler panicked");
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(Panicked);
    response
}

/// Stops requests that take longer than `FF_REQUEST_TIMEOUT_SECS`, and
/// answers them and panics as every other error is answered: in the API's
/// error format for API calls, as a page for people.
async fn answer_failures(
    State(timeout): State<Duration>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let api = auth::is_api(&parts);
    let request = axum::extract::Request::from_parts(parts, body);
    let error = match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) if response.extensions().get::<Panicked>().is_none() => return response,
        Ok(_) => Error::Internal("a request handler panicked".into()),
        Err(_) => Error::Timeout(timeout.as_secs()),
    };
    if api {
        error.into_response()
    } else {
        super::error::html_response(error)
    }
}

/// Answers to a request whose body was not read to its end say
/// `Connection: close`. Without it hyper, finding the rest of the body
/// unread after the answer, closes the connection without a word, and the
/// client's next request on it is never answered.
async fn close_unless_read(request: axum::extract::Request, next: Next) -> Response {
    // HTTP/2 has no `Connection` header and ends one stream, not the connection.
    if request.version() > Version::HTTP_11 || request.body().is_end_stream() {
        return next.run(request).await;
    }
    let read = Arc::new(AtomicBool::new(false));
    let watched = read.clone();
    let request = request.map(|body| {
        Body::new(ReadToEnd {
            body,
            read: watched,
        })
    });
    let mut response = next.run(request).await;
    if !read.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records when it was read to its end.
struct ReadToEnd {
    body: Body,
    read: Arc<AtomicBool>,
}

impl HttpBody for ReadToEnd {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.body.is_end_stream() {
            self.read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Where the REST API is mounted.
const API_PREFIX: &str = "/api/v2/firefighter";

/// API collections that take a format suffix.
const SUFFIXED: &[&str] = &[
    "incidents",
    "severities",
    "environments",
    "groups",
    "incident-categories",
    "components",
    "incident_costs",
    "incident_cost_types",
];

/// The original's format suffixes (`incidents.csv`, `incidents/3.tsv`), which
/// its documentation offers besides `Accept` and `?format=`: rewritten to
/// `incidents/?format=csv` and `incidents/3/?format=tsv`.
fn format_suffix<B>(mut request: Request<B>) -> Request<B> {
    let uri = request.uri();
    let Some(rest) = uri
        .path()
        .find(API_PREFIX)
        .map(|at| &uri.path()[at + API_PREFIX.len()..])
    else {
        return request;
    };
    let trimmed = rest.strip_suffix('/').unwrap_or(rest);
    let Some((stem, extension)) = trimmed.rsplit_once('.') else {
        return request;
    };
    let format = extension.to_ascii_lowercase();
    let collection = stem.trim_start_matches('/').split('/').next().unwrap_or("");
    if !matches!(format.as_str(), "json" | "csv" | "tsv")
        || stem.ends_with('/')
        || stem.matches('/').count() > 2
        || !SUFFIXED.contains(&collection)
    {
        return request;
    }
    let base = &uri.path()[..uri.path().len() - rest.len()];
    let query = match uri.query() {
        Some(q) if !q.is_empty() => format!("{q}&format={format}"),
        _ => format!("format={format}"),
    };
    if let Ok(rewritten) = format!("{base}{stem}/?{query}").parse() {
        *request.uri_mut() = rewritten;
    }
    request
}

/// Creates (or promotes) the administrator named by `FF_ADMIN_EMAIL`, and
/// sets `FF_ADMIN_PASSWORD` as their password if they have none yet.
/// Returns the e-mail when an administrator was configured.
pub async fn ensure_admin(app: &Firefighter, config: &ServerConfig) -> Result<Option<String>> {
    let Some(email) = config.admin_email.as_deref() else {
        return Ok(None);
    };
    let email = Email::parse(email).map_err(|e| Error::Config(format!("FF_ADMIN_EMAIL: {e}")))?;
    let store = app.store();
    let user = match store.user_by_email(email.as_str()).await? {
        Some(mut user) => {
            if !(user.is_admin && user.is_staff && user.is_active) {
                user.is_admin = true;
                user.is_staff = true;
                user.is_active = true;
                store.update_user(&user).await?;
                tracing::info!(user = %user.email, "FF_ADMIN_EMAIL: promoted to administrator");
            }
            user
        }
        None => {
            let user = store
                .create_user(&NewUser {
                    is_staff: true,
                    is_admin: true,
                    ..NewUser::person(email)
                })
                .await?;
            tracing::info!(user = %user.email, "FF_ADMIN_EMAIL: administrator created");
            user
        }
    };
    if let Some(password) = &config.admin_password
        && store.password_hash(user.id).await?.is_none()
    {
        auth::password::validate_password(password.expose_secret())
            .map_err(|e| Error::Config(format!("FF_ADMIN_PASSWORD: {e}")))?;
        let hash = auth::password::hash_password(password.expose_secret().to_owned()).await?;
        store.set_password_hash(user.id, Some(&hash)).await?;
        tracing::info!(user = %user.email, "FF_ADMIN_PASSWORD: password set");
    }
    Ok(Some(user.email))
}

/// The server's socket, bound before the application is built: when
/// `BASE_URL` is unset, links must use the address it got (see
/// [`Listener::fill_base_url`]).
#[derive(Debug)]
pub struct Listener(TcpListener);

impl Listener {
    /// Binds `HTTP_BIND:HTTP_PORT`.
    pub async fn bind(config: &ServerConfig) -> Result<Listener> {
        let addr = SocketAddr::new(config.http_bind, config.http_port);
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            Error::Config(format!(
                "cannot listen on {addr} (HTTP_BIND, HTTP_PORT): {e}"
            ))
        })?;
        Ok(Listener(listener))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.0.local_addr()?)
    }

    /// When `BASE_URL` is unset (left at its default), sets it to this
    /// address, so that every link (API, pages, integrations' messages)
    /// leads here. Call it before building the application with `settings`.
    pub fn fill_base_url(&self, settings: &mut Settings) -> Result<()> {
        if settings.base_url == Settings::default().base_url {
            settings.base_url = url_of(self.local_addr()?);
        }
        Ok(())
    }

    /// The server on this socket.
    pub fn serve(self, state: AppState) -> Server {
        if let Ok(addr) = self.local_addr() {
            let links = state.app.settings().base_url();
            if links == Settings::default().base_url() && links != url_of(addr) {
                tracing::warn!(
                    %addr, base_url = links,
                    "BASE_URL is unset and links do not lead to the address listened on: set BASE_URL, or call Listener::fill_base_url before building the application"
                );
            }
        }
        Server {
            listener: self.0,
            state,
        }
    }
}

/// The URL of an address listened on; all addresses (`0.0.0.0`, `::`) are
/// reached through loopback.
fn url_of(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// The server, bound to its port.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Binds `HTTP_BIND:HTTP_PORT` for an application already built (its
    /// `BASE_URL` stays as it is: see [`Listener`] to derive it from the port).
    pub async fn bind(state: AppState) -> Result<Server> {
        Ok(Listener::bind(&state.config).await?.serve(state))
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until SIGTERM or SIGINT.
    pub async fn run(self) -> Result<()> {
        let token = CancellationToken::new();
        let trigger = token.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            trigger.cancel();
        });
        self.run_until(token).await
    }

    /// Serves until `shutdown` is cancelled; then in-flight requests finish
    /// (up to `FF_SHUTDOWN_GRACE_SECS`) and the workers stop after their current job.
    pub async fn run_until(self, shutdown: CancellationToken) -> Result<()> {
        let Server { listener, state } = self;
        let app = state.app.clone();
        let grace = Duration::from_secs(state.config.shutdown_grace_secs);
        let mut workers = Vec::new();
        // Always, workers or not: requests lease inbox items to this instance too.
        let heartbeat_stop = CancellationToken::new();
        let heartbeat = tokio::spawn(firefighter_core::instance::keep_alive(
            app.store().clone(),
            heartbeat_stop.clone(),
        ));
        if app.settings().workers {
            let dispatcher = firefighter_core::outbox::Dispatcher::for_app(&app);
            workers.push(tokio::spawn(dispatcher.run(shutdown.child_token())));
            let runner = firefighter_core::task::TaskRunner::for_app(&app);
            workers.push(tokio::spawn(runner.run_forever(shutdown.child_token())));
            workers.push(tokio::spawn(purge_access(
                app.clone(),
                shutdown.child_token(),
            )));
        }
        // The client's address, for login throttling.
        let router = super::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future();
        tokio::pin!(serve);
        tokio::select! {
            served = &mut serve => served?,
            () = shutdown.cancelled() => {
                match tokio::time::timeout(grace, &mut serve).await {
                    Ok(served) => served?,
                    Err(_) => tracing::warn!(grace_secs = grace.as_secs(), "requests still running after the grace period were cut"),
                }
            }
        }
        shutdown.cancel();
        for w in workers {
            if let Err(e) = w.await {
                tracing::error!(error = %e, "a worker panicked");
            }
        }
        // Last: once the workers have finished, this instance holds nothing.
        heartbeat_stop.cancel();
        let _ = heartbeat.await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Deletes expired sessions and day-old idempotency keys every hour.
async fn purge_access(app: Firefighter, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = firefighter_core::store::now();
        match app
            .store()
            .purge_access(
                now,
                now - chrono::Duration::seconds(api::IDEMPOTENCY_TTL_SECS),
            )
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "expired sessions and idempotency keys deleted"),
            Err(e) => tracing::warn!(error = %e, "could not delete expired sessions"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl+C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn panics() -> &'static str {
        panic!("a bug in a handler")
    }

    async fn hangs() -> &'static str {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        "too late"
    }

    /// Routes that fail, behind the server's middleware (`BASE_URL` https).
    fn failing() -> Router {
        let config = ServerConfig {
            request_timeout_secs: 1,
            ..ServerConfig::default()
        };
        let routes = Router::new()
            .route("/api/v2/firefighter/panics", get(panics))
            .route("/api/v2/firefighter/hangs", get(hangs))
            .route("/panics", get(panics))
            .route("/hangs", get(hangs));
        with_middleware(routes, &config, true, SequentialIds::new())
    }

    #[tokio::test(start_paused = true)]
    async fn panics_and_timeouts_carry_every_header_and_the_error_format() {
        for (path, status, api) in [
            ("/api/v2/firefighter/panics", 500, true),
            ("/api/v2/firefighter/hangs", 503, true),
            ("/panics", 500, false),
            ("/hangs", 503, false),
        ] {
            let response = failing()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{path}");
            let headers = response.headers().clone();
            for name in [
                "x-content-type-options",
                "x-frame-options",
                "referrer-policy",
                "content-security-policy",
                "x-request-id",
                "strict-transport-security",
            ] {
                assert!(
                    headers.contains_key(name),
                    "{path} lacks {name}: {headers:?}"
                );
            }
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
            if api {
                assert_eq!(content_type, "application/json", "{path}");
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(v["type"], "server_error", "{path}: {v}");
                assert!(v["errors"][0]["detail"].is_string(), "{path}: {v}");
            } else {
                assert!(
                    content_type.starts_with("text/html"),
                    "{path}: {content_type}"
                );
                let page = String::from_utf8_lossy(&body);
                assert!(page.contains(&status.to_string()), "{path}: {page}");
            }
        }
    }
}
