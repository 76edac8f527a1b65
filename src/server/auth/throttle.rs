//! Login attempts, counted per client and account and per client: a burst,
//! then one more now and then (`FF_LOGIN_*`). Someone guessing one password
//! is slowed down without locking its owner out from elsewhere, and one
//! client cannot try a password on many accounts. Counted in memory by each
//! instance; an attempt refused here never reaches the password check, and
//! whether the account exists plays no part (no enumeration by timing).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::server::{AppState, ServerConfig};

/// Entries remembered before those back to a full burst are forgotten.
const REMEMBERED: usize = 10_000;
/// Characters of the typed e-mail that count (longer is no address anyway).
const EMAIL_CHARS: usize = 320;

/// Where an attempt comes from: the client's address (IPv6 by /64 network,
/// what one subscriber usually gets), `None` when the server is mounted
/// without connection info.
pub(crate) type Client = Option<IpAddr>;

type Keyed<K, C> = RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Why an attempt was refused, and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Too many attempts from this client on this account.
    Account(Duration),
    /// Too many attempts from this client.
    Client(Duration),
}

#[derive(Debug)]
pub(crate) struct LoginThrottle<C: Clock = DefaultClock> {
    per_account: Keyed<(Client, String), C>,
    per_client: Keyed<IpAddr, C>,
    clock: C,
    /// Entries above which stale ones are forgotten.
    clean_above: AtomicUsize,
}

fn quota(burst: u32, every_secs: u64) -> Quota {
    let period = Duration::from_secs(every_secs.max(1));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

impl LoginThrottle {
    /// The limits of `FF_LOGIN_*`.
    pub(crate) fn new(config: &ServerConfig) -> LoginThrottle {
        LoginThrottle::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> LoginThrottle<C> {
    fn with_clock(config: &ServerConfig, clock: C) -> LoginThrottle<C> {
        LoginThrottle {
            per_account: RateLimiter::dashmap_with_clock(
                quota(
                    config.login_burst_per_account,
                    config.login_every_secs_per_account,
                ),
                clock.clone(),
            ),
            per_client: RateLimiter::dashmap_with_clock(
                quota(
                    config.login_burst_per_client,
                    config.login_every_secs_per_client,
                ),
                clock.clone(),
            ),
            clock,
            clean_above: AtomicUsize::new(REMEMBERED),
        }
    }

    /// Takes one attempt of `client` on `email`.
    pub(crate) fn attempt(&self, client: Client, email: &str) -> Result<(), Refusal> {
        self.forget_stale();
        let email: String = email
            .trim()
            .to_lowercase()
            .chars()
            .take(EMAIL_CHARS)
            .collect();
        // Refused for the account, the attempt does not count for the client.
        self.per_account
            .check_key(&(client, email))
            .map_err(|not_until| Refusal::Account(not_until.wait_time_from(self.clock.now())))?;
        if let Some(ip) = client {
            self.per_client
                .check_key(&ip)
                .map_err(|not_until| Refusal::Client(not_until.wait_time_from(self.clock.now())))?;
        }
        Ok(())
    }

    fn remembered(&self) -> usize {
        self.per_account.len() + self.per_client.len()
    }

    /// Forgets the entries back to a full burst once there are many; the
    /// next sweep waits until the entries still in use have doubled, so
    /// sweeps stay rare however many clients try.
    fn forget_stale(&self) {
        if self.remembered() <= self.clean_above.load(Ordering::Relaxed) {
            return;
        }
        self.per_account.retain_recent();
        self.per_client.retain_recent();
        self.per_account.shrink_to_fit();
        self.per_client.shrink_to_fit();
        self.clean_above
            .store((self.remembered() * 2).max(REMEMBERED), Ordering::Relaxed);
    }
}

/// The client of a request, as the login throttle counts it: the address
/// that connected, or, for requests that came through the trusted proxy
/// (`FF_TRUSTED_PROXY_*`), the last address of its `X-Forwarded-For`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddress(pub(crate) Client);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let connected = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = if super::middleware::through_trusted_proxy(&state.config, &parts.headers) {
            last_forwarded(&parts.headers)
        } else {
            None
        };
        Ok(ClientAddress(forwarded.or(connected).map(network)))
    }
}

/// The address the proxy nearest to us saw: the last of `X-Forwarded-For`
/// (the ones before it are whatever the client claimed).
fn last_forwarded(headers: &axum::http::HeaderMap) -> Option<IpAddr> {
    let last = headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim();
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// IPv4 addresses as they are; IPv6 ones by their /64 network.
fn network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn throttle() -> (LoginThrottle<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (
            LoginThrottle::with_clock(&ServerConfig::default(), clock.clone()),
            clock,
        )
    }

    fn ip(n: u32) -> Client {
        Some(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)))
    }

    #[test]
    fn a_client_gets_a_burst_per_account_then_waits_and_others_are_not_affected() {
        let (throttle, _) = throttle();
        for _ in 0..10 {
            assert!(throttle.attempt(ip(1), "jane@example.com").is_ok());
        }
        let Err(Refusal::Account(wait)) = throttle.attempt(ip(1), " Jane@Example.com ") else {
            panic!("the 11th attempt is refused for the account");
        };
        assert!(
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        // The owner elsewhere, and the same client on another account.
        assert!(throttle.attempt(ip(2), "jane@example.com").is_ok());
        assert!(throttle.attempt(ip(1), "john@example.com").is_ok());
    }

    #[test]
    fn a_client_trying_many_accounts_gets_a_burst_then_waits() {
        let (throttle, clock) = throttle();
        for n in 0..20 {
            assert!(
                throttle
                    .attempt(ip(1), &format!("user{n}@example.com"))
                    .is_ok()
            );
        }
        let Err(Refusal::Client(wait)) = throttle.attempt(ip(1), "user20@example.com") else {
            panic!("the 21st attempt of one client is refused");
        };
        assert!(wait <= Duration::from_secs(15), "{wait:?}");
        assert!(throttle.attempt(ip(2), "user20@example.com").is_ok());
        clock.advance(Duration::from_secs(15));
        assert!(throttle.attempt(ip(1), "user20@example.com").is_ok());
    }

    #[test]
    fn ipv6_clients_count_by_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(network(a), network(b));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(network(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "10.1.1.1, 192.0.2.9".parse().unwrap());
        assert_eq!(last_forwarded(&headers), Some("192.0.2.9".parse().unwrap()));
    }

    #[test]
    fn clients_back_to_a_full_burst_are_forgotten() {
        let (throttle, clock) = throttle();
        let (early, late) = (6_000, 5_000);
        for n in 0..early {
            assert!(throttle.attempt(ip(n), "jane@example.com").is_ok());
        }
        // One entry per client and one per client and account.
        assert_eq!(throttle.remembered(), 2 * early as usize);
        // Long enough for every early client to be back to a full burst.
        clock.advance(Duration::from_secs(10 * 60));
        for n in early..early + late {
            assert!(throttle.attempt(ip(n), "jane@example.com").is_ok());
        }
        // The early ones were forgotten on the way; the late ones are kept...
        assert_eq!(throttle.remembered(), 2 * late as usize);
        // ...and still counted.
        let last = ip(early + late - 1);
        for _ in 0..9 {
            assert!(throttle.attempt(last, "jane@example.com").is_ok());
        }
        assert!(throttle.attempt(last, "jane@example.com").is_err());
    }
}
