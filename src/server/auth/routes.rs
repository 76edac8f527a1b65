//! `GET/POST /login` and `POST /logout`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Router, extract::FromRequestParts};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

use super::session::{self, SESSION_COOKIE, constant_time_eq, random_hex, sha256_hex};
use super::throttle::{ClientAddress, Refusal};
use super::{CurrentUser, mount_prefix, password};
use crate::server::AppState;

/// Double-submit cookie protecting the login form (there is no session yet).
const LOGIN_CSRF_COOKIE: &str = "ff_login_csrf";

/// The routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    app_name: String,
    prefix: String,
    next: String,
    email: String,
    error: Option<String>,
    csrf_token: String,
}

/// The mount point of the router, as an extractor.
struct Prefix(String);

impl FromRequestParts<AppState> for Prefix {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Prefix(mount_prefix(parts)))
    }
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// `next` if it is a path of this site, else the dashboard.
fn local_next(next: Option<&str>, prefix: &str) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => format!("{prefix}/"),
    }
}

fn login_cookie(state: &AppState, value: String, prefix: &str) -> Cookie<'static> {
    let mut c = Cookie::new(LOGIN_CSRF_COOKIE, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_secure(state.secure_cookies());
    c.set_path(if prefix.is_empty() {
        "/".to_owned()
    } else {
        prefix.to_owned()
    });
    c
}

fn page(
    state: &AppState,
    prefix: &str,
    next: String,
    email: String,
    error: Option<String>,
    jar: CookieJar,
    status: StatusCode,
) -> Response {
    let token = jar
        .get(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 64)
        .unwrap_or_else(|| random_hex(32));
    let jar = jar.add(login_cookie(state, token.clone(), prefix));
    let page = LoginPage {
        app_name: state.app.settings().app_display_name.clone(),
        prefix: prefix.to_owned(),
        next,
        email,
        error,
        csrf_token: token,
    };
    (status, jar, page).into_response()
}

async fn login_page(
    State(state): State<AppState>,
    Prefix(prefix): Prefix,
    user: Option<CurrentUser>,
    Query(q): Query<NextQuery>,
    jar: CookieJar,
) -> Response {
    let next = local_next(q.next.as_deref(), &prefix);
    if user.is_some() {
        return Redirect::to(&next).into_response();
    }
    page(
        &state,
        &prefix,
        next,
        String::new(),
        None,
        jar,
        StatusCode::OK,
    )
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    csrf_token: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

async fn login(
    State(state): State<AppState>,
    Prefix(prefix): Prefix,
    ClientAddress(client): ClientAddress,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_next(form.next.as_deref(), &prefix);
    let expected = jar
        .get(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.csrf_token.as_bytes()) {
        return page(
            &state,
            &prefix,
            next,
            form.email,
            Some("The form expired; please log in again.".into()),
            jar,
            StatusCode::FORBIDDEN,
        );
    }
    if let Err(refusal) = state.logins.attempt(client, &form.email) {
        let (wait, from) = match refusal {
            Refusal::Account(wait) => (wait, "for this account"),
            Refusal::Client(wait) => (wait, "from your address"),
        };
        let client = client.map(|ip| ip.to_string()).unwrap_or_default();
        tracing::warn!(email = %form.email, %client, "login attempts throttled {from}");
        // Rounded up: retrying after the seconds said is never refused.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        let mut response = page(
            &state,
            &prefix,
            next,
            form.email,
            Some(format!(
                "Too many login attempts {from}. Try again in {seconds} seconds."
            )),
            jar,
            StatusCode::TOO_MANY_REQUESTS,
        );
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds.into());
        return response;
    }
    let store = state.app.store();
    let user = match store.user_by_email(&form.email).await {
        Ok(u) => u.filter(|u| u.is_active),
        Err(e) => return crate::server::error::html_response(e.into()),
    };
    let hash = match &user {
        Some(u) => match store.password_hash(u.id).await {
            Ok(h) => h,
            Err(e) => return crate::server::error::html_response(e.into()),
        },
        None => None,
    };
    let ok = password::verify_password(form.password, hash).await;
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(email = %form.email, "failed login");
        return page(
            &state,
            &prefix,
            next,
            form.email,
            Some("Invalid e-mail or password.".into()),
            jar,
            StatusCode::UNAUTHORIZED,
        );
    };
    // A new session id at every login (no fixation).
    if let Some(old) = jar.get(SESSION_COOKIE) {
        let _ = store.delete_session(&sha256_hex(old.value())).await;
    }
    let (id, _) = match session::open(&state, user.id).await {
        Ok(s) => s,
        Err(e) => return crate::server::error::html_response(e),
    };
    tracing::info!(user = %user.email, "logged in");
    let mut removal = login_cookie(&state, String::new(), &prefix);
    removal.make_removal();
    let jar = jar.add(session::cookie(&state, id, &prefix)).add(removal);
    (jar, Redirect::to(&next)).into_response()
}

async fn logout(
    State(state): State<AppState>,
    Prefix(prefix): Prefix,
    user: CurrentUser,
    jar: CookieJar,
) -> Response {
    if let Some(c) = jar.get(SESSION_COOKIE)
        && let Err(e) = state
            .app
            .store()
            .delete_session(&sha256_hex(c.value()))
            .await
    {
        return crate::server::error::html_response(e.into());
    }
    tracing::info!(user = %user.user.email, "logged out");
    let jar = jar.add(session::removal(&state, &prefix));
    (jar, Redirect::to(&format!("{prefix}/login"))).into_response()
}

#[cfg(test)]
mod tests {
    use super::local_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(local_next(Some("/incident/3/"), ""), "/incident/3/");
        assert_eq!(local_next(Some("//evil.example"), ""), "/");
        assert_eq!(local_next(Some("https://evil.example"), ""), "/");
        assert_eq!(local_next(Some("/\\evil.example"), "/ff"), "/ff/");
        assert_eq!(local_next(None, "/ff"), "/ff/");
    }
}
