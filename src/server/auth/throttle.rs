//! Login attempts per account: a burst, then one more a minute, so a
//! password cannot be guessed by trying many. Counted in memory by each
//! instance; an attempt that is refused here never reaches the password check.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Attempts allowed at once for one account.
const BURST: u32 = 10;
/// Accounts remembered before the ones back to a full burst are forgotten.
const REMEMBERED: usize = 10_000;

#[derive(Debug)]
pub(crate) struct LoginThrottle {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        let burst = NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(NonZeroU32::MIN).allow_burst(burst);
        LoginThrottle {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }
}

impl LoginThrottle {
    /// Takes one attempt for `email`; `Err` says how long to wait.
    pub(crate) fn attempt(&self, email: &str) -> Result<(), Duration> {
        if self.limiter.len() > REMEMBERED {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&email.trim().to_lowercase())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_gets_a_burst_then_waits_and_others_are_not_affected() {
        let throttle = LoginThrottle::default();
        for _ in 0..BURST {
            assert!(throttle.attempt("jane@example.com").is_ok());
        }
        let wait = throttle.attempt(" Jane@Example.com ").unwrap_err();
        assert!(
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(throttle.attempt("john@example.com").is_ok());
    }
}
