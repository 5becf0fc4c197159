//! Building the typed [`Config`] from resolved settings: every row of the property table
//! parses its value and stores it through its setter, in table order, then the rules that
//! tie properties together are checked (pools that fit in the embedded PostgreSQL, gateway
//! rates adding up to at most 1, `inflight.min` within `inflight.max`, a dead-node delay of
//! at least two heartbeats) and the softer ones become warnings.
//!
//! No value is read back by name here: the setters put each value in its field, and the
//! checks read the typed fields. Names appear only to say where a value came from in an
//! error. This file reads no input of its own and never fills defaults (`layers.rs` has by
//! the time it runs).

use std::collections::HashMap;
use std::time::Duration;

use super::kinds::{Kind, TIMESPAN_LIST};
use super::layers::{invalid_value, Settings, Source};
use super::table::{
    properties, DEAD_AFTER, EXTERNAL_BUS_INFLIGHT_MAX, EXTERNAL_BUS_INFLIGHT_MIN, HEARTBEAT,
    MAIN_BUS_INFLIGHT_MAX, MAIN_BUS_INFLIGHT_MIN, MAIN_MAX_ACTIVE, TIMEOUT_RATE,
};
use super::typed::{Config, GatewayConfig, PoolConfig, QueueConfig, Rate};
use super::ConfigError;

/// Connections of the embedded cluster that the pools may not count on: PostgreSQL's reserved
/// superuser slots (3) and ferrobill's LISTEN connections (one per queue, and the cache's).
const EMBEDDED_RESERVED_CONNECTIONS: u32 = 10;

const MAIN_POOL_PREFIX: &str = "org.killbill.dao.";
const PLUGIN_POOL_PREFIX: &str = "org.killbill.billing.osgi.dao.";

/// Where each property's value came from, for the errors of the rules between properties.
struct Origins<'a>(HashMap<&'static str, &'a Source>);

impl Origins<'_> {
    /// Every row of the table has a value by the time the rules run (defaults are filled in
    /// first), so a name missing here can only have its built-in default.
    fn of(&self, name: &str) -> String {
        self.0
            .get(name)
            .map_or_else(|| Source::Default.to_string(), |source| source.to_string())
    }
}

pub(super) fn build_config(
    settings: &Settings,
    warnings: &mut Vec<String>,
) -> Result<Config, ConfigError> {
    let mut config = Config::blank();
    let mut origins = Origins(HashMap::new());
    let mut reported_last = None;
    for property in properties() {
        let Some(entry) = settings.get(property.name) else {
            continue;
        };
        match property.apply(&entry.value, &mut config) {
            Ok(shown) => config.effective.push((property.name, shown)),
            Err(expected) => {
                let error = invalid_value(
                    property.name,
                    property.quote(&entry.value),
                    &entry.source,
                    expected,
                );
                if !property.reported_last() {
                    return Err(error);
                }
                reported_last.get_or_insert(error);
            }
        }
        origins.0.insert(property.name, &entry.source);
    }
    if let Some(error) = reported_last {
        return Err(error);
    }
    check(&config, &origins, warnings)?;
    Ok(config)
}

/// The rules between properties, in a fixed order so that the same settings always give the
/// same first error and the same warnings.
fn check(
    config: &Config,
    origins: &Origins,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    warn_min_idle(&config.main_pool, MAIN_POOL_PREFIX, warnings);
    warn_min_idle(&config.plugin_pool, PLUGIN_POOL_PREFIX, warnings);
    check_embedded_budget(config, origins)?;
    check_gateway_rates(&config.gateway).map_err(|expected| ConfigError::InvalidValue {
        property: TIMEOUT_RATE,
        value: format!(
            "{:?}",
            config.gateway.timeout_rate.probability().to_string()
        ),
        origin: origins.of(TIMEOUT_RATE),
        expected,
    })?;
    if config.gateway.hang_time <= config.payment.plugin_timeout {
        warnings.push(format!(
            "ferrobill.gateway.hangTime ({:?}) is not above org.killbill.payment.plugin.timeout ({:?}): hanging gateway calls will not time out",
            config.gateway.hang_time, config.payment.plugin_timeout
        ));
    }
    check_inflight(
        &config.main_bus,
        MAIN_BUS_INFLIGHT_MIN,
        MAIN_BUS_INFLIGHT_MAX,
        origins,
    )?;
    check_inflight(
        &config.external_bus,
        EXTERNAL_BUS_INFLIGHT_MIN,
        EXTERNAL_BUS_INFLIGHT_MAX,
        origins,
    )?;
    check_cluster(config, origins)
}

