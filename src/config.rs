//! Configuration: the one table of every property ferrobill supports (Kill Bill's names and
//! Kill Bill's defaults where Kill Bill has the property, `ferrobill.*` where it is ours),
//! the layering built-in defaults < properties file < environment, and the typed [`Config`]
//! the rest of the server reads.
//!
//! This module owns the process environment: it is the only place in ferrobill that reads
//! `std::env`, so that every setting has one name, one default and one place where it is
//! documented. Other modules take what they need from [`Config`] and never look at the
//! environment themselves. Beyond reading the environment, the one properties file and the
//! host name (for the default queue creator name), this module does no I/O: it writes
//! nothing, opens no sockets and logs nothing by itself (logging is configured from here, so
//! warnings are handed back in [`LoadedConfig`] and [`LoadedConfig::log`] emits them once the
//! caller has set logging up).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// Where the server looks for a properties file when neither `--config` nor
/// `org.killbill.server.properties` names one (relative to the working directory).
pub const DEFAULT_PROPERTIES_FILE: &str = "config/ferrobill.properties";

/// Kill Bill cuts the creator name to 45 characters (killbill-commons `CreatorName`); the
/// `creating_owner`/`processing_owner` columns are `varchar(50)`.
const CREATOR_NAME_MAX_CHARS: usize = 45;

const MASK: &str = "***";

// ---------------------------------------------------------------------------------------------
// The typed configuration
// ---------------------------------------------------------------------------------------------

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
    pub main_bus: BusConfig,
    pub external_bus: BusConfig,
    pub notification_queue: NotificationQueueConfig,
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
    effective: Vec<(&'static str, String)>,
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
pub struct Rate(u32);

impl Rate {
    const ONE: u32 = 1_000_000;

    pub fn probability(self) -> f64 {
        f64::from(self.0) / f64::from(Rate::ONE)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusConfig {
    /// `"main"` or `"external"`, the instance name in the property names.
    pub name: &'static str,
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationQueueConfig {
    /// `"main"`, the instance name in the property names.
    pub name: &'static str,
    pub off: bool,
    /// Never [`QueueMode::StickyEvents`]: Kill Bill's notification queues only poll.
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

/// A loaded configuration with what the operator should be told about it.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    pub config: Config,
    /// One line each: unknown names, legacy keys and what they became, conflicts.
    pub warnings: Vec<String>,
    /// The properties file that was read, if any.
    pub file: Option<PathBuf>,
}

impl LoadedConfig {
    /// Logs the file used, every effective property (secrets masked) and every warning.
    /// Separate from loading because the log format is itself part of the configuration.
    pub fn log(&self) {
        match &self.file {
            Some(path) => tracing::info!(file = %path.display(), "configuration file read"),
            None => tracing::info!("no configuration file; defaults and environment only"),
        }
        for (name, value) in self.config.effective_properties() {
            tracing::info!("{name}={value}");
        }
        for warning in &self.warnings {
            tracing::warn!("{warning}");
        }
    }
}

/// Why a configuration could not be built. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `value` is already quoted for display, or `<hidden>` for secrets.
    #[error("invalid value {value} for {property} (from {origin}): expected {expected}")]
    InvalidValue {
        property: &'static str,
        value: String,
        origin: String,
        expected: String,
    },
    #[error("configuration file {} does not exist (named by {origin})", path.display())]
    FileNotFound { path: PathBuf, origin: String },
    #[error("cannot read configuration file {}: {source}", path.display())]
    FileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("syntax error in configuration file {} line {line}: {message}", path.display())]
    FileSyntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// Only from [`Config::from_properties`], whose callers are programs, not operators.
    #[error("unknown property {name}")]
    UnknownProperty { name: String },
}

impl Config {
    /// Defaults < properties file < process environment. The only place in ferrobill that
    /// reads `std::env`.
    pub fn load(explicit_file: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
        let mut unreadable = Vec::new();
        let env: Vec<(String, String)> = std::env::vars_os()
            .filter_map(
                |(name, value)| match (name.into_string(), value.into_string()) {
                    (Ok(name), Ok(value)) => Some((name, value)),
                    (Ok(name), Err(_)) => {
                        if is_ours(&name) {
                            unreadable.push(format!(
                                "environment variable {name} is not valid UTF-8; ignored"
                            ));
                        }
                        None
                    }
                    (Err(_), _) => None,
                },
            )
            .collect();
        let mut loaded = load_layers(
            explicit_file,
            &env,
            Some(Path::new(DEFAULT_PROPERTIES_FILE)),
        )?;
        loaded.warnings.splice(0..0, unreadable);
        Ok(loaded)
    }

    /// Same as [`Config::load`] with the environment given (tests).
    pub fn load_from(
        explicit_file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<LoadedConfig, ConfigError> {
        load_layers(explicit_file, env, Some(Path::new(DEFAULT_PROPERTIES_FILE)))
    }

    /// Defaults < these pairs, property names as keys; no file, no environment (test
    /// harnesses). Legacy keys are accepted; their warnings are dropped.
    pub fn from_properties(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut settings = Settings::new();
        for (name, value) in pairs {
            let Some(name) = known_name(name) else {
                return Err(ConfigError::UnknownProperty {
                    name: (*name).to_owned(),
                });
            };
            settings.insert(
                name,
                Entry {
                    value: (*value).to_owned(),
                    source: Source::Given,
                },
            );
        }
        let mut ignored_warnings = Vec::new();
        resolve_and_build(settings, &mut ignored_warnings)
    }

    /// Every property with its effective value, secrets masked, in table order: logged at
    /// startup.
    pub fn effective_properties(&self) -> Vec<(&'static str, String)> {
        self.effective.clone()
    }
}

/// The property table, for docs generation and tests elsewhere.
pub fn properties() -> &'static [Property] {
    PROPERTIES
}

// ---------------------------------------------------------------------------------------------
// The property table
// ---------------------------------------------------------------------------------------------

/// One supported property: its name, its default (as text, parsed like any other value) and
/// a one-line explanation.
#[derive(Debug)]
pub struct Property {
    name: &'static str,
    default: &'static str,
    kind: Kind,
    group: Group,
    doc: &'static str,
}

impl Property {
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn default(&self) -> &'static str {
        self.default
    }

    pub fn doc(&self) -> &'static str {
        self.doc
    }

    /// Whether the value is masked when printed.
    pub fn is_secret(&self) -> bool {
        matches!(self.kind, Kind::Secret | Kind::Users)
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// An integer in `min..=max`; `min` is 1 where 0 makes no sense (pool sizes, threads).
    Count {
        min: u64,
        max: u64,
    },
    /// `true`/`false`, any case.
    Bool,
    Duration {
        bare: BareNumber,
        allow_zero: bool,
    },
    /// Comma-separated durations (Kill Bill's `List<TimeSpan>`), at least one.
    DurationList {
        bare: BareNumber,
    },
    Text {
        allow_empty: bool,
    },
    /// Kept verbatim (no trimming: a password may end in a space) and masked when printed.
    Secret,
    /// One of these spellings, matched ignoring case.
    Choice(&'static [&'static str]),
    /// A PostgreSQL URL or nothing; `when_empty` finishes "expected a PostgreSQL URL … or".
    DatabaseUrl {
        when_empty: &'static str,
    },
    /// `user:password,user:password`; passwords masked when printed.
    Users,
    Port,
    IpAddress,
    /// A gateway latency: a duration, or `lognormal:median=…,p99=…`.
    Latency,
    /// A probability: `0` to `1`, or a percentage.
    Rate,
}

/// What a number without a unit means for a duration property: its documented unit. Kill
/// Bill's skife `TimeSpan` rejects a bare number, but operators write `connectionTimeout=5000`
/// in real manifests, so each property names the unit a bare number is read in.
#[derive(Debug, Clone, Copy)]
enum BareNumber {
    /// The unit Kill Bill converts these properties to (Hikari timeouts, queue times, the
    /// queues' `sleep`, which Kill Bill declares as a `long` of milliseconds).
    Milliseconds,
    /// Request-scale timeouts that operators think of in seconds.
    Seconds,
}

const POSITIVE: Kind = Kind::Count {
    min: 1,
    max: u32::MAX as u64,
};
const NON_NEGATIVE: Kind = Kind::Count {
    min: 0,
    max: u32::MAX as u64,
};
const BYTES: Kind = Kind::Count {
    min: 1,
    max: u64::MAX,
};
const BOOL: Kind = Kind::Bool;
const TIMESPAN: Kind = Kind::Duration {
    bare: BareNumber::Milliseconds,
    allow_zero: true,
};
const POSITIVE_TIMESPAN: Kind = Kind::Duration {
    bare: BareNumber::Milliseconds,
    allow_zero: false,
};
const POSITIVE_SECONDS: Kind = Kind::Duration {
    bare: BareNumber::Seconds,
    allow_zero: false,
};
const SECONDS: Kind = Kind::Duration {
    bare: BareNumber::Seconds,
    allow_zero: true,
};
const MILLISECONDS: Kind = Kind::Duration {
    bare: BareNumber::Milliseconds,
    allow_zero: true,
};
const TIMESPAN_LIST: Kind = Kind::DurationList {
    bare: BareNumber::Milliseconds,
};
const TEXT: Kind = Kind::Text { allow_empty: true };
const NON_EMPTY_TEXT: Kind = Kind::Text { allow_empty: false };
const SECRET: Kind = Kind::Secret;
const BUS_MODES: Kind = Kind::Choice(&["POLLING", "STICKY_POLLING", "STICKY_EVENTS"]);
const NOTIFICATION_QUEUE_MODES: Kind = Kind::Choice(&["POLLING", "STICKY_POLLING"]);
const LOG_FORMATS: Kind = Kind::Choice(&["text", "json"]);
const GATEWAY_HEALTH: Kind = Kind::Choice(&["healthy", "unhealthy"]);
const LATENCY: Kind = Kind::Latency;
const RATE: Kind = Kind::Rate;
const MAIN_DATABASE_URL: Kind = Kind::DatabaseUrl {
    when_empty: "nothing for the embedded database",
};
const PLUGIN_DATABASE_URL: Kind = Kind::DatabaseUrl {
    when_empty: "nothing for the main pool's database",
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    ConfigFile,
    Server,
    Security,
    MainPool,
    PluginPool,
    Embedded,
    Payment,
    Gateway,
    MainBus,
    ExternalBus,
    NotificationQueue,
    PushNotifications,
    Queues,
    Cluster,
    Logging,
    Metrics,
}

impl Group {
    fn title(self) -> &'static str {
        match self {
            Group::ConfigFile => "Configuration file",
            Group::Server => "HTTP server",
            Group::Security => "Security",
            Group::MainPool => "Main database pool",
            Group::PluginPool => "Plugin database pool",
            Group::Embedded => "Embedded PostgreSQL",
            Group::Payment => "Payments",
            Group::Gateway => "Simulated card gateway",
            Group::MainBus => "Internal event bus",
            Group::ExternalBus => "External event bus",
            Group::NotificationQueue => "Notification queue",
            Group::PushNotifications => "Push notifications",
            Group::Queues => "All queues",
            Group::Cluster => "Several nodes",
            Group::Logging => "Logging",
            Group::Metrics => "Metrics",
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            Group::ConfigFile => "Where this file is read from; only meaningful in the environment.",
            Group::Server => {
                "Listening address and admission limits of the REST API (ferrobill's own; defaults follow Tomcat's connector defaults)."
            }
            Group::Security => "Who may call the API and how many tenants are cached.",
            Group::MainPool => {
                "Connections to Kill Bill's database (Kill Bill's org.killbill.dao.* keys and defaults)."
            }
            Group::PluginPool => {
                "Connections used by plugins (Kill Bill's org.killbill.billing.osgi.dao.* keys and defaults)."
            }
            Group::Embedded => {
                "The PostgreSQL ferrobill starts itself when org.killbill.dao.url is empty."
            }
            Group::Payment => "Payment plugin calls (Kill Bill's PaymentConfig).",
            Group::Gateway => {
                "The payment plugin ferrobill-gateway, also registered as killbill-stripe: a card gateway simulated on the plugin pool (docs/gateway.md)."
            }
            Group::MainBus => {
                "Kill Bill's persistent bus for internal events, table bus_events (PersistentBusConfig, instance main)."
            }
            Group::ExternalBus => {
                "The bus for events sent to plugins and push notifications, table bus_ext_events (PersistentBusConfig, instance external)."
            }
            Group::NotificationQueue => {
                "Future-dated work such as the payment janitor, table notifications (NotificationQueueConfig, instance main)."
            }
            Group::PushNotifications => {
                "HTTP callbacks a tenant registers with POST /1.0/kb/tenants/registerNotificationCallback (Kill Bill's PushNotificationListener)."
            }
            Group::Queues => "Settings shared by the buses and the notification queue.",
            Group::Cluster => {
                "How nodes sharing one database find out that one of them died, so that its account leases, queue claims and unfinished payments pass to the others (ferrobill's own)."
            }
            Group::Logging => "How log lines are written.",
            Group::Metrics => "What /1.0/metrics and /metrics publish (docs/metrics.md).",
        }
    }
}

const fn property(
    name: &'static str,
    default: &'static str,
    kind: Kind,
    group: Group,
    doc: &'static str,
) -> Property {
    Property {
        name,
        default,
        kind,
        group,
        doc,
    }
}

const SERVER_PROPERTIES: &str = "org.killbill.server.properties";
const MAIN_URL: &str = "org.killbill.dao.url";
const MAIN_USER: &str = "org.killbill.dao.user";
const MAIN_PASSWORD: &str = "org.killbill.dao.password";
const PLUGIN_URL: &str = "org.killbill.billing.osgi.dao.url";
const PLUGIN_USER: &str = "org.killbill.billing.osgi.dao.user";
const PLUGIN_PASSWORD: &str = "org.killbill.billing.osgi.dao.password";
const CREATOR_NAME: &str = "org.killbill.queue.creator.name";
const MAIN_POOL_PREFIX: &str = "org.killbill.dao.";
const PLUGIN_POOL_PREFIX: &str = "org.killbill.billing.osgi.dao.";
const MAIN_BUS_PREFIX: &str = "org.killbill.persistent.bus.main.";
const EXTERNAL_BUS_PREFIX: &str = "org.killbill.persistent.bus.external.";
const NOTIFICATION_QUEUE_PREFIX: &str = "org.killbill.notificationq.main.";
const NOTIFICATION_QUEUE_MODE: &str = "org.killbill.notificationq.main.queue.mode";

use Group::*;

