//! The signature Jira puts on its webhooks (`X-Hub-Signature`).

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Why a webhook's signature is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// `RAID_JIRA_WEBHOOK_SECRET` is not set.
    NoSecret,
    /// No `X-Hub-Signature` header.
    Missing,
    /// Not `sha256=<hex>`.
    Malformed,
    /// Another algorithm than SHA-256.
    Unsupported,
    /// The signature does not match the body.
    Mismatch,
}

impl SignatureError {
    pub(super) fn explain(self) -> &'static str {
        match self {
            SignatureError::NoSecret => {
                "Jira webhooks are refused: RAID_JIRA_WEBHOOK_SECRET is not set"
            }
            SignatureError::Missing => "the X-Hub-Signature header is missing",
            SignatureError::Malformed => "the X-Hub-Signature header is not sha256=<hex digest>",
            SignatureError::Unsupported => "only sha256 signatures are accepted",
            SignatureError::Mismatch => "the signature does not match the body",
        }
    }
}

/// Checks `X-Hub-Signature` (`sha256=<hex>`, the method in any case)
/// against the HMAC-SHA256 of `body` with `secret`, in constant time.
pub fn verify_signature(
    secret: Option<&SecretString>,
    header: Option<&str>,
    body: &[u8],
) -> std::result::Result<(), SignatureError> {
    let secret = secret
        .map(ExposeSecret::expose_secret)
        .filter(|s| !s.is_empty())
        .ok_or(SignatureError::NoSecret)?;
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let (method, digest) = header.split_once('=').ok_or(SignatureError::Malformed)?;
    if !method.trim().eq_ignore_ascii_case("sha256") {
        return Err(if method.is_empty() {
            SignatureError::Malformed
        } else {
            SignatureError::Unsupported
        });
    }
    let digest = hex::decode(digest.trim()).map_err(|_| SignatureError::Malformed)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .map_err(|_| SignatureError::NoSecret)?;
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch)
}

/// The signature header value of `body` with `secret` (for tests and fakes).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_in_every_way_they_can_be_wrong() {
        let secret = SecretString::from("s3cret".to_owned());
        let body = br#"{"webhookEvent":"jira:issue_updated"}"#;
        let good = sign("s3cret", body);
        assert_eq!(verify_signature(Some(&secret), Some(&good), body), Ok(()));
        let upper = good.replacen("sha256", "SHA256", 1);
        assert_eq!(verify_signature(Some(&secret), Some(&upper), body), Ok(()));
        assert_eq!(
            verify_signature(None, Some(&good), body),
            Err(SignatureError::NoSecret)
        );
        assert_eq!(
            verify_signature(Some(&secret), None, body),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(Some(&secret), Some("sha256"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(Some(&secret), Some("sha256=zz"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(
                Some(&secret),
                Some(&good.replacen("sha256", "sha1", 1)),
                body
            ),
            Err(SignatureError::Unsupported)
        );
        assert_eq!(
            verify_signature(Some(&secret), Some(&sign("other", body)), body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(Some(&secret), Some(&good), b"{}"),
            Err(SignatureError::Mismatch)
        );
    }
}
