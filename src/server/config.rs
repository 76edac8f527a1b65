//! Settings of the HTTP server, read from the environment (FireFighter's
//! names where the original has the concept: `HTTP_BIND`, `HTTP_PORT`,
//! `FF_EXPOSE_API_DOCS`, `FF_USER_ID_HEADER`).

use std::net::IpAddr;
use std::time::Duration;

use figment::{Figment, providers::Env};
use secrecy::SecretString;
use serde::Deserialize;

use crate::Error;

/// Settings of the HTTP server.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerConfig {
    /// `HTTP_BIND`: address to listen on.
    #[serde(default = "default_bind")]
    pub http_bind: IpAddr,
    /// `HTTP_PORT`: port to listen on (0 picks a free one).
    #[serde(default = "default_port")]
    pub http_port: u16,
    /// `FF_BODY_LIMIT_BYTES`: largest accepted request body.
    #[serde(default = "default_body_limit", rename = "ff_body_limit_bytes")]
    pub body_limit_bytes: usize,
    /// `FF_REQUEST_TIMEOUT_SECS`: longest time a request may take.
    #[serde(default = "default_timeout", rename = "ff_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// `FF_SESSION_LIFETIME_SECS`: how long a login lasts (default two weeks, as Django's).
    #[serde(
        default = "default_session_lifetime",
        rename = "ff_session_lifetime_secs"
    )]
    pub session_lifetime_secs: u64,
    /// `FF_TRUSTED_PROXY_USER_HEADER`: header in which a reverse proxy that
    /// authenticated the user passes their e-mail. Honoured only when set.
    #[serde(default, rename = "ff_trusted_proxy_user_header")]
    pub trusted_proxy_user_header: Option<String>,
    /// `FF_TRUSTED_PROXY_SECRET_HEADER`: header carrying a shared secret that
    /// proves the request came through the proxy.
    #[serde(default, rename = "ff_trusted_proxy_secret_header")]
    pub trusted_proxy_secret_header: Option<String>,
    /// `FF_TRUSTED_PROXY_SECRET`: the expected value of that header.
    #[serde(default, rename = "ff_trusted_proxy_secret")]
    pub trusted_proxy_secret: Option<SecretString>,
    /// `FF_ADMIN_EMAIL`: e-mail of an administrator created (or promoted) at start.
    #[serde(default, rename = "ff_admin_email")]
    pub admin_email: Option<String>,
    /// `FF_ADMIN_PASSWORD`: their password (set only when the account has none).
    #[serde(default, rename = "ff_admin_password")]
    pub admin_password: Option<SecretString>,
    /// `FF_EXPOSE_API_DOCS`: serve the OpenAPI document at `/api/v2/firefighter/schema`.
    #[serde(
        default = "default_true",
        rename = "ff_expose_api_docs",
        deserialize_with = "firefighter_core::config::deserialize_flag"
    )]
    pub expose_api_docs: bool,
    /// `FF_USER_ID_HEADER`: response header carrying the authenticated user's id (for access logs).
    #[serde(default = "default_user_id_header", rename = "ff_user_id_header")]
    pub user_id_header: String,
    /// `FF_SHUTDOWN_GRACE_SECS`: how long in-flight requests may take to finish at shutdown.
    #[serde(default = "default_grace", rename = "ff_shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// `FF_LOGIN_BURST_PER_ACCOUNT`: login attempts one client may make on
    /// one account in a row.
    #[serde(
        default = "default_login_burst_per_account",
        rename = "ff_login_burst_per_account"
    )]
    pub login_burst_per_account: u32,
    /// `FF_LOGIN_EVERY_SECS_PER_ACCOUNT`: after the burst, one more attempt
    /// every this many seconds.
    #[serde(
        default = "default_login_every_secs_per_account",
        rename = "ff_login_every_secs_per_account"
    )]
    pub login_every_secs_per_account: u64,
    /// `FF_LOGIN_BURST_PER_CLIENT`: login attempts one client may make in a
    /// row, all accounts together.
    #[serde(
        default = "default_login_burst_per_client",
        rename = "ff_login_burst_per_client"
    )]
    pub login_burst_per_client: u32,
    /// `FF_LOGIN_EVERY_SECS_PER_CLIENT`: after that burst, one more attempt
    /// every this many seconds.
    #[serde(
        default = "default_login_every_secs_per_client",
        rename = "ff_login_every_secs_per_client"
    )]
    pub login_every_secs_per_client: u64,
}