// Written out in full (no generated names) so that a grep for a property finds its row.
#[rustfmt::skip]
const PROPERTIES: &[Property] = &[
    property(SERVER_PROPERTIES, "", TEXT, ConfigFile,
        "Path or file:// URI of the properties file. Read from the environment only (KB_org_killbill_server_properties); --config wins. Empty: config/ferrobill.properties if it exists."),

    property("ferrobill.server.port", "8080", Kind::Port, Server,
        "TCP port of the REST API. Kill Bill has no such property (its Tomcat listens on 8080, TOMCAT_PORT in its Docker image). 0 picks a free port, for tests."),
    property("ferrobill.server.bindAddress", "0.0.0.0", Kind::IpAddress, Server,
        "IP address the REST API listens on."),
    property("ferrobill.server.maxInFlight", "200", POSITIVE, Server,
        "Requests served at once; Tomcat's maxThreads default (Kill Bill's Docker image sets 100)."),
    property("ferrobill.server.maxWaiting", "100", NON_NEGATIVE, Server,
        "Requests that may wait for a free slot before new ones are turned away; Tomcat's acceptCount default."),
    property("ferrobill.server.requestTimeout", "60s", POSITIVE_SECONDS, Server,
        "Longest time one request may take; Tomcat's connectionTimeout default (Kill Bill's Docker image sets 20s)."),
    property("ferrobill.server.maxBodySize", "1048576", BYTES, Server,
        "Largest request body accepted, in bytes."),
    property("ferrobill.server.shutdownTimeout", "30s", SECONDS, Server,
        "How long shutdown waits for requests and queue handlers in progress."),

    property("ferrobill.security.users", "admin:password", Kind::Users, Security,
        "API users as comma-separated user:password pairs (Kill Bill's default shiro.ini user is admin/password), like Kill Bill's shiro.ini users; those of /1.0/kb/security/users live in the database. Each holds every permission outside the admin and user groups, unless listed in ferrobill.security.adminUsers. Passwords are masked when printed."),
    property("ferrobill.security.tenantCacheSize", "1024", POSITIVE, Security,
        "Tenants (API key and checked secret) kept in memory."),
    property("ferrobill.security.adminUsers", "admin", TEXT, Security,
        "Comma-separated users (from ferrobill.security.users) holding the built-in role admin: every permission (*:*, as Kill Bill's default root role), so the /1.0/kb/admin/* operations and user management too. The other configured users get 401 (UnauthorizedException) there. Empty: nobody."),
    property("ferrobill.security.authFailures.max", "20", POSITIVE, Security,
        "Failed Basic-auth or tenant-secret checks one principal (user name or API key) may make from one client address within the window; past it, credentials of that principal this node has not verified before get 429 with Retry-After, unchecked, until the window passes. Right credentials already verified are always served."),
    property("ferrobill.security.authFailures.window", "1m", POSITIVE_SECONDS, Security,
        "The window over which failed authentications are counted per client address and principal."),
    property("ferrobill.security.trustedProxies", "", TEXT, Security,
        "Comma-separated IP addresses of reverse proxies whose X-Forwarded-For is believed when counting failed authentications per client address. Empty: the TCP peer is the client, X-Forwarded-For is ignored."),
    property("ferrobill.security.authFailures.maxAddresses", "10000", POSITIVE, Security,
        "Pairs of client address and principal whose failures are tracked at once (bounds memory); when full, the stalest entry is dropped."),

    property(MAIN_URL, "", MAIN_DATABASE_URL, MainPool,
        "PostgreSQL URL: jdbc:postgresql://..., postgres://... or postgresql://... Empty: ferrobill starts its own embedded PostgreSQL (Kill Bill's default is an H2 file)."),
    property(MAIN_USER, "killbill", TEXT, MainPool,
        "Database user."),
    property(MAIN_PASSWORD, "killbill", SECRET, MainPool,
        "Database password (masked when printed)."),
    property("org.killbill.dao.maxActive", "32", POSITIVE, MainPool,
        "Most connections the pool opens (Hikari maximumPoolSize). Kill Bill's default is 100; \
         on 2 cores 32 served the most with the queues keeping up (docs/benchmarks.md)."),
    property("org.killbill.dao.minIdle", "1", NON_NEGATIVE, MainPool,
        "Idle connections the pool keeps open."),
    property("org.killbill.dao.connectionTimeout", "10s", POSITIVE_TIMESPAN, MainPool,
        "How long a caller waits for a free connection before failing."),
    property("org.killbill.dao.idleMaxAge", "60m", TIMESPAN, MainPool,
        "Idle connections beyond minIdle are closed after this long (Hikari idleTimeout)."),
    property("org.killbill.dao.maxConnectionAge", "0m", TIMESPAN, MainPool,
        "Connections are replaced after this long; 0 means never (Hikari maxLifetime)."),

    property(PLUGIN_URL, "", PLUGIN_DATABASE_URL, PluginPool,
        "Database of the plugin pool, same forms as org.killbill.dao.url. Empty: the main pool's database, and then user and password follow the main pool's unless set here."),
    property(PLUGIN_USER, "killbill", TEXT, PluginPool,
        "Database user."),
    property(PLUGIN_PASSWORD, "killbill", SECRET, PluginPool,
        "Database password (masked when printed)."),
    property("org.killbill.billing.osgi.dao.maxActive", "100", POSITIVE, PluginPool,
        "Most connections the pool opens."),
    property("org.killbill.billing.osgi.dao.minIdle", "1", NON_NEGATIVE, PluginPool,
        "Idle connections the pool keeps open."),
    property("org.killbill.billing.osgi.dao.connectionTimeout", "10s", POSITIVE_TIMESPAN, PluginPool,
        "How long a caller waits for a free connection before failing."),
    property("org.killbill.billing.osgi.dao.idleMaxAge", "60m", TIMESPAN, PluginPool,
        "Idle connections beyond minIdle are closed after this long."),
    property("org.killbill.billing.osgi.dao.maxConnectionAge", "0m", TIMESPAN, PluginPool,
        "Connections are replaced after this long; 0 means never."),

    property("ferrobill.embedded.dataDir", "./data/postgres", NON_EMPTY_TEXT, Embedded,
        "Data directory of the embedded PostgreSQL."),
    property("ferrobill.embedded.maxConnections", "300", POSITIVE, Embedded,
        "max_connections of the embedded PostgreSQL; both pools' maxActive added up must fit in it (startup stops otherwise)."),
    property("ferrobill.embedded.postgresSettings", "", TEXT, Embedded,
        "More PostgreSQL settings for the embedded cluster, over ferrobill's own (docs/operations.md): comma-separated name=value pairs, e.g. shared_preload_libraries=pg_stat_statements,track_io_timing=on. fsync and synchronous_commit cannot be turned off."),

    property("org.killbill.payment.plugin.threads.nb", "10", POSITIVE, Payment,
        "Threads that run payment plugin calls."),
    property("org.killbill.payment.plugin.timeout", "30s", POSITIVE_SECONDS, Payment,
        "How long a payment call waits for its plugin (Kill Bill counts whole seconds)."),
    property("org.killbill.payment.globalLock.retries", "50", NON_NEGATIVE, Payment,
        "Tries, 100 ms apart, to take an account's lock before a payment call fails."),
    property("org.killbill.payment.janitor.rate", "1h", POSITIVE_TIMESPAN, Payment,
        "How often the janitor sweeps for UNKNOWN transactions whose outcome was never recorded (a node died between its two transactions)."),
    property("org.killbill.payment.janitor.unknown.retries", "5m,1h,1d,1d,1d,1d,1d", TIMESPAN_LIST, Payment,
        "When the janitor asks the plugin again about an UNKNOWN transaction: one delay per attempt."),
    property("org.killbill.payment.janitor.pending.retries", "1h,1d", TIMESPAN_LIST, Payment,
        "When the janitor asks the plugin again about a PENDING transaction: one delay per attempt."),
    property("ferrobill.payment.settleInOneTransaction", "true", BOOL, Payment,
        "Record an operation whose plugin answers without waiting for anything (__EXTERNAL_PAYMENT__, chargebacks) in one transaction with the same rows as Kill Bill's two; false writes two transactions as for any plugin."),

    property("ferrobill.gateway.latency", "0ms", LATENCY, Gateway,
        "Time each simulated gateway call takes while its payment call holds a plugin-pool connection: a duration (50ms; a bare number is milliseconds) or lognormal:median=50ms,p99=400ms."),
    property("ferrobill.gateway.declineRate", "0", RATE, Gateway,
        "Share of payment calls the gateway declines (status ERROR, code card_declined): 0 to 1 (0.05) or a percentage (5%)."),
    property("ferrobill.gateway.errorRate", "0", RATE, Gateway,
        "Share of payment calls that fail with a processing error before submission (status CANCELED, code processing_error)."),
    property("ferrobill.gateway.timeoutRate", "0", RATE, Gateway,
        "Share of payment calls that hang for ferrobill.gateway.hangTime; the outcome is recorded when the hang ends, for the janitor. The three rates add up to at most 1."),
    property("ferrobill.gateway.hangTime", "2m", POSITIVE_SECONDS, Gateway,
        "How long a hanging call sleeps (timeoutRate, card 4000000000000341); keep it above org.killbill.payment.plugin.timeout."),
    property("ferrobill.gateway.health", "healthy", GATEWAY_HEALTH, Gateway,
        "What the gateway plugin reports to the plugins health check: healthy or unhealthy."),

    property("org.killbill.persistent.bus.main.inMemory", "false", BOOL, MainBus,
        "Dispatch events in memory on the posting thread: no table, no retries."),
    property("org.killbill.persistent.bus.main.off", "false", BOOL, MainBus,
        "Stop dispatching; events stay in the table."),
    property("org.killbill.persistent.bus.main.queue.mode", "POLLING", BUS_MODES, MainBus,
        "POLLING: any node takes any entry. STICKY_POLLING: a node takes only entries it created. STICKY_EVENTS: sticky, woken on commit instead of polling."),
    property("org.killbill.persistent.bus.main.claimed", "10", POSITIVE, MainBus,
        "Entries claimed per poll."),
    property("org.killbill.persistent.bus.main.nbThreads", "30", POSITIVE, MainBus,
        "Most handler threads."),
    property("org.killbill.persistent.bus.main.queue.capacity", "30000", POSITIVE, MainBus,
        "Entries waiting for a handler thread before the poller blocks."),
    property("org.killbill.persistent.bus.main.sleep", "3000", MILLISECONDS, MainBus,
        "Pause between polls; a bare number is milliseconds (Kill Bill's unit), 3s also works."),
    property("org.killbill.persistent.bus.main.max.failure.retry", "3", NON_NEGATIVE, MainBus,
        "Immediate retries after a handler fails, before the entry is marked FAILED."),
    property("org.killbill.persistent.bus.main.claim.time", "5m", POSITIVE_TIMESPAN, MainBus,
        "How long a claimed entry stays owned by the node that claimed it."),
    property("org.killbill.persistent.bus.main.reapThreshold", "10m", POSITIVE_TIMESPAN, MainBus,
        "Age after which an entry nobody finished is re-dispatched by the reaper."),
    property("org.killbill.persistent.bus.main.maxReDispatchCount", "10", NON_NEGATIVE, MainBus,
        "Most entries the reaper re-dispatches per run."),
    property("org.killbill.persistent.bus.main.reapSchedule", "3m", POSITIVE_TIMESPAN, MainBus,
        "How often the reaper runs."),
    property("org.killbill.persistent.bus.main.inflight.min", "1", POSITIVE, MainBus,
        "STICKY_EVENTS only: entries to wait for (at most 100 ms) before dispatching."),
    property("org.killbill.persistent.bus.main.inflight.max", "100", POSITIVE, MainBus,
        "STICKY_EVENTS only: most entries dispatched at once."),

    property("org.killbill.persistent.bus.external.inMemory", "false", BOOL, ExternalBus,
        "Dispatch events in memory on the posting thread: no table, no retries."),
    property("org.killbill.persistent.bus.external.off", "false", BOOL, ExternalBus,
        "Stop dispatching; events stay in the table."),
    property("org.killbill.persistent.bus.external.queue.mode", "POLLING", BUS_MODES, ExternalBus,
        "POLLING, STICKY_POLLING or STICKY_EVENTS, as for the internal bus."),
    property("org.killbill.persistent.bus.external.claimed", "10", POSITIVE, ExternalBus,
        "Entries claimed per poll."),
    property("org.killbill.persistent.bus.external.nbThreads", "30", POSITIVE, ExternalBus,
        "Most handler threads."),
    property("org.killbill.persistent.bus.external.queue.capacity", "30000", POSITIVE, ExternalBus,
        "Entries waiting for a handler thread before the poller blocks."),
    property("org.killbill.persistent.bus.external.sleep", "3000", MILLISECONDS, ExternalBus,
        "Pause between polls; a bare number is milliseconds, 3s also works."),
    property("org.killbill.persistent.bus.external.max.failure.retry", "3", NON_NEGATIVE, ExternalBus,
        "Immediate retries after a handler fails, before the entry is marked FAILED."),
    property("org.killbill.persistent.bus.external.claim.time", "5m", POSITIVE_TIMESPAN, ExternalBus,
        "How long a claimed entry stays owned by the node that claimed it."),
    property("org.killbill.persistent.bus.external.reapThreshold", "10m", POSITIVE_TIMESPAN, ExternalBus,
        "Age after which an entry nobody finished is re-dispatched by the reaper."),
    property("org.killbill.persistent.bus.external.maxReDispatchCount", "10", NON_NEGATIVE, ExternalBus,
        "Most entries the reaper re-dispatches per run."),
    property("org.killbill.persistent.bus.external.reapSchedule", "3m", POSITIVE_TIMESPAN, ExternalBus,
        "How often the reaper runs."),
    property("org.killbill.persistent.bus.external.inflight.min", "1", POSITIVE, ExternalBus,
        "STICKY_EVENTS only: entries to wait for (at most 100 ms) before dispatching."),
    property("org.killbill.persistent.bus.external.inflight.max", "100", POSITIVE, ExternalBus,
        "STICKY_EVENTS only: most entries dispatched at once."),

    property("org.killbill.notificationq.main.notification.off", "false", BOOL, NotificationQueue,
        "Stop dispatching notifications; they stay in the table."),
    property(NOTIFICATION_QUEUE_MODE, "POLLING", NOTIFICATION_QUEUE_MODES, NotificationQueue,
        "POLLING or STICKY_POLLING (Kill Bill's notification queues cannot run STICKY_EVENTS)."),
    property("org.killbill.notificationq.main.claimed", "10", POSITIVE, NotificationQueue,
        "Notifications claimed per poll."),
    property("org.killbill.notificationq.main.notification.nbThreads", "10", POSITIVE, NotificationQueue,
        "Most handler threads."),
    property("org.killbill.notificationq.main.queue.capacity", "100", POSITIVE, NotificationQueue,
        "Notifications waiting for a handler thread before the poller blocks."),
    property("org.killbill.notificationq.main.sleep", "3000", MILLISECONDS, NotificationQueue,
        "Pause between polls; a bare number is milliseconds, 3s also works."),
    property("org.killbill.notificationq.main.max.failure.retry", "3", NON_NEGATIVE, NotificationQueue,
        "Immediate retries after a handler fails, before the notification is marked FAILED."),
    property("org.killbill.notificationq.main.claim.time", "5m", POSITIVE_TIMESPAN, NotificationQueue,
        "How long a claimed notification stays owned by the node that claimed it."),
    property("org.killbill.notificationq.main.reapThreshold", "10m", POSITIVE_TIMESPAN, NotificationQueue,
        "Lateness after which a notification nobody finished is re-dispatched by the reaper."),
    property("org.killbill.notificationq.main.maxReDispatchCount", "10", NON_NEGATIVE, NotificationQueue,
        "Most notifications the reaper re-dispatches per run."),
    property("org.killbill.notificationq.main.reapSchedule", "3m", POSITIVE_TIMESPAN, NotificationQueue,
        "How often the reaper runs."),

    property("org.killbill.billing.server.notifications.retries", "15m,30m,2h,12h,1d", TIMESPAN_LIST, PushNotifications,
        "Delays before each retry of a push notification that failed (not 2xx, a transport error or a timeout); after the last, it is dropped. Kill Bill's NotificationConfig default."),
    property("ferrobill.notifications.timeout", "15s", POSITIVE_SECONDS, PushNotifications,
        "Longest time one push notification POST may take before it counts as failed; Kill Bill hard-codes 15 seconds (PushNotificationListener)."),

    property(CREATOR_NAME, "", TEXT, Queues,
        "This node's name in the queue tables, cut to 45 characters. Empty: host name, '-', 6 random hex digits, so pods all named localhost stay distinct (Kill Bill issue 2061)."),
    property("org.killbill.server.queue.healthcheck", "true", BOOL, Queues,
        "Report growing queues as unhealthy in /1.0/healthcheck."),
    property("ferrobill.server.queue.healthcheck.period", "1m", POSITIVE_SECONDS, Queues,
        "How often queue sizes are sampled for that check (Kill Bill samples once per health-check call)."),

    property("ferrobill.cluster.heartbeat", "2s", POSITIVE_TIMESPAN, Cluster,
        "How often each node writes its heartbeat in bus_nodes and reads the other nodes'."),
    property("ferrobill.cluster.deadAfter", "10s", POSITIVE_TIMESPAN, Cluster,
        "How long another node's heartbeat may stand still, counted on this node's clock while this node could reach the database, before that node is dead and its work is taken over. At least twice ferrobill.cluster.heartbeat."),

    property("ferrobill.log.format", "text", LOG_FORMATS, Logging,
        "text for people, json for log collectors. The level comes from RUST_LOG (default info)."),
    property("ferrobill.log.poolWaitWarning", "1s", TIMESPAN, Logging,
        "A request that waits longer than this for a database connection (either pool) is logged as a warning; 0 never warns."),

    property("ferrobill.metrics.enabled", "true", BOOL, Metrics,
        "Record metrics. false installs no recorder: every metric call is a no-op and /1.0/metrics and /metrics answer empty pages (to measure what metrics cost; one process has one recorder, so the first server started in it decides)."),
];

// ---------------------------------------------------------------------------------------------
// Legacy keys and Kill Bill Docker aliases
// ---------------------------------------------------------------------------------------------

/// Kill Bill queue keys from before the `queue.mode` property (killbill-commons, removed in
/// commit 0cb7b0e6, August 2015). `sticky` ("whether a node should only pick entries it
/// inserted", default false) filtered polling on `creating_owner`, which is STICKY_POLLING
/// today. `useInflightQ` (default false) fed the dispatcher from an in-memory queue of ids
/// committed by this node; its replacement test is `mode == STICKY_EVENTS`, and the last
/// release with the key documented `sticky` as required with it, so `useInflightQ=true`
/// maps to STICKY_EVENTS with or without `sticky`. The notification queue only had `sticky`
/// (its `useInflightQ` was declared unavailable).
struct LegacyModeKeys {
    sticky: &'static str,
    use_inflight_queue: Option<&'static str>,
    mode: &'static str,
}

const LEGACY_MODE_KEYS: &[LegacyModeKeys] = &[
    LegacyModeKeys {
        sticky: "org.killbill.persistent.bus.main.sticky",
        use_inflight_queue: Some("org.killbill.persistent.bus.main.useInflightQ"),
        mode: "org.killbill.persistent.bus.main.queue.mode",
    },
    LegacyModeKeys {
        sticky: "org.killbill.persistent.bus.external.sticky",
        use_inflight_queue: Some("org.killbill.persistent.bus.external.useInflightQ"),
        mode: "org.killbill.persistent.bus.external.queue.mode",
    },
    LegacyModeKeys {
        sticky: "org.killbill.notificationq.main.sticky",
        use_inflight_queue: None,
        mode: NOTIFICATION_QUEUE_MODE,
    },
];

/// `inflight.claimed` ("number of bus events to dispatch from the inflightQ at once"; default
/// 5, later 30) was removed with `useInflightQ`; `inflight.max` (2019) took over its meaning.
/// Kill Bill's Docker image still sets it from `KILLBILL_EXTERNAL_INFLIGHT_CLAIMED`.
const LEGACY_RENAMED_KEYS: &[(&str, &str)] = &[
    (
        "org.killbill.persistent.bus.main.inflight.claimed",
        "org.killbill.persistent.bus.main.inflight.max",
    ),
    (
        "org.killbill.persistent.bus.external.inflight.claimed",
        "org.killbill.persistent.bus.external.inflight.max",
    ),
];

/// `KILLBILL_*` names from Kill Bill's Docker image (killbill-cloud
/// `docker/templates/killbill/latest/setenv2.sh`, earlier the ansible `killbill.properties.j2`)
/// that do not follow the property names, so name matching alone would miss them. An alias
/// with several targets sets all of them, as the image does.
const KILLBILL_ALIASES: &[(&str, &[&str])] = &[
    (
        "KILLBILL_PLUGIN_THREADS_NB",
        &["org.killbill.payment.plugin.threads.nb"],
    ),
    (
        "KILLBILL_MAIN_QUEUE_MODE",
        &[
            "org.killbill.persistent.bus.main.queue.mode",
            NOTIFICATION_QUEUE_MODE,
        ],
    ),
    (
        "KILLBILL_MAX_FAILURE_RETRY",
        &[
            "org.killbill.persistent.bus.main.max.failure.retry",
            "org.killbill.persistent.bus.external.max.failure.retry",
            "org.killbill.notificationq.main.max.failure.retry",
        ],
    ),
    (
        "KILLBILL_MAIN_CLAIM_TIME",
        &[
            "org.killbill.persistent.bus.main.claim.time",
            "org.killbill.notificationq.main.claim.time",
        ],
    ),
    (
        "KILLBILL_MAIN_QUEUE_CAPACITY",
        &[
            "org.killbill.persistent.bus.main.queue.capacity",
            "org.killbill.notificationq.main.queue.capacity",
        ],
    ),
    (
        "KILLBILL_EXTERNAL_CLAIM_TIME",
        &["org.killbill.persistent.bus.external.claim.time"],
    ),
    (
        "KILLBILL_EXTERNAL_QUEUE_CAPACITY",
        &["org.killbill.persistent.bus.external.queue.capacity"],
    ),
    (
        "KILLBILL_EXTERNAL_INFLIGHT_CLAIMED",
        &["org.killbill.persistent.bus.external.inflight.claimed"],
    ),
    (
        "KILLBILL_MAIN_NOTIFICATION_NB_THREADS",
        &["org.killbill.notificationq.main.notification.nbThreads"],
    ),
    (
        "KILLBILL_MAIN_NOTIFICATION_OFF",
        &["org.killbill.notificationq.main.notification.off"],
    ),
    (
        "KILLBILL_MAIN_REAP_THRESHOLD",
        &["org.killbill.notificationq.main.reapThreshold"],
    ),
    (
        "KILLBILL_MAIN_MAX_REDISPATCH_COUNT",
        &["org.killbill.notificationq.main.maxReDispatchCount"],
    ),
    (
        "KILLBILL_MAIN_REAP_SCHEDULE",
        &["org.killbill.notificationq.main.reapSchedule"],
    ),
];

