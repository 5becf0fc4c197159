//! Rate limiting of failed authentications per client address: after
//! `ferrobill.security.authFailures.max` failed Basic-auth or tenant-secret checks within
//! `ferrobill.security.authFailures.window`, the address is refused with 429 until the window
//! that counted them passes, so passwords and tenant secrets cannot be guessed at line rate.
//!
//! It only counts failures and never slows a client that authenticates: a success neither
//! counts nor is refused unless its address is already blocked. The address is the TCP peer;
//! `X-Forwarded-For`, which any client can forge, is believed only from the proxies listed in
//! `ferrobill.security.trustedProxies`. Memory is bounded: at most `maxAddresses` entries, the
//! stalest dropped first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed authentications per client address.
pub struct AuthFailures {
    max: u32,
    window: Duration,
    max_addresses: usize,
    trusted_proxies: Vec<IpAddr>,
    addresses: Mutex<HashMap<IpAddr, Window>>,
}

/// The failures of one address since `started`.
struct Window {
    started: Instant,
    failures: u32,
}

impl AuthFailures {
    pub fn new(
        max: u32,
        window: Duration,
        max_addresses: usize,
        trusted_proxies: Vec<IpAddr>,
    ) -> AuthFailures {
        AuthFailures {
            max,
            window,
            max_addresses: max_addresses.max(1),
            trusted_proxies,
            addresses: Mutex::new(HashMap::new()),
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

    /// `Some(wait)` when `address` has used up its failures in the current window.
    pub fn blocked(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let addresses = self.lock();
        let window = addresses.get(&address)?;
        let elapsed = now.saturating_duration_since(window.started);
        (window.failures >= self.max && elapsed < self.window).then(|| self.window - elapsed)
    }

    /// Counts one failed authentication from `address`.
    pub fn record(&self, address: IpAddr, now: Instant) {
        let mut addresses = self.lock();
        if !addresses.contains_key(&address) && addresses.len() >= self.max_addresses {
            // Expired windows go first; if none has, the stalest one makes room. Linear, but
            // only when the table is full, which needs that many distinct failing addresses.
            let window = self.window;
            addresses.retain(|_, entry| now.saturating_duration_since(entry.started) < window);
            if addresses.len() >= self.max_addresses {
                let stalest = addresses
                    .iter()
                    .min_by_key(|(_, entry)| entry.started)
                    .map(|(address, _)| *address);
                if let Some(stalest) = stalest {
                    addresses.remove(&stalest);
                }
            }
        }
        let entry = addresses.entry(address).or_insert(Window {
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Window>> {
        self.addresses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn blocks_after_max_failures_until_the_window_passes() {
        let limiter = AuthFailures::new(3, Duration::from_secs(60), 100, Vec::new());
        let start = Instant::now();
        for _ in 0..2 {
            limiter.record(ip(1), start);
        }
        assert_eq!(limiter.blocked(ip(1), start), None);
        limiter.record(ip(1), start);
        let later = start + Duration::from_secs(20);
        assert_eq!(limiter.blocked(ip(1), later), Some(Duration::from_secs(40)));
        assert_eq!(
            limiter.blocked(ip(2), later),
            None,
            "other addresses are free"
        );
        assert_eq!(
            limiter.blocked(ip(1), start + Duration::from_secs(60)),
            None
        );
        // A failure after the window starts a new one.
        limiter.record(ip(1), start + Duration::from_secs(61));
        assert_eq!(
            limiter.blocked(ip(1), start + Duration::from_secs(61)),
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
        limiter.record(ip(1), start);
        limiter.record(ip(2), start + Duration::from_secs(1));
        limiter.record(ip(3), start + Duration::from_secs(2));
        assert_eq!(limiter.lock().len(), 2);
        assert_eq!(
            limiter.blocked(ip(1), start + Duration::from_secs(3)),
            None,
            "the stalest address made room"
        );
        assert!(limiter
            .blocked(ip(3), start + Duration::from_secs(3))
            .is_some());
    }
}
