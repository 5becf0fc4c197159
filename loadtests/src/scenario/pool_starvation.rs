//! The `pool-starvation` scenario, seed 001's mechanism: seed 000's traffic while 100 plugin
//! threads share a plugin pool of 30 connections, each payment call holding its connection for
//! a 3 s simulated gateway latency, with a 5 s connection timeout. 100 calls in flight then
//! queue for 30 connections: the later ones wait about 70 × 3 s / 30 = 7 s > 5 s and fail with
//! the pool's "could not obtain a database connection within 5.000 seconds", a 400 with code
//! 7199, as in seed 001. The same run with a plugin pool of 100 is the baseline the collapse is
//! measured against; with `--spawn` both run, each on its own server.

pub use super::payments::iteration;

/// What both configurations share: seed 001's threads and timeout and the gateway latency.
const COMMON_ENV: &[(&str, &str)] = &[
    ("KB_org_killbill_payment_plugin_threads_nb", "100"),
    ("KB_org_killbill_billing_osgi_dao_connectionTimeout", "5s"),
    ("KB_org_killbill_dao_maxActive", "140"),
    ("FERROBILL_GATEWAY_LATENCY", "3s"),
];

/// (label, plugin pool size): the starved pool of seed 001, then seed 000's.
pub const POOLS: &[(&str, &str)] = &[("plugin pool 30", "30"), ("plugin pool 100", "100")];

pub fn server_env(pool: &str) -> Vec<(String, String)> {
    COMMON_ENV
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .chain([(
            "KB_org_killbill_billing_osgi_dao_maxActive".to_string(),
            pool.to_string(),
        )])
        .collect()
}
