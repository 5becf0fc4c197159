//! Per-second windows for the live dashboard (`crate::dashboard`): what happened since its
//! sampler last looked. Each server owns its windows (in its HTTP layer, pools, buses and
//! plugin executor), so servers sharing a process never read each other's traffic, unlike the
//! process-wide recorder; and the one sampler of a server is their only reader, so reading a
//! window also resets it.
//!
//! Recording costs an atomic add or one short lock around a histogram update. This file only
//! counts: it never does I/O and never decides anything.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// One hour in microseconds: anything slower is clamped, and has long failed anyway.
const HIGHEST_MICROS: u64 = 3_600_000_000;
/// Two significant digits: percentiles within 1 %, and a histogram of a few kilobytes.
const SIGNIFICANT_DIGITS: u8 = 2;

/// Durations recorded since the last [`LatencyWindow::take`].
pub struct LatencyWindow(Mutex<Histogram<u32>>);

/// What a [`LatencyWindow`] held: how many durations, and their percentiles in milliseconds
/// (0 when there were none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latencies {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Default for LatencyWindow {
    fn default() -> Self {
        LatencyWindow(Mutex::new(
            Histogram::new_with_bounds(1, HIGHEST_MICROS, SIGNIFICANT_DIGITS)
                .expect("constant histogram bounds are valid"),
        ))
    }
}

impl LatencyWindow {
    pub fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.0.lock().saturating_record(micros.max(1));
    }

    /// The durations recorded since the last take; the window starts empty again.
    pub fn take(&self) -> Latencies {
        let mut histogram = self.0.lock();
        let ms = |micros: u64| micros as f64 / 1000.0;
        let latencies = if histogram.is_empty() {
            Latencies::default()
        } else {
            Latencies {
                count: histogram.len(),
                p50_ms: ms(histogram.value_at_quantile(0.5)),
                p95_ms: ms(histogram.value_at_quantile(0.95)),
                p99_ms: ms(histogram.value_at_quantile(0.99)),
                max_ms: ms(histogram.max()),
            }
        };
        histogram.reset();
        latencies
    }
}

/// Events counted since the last take.
#[derive(Default)]
pub struct Tally(AtomicU64);

impl Tally {
    pub fn add(&self, events: u64) {
        self.0.fetch_add(events, Ordering::Relaxed);
    }

    pub fn take(&self) -> u64 {
        self.0.swap(0, Ordering::Relaxed)
    }
}

/// The longest duration recorded since the last take.
#[derive(Default)]
pub struct Peak(AtomicU64);

impl Peak {
    pub fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.0.fetch_max(micros, Ordering::Relaxed);
    }

    pub fn take(&self) -> Duration {
        Duration::from_micros(self.0.swap(0, Ordering::Relaxed))
    }
}

/// The dashboard's route groups, told apart by the route template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RouteGroup {
    Accounts,
    PaymentMethods,
    Payments,
    Tenants,
    /// Health, metrics, threads, Swagger and the dashboard itself.
    Ops,
    /// Tag definitions, admin, and paths no route matched.
    Other,
}

impl RouteGroup {
    pub const ALL: [RouteGroup; 6] = [
        RouteGroup::Accounts,
        RouteGroup::PaymentMethods,
        RouteGroup::Payments,
        RouteGroup::Tenants,
        RouteGroup::Ops,
        RouteGroup::Other,
    ];

    /// The group of a route template (`/1.0/kb/accounts/{accountId}/payments` is a payment
    /// route); `None`, no route matched, is `Other`.
    pub fn of(route: Option<&str>) -> RouteGroup {
        let Some(route) = route else {
            return RouteGroup::Other;
        };
        if !route.starts_with("/1.0/kb") {
            RouteGroup::Ops
        } else if route.contains("/paymentMethods") {
            RouteGroup::PaymentMethods
        } else if route.contains("/payments") {
            RouteGroup::Payments
        } else if route.starts_with("/1.0/kb/accounts") {
            RouteGroup::Accounts
        } else if route.starts_with("/1.0/kb/tenants") {
            RouteGroup::Tenants
        } else {
            RouteGroup::Other
        }
    }

    /// The name in figures and JSON.
    pub fn name(self) -> &'static str {
        match self {
            RouteGroup::Accounts => "accounts",
            RouteGroup::PaymentMethods => "paymentMethods",
            RouteGroup::Payments => "payments",
            RouteGroup::Tenants => "tenants",
            RouteGroup::Ops => "ops",
            RouteGroup::Other => "other",
        }
    }
}

/// How a response ended, for the dashboard: the two kinds of 503 and the 429s are what
/// saturation looks like from outside, so they have classes of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StatusClass {
    /// 1xx to 3xx (ferrobill sends 2xx only).
    #[serde(rename = "2xx")]
    Success,
    /// 4xx other than 429, including 499 (the client went away).
    #[serde(rename = "4xx")]
    ClientError,
    /// 429: too many failed authentications from one address.
    #[serde(rename = "429")]
    TooManyRequests,
    /// 5xx other than 503.
    #[serde(rename = "5xx")]
    ServerError,
    /// 503 from admission control: no slot, or no answer within the request timeout.
    #[serde(rename = "503.admission")]
    Shed,
    /// Any other 503: a pool timeout, the database unreachable, a lock held elsewhere.
    #[serde(rename = "503.other")]
    Unavailable,
}

