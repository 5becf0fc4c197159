//! Wiring: configuration → metrics recorder → embedded database (when no URL is configured) →
//! pools → migrations → buses → services → HTTP, and the reverse on shutdown. This is the only
//! place that knows the order things start and stop in; it holds no request logic.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bus::nodes::NodeMonitor;
use crate::bus::notifications::{self, NotificationError, NotificationQueueService};
use crate::bus::{self, Bus, BusError};
use crate::clock::Clock;
use crate::config::Config;
use crate::dashboard::{Dashboard, Queue, QueueKind, Sources};
use crate::db::embedded::{EmbeddedCluster, EmbeddedError, EmbeddedOptions};
use crate::db::migrate::{self, MigrateError};
use crate::db::pool::{self, DbPool, PoolConfigError, PoolState};
use crate::db::work::Db;
use crate::health::plugins::PluginsHealthcheck;
use crate::health::queue_check::{QueuesHealthcheck, WatchedQueue};
use crate::health::Health;
use crate::http::{self, Admission, AppState, AuthFailures, InFlight, Limits, Observation, Ops};
use crate::metrics::window::Traffic;
use crate::plugin::{
    GatewaySimPlugin, PaymentPluginApi, PluginRegistry, GATEWAY_PLUGIN_NAME, STRIPE_PLUGIN_NAME,
};
use crate::service::account_emails::AccountEmailService;
use crate::service::accounts::AccountService;
use crate::service::admin::AdminService;
use crate::service::caches::Caches;
use crate::service::cluster::{self, Holdings};
use crate::service::combo::ComboService;
use crate::service::custom_fields::CustomFieldService;
use crate::service::export::ExportService;
use crate::service::external_events;
use crate::service::history::HistoryService;
use crate::service::nodes::NodesService;
use crate::service::payment_gateways::PaymentGatewayService;
use crate::service::payment_methods::PaymentMethodService;
use crate::service::payments::PaymentService;
use crate::service::pools::PoolMonitor;
use crate::service::push_notifications::{self, PushNotificationCallbacks, PushNotificationError};
use crate::service::secrets::Hasher;
use crate::service::security::SecurityService;
use crate::service::tags::TagService;
use crate::service::tenant_key_values::TenantKeyValues;
use crate::service::tenant_values::TenantValues;
use crate::service::tenants::{TenantDirectory, TenantService};

