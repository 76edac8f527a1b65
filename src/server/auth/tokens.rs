//! API tokens: random secrets shown once, stored as SHA-256, with scopes,
//! an optional expiry, last use and revocation. Used by the back-office and the CLI.

use chrono::{DateTime, Utc};
use firefighter_core::{ApiToken, ApiTokenId, UserId};

use super::session::{random_hex, sha256_hex};
use super::{SCOPE_INCIDENTS_READ, SCOPE_INCIDENTS_WRITE, SCOPES, account_scopes};
use crate::server::AppState;
use crate::{Error, Problem, Result};

/// The scopes of a token created without any.
pub fn default_scopes() -> Vec<String> {
    vec![
        SCOPE_INCIDENTS_READ.to_owned(),
        SCOPE_INCIDENTS_WRITE.to_owned(),
    ]
}

/// Creates a token for `user`. Returns the secret (shown once, never stored)
/// and the stored token. Scopes beyond the account's rights (`admin`,
/// `incidents:read_private` for non-staff) are refused.
pub async fn issue_api_token(
    state: &AppState,
    user: UserId,
    name: &str,
    scopes: &[String],
    expires_at: Option<DateTime<Utc>>,
) -> Result<(String, ApiToken)> {
    let owner = state.app.store().user(user).await?.ok_or_else(|| {
        Error::invalid(
            "user",
            "does_not_exist",
            format!("user {user} does not exist"),
        )
    })?;
    let mut problems = Vec::new();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        problems.push(Problem::field(
            "name",
            "invalid",
            "a token name has 1 to 100 characters",
        ));
    }
    if !owner.is_active {
        problems.push(Problem::field(
            "user",
            "invalid",
            format!("{} is deactivated", owner.email),
        ));
    }
    let allowed = account_scopes(&owner);
    let mut granted: Vec<String> = Vec::new();
    for scope in scopes {
        let scope = scope.trim();
        if !SCOPES.contains(&scope) {
            problems.push(Problem::field(
                "scopes",
                "invalid",
                format!("unknown scope \"{scope}\" (known: {})", SCOPES.join(", ")),
            ));
        } else if !allowed.iter().any(|a| a == scope) {
            problems.push(Problem::field(
                "scopes",
                "invalid",
                format!("{} may not hold the \"{scope}\" scope", owner.email),
            ));
        } else if !granted.iter().any(|g| g == scope) {
            granted.push(scope.to_owned());
        }
    }
    if scopes.is_empty() {
        granted = default_scopes();
    }
    let now = firefighter_core::store::now();
    if expires_at.is_some_and(|e| e <= now) {
        problems.push(Problem::field(
            "expires_at",
            "invalid",
            "the expiry must be in the future",
        ));
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    // 20 random bytes: 40 hex characters, like the original's DRF tokens.
    let secret = random_hex(20);
    let token = ApiToken {
        id: ApiTokenId::new(),
        user_id: owner.id,
        name: name.to_owned(),
        prefix: secret[..8].to_owned(),
        scopes: granted,
        created_at: now,
        last_used_at: None,
        expires_at: expires_at.map(firefighter_core::store::truncate_micros),
        revoked_at: None,
    };
    state
        .app
        .store()
        .create_api_token(&token, &sha256_hex(&secret))
        .await?;
    tracing::info!(token = %token.id, user = %owner.email, scopes = ?token.scopes, "API token created");
    Ok((secret, token))
}

/// Tokens of one user, or of everyone (`None`), newest first.
pub async fn list_api_tokens(state: &AppState, user: Option<UserId>) -> Result<Vec<ApiToken>> {
    Ok(state.app.store().api_tokens(user).await?)
}

/// Revokes a token; `Ok(false)` if it was already revoked.
pub async fn revoke_api_token(state: &AppState, id: ApiTokenId) -> Result<bool> {
    let revoked = state
        .app
        .store()
        .revoke_api_token(id, firefighter_core::store::now())
        .await?;
    if revoked {
        tracing::info!(token = %id, "API token revoked");
    }
    Ok(revoked)
}