fn default_bind() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}
fn default_port() -> u16 {
    8000
}
fn default_body_limit() -> usize {
    1024 * 1024
}
fn default_timeout() -> u64 {
    30
}
fn default_session_lifetime() -> u64 {
    14 * 24 * 3600
}
fn default_true() -> bool {
    true
}
fn default_user_id_header() -> String {
    "FF-User-Id".to_owned()
}
fn default_grace() -> u64 {
    30
}
fn default_login_burst_per_account() -> u32 {
    10
}
fn default_login_every_secs_per_account() -> u64 {
    60
}
fn default_login_burst_per_client() -> u32 {
    20
}
fn default_login_every_secs_per_client() -> u64 {
    15
}

/// Longest wait between two login attempts that can be configured (a day).
const MAX_LOGIN_EVERY_SECS: u64 = 24 * 3600;

/// The environment variables the server reads (besides core's).
pub const VARIABLES: &[&str] = &[
    "HTTP_BIND",
    "HTTP_PORT",
    "FF_BODY_LIMIT_BYTES",
    "FF_REQUEST_TIMEOUT_SECS",
    "FF_SESSION_LIFETIME_SECS",
    "FF_TRUSTED_PROXY_USER_HEADER",
    "FF_TRUSTED_PROXY_SECRET_HEADER",
    "FF_TRUSTED_PROXY_SECRET",
    "FF_ADMIN_EMAIL",
    "FF_ADMIN_PASSWORD",
    "FF_EXPOSE_API_DOCS",
    "FF_USER_ID_HEADER",
    "FF_SHUTDOWN_GRACE_SECS",
    "FF_LOGIN_BURST_PER_ACCOUNT",
    "FF_LOGIN_EVERY_SECS_PER_ACCOUNT",
    "FF_LOGIN_BURST_PER_CLIENT",
    "FF_LOGIN_EVERY_SECS_PER_CLIENT",
];

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::from_figment(Figment::new()).expect("the defaults are valid")
    }
}

impl ServerConfig {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<ServerConfig, Error> {
        ServerConfig::from_figment(Figment::new().merge(Env::raw().only(VARIABLES)))
    }

