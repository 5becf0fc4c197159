//! The typed configuration the rest of the server reads: [`Config`] and one struct per
//! concern, plus the small value types some properties hold (queue modes, log format,
//! gateway latency and rates).
//!
//! This file owns only the shapes and how they print. It never parses text, never knows a
//! property's name and never reads the environment or a file: the property table
//! (`table.rs`) says which property fills which field, and `build.rs` fills them. `Debug`
//! is written by hand here so that no password or URL secret can reach a log line.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::values::{mask_secret, mask_url, MASK};

/// Everything the server is configured with. Built only by [`Config::load`],
/// [`Config::load_from`] or [`Config::from_properties`].
#[derive(Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub security: SecurityConfig,
    pub main_pool: PoolConfig,
    pub plugin_pool: PoolConfig,
    pub embedded: EmbeddedConfig,
    pub payment: PaymentConfig,
    pub gateway: GatewayConfig,
    pub main_bus: QueueConfig,
    pub external_bus: QueueConfig,
    pub notification_queue: QueueConfig,
    pub push_notifications: PushNotificationConfig,
    pub queue_healthcheck: QueueHealthcheckConfig,
    pub cluster: ClusterConfig,
    /// This node's name in the queue tables (`creating_owner`, `processing_owner`).
    pub creator_name: String,
    pub log_format: LogFormat,
    /// `ferrobill.metrics.enabled`: whether the process-wide metrics recorder is installed.
    pub metrics_enabled: bool,
    /// The values this configuration was built from, already masked. Kept as text rather than
    /// re-rendered from the fields so the dump shows durations as the operator wrote them;
    /// the consequence is that edits to the public fields after loading are not reflected.
    pub(super) effective: Vec<(&'static str, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    pub port: u16,
    pub bind_address: IpAddr,
    pub max_in_flight: u32,
    pub max_waiting: u32,
    pub request_timeout: Duration,
    pub max_body_size: u64,
    pub shutdown_timeout: Duration,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SecurityConfig {
    /// `(user, password)` pairs allowed to call the API.
    pub users: Vec<(String, String)>,
    pub tenant_cache_size: u32,
    /// Users allowed on `/1.0/kb/admin/*`.
    pub admin_users: Vec<String>,
    /// Failed authentications one address may make per window before 429.
    pub auth_failures_max: u32,
    pub auth_failures_window: Duration,
    /// Addresses tracked at once.
    pub auth_failures_max_addresses: u32,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// `"main"` or `"osgi"`, as Kill Bill names its pools in health checks.
    pub name: &'static str,
    /// `None`: main pool → the embedded PostgreSQL; plugin pool → the main pool's database.
    pub url: Option<String>,
    pub user: String,
    pub password: String,
    pub max_active: u32,
    pub min_idle: u32,
    pub connection_timeout: Duration,
    pub idle_max_age: Duration,
    /// `None` means connections are never retired for age (Kill Bill's `0m`).
    pub max_connection_age: Option<Duration>,
    /// A wait for a connection longer than this is logged as a warning; `None` never warns
    /// (`ferrobill.log.poolWaitWarning`, shared by both pools).
    pub wait_warning: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedConfig {
    pub data_dir: PathBuf,
    pub max_connections: u32,
    /// `ferrobill.embedded.postgresSettings`, as (name, value) pairs.
    pub postgres_settings: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentConfig {
    pub plugin_threads: u32,
    pub plugin_timeout: Duration,
    pub global_lock_retries: u32,
    pub janitor_rate: Duration,
    pub janitor_unknown_retries: Vec<Duration>,
    pub janitor_pending_retries: Vec<Duration>,
    /// `ferrobill.payment.settleInOneTransaction`.
    pub settle_in_one_transaction: bool,
}

/// How the nodes sharing one database watch each other (docs/operations.md, several nodes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `ferrobill.cluster.heartbeat`: how often this node writes its heartbeat and reads the others'.
    pub heartbeat: Duration,
    /// `ferrobill.cluster.deadAfter`: how long a heartbeat may stand still, as this node saw
    /// it, before its node's leases, claims and open payments pass to the live nodes.
    pub dead_after: Duration,
}

/// The simulated card gateway (the `ferrobill-gateway` plugin, also registered as
/// `killbill-stripe`); docs/gateway.md describes what each setting does to a payment call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayConfig {
    /// How long each payment call holds its plugin-pool connection, as a real plugin holds
    /// its JDBC connection around the HTTP call to the gateway.
    pub latency: Latency,
    /// Share of payment calls declined (PaymentPluginStatus::Error, `card_declined`).
    pub decline_rate: Rate,
    /// Share of payment calls failing before submission (PaymentPluginStatus::Canceled).
    pub error_rate: Rate,
    /// Share of payment calls that hang for `hang_time` before the outcome is recorded.
    pub timeout_rate: Rate,
    pub hang_time: Duration,
    /// What the plugin reports to the plugins health check.
    pub healthy: bool,
}

/// How long a simulated gateway call takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latency {
    Fixed(Duration),
    /// Log-normal, given by the two figures operators read off gateway dashboards.
    LogNormal {
        median: Duration,
        p99: Duration,
    },
}

