//! Rate limiting of failed authentications per client address and principal (the Basic-auth
//! user name, or the tenant's API key): after `ferrobill.security.authFailures.max` failures
//! within `ferrobill.security.authFailures.window`, that pair is blocked until the window that
//! counted them passes, so passwords and tenant secrets cannot be guessed at line rate.
//!
//! A block concerns one principal from one address: a client guessing one user's password
//! blocks neither the other users behind the same proxy or NAT, nor that user elsewhere. While
//! a pair is blocked, the caller (`auth.rs`) still serves credentials it verified before and
//! refuses any others with 429 without checking them, so a right password is never refused
//! once known and a guess is never answered. The address is the TCP peer; `X-Forwarded-For`,
//! which any client can forge, is believed only from the proxies listed in
//! `ferrobill.security.trustedProxies`. Memory is bounded: at most `maxAddresses` pairs, the
//! stalest dropped first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Who a failed authentication claimed to be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A Basic-auth user name.
    User(String),
    /// A tenant's `X-Killbill-ApiKey`.
    ApiKey(String),
}

/// Failed authentications per client address and principal.
pub struct AuthFailures {
    max: u32,
    window: Duration,
    max_pairs: usize,
    trusted_proxies: Vec<IpAddr>,
    pairs: Mutex<HashMap<(IpAddr, Principal), Window>>,
}

/// The failures of one pair since `started`.
struct Window {
    started: Instant,
    failures: u32,
}

impl AuthFailures {
    pub fn new(
        max: u32,
        window: Duration,
        max_pairs: usize,
        trusted_proxies: Vec<IpAddr>,
    ) -> AuthFailures {
        AuthFailures {
            max,
            window,
            max_pairs: max_pairs.max(1),
            trusted_proxies,
            pairs: Mutex::new(HashMap::new()),
        }
    }

    /// The client a request comes from: the TCP peer, unless the peer is a trusted proxy, in
    /// which case the rightmost `X-Forwarded-For` entry that is not itself a trusted proxy
    /// (entries to its left were written by the client and prove nothing).
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let Some(forwarded_for) = forwarded_for else {
            return peer;
        };
        for entry in forwarded_for.rsplit(',') {
            match entry.trim().parse::<IpAddr>() {
                Ok(address) if self.trusted_proxies.contains(&address) => continue,
                Ok(address) => return address,
                // An unreadable hop: the chain cannot be followed further.
                Err(_) => return peer,
            }
        }
        peer
    }

    /// `Some(wait)` when `principal` has used up its failures from `address` in the current
    /// window.
    pub fn blocked(
        &self,
        address: IpAddr,
        principal: &Principal,
        now: Instant,
    ) -> Option<Duration> {
        let pairs = self.pairs.lock();
        let window = pairs.get(&(address, principal.clone()))?;
        let elapsed = now.saturating_duration_since(window.started);
        (window.failures >= self.max && elapsed < self.window).then(|| self.window - elapsed)
    }

    /// Counts one failed authentication of `principal` from `address`.
    pub fn record(&self, address: IpAddr, principal: Principal, now: Instant) {
        let mut pairs = self.pairs.lock();
        let pair = (address, principal);
        if !pairs.contains_key(&pair) && pairs.len() >= self.max_pairs {
            // Expired windows go first; if none has, the stalest one makes room. Linear, but
            // only when the table is full, which needs that many distinct failing pairs.
            let window = self.window;
            pairs.retain(|_, entry| now.saturating_duration_since(entry.started) < window);
            if pairs.len() >= self.max_pairs {
                let stalest = pairs
                    .iter()
                    .min_by_key(|(_, entry)| entry.started)
                    .map(|(pair, _)| pair.clone());
                if let Some(stalest) = stalest {
                    pairs.remove(&stalest);
                }
            }
        }
        let entry = pairs.entry(pair).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.saturating_duration_since(entry.started) >= self.window {
            *entry = Window {
                started: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn user(name: &str) -> Principal {
        Principal::User(name.to_string())
    }

    #[test]
    fn blocks_a_principal_from_an_address_after_max_failures_until_the_window_passes() {
        let limiter = AuthFailures::new(3, Duration::from_secs(60), 100, Vec::new());
        let start = Instant::now();
        for _ in 0..2 {
            limiter.record(ip(1), user("alice"), start);
        }
        assert_eq!(limiter.blocked(ip(1), &user("alice"), start), None);
        limiter.record(ip(1), user("alice"), start);
        let later = start + Duration::from_secs(20);
        assert_eq!(
            limiter.blocked(ip(1), &user("alice"), later),
            Some(Duration::from_secs(40))
        );
        assert_eq!(
            limiter.blocked(ip(2), &user("alice"), later),
            None,
            "other addresses are free"
        );
        assert_eq!(
            limiter.blocked(ip(1), &user("bob"), later),
            None,
            "other users behind the same address are free"
        );
        assert_eq!(
            limiter.blocked(ip(1), &Principal::ApiKey("alice".into()), later),
            None,
            "an API key is not a user name"
        );
        assert_eq!(
            limiter.blocked(ip(1), &user("alice"), start + Duration::from_secs(60)),
            None
        );
        // A failure after the window starts a new one.
        limiter.record(ip(1), user("alice"), start + Duration::from_secs(61));
        assert_eq!(
            limiter.blocked(ip(1), &user("alice"), start + Duration::from_secs(61)),
            None
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy = ip(9);
        let limiter = AuthFailures::new(1, Duration::from_secs(1), 1, vec![proxy, ip(8)]);
        assert_eq!(
            limiter.client(ip(1), Some("10.0.0.2")),
            ip(1),
            "not a proxy"
        );
        assert_eq!(limiter.client(proxy, None), proxy);
        assert_eq!(limiter.client(proxy, Some("10.0.0.2")), ip(2));
        assert_eq!(
            limiter.client(proxy, Some("10.0.0.3, 10.0.0.2, 10.0.0.8")),
            ip(2),
            "the rightmost untrusted hop; the client wrote the rest"
        );
        assert_eq!(limiter.client(proxy, Some("10.0.0.2, garbage")), proxy);
        assert_eq!(limiter.client(proxy, Some("10.0.0.8")), proxy);
    }

    #[test]
    fn the_table_is_bounded() {
        let limiter = AuthFailures::new(1, Duration::from_secs(60), 2, Vec::new());
        let start = Instant::now();
        limiter.record(ip(1), user("a"), start);
        limiter.record(ip(2), user("a"), start + Duration::from_secs(1));
        limiter.record(ip(2), user("b"), start + Duration::from_secs(2));
        assert_eq!(limiter.pairs.lock().len(), 2);
        assert_eq!(
            limiter.blocked(ip(1), &user("a"), start + Duration::from_secs(3)),
            None,
            "the stalest pair made room"
        );
        assert!(limiter
            .blocked(ip(2), &user("b"), start + Duration::from_secs(3))
            .is_some());
    }
}