fn warn_min_idle(pool: &PoolConfig, prefix: &str, warnings: &mut Vec<String>) {
    if pool.min_idle > pool.max_active {
        warnings.push(format!(
            "{prefix}minIdle ({}) is above {prefix}maxActive ({}); the pool keeps at most {} idle",
            pool.min_idle, pool.max_active, pool.max_active
        ));
    }
}

fn check_embedded_budget(config: &Config, origins: &Origins) -> Result<(), ConfigError> {
    let (main_pool, plugin_pool, embedded) =
        (&config.main_pool, &config.plugin_pool, &config.embedded);
    if main_pool.url.is_some() {
        return Ok(());
    }
    let plugin_share = if plugin_pool.url.is_none() {
        plugin_pool.max_active
    } else {
        0
    };
    // The cluster's own background sessions and the queues' LISTEN connections need a few of
    // its connections too.
    let available = embedded
        .max_connections
        .saturating_sub(EMBEDDED_RESERVED_CONNECTIONS);
    let needed = main_pool.max_active.saturating_add(plugin_share);
    if needed > available {
        return Err(ConfigError::InvalidValue {
            property: MAIN_MAX_ACTIVE,
            value: format!("{:?}", main_pool.max_active.to_string()),
            origin: origins.of(MAIN_MAX_ACTIVE),
            expected: format!(
                "pools that fit in the embedded PostgreSQL: {needed} connections (main \
                 {} + plugin {plugin_share}) but ferrobill.embedded.maxConnections={} \
                 leaves {available}",
                main_pool.max_active, embedded.max_connections
            ),
        });
    }
    Ok(())
}

/// One draw picks at most one failure per call, so the shares cannot exceed the whole.
fn check_gateway_rates(gateway: &GatewayConfig) -> Result<(), String> {
    let total: u64 = [
        gateway.decline_rate,
        gateway.error_rate,
        gateway.timeout_rate,
    ]
    .iter()
    .map(|rate| u64::from(rate.0))
    .sum();
    if total > u64::from(Rate::ONE) {
        return Err(
            "ferrobill.gateway.declineRate, errorRate and timeoutRate adding up to at most 1"
                .to_owned(),
        );
    }
    Ok(())
}

/// The dispatcher waits for inflight.min entries but takes at most inflight.max: with min
/// above max it could never be satisfied.
fn check_inflight(
    bus: &QueueConfig,
    min_name: &'static str,
    max_name: &'static str,
    origins: &Origins,
) -> Result<(), ConfigError> {
    if bus.inflight_min > bus.inflight_max {
        return Err(ConfigError::InvalidValue {
            property: min_name,
            value: format!("{:?}", bus.inflight_min.to_string()),
            origin: origins.of(min_name),
            expected: format!(
                "no more than {max_name} ({}, from {})",
                bus.inflight_max,
                origins.of(max_name)
            ),
        });
    }
    Ok(())
}

/// A node must be able to miss one heartbeat (a slow write, a pause) without being taken
/// over while it still works.
fn check_cluster(config: &Config, origins: &Origins) -> Result<(), ConfigError> {
    let cluster = &config.cluster;
    if cluster.dead_after < cluster.heartbeat * 2 {
        return Err(ConfigError::InvalidValue {
            property: DEAD_AFTER,
            value: format!("\"{}ms\"", cluster.dead_after.as_millis()),
            origin: origins.of(DEAD_AFTER),
            expected: format!(
                "at least twice ferrobill.cluster.heartbeat ({:?}, from {})",
                cluster.heartbeat,
                origins.of(HEARTBEAT)
            ),
        });
    }
    Ok(())
}