/// The database the embedded cluster serves ferrobill from.
pub const EMBEDDED_DATABASE: &str = "ferrobill";
/// How often pools retire expired connections and refill to `minIdle`.
const POOL_MAINTENANCE_PERIOD: Duration = Duration::from_secs(30);
/// How long startup waits for the cache listeners' first LISTEN before serving anyway (a
/// database slow to accept one more connection; the listeners keep retrying).
const LISTENERS_WAIT: Duration = Duration::from_secs(10);
/// Kill Bill's names for the two buses in the queue-growth health check.
const MAIN_BUS_CHECK_NAME: &str = "bus";
const EXTERNAL_BUS_CHECK_NAME: &str = "externalBus";
/// The properties the dashboard shows: what decides where this server saturates.
const SATURATION_SETTINGS: &[&str] = &[
    "org.killbill.dao.maxActive",
    "org.killbill.dao.connectionTimeout",
    "org.killbill.billing.osgi.dao.maxActive",
    "org.killbill.billing.osgi.dao.connectionTimeout",
    "org.killbill.payment.plugin.threads.nb",
    "org.killbill.payment.plugin.timeout",
    "org.killbill.persistent.bus.main.queue.mode",
    "org.killbill.persistent.bus.main.nbThreads",
    "org.killbill.persistent.bus.main.claimed",
    "org.killbill.persistent.bus.main.inMemory",
    "org.killbill.persistent.bus.main.off",
    "org.killbill.persistent.bus.external.queue.mode",
    "org.killbill.persistent.bus.external.nbThreads",
    "org.killbill.persistent.bus.external.claimed",
    "org.killbill.notificationq.main.queue.mode",
    "org.killbill.notificationq.main.notification.nbThreads",
    "org.killbill.notificationq.main.claimed",
    "org.killbill.server.queue.healthcheck",
    "ferrobill.server.queue.healthcheck.period",
    "ferrobill.server.maxInFlight",
    "ferrobill.server.maxWaiting",
    "ferrobill.server.requestTimeout",
];

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error(transparent)]
    PoolConfig(#[from] PoolConfigError),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error("cannot start the {bus} bus: {source}")]
    Bus {
        bus: &'static str,
        #[source]
        source: BusError,
    },
    #[error(transparent)]
    PushNotifications(#[from] PushNotificationError),
    #[error("cannot start the notification queue: {0}")]
    NotificationQueue(#[source] NotificationError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ShutdownError {
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
}

/// The database ferrobill talks to, resolved from the configuration: an external server, or the
/// private cluster this process started (and must stop).
pub struct Database {
    pub main_target: tokio_postgres::Config,
    pub plugin_target: tokio_postgres::Config,
    pub embedded: Option<EmbeddedCluster>,
}

impl Database {
    /// Starts the embedded cluster when `org.killbill.dao.url` is empty; otherwise only parses
    /// the URLs. Warnings about ignored URL parameters are logged.
    pub async fn open(config: &Config) -> Result<Database, StartupError> {
        let (embedded, main_target) = match &config.main_pool.url {
            Some(url) => {
                let (target, warnings) = pool::target_from_url(
                    "org.killbill.dao.url",
                    url,
                    &config.main_pool.user,
                    &config.main_pool.password,
                )?;
                warnings.iter().for_each(|w| tracing::warn!("{w}"));
                (None, target)
            }
            None => {
                let cluster = EmbeddedCluster::start(EmbeddedOptions {
                    data_dir: PathBuf::from(&config.embedded.data_dir),
                    port: 5432,
                    max_connections: config.embedded.max_connections,
                    durable: true,
                    settings: config.embedded.postgres_settings.clone(),
                })
                .await?;
                if let Err(error) = cluster.ensure_database(EMBEDDED_DATABASE).await {
                    let _ = cluster.stop().await;
                    return Err(error.into());
                }
                let target = cluster.pg_config(EMBEDDED_DATABASE);
                (Some(cluster), target)
            }
        };
        let plugin_target = match &config.plugin_pool.url {
            Some(url) => {
                let (target, warnings) = pool::target_from_url(
                    "org.killbill.billing.osgi.dao.url",
                    url,
                    &config.plugin_pool.user,
                    &config.plugin_pool.password,
                )?;
                warnings.iter().for_each(|w| tracing::warn!("{w}"));
                target
            }
            // Kill Bill's deployments point both pools at one database; so does ferrobill by
            // default, keeping the plugin pool's own size and timeout.
            None => main_target.clone(),
        };
        Ok(Database {
            main_target,
            plugin_target,
            embedded,
        })
    }

    pub async fn close(self) -> Result<(), EmbeddedError> {
        match self.embedded {
            Some(cluster) => cluster.stop().await,
            None => Ok(()),
        }
    }
}

/// A running server.
pub struct App {
    running: Running,
    embedded: Option<EmbeddedCluster>,
}

impl App {
    /// Starts everything and returns once the server accepts requests and is in rotation.
    pub async fn start(config: Config) -> Result<App, StartupError> {
        let database = Database::open(&config).await?;
        match Self::start_on(config, &database).await {
            Ok(running) => Ok(App {
                running,
                embedded: database.embedded,
            }),
            Err(error) => {
                if let Err(stop_error) = database.close().await {
                    tracing::warn!(error = %stop_error, "stopping the embedded database after a failed start");
                }
                Err(error)
            }
        }
    }

    async fn start_on(config: Config, database: &Database) -> Result<Running, StartupError> {
        // First, so every metric recorded from here on (pools, buses) is published.
        let metrics = crate::metrics::install(config.metrics_enabled);
        migrate::run(&database.main_target).await?;
        // The embedded cluster's size is checked with the configuration; a server of the
        // operator's is asked.
        if database.embedded.is_none() {
            if let Some(allowed) = pool::connections_allowed(&database.plugin_target).await {
                pool::check_fits(&config.plugin_pool, allowed)?;
            }
            if let Some(allowed) = pool::connections_allowed(&database.main_target).await {
                pool::check_fits(&config.main_pool, allowed)?;
                let both = config.main_pool.max_active + config.plugin_pool.max_active;
                if both > allowed {
                    tracing::warn!(
                        main = config.main_pool.max_active,
                        plugin = config.plugin_pool.max_active,
                        allowed,
                        "both pools together may open more connections than the database allows; \
                         under load the last ones will be refused"
                    );
                }
            }
        }
        let main_pool = DbPool::new("main", &config.main_pool, database.main_target.clone())?;
        let plugin_pool = DbPool::new("osgi", &config.plugin_pool, database.plugin_target.clone())?;
        let main_db = Db::new(main_pool.clone());
        let plugin_db = Db::new(plugin_pool.clone());
        // The queues' own work goes before requests when connections are scarce.
        let queue_db = main_db.for_queues();
        tokio::spawn(
            main_pool
                .clone()
                .maintain(config.main_pool.clone(), POOL_MAINTENANCE_PERIOD),
        );
        tokio::spawn(
            plugin_pool
                .clone()
                .maintain(config.plugin_pool.clone(), POOL_MAINTENANCE_PERIOD),
        );

        // "Now" for whatever decides by time (due dates, lease ends, queue-growth samples):
        // one clock, so a test can run them all on tokio's paused time.
        let clock = Clock::system();
        // This node's heartbeat and its view of the others; the queues run as this node.
        let nodes = NodeMonitor::new(
            queue_db.clone(),
            &config.creator_name,
            config.cluster.heartbeat,
            config.cluster.dead_after,
        );
        // Services subscribe to the buses here, before they start dispatching.
        let main_bus = Bus::new(queue_db.clone(), config.main_bus.clone(), &nodes);
        let external_bus = Bus::new(queue_db.clone(), config.external_bus.clone(), &nodes);
        let notification_queue = NotificationQueueService::new(
            queue_db.clone(),
            config.notification_queue.clone(),
            &nodes,
            clock.clone(),
        );
        let tenant_directory = TenantDirectory::new(queue_db.clone());
        external_events::subscribe(&main_bus, &external_bus, &queue_db, &tenant_directory);
        let tenant_values = TenantValues::new(queue_db.clone());
        push_notifications::subscribe(
            &external_bus,
            &notification_queue,
            &queue_db,
            &tenant_values,
            config.push_notifications.clone(),
        )?;
        // One gateway under two names: ferrobill's own, and Kill Bill's Stripe plugin's, so
        // that scenarios written for Kill Bill (seeds 000 and 001) add their cards unchanged.
        // Both share the gateway's tables; each reads the tenant configuration of its name.
        let mut plugins = PluginRegistry::new(config.payment.plugin_timeout);
        for name in [GATEWAY_PLUGIN_NAME, STRIPE_PLUGIN_NAME] {
            let gateway: Arc<dyn PaymentPluginApi> = Arc::new(GatewaySimPlugin::new(
                plugin_db.clone(),
                config.gateway.clone(),
                name,
                Arc::new(tenant_values.clone()),
            ));
            plugins.register(name, gateway);
        }
        let plugins = Arc::new(plugins);
        // Registers the janitor's queue handler, so it exists before the queue starts.
        let payments = PaymentService::new(
            main_db.clone(),
            main_bus.clone(),
            notification_queue.clone(),
            plugins.clone(),
            tenant_directory.clone(),
            nodes.clone(),
            config.payment.clone(),
        );
        // A lease left by this node's previous run would hold its accounts until it expires.
        if let Err(error) = payments.release_stale_leases().await {
            tracing::warn!(%error, "could not release this node's stale account leases");
        }
        for bus in [&main_bus, &external_bus] {
            if let Err(source) = bus.start().await {
                main_bus.shutdown(bus::SHUTDOWN_TIMEOUT).await;
                external_bus.shutdown(bus::SHUTDOWN_TIMEOUT).await;
                return Err(StartupError::Bus {
                    bus: bus.name(),
                    source,
                });
            }
        }
        // Started after the buses (its handlers may post events), stopped before them.
        if let Err(source) = notification_queue.start().await {
            main_bus.shutdown(bus::SHUTDOWN_TIMEOUT).await;
            external_bus.shutdown(bus::SHUTDOWN_TIMEOUT).await;
            return Err(StartupError::NotificationQueue(source));
        }

        let queues_check = QueuesHealthcheck::new(config.queue_healthcheck.enabled, clock.clone());
        let queue_sampler = queues_check
            .start_sampler(
                watched_queues(&main_bus, &external_bus, &notification_queue),
                config.queue_healthcheck.period,
            )
            .await;
        let health = Health::new(
            &[main_db.clone(), plugin_db.clone()],
            vec![
                Arc::new(queues_check.clone()),
                Arc::new(PluginsHealthcheck::new(plugins.clone())),
            ],
        );
        let traffic = Arc::new(Traffic::default());
        let dashboard_sources = Sources {
            traffic: traffic.clone(),
            main_pool: main_pool.clone(),
            plugin_pool: plugin_pool.clone(),
            executor: payments.plugin_executor(),
            queues: vec![
                Queue {
                    kind: QueueKind::Bus(main_bus.clone()),
                    check_names: vec![MAIN_BUS_CHECK_NAME.to_string()],
                },
                Queue {
                    kind: QueueKind::Bus(external_bus.clone()),
                    check_names: vec![EXTERNAL_BUS_CHECK_NAME.to_string()],
                },
                Queue {
                    kind: QueueKind::Notifications(notification_queue.clone()),
                    check_names: notification_queue.queue_names(),
                },
            ],
            queues_check,
        };
        let dashboard = Dashboard::new(
            &dashboard_sources,
            health.clone(),
            saturation_settings(&config),
        );
        let dashboard_sampler = dashboard.start(dashboard_sources);
        let nodes_info = NodesService::new(
            main_db.clone(),
            nodes.clone(),
            &config.creator_name,
            &plugins,
        );
        if let Err(source) = nodes_info.register().await {
            tracing::warn!(error = %source, "could not record this node in node_infos");
        }
        let hasher = Hasher::default();
        let tenants = TenantService::new(
            main_db.clone(),
            config.security.tenant_cache_size as usize,
            hasher.clone(),
        );
        let security = SecurityService::new(
            main_db.clone(),
            hasher,
            &config.security.users,
            &config.security.admin_users,
        );
        let tenant_kvs =
            TenantKeyValues::new(main_db.clone(), main_bus.clone(), tenant_values.clone());
        let caches = Caches::new(
            main_db.clone(),
            tenants.clone(),
            tenant_directory.clone(),
            tenant_values.clone(),
            security.clone(),
        );
        let accounts = AccountService::new(main_db.clone(), main_bus.clone());
        let payment_methods =
            PaymentMethodService::new(main_db.clone(), plugins.clone(), main_bus.clone());
        let state = AppState {
            tenants,
            accounts: accounts.clone(),
            account_emails: AccountEmailService::new(main_db.clone()),
            custom_fields: CustomFieldService::new(main_db.clone(), main_bus.clone()),
            export: ExportService::new(main_db.clone()),
            history: HistoryService::new(main_db.clone()),
            admin: AdminService::new(main_db.clone()),
            payment_methods: payment_methods.clone(),
            payments: payments.clone(),
            combo: ComboService::new(accounts.clone(), payment_methods.clone(), payments.clone()),
            payment_gateways: PaymentGatewayService::new(
                accounts.clone(),
                payment_methods,
                payments.clone(),
                plugins,
            ),
            tags: TagService::new(main_db.clone(), main_bus.clone()),
            health: health.clone(),
            push_callbacks: PushNotificationCallbacks::new(tenant_kvs.clone()),
            tenant_kvs,
            security: security.clone(),
            auth_failures: Arc::new(AuthFailures::new(
                config.security.auth_failures_max,
                config.security.auth_failures_window,
                config.security.auth_failures_max_addresses as usize,
                config.security.trusted_proxies.clone(),
            )),
            nodes: nodes_info.clone(),
            caches: caches.clone(),
            ops: Ops {
                metrics,
                pools: PoolMonitor::new(vec![main_pool.clone(), plugin_pool.clone()]),
                buses: vec![main_bus.clone(), external_bus.clone()],
                notification_queue: notification_queue.clone(),
                observation: Observation {
                    in_flight: Arc::new(InFlight::default()),
                    traffic,
                },
                dashboard,
            },
        };
        let limits = Limits {
            admission: Admission::new(
                config.server.max_in_flight as usize,
                config.server.max_waiting as usize,
                config.server.request_timeout,
            ),
            max_body_size: usize::try_from(config.server.max_body_size).unwrap_or(usize::MAX),
        };
        let router = http::router(state, limits);

        let address = SocketAddr::new(config.server.bind_address, config.server.port);
        let bound = match TcpListener::bind(address).await {
            Ok(listener) => listener
                .local_addr()
                .map(|local_addr| (listener, local_addr)),
            Err(error) => Err(error),
        };
        let (listener, local_addr) = match bound {
            Ok(bound) => bound,
            Err(source) => {
                notification_queue
                    .shutdown(notifications::SHUTDOWN_TIMEOUT)
                    .await;
                queue_sampler.abort();
                dashboard_sampler.abort();
                main_bus.shutdown(bus::SHUTDOWN_TIMEOUT).await;
                external_bus.shutdown(bus::SHUTDOWN_TIMEOUT).await;
                return Err(StartupError::Bind { address, source });
            }
        };
        let janitor_sweep = payments.start_janitor_sweep();
        let (stop_listening, listening) = watch::channel(false);
        // Each forgets what this node remembers when another node announces a change.
        let (listeners, subscribed): (Vec<_>, Vec<_>) = [
            tenant_values.listen(listening.clone()),
            security.listen(listening.clone()),
            caches.listen(listening.clone()),
        ]
        .into_iter()
        .unzip();
        // A listener forgets everything once it listens; serving before that would let it
        // forget what the first requests remembered (credentials verified, tenants read).
        let all_listening = futures_util::future::join_all(subscribed);
        if tokio::time::timeout(LISTENERS_WAIT, all_listening)
            .await
            .is_err()
        {
            tracing::warn!(
                wait = ?LISTENERS_WAIT,
                "serving before every cache listens for other nodes' changes"
            );
        }
        let (node_monitor, dead_nodes) = nodes.start(listening.clone());
        let take_over = cluster::take_over_dead_nodes(
            Holdings {
                main_bus: main_bus.clone(),
                external_bus: external_bus.clone(),
                notification_queue: notification_queue.clone(),
                payments: payments.clone(),
            },
            nodes,
            dead_nodes,
            config.cluster.heartbeat,
            listening,
        );
        let (stop, mut stopped) = watch::channel(false);
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await
        });
        health.put_in_rotation();
        tracing::info!(%local_addr, "ferrobill is serving");
        Ok(Running {
            local_addr,
            stop,
            server,
            main_pool,
            plugin_pool,
            main_bus,
            external_bus,
            notification_queue,
            queue_sampler,
            dashboard_sampler,
            janitor_sweep,
            listeners,
            node_monitor,
            take_over,
            stop_listening,
            nodes_info,
            health,
            shutdown_timeout: config.server.shutdown_timeout,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.running.local_addr
    }

    pub fn main_pool_state(&self) -> PoolState {
        self.running.main_pool.state()
    }

    pub fn plugin_pool_state(&self) -> PoolState {
        self.running.plugin_pool.state()
    }

    /// The internal bus (`bus_events`).
    pub fn main_bus(&self) -> &Bus {
        &self.running.main_bus
    }

    /// The bus for plugins and push notifications (`bus_ext_events`).
    pub fn external_bus(&self) -> &Bus {
        &self.running.external_bus
    }

    /// The notification queue (`notifications`), one dispatcher for every queue name.
    pub fn notification_queue(&self) -> &NotificationQueueService {
        &self.running.notification_queue
    }

    /// Serves until `signal` completes, then shuts down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> Result<(), ShutdownError> {
        signal.await;
        self.shutdown().await
    }

    /// Stops accepting, lets in-flight requests finish within `ferrobill.server.shutdownTimeout`,
    /// stops the buses (running handlers get Kill Bill's bus shutdown timeout), closes the
    /// pools and stops the embedded database.
    pub async fn shutdown(self) -> Result<(), ShutdownError> {
        tracing::info!("shutting down");
        self.running.health.put_out_of_rotation();
        let _ = self.running.stop.send(true);
        let mut server = self.running.server;
        match tokio::time::timeout(self.running.shutdown_timeout, &mut server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, "HTTP server stopped with an error"),
            Ok(Err(error)) => tracing::warn!(%error, "HTTP server task failed"),
            Err(_) => {
                tracing::warn!(
                    timeout_ms = self.running.shutdown_timeout.as_millis() as u64,
                    "in-flight requests did not finish in time; abandoning them"
                );
                server.abort();
            }
        }
        // Requests may post events until they finish, so the buses stop after the server;
        // notification handlers may post events too, so the queue stops before the buses.
        self.running
            .notification_queue
            .shutdown(notifications::SHUTDOWN_TIMEOUT)
            .await;
        tokio::join!(
            self.running.main_bus.shutdown(bus::SHUTDOWN_TIMEOUT),
            self.running.external_bus.shutdown(bus::SHUTDOWN_TIMEOUT)
        );
        self.running.queue_sampler.abort();
        self.running.dashboard_sampler.abort();
        self.running.janitor_sweep.abort();
        let _ = self.running.stop_listening.send(true);
        for listener in &self.running.listeners {
            listener.abort();
        }
        self.running.node_monitor.abort();
        self.running.take_over.abort();
        if let Err(error) = self.running.nodes_info.unregister().await {
            tracing::warn!(%error, "could not remove this node from node_infos");
        }
        self.running.main_pool.close();
        self.running.plugin_pool.close();
        if let Some(cluster) = self.embedded {
            cluster.stop().await?;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Everything started on top of the database.
struct Running {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    main_pool: DbPool,
    plugin_pool: DbPool,
    main_bus: Bus,
    external_bus: Bus,
    notification_queue: NotificationQueueService,
    queue_sampler: JoinHandle<()>,
    /// The dashboard's sampler and its database probes.
    dashboard_sampler: JoinHandle<()>,
    janitor_sweep: JoinHandle<()>,
    /// Forget cached tenant key-values, users and permissions, and every cache, when any node
    /// announces a change or a clearing.
    listeners: Vec<JoinHandle<()>>,
    /// Writes this node's heartbeat and judges the others'.
    node_monitor: JoinHandle<()>,
    /// Takes over the work of nodes found dead.
    take_over: JoinHandle<()>,
    stop_listening: watch::Sender<bool>,
    /// Removes this node from `node_infos` at shutdown.
    nodes_info: NodesService,
    health: Health,
    shutdown_timeout: Duration,
}

/// Every queue the growth check samples, under Kill Bill's names: `bus`, `externalBus`, and
/// each notification queue (`svc:queue`), which all report the notifications table's count,
/// as in Kill Bill.
fn watched_queues(
    main_bus: &Bus,
    external_bus: &Bus,
    notification_queue: &NotificationQueueService,
) -> Vec<WatchedQueue> {
    let mut watched = vec![
        watch_bus(MAIN_BUS_CHECK_NAME, main_bus),
        watch_bus(EXTERNAL_BUS_CHECK_NAME, external_bus),
    ];
    for name in notification_queue.queue_names() {
        let queue = notification_queue.clone();
        watched.push(WatchedQueue {
            name,
            ready_entries: Box::new(move || {
                let queue = queue.clone();
                Box::pin(async move {
                    match queue.ready_entries().await {
                        Ok(count) => {
                            bus::metrics::ready_entries(notifications::QUEUE_METRICS_ID, count);
                            Some(count)
                        }
                        Err(error) => {
                            tracing::debug!(%error, "notification queue size not sampled");
                            None
                        }
                    }
                })
            }),
        });
    }
    watched
}

/// A bus as the queue-growth check sees it: its ready entries under Kill Bill's queue name.
fn watch_bus(name: &str, bus: &Bus) -> WatchedQueue {
    let bus = bus.clone();
    WatchedQueue {
        name: name.to_string(),
        ready_entries: Box::new(move || {
            let bus = bus.clone();
            Box::pin(async move {
                match bus.ready_entries().await {
                    Ok(count) => {
                        bus::metrics::ready_entries(bus.metrics_id(), count);
                        Some(count)
                    }
                    Err(error) => {
                        tracing::debug!(bus = bus.name(), %error, "queue size not sampled");
                        None
                    }
                }
            })
        }),
    }
}

/// The settings the dashboard shows, with their effective values.
fn saturation_settings(config: &Config) -> Vec<(&'static str, String)> {
    config
        .effective_properties()
        .into_iter()
        .filter(|(name, _)| SATURATION_SETTINGS.contains(name))
        .collect()
}

/// `ferrobill migrate`: applies pending migrations and exits.
pub async fn migrate_only(config: &Config) -> Result<(), StartupError> {
    let database = Database::open(config).await?;
    let result = migrate::run(&database.main_target).await;
    if let Err(error) = database.close().await {
        tracing::warn!(%error, "stopping the embedded database");
    }
    result.map_err(StartupError::from)
}
