//! The property table: every property ferrobill supports, each declared once in one row with
//! its name (Kill Bill's where Kill Bill has the property, `ferrobill.*` where it is ours),
//! its default, its kind, its group, its one-line doc and the setter that puts its value in
//! the typed [`Config`]. The typed configuration, the environment forms, the sample
//! properties file and docs/configuration.md all come from these rows.
//!
//! This file only declares. It reads no input, checks no rule between properties (that is
//! `build.rs`) and knows nothing of environment spellings or legacy keys beyond the names
//! they resolve to. A setter may only convert its already-parsed value into its field: it
//! never fails and never reads another property.

use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use super::kinds::{
    Kind, BOOL, BUS_MODES, BYTES, GATEWAY_HEALTH, IP_ADDRESS, IP_LIST, LATENCY, LOG_FORMATS,
    MAIN_DATABASE_URL, MILLISECONDS, NAMES, NON_EMPTY_TEXT, NON_NEGATIVE, NOTIFICATION_QUEUE_MODES,
    PLUGIN_DATABASE_URL, PORT, POSITIVE, POSITIVE_SECONDS, POSITIVE_TIMESPAN, POSTGRES_SETTINGS,
    RATE, SECONDS, SECRET, TEXT, TIMESPAN, TIMESPAN_LIST, USERS,
};
use super::typed::Config;

/// One supported property: its name, its default (as text, parsed like any other value), a
/// one-line explanation, and where its value goes.
pub struct Property {
    pub(super) name: &'static str,
    pub(super) default: &'static str,
    pub(super) group: Group,
    pub(super) doc: &'static str,
    target: Box<dyn Target>,
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
        self.target.is_secret()
    }

    /// Parses `raw` by the property's kind and stores it in `config`: the value as the
    /// effective dump shows it, or what was expected.
    pub(super) fn apply(&self, raw: &str, config: &mut Config) -> Result<String, String> {
        self.target.apply(raw, config)
    }

    /// `raw` as an error may show it (never a secret in clear).
    pub(super) fn quote(&self, raw: &str) -> String {
        self.target.quote(raw)
    }

    /// Whether a bad value here is reported after every other property's.
    pub(super) fn reported_last(&self) -> bool {
        self.target.reported_last()
    }

    #[cfg(test)]
    pub(super) fn samples(&self) -> Vec<&'static str> {
        self.target.samples()
    }
}

impl fmt::Debug for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Property")
            .field("name", &self.name)
            .field("default", &self.default)
            .field("group", &self.group)
            .field("doc", &self.doc)
            .field("secret", &self.is_secret())
            .finish()
    }
}

/// A kind and a setter of the same value type, with the type erased so that one table holds
/// properties of every kind.
trait Target: Send + Sync {
    fn apply(&self, raw: &str, config: &mut Config) -> Result<String, String>;
    fn is_secret(&self) -> bool;
    fn quote(&self, raw: &str) -> String;
    fn reported_last(&self) -> bool;
    #[cfg(test)]
    fn samples(&self) -> Vec<&'static str>;
}

struct Bind<K, F> {
    kind: K,
    set: F,
}

impl<K, F> Target for Bind<K, F>
where
    K: Kind,
    F: Fn(&mut Config, K::Value) + Send + Sync,
{
    fn apply(&self, raw: &str, config: &mut Config) -> Result<String, String> {
        let value = self.kind.parse(raw)?;
        let shown = self.kind.show(raw, &value);
        (self.set)(config, value);
        Ok(shown)
    }

    fn is_secret(&self) -> bool {
        self.kind.is_secret()
    }

    fn quote(&self, raw: &str) -> String {
        self.kind.quote(raw)
    }

    fn reported_last(&self) -> bool {
        self.kind.reported_last()
    }

    #[cfg(test)]
    fn samples(&self) -> Vec<&'static str> {
        self.kind.samples()
    }
}

/// One row of the table. The setter's value type is the kind's, so a property can only be
/// stored in a field of its own type.
fn row<K, F>(
    name: &'static str,
    default: &'static str,
    kind: K,
    group: Group,
    set: F,
    doc: &'static str,
) -> Property
where
    K: Kind,
    F: Fn(&mut Config, K::Value) + Send + Sync + 'static,
{
    Property {
        name,
        default,
        group,
        doc,
        target: Box::new(Bind { kind, set }),
    }
}