/// Name prefixes a `KILLBILL_*`/`FERROBILL_*` variable may leave out. `persistent.` is here
/// because Kill Bill's image spells the bus variables `KILLBILL_BUS_MAIN_*`.
const DROPPABLE_PREFIXES: &[&str] = &[
    "org.killbill.billing.",
    "org.killbill.persistent.",
    "org.killbill.",
    "ferrobill.",
];

fn legacy_names() -> impl Iterator<Item = &'static str> {
    LEGACY_MODE_KEYS
        .iter()
        .flat_map(|keys| std::iter::once(keys.sticky).chain(keys.use_inflight_queue))
        .chain(LEGACY_RENAMED_KEYS.iter().map(|(legacy, _)| *legacy))
}

fn known_names() -> impl Iterator<Item = &'static str> {
    PROPERTIES.iter().map(|p| p.name).chain(legacy_names())
}

fn known_name(name: &str) -> Option<&'static str> {
    known_names().find(|known| *known == name)
}

/// Case, dots, underscores and dashes carry no meaning in the loose env forms.
fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '.' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Every loose spelling that designates `name`.
fn loose_spellings(name: &str) -> Vec<String> {
    let mut spellings = vec![normalize(name)];
    for prefix in DROPPABLE_PREFIXES {
        if let Some(rest) = name.strip_prefix(prefix) {
            spellings.push(normalize(rest));
        }
    }
    spellings.dedup();
    spellings
}

fn loose_index() -> &'static HashMap<String, &'static str> {
    static INDEX: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index = HashMap::new();
        for name in known_names() {
            for spelling in loose_spellings(name) {
                index.entry(spelling).or_insert(name);
            }
        }
        index
    })
}

fn loose_match(spelling: &str) -> Option<&'static str> {
    loose_index().get(&normalize(spelling)).copied()
}

// ---------------------------------------------------------------------------------------------
// Layering
// ---------------------------------------------------------------------------------------------

/// Where a value came from, so that an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Default,
    Generated,
    Given,
    CommandLine,
    File {
        path: PathBuf,
        line: usize,
    },
    Env {
        var: String,
    },
    Legacy {
        key: &'static str,
        origin: Box<Source>,
    },
    Inherited {
        from: &'static str,
        origin: Box<Source>,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("built-in default"),
            Source::Generated => f.write_str("generated at startup"),
            Source::Given => f.write_str("properties given by the caller"),
            Source::CommandLine => f.write_str("the --config option"),
            Source::File { path, line } => write!(f, "file {} line {line}", path.display()),
            Source::Env { var } => write!(f, "environment variable {var}"),
            Source::Legacy { key, origin } => write!(f, "legacy key {key}, {origin}"),
            Source::Inherited { from, origin } => write!(f, "{from}, {origin}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    value: String,
    source: Source,
}

/// Property (or legacy key) name → value, before or after defaults are filled in.
type Settings = BTreeMap<&'static str, Entry>;

fn load_layers(
    explicit_file: Option<&Path>,
    env: &[(String, String)],
    default_location: Option<&Path>,
) -> Result<LoadedConfig, ConfigError> {
    let mut warnings = Vec::new();
    let env_settings = read_environment(env, &mut warnings);

    let location = locate_file(
        explicit_file,
        &env_settings,
        default_location,
        &mut warnings,
    )?;
    let mut settings = Settings::new();
    let mut file = None;
    if let Some(location) = location {
        if let Some(text) = read_file(&location)? {
            settings = file_settings(&text, &location.path, &mut warnings)?;
            settings.insert(
                SERVER_PROPERTIES,
                Entry {
                    value: location.path.display().to_string(),
                    source: location.origin,
                },
            );
            file = Some(location.path);
        }
    }

    for (name, entry) in env_settings {
        if name == SERVER_PROPERTIES {
            continue;
        }
        if let Some(from_file) = settings.get(name) {
            if from_file.value != entry.value {
                warnings.push(format!(
                    "{name}: {} overrides the value from {}",
                    entry.source, from_file.source
                ));
            }
        }
        settings.insert(name, entry);
    }

    let config = resolve_and_build(settings, &mut warnings)?;
    Ok(LoadedConfig {
        config,
        warnings,
        file,
    })
}

/// From explicit settings (file and environment, or given pairs) to the typed configuration.
fn resolve_and_build(
    mut settings: Settings,
    warnings: &mut Vec<String>,
) -> Result<Config, ConfigError> {
    apply_legacy_keys(&mut settings, warnings)?;
    inherit_plugin_pool_credentials(&mut settings);
    for property in PROPERTIES {
        settings.entry(property.name).or_insert_with(|| Entry {
            value: property.default.to_owned(),
            source: Source::Default,
        });
    }
    settle_creator_name(&mut settings, warnings);
    let values = Values::parse(&settings)?;
    build_config(&values, warnings)
}

fn apply_legacy_keys(
    settings: &mut Settings,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for keys in LEGACY_MODE_KEYS {
        let mut present: Vec<(&'static str, Entry)> = Vec::new();
        for key in std::iter::once(keys.sticky).chain(keys.use_inflight_queue) {
            if let Some(entry) = settings.remove(key) {
                present.push((key, entry));
            }
        }
        let Some((first_key, first_entry)) = present.first() else {
            continue;
        };
        let mut sticky = false;
        let mut use_inflight_queue = false;
        for (key, entry) in &present {
            let on = parse_bool(&entry.value).map_err(|expected| {
                invalid_value(key, Kind::Bool, &entry.value, &entry.source, expected)
            })?;
            if *key == keys.sticky {
                sticky = on;
            } else {
                use_inflight_queue = on;
            }
        }
        let described = present
            .iter()
            .map(|(key, entry)| format!("{key}={} ({})", entry.value.trim(), entry.source))
            .collect::<Vec<_>>()
            .join(" and ");
        if let Some(current) = settings.get(keys.mode) {
            warnings.push(format!(
                "obsolete {described} ignored: {} is set explicitly ({})",
                keys.mode, current.source
            ));
            continue;
        }
        let mode = match (sticky, use_inflight_queue) {
            (_, true) => "STICKY_EVENTS",
            (true, false) => "STICKY_POLLING",
            (false, false) => "POLLING",
        };
        let note = if use_inflight_queue && !sticky {
            " (Kill Bill documented sticky=true as required with useInflightQ)"
        } else {
            ""
        };
        warnings.push(format!(
            "obsolete {described} taken as {}={mode}{note}",
            keys.mode
        ));
        let entry = Entry {
            value: mode.to_owned(),
            source: Source::Legacy {
                key: first_key,
                origin: Box::new(first_entry.source.clone()),
            },
        };
        settings.insert(keys.mode, entry);
    }

    for (legacy, current) in LEGACY_RENAMED_KEYS {
        let Some(entry) = settings.remove(legacy) else {
            continue;
        };
        if let Some(existing) = settings.get(current) {
            warnings.push(format!(
                "obsolete {legacy} ({}) ignored: {current} is set explicitly ({})",
                entry.source, existing.source
            ));
            continue;
        }
        warnings.push(format!(
            "obsolete {legacy}={} ({}) taken as {current}",
            entry.value.trim(),
            entry.source
        ));
        let renamed = Entry {
            value: entry.value,
            source: Source::Legacy {
                key: legacy,
                origin: Box::new(entry.source),
            },
        };
        settings.insert(*current, renamed);
    }
    Ok(())
}

/// "Same database as the main pool" has to mean the same login too: otherwise a deployment
/// that only sets the main password would have its plugin pool log in with the default one.
fn inherit_plugin_pool_credentials(settings: &mut Settings) {
    let plugin_url_set = settings
        .get(PLUGIN_URL)
        .is_some_and(|entry| !entry.value.trim().is_empty());
    if plugin_url_set {
        return;
    }
    for (main, plugin) in [(MAIN_USER, PLUGIN_USER), (MAIN_PASSWORD, PLUGIN_PASSWORD)] {
        if settings.contains_key(plugin) {
            continue;
        }
        if let Some(entry) = settings.get(main).cloned() {
            let inherited = Entry {
                value: entry.value,
                source: Source::Inherited {
                    from: main,
                    origin: Box::new(entry.source),
                },
            };
            settings.insert(plugin, inherited);
        }
    }
}

fn settle_creator_name(settings: &mut Settings, warnings: &mut Vec<String>) {
    let Some(entry) = settings.get_mut(CREATOR_NAME) else {
        return;
    };
    let trimmed = entry.value.trim();
    if trimmed.is_empty() {
        entry.value = generated_creator_name();
        entry.source = Source::Generated;
    } else if trimmed.chars().count() > CREATOR_NAME_MAX_CHARS {
        let cut: String = trimmed.chars().take(CREATOR_NAME_MAX_CHARS).collect();
        warnings.push(format!(
            "{CREATOR_NAME} ({}) is longer than {CREATOR_NAME_MAX_CHARS} characters; using {cut:?}",
            entry.source
        ));
        entry.value = cut;
    }
}

fn generated_creator_name() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "ferrobill".to_owned());
    creator_name_for(&host, rand::random::<u32>())
}

/// The random suffix survives the 45-character cut: it is what keeps identical host names
/// (pods all called `localhost`, Kill Bill issue 2061) apart.
fn creator_name_for(host: &str, random: u32) -> String {
    let suffix = format!("-{:06x}", random & 0x00ff_ffff);
    let room = CREATOR_NAME_MAX_CHARS - suffix.len();
    let host: String = host.chars().take(room).collect();
    format!("{host}{suffix}")
}

// ---------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------

/// Which env form set a value; earlier variants are more specific and win.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum EnvForm {
    /// `KB_<name>`, Kill Bill's own rule.
    Kb,
    Ferrobill,
    /// A `KILLBILL_*` name for one property (name match or one-target alias).
    Killbill,
    /// A `KILLBILL_*` alias that sets several properties at once.
    KillbillShared,
    DatabaseUrl,
}

fn is_ours(var: &str) -> bool {
    var.starts_with("KB_") || var.starts_with("KILLBILL_") || var.starts_with("FERROBILL_")
}

struct EnvCandidate {
    form: EnvForm,
    var: String,
    value: String,
}

fn read_environment(env: &[(String, String)], warnings: &mut Vec<String>) -> Settings {
    let mut sorted: Vec<&(String, String)> = env.iter().collect();
    sorted.sort();
    let mut candidates: BTreeMap<&'static str, Vec<EnvCandidate>> = BTreeMap::new();
    for (var, value) in sorted {
        for (name, form, value) in env_targets(var, value, warnings) {
            candidates.entry(name).or_default().push(EnvCandidate {
                form,
                var: var.clone(),
                value,
            });
        }
    }

    let mut settings = Settings::new();
    for (name, mut list) in candidates {
        list.sort_by(|a, b| (a.form, &a.var).cmp(&(b.form, &b.var)));
        let Some((winner, others)) = list.split_first() else {
            continue;
        };
        if others.iter().any(|other| other.value != winner.value) {
            let losers = others
                .iter()
                .map(|other| other.var.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            warnings.push(format!(
                "{name} is set by several environment variables with different values; \
                 using {} over {losers} (KB_ > FERROBILL_ > KILLBILL_ > DATABASE_URL)",
                winner.var
            ));
        }
        settings.insert(
            name,
            Entry {
                value: winner.value.clone(),
                source: Source::Env {
                    var: winner.var.clone(),
                },
            },
        );
    }
    settings
}

fn env_targets(
    var: &str,
    value: &str,
    warnings: &mut Vec<String>,
) -> Vec<(&'static str, EnvForm, String)> {
    if let Some(rest) = var.strip_prefix("KB_") {
        let name = rest.replace('_', ".");
        if let Some(name) = known_name(&name) {
            return vec![(name, EnvForm::Kb, value.to_owned())];
        }
        let hint = loose_match(&name)
            .map(|known| format!("; did you mean KB_{}?", known.replace('.', "_")))
            .unwrap_or_default();
        warnings.push(format!(
            "environment variable {var} names {name}, which ferrobill does not support; ignored{hint}"
        ));
        return Vec::new();
    }
    if let Some(rest) = var.strip_prefix("FERROBILL_") {
        return match loose_match(rest) {
            Some(name) => vec![(name, EnvForm::Ferrobill, value.to_owned())],
            None => {
                warnings.push(unknown_variable(var));
                Vec::new()
            }
        };
    }
    if let Some(rest) = var.strip_prefix("KILLBILL_") {
        if let Some((_, targets)) = KILLBILL_ALIASES.iter().find(|(alias, _)| *alias == var) {
            let form = if targets.len() > 1 {
                EnvForm::KillbillShared
            } else {
                EnvForm::Killbill
            };
            return targets
                .iter()
                .map(|target| (*target, form, alias_value(var, target, value, warnings)))
                .collect();
        }
        return match loose_match(rest) {
            Some(name) => vec![(name, EnvForm::Killbill, value.to_owned())],
            None => {
                warnings.push(unknown_variable(var));
                Vec::new()
            }
        };
    }
    if var == "DATABASE_URL" {
        return vec![(MAIN_URL, EnvForm::DatabaseUrl, value.to_owned())];
    }
    Vec::new()
}

/// Kill Bill's image copies `KILLBILL_MAIN_QUEUE_MODE` to the notification queue too, where
/// STICKY_EVENTS makes Kill Bill fail at the first claim; STICKY_POLLING is the sticky mode
/// that queue has.
fn alias_value(var: &str, target: &str, value: &str, warnings: &mut Vec<String>) -> String {
    if target == NOTIFICATION_QUEUE_MODE && value.trim().eq_ignore_ascii_case("STICKY_EVENTS") {
        warnings.push(format!(
            "{var}=STICKY_EVENTS applies to the main bus only; {NOTIFICATION_QUEUE_MODE} gets STICKY_POLLING"
        ));
        return "STICKY_POLLING".to_owned();
    }
    value.to_owned()
}

fn unknown_variable(var: &str) -> String {
    format!("environment variable {var} matches no property ferrobill supports; ignored")
}

// ---------------------------------------------------------------------------------------------
// Properties file
// ---------------------------------------------------------------------------------------------

struct FileLocation {
    path: PathBuf,
    origin: Source,
    required: bool,
}

fn locate_file(
    explicit_file: Option<&Path>,
    env_settings: &Settings,
    default_location: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<Option<FileLocation>, ConfigError> {
    if let Some(path) = explicit_file {
        if let Some(entry) = env_settings.get(SERVER_PROPERTIES) {
            warnings.push(format!(
                "{SERVER_PROPERTIES} ({}) ignored: --config names the file",
                entry.source
            ));
        }
        return Ok(Some(FileLocation {
            path: path.to_owned(),
            origin: Source::CommandLine,
            required: true,
        }));
    }
    if let Some(entry) = env_settings.get(SERVER_PROPERTIES) {
        let value = entry.value.trim();
        if !value.is_empty() {
            let Some(path) = path_from_location(value) else {
                return Err(invalid_value(
                    SERVER_PROPERTIES,
                    TEXT,
                    &entry.value,
                    &entry.source,
                    "a file path or a file:// URI".to_owned(),
                ));
            };
            return Ok(Some(FileLocation {
                path,
                origin: entry.source.clone(),
                required: true,
            }));
        }
    }
    Ok(default_location.map(|path| FileLocation {
        path: path.to_owned(),
        origin: Source::Default,
        required: false,
    }))
}

/// Kill Bill takes a URI (`file:///var/lib/killbill/killbill.properties`); a plain path is
/// accepted too. Other schemes (http, classpath) are not ours to fetch.
fn path_from_location(location: &str) -> Option<PathBuf> {
    if let Some(rest) = location.strip_prefix("file://") {
        let path = if rest.starts_with('/') {
            rest
        } else {
            rest.strip_prefix("localhost")
                .filter(|p| p.starts_with('/'))?
        };
        return Some(PathBuf::from(percent_decode(path)));
    }
    if let Some(rest) = location.strip_prefix("file:") {
        return Some(PathBuf::from(percent_decode(rest)));
    }
    if location.contains("://") {
        return None;
    }
    Some(PathBuf::from(location))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes
            .get(index + 1..index + 3)
            .filter(|_| bytes[index] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn read_file(location: &FileLocation) -> Result<Option<String>, ConfigError> {
    match std::fs::read(&location.path) {
        Ok(bytes) => Ok(Some(decode_file(bytes))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !location.required => {
            Ok(None)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(ConfigError::FileNotFound {
                path: location.path.clone(),
                origin: location.origin.to_string(),
            })
        }
        Err(source) => Err(ConfigError::FileUnreadable {
            path: location.path.clone(),
            source,
        }),
    }
}

/// Java reads properties files as ISO-8859-1; files written today are UTF-8, so UTF-8 is
/// tried first and Latin-1 is the fallback (every byte is a valid Latin-1 character).
fn decode_file(bytes: Vec<u8>) -> String {
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => error.into_bytes().iter().map(|&b| char::from(b)).collect(),
    };
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

fn file_settings(
    text: &str,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<Settings, ConfigError> {
    let lines = parse_properties(text).map_err(|(line, message)| ConfigError::FileSyntax {
        path: path.to_owned(),
        line,
        message,
    })?;
    let mut settings = Settings::new();
    for PropertyLine { key, value, line } in lines {
        let where_ = format!("{} line {line}", path.display());
        match known_name(&key) {
            Some(SERVER_PROPERTIES) => warnings.push(format!(
                "{SERVER_PROPERTIES} in {where_} has no effect inside a properties file; ignored"
            )),
            Some(name) => {
                let source = Source::File {
                    path: path.to_owned(),
                    line,
                };
                if let Some(previous) = settings.insert(name, Entry { value, source }) {
                    warnings.push(format!(
                        "{name} is set twice, {} and line {line}; the later one wins",
                        previous.source
                    ));
                }
            }
            None => {
                let hint = loose_match(&key)
                    .map(|known| format!("; did you mean {known}?"))
                    .unwrap_or_default();
                warnings.push(format!("unknown property {key} in {where_}; ignored{hint}"));
            }
        }
    }
    Ok(settings)
}

#[derive(Debug, PartialEq, Eq)]
struct PropertyLine {
    key: String,
    value: String,
    /// Where the logical line starts (1-based).
    line: usize,
}

/// Java `Properties.load` syntax. Errors carry the line number.
fn parse_properties(text: &str) -> Result<Vec<PropertyLine>, (usize, String)> {
    let natural = natural_lines(text);
    let mut parsed = Vec::new();
    let mut index = 0;
    while index < natural.len() {
        let line = index + 1;
        let first = skip_blanks(natural[index]);
        index += 1;
        // A comment never continues onto the next line, even if it ends in a backslash.
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_owned();
        while ends_in_continuation(&logical) {
            logical.pop();
            let Some(next) = natural.get(index) else {
                break;
            };
            logical.push_str(skip_blanks(next));
            index += 1;
        }
        let (key, value) = split_key_value(&logical);
        parsed.push(PropertyLine {
            key: unescape(key).map_err(|message| (line, message))?,
            value: unescape(value).map_err(|message| (line, message))?,
            line,
        });
    }
    Ok(parsed)
}

fn natural_lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\n' => {
                lines.push(&text[start..index]);
                index += 1;
                start = index;
            }
            b'\r' => {
                lines.push(&text[start..index]);
                index += if bytes.get(index + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = index;
            }
            _ => index += 1,
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

fn skip_blanks(text: &str) -> &str {
    text.trim_start_matches(is_blank)
}

/// An odd number of trailing backslashes: the last one is not itself escaped.
fn ends_in_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// The key ends at the first unescaped `=`, `:` or blank; blanks around a single `=`/`:`
/// separator are skipped; the value keeps its trailing blanks, as in Java.
fn split_key_value(logical: &str) -> (&str, &str) {
    let mut escaped = false;
    for (index, c) in logical.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        if c == '=' || c == ':' || is_blank(c) {
            let key = &logical[..index];
            let mut rest = skip_blanks(&logical[index + c.len_utf8()..]);
            if is_blank(c) {
                if let Some(after) = rest.strip_prefix(['=', ':']) {
                    rest = skip_blanks(after);
                }
            }
            return (key, rest);
        }
    }
    (logical, "")
}

/// Java escapes: `\t \n \r \f \uXXXX`, and a backslash before any other character stands for
/// that character (`\\ \= \: \# \!` and `\ `).
fn unescape(text: &str) -> Result<String, String> {
    // Java strings are UTF-16, so a `\uD83D\uDE00` pair makes one character.
    let mut units: Vec<u16> = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    let mut buffer = [0u16; 2];
    while let Some(c) = chars.next() {
        let decoded = if c == '\\' {
            match chars.next() {
                None => continue,
                Some('t') => '\t',
                Some('n') => '\n',
                Some('r') => '\r',
                Some('f') => '\x0c',
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let valid = hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit());
                    let unit = u16::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|_| valid)
                        .ok_or_else(|| format!("malformed \\uXXXX escape \"\\u{hex}\""))?;
                    units.push(unit);
                    continue;
                }
                Some(other) => other,
            }
        } else {
            c
        };
        units.extend_from_slice(decoded.encode_utf16(&mut buffer));
    }
    Ok(String::from_utf16_lossy(&units))
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Count(u64),
    Bool(bool),
    Duration(Duration),
    Text(String),
    Choice(&'static str),
    Durations(Vec<Duration>),
    Url(Option<String>),
    Users(Vec<(String, String)>),
    Port(u16),
    Ip(IpAddr),
    Latency(Latency),
    Rate(Rate),
}

/// A Kill Bill `List<TimeSpan>` value (`15m,30m,2h,12h,1d`) read outside the configuration
/// (the per-tenant configuration a tenant uploads); the error says what was expected.
pub fn parse_time_span_list(raw: &str) -> Result<Vec<Duration>, String> {
    match parse_value(TIMESPAN_LIST, raw)? {
        Value::Durations(durations) => Ok(durations),
        other => Err(format!("a list of durations, not {other:?}")),
    }
}

/// Checks `raw` against `kind`; the error is what was expected, to finish the message.
fn parse_value(kind: Kind, raw: &str) -> Result<Value, String> {
    match kind {
        Kind::Count { min, max } => parse_count(raw, min, max).map(Value::Count),
        Kind::Bool => parse_bool(raw).map(Value::Bool),
        Kind::Duration { bare, allow_zero } => {
            parse_duration(raw, bare, allow_zero).map(Value::Duration)
        }
        Kind::DurationList { bare } => raw
            .split(',')
            .map(|item| parse_duration(item, bare, false))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Durations)
            .map_err(|expected| format!("a comma-separated list of {expected}")),
        Kind::Text { allow_empty } => {
            let text = raw.trim();
            if text.is_empty() && !allow_empty {
                Err("a non-empty value".to_owned())
            } else {
                Ok(Value::Text(text.to_owned()))
            }
        }
        Kind::Secret => Ok(Value::Text(raw.to_owned())),
        Kind::Choice(allowed) => allowed
            .iter()
            .find(|choice| choice.eq_ignore_ascii_case(raw.trim()))
            .map(|choice| Value::Choice(choice))
            .ok_or_else(|| format!("one of {}", allowed.join(", "))),
        Kind::DatabaseUrl { when_empty } => parse_database_url(raw, when_empty).map(Value::Url),
        Kind::Users => parse_users(raw).map(Value::Users),
        Kind::Port => raw
            .trim()
            .parse::<u16>()
            .map(Value::Port)
            .map_err(|_| "a TCP port from 0 to 65535".to_owned()),
        Kind::IpAddress => raw
            .trim()
            .parse::<IpAddr>()
            .map(Value::Ip)
            .map_err(|_| "an IP address such as 0.0.0.0, 127.0.0.1 or ::".to_owned()),
        Kind::Latency => parse_latency(raw).map(Value::Latency),
        Kind::Rate => parse_rate(raw).map(Value::Rate),
    }
}

/// `50ms` (any duration form; a bare number is milliseconds) or
/// `lognormal:median=50ms,p99=400ms` (keys in any order and case, p99 at least the median).
fn parse_latency(raw: &str) -> Result<Latency, String> {
    const EXPECTED: &str = "a duration such as 50ms, or lognormal:median=50ms,p99=400ms with p99 no less than the median";
    let text = raw.trim();
    let Some(parameters) = text
        .split_once(':')
        .filter(|(shape, _)| shape.trim().eq_ignore_ascii_case("lognormal"))
        .map(|(_, parameters)| parameters)
    else {
        return parse_duration(text, BareNumber::Milliseconds, true)
            .map(Latency::Fixed)
            .map_err(|_| EXPECTED.to_owned());
    };
    let (mut median, mut p99) = (None, None);
    for pair in parameters.split(',') {
        let (key, value) = pair.split_once('=').ok_or(EXPECTED)?;
        let value = parse_duration(value, BareNumber::Milliseconds, false).map_err(|_| EXPECTED)?;
        let slot = match key.trim().to_ascii_lowercase().as_str() {
            "median" => &mut median,
            "p99" => &mut p99,
            _ => return Err(EXPECTED.to_owned()),
        };
        if slot.replace(value).is_some() {
            return Err(EXPECTED.to_owned());
        }
    }
    match (median, p99) {
        (Some(median), Some(p99)) if p99 >= median => Ok(Latency::LogNormal { median, p99 }),
        _ => Err(EXPECTED.to_owned()),
    }
}

/// `0.05` or `5%`, from 0 to 1. Only digits and one dot: Rust's float parser would also take
/// `inf`, `NaN` and `1e-2`, which no operator means.
fn parse_rate(raw: &str) -> Result<Rate, String> {
    const EXPECTED: &str = "a probability from 0 to 1 such as 0.05, or a percentage such as 5%";
    let text = raw.trim();
    let (number, scale) = match text.strip_suffix('%') {
        Some(number) => (number.trim_end(), 100.0),
        None => (text, 1.0),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(EXPECTED.to_owned());
    }
    let probability = number.parse::<f64>().map_err(|_| EXPECTED)? / scale;
    if !(0.0..=1.0).contains(&probability) {
        return Err(EXPECTED.to_owned());
    }
    // In 0..=1_000_000 after the check above, so the cast cannot truncate.
    Ok(Rate((probability * f64::from(Rate::ONE)).round() as u32))
}

fn parse_count(raw: &str, min: u64, max: u64) -> Result<u64, String> {
    let expected = if min == 0 {
        "a non-negative integer"
    } else {
        "a positive integer"
    };
    let text = raw.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected.to_owned());
    }
    match text.parse::<u64>() {
        Ok(number) if number < min => Err(expected.to_owned()),
        Ok(number) if number <= max => Ok(number),
        _ => Err(format!("{expected} no greater than {max}")),
    }
}

