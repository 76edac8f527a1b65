//! Server-side sessions: a random id in an HttpOnly cookie, its SHA-256 in
//! the database with the session's CSRF token and expiry.

use axum_extra::extract::cookie::{Cookie, SameSite};
use chrono::{DateTime, Utc};
use firefighter_core::{Session, UserId};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::Result;
use crate::server::AppState;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "ff_session";

/// `bytes` random bytes from the OS-seeded generator, as hex.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// SHA-256 of `text`, as hex.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Opens a session for `user`; returns the cookie value and the session.
pub(crate) async fn open(state: &AppState, user: UserId) -> Result<(String, Session)> {
    let id = random_hex(32);
    let now = firefighter_core::store::now();
    let session = Session {
        id_hash: sha256_hex(&id),
        user_id: user,
        csrf_token: random_hex(32),
        created_at: now,
        expires_at: expiry(state, now),
    };
    state.app.store().create_session(&session).await?;
    Ok((id, session))
}

/// When a session opened or extended at `now` ends.
pub(crate) fn expiry(state: &AppState, now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::seconds(
        i64::try_from(state.config.session_lifetime_secs).unwrap_or(i64::MAX / 2),
    )
}

/// The cookie carrying a session id.
pub(crate) fn cookie(state: &AppState, value: String, prefix: &str) -> Cookie<'static> {
    let mut c = Cookie::new(SESSION_COOKIE, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_secure(state.secure_cookies());
    c.set_path(if prefix.is_empty() {
        "/".to_owned()
    } else {
        prefix.to_owned()
    });
    c.set_max_age(time_duration(state.config.session_lifetime_secs));
    c
}

/// A cookie that makes the browser forget the session.
pub(crate) fn removal(state: &AppState, prefix: &str) -> Cookie<'static> {
    let mut c = cookie(state, String::new(), prefix);
    c.make_removal();
    c
}

fn time_duration(secs: u64) -> time::Duration {
    time::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}
