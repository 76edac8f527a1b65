//! Slack request signing (`v0`): HMAC-SHA256 of `v0:<timestamp>:<raw body>`
//! with the signing secret, compared in constant time, and a 5-minute window
//! against replays.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Requests older (or further in the future) than this are refused.
pub(crate) const MAX_AGE_SECS: i64 = 300;

/// Why a request's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SignatureError {
    /// A header is missing.
    #[error("the X-Slack-Signature or X-Slack-Request-Timestamp header is missing")]
    Missing,
    /// The timestamp is not a number.
    #[error("the request timestamp is not a number")]
    Malformed,
    /// The timestamp is outside the 5-minute window.
    #[error("the request is too old (or from the future)")]
    Stale,
    /// The signature does not match.
    #[error("the signature does not match")]
    Mismatch,
}

/// Verifies inbound requests.
#[derive(Debug, Clone)]
pub(crate) struct SignatureVerifier {
    secret: SecretString,
}

impl SignatureVerifier {
    /// A verifier for the app's signing secret.
    pub(crate) fn new(secret: SecretString) -> SignatureVerifier {
        SignatureVerifier { secret }
    }

    /// Checks a request received at `now` (Unix seconds) against its headers.
    pub(crate) fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(SignatureError::Missing);
        };
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::Malformed)?;
        if (now - ts).abs() > MAX_AGE_SECS {
            return Err(SignatureError::Stale);
        }
        let expected = sign(self.secret.expose_secret(), timestamp.trim(), body);
        let given = signature.trim().as_bytes();
        if expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given)) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// The `X-Slack-Signature` of `body` sent at `timestamp` (also used by tests and fakes).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example ("Verifying requests from Slack"), see
    // shared/contract-mocks/vectors.md.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn verifier() -> SignatureVerifier {
        SignatureVerifier::new(SecretString::from(SECRET))
    }

    #[test]
    fn slacks_documented_example_verifies() {
        assert_eq!(BODY.len(), 362);
        assert_eq!(sign(SECRET, TIMESTAMP, BODY.as_bytes()), SIGNATURE);
        let now: i64 = TIMESTAMP.parse().unwrap();
        assert_eq!(
            verifier().verify(Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), now + 10),
            Ok(())
        );
    }

    #[test]
    fn the_example_is_refused_against_a_real_clock() {
        let now = chrono::Utc::now().timestamp();
        assert_eq!(
            verifier().verify(Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), now),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn tampering_and_missing_parts_are_refused() {
        let now: i64 = TIMESTAMP.parse().unwrap();
        let v = verifier();
        let tampered = format!("{BODY}------");
        assert_eq!(
            v.verify(Some(TIMESTAMP), Some(SIGNATURE), tampered.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.verify(None, Some(SIGNATURE), BODY.as_bytes(), now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            v.verify(Some(TIMESTAMP), None, BODY.as_bytes(), now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            v.verify(Some(TIMESTAMP), Some(SIGNATURE), b"", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.verify(Some("yesterday"), Some(SIGNATURE), BODY.as_bytes(), now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            v.verify(Some(TIMESTAMP), Some("v0=00"), BODY.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
        let other = SignatureVerifier::new(SecretString::from("another secret"));
        assert_eq!(
            other.verify(Some(TIMESTAMP), Some(SIGNATURE), BODY.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.verify(
                Some(TIMESTAMP),
                Some(SIGNATURE),
                BODY.as_bytes(),
                now + MAX_AGE_SECS + 1
            ),
            Err(SignatureError::Stale)
        );
    }
}