/// Only `true` and `false` (any case). Stricter than Kill Bill, where Java's
/// `Boolean.valueOf` silently reads every other word, `yes` and `1` included, as false.
fn parse_bool(raw: &str) -> Result<bool, String> {
    let text = raw.trim();
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("true or false".to_owned())
    }
}

/// Kill Bill's `TimeSpan` forms (`500ms`, `30s`, `5m`, `1h`, `2d`, the long names, one
/// optional blank before the unit), with units matched ignoring case and any number of
/// blanks, both more lenient than Kill Bill.
fn parse_duration(raw: &str, bare: BareNumber, allow_zero: bool) -> Result<Duration, String> {
    let expected = || {
        let unit = match bare {
            BareNumber::Milliseconds => "milliseconds",
            BareNumber::Seconds => "seconds",
        };
        let positive = if allow_zero { "" } else { "positive " };
        format!("a {positive}number of {unit} or a duration such as 500ms, 30s, 5m, 1h or 2d")
    };
    let text = raw.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let amount: u64 = number.parse().map_err(|_| expected())?;
    let unit = unit.trim_start();
    let duration = if unit.is_empty() {
        match bare {
            BareNumber::Milliseconds => Duration::from_millis(amount),
            BareNumber::Seconds => Duration::from_secs(amount),
        }
    } else {
        let millis_per_unit: u64 = match unit.to_ascii_lowercase().as_str() {
            "ms" | "millisecond" | "milliseconds" => 1,
            "s" | "second" | "seconds" => 1_000,
            "m" | "min" | "minute" | "minutes" => 60_000,
            "h" | "hour" | "hours" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            _ => return Err(expected()),
        };
        Duration::from_millis(amount.checked_mul(millis_per_unit).ok_or_else(expected)?)
    };
    if duration.is_zero() && !allow_zero {
        return Err(expected());
    }
    Ok(duration)
}

fn parse_database_url(raw: &str, when_empty: &str) -> Result<Option<String>, String> {
    const SCHEMES: [&str; 3] = ["jdbc:postgresql://", "postgres://", "postgresql://"];
    let url = raw.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let lower = url.to_ascii_lowercase();
    if SCHEMES
        .iter()
        .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len())
    {
        Ok(Some(url.to_owned()))
    } else {
        Err(format!(
            "a PostgreSQL URL (jdbc:postgresql://..., postgres://... or postgresql://...) or {when_empty}"
        ))
    }
}

/// Users are split at the first `:` so that passwords may contain `:`; neither part may be
/// empty, start or end with blanks, or contain a comma.
fn parse_users(raw: &str) -> Result<Vec<(String, String)>, String> {
    const EXPECTED: &str = "comma-separated user:password pairs";
    let mut users: Vec<(String, String)> = Vec::new();
    for (index, item) in raw.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let position = index + 1;
        let Some((user, password)) = item.split_once(':') else {
            return Err(format!("{EXPECTED} (entry {position} has no ':')"));
        };
        let (user, password) = (user.trim(), password.trim());
        if user.is_empty() || password.is_empty() {
            return Err(format!(
                "{EXPECTED} (entry {position} has an empty user or password)"
            ));
        }
        if users.iter().any(|(known, _)| known == user) {
            return Err(format!("{EXPECTED} (user {user} appears twice)"));
        }
        users.push((user.to_owned(), password.to_owned()));
    }
    if users.is_empty() {
        return Err(format!("{EXPECTED}, at least one"));
    }
    Ok(users)
}

fn mask_secret(secret: &str) -> String {
    if secret.is_empty() {
        String::new()
    } else {
        MASK.to_owned()
    }
}