/// The `ferrobill.gateway.*` settings a tenant's plugin configuration may override.
const GATEWAY_OVERRIDES: [&str; 5] = [
    "ferrobill.gateway.latency",
    "ferrobill.gateway.declineRate",
    "ferrobill.gateway.errorRate",
    TIMEOUT_RATE,
    "ferrobill.gateway.hangTime",
];

/// `base` with the `ferrobill.gateway.*` settings of a tenant's plugin configuration applied
/// (latency, the three rates, hangTime; other names are ignored), each read as in a properties
/// file, through the same table rows. The error says which setting is wrong and what was
/// expected.
pub fn gateway_with_overrides(
    base: &GatewayConfig,
    settings: &[(&str, &str)],
) -> Result<GatewayConfig, String> {
    // The rows' setters write into a whole configuration; only its gateway is kept.
    let mut scratch = Config::blank();
    scratch.gateway = base.clone();
    for (name, raw) in settings {
        if !GATEWAY_OVERRIDES.contains(name) {
            continue;
        }
        let Some(property) = properties().iter().find(|p| p.name == *name) else {
            continue;
        };
        property
            .apply(raw, &mut scratch)
            .map_err(|expected| format!("{name}={raw}: expected {expected}"))?;
    }
    if check_gateway_rates(&scratch.gateway).is_err() {
        return Err(
            "ferrobill.gateway.declineRate, errorRate and timeoutRate add up to more than 1"
                .to_owned(),
        );
    }
    Ok(scratch.gateway)
}