/// A probability, held in parts per million so that the configuration stays `Eq` and two
/// spellings of one rate (`0.05`, `5%`) compare equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate(pub(super) u32);

impl Rate {
    pub(super) const ONE: u32 = 1_000_000;

    pub fn probability(self) -> f64 {
        f64::from(self.0) / f64::from(Rate::ONE)
    }
}

/// One of Kill Bill's queues: a bus (PersistentQueueConfig) or the notification queue
/// (QueueConfig), which reads the same properties but for the two it lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// What logs call the queue: `"main"` or `"external"` (the bus instance in the property
    /// names), `"notifications"`.
    pub name: &'static str,
    /// Buses only; Kill Bill's notification queue always persists.
    pub in_memory: bool,
    pub off: bool,
    pub mode: QueueMode,
    pub claimed: u32,
    pub nb_threads: u32,
    pub queue_capacity: u32,
    pub sleep: Duration,
    pub max_failure_retry: u32,
    pub claim_time: Duration,
    pub reap_threshold: Duration,
    pub max_redispatch_count: u32,
    pub reap_schedule: Duration,
    pub inflight_min: u32,
    pub inflight_max: u32,
}

/// Push notifications to the callbacks tenants register (Kill Bill's PushNotificationListener).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushNotificationConfig {
    /// Delays before each retry of a failed delivery; after the last, the delivery is dropped.
    pub retries: Vec<Duration>,
    /// Longest time one delivery (one POST to one callback) may take.
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueHealthcheckConfig {
    pub enabled: bool,
    pub period: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueMode {
    Polling,
    StickyPolling,
    StickyEvents,
}

impl QueueMode {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueMode::Polling => "POLLING",
            QueueMode::StickyPolling => "STICKY_POLLING",
            QueueMode::StickyEvents => "STICKY_EVENTS",
        }
    }
}

impl fmt::Display for QueueMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Config {
    /// Every field empty or zero, for the property table to fill: each field is written by
    /// exactly one row of the table (the tests prove it), so nothing here survives a build.
    /// The instance names are not properties; they are fixed here.
    pub(super) fn blank() -> Config {
        Config {
            server: ServerConfig {
                port: 0,
                bind_address: IpAddr::from([0, 0, 0, 0]),
                max_in_flight: 0,
                max_waiting: 0,
                request_timeout: Duration::ZERO,
                max_body_size: 0,
                shutdown_timeout: Duration::ZERO,
            },
            security: SecurityConfig {
                users: Vec::new(),
                tenant_cache_size: 0,
                admin_users: Vec::new(),
                auth_failures_max: 0,
                auth_failures_window: Duration::ZERO,
                auth_failures_max_addresses: 0,
                trusted_proxies: Vec::new(),
            },
            main_pool: PoolConfig::blank("main"),
            plugin_pool: PoolConfig::blank("osgi"),
            embedded: EmbeddedConfig {
                data_dir: PathBuf::new(),
                max_connections: 0,
                postgres_settings: Vec::new(),
            },
            payment: PaymentConfig {
                plugin_threads: 0,
                plugin_timeout: Duration::ZERO,
                global_lock_retries: 0,
                janitor_rate: Duration::ZERO,
                janitor_unknown_retries: Vec::new(),
                janitor_pending_retries: Vec::new(),
                settle_in_one_transaction: false,
            },
            gateway: GatewayConfig {
                latency: Latency::Fixed(Duration::ZERO),
                decline_rate: Rate(0),
                error_rate: Rate(0),
                timeout_rate: Rate(0),
                hang_time: Duration::ZERO,
                healthy: false,
            },
            main_bus: QueueConfig::blank("main"),
            external_bus: QueueConfig::blank("external"),
            // Kill Bill's notification queues only poll: no in-memory ids to wait for.
            notification_queue: QueueConfig {
                inflight_min: 1,
                inflight_max: 1,
                ..QueueConfig::blank("notifications")
            },
            push_notifications: PushNotificationConfig {
                retries: Vec::new(),
                timeout: Duration::ZERO,
            },
            queue_healthcheck: QueueHealthcheckConfig {
                enabled: false,
                period: Duration::ZERO,
            },
            cluster: ClusterConfig {
                heartbeat: Duration::ZERO,
                dead_after: Duration::ZERO,
            },
            creator_name: String::new(),
            log_format: LogFormat::Text,
            metrics_enabled: false,
            effective: Vec::new(),
        }
    }
}