fn mask_users(users: &[(String, String)]) -> String {
    users
        .iter()
        .map(|(user, _)| format!("{user}:{MASK}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Hides a password given in the URL's user info or as a `password=` parameter.
fn mask_url(url: &str) -> String {
    let mut masked = url.to_owned();
    if let Some(scheme_end) = masked.find("://") {
        let start = scheme_end + 3;
        let end = masked[start..]
            .find(['/', '?', '#'])
            .map_or(masked.len(), |offset| start + offset);
        if let Some(at) = masked[start..end].rfind('@') {
            if let Some(colon) = masked[start..start + at].find(':') {
                masked.replace_range(start + colon + 1..start + at, MASK);
            }
        }
    }
    let Some(question) = masked.find('?') else {
        return masked;
    };
    let (base, query) = masked.split_at(question + 1);
    let query = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}={MASK}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{base}{query}")
}

/// How a value appears in the effective dump: canonical where the kind has a canonical
/// spelling, masked where it is secret, as written otherwise.
fn display_value(kind: Kind, raw: &str, value: &Value) -> String {
    match (kind, value) {
        (Kind::Secret, _) => mask_secret(raw),
        (_, Value::Users(users)) => mask_users(users),
        (_, Value::Url(url)) => url.as_deref().map(mask_url).unwrap_or_default(),
        (_, Value::Choice(choice)) => (*choice).to_owned(),
        (_, Value::Bool(on)) => on.to_string(),
        (_, Value::Count(number)) => number.to_string(),
        (_, Value::Port(port)) => port.to_string(),
        (_, Value::Ip(ip)) => ip.to_string(),
        (_, Value::Text(text)) => text.clone(),
        (_, Value::Duration(_))
        | (_, Value::Durations(_))
        | (_, Value::Latency(_))
        | (_, Value::Rate(_)) => raw.trim().to_owned(),
    }
}

/// How a bad value is quoted in an error: never a secret in clear.
fn quoted_for_error(kind: Kind, raw: &str) -> String {
    match kind {
        Kind::Secret | Kind::Users => "<hidden>".to_owned(),
        Kind::DatabaseUrl { .. } => format!("{:?}", mask_url(raw)),
        _ => format!("{raw:?}"),
    }
}

fn invalid_value(
    property: &'static str,
    kind: Kind,
    raw: &str,
    source: &Source,
    expected: String,
) -> ConfigError {
    ConfigError::InvalidValue {
        property,
        value: quoted_for_error(kind, raw),
        origin: source.to_string(),
        expected,
    }
}

/// Every property parsed by its kind, then handed out by typed getters. The getters record
/// what they were asked for, so a test can prove the builder reads every row of the table.
struct Values {
    parsed: HashMap<&'static str, (Value, Source)>,
    effective: Vec<(&'static str, String)>,
    read: RefCell<HashSet<&'static str>>,
}

impl Values {
    fn parse(settings: &Settings) -> Result<Values, ConfigError> {
        let mut parsed = HashMap::new();
        let mut effective = Vec::with_capacity(PROPERTIES.len());
        for property in PROPERTIES {
            let Some(entry) = settings.get(property.name) else {
                continue;
            };
            let value = parse_value(property.kind, &entry.value).map_err(|expected| {
                invalid_value(
                    property.name,
                    property.kind,
                    &entry.value,
                    &entry.source,
                    expected,
                )
            })?;
            effective.push((
                property.name,
                display_value(property.kind, &entry.value, &value),
            ));
            parsed.insert(property.name, (value, entry.source.clone()));
        }
        Ok(Values {
            parsed,
            effective,
            read: RefCell::new(HashSet::new()),
        })
    }

    // A name missing from the table, or read with the wrong getter, is a bug in this file,
    // not bad input; the tests build every property through these getters.
    fn get(&self, name: &str) -> (&'static str, &Value, &Source) {
        let Some((key, (value, source))) = self.parsed.get_key_value(name) else {
            unreachable!("{name} is not in the property table")
        };
        self.read.borrow_mut().insert(*key);
        (*key, value, source)
    }

    fn count(&self, name: &str) -> u64 {
        match self.get(name) {
            (_, Value::Count(number), _) => *number,
            (key, other, _) => unreachable!("{key} is not a count: {other:?}"),
        }
    }

    fn count_u32(&self, name: &str) -> u32 {
        u32::try_from(self.count(name)).unwrap_or(u32::MAX)
    }

    fn flag(&self, name: &str) -> bool {
        match self.get(name) {
            (_, Value::Bool(on), _) => *on,
            (key, other, _) => unreachable!("{key} is not a boolean: {other:?}"),
        }
    }

    fn duration(&self, name: &str) -> Duration {
        match self.get(name) {
            (_, Value::Duration(duration), _) => *duration,
            (key, other, _) => unreachable!("{key} is not a duration: {other:?}"),
        }
    }

    fn durations(&self, name: &str) -> Vec<Duration> {
        match self.get(name) {
            (_, Value::Durations(durations), _) => durations.clone(),
            (key, other, _) => unreachable!("{key} is not a list of durations: {other:?}"),
        }
    }

    fn text(&self, name: &str) -> String {
        match self.get(name) {
            (_, Value::Text(text), _) => text.clone(),
            (key, other, _) => unreachable!("{key} is not text: {other:?}"),
        }
    }

    fn choice(&self, name: &str) -> &'static str {
        match self.get(name) {
            (_, Value::Choice(choice), _) => choice,
            (key, other, _) => unreachable!("{key} is not a choice: {other:?}"),
        }
    }

    fn url(&self, name: &str) -> Option<String> {
        match self.get(name) {
            (_, Value::Url(url), _) => url.clone(),
            (key, other, _) => unreachable!("{key} is not a URL: {other:?}"),
        }
    }

    fn users(&self, name: &str) -> Vec<(String, String)> {
        match self.get(name) {
            (_, Value::Users(users), _) => users.clone(),
            (key, other, _) => unreachable!("{key} is not a user list: {other:?}"),
        }
    }

    fn port(&self, name: &str) -> u16 {
        match self.get(name) {
            (_, Value::Port(port), _) => *port,
            (key, other, _) => unreachable!("{key} is not a port: {other:?}"),
        }
    }

    fn ip(&self, name: &str) -> IpAddr {
        match self.get(name) {
            (_, Value::Ip(ip), _) => *ip,
            (key, other, _) => unreachable!("{key} is not an IP address: {other:?}"),
        }
    }

    fn latency(&self, name: &str) -> Latency {
        match self.get(name) {
            (_, Value::Latency(latency), _) => *latency,
            (key, other, _) => unreachable!("{key} is not a latency: {other:?}"),
        }
    }

    fn rate(&self, name: &str) -> Rate {
        match self.get(name) {
            (_, Value::Rate(rate), _) => *rate,
            (key, other, _) => unreachable!("{key} is not a rate: {other:?}"),
        }
    }

    fn source(&self, name: &str) -> &Source {
        self.get(name).2
    }

    fn queue_mode(&self, name: &str) -> QueueMode {
        match self.choice(name) {
            "STICKY_POLLING" => QueueMode::StickyPolling,
            "STICKY_EVENTS" => QueueMode::StickyEvents,
            _ => QueueMode::Polling,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Building the typed configuration
// ---------------------------------------------------------------------------------------------

/// `ferrobill.embedded.postgresSettings`: `name=value` pairs, comma-separated. Durability is not
/// negotiable: a setting that would lose committed payments is refused.
fn postgres_settings(values: &Values) -> Result<Vec<(String, String)>, ConfigError> {
    const NAME: &str = "ferrobill.embedded.postgresSettings";
    const NOT_OFF: [&str; 3] = ["fsync", "synchronous_commit", "full_page_writes"];
    let text = values.text(NAME);
    let invalid = |expected: &str| {
        let (property, _, source) = values.get(NAME);
        ConfigError::InvalidValue {
            property,
            value: format!("{text:?}"),
            origin: source.to_string(),
            expected: expected.to_owned(),
        }
    };
    let mut settings = Vec::new();
    for entry in text
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let Some((name, value)) = entry.split_once('=') else {
            return Err(invalid("comma-separated name=value PostgreSQL settings"));
        };
        let (name, value) = (name.trim(), value.trim());
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid_name || value.is_empty() {
            return Err(invalid("comma-separated name=value PostgreSQL settings"));
        }
        let lowered = value.to_ascii_lowercase();
        if NOT_OFF.contains(&name) && matches!(lowered.as_str(), "off" | "false" | "0" | "no") {
            return Err(invalid(
                "settings that keep committed data durable (fsync, synchronous_commit and full_page_writes stay on)",
            ));
        }
        settings.push((name.to_string(), value.to_string()));
    }
    Ok(settings)
}

/// `ferrobill.security.trustedProxies`: IP addresses, comma-separated.
fn trusted_proxies(values: &Values) -> Result<Vec<IpAddr>, ConfigError> {
    const NAME: &str = "ferrobill.security.trustedProxies";
    let text = values.text(NAME);
    let mut proxies = Vec::new();
    for entry in text
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let Ok(address) = entry.parse::<IpAddr>() else {
            let (property, _, source) = values.get(NAME);
            return Err(ConfigError::InvalidValue {
                property,
                value: format!("{text:?}"),
                origin: source.to_string(),
                expected: "comma-separated IP addresses".to_owned(),
            });
        };
        proxies.push(address);
    }
    Ok(proxies)
}

/// Connections of the embedded cluster that the pools may not count on: PostgreSQL's reserved
/// superuser slots (3) and ferrobill's LISTEN connections (one per queue, and the cache's).
const EMBEDDED_RESERVED_CONNECTIONS: u32 = 10;

fn build_config(values: &Values, warnings: &mut Vec<String>) -> Result<Config, ConfigError> {
    let server = ServerConfig {
        port: values.port("ferrobill.server.port"),
        bind_address: values.ip("ferrobill.server.bindAddress"),
        max_in_flight: values.count_u32("ferrobill.server.maxInFlight"),
        max_waiting: values.count_u32("ferrobill.server.maxWaiting"),
        request_timeout: values.duration("ferrobill.server.requestTimeout"),
        max_body_size: values.count("ferrobill.server.maxBodySize"),
        shutdown_timeout: values.duration("ferrobill.server.shutdownTimeout"),
    };
    let security = SecurityConfig {
        users: values.users("ferrobill.security.users"),
        tenant_cache_size: values.count_u32("ferrobill.security.tenantCacheSize"),
        admin_users: values
            .text("ferrobill.security.adminUsers")
            .split(',')
            .map(str::trim)
            .filter(|user| !user.is_empty())
            .map(str::to_string)
            .collect(),
        auth_failures_max: values.count_u32("ferrobill.security.authFailures.max"),
        auth_failures_window: values.duration("ferrobill.security.authFailures.window"),
        auth_failures_max_addresses: values
            .count_u32("ferrobill.security.authFailures.maxAddresses"),
        trusted_proxies: trusted_proxies(values)?,
    };
    let main_pool = pool(values, "main", MAIN_POOL_PREFIX, warnings);
    let plugin_pool = pool(values, "osgi", PLUGIN_POOL_PREFIX, warnings);
    let embedded = EmbeddedConfig {
        data_dir: PathBuf::from(values.text("ferrobill.embedded.dataDir")),
        max_connections: values.count_u32("ferrobill.embedded.maxConnections"),
        postgres_settings: postgres_settings(values)?,
    };
    if main_pool.url.is_none() {
        let plugin_share = if plugin_pool.url.is_none() {
            plugin_pool.max_active
        } else {
            0
        };
        // The cluster's own background sessions and the queues' LISTEN connections need a
        // few of its connections too.
        let available = embedded
            .max_connections
            .saturating_sub(EMBEDDED_RESERVED_CONNECTIONS);
        let needed = main_pool.max_active.saturating_add(plugin_share);
        if needed > available {
            let (property, _, source) = values.get("org.killbill.dao.maxActive");
            return Err(ConfigError::InvalidValue {
                property,
                value: format!("{:?}", main_pool.max_active.to_string()),
                origin: source.to_string(),
                expected: format!(
                    "pools that fit in the embedded PostgreSQL: {needed} connections (main \
                     {} + plugin {plugin_share}) but ferrobill.embedded.maxConnections={} \
                     leaves {available}",
                    main_pool.max_active, embedded.max_connections
                ),
            });
        }
    }
    let payment = PaymentConfig {
        plugin_threads: values.count_u32("org.killbill.payment.plugin.threads.nb"),
        plugin_timeout: values.duration("org.killbill.payment.plugin.timeout"),
        global_lock_retries: values.count_u32("org.killbill.payment.globalLock.retries"),
        janitor_rate: values.duration("org.killbill.payment.janitor.rate"),
        janitor_unknown_retries: values.durations("org.killbill.payment.janitor.unknown.retries"),
        janitor_pending_retries: values.durations("org.killbill.payment.janitor.pending.retries"),
        settle_in_one_transaction: values.flag("ferrobill.payment.settleInOneTransaction"),
    };
    let gateway = gateway(values, &payment, warnings)?;
    let main_bus = bus(values, "main", MAIN_BUS_PREFIX)?;
    let external_bus = bus(values, "external", EXTERNAL_BUS_PREFIX)?;
    let notification_queue = notification_queue(values, NOTIFICATION_QUEUE_PREFIX);
    let push_notifications = PushNotificationConfig {
        retries: values.durations("org.killbill.billing.server.notifications.retries"),
        timeout: values.duration("ferrobill.notifications.timeout"),
    };
    let queue_healthcheck = QueueHealthcheckConfig {
        enabled: values.flag("org.killbill.server.queue.healthcheck"),
        period: values.duration("ferrobill.server.queue.healthcheck.period"),
    };
    let cluster = cluster(values)?;
    let log_format = match values.choice("ferrobill.log.format") {
        "json" => LogFormat::Json,
        _ => LogFormat::Text,
    };
    Ok(Config {
        server,
        security,
        main_pool,
        plugin_pool,
        embedded,
        payment,
        gateway,
        main_bus,
        external_bus,
        notification_queue,
        push_notifications,
        queue_healthcheck,
        cluster,
        creator_name: values.text(CREATOR_NAME),
        log_format,
        metrics_enabled: values.flag("ferrobill.metrics.enabled"),
        effective: values.effective.clone(),
    })
}

fn pool(
    values: &Values,
    name: &'static str,
    prefix: &str,
    warnings: &mut Vec<String>,
) -> PoolConfig {
    let key = |suffix: &str| format!("{prefix}{suffix}");
    let max_connection_age = values.duration(&key("maxConnectionAge"));
    let wait_warning = values.duration("ferrobill.log.poolWaitWarning");
    let pool = PoolConfig {
        name,
        url: values.url(&key("url")),
        user: values.text(&key("user")),
        password: values.text(&key("password")),
        max_active: values.count_u32(&key("maxActive")),
        min_idle: values.count_u32(&key("minIdle")),
        connection_timeout: values.duration(&key("connectionTimeout")),
        idle_max_age: values.duration(&key("idleMaxAge")),
        max_connection_age: (!max_connection_age.is_zero()).then_some(max_connection_age),
        wait_warning: (!wait_warning.is_zero()).then_some(wait_warning),
    };
    if pool.min_idle > pool.max_active {
        warnings.push(format!(
            "{prefix}minIdle ({}) is above {prefix}maxActive ({}); the pool keeps at most {} idle",
            pool.min_idle, pool.max_active, pool.max_active
        ));
    }
    pool
}

fn gateway(
    values: &Values,
    payment: &PaymentConfig,
    warnings: &mut Vec<String>,
) -> Result<GatewayConfig, ConfigError> {
    const TIMEOUT_RATE: &str = "ferrobill.gateway.timeoutRate";
    let gateway = GatewayConfig {
        latency: values.latency("ferrobill.gateway.latency"),
        decline_rate: values.rate("ferrobill.gateway.declineRate"),
        error_rate: values.rate("ferrobill.gateway.errorRate"),
        timeout_rate: values.rate(TIMEOUT_RATE),
        hang_time: values.duration("ferrobill.gateway.hangTime"),
        healthy: values.choice("ferrobill.gateway.health") == "healthy",
    };
    // One draw picks at most one failure per call, so the shares cannot exceed the whole.
    let total = [
        gateway.decline_rate,
        gateway.error_rate,
        gateway.timeout_rate,
    ]
    .iter()
    .map(|rate| u64::from(rate.0))
    .sum::<u64>();
    if total > u64::from(Rate::ONE) {
        let (property, _, source) = values.get(TIMEOUT_RATE);
        return Err(ConfigError::InvalidValue {
            property,
            value: format!("{:?}", gateway.timeout_rate.probability().to_string()),
            origin: source.to_string(),
            expected:
                "ferrobill.gateway.declineRate, errorRate and timeoutRate adding up to at most 1"
                    .to_owned(),
        });
    }
    if gateway.hang_time <= payment.plugin_timeout {
        warnings.push(format!(
            "ferrobill.gateway.hangTime ({:?}) is not above org.killbill.payment.plugin.timeout ({:?}): hanging gateway calls will not time out",
            gateway.hang_time, payment.plugin_timeout
        ));
    }
    Ok(gateway)
}

/// `base` with the `ferrobill.gateway.*` settings of a tenant's plugin configuration applied
/// (latency, the three rates, hangTime; other names are ignored), each read as in a properties
/// file. The error says which setting is wrong and what was expected.
pub fn gateway_with_overrides(
    base: &GatewayConfig,
    settings: &[(&str, &str)],
) -> Result<GatewayConfig, String> {
    let mut gateway = base.clone();
    for (name, raw) in settings {
        let invalid = |expected: String| format!("{name}={raw}: expected {expected}");
        match *name {
            "ferrobill.gateway.latency" => match parse_value(LATENCY, raw).map_err(invalid)? {
                Value::Latency(latency) => gateway.latency = latency,
                other => return Err(invalid(format!("a latency, not {other:?}"))),
            },
            "ferrobill.gateway.declineRate"
            | "ferrobill.gateway.errorRate"
            | "ferrobill.gateway.timeoutRate" => {
                let Value::Rate(rate) = parse_value(RATE, raw).map_err(invalid)? else {
                    return Err(invalid("a rate".to_owned()));
                };
                match *name {
                    "ferrobill.gateway.declineRate" => gateway.decline_rate = rate,
                    "ferrobill.gateway.errorRate" => gateway.error_rate = rate,
                    _ => gateway.timeout_rate = rate,
                }
            }
            "ferrobill.gateway.hangTime" => {
                match parse_value(POSITIVE_SECONDS, raw).map_err(invalid)? {
                    Value::Duration(duration) => gateway.hang_time = duration,
                    other => return Err(invalid(format!("a duration, not {other:?}"))),
                }
            }
            _ => {}
        }
    }
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
            "ferrobill.gateway.declineRate, errorRate and timeoutRate add up to more than 1"
                .to_owned(),
        );
    }
    Ok(gateway)
}

fn bus(values: &Values, name: &'static str, prefix: &str) -> Result<BusConfig, ConfigError> {
    let key = |suffix: &str| format!("{prefix}{suffix}");
    let bus = BusConfig {
        name,
        in_memory: values.flag(&key("inMemory")),
        off: values.flag(&key("off")),
        mode: values.queue_mode(&key("queue.mode")),
        claimed: values.count_u32(&key("claimed")),
        nb_threads: values.count_u32(&key("nbThreads")),
        queue_capacity: values.count_u32(&key("queue.capacity")),
        sleep: values.duration(&key("sleep")),
        max_failure_retry: values.count_u32(&key("max.failure.retry")),
        claim_time: values.duration(&key("claim.time")),
        reap_threshold: values.duration(&key("reapThreshold")),
        max_redispatch_count: values.count_u32(&key("maxReDispatchCount")),
        reap_schedule: values.duration(&key("reapSchedule")),
        inflight_min: values.count_u32(&key("inflight.min")),
        inflight_max: values.count_u32(&key("inflight.max")),
    };
    // The dispatcher waits for inflight.min entries but takes at most inflight.max: with
    // min above max it could never be satisfied.
    if bus.inflight_min > bus.inflight_max {
        let min_key = key("inflight.min");
        let (property, _, source) = values.get(&min_key);
        return Err(ConfigError::InvalidValue {
            property,
            value: format!("{:?}", bus.inflight_min.to_string()),
            origin: source.to_string(),
            expected: format!(
                "no more than {prefix}inflight.max ({}, from {})",
                bus.inflight_max,
                values.source(&key("inflight.max"))
            ),
        });
    }
    Ok(bus)
}

fn cluster(values: &Values) -> Result<ClusterConfig, ConfigError> {
    let cluster = ClusterConfig {
        heartbeat: values.duration("ferrobill.cluster.heartbeat"),
        dead_after: values.duration("ferrobill.cluster.deadAfter"),
    };
    // A node must be able to miss one heartbeat (a slow write, a pause) without being taken
    // over while it still works.
    if cluster.dead_after < cluster.heartbeat * 2 {
        let (property, _, source) = values.get("ferrobill.cluster.deadAfter");
        return Err(ConfigError::InvalidValue {
            property,
            value: format!("\"{}ms\"", cluster.dead_after.as_millis()),
            origin: source.to_string(),
            expected: format!(
                "at least twice ferrobill.cluster.heartbeat ({:?}, from {})",
                cluster.heartbeat,
                values.source("ferrobill.cluster.heartbeat")
            ),
        });
    }
    Ok(cluster)
}

fn notification_queue(values: &Values, prefix: &str) -> NotificationQueueConfig {
    let key = |suffix: &str| format!("{prefix}{suffix}");
    NotificationQueueConfig {
        name: "main",
        off: values.flag(&key("notification.off")),
        mode: values.queue_mode(&key("queue.mode")),
        claimed: values.count_u32(&key("claimed")),
        nb_threads: values.count_u32(&key("notification.nbThreads")),
        queue_capacity: values.count_u32(&key("queue.capacity")),
        sleep: values.duration(&key("sleep")),
        max_failure_retry: values.count_u32(&key("max.failure.retry")),
        claim_time: values.duration(&key("claim.time")),
        reap_threshold: values.duration(&key("reapThreshold")),
        max_redispatch_count: values.count_u32(&key("maxReDispatchCount")),
        reap_schedule: values.duration(&key("reapSchedule")),
    }
}

// ---------------------------------------------------------------------------------------------
// Debug without secrets
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Reference files generated from the table
// ---------------------------------------------------------------------------------------------

/// The sample properties file: every property commented out at its default, by group.
pub fn properties_file_template() -> String {
    let mut out = String::new();
    out.push_str("# ferrobill configuration (generated from the property table in config.rs).\n");
    out.push_str("#\n");
    out.push_str(
        "# Every supported property, commented out at its default. Uncomment to change.\n",
    );
    out.push_str("# Precedence: built-in defaults < this file < environment variables\n");
    out.push_str(
        "# (KB_org_killbill_dao_maxActive, KILLBILL_DAO_MAX_ACTIVE, FERROBILL_SERVER_PORT,\n",
    );
    out.push_str("# DATABASE_URL); see configuration.md.\n");
    let mut group = None;
    for property in PROPERTIES {
        if group != Some(property.group) {
            group = Some(property.group);
            out.push('\n');
            out.push_str(&format!(
                "# --- {}: {}\n",
                property.group.title(),
                property.group.explanation()
            ));
        }
        out.push_str(&format!("# {}\n", property.doc));
        out.push_str(&format!("#{}={}\n", property.name, property.default));
    }
    out
}

/// The Markdown reference: every property, then where values come from.
pub fn markdown_reference() -> String {
    let mut out = String::new();
    out.push_str("# ferrobill configuration\n\n");
    out.push_str(
        "Generated from the property table in `config.rs`; do not edit by hand \
         (`cargo test -- --ignored regenerate_reference_files` rewrites it).\n\n",
    );
    out.push_str(
        "Kill Bill's property names and defaults are kept wherever Kill Bill has the \
         property; `ferrobill.*` properties are ferrobill's own.\n\n",
    );
    out.push_str("## Properties\n");
    let mut group = None;
    for property in PROPERTIES {
        if group != Some(property.group) {
            group = Some(property.group);
            out.push_str(&format!(
                "\n### {}\n\n{}\n\n| Property | Default | Meaning |\n|---|---|---|\n",
                property.group.title(),
                property.group.explanation()
            ));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            property.name,
            markdown_default(property.default),
            property.doc.replace('|', "\\|")
        ));
    }
    out.push_str(ENVIRONMENT_DOC);
    out.push_str("\n### Kill Bill Docker aliases\n\n");
    out.push_str(
        "`KILLBILL_*` names from Kill Bill's Docker image that do not follow the property \
         names. An alias with several properties sets all of them.\n\n",
    );
    out.push_str("| Variable | Properties |\n|---|---|\n");
    for (alias, targets) in KILLBILL_ALIASES {
        let targets = targets
            .iter()
            .map(|target| format!("`{target}`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!("| `{alias}` | {targets} |\n"));
    }
    out.push_str(LEGACY_DOC);
    out.push_str("\n| Legacy key | Becomes |\n|---|---|\n");
    for keys in LEGACY_MODE_KEYS {
        out.push_str(&format!(
            "| `{}` | `{}` (`true`: STICKY_POLLING) |\n",
            keys.sticky, keys.mode
        ));
        if let Some(use_inflight_queue) = keys.use_inflight_queue {
            out.push_str(&format!(
                "| `{use_inflight_queue}` | `{}` (`true`: STICKY_EVENTS) |\n",
                keys.mode
            ));
        }
    }
    for (legacy, current) in LEGACY_RENAMED_KEYS {
        out.push_str(&format!("| `{legacy}` | `{current}` |\n"));
    }
    out.push_str(PER_TENANT_DOC);
    out.push_str(VALUES_DOC);
    out
}

fn markdown_default(default: &str) -> String {
    if default.is_empty() {
        "*(empty)*".to_owned()
    } else {
        format!("`{default}`")
    }
}

const ENVIRONMENT_DOC: &str = "
## Where values come from

Built-in defaults < the properties file < the environment. Every problem that does not stop
the server (unknown names, legacy keys, conflicts) is reported as one warning line at startup,
followed by every property with its effective value (secrets masked).

### The properties file

1. `--config PATH`, if given; the file must exist.
2. Otherwise `org.killbill.server.properties` from the environment
   (`KB_org_killbill_server_properties`, `KILLBILL_SERVER_PROPERTIES` or
   `FERROBILL_SERVER_PROPERTIES`): a path or a `file:///path` URI (the form Kill Bill's image
   passes as a JVM property). The file must exist.
3. Otherwise `config/ferrobill.properties` under the working directory, if it exists.

Java properties syntax: `key=value`, `key: value` or `key value`; `#` and `!` comments; blank
lines; a trailing backslash continues a line; leading blanks are ignored; escapes `\\t \\n \\r
\\f \\\\ \\= \\: \\uXXXX`. The file is read as UTF-8, or as ISO-8859-1 (Java's encoding) if it
is not valid UTF-8. Unknown keys are reported and ignored.

### Environment variables

| Form | Example | Rule |
|---|---|---|
| `KB_<name>` | `KB_org_killbill_dao_maxActive` | Kill Bill's rule: drop `KB_`, every `_` becomes `.`, case kept. Must name a property exactly. |
| `FERROBILL_<name>` | `FERROBILL_SERVER_PORT` | Matched ignoring case, dots and underscores; the name may leave out a leading `org.killbill.`, `org.killbill.billing.`, `org.killbill.persistent.` or `ferrobill.`. |
| `KILLBILL_<name>` | `KILLBILL_DAO_MAX_ACTIVE`, `KILLBILL_OSGI_DAO_URL`, `KILLBILL_BUS_MAIN_CLAIMED` | Same matching as `FERROBILL_`, plus the Docker aliases below. |
| `DATABASE_URL` | `postgres://user:pw@db/killbill` | Sets `org.killbill.dao.url`. |

When several variables set the same property, the most specific wins: `KB_` over
`FERROBILL_` over `KILLBILL_` (one property) over `KILLBILL_` aliases that set several
properties over `DATABASE_URL`; if their values differ, a warning names them. The environment
wins over the file, with a warning when the values differ. A `KB_`, `KILLBILL_` or
`FERROBILL_` variable that matches no property is reported and ignored; other variables are
ignored silently.

`KILLBILL_OSGI_DAO_*` set the plugin pool only. Kill Bill's Docker image also copies
`KILLBILL_DAO_*` onto the plugin pool; ferrobill does not, but an empty plugin pool URL means
the main pool's database with the main pool's user and password (unless the plugin pool's
are set).

`KILLBILL_MAIN_QUEUE_MODE=STICKY_EVENTS` gives the notification queue STICKY_POLLING, the only
sticky mode it has.
";

const LEGACY_DOC: &str = "
### Legacy keys

Queue keys from Kill Bill releases before `queue.mode` (2015) are still accepted, in the file
and in the environment, and each one is reported with what it became. They are ignored, with
a warning, when the current key is also set.
";

const PER_TENANT_DOC: &str = "
## Per-tenant configuration

A tenant may upload a JSON object of property names and values
(`POST /1.0/kb/tenants/uploadPerTenantConfig`, text body) that overrides these properties for
its own work, as in Kill Bill. Any upload is stored and served as given; ferrobill applies
`org.killbill.billing.server.notifications.retries` (the tenant's push-notification retry
schedule). The other properties Kill Bill reads per tenant are stored only:
`org.killbill.billing.server.event.post.type.skip`,
`org.killbill.billing.server.event.dispatch.type.skip`,
`org.killbill.billing.server.event.bulk.subscription.aggregate`,
`org.killbill.payment.retry.days`, `org.killbill.payment.failure.retry.start.sec`,
`org.killbill.payment.failure.retry.multiplier`,
`org.killbill.payment.failure.retry.max.attempts`,
`org.killbill.payment.janitor.unknown.retries`,
`org.killbill.payment.janitor.pending.retries`, `org.killbill.payment.invoice.plugin`,
`org.killbill.rescheduleIntervalOnLock`,
`org.killbill.subscription.align.effectiveDateForExistingSubscriptions` and the
`org.killbill.invoice.*` properties. An upload that is not a JSON object, or a value that does
not parse, is logged and the node's value applies.

The simulated gateway reads its own per-tenant settings from the plugin configuration a tenant
uploads (`POST /1.0/kb/tenants/uploadPluginConfig/killbill-stripe` or `…/ferrobill-gateway`):
`ferrobill.gateway.latency`, `declineRate`, `errorRate`, `timeoutRate` and `hangTime` lines
override the properties above for that tenant ([gateway.md](gateway.md)).

## Users and roles

Kill Bill's users come from `shiro.ini` (default `admin`/`password`, role `root = *:*`) and
from its database. ferrobill's come from `ferrobill.security.users` and from its database
(`/1.0/kb/security/users` and `/1.0/kb/security/roles`):

| user | holds |
|---|---|
| in `ferrobill.security.users` and `ferrobill.security.adminUsers` | the built-in role `admin`: `*:*`, every permission |
| in `ferrobill.security.users` only | every permission outside the `admin` and `user` groups (`account:*`, `payment:*`, `tenant_kvs:*`, …) |
| created through `/1.0/kb/security/users` | the permissions of its roles |

Built-in roles are not stored: `/1.0/kb/security/roles/admin` shows only a role of that name
defined through the API. [security.md](security.md) describes the permission checks.
";

const VALUES_DOC: &str = "
## Values

- Durations: `500ms`, `30s`, `5m`, `1h`, `2d` or the long names (`milliseconds`, `seconds`,
  `minutes`, `hours`, `days`, singular too, `min`), with or without a blank before the unit,
  any case. A bare number is read in the property's documented unit: seconds for
  `org.killbill.payment.plugin.timeout`, `ferrobill.server.requestTimeout`,
  `ferrobill.server.shutdownTimeout` and `ferrobill.server.queue.healthcheck.period`;
  milliseconds for every other duration (the unit Kill Bill converts them to; Kill Bill's own
  `TimeSpan` rejects a bare number, ferrobill accepts it as real manifests use it).
- Booleans: `true` or `false`, any case. Anything else is an error (Kill Bill silently reads
  it as false).
- Choices (queue modes, log format, gateway health): any case.
- Gateway latency (`ferrobill.gateway.latency`): a duration (`50ms`, fixed), or
  `lognormal:median=50ms,p99=400ms` (a log-normal distribution with that median and 99th
  percentile; p99 no less than the median; draws are capped at ten times p99).
- Rates (`ferrobill.gateway.*Rate`): a probability from `0` to `1` (`0.05`) or a percentage
  (`5%`). `0` never draws a random number.
- Integers: plain digits; sizes and thread counts must be at least 1.
- Surrounding blanks are ignored, except in passwords.
- A bad value stops startup with one line naming the property, the value, where it came from
  and what was expected, e.g. `invalid value \"abc\" for org.killbill.dao.maxActive (from
  environment variable KILLBILL_DAO_MAXACTIVE): expected a positive integer`.
";

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Where the generated reference files live; in the main repository the properties file
    /// is `config/ferrobill.properties`.
    const PROPERTIES_FILE_PATH: &str = "config/ferrobill.properties";
    const MARKDOWN_PATH: &str = "docs/configuration.md";

    fn find_property(name: &str) -> Option<&'static Property> {
        PROPERTIES.iter().find(|p| p.name == name)
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    /// Loads with no default file location, so the tests never depend on the working directory.
    fn load_env(pairs: &[(&str, &str)]) -> Result<LoadedConfig, ConfigError> {
        load_layers(None, &env(pairs), None)
    }

    fn loaded(pairs: &[(&str, &str)]) -> LoadedConfig {
        match load_env(pairs) {
            Ok(loaded) => loaded,
            Err(error) => panic!("unexpected error: {error}"),
        }
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        match Config::from_properties(pairs) {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn env_error(pairs: &[(&str, &str)]) -> String {
        match load_env(pairs) {
            Ok(loaded) => panic!("expected an error, got {:?}", loaded.config),
            Err(error) => error.to_string(),
        }
    }

    fn config(pairs: &[(&str, &str)]) -> Config {
        match Config::from_properties(pairs) {
            Ok(config) => config,
            Err(error) => panic!("unexpected error: {error}"),
        }
    }

    fn effective(config: &Config, name: &str) -> String {
        config
            .effective_properties()
            .into_iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
            .unwrap_or_else(|| panic!("{name} missing from effective properties"))
    }

    fn has_warning(loaded: &LoadedConfig, needle: &str) -> bool {
        loaded
            .warnings
            .iter()
            .any(|warning| warning.contains(needle))
    }

    struct TempFile(PathBuf);

    impl TempFile {
        fn new(contents: &[u8]) -> TempFile {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "ferrobill-config-test-{}-{}.properties",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::write(&path, contents).expect("write temp file");
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    // --- the table -----------------------------------------------------------------------

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
    fn property_names_are_unique_and_groups_contiguous() {
        let mut seen = HashSet::new();
        for property in PROPERTIES {
            assert!(seen.insert(property.name), "{} twice", property.name);
        }
        let mut finished_groups = Vec::new();
        let mut current = None;
        for property in PROPERTIES {
            if current != Some(property.group) {
                assert!(
                    !finished_groups.contains(&property.group),
                    "group {:?} is split",
                    property.group
                );
                if let Some(done) = current {
                    finished_groups.push(done);
                }
                current = Some(property.group);
            }
        }
    }

    #[test]
    fn builder_reads_every_property() {
        let mut settings = Settings::new();
        for property in PROPERTIES {
            settings.insert(
                property.name,
                Entry {
                    value: property.default.to_owned(),
                    source: Source::Default,
                },
            );
        }
        settle_creator_name(&mut settings, &mut Vec::new());
        let values = Values::parse(&settings).expect("defaults parse");
        build_config(&values, &mut Vec::new()).expect("defaults build");
        let read = values.read.borrow();
        for property in PROPERTIES {
            // Only locates the file; LoadedConfig::file carries the result.
            if property.name == SERVER_PROPERTIES {
                continue;
            }
            assert!(
                read.contains(property.name),
                "{} is never read",
                property.name
            );
        }
    }

    #[test]
    fn no_two_names_share_a_loose_spelling() {
        let mut owners: HashMap<String, &str> = HashMap::new();
        for name in known_names() {
            for spelling in loose_spellings(name) {
                if let Some(other) = owners.insert(spelling.clone(), name) {
                    assert_eq!(
                        other, name,
                        "{other} and {name} both normalize to {spelling}"
                    );
                }
            }
        }
    }

    #[test]
    fn docker_aliases_point_at_known_names_and_shadow_nothing() {
        for (alias, targets) in KILLBILL_ALIASES {
            for target in *targets {
                assert!(known_name(target).is_some(), "{alias} → unknown {target}");
            }
            let rest = alias.trim_start_matches("KILLBILL_");
            assert_eq!(
                loose_match(rest),
                None,
                "{alias} also matches a property name"
            );
        }
        for (legacy, current) in LEGACY_RENAMED_KEYS {
            assert!(
                find_property(current).is_some(),
                "{legacy} → unknown {current}"
            );
        }
        for keys in LEGACY_MODE_KEYS {
            assert!(find_property(keys.mode).is_some());
        }
    }

    #[test]
    fn properties_accessors_expose_the_table() {
        let max_active = properties()
            .iter()
            .find(|p| p.name() == "org.killbill.dao.maxActive")
            .expect("maxActive in table");
        assert_eq!(max_active.default(), "32");
        assert!(!max_active.doc().is_empty());
        assert!(!max_active.is_secret());
        let password = find_property(MAIN_PASSWORD).expect("password in table");
        assert!(password.is_secret());
        for property in properties() {
            assert!(!property.doc().is_empty(), "{} has no doc", property.name());
            assert!(
                !property.doc().contains('\n'),
                "{} doc is not one line",
                property.name()
            );
        }
    }

    // --- environment forms ---------------------------------------------------------------

    #[test]
    fn kb_form_follows_kill_bills_rule() {
        let l = loaded(&[
            ("KB_org_killbill_dao_maxActive", "42"),
            (
                "KB_org_killbill_persistent_bus_main_queue_mode",
                "STICKY_EVENTS",
            ),
            ("KB_org_killbill_notificationq_main_max_failure_retry", "7"),
        ]);
        assert_eq!(l.config.main_pool.max_active, 42);
        assert_eq!(l.config.main_bus.mode, QueueMode::StickyEvents);
        assert_eq!(l.config.notification_queue.max_failure_retry, 7);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn kb_form_is_case_sensitive_like_kill_bill() {
        let l = loaded(&[("KB_org_killbill_dao_maxactive", "42")]);
        assert_eq!(l.config.main_pool.max_active, 32);
        assert!(has_warning(
            &l,
            "did you mean KB_org_killbill_dao_maxActive?"
        ));
    }

    #[test]
    fn killbill_and_ferrobill_forms_match_loosely() {
        let cases: &[(&str, &str)] = &[
            ("KILLBILL_DAO_MAXACTIVE", "org.killbill.dao.maxActive"),
            ("KILLBILL_DAO_MAX_ACTIVE", "org.killbill.dao.maxActive"),
            (
                "KILLBILL_PAYMENT_PLUGIN_THREADS_NB",
                "org.killbill.payment.plugin.threads.nb",
            ),
            (
                "KILLBILL_OSGI_DAO_MAXACTIVE",
                "org.killbill.billing.osgi.dao.maxActive",
            ),
            (
                "KILLBILL_OSGI_DAO_MAX_ACTIVE",
                "org.killbill.billing.osgi.dao.maxActive",
            ),
            ("FERROBILL_SERVER_PORT", "ferrobill.server.port"),
            (
                "KILLBILL_QUEUE_CREATOR_NAME",
                "org.killbill.queue.creator.name",
            ),
            (
                "KILLBILL_BUS_MAIN_CLAIMED",
                "org.killbill.persistent.bus.main.claimed",
            ),
            (
                "KILLBILL_NOTIFICATIONQ_MAIN_CLAIMED",
                "org.killbill.notificationq.main.claimed",
            ),
            (
                "FERROBILL_ORG_KILLBILL_DAO_MAXACTIVE",
                "org.killbill.dao.maxActive",
            ),
            ("FERROBILL_LOG_FORMAT", "ferrobill.log.format"),
        ];
        for (var, property) in cases {
            let rest = var
                .strip_prefix("KILLBILL_")
                .or_else(|| var.strip_prefix("FERROBILL_"))
                .expect("prefixed");
            assert_eq!(loose_match(rest), Some(*property), "{var}");
        }
        let l = loaded(&[
            ("KILLBILL_DAO_MAX_ACTIVE", "12"),
            ("KILLBILL_OSGI_DAO_MAXACTIVE", "13"),
            ("KILLBILL_PAYMENT_PLUGIN_THREADS_NB", "4"),
            ("FERROBILL_SERVER_PORT", "9090"),
            ("KILLBILL_QUEUE_CREATOR_NAME", "node-a"),
            ("KILLBILL_BUS_MAIN_SLEEP", "250"),
            ("KILLBILL_NOTIFICATIONQ_MAIN_SLEEP", "1s"),
            ("FERROBILL_LOG_FORMAT", "JSON"),
        ]);
        let c = &l.config;
        assert_eq!(c.main_pool.max_active, 12);
        assert_eq!(c.plugin_pool.max_active, 13);
        assert_eq!(c.payment.plugin_threads, 4);
        assert_eq!(c.server.port, 9090);
        assert_eq!(c.creator_name, "node-a");
        assert_eq!(c.main_bus.sleep, Duration::from_millis(250));
        assert_eq!(c.notification_queue.sleep, Duration::from_secs(1));
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn docker_aliases_fan_out() {
        let l = loaded(&[
            ("KILLBILL_MAIN_QUEUE_MODE", "STICKY_POLLING"),
            ("KILLBILL_MAX_FAILURE_RETRY", "9"),
            ("KILLBILL_PLUGIN_THREADS_NB", "6"),
            ("KILLBILL_MAIN_CLAIM_TIME", "7m"),
            ("KILLBILL_MAIN_NOTIFICATION_NB_THREADS", "3"),
        ]);
        let c = &l.config;
        assert_eq!(c.main_bus.mode, QueueMode::StickyPolling);
        assert_eq!(c.notification_queue.mode, QueueMode::StickyPolling);
        assert_eq!(c.external_bus.mode, QueueMode::Polling);
        assert_eq!(c.main_bus.max_failure_retry, 9);
        assert_eq!(c.external_bus.max_failure_retry, 9);
        assert_eq!(c.notification_queue.max_failure_retry, 9);
        assert_eq!(c.payment.plugin_threads, 6);
        assert_eq!(c.main_bus.claim_time, Duration::from_secs(420));
        assert_eq!(c.notification_queue.claim_time, Duration::from_secs(420));
        assert_eq!(c.notification_queue.nb_threads, 3);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn sticky_events_alias_gives_notification_queue_sticky_polling() {
        let l = loaded(&[("KILLBILL_MAIN_QUEUE_MODE", "sticky_events")]);
        assert_eq!(l.config.main_bus.mode, QueueMode::StickyEvents);
        assert_eq!(l.config.notification_queue.mode, QueueMode::StickyPolling);
        assert!(has_warning(
            &l,
            "KILLBILL_MAIN_QUEUE_MODE=STICKY_EVENTS applies to the main bus only"
        ));
    }

    #[test]
    fn database_url_sets_the_main_pool() {
        let l = loaded(&[("DATABASE_URL", "postgres://kb:secret@db:5432/killbill")]);
        assert_eq!(
            l.config.main_pool.url.as_deref(),
            Some("postgres://kb:secret@db:5432/killbill")
        );
        assert_eq!(l.config.plugin_pool.url, None);
    }

    #[test]
    fn unknown_names_warn_and_other_variables_are_ignored() {
        let l = loaded(&[
            ("KB_org_killbill_catalog_uri", "x"),
            ("KILLBILL_CATALOG_URI", "x"),
            ("FERROBILL_NO_SUCH_THING", "x"),
            ("PATH", "/usr/bin"),
            ("HOME", "/root"),
            ("KILLBILLING", "x"),
        ]);
        assert_eq!(l.warnings.len(), 3, "{:?}", l.warnings);
        assert!(has_warning(
            &l,
            "KB_org_killbill_catalog_uri names org.killbill.catalog.uri"
        ));
        assert!(has_warning(&l, "KILLBILL_CATALOG_URI matches no property"));
        assert!(has_warning(
            &l,
            "FERROBILL_NO_SUCH_THING matches no property"
        ));
    }

    // --- precedence ----------------------------------------------------------------------

    #[test]
    fn most_specific_env_form_wins_with_a_warning() {
        let l = loaded(&[
            ("DATABASE_URL", "postgres://a/one"),
            ("KILLBILL_DAO_URL", "postgres://b/two"),
            ("KB_org_killbill_dao_url", "postgres://c/three"),
        ]);
        assert_eq!(
            l.config.main_pool.url.as_deref(),
            Some("postgres://c/three")
        );
        assert!(has_warning(
            &l,
            "using KB_org_killbill_dao_url over KILLBILL_DAO_URL, DATABASE_URL"
        ));

        let l = loaded(&[
            ("DATABASE_URL", "postgres://a/one"),
            ("KILLBILL_DAO_URL", "postgres://b/two"),
        ]);
        assert_eq!(l.config.main_pool.url.as_deref(), Some("postgres://b/two"));

        let l = loaded(&[
            ("KILLBILL_SERVER_PORT", "1"),
            ("FERROBILL_SERVER_PORT", "2"),
        ]);
        assert_eq!(l.config.server.port, 2);
    }

    #[test]
    fn same_value_from_several_forms_is_no_conflict() {
        let l = loaded(&[
            ("DATABASE_URL", "postgres://a/one"),
            ("KB_org_killbill_dao_url", "postgres://a/one"),
        ]);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn specific_variable_beats_shared_alias() {
        let l = loaded(&[
            ("KILLBILL_MAX_FAILURE_RETRY", "9"),
            ("KILLBILL_BUS_EXTERNAL_MAX_FAILURE_RETRY", "1"),
        ]);
        assert_eq!(l.config.external_bus.max_failure_retry, 1);
        assert_eq!(l.config.main_bus.max_failure_retry, 9);
        assert!(has_warning(
            &l,
            "using KILLBILL_BUS_EXTERNAL_MAX_FAILURE_RETRY over KILLBILL_MAX_FAILURE_RETRY"
        ));
    }

    #[test]
    fn environment_beats_file_beats_default() {
        let file = TempFile::new(b"org.killbill.dao.maxActive=20\norg.killbill.dao.minIdle=2\n");
        let loaded = Config::load_from(Some(&file.0), &env(&[("KILLBILL_DAO_MAX_ACTIVE", "30")]))
            .expect("loads");
        assert_eq!(loaded.config.main_pool.max_active, 30);
        assert_eq!(loaded.config.main_pool.min_idle, 2);
        assert_eq!(
            loaded.config.main_pool.idle_max_age,
            Duration::from_secs(3600)
        );
        assert_eq!(loaded.file.as_deref(), Some(file.0.as_path()));
        assert!(has_warning(
            &loaded,
            "org.killbill.dao.maxActive: environment variable KILLBILL_DAO_MAX_ACTIVE overrides the value from file"
        ));
    }

    // --- value kinds ---------------------------------------------------------------------

    #[test]
    fn durations_accept_kill_bills_forms() {
        let cases: &[(&str, u64)] = &[
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("2d", 172_800_000),
            ("5 milliseconds", 5),
            ("1 millisecond", 1),
            ("7seconds", 7_000),
            ("1second", 1_000),
            ("7min", 420_000),
            ("15minutes", 900_000),
            ("25hours", 90_000_000),
            ("1day", 86_400_000),
            ("5 h", 18_000_000),
            ("  10S ", 10_000),
            ("0", 0),
            ("0m", 0),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_duration(text, BareNumber::Milliseconds, true),
                Ok(Duration::from_millis(*millis)),
                "{text}"
            );
        }
        assert_eq!(
            parse_duration("5", BareNumber::Seconds, true),
            Ok(Duration::from_secs(5))
        );
        for bad in [
            "5x",
            "-1s",
            "1.5s",
            "s",
            "",
            "99999999999999999999d",
            "1 2s",
        ] {
            assert!(
                parse_duration(bad, BareNumber::Milliseconds, true).is_err(),
                "{bad}"
            );
        }
        assert!(parse_duration("0s", BareNumber::Milliseconds, false).is_err());
    }

    #[test]
    fn queue_sleep_is_milliseconds_when_bare() {
        let c = config(&[
            ("org.killbill.persistent.bus.main.sleep", "250"),
            ("org.killbill.persistent.bus.external.sleep", "3s"),
            ("org.killbill.notificationq.main.sleep", "0"),
        ]);
        assert_eq!(c.main_bus.sleep, Duration::from_millis(250));
        assert_eq!(c.external_bus.sleep, Duration::from_secs(3));
        assert_eq!(c.notification_queue.sleep, Duration::ZERO);
    }

    #[test]
    fn bare_numbers_are_read_in_each_propertys_documented_unit() {
        let c = config(&[
            ("org.killbill.dao.connectionTimeout", "1500"),
            ("org.killbill.payment.plugin.timeout", "20"),
        ]);
        assert_eq!(c.main_pool.connection_timeout, Duration::from_millis(1500));
        assert_eq!(c.payment.plugin_timeout, Duration::from_secs(20));
        assert_eq!(
            error_of(&[("org.killbill.dao.connectionTimeout", "0")]),
            "invalid value \"0\" for org.killbill.dao.connectionTimeout (from properties given by the caller): \
             expected a positive number of milliseconds or a duration such as 500ms, 30s, 5m, 1h or 2d"
        );
        let c = config(&[("org.killbill.dao.maxConnectionAge", "30m")]);
        assert_eq!(
            c.main_pool.max_connection_age,
            Some(Duration::from_secs(1800))
        );
    }

    #[test]
    fn booleans_are_true_or_false_in_any_case() {
        let c = config(&[
            ("org.killbill.persistent.bus.main.inMemory", "TRUE"),
            ("org.killbill.persistent.bus.external.off", " True "),
            ("org.killbill.server.queue.healthcheck", "False"),
        ]);
        assert!(c.main_bus.in_memory);
        assert!(c.external_bus.off);
        assert!(!c.queue_healthcheck.enabled);
        for bad in ["yes", "1", "", "on"] {
            let message = error_of(&[("org.killbill.persistent.bus.main.off", bad)]);
            assert!(message.ends_with("expected true or false"), "{message}");
        }
    }

    #[test]
    fn choices_match_any_case() {
        let c = config(&[
            (
                "org.killbill.persistent.bus.external.queue.mode",
                "sticky_polling",
            ),
            ("ferrobill.log.format", "Json"),
        ]);
        assert_eq!(c.external_bus.mode, QueueMode::StickyPolling);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(
            effective(&c, "org.killbill.persistent.bus.external.queue.mode"),
            "STICKY_POLLING"
        );
    }

    #[test]
    fn notification_queue_refuses_sticky_events() {
        assert_eq!(
            error_of(&[(NOTIFICATION_QUEUE_MODE, "STICKY_EVENTS")]),
            "invalid value \"STICKY_EVENTS\" for org.killbill.notificationq.main.queue.mode \
             (from properties given by the caller): expected one of POLLING, STICKY_POLLING"
        );
    }

    #[test]
    fn ports_addresses_sizes_and_urls() {
        let c = config(&[
            ("ferrobill.server.port", "0"),
            ("ferrobill.server.bindAddress", "::1"),
            ("ferrobill.server.maxBodySize", "10000000000"),
            (MAIN_URL, "jdbc:postgresql://db:5432/killbill"),
            (PLUGIN_URL, "postgresql://db/plugins"),
        ]);
        assert_eq!(c.server.port, 0);
        assert_eq!(c.server.bind_address.to_string(), "::1");
        assert_eq!(c.server.max_body_size, 10_000_000_000);
        assert_eq!(
            c.main_pool.url.as_deref(),
            Some("jdbc:postgresql://db:5432/killbill")
        );
        assert_eq!(
            c.plugin_pool.url.as_deref(),
            Some("postgresql://db/plugins")
        );
        assert!(error_of(&[("ferrobill.server.port", "65536")])
            .ends_with("expected a TCP port from 0 to 65535"));
        assert!(error_of(&[("ferrobill.server.bindAddress", "localhost")])
            .contains("expected an IP address"));
        assert_eq!(
            error_of(&[(MAIN_URL, "jdbc:mysql://db/killbill")]),
            "invalid value \"jdbc:mysql://db/killbill\" for org.killbill.dao.url (from properties given by the caller): \
             expected a PostgreSQL URL (jdbc:postgresql://..., postgres://... or postgresql://...) or nothing for the embedded database"
        );
        assert!(error_of(&[(PLUGIN_URL, "jdbc:h2:file:/tmp/x")])
            .ends_with("or nothing for the main pool's database"));
    }

    #[test]
    fn security_roles_limits_and_proxies_are_parsed() {
        let c = config(&[
            ("ferrobill.security.adminUsers", " admin , ops ,"),
            ("ferrobill.security.trustedProxies", "10.0.0.1, ::1"),
        ]);
        assert_eq!(c.security.admin_users, vec!["admin", "ops"]);
        assert_eq!(
            c.security.trusted_proxies,
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse::<IpAddr>().unwrap()
            ]
        );
        let c = config(&[]);
        assert_eq!(c.security.admin_users, vec!["admin"]);
        assert_eq!(c.security.auth_failures_max, 20);
        assert_eq!(c.security.auth_failures_window, Duration::from_secs(60));
        assert!(c.security.trusted_proxies.is_empty());
        assert!(
            error_of(&[("ferrobill.security.trustedProxies", "10.0.0.1,proxy")])
                .ends_with("expected comma-separated IP addresses")
        );
    }

    #[test]
    fn users_are_parsed_and_checked() {
        let c = config(&[("ferrobill.security.users", " admin:pw , ops:a:b:c ,")]);
        assert_eq!(
            c.security.users,
            vec![
                ("admin".to_owned(), "pw".to_owned()),
                ("ops".to_owned(), "a:b:c".to_owned())
            ]
        );
        assert_eq!(
            error_of(&[("ferrobill.security.users", "admin:pw,bobsecret")]),
            "invalid value <hidden> for ferrobill.security.users (from properties given by the caller): \
             expected comma-separated user:password pairs (entry 2 has no ':')"
        );
        assert!(
            error_of(&[("ferrobill.security.users", "a:x,a:y")]).contains("user a appears twice")
        );
        assert!(error_of(&[("ferrobill.security.users", ":x")]).contains("empty user or password"));
        assert!(error_of(&[("ferrobill.security.users", " , ")]).contains("at least one"));
    }

    #[test]
    fn passwords_are_kept_verbatim() {
        let c = config(&[(MAIN_PASSWORD, " pass word ")]);
        assert_eq!(c.main_pool.password, " pass word ");
    }

    // --- malformed values ----------------------------------------------------------------

    #[test]
    fn malformed_value_from_env_names_everything_in_one_line() {
        let message = env_error(&[("KILLBILL_DAO_MAXACTIVE", "abc")]);
        assert_eq!(
            message,
            "invalid value \"abc\" for org.killbill.dao.maxActive (from environment variable KILLBILL_DAO_MAXACTIVE): expected a positive integer"
        );
        assert!(!message.contains('\n'));
    }

    #[test]
    fn malformed_values_of_each_kind() {
        assert_eq!(
            env_error(&[("KB_org_killbill_payment_plugin_timeout", "5x")]),
            "invalid value \"5x\" for org.killbill.payment.plugin.timeout (from environment variable KB_org_killbill_payment_plugin_timeout): \
             expected a positive number of seconds or a duration such as 500ms, 30s, 5m, 1h or 2d"
        );
        assert_eq!(
            error_of(&[("ferrobill.server.maxBodySize", "-1")]),
            "invalid value \"-1\" for ferrobill.server.maxBodySize (from properties given by the caller): expected a positive integer"
        );
        assert_eq!(
            error_of(&[("org.killbill.dao.maxActive", "0")]),
            "invalid value \"0\" for org.killbill.dao.maxActive (from properties given by the caller): expected a positive integer"
        );
        assert_eq!(
            error_of(&[("org.killbill.dao.minIdle", "-3")]),
            "invalid value \"-3\" for org.killbill.dao.minIdle (from properties given by the caller): expected a non-negative integer"
        );
        assert_eq!(
            error_of(&[("org.killbill.persistent.bus.main.queue.mode", "FAST")]),
            "invalid value \"FAST\" for org.killbill.persistent.bus.main.queue.mode (from properties given by the caller): \
             expected one of POLLING, STICKY_POLLING, STICKY_EVENTS"
        );
        assert_eq!(
            error_of(&[("org.killbill.dao.maxActive", "4294967296")]),
            "invalid value \"4294967296\" for org.killbill.dao.maxActive (from properties given by the caller): \
             expected a positive integer no greater than 4294967295"
        );
        assert!(error_of(&[("ferrobill.embedded.dataDir", "  ")])
            .ends_with("expected a non-empty value"));
        let newline = error_of(&[("org.killbill.dao.maxActive", "1\n2")]);
        assert!(!newline.contains('\n'), "{newline}");
    }

    #[test]
    fn malformed_value_from_file_names_file_and_line() {
        let file = TempFile::new(b"# comment\n\norg.killbill.dao.minIdle = many\n");
        let message = match Config::load_from(Some(&file.0), &[]) {
            Ok(_) => panic!("expected an error"),
            Err(error) => error.to_string(),
        };
        assert_eq!(
            message,
            format!(
                "invalid value \"many\" for org.killbill.dao.minIdle (from file {} line 3): expected a non-negative integer",
                file.0.display()
            )
        );
    }

    #[test]
    fn bad_url_in_error_is_masked() {
        let message = env_error(&[("DATABASE_URL", "mysql://kb:hunter2@db/killbill")]);
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("mysql://kb:***@db/killbill"), "{message}");
        assert!(
            message.contains("(from environment variable DATABASE_URL)"),
            "{message}"
        );
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
    fn unknown_name_in_from_properties_is_an_error() {
        assert_eq!(
            error_of(&[("org.killbill.dao.maxactive", "1")]),
            "unknown property org.killbill.dao.maxactive"
        );
    }

    // --- legacy keys ---------------------------------------------------------------------

    #[test]
    fn legacy_sticky_becomes_sticky_polling() {
        let l = loaded(&[("KB_org_killbill_persistent_bus_main_sticky", "true")]);
        assert_eq!(l.config.main_bus.mode, QueueMode::StickyPolling);
        assert!(has_warning(
            &l,
            "obsolete org.killbill.persistent.bus.main.sticky=true (environment variable KB_org_killbill_persistent_bus_main_sticky) \
             taken as org.killbill.persistent.bus.main.queue.mode=STICKY_POLLING"
        ));
    }

    #[test]
    fn legacy_sticky_with_inflight_queue_becomes_sticky_events() {
        let file = TempFile::new(
            b"org.killbill.persistent.bus.external.sticky=true\norg.killbill.persistent.bus.external.useInflightQ=true\n",
        );
        let l = load_layers(Some(&file.0), &[], None).expect("loads");
        assert_eq!(l.config.external_bus.mode, QueueMode::StickyEvents);
        assert!(has_warning(
            &l,
            "org.killbill.persistent.bus.external.sticky=true"
        ));
        assert!(has_warning(
            &l,
            "org.killbill.persistent.bus.external.useInflightQ=true"
        ));
        assert!(has_warning(
            &l,
            "taken as org.killbill.persistent.bus.external.queue.mode=STICKY_EVENTS"
        ));
    }

    #[test]
    fn legacy_inflight_queue_alone_becomes_sticky_events_with_a_note() {
        let l = loaded(&[("KILLBILL_BUS_EXTERNAL_USE_INFLIGHT_Q", "true")]);
        assert_eq!(l.config.external_bus.mode, QueueMode::StickyEvents);
        assert!(has_warning(
            &l,
            "Kill Bill documented sticky=true as required"
        ));
    }

    #[test]
    fn legacy_false_keys_keep_polling() {
        let l = loaded(&[("KB_org_killbill_persistent_bus_main_sticky", "false")]);
        assert_eq!(l.config.main_bus.mode, QueueMode::Polling);
        assert!(has_warning(&l, "queue.mode=POLLING"));
    }

    #[test]
    fn explicit_queue_mode_beats_legacy_keys() {
        let l = loaded(&[
            ("KB_org_killbill_persistent_bus_main_sticky", "true"),
            ("KB_org_killbill_persistent_bus_main_queue_mode", "POLLING"),
        ]);
        assert_eq!(l.config.main_bus.mode, QueueMode::Polling);
        assert!(has_warning(
            &l,
            "ignored: org.killbill.persistent.bus.main.queue.mode is set explicitly (environment variable KB_org_killbill_persistent_bus_main_queue_mode)"
        ));
    }

    #[test]
    fn legacy_notification_queue_sticky() {
        let c = config(&[("org.killbill.notificationq.main.sticky", "true")]);
        assert_eq!(c.notification_queue.mode, QueueMode::StickyPolling);
    }

    #[test]
    fn legacy_inflight_claimed_becomes_inflight_max() {
        let l = loaded(&[("KILLBILL_EXTERNAL_INFLIGHT_CLAIMED", "30")]);
        assert_eq!(l.config.external_bus.inflight_max, 30);
        assert!(has_warning(
            &l,
            "obsolete org.killbill.persistent.bus.external.inflight.claimed=30 (environment variable KILLBILL_EXTERNAL_INFLIGHT_CLAIMED) \
             taken as org.killbill.persistent.bus.external.inflight.max"
        ));

        let l = loaded(&[
            ("KB_org_killbill_persistent_bus_main_inflight_claimed", "30"),
            ("KB_org_killbill_persistent_bus_main_inflight_max", "70"),
        ]);
        assert_eq!(l.config.main_bus.inflight_max, 70);
        assert!(has_warning(&l, "inflight.claimed (environment variable KB_org_killbill_persistent_bus_main_inflight_claimed) ignored"));
    }

    #[test]
    fn bad_legacy_values_name_their_origin() {
        assert_eq!(
            env_error(&[("KB_org_killbill_persistent_bus_main_useInflightQ", "maybe")]),
            "invalid value \"maybe\" for org.killbill.persistent.bus.main.useInflightQ \
             (from environment variable KB_org_killbill_persistent_bus_main_useInflightQ): expected true or false"
        );
        assert_eq!(
            env_error(&[("KILLBILL_EXTERNAL_INFLIGHT_CLAIMED", "lots")]),
            "invalid value \"lots\" for org.killbill.persistent.bus.external.inflight.max \
             (from legacy key org.killbill.persistent.bus.external.inflight.claimed, environment variable KILLBILL_EXTERNAL_INFLIGHT_CLAIMED): \
             expected a positive integer"
        );
    }

    // --- masking -------------------------------------------------------------------------

    #[test]
    fn effective_properties_list_every_property_in_order_with_secrets_masked() {
        let c = config(&[
            (MAIN_PASSWORD, "hunter2"),
            ("ferrobill.security.users", "admin:topsecret,ops:alsosecret"),
            (
                MAIN_URL,
                "postgres://kb:urlsecret@db/killbill?sslmode=require&password=paramsecret",
            ),
            ("org.killbill.persistent.bus.main.sleep", "5s"),
        ]);
        let listed = c.effective_properties();
        let names: Vec<&str> = listed.iter().map(|(name, _)| *name).collect();
        let table: Vec<&str> = PROPERTIES.iter().map(|p| p.name).collect();
        assert_eq!(names, table);
        let everything = format!("{listed:?}");
        for secret in [
            "hunter2",
            "topsecret",
            "alsosecret",
            "urlsecret",
            "paramsecret",
        ] {
            assert!(
                !everything.contains(secret),
                "{secret} leaked: {everything}"
            );
        }
        assert_eq!(effective(&c, MAIN_PASSWORD), "***");
        assert_eq!(
            effective(&c, "ferrobill.security.users"),
            "admin:***,ops:***"
        );
        assert_eq!(
            effective(&c, MAIN_URL),
            "postgres://kb:***@db/killbill?sslmode=require&password=***"
        );
        assert_eq!(
            effective(&c, "org.killbill.persistent.bus.main.sleep"),
            "5s"
        );
        assert_eq!(effective(&c, "org.killbill.dao.maxActive"), "32");
        assert_eq!(effective(&c, CREATOR_NAME), c.creator_name);
    }

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

    #[test]
    fn mask_url_handles_each_place_a_password_hides() {
        assert_eq!(mask_url("postgres://db/killbill"), "postgres://db/killbill");
        assert_eq!(mask_url("postgres://user@db/kb"), "postgres://user@db/kb");
        assert_eq!(
            mask_url("postgres://u:p@ss@db/kb"),
            "postgres://u:***@db/kb"
        );
        assert_eq!(
            mask_url("jdbc:postgresql://db/kb?user=u&Password=p"),
            "jdbc:postgresql://db/kb?user=u&Password=***"
        );
    }

    // --- plugin pool ---------------------------------------------------------------------

    #[test]
    fn plugin_pool_on_main_database_follows_main_credentials() {
        let l = loaded(&[
            ("KILLBILL_DAO_USER", "billing"),
            ("KILLBILL_DAO_PASSWORD", "s3cret"),
        ]);
        assert_eq!(l.config.plugin_pool.user, "billing");
        assert_eq!(l.config.plugin_pool.password, "s3cret");

        let l = loaded(&[
            ("KILLBILL_DAO_USER", "billing"),
            ("KILLBILL_OSGI_DAO_USER", "plugins"),
        ]);
        assert_eq!(l.config.plugin_pool.user, "plugins");

        let l = loaded(&[
            ("KILLBILL_DAO_USER", "billing"),
            ("KILLBILL_OSGI_DAO_URL", "postgres://other/plugins"),
        ]);
        assert_eq!(l.config.plugin_pool.user, "killbill");
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
        assert!(has_warning(&l, "org.killbill.dao.minIdle (500) is above"));
    }

    #[test]
    fn embedded_postgres_settings_are_pairs_and_never_give_up_durability() {
        let c = config(&[(
            "ferrobill.embedded.postgresSettings",
            "shared_preload_libraries=pg_stat_statements, track_io_timing=on",
        )]);
        assert_eq!(
            c.embedded.postgres_settings,
            [
                (
                    "shared_preload_libraries".to_string(),
                    "pg_stat_statements".to_string()
                ),
                ("track_io_timing".to_string(), "on".to_string())
            ]
        );
        for bad in [
            "fsync=off",
            "synchronous_commit=off",
            "nonsense",
            "a b=1",
            "x=",
        ] {
            let error = error_of(&[("ferrobill.embedded.postgresSettings", bad)]);
            assert!(
                error.contains("ferrobill.embedded.postgresSettings"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn log_runs_without_a_subscriber() {
        loaded(&[("KILLBILL_CATALOG_URI", "x")]).log();
    }

    // --- creator name --------------------------------------------------------------------

    #[test]
    fn creator_name_is_generated_with_a_random_suffix() {
        let c = config(&[]);
        let (host, suffix) = c.creator_name.rsplit_once('-').expect("has a suffix");
        assert!(!host.is_empty());
        assert_eq!(suffix.len(), 6);
        assert!(suffix.chars().all(|ch| ch.is_ascii_hexdigit()));
        assert!(c.creator_name.chars().count() <= CREATOR_NAME_MAX_CHARS);

        let long_host = "h".repeat(80);
        let name = creator_name_for(&long_host, 0xabcdef);
        assert_eq!(name.chars().count(), CREATOR_NAME_MAX_CHARS);
        assert!(name.ends_with("-abcdef"));
        assert_eq!(
            creator_name_for("localhost", 0x1ff_0001),
            "localhost-ff0001"
        );
    }

    #[test]
    fn explicit_creator_name_is_cut_to_45_characters() {
        let long = "n".repeat(60);
        let l = loaded(&[("KILLBILL_QUEUE_CREATOR_NAME", long.as_str())]);
        assert_eq!(l.config.creator_name, "n".repeat(45));
        assert!(has_warning(&l, "longer than 45 characters"));
    }

    // --- file location -------------------------------------------------------------------

    #[test]
    fn explicit_file_must_exist() {
        let missing = std::env::temp_dir().join("ferrobill-config-test-missing.properties");
        let message = match Config::load_from(Some(&missing), &[]) {
            Ok(_) => panic!("expected an error"),
            Err(error) => error.to_string(),
        };
        assert_eq!(
            message,
            format!(
                "configuration file {} does not exist (named by the --config option)",
                missing.display()
            )
        );
    }

    #[test]
    fn environment_can_name_the_file_as_path_or_uri() {
        let file = TempFile::new(b"org.killbill.dao.maxActive=77\n");
        let uri = format!("file://{}", file.0.display());
        let path = file.0.display().to_string();
        for (var, value) in [
            ("KB_org_killbill_server_properties", uri.as_str()),
            ("KILLBILL_SERVER_PROPERTIES", path.as_str()),
        ] {
            let l = loaded(&[(var, value)]);
            assert_eq!(l.config.main_pool.max_active, 77, "{var}");
            assert_eq!(l.file.as_deref(), Some(file.0.as_path()));
            assert_eq!(
                effective(&l.config, SERVER_PROPERTIES),
                file.0.display().to_string()
            );
        }
        let message = env_error(&[(
            "KB_org_killbill_server_properties",
            "file:///nonexistent/ferrobill-killbill.properties",
        )]);
        assert_eq!(
            message,
            "configuration file /nonexistent/ferrobill-killbill.properties does not exist \
             (named by environment variable KB_org_killbill_server_properties)"
        );
        let message = env_error(&[(
            "KB_org_killbill_server_properties",
            "http://x/kb.properties",
        )]);
        assert!(
            message.ends_with("expected a file path or a file:// URI"),
            "{message}"
        );
    }

    #[test]
    fn explicit_file_beats_the_environment_location() {
        let explicit = TempFile::new(b"org.killbill.dao.maxActive=11\n");
        let named = TempFile::new(b"org.killbill.dao.maxActive=22\n");
        let l = load_layers(
            Some(&explicit.0),
            &env(&[(
                "KILLBILL_SERVER_PROPERTIES",
                named.0.display().to_string().as_str(),
            )]),
            None,
        )
        .expect("loads");
        assert_eq!(l.config.main_pool.max_active, 11);
        assert!(has_warning(&l, "ignored: --config names the file"));
    }

    #[test]
    fn default_location_is_optional() {
        let file = TempFile::new(b"org.killbill.dao.maxActive=33\n");
        let l = load_layers(None, &[], Some(&file.0)).expect("loads");
        assert_eq!(l.config.main_pool.max_active, 33);
        assert_eq!(l.file.as_deref(), Some(file.0.as_path()));
        let missing = std::env::temp_dir().join("ferrobill-config-test-absent.properties");
        let l = load_layers(None, &[], Some(&missing)).expect("loads");
        assert_eq!(l.file, None);
        assert_eq!(effective(&l.config, SERVER_PROPERTIES), "");
    }

    #[test]
    fn unreadable_file_is_an_error() {
        let dir = std::env::temp_dir();
        let message = match Config::load_from(Some(&dir), &[]) {
            Ok(_) => panic!("expected an error"),
            Err(error) => error.to_string(),
        };
        assert!(
            message.starts_with("cannot read configuration file"),
            "{message}"
        );
    }

    #[test]
    fn file_warnings_for_unknown_repeated_and_misplaced_keys() {
        let file = TempFile::new(
            b"org.killbill.catalog.uri=x\norg.killbill.dao.maxactive=5\n\
              org.killbill.dao.minIdle=2\norg.killbill.dao.minIdle=3\n\
              org.killbill.server.properties=/elsewhere\n",
        );
        let l = load_layers(Some(&file.0), &[], None).expect("loads");
        assert_eq!(l.config.main_pool.min_idle, 3);
        assert!(has_warning(&l, "unknown property org.killbill.catalog.uri"));
        assert!(has_warning(&l, "did you mean org.killbill.dao.maxActive?"));
        assert!(has_warning(&l, "org.killbill.dao.minIdle is set twice"));
        assert!(has_warning(&l, "has no effect inside a properties file"));
        assert_eq!(l.warnings.len(), 4, "{:?}", l.warnings);
    }

    #[test]
    fn file_syntax_error_names_the_line() {
        let file = TempFile::new(b"a=1\n\nb=\\u12\n");
        let message = match Config::load_from(Some(&file.0), &[]) {
            Ok(_) => panic!("expected an error"),
            Err(error) => error.to_string(),
        };
        assert_eq!(
            message,
            format!(
                "syntax error in configuration file {} line 3: malformed \\uXXXX escape \"\\u12\"",
                file.0.display()
            )
        );
    }

    #[test]
    fn latin1_and_bom_files_are_read() {
        let file = TempFile::new(b"\xef\xbb\xbforg.killbill.dao.user=kb\n");
        let l = load_layers(Some(&file.0), &[], None).expect("loads");
        assert_eq!(l.config.main_pool.user, "kb");
        let file = TempFile::new(b"org.killbill.dao.user=caf\xe9\n");
        let l = load_layers(Some(&file.0), &[], None).expect("loads");
        assert_eq!(l.config.main_pool.user, "caf\u{e9}");
    }

    // --- properties parser ---------------------------------------------------------------

    fn parsed(text: &str) -> Vec<(String, String, usize)> {
        parse_properties(text)
            .expect("parses")
            .into_iter()
            .map(|line| (line.key, line.value, line.line))
            .collect()
    }

    fn kv(key: &str, value: &str, line: usize) -> (String, String, usize) {
        (key.to_owned(), value.to_owned(), line)
    }

    #[test]
    fn parser_separators() {
        assert_eq!(
            parsed("a=1\nb: 2\nc 3\nd = 4\ne   :   5\nf\ng=\nh\t=\tx\n"),
            vec![
                kv("a", "1", 1),
                kv("b", "2", 2),
                kv("c", "3", 3),
                kv("d", "4", 4),
                kv("e", "5", 5),
                kv("f", "", 6),
                kv("g", "", 7),
                kv("h", "x", 8),
            ]
        );
        assert_eq!(parsed("a==b\n"), vec![kv("a", "=b", 1)]);
        assert_eq!(parsed("a b c\n"), vec![kv("a", "b c", 1)]);
        assert_eq!(
            parsed("url=jdbc:postgresql://h/db\n"),
            vec![kv("url", "jdbc:postgresql://h/db", 1)]
        );
    }

    #[test]
    fn parser_comments_blanks_and_leading_whitespace() {
        assert_eq!(
            parsed("# comment\n! bang\n\n   \n   key=value\n\t# indented comment\n"),
            vec![kv("key", "value", 5)]
        );
        assert_eq!(
            parsed("a=1 # not a comment\n"),
            vec![kv("a", "1 # not a comment", 1)]
        );
    }

    #[test]
    fn parser_continuations() {
        assert_eq!(
            parsed("list=a,\\\n    b,\\\n    c\nnext=1\n"),
            vec![kv("list", "a,b,c", 1), kv("next", "1", 4)]
        );
        assert_eq!(parsed("# comment \\\nkey=v\n"), vec![kv("key", "v", 2)]);
        assert_eq!(
            parsed("path=C:\\\\\nk=v\n"),
            vec![kv("path", "C:\\", 1), kv("k", "v", 2)]
        );
        assert_eq!(parsed("last=x\\"), vec![kv("last", "x", 1)]);
        assert_eq!(parsed("k=\\\n  # kept\n"), vec![kv("k", "# kept", 1)]);
    }

    #[test]
    fn parser_escapes() {
        assert_eq!(
            parsed("a\\=b\\:c\\ d=x\\ty\\nz\\\\w\\=\\:\\u0041\\u00e9\\q\n"),
            vec![kv("a=b:c d", "x\ty\nz\\w=:A\u{e9}q", 1)]
        );
        assert_eq!(parsed("k=\\uD83D\\uDE00\n"), vec![kv("k", "\u{1F600}", 1)]);
        assert_eq!(parsed("\\#notcomment=1\n"), vec![kv("#notcomment", "1", 1)]);
        assert!(parse_properties("k=\\u00zz\n").is_err());
        assert!(parse_properties("k=\\u+041\n").is_err());
    }

    #[test]
    fn parser_line_endings_and_trailing_whitespace() {
        assert_eq!(
            parsed("a=1\r\nb=2\rc=3\nd=4   "),
            vec![
                kv("a", "1", 1),
                kv("b", "2", 2),
                kv("c", "3", 3),
                kv("d", "4   ", 4)
            ]
        );
    }

    #[test]
    fn trailing_whitespace_in_file_values_is_ignored_except_for_secrets() {
        let file =
            TempFile::new(b"org.killbill.dao.maxActive=50   \norg.killbill.dao.password=pw  \n");
        let l = load_layers(Some(&file.0), &[], None).expect("loads");
        assert_eq!(l.config.main_pool.max_active, 50);
        assert_eq!(l.config.main_pool.password, "pw  ");
    }

    #[test]
    fn file_location_forms() {
        assert_eq!(
            path_from_location("/etc/kb.properties"),
            Some(PathBuf::from("/etc/kb.properties"))
        );
        assert_eq!(
            path_from_location("file:///etc/kb.properties"),
            Some(PathBuf::from("/etc/kb.properties"))
        );
        assert_eq!(
            path_from_location("file://localhost/etc/kb.properties"),
            Some(PathBuf::from("/etc/kb.properties"))
        );
        assert_eq!(
            path_from_location("file:/etc/kb.properties"),
            Some(PathBuf::from("/etc/kb.properties"))
        );
        assert_eq!(
            path_from_location("file:///my%20dir/kb.properties"),
            Some(PathBuf::from("/my dir/kb.properties"))
        );
        assert_eq!(
            path_from_location("relative/kb.properties"),
            Some(PathBuf::from("relative/kb.properties"))
        );
        assert_eq!(path_from_location("file://otherhost/kb.properties"), None);
        assert_eq!(path_from_location("classpath://kb.properties"), None);
    }

    // --- reference files -----------------------------------------------------------------

    fn reference_file(relative: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
        std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "cannot read {}: {error}; run `cargo test -- --ignored regenerate_reference_files`",
                path.display()
            )
        })
    }

    #[test]
    fn sample_properties_file_lists_every_property_at_its_default() {
        let text = reference_file(PROPERTIES_FILE_PATH);
        let lines: HashSet<&str> = text.lines().collect();
        for property in PROPERTIES {
            let line = format!("#{}={}", property.name, property.default);
            assert!(lines.contains(line.as_str()), "missing {line}");
        }
        // Everything is commented out, so the sample changes nothing when read.
        let parsed = parse_properties(&text).expect("parses");
        assert!(parsed.is_empty(), "{parsed:?}");
        assert_eq!(
            text,
            properties_file_template(),
            "stale: run `cargo test -- --ignored regenerate_reference_files`"
        );
    }

    #[test]
    fn markdown_reference_lists_every_property() {
        let text = reference_file(MARKDOWN_PATH);
        for property in PROPERTIES {
            let row = format!(
                "| `{}` | {} |",
                property.name,
                markdown_default(property.default)
            );
            assert!(text.contains(&row), "missing {row}");
        }
        for (alias, _) in KILLBILL_ALIASES {
            assert!(text.contains(alias), "missing {alias}");
        }
        for name in legacy_names() {
            assert!(text.contains(name), "missing {name}");
        }
        assert_eq!(
            text,
            markdown_reference(),
            "stale: run `cargo test -- --ignored regenerate_reference_files`"
        );
    }

    #[test]
    fn gateway_latency_and_rates_parse_in_their_documented_forms() {
        let ms = Duration::from_millis;
        assert_eq!(parse_latency("50ms"), Ok(Latency::Fixed(ms(50))));
        assert_eq!(parse_latency(" 75 "), Ok(Latency::Fixed(ms(75))));
        assert_eq!(parse_latency("0"), Ok(Latency::Fixed(Duration::ZERO)));
        assert_eq!(
            parse_latency("LogNormal: p99=1s, median=50ms"),
            Ok(Latency::LogNormal {
                median: ms(50),
                p99: ms(1000)
            })
        );
        for bad in [
            "lognormal:median=50ms",
            "lognormal:median=500ms,p99=400ms",
            "lognormal:median=50ms,p99=400ms,p99=1s",
            "lognormal:mean=50ms,p99=1s",
            "lognormal:median=0ms,p99=1s",
            "uniform:min=1ms,max=2ms",
            "fast",
        ] {
            assert!(parse_latency(bad).is_err(), "{bad} was accepted");
        }
        assert_eq!(parse_rate("0"), Ok(Rate(0)));
        assert_eq!(parse_rate("0.05"), Ok(Rate(50_000)));
        assert_eq!(parse_rate("5 %"), parse_rate("0.05"));
        assert_eq!(parse_rate("1"), Ok(Rate(1_000_000)));
        for bad in [
            "", "1.5", "150%", "-0.1", "inf", "NaN", "1e-2", "0.1.2", "%",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad} was accepted");
        }
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
        assert!(has_warning(&loaded, "ferrobill.gateway.hangTime"));
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
    #[ignore = "writes the reference files; run on purpose after changing the table"]
    fn regenerate_reference_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::write(root.join(PROPERTIES_FILE_PATH), properties_file_template())
            .expect("write properties file");
        std::fs::write(root.join(MARKDOWN_PATH), markdown_reference()).expect("write markdown");
    }
}
