//! Password hashes: argon2id in PHC strings, computed off the async threads.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::{Error, Result};

/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Checks a new password.
pub fn validate_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            "min_length",
            format!("a password needs at least {MIN_PASSWORD_CHARS} characters (it has {n})"),
        ));
    }
    if n > 1024 {
        return Err(Error::invalid(
            "password",
            "max_length",
            "a password has at most 1024 characters",
        ));
    }
    Ok(())
}

/// Hashes a password (argon2id, random salt).
pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))?
}

/// A hash of a random password, verified against when the account does not
/// exist, so that both cases take the same time.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let random = super::session::random_hex(16);
    Argon2::default()
        .hash_password(random.as_bytes())
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Whether `password` matches `hash` (`None`: no such account or no password).
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match hash {
            Some(h) => (h, true),
            None => (DUMMY_HASH.clone(), false),
        };
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && real
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let a = hash_password("correct horse battery".into()).await.unwrap();
        let b = hash_password("correct horse battery".into()).await.unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery".into(), Some(a.clone())).await);
        assert!(!verify_password("wrong horse battery".into(), Some(a)).await);
        assert!(!verify_password("anything at all".into(), None).await);
        assert!(!verify_password("x".into(), Some("not a hash".into())).await);
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough!").is_ok());
    }
}