impl PoolConfig {
    fn blank(name: &'static str) -> PoolConfig {
        PoolConfig {
            name,
            url: None,
            user: String::new(),
            password: String::new(),
            max_active: 0,
            min_idle: 0,
            connection_timeout: Duration::ZERO,
            idle_max_age: Duration::ZERO,
            max_connection_age: None,
            wait_warning: None,
        }
    }
}

impl QueueConfig {
    fn blank(name: &'static str) -> QueueConfig {
        QueueConfig {
            name,
            in_memory: false,
            off: false,
            mode: QueueMode::Polling,
            claimed: 0,
            nb_threads: 0,
            queue_capacity: 0,
            sleep: Duration::ZERO,
            max_failure_retry: 0,
            claim_time: Duration::ZERO,
            reap_threshold: Duration::ZERO,
            max_redispatch_count: 0,
            reap_schedule: Duration::ZERO,
            inflight_min: 0,
            inflight_max: 0,
        }
    }
}

// Debug without secrets.

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("server", &self.server)
            .field("security", &self.security)
            .field("main_pool", &self.main_pool)
            .field("plugin_pool", &self.plugin_pool)
            .field("embedded", &self.embedded)
            .field("payment", &self.payment)
            .field("gateway", &self.gateway)
            .field("main_bus", &self.main_bus)
            .field("external_bus", &self.external_bus)
            .field("notification_queue", &self.notification_queue)
            .field("queue_healthcheck", &self.queue_healthcheck)
            .field("creator_name", &self.creator_name)
            .field("log_format", &self.log_format)
            .field("metrics_enabled", &self.metrics_enabled)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConfig")
            .field("name", &self.name)
            .field("url", &self.url.as_deref().map(mask_url))
            .field("user", &self.user)
            .field("password", &mask_secret(&self.password))
            .field("max_active", &self.max_active)
            .field("min_idle", &self.min_idle)
            .field("connection_timeout", &self.connection_timeout)
            .field("idle_max_age", &self.idle_max_age)
            .field("max_connection_age", &self.max_connection_age)
            .field("wait_warning", &self.wait_warning)
            .finish()
    }
}

impl fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<(&str, &str)> = self
            .users
            .iter()
            .map(|(user, _)| (user.as_str(), MASK))
            .collect();
        f.debug_struct("SecurityConfig")
            .field("users", &users)
            .field("tenant_cache_size", &self.tenant_cache_size)
            .field("admin_users", &self.admin_users)
            .field("auth_failures_max", &self.auth_failures_max)
            .field("auth_failures_window", &self.auth_failures_window)
            .field(
                "auth_failures_max_addresses",
                &self.auth_failures_max_addresses,
            )
            .field("trusted_proxies", &self.trusted_proxies)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::table::{MAIN_PASSWORD, PLUGIN_PASSWORD, PLUGIN_URL};
    use crate::config::test_support::{config, loaded};

    #[test]
    fn debug_masks_secrets() {
        let c = config(&[
            (MAIN_PASSWORD, "hunter2"),
            (PLUGIN_PASSWORD, "plugin-secret"),
            ("ferrobill.security.users", "admin:topsecret"),
            (PLUGIN_URL, "postgresql://u:urlsecret@db/plugins"),
        ]);
        let debug = format!("{c:?}");
        for secret in ["hunter2", "plugin-secret", "topsecret", "urlsecret"] {
            assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        }
        assert!(debug.contains("admin"));
        assert!(debug.contains("max_active: 100"));
        let loaded = loaded(&[("KB_org_killbill_dao_password", "hunter2")]);
        assert!(!format!("{loaded:?}").contains("hunter2"));
    }
}