/// A Kill Bill `List<TimeSpan>` value (`15m,30m,2h,12h,1d`) read outside the configuration
/// (the per-tenant configuration a tenant uploads); the error says what was expected.
pub fn parse_time_span_list(raw: &str) -> Result<Vec<Duration>, String> {
    TIMESPAN_LIST.parse(raw)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::test_support::{
        assert_warns, config, effective, env_error, error_of, has_warning, loaded,
    };
    use crate::config::typed::{Latency, LogFormat, QueueMode};

    #[test]
    fn defaults_match_kill_bill() {
        let c = config(&[]);
        assert_eq!(c.server.port, 8080);
        assert_eq!(c.server.bind_address.to_string(), "0.0.0.0");
        assert_eq!(c.server.max_in_flight, 200);
        assert_eq!(c.server.max_waiting, 100);
        assert_eq!(c.server.request_timeout, Duration::from_secs(60));
        assert_eq!(c.server.max_body_size, 1_048_576);
        assert_eq!(c.server.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(
            c.security.users,
            vec![("admin".to_owned(), "password".to_owned())]
        );
        assert_eq!(c.security.tenant_cache_size, 1024);
        assert_eq!(c.main_pool.max_active, 32);
        assert_eq!(c.plugin_pool.max_active, 100);
        for pool in [&c.main_pool, &c.plugin_pool] {
            assert_eq!(pool.url, None);
            assert_eq!(pool.user, "killbill");
            assert_eq!(pool.password, "killbill");
            assert_eq!(pool.min_idle, 1);
            assert_eq!(pool.connection_timeout, Duration::from_secs(10));
            assert_eq!(pool.idle_max_age, Duration::from_secs(3600));
            assert_eq!(pool.max_connection_age, None);
        }
        assert_eq!(c.main_pool.name, "main");
        assert_eq!(c.plugin_pool.name, "osgi");
        assert_eq!(c.embedded.data_dir, PathBuf::from("./data/postgres"));
        assert_eq!(c.embedded.max_connections, 300);
        assert_eq!(c.payment.plugin_threads, 10);
        assert_eq!(c.payment.plugin_timeout, Duration::from_secs(30));
        assert_eq!(c.payment.global_lock_retries, 50);
        assert_eq!(c.gateway.latency, Latency::Fixed(Duration::ZERO));
        assert_eq!(c.gateway.decline_rate, Rate(0));
        assert_eq!(c.gateway.error_rate, Rate(0));
        assert_eq!(c.gateway.timeout_rate, Rate(0));
        assert_eq!(c.gateway.hang_time, Duration::from_secs(120));
        assert!(c.gateway.healthy);
        for (bus, name) in [(&c.main_bus, "main"), (&c.external_bus, "external")] {
            assert_eq!(bus.name, name);
            assert!(!bus.in_memory);
            assert!(!bus.off);
            assert_eq!(bus.mode, QueueMode::Polling);
            assert_eq!(bus.claimed, 10);
            assert_eq!(bus.nb_threads, 30);
            assert_eq!(bus.queue_capacity, 30000);
            assert_eq!(bus.sleep, Duration::from_millis(3000));
            assert_eq!(bus.max_failure_retry, 3);
            assert_eq!(bus.claim_time, Duration::from_secs(300));
            assert_eq!(bus.reap_threshold, Duration::from_secs(600));
            assert_eq!(bus.max_redispatch_count, 10);
            assert_eq!(bus.reap_schedule, Duration::from_secs(180));
            assert_eq!(bus.inflight_min, 1);
            assert_eq!(bus.inflight_max, 100);
        }
        let q = &c.notification_queue;
        assert!(!q.off);
        assert_eq!(q.mode, QueueMode::Polling);
        assert_eq!(q.claimed, 10);
        assert_eq!(q.nb_threads, 10);
        assert_eq!(q.queue_capacity, 100);
        assert_eq!(q.sleep, Duration::from_millis(3000));
        assert_eq!(q.max_failure_retry, 3);
        assert_eq!(q.claim_time, Duration::from_secs(300));
        assert_eq!(q.reap_threshold, Duration::from_secs(600));
        assert_eq!(q.max_redispatch_count, 10);
        assert_eq!(q.reap_schedule, Duration::from_secs(180));
        assert!(c.queue_healthcheck.enabled);
        assert_eq!(c.queue_healthcheck.period, Duration::from_secs(60));
        assert!(c.metrics_enabled);
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn inflight_min_above_max_is_an_error() {
        assert_eq!(
            error_of(&[
                ("org.killbill.persistent.bus.main.inflight.min", "200"),
                ("org.killbill.persistent.bus.main.inflight.max", "50"),
            ]),
            "invalid value \"200\" for org.killbill.persistent.bus.main.inflight.min (from properties given by the caller): \
             expected no more than org.killbill.persistent.bus.main.inflight.max (50, from properties given by the caller)"
        );
    }

    #[test]
    fn embedded_connection_budget_is_checked() {
        let refused = env_error(&[("KILLBILL_DAO_MAX_ACTIVE", "250")]);
        assert!(
            refused.starts_with(
                "invalid value \"250\" for org.killbill.dao.maxActive (from environment variable KILLBILL_DAO_MAX_ACTIVE)"
            ) && refused.contains("350 connections"),
            "{refused}"
        );
        let l = loaded(&[
            ("KILLBILL_DAO_MAX_ACTIVE", "250"),
            ("DATABASE_URL", "postgres://db/kb"),
        ]);
        assert!(!has_warning(&l, "may open"));
        let l = loaded(&[("KILLBILL_DAO_MIN_IDLE", "500")]);
        assert_warns(&l, &["org.killbill.dao.minIdle (500) is above"]);
    }

    #[test]
    fn gateway_settings_come_from_the_environment_and_rates_stay_within_one() {
        let loaded = loaded(&[
            (
                "FERROBILL_GATEWAY_LATENCY",
                "lognormal:median=50ms,p99=400ms",
            ),
            ("FERROBILL_GATEWAY_DECLINE_RATE", "10%"),
            ("KB_ferrobill_gateway_errorRate", "0.2"),
            ("FERROBILL_GATEWAY_HEALTH", "UNHEALTHY"),
            ("FERROBILL_GATEWAY_HANG_TIME", "10"),
        ]);
        let gateway = &loaded.config.gateway;
        assert_eq!(
            gateway.latency,
            Latency::LogNormal {
                median: Duration::from_millis(50),
                p99: Duration::from_millis(400)
            }
        );
        assert_eq!(gateway.decline_rate, Rate(100_000));
        assert_eq!(gateway.error_rate, Rate(200_000));
        assert!(!gateway.healthy);
        // A bare hang time is seconds, and 10 s is below the default 30 s plugin timeout.
        assert_eq!(gateway.hang_time, Duration::from_secs(10));
        assert_warns(&loaded, &["ferrobill.gateway.hangTime"]);
        assert_eq!(
            effective(&loaded.config, "ferrobill.gateway.declineRate"),
            "10%"
        );

        let message = error_of(&[
            ("ferrobill.gateway.declineRate", "0.6"),
            ("ferrobill.gateway.timeoutRate", "0.5"),
        ]);
        assert!(message.contains("adding up to at most 1"), "{message}");
        let message = error_of(&[("ferrobill.gateway.latency", "lognormal:p99=1s")]);
        assert!(
            message.contains("lognormal:median=50ms,p99=400ms"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_list_is_reported_after_any_other_bad_value() {
        let message = error_of(&[
            ("ferrobill.security.trustedProxies", "proxy"),
            ("org.killbill.billing.osgi.dao.maxActive", "none"),
        ]);
        assert!(
            message
                .starts_with("invalid value \"none\" for org.killbill.billing.osgi.dao.maxActive"),
            "{message}"
        );
        let message = error_of(&[
            ("ferrobill.security.trustedProxies", "proxy"),
            ("ferrobill.embedded.postgresSettings", "fsync=off"),
        ]);
        assert!(
            message.starts_with("invalid value \"proxy\" for ferrobill.security.trustedProxies"),
            "{message}"
        );
    }

    #[test]
    fn dead_after_must_cover_two_heartbeats() {
        assert_eq!(
            error_of(&[(HEARTBEAT, "5s"), (DEAD_AFTER, "9s")]),
            "invalid value \"9000ms\" for ferrobill.cluster.deadAfter (from properties given by the caller): \
             expected at least twice ferrobill.cluster.heartbeat (5s, from properties given by the caller)"
        );
    }

    #[test]
    fn gateway_overrides_go_through_the_table_rows() {
        let base = config(&[]).gateway;
        let gateway = gateway_with_overrides(
            &base,
            &[
                ("ferrobill.gateway.declineRate", "5%"),
                ("ferrobill.gateway.hangTime", "10"),
                ("ferrobill.gateway.health", "unhealthy"),
                ("org.killbill.dao.maxActive", "1"),
            ],
        )
        .expect("valid overrides");
        assert_eq!(gateway.decline_rate, Rate(50_000));
        assert_eq!(gateway.hang_time, Duration::from_secs(10));
        assert!(gateway.healthy, "health is not a per-tenant setting");
        assert_eq!(
            gateway_with_overrides(&base, &[("ferrobill.gateway.errorRate", "2")]),
            Err("ferrobill.gateway.errorRate=2: expected a probability from 0 to 1 such as 0.05, or a percentage such as 5%".to_owned())
        );
        assert_eq!(
            gateway_with_overrides(
                &base,
                &[
                    ("ferrobill.gateway.errorRate", "0.6"),
                    ("ferrobill.gateway.declineRate", "0.6")
                ]
            ),
            Err(
                "ferrobill.gateway.declineRate, errorRate and timeoutRate add up to more than 1"
                    .to_owned()
            )
        );
        assert_eq!(
            parse_time_span_list("15m, 1h"),
            Ok(vec![Duration::from_secs(900), Duration::from_secs(3600)])
        );
    }
}