/// Kill Bill's "0 means never" for durations.
fn never_if_zero(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}

/// The sections of the reference files; a group's rows stand together in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Group {
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
    pub(super) fn title(self) -> &'static str {
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

    pub(super) fn explanation(self) -> &'static str {
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

pub(super) const SERVER_PROPERTIES: &str = "org.killbill.server.properties";
pub(super) const MAIN_URL: &str = "org.killbill.dao.url";
pub(super) const MAIN_USER: &str = "org.killbill.dao.user";
pub(super) const MAIN_PASSWORD: &str = "org.killbill.dao.password";
pub(super) const PLUGIN_URL: &str = "org.killbill.billing.osgi.dao.url";
pub(super) const PLUGIN_USER: &str = "org.killbill.billing.osgi.dao.user";
pub(super) const PLUGIN_PASSWORD: &str = "org.killbill.billing.osgi.dao.password";
pub(super) const CREATOR_NAME: &str = "org.killbill.queue.creator.name";
pub(super) const NOTIFICATION_QUEUE_MODE: &str = "org.killbill.notificationq.main.queue.mode";
pub(super) const MAIN_MAX_ACTIVE: &str = "org.killbill.dao.maxActive";
pub(super) const TIMEOUT_RATE: &str = "ferrobill.gateway.timeoutRate";
pub(super) const MAIN_BUS_INFLIGHT_MIN: &str = "org.killbill.persistent.bus.main.inflight.min";
pub(super) const MAIN_BUS_INFLIGHT_MAX: &str = "org.killbill.persistent.bus.main.inflight.max";
pub(super) const EXTERNAL_BUS_INFLIGHT_MIN: &str =
    "org.killbill.persistent.bus.external.inflight.min";
pub(super) const EXTERNAL_BUS_INFLIGHT_MAX: &str =
    "org.killbill.persistent.bus.external.inflight.max";
pub(super) const HEARTBEAT: &str = "ferrobill.cluster.heartbeat";
pub(super) const DEAD_AFTER: &str = "ferrobill.cluster.deadAfter";

/// The property table, in the order of the reference files and the effective dump. Built on
/// first use: rows hold boxed setters, which a `const` cannot.
pub(super) fn properties() -> &'static [Property] {
    static TABLE: OnceLock<Vec<Property>> = OnceLock::new();
    TABLE.get_or_init(table)
}