    /// Reads the settings from a figment.
    pub fn from_figment(figment: Figment) -> Result<ServerConfig, Error> {
        let config: ServerConfig = figment
            .extract()
            .map_err(|e| Error::Config(firefighter_core::config::describe_config_error(&e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), Error> {
        let header_ok = |name: &str| axum::http::HeaderName::from_bytes(name.as_bytes()).is_ok();
        for (var, value) in [
            (
                "FF_TRUSTED_PROXY_USER_HEADER",
                &self.trusted_proxy_user_header,
            ),
            (
                "FF_TRUSTED_PROXY_SECRET_HEADER",
                &self.trusted_proxy_secret_header,
            ),
        ] {
            if let Some(name) = value
                && !header_ok(name)
            {
                return Err(Error::Config(format!(
                    "{var} \"{name}\" is not a valid header name"
                )));
            }
        }
        if !header_ok(&self.user_id_header) {
            return Err(Error::Config(format!(
                "FF_USER_ID_HEADER \"{}\" is not a valid header name",
                self.user_id_header
            )));
        }
        if self.trusted_proxy_secret_header.is_some() != self.trusted_proxy_secret.is_some() {
            return Err(Error::Config(
                "FF_TRUSTED_PROXY_SECRET_HEADER and FF_TRUSTED_PROXY_SECRET go together: set both or neither".into(),
            ));
        }
        if self.trusted_proxy_secret_header.is_some() && self.trusted_proxy_user_header.is_none() {
            return Err(Error::Config(
                "FF_TRUSTED_PROXY_SECRET_HEADER needs FF_TRUSTED_PROXY_USER_HEADER".into(),
            ));
        }
        if self.admin_password.is_some() && self.admin_email.is_none() {
            return Err(Error::Config(
                "FF_ADMIN_PASSWORD needs FF_ADMIN_EMAIL".into(),
            ));
        }
        if self.body_limit_bytes < 1024 {
            return Err(Error::Config(
                "FF_BODY_LIMIT_BYTES must be at least 1024".into(),
            ));
        }
        if self.request_timeout_secs == 0 || self.session_lifetime_secs < 60 {
            return Err(Error::Config(
                "FF_REQUEST_TIMEOUT_SECS must be at least 1 and FF_SESSION_LIFETIME_SECS at least 60".into(),
            ));
        }
        for (var, burst) in [
            ("FF_LOGIN_BURST_PER_ACCOUNT", self.login_burst_per_account),
            ("FF_LOGIN_BURST_PER_CLIENT", self.login_burst_per_client),
        ] {
            if burst == 0 {
                return Err(Error::Config(format!("{var} must be at least 1 (it is 0)")));
            }
        }
        for (var, secs) in [
            (
                "FF_LOGIN_EVERY_SECS_PER_ACCOUNT",
                self.login_every_secs_per_account,
            ),
            (
                "FF_LOGIN_EVERY_SECS_PER_CLIENT",
                self.login_every_secs_per_client,
            ),
        ] {
            if !(1..=MAX_LOGIN_EVERY_SECS).contains(&secs) {
                return Err(Error::Config(format!(
                    "{var} must be between 1 and {MAX_LOGIN_EVERY_SECS} seconds (it is {secs})"
                )));
            }
        }
        Ok(())
    }

    /// Request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// Session lifetime.
    pub fn session_lifetime(&self) -> Duration {
        Duration::from_secs(self.session_lifetime_secs)
    }
}

#[cfg(test)]
mod tests {
    use figment::providers::Serialized;

    use super::*;

    #[test]
    fn defaults_match_the_original() {
        let c = ServerConfig::default();
        assert_eq!(c.http_bind.to_string(), "127.0.0.1");
        assert_eq!(c.http_port, 8000);
        assert_eq!(c.user_id_header, "FF-User-Id");
        assert!(c.trusted_proxy_user_header.is_none());
    }

    #[test]
    fn login_limits_out_of_range_or_unreadable_are_refused_by_name() {
        fn with(name: &str, value: impl serde::Serialize) -> Result<ServerConfig, Error> {
            ServerConfig::from_figment(
                Figment::new().merge(Serialized::default(&name.to_ascii_lowercase(), value)),
            )
        }
        let err = with("FF_LOGIN_BURST_PER_CLIENT", 0).unwrap_err();
        assert!(
            err.to_string()
                .contains("FF_LOGIN_BURST_PER_CLIENT must be at least 1"),
            "{err}"
        );
        let err = with("FF_LOGIN_EVERY_SECS_PER_ACCOUNT", 0).unwrap_err();
        assert!(
            err.to_string()
                .contains("FF_LOGIN_EVERY_SECS_PER_ACCOUNT must be between 1"),
            "{err}"
        );
        let err = with("FF_LOGIN_BURST_PER_ACCOUNT", "ten").unwrap_err();
        assert!(
            err.to_string()
                .to_ascii_lowercase()
                .contains("ff_login_burst_per_account"),
            "{err}"
        );
        let c = with("FF_LOGIN_BURST_PER_ACCOUNT", 3).unwrap();
        assert_eq!(c.login_burst_per_account, 3);
        assert_eq!(ServerConfig::default().login_burst_per_client, 20);
    }

    #[test]
    fn half_configured_proxy_secret_is_refused() {
        let err = ServerConfig::from_figment(Figment::new().merge(Serialized::default(
            "ff_trusted_proxy_secret_header",
            "X-Proxy-Secret",
        )))
        .unwrap_err();
        assert!(err.to_string().contains("FF_TRUSTED_PROXY_SECRET"), "{err}");
    }
}