impl StatusClass {
    pub const ALL: [StatusClass; 6] = [
        StatusClass::Success,
        StatusClass::ClientError,
        StatusClass::TooManyRequests,
        StatusClass::ServerError,
        StatusClass::Shed,
        StatusClass::Unavailable,
    ];

    /// `shed`: admission control answered.
    pub fn of(status: u16, shed: bool) -> StatusClass {
        match status {
            503 if shed => StatusClass::Shed,
            503 => StatusClass::Unavailable,
            429 => StatusClass::TooManyRequests,
            400..=499 => StatusClass::ClientError,
            500..=599 => StatusClass::ServerError,
            _ => StatusClass::Success,
        }
    }

    /// The name in figures and JSON.
    pub fn name(self) -> &'static str {
        match self {
            StatusClass::Success => "2xx",
            StatusClass::ClientError => "4xx",
            StatusClass::TooManyRequests => "429",
            StatusClass::ServerError => "5xx",
            StatusClass::Shed => "503.admission",
            StatusClass::Unavailable => "503.other",
        }
    }
}

/// The requests one server finished since the last take: latencies over every route and per
/// route group, and responses per status class.
#[derive(Default)]
pub struct Traffic {
    all: LatencyWindow,
    groups: [LatencyWindow; RouteGroup::ALL.len()],
    statuses: [Tally; StatusClass::ALL.len()],
}

/// What a [`Traffic`] window held.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficSecond {
    pub all: Latencies,
    pub groups: BTreeMap<RouteGroup, Latencies>,
    pub statuses: BTreeMap<StatusClass, u64>,
}

impl Traffic {
    /// One finished request: its route template (`None` when no route matched), status, and
    /// whether admission control turned it away.
    pub fn record(&self, route: Option<&str>, status: u16, shed: bool, elapsed: Duration) {
        self.all.record(elapsed);
        self.groups[RouteGroup::of(route) as usize].record(elapsed);
        self.statuses[StatusClass::of(status, shed) as usize].add(1);
    }

    pub fn take(&self) -> TrafficSecond {
        TrafficSecond {
            all: self.all.take(),
            groups: RouteGroup::ALL
                .iter()
                .map(|&group| (group, self.groups[group as usize].take()))
                .collect(),
            statuses: StatusClass::ALL
                .iter()
                .map(|&class| (class, self.statuses[class as usize].take()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_into_their_groups() {
        let cases = [
            (Some("/1.0/kb/accounts"), RouteGroup::Accounts),
            (
                Some("/1.0/kb/accounts/{accountId}/tags"),
                RouteGroup::Accounts,
            ),
            (
                Some("/1.0/kb/accounts/{accountId}/paymentMethods"),
                RouteGroup::PaymentMethods,
            ),
            (
                Some("/1.0/kb/paymentMethods/{paymentMethodId}"),
                RouteGroup::PaymentMethods,
            ),
            (
                Some("/1.0/kb/accounts/{accountId}/payments"),
                RouteGroup::Payments,
            ),
            (Some("/1.0/kb/payments/{paymentId}"), RouteGroup::Payments),
            (Some("/1.0/kb/tenants"), RouteGroup::Tenants),
            (Some("/1.0/healthcheck"), RouteGroup::Ops),
            (Some("/dashboard/data"), RouteGroup::Ops),
            (Some("/1.0/kb/tagDefinitions"), RouteGroup::Other),
            (None, RouteGroup::Other),
        ];
        for (route, group) in cases {
            assert_eq!(RouteGroup::of(route), group, "{route:?}");
        }
    }

    #[test]
    fn statuses_fall_into_their_classes() {
        assert_eq!(StatusClass::of(201, false), StatusClass::Success);
        assert_eq!(StatusClass::of(499, false), StatusClass::ClientError);
        assert_eq!(StatusClass::of(429, false), StatusClass::TooManyRequests);
        assert_eq!(StatusClass::of(503, true), StatusClass::Shed);
        assert_eq!(StatusClass::of(503, false), StatusClass::Unavailable);
        assert_eq!(StatusClass::of(502, false), StatusClass::ServerError);
    }

    #[test]
    fn a_window_is_empty_again_once_taken() {
        let traffic = Traffic::default();
        for millis in 1..=100 {
            traffic.record(
                Some("/1.0/kb/accounts"),
                201,
                false,
                Duration::from_millis(millis),
            );
        }
        traffic.record(None, 503, true, Duration::from_micros(10));
        let second = traffic.take();
        assert_eq!(second.all.count, 101);
        let accounts = second.groups[&RouteGroup::Accounts];
        assert_eq!(accounts.count, 100);
        assert!((accounts.p50_ms - 50.0).abs() < 1.0, "{accounts:?}");
        assert!((accounts.max_ms - 100.0).abs() < 1.0, "{accounts:?}");
        assert_eq!(second.statuses[&StatusClass::Shed], 1);
        assert_eq!(second.statuses[&StatusClass::Success], 100);
        let again = traffic.take();
        assert_eq!(again.all, Latencies::default());
        assert!(again.statuses.values().all(|&count| count == 0));
    }

    #[test]
    fn peaks_and_tallies_reset_when_taken() {
        let peak = Peak::default();
        peak.record(Duration::from_millis(3));
        peak.record(Duration::from_millis(7));
        assert_eq!(peak.take(), Duration::from_millis(7));
        assert_eq!(peak.take(), Duration::ZERO);
        let tally = Tally::default();
        tally.add(2);
        tally.add(3);
        assert_eq!(tally.take(), 5);
        assert_eq!(tally.take(), 0);
    }
}