// Written out in full (no generated names) so that a grep for a property finds its row.
#[rustfmt::skip]
fn table() -> Vec<Property> {
    use Group::*;
    vec![
        row(SERVER_PROPERTIES, "", TEXT, ConfigFile,
            |_, _| {},
            "Path or file:// URI of the properties file. Read from the environment only (KB_org_killbill_server_properties); --config wins. Empty: config/ferrobill.properties if it exists."),

        row("ferrobill.server.port", "8080", PORT, Server,
            |c, v| c.server.port = v,
            "TCP port of the REST API. Kill Bill has no such property (its Tomcat listens on 8080, TOMCAT_PORT in its Docker image). 0 picks a free port, for tests."),
        row("ferrobill.server.bindAddress", "0.0.0.0", IP_ADDRESS, Server,
            |c, v| c.server.bind_address = v,
            "IP address the REST API listens on."),
        row("ferrobill.server.maxInFlight", "200", POSITIVE, Server,
            |c, v| c.server.max_in_flight = v,
            "Requests served at once; Tomcat's maxThreads default (Kill Bill's Docker image sets 100)."),
        row("ferrobill.server.maxWaiting", "100", NON_NEGATIVE, Server,
            |c, v| c.server.max_waiting = v,
            "Requests that may wait for a free slot before new ones are turned away; Tomcat's acceptCount default."),
        row("ferrobill.server.requestTimeout", "60s", POSITIVE_SECONDS, Server,
            |c, v| c.server.request_timeout = v,
            "Longest time one request may take; Tomcat's connectionTimeout default (Kill Bill's Docker image sets 20s)."),
        row("ferrobill.server.maxBodySize", "1048576", BYTES, Server,
            |c, v| c.server.max_body_size = v,
            "Largest request body accepted, in bytes."),
        row("ferrobill.server.shutdownTimeout", "30s", SECONDS, Server,
            |c, v| c.server.shutdown_timeout = v,
            "How long shutdown waits for requests and queue handlers in progress."),

        row("ferrobill.security.users", "admin:password", USERS, Security,
            |c, v| c.security.users = v,
            "API users as comma-separated user:password pairs (Kill Bill's default shiro.ini user is admin/password), like Kill Bill's shiro.ini users; those of /1.0/kb/security/users live in the database. Each holds every permission outside the admin and user groups, unless listed in ferrobill.security.adminUsers. Passwords are masked when printed."),
        row("ferrobill.security.tenantCacheSize", "1024", POSITIVE, Security,
            |c, v| c.security.tenant_cache_size = v,
            "Tenants (API key and checked secret) kept in memory."),
        row("ferrobill.security.adminUsers", "admin", NAMES, Security,
            |c, v| c.security.admin_users = v,
            "Comma-separated users (from ferrobill.security.users) holding the built-in role admin: every permission (*:*, as Kill Bill's default root role), so the /1.0/kb/admin/* operations and user management too. The other configured users get 401 (UnauthorizedException) there. Empty: nobody."),
        row("ferrobill.security.authFailures.max", "20", POSITIVE, Security,
            |c, v| c.security.auth_failures_max = v,
            "Failed Basic-auth or tenant-secret checks one principal (user name or API key) may make from one client address within the window; past it, credentials of that principal this node has not verified before get 429 with Retry-After, unchecked, until the window passes. Right credentials already verified are always served."),
        row("ferrobill.security.authFailures.window", "1m", POSITIVE_SECONDS, Security,
            |c, v| c.security.auth_failures_window = v,
            "The window over which failed authentications are counted per client address and principal."),
        row("ferrobill.security.trustedProxies", "", IP_LIST, Security,
            |c, v| c.security.trusted_proxies = v,
            "Comma-separated IP addresses of reverse proxies whose X-Forwarded-For is believed when counting failed authentications per client address. Empty: the TCP peer is the client, X-Forwarded-For is ignored."),
        row("ferrobill.security.authFailures.maxAddresses", "10000", POSITIVE, Security,
            |c, v| c.security.auth_failures_max_addresses = v,
            "Pairs of client address and principal whose failures are tracked at once (bounds memory); when full, the stalest entry is dropped."),

        row(MAIN_URL, "", MAIN_DATABASE_URL, MainPool,
            |c, v| c.main_pool.url = v,
            "PostgreSQL URL: jdbc:postgresql://..., postgres://... or postgresql://... Empty: ferrobill starts its own embedded PostgreSQL (Kill Bill's default is an H2 file)."),
        row(MAIN_USER, "killbill", TEXT, MainPool,
            |c, v| c.main_pool.user = v,
            "Database user."),
        row(MAIN_PASSWORD, "killbill", SECRET, MainPool,
            |c, v| c.main_pool.password = v,
            "Database password (masked when printed)."),
        row(MAIN_MAX_ACTIVE, "32", POSITIVE, MainPool,
            |c, v| c.main_pool.max_active = v,
            "Most connections the pool opens (Hikari maximumPoolSize). Kill Bill's default is 100; \
             on 2 cores 32 served the most with the queues keeping up (docs/benchmarks.md)."),
        row("org.killbill.dao.minIdle", "1", NON_NEGATIVE, MainPool,
            |c, v| c.main_pool.min_idle = v,
            "Idle connections the pool keeps open."),
        row("org.killbill.dao.connectionTimeout", "10s", POSITIVE_TIMESPAN, MainPool,
            |c, v| c.main_pool.connection_timeout = v,
            "How long a caller waits for a free connection before failing."),
        row("org.killbill.dao.idleMaxAge", "60m", TIMESPAN, MainPool,
            |c, v| c.main_pool.idle_max_age = v,
            "Idle connections beyond minIdle are closed after this long (Hikari idleTimeout)."),
        row("org.killbill.dao.maxConnectionAge", "0m", TIMESPAN, MainPool,
            |c, v| c.main_pool.max_connection_age = never_if_zero(v),
            "Connections are replaced after this long; 0 means never (Hikari maxLifetime)."),

        row(PLUGIN_URL, "", PLUGIN_DATABASE_URL, PluginPool,
            |c, v| c.plugin_pool.url = v,
            "Database of the plugin pool, same forms as org.killbill.dao.url. Empty: the main pool's database, and then user and password follow the main pool's unless set here."),
        row(PLUGIN_USER, "killbill", TEXT, PluginPool,
            |c, v| c.plugin_pool.user = v,
            "Database user."),
        row(PLUGIN_PASSWORD, "killbill", SECRET, PluginPool,
            |c, v| c.plugin_pool.password = v,
            "Database password (masked when printed)."),
        row("org.killbill.billing.osgi.dao.maxActive", "100", POSITIVE, PluginPool,
            |c, v| c.plugin_pool.max_active = v,
            "Most connections the pool opens."),
        row("org.killbill.billing.osgi.dao.minIdle", "1", NON_NEGATIVE, PluginPool,
            |c, v| c.plugin_pool.min_idle = v,
            "Idle connections the pool keeps open."),
        row("org.killbill.billing.osgi.dao.connectionTimeout", "10s", POSITIVE_TIMESPAN, PluginPool,
            |c, v| c.plugin_pool.connection_timeout = v,
            "How long a caller waits for a free connection before failing."),
        row("org.killbill.billing.osgi.dao.idleMaxAge", "60m", TIMESPAN, PluginPool,
            |c, v| c.plugin_pool.idle_max_age = v,
            "Idle connections beyond minIdle are closed after this long."),
        row("org.killbill.billing.osgi.dao.maxConnectionAge", "0m", TIMESPAN, PluginPool,
            |c, v| c.plugin_pool.max_connection_age = never_if_zero(v),
            "Connections are replaced after this long; 0 means never."),

        row("ferrobill.embedded.dataDir", "./data/postgres", NON_EMPTY_TEXT, Embedded,
            |c, v| c.embedded.data_dir = PathBuf::from(v),
            "Data directory of the embedded PostgreSQL."),
        row("ferrobill.embedded.maxConnections", "300", POSITIVE, Embedded,
            |c, v| c.embedded.max_connections = v,
            "max_connections of the embedded PostgreSQL; both pools' maxActive added up must fit in it (startup stops otherwise)."),
        row("ferrobill.embedded.postgresSettings", "", POSTGRES_SETTINGS, Embedded,
            |c, v| c.embedded.postgres_settings = v,
            "More PostgreSQL settings for the embedded cluster, over ferrobill's own (docs/operations.md): comma-separated name=value pairs, e.g. shared_preload_libraries=pg_stat_statements,track_io_timing=on. fsync and synchronous_commit cannot be turned off."),

        row("org.killbill.payment.plugin.threads.nb", "10", POSITIVE, Payment,
            |c, v| c.payment.plugin_threads = v,
            "Threads that run payment plugin calls."),
        row("org.killbill.payment.plugin.timeout", "30s", POSITIVE_SECONDS, Payment,
            |c, v| c.payment.plugin_timeout = v,
            "How long a payment call waits for its plugin (Kill Bill counts whole seconds)."),
        row("org.killbill.payment.globalLock.retries", "50", NON_NEGATIVE, Payment,
            |c, v| c.payment.global_lock_retries = v,
            "Tries, 100 ms apart, to take an account's lock before a payment call fails."),
        row("org.killbill.payment.janitor.rate", "1h", POSITIVE_TIMESPAN, Payment,
            |c, v| c.payment.janitor_rate = v,
            "How often the janitor sweeps for UNKNOWN transactions whose outcome was never recorded (a node died between its two transactions)."),
        row("org.killbill.payment.janitor.unknown.retries", "5m,1h,1d,1d,1d,1d,1d", TIMESPAN_LIST, Payment,
            |c, v| c.payment.janitor_unknown_retries = v,
            "When the janitor asks the plugin again about an UNKNOWN transaction: one delay per attempt."),
        row("org.killbill.payment.janitor.pending.retries", "1h,1d", TIMESPAN_LIST, Payment,
            |c, v| c.payment.janitor_pending_retries = v,
            "When the janitor asks the plugin again about a PENDING transaction: one delay per attempt."),
        row("ferrobill.payment.settleInOneTransaction", "true", BOOL, Payment,
            |c, v| c.payment.settle_in_one_transaction = v,
            "Record an operation whose plugin answers without waiting for anything (__EXTERNAL_PAYMENT__, chargebacks) in one transaction with the same rows as Kill Bill's two; false writes two transactions as for any plugin."),

        row("ferrobill.gateway.latency", "0ms", LATENCY, Gateway,
            |c, v| c.gateway.latency = v,
            "Time each simulated gateway call takes while its payment call holds a plugin-pool connection: a duration (50ms; a bare number is milliseconds) or lognormal:median=50ms,p99=400ms."),
        row("ferrobill.gateway.declineRate", "0", RATE, Gateway,
            |c, v| c.gateway.decline_rate = v,
            "Share of payment calls the gateway declines (status ERROR, code card_declined): 0 to 1 (0.05) or a percentage (5%)."),
        row("ferrobill.gateway.errorRate", "0", RATE, Gateway,
            |c, v| c.gateway.error_rate = v,
            "Share of payment calls that fail with a processing error before submission (status CANCELED, code processing_error)."),
        row(TIMEOUT_RATE, "0", RATE, Gateway,
            |c, v| c.gateway.timeout_rate = v,
            "Share of payment calls that hang for ferrobill.gateway.hangTime; the outcome is recorded when the hang ends, for the janitor. The three rates add up to at most 1."),
        row("ferrobill.gateway.hangTime", "2m", POSITIVE_SECONDS, Gateway,
            |c, v| c.gateway.hang_time = v,
            "How long a hanging call sleeps (timeoutRate, card 4000000000000341); keep it above org.killbill.payment.plugin.timeout."),
        row("ferrobill.gateway.health", "healthy", GATEWAY_HEALTH, Gateway,
            |c, v| c.gateway.healthy = v,
            "What the gateway plugin reports to the plugins health check: healthy or unhealthy."),

        row("org.killbill.persistent.bus.main.inMemory", "false", BOOL, MainBus,
            |c, v| c.main_bus.in_memory = v,
            "Dispatch events in memory on the posting thread: no table, no retries."),
        row("org.killbill.persistent.bus.main.off", "false", BOOL, MainBus,
            |c, v| c.main_bus.off = v,
            "Stop dispatching; events stay in the table."),
        row("org.killbill.persistent.bus.main.queue.mode", "POLLING", BUS_MODES, MainBus,
            |c, v| c.main_bus.mode = v,
            "POLLING: any node takes any entry. STICKY_POLLING: a node takes only entries it created. STICKY_EVENTS: sticky, woken on commit instead of polling."),
        row("org.killbill.persistent.bus.main.claimed", "10", POSITIVE, MainBus,
            |c, v| c.main_bus.claimed = v,
            "Entries claimed per poll."),
        row("org.killbill.persistent.bus.main.nbThreads", "30", POSITIVE, MainBus,
            |c, v| c.main_bus.nb_threads = v,
            "Most handler threads."),
        row("org.killbill.persistent.bus.main.queue.capacity", "30000", POSITIVE, MainBus,
            |c, v| c.main_bus.queue_capacity = v,
            "Entries waiting for a handler thread before the poller blocks."),
        row("org.killbill.persistent.bus.main.sleep", "3000", MILLISECONDS, MainBus,
            |c, v| c.main_bus.sleep = v,
            "Pause between polls; a bare number is milliseconds (Kill Bill's unit), 3s also works."),
        row("org.killbill.persistent.bus.main.max.failure.retry", "3", NON_NEGATIVE, MainBus,
            |c, v| c.main_bus.max_failure_retry = v,
            "Immediate retries after a handler fails, before the entry is marked FAILED."),
        row("org.killbill.persistent.bus.main.claim.time", "5m", POSITIVE_TIMESPAN, MainBus,
            |c, v| c.main_bus.claim_time = v,
            "How long a claimed entry stays owned by the node that claimed it."),
        row("org.killbill.persistent.bus.main.reapThreshold", "10m", POSITIVE_TIMESPAN, MainBus,
            |c, v| c.main_bus.reap_threshold = v,
            "Age after which an entry nobody finished is re-dispatched by the reaper."),
        row("org.killbill.persistent.bus.main.maxReDispatchCount", "10", NON_NEGATIVE, MainBus,
            |c, v| c.main_bus.max_redispatch_count = v,
            "Most entries the reaper re-dispatches per run."),
        row("org.killbill.persistent.bus.main.reapSchedule", "3m", POSITIVE_TIMESPAN, MainBus,
            |c, v| c.main_bus.reap_schedule = v,
            "How often the reaper runs."),
        row(MAIN_BUS_INFLIGHT_MIN, "1", POSITIVE, MainBus,
            |c, v| c.main_bus.inflight_min = v,
            "STICKY_EVENTS only: entries to wait for (at most 100 ms) before dispatching."),
        row(MAIN_BUS_INFLIGHT_MAX, "100", POSITIVE, MainBus,
            |c, v| c.main_bus.inflight_max = v,
            "STICKY_EVENTS only: most entries dispatched at once."),

        row("org.killbill.persistent.bus.external.inMemory", "false", BOOL, ExternalBus,
            |c, v| c.external_bus.in_memory = v,
            "Dispatch events in memory on the posting thread: no table, no retries."),
        row("org.killbill.persistent.bus.external.off", "false", BOOL, ExternalBus,
            |c, v| c.external_bus.off = v,
            "Stop dispatching; events stay in the table."),
        row("org.killbill.persistent.bus.external.queue.mode", "POLLING", BUS_MODES, ExternalBus,
            |c, v| c.external_bus.mode = v,
            "POLLING, STICKY_POLLING or STICKY_EVENTS, as for the internal bus."),
        row("org.killbill.persistent.bus.external.claimed", "10", POSITIVE, ExternalBus,
            |c, v| c.external_bus.claimed = v,
            "Entries claimed per poll."),
        row("org.killbill.persistent.bus.external.nbThreads", "30", POSITIVE, ExternalBus,
            |c, v| c.external_bus.nb_threads = v,
            "Most handler threads."),
        row("org.killbill.persistent.bus.external.queue.capacity", "30000", POSITIVE, ExternalBus,
            |c, v| c.external_bus.queue_capacity = v,
            "Entries waiting for a handler thread before the poller blocks."),
        row("org.killbill.persistent.bus.external.sleep", "3000", MILLISECONDS, ExternalBus,
            |c, v| c.external_bus.sleep = v,
            "Pause between polls; a bare number is milliseconds, 3s also works."),
        row("org.killbill.persistent.bus.external.max.failure.retry", "3", NON_NEGATIVE, ExternalBus,
            |c, v| c.external_bus.max_failure_retry = v,
            "Immediate retries after a handler fails, before the entry is marked FAILED."),
        row("org.killbill.persistent.bus.external.claim.time", "5m", POSITIVE_TIMESPAN, ExternalBus,
            |c, v| c.external_bus.claim_time = v,
            "How long a claimed entry stays owned by the node that claimed it."),
        row("org.killbill.persistent.bus.external.reapThreshold", "10m", POSITIVE_TIMESPAN, ExternalBus,
            |c, v| c.external_bus.reap_threshold = v,
            "Age after which an entry nobody finished is re-dispatched by the reaper."),
        row("org.killbill.persistent.bus.external.maxReDispatchCount", "10", NON_NEGATIVE, ExternalBus,
            |c, v| c.external_bus.max_redispatch_count = v,
            "Most entries the reaper re-dispatches per run."),
        row("org.killbill.persistent.bus.external.reapSchedule", "3m", POSITIVE_TIMESPAN, ExternalBus,
            |c, v| c.external_bus.reap_schedule = v,
            "How often the reaper runs."),
        row(EXTERNAL_BUS_INFLIGHT_MIN, "1", POSITIVE, ExternalBus,
            |c, v| c.external_bus.inflight_min = v,
            "STICKY_EVENTS only: entries to wait for (at most 100 ms) before dispatching."),
        row(EXTERNAL_BUS_INFLIGHT_MAX, "100", POSITIVE, ExternalBus,
            |c, v| c.external_bus.inflight_max = v,
            "STICKY_EVENTS only: most entries dispatched at once."),

        row("org.killbill.notificationq.main.notification.off", "false", BOOL, NotificationQueue,
            |c, v| c.notification_queue.off = v,
            "Stop dispatching notifications; they stay in the table."),
        row(NOTIFICATION_QUEUE_MODE, "POLLING", NOTIFICATION_QUEUE_MODES, NotificationQueue,
            |c, v| c.notification_queue.mode = v,
            "POLLING or STICKY_POLLING (Kill Bill's notification queues cannot run STICKY_EVENTS)."),
        row("org.killbill.notificationq.main.claimed", "10", POSITIVE, NotificationQueue,
            |c, v| c.notification_queue.claimed = v,
            "Notifications claimed per poll."),
        row("org.killbill.notificationq.main.notification.nbThreads", "10", POSITIVE, NotificationQueue,
            |c, v| c.notification_queue.nb_threads = v,
            "Most handler threads."),
        row("org.killbill.notificationq.main.queue.capacity", "100", POSITIVE, NotificationQueue,
            |c, v| c.notification_queue.queue_capacity = v,
            "Notifications waiting for a handler thread before the poller blocks."),
        row("org.killbill.notificationq.main.sleep", "3000", MILLISECONDS, NotificationQueue,
            |c, v| c.notification_queue.sleep = v,
            "Pause between polls; a bare number is milliseconds, 3s also works."),
        row("org.killbill.notificationq.main.max.failure.retry", "3", NON_NEGATIVE, NotificationQueue,
            |c, v| c.notification_queue.max_failure_retry = v,
            "Immediate retries after a handler fails, before the notification is marked FAILED."),
        row("org.killbill.notificationq.main.claim.time", "5m", POSITIVE_TIMESPAN, NotificationQueue,
            |c, v| c.notification_queue.claim_time = v,
            "How long a claimed notification stays owned by the node that claimed it."),
        row("org.killbill.notificationq.main.reapThreshold", "10m", POSITIVE_TIMESPAN, NotificationQueue,
            |c, v| c.notification_queue.reap_threshold = v,
            "Lateness after which a notification nobody finished is re-dispatched by the reaper."),
        row("org.killbill.notificationq.main.maxReDispatchCount", "10", NON_NEGATIVE, NotificationQueue,
            |c, v| c.notification_queue.max_redispatch_count = v,
            "Most notifications the reaper re-dispatches per run."),
        row("org.killbill.notificationq.main.reapSchedule", "3m", POSITIVE_TIMESPAN, NotificationQueue,
            |c, v| c.notification_queue.reap_schedule = v,
            "How often the reaper runs."),

        row("org.killbill.billing.server.notifications.retries", "15m,30m,2h,12h,1d", TIMESPAN_LIST, PushNotifications,
            |c, v| c.push_notifications.retries = v,
            "Delays before each retry of a push notification that failed (not 2xx, a transport error or a timeout); after the last, it is dropped. Kill Bill's NotificationConfig default."),
        row("ferrobill.notifications.timeout", "15s", POSITIVE_SECONDS, PushNotifications,
            |c, v| c.push_notifications.timeout = v,
            "Longest time one push notification POST may take before it counts as failed; Kill Bill hard-codes 15 seconds (PushNotificationListener)."),

        row(CREATOR_NAME, "", TEXT, Queues,
            |c, v| c.creator_name = v,
            "This node's name in the queue tables, cut to 45 characters. Empty: host name, '-', 6 random hex digits, so pods all named localhost stay distinct (Kill Bill issue 2061)."),
        row("org.killbill.server.queue.healthcheck", "true", BOOL, Queues,
            |c, v| c.queue_healthcheck.enabled = v,
            "Report growing queues as unhealthy in /1.0/healthcheck."),
        row("ferrobill.server.queue.healthcheck.period", "1m", POSITIVE_SECONDS, Queues,
            |c, v| c.queue_healthcheck.period = v,
            "How often queue sizes are sampled for that check (Kill Bill samples once per health-check call)."),

        row(HEARTBEAT, "2s", POSITIVE_TIMESPAN, Cluster,
            |c, v| c.cluster.heartbeat = v,
            "How often each node writes its heartbeat in bus_nodes and reads the other nodes'."),
        row(DEAD_AFTER, "10s", POSITIVE_TIMESPAN, Cluster,
            |c, v| c.cluster.dead_after = v,
            "How long another node's heartbeat may stand still, counted on this node's clock while this node could reach the database, before that node is dead and its work is taken over. At least twice ferrobill.cluster.heartbeat."),

        row("ferrobill.log.format", "text", LOG_FORMATS, Logging,
            |c, v| c.log_format = v,
            "text for people, json for log collectors. The level comes from RUST_LOG (default info)."),
        row("ferrobill.log.poolWaitWarning", "1s", TIMESPAN, Logging,
            |c, v| {
                c.main_pool.wait_warning = never_if_zero(v);
                c.plugin_pool.wait_warning = never_if_zero(v);
            },
            "A request that waits longer than this for a database connection (either pool) is logged as a warning; 0 never warns."),

        row("ferrobill.metrics.enabled", "true", BOOL, Metrics,
            |c, v| c.metrics_enabled = v,
            "Record metrics. false installs no recorder: every metric call is a no-op and /1.0/metrics and /metrics answer empty pages (to measure what metrics cost; one process has one recorder, so the first server started in it decides)."),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::config::test_support::{config, find_property};
    use crate::config::typed::{
        ClusterConfig, EmbeddedConfig, GatewayConfig, LogFormat, PaymentConfig, PoolConfig,
        PushNotificationConfig, QueueConfig, QueueHealthcheckConfig, SecurityConfig, ServerConfig,
    };

    #[test]
    fn property_names_are_unique_and_groups_contiguous() {
        let mut seen = HashSet::new();
        for property in properties() {
            assert!(seen.insert(property.name), "{} twice", property.name);
        }
        let mut finished_groups = Vec::new();
        let mut current = None;
        for property in properties() {
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

    /// What the table fills, compared field by field (secrets in clear, unlike `Debug`).
    type Typed<'a> = (
        (
            &'a ServerConfig,
            &'a SecurityConfig,
            &'a PoolConfig,
            &'a PoolConfig,
            &'a EmbeddedConfig,
            &'a PaymentConfig,
            &'a GatewayConfig,
            &'a QueueConfig,
        ),
        (
            &'a QueueConfig,
            &'a QueueConfig,
            &'a PushNotificationConfig,
            &'a QueueHealthcheckConfig,
            &'a ClusterConfig,
            &'a String,
            LogFormat,
            bool,
        ),
    );

    fn typed(c: &Config) -> Typed<'_> {
        (
            (
                &c.server,
                &c.security,
                &c.main_pool,
                &c.plugin_pool,
                &c.embedded,
                &c.payment,
                &c.gateway,
                &c.main_bus,
            ),
            (
                &c.external_bus,
                &c.notification_queue,
                &c.push_notifications,
                &c.queue_healthcheck,
                &c.cluster,
                &c.creator_name,
                c.log_format,
                c.metrics_enabled,
            ),
        )
    }

    /// Each row's setter reaches a field no other row writes: given another valid value,
    /// every property changes the typed configuration, and no two properties change it
    /// alike (a setter copied from the row above and not edited would).
    #[test]
    fn every_property_reaches_a_field_of_its_own() {
        // A fixed creator name, or each build would differ by its random suffix.
        let fixed = (CREATOR_NAME, "base-node");
        let base = config(&[fixed]);
        let mut changed: Vec<(&str, Config)> = Vec::new();
        for property in properties() {
            // Only locates the file; LoadedConfig::file carries the result.
            if property.name == SERVER_PROPERTIES {
                continue;
            }
            let built = property
                .samples()
                .into_iter()
                .filter(|sample| *sample != property.default)
                .filter_map(|sample| {
                    Config::from_properties(&[fixed, (property.name, sample)]).ok()
                })
                .find(|built| typed(built) != typed(&base));
            let Some(built) = built else {
                panic!("{} reaches no field", property.name);
            };
            changed.push((property.name, built));
        }
        for (index, (name, built)) in changed.iter().enumerate() {
            for (other, other_built) in &changed[index + 1..] {
                assert!(
                    typed(built) != typed(other_built),
                    "{name} and {other} set the same field"
                );
            }
        }
    }

    #[test]
    fn names_used_outside_the_table_are_rows() {
        for name in [
            SERVER_PROPERTIES,
            MAIN_URL,
            MAIN_USER,
            MAIN_PASSWORD,
            PLUGIN_URL,
            PLUGIN_USER,
            PLUGIN_PASSWORD,
            CREATOR_NAME,
            NOTIFICATION_QUEUE_MODE,
            MAIN_MAX_ACTIVE,
            TIMEOUT_RATE,
            MAIN_BUS_INFLIGHT_MIN,
            MAIN_BUS_INFLIGHT_MAX,
            EXTERNAL_BUS_INFLIGHT_MIN,
            EXTERNAL_BUS_INFLIGHT_MAX,
            HEARTBEAT,
            DEAD_AFTER,
        ] {
            assert!(find_property(name).is_some(), "{name} is not in the table");
        }
    }
}
