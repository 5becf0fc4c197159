//! The queues under test, whatever their table: [`Kind`] names the table and its property
//! names, [`TestQueue`] is one node's queue of it (posting, handling, taking over), and
//! [`TestNode`] the node's heartbeat, which a test stops to make the node dead. `bus.rs` and
//! `notifications.rs` build their own queues from the same configuration, pool and
//! heartbeat-less node ([`queue_config`], [`pool`], [`quiet_node`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ferrobill::bus::nodes::NodeMonitor;
use ferrobill::bus::{
    Bus, BusEntry, BusEvent, HandlerError, NotificationEntry, NotificationEvent,
    NotificationQueueService, SearchKeys,
};
use ferrobill::clock::Clock;
use ferrobill::config::Config;
use ferrobill::db::pool::DbPool;
use ferrobill::db::work::Db;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::harness::TestDatabase;

/// The notification queue name the tests' entries are recorded for.
const QUEUE_NAME: &str = "test-service:queue";
/// The class of every test entry.
const CLASS_NAME: &str = "org.ferrobill.test.QueueEntry";

/// Which queue table a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    MainBus,
    ExternalBus,
    Notifications,
}

impl Kind {
    pub(super) fn live(self) -> &'static str {
        match self {
            Kind::MainBus => "bus_events",
            Kind::ExternalBus => "bus_ext_events",
            Kind::Notifications => "notifications",
        }
    }

    pub(super) fn history(self) -> &'static str {
        match self {
            Kind::MainBus => "bus_events_history",
            Kind::ExternalBus => "bus_ext_events_history",
            Kind::Notifications => "notifications_history",
        }
    }

    /// The full name of a queue property given as a bus names it (`nbThreads`, `off`, …):
    /// the notification queue spells two of them its own way.
    fn property(self, name: &str) -> String {
        match self {
            Kind::MainBus => format!("org.killbill.persistent.bus.main.{name}"),
            Kind::ExternalBus => format!("org.killbill.persistent.bus.external.{name}"),
            Kind::Notifications => {
                let name = match name {
                    "nbThreads" => "notification.nbThreads",
                    "off" => "notification.off",
                    other => other,
                };
                format!("org.killbill.notificationq.main.{name}")
            }
        }
    }

    /// An insert of test entries `(creating_owner, claimed by, n)`, created (and due) `age`
    /// ago; a claim's lease runs for another hour.
    pub(super) fn insert(self, entries: &[(&str, Option<&str>, u64)], age: &str) -> String {
        let (extra_columns, extra_values) = match self {
            Kind::Notifications => (
                ", queue_name, effective_date",
                format!(", '{QUEUE_NAME}', now() - interval '{age}'"),
            ),
            Kind::MainBus | Kind::ExternalBus => ("", String::new()),
        };
        let rows: Vec<String> = entries
            .iter()
            .map(|(creator, owner, n)| {
                let (owner, lease, state) = match owner {
                    Some(owner) => (
                        format!("'{owner}'"),
                        "now() + interval '1 hour'",
                        "IN_PROCESSING",
                    ),
                    None => ("null".to_string(), "null", "AVAILABLE"),
                };
                format!(
                    "('{CLASS_NAME}', '{{\"n\":{n}}}', now() - interval '{age}', '{creator}', \
                     {owner}, {lease}, '{state}', {n}, 1{extra_values})"
                )
            })
            .collect();
        format!(
            "insert into {} (class_name, event_json, created_date, creating_owner,
                 processing_owner, processing_available_date, processing_state, search_key1,
                 search_key2{extra_columns})
             values {};",
            self.live(),
            rows.join(", ")
        )
    }
}

/// Every test entry's payload, posted on a bus or recorded as a notification.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    n: u64,
}

fn keys(n: u64) -> SearchKeys {
    SearchKeys {
        account_record_id: Some(n as i64),
        tenant_record_id: 1,
    }
}

impl BusEvent for Payload {
    const CLASS_NAME: &'static str = CLASS_NAME;

    fn search_keys(&self) -> SearchKeys {
        keys(self.n)
    }
}

impl NotificationEvent for Payload {
    const CLASS_NAME: &'static str = CLASS_NAME;
}

/// What a test handler is told of an entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Handled {
    pub record_id: i64,
    pub n: u64,
    pub error_count: i32,
}

/// A node for the queues under test: its monitor writes its heartbeat every 500 ms until the
/// node dies (or is dropped), as a running server's does.
pub(crate) struct TestNode {
    monitor: NodeMonitor,
    stop: watch::Sender<bool>,
}

impl TestNode {
    pub(crate) fn start(db: &Db, name: &str) -> TestNode {
        let monitor = NodeMonitor::new(
            db.clone(),
            name,
            Duration::from_millis(500),
            Duration::from_secs(12),
        );
        let (stop, stopped) = watch::channel(false);
        // Nothing here takes over other nodes: the dead-node channel is dropped.
        let _ = monitor.start(stopped);
        TestNode { monitor, stop }
    }

    /// Stops the heartbeat, as a crash would.
    pub(crate) fn die(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.die();
    }
}

/// A configuration with these queue properties (named as a bus names them) and a main pool of
/// `max_active` connections.
pub(crate) fn queue_config(kind: Kind, properties: &[(&str, &str)], max_active: &str) -> Config {
    let names: Vec<String> = properties
        .iter()
        .map(|(name, _)| kind.property(name))
        .collect();
    let mut pairs: Vec<(&str, &str)> = names
        .iter()
        .zip(properties)
        .map(|(name, (_, value))| (name.as_str(), *value))
        .collect();
    pairs.push(("org.killbill.dao.maxActive", max_active));
    Config::from_properties(&pairs).expect("a valid queue configuration")
}

pub(crate) fn pool(db: &TestDatabase, config: &Config) -> Db {
    Db::new(DbPool::new("main", &config.main_pool, db.config.clone()).expect("a pool"))
}

/// A node that writes no heartbeat, for tests that run too briefly for a reaper to look.
pub(crate) fn quiet_node(db: &Db, config: &Config, name: &str) -> NodeMonitor {
    NodeMonitor::new(
        db.clone(),
        name,
        config.cluster.heartbeat,
        config.cluster.dead_after,
    )
}

#[derive(Clone)]
enum Queued {
    Bus(Bus),
    Notifications(NotificationQueueService),
}

/// One node's queue of the table under test.
#[derive(Clone)]
pub(crate) struct TestQueue {
    queued: Queued,
    node: Arc<TestNode>,
    /// A pool of its own for posting, as requests post on theirs.
    posting: Db,
}

impl TestQueue {
    /// A queue of `kind` with these properties (named as a bus names them) on node `node`,
    /// not yet dispatching; the node starts heartbeating at once.
    pub(crate) fn new(
        db: &TestDatabase,
        kind: Kind,
        properties: &[(&str, &str)],
        node: &str,
    ) -> Self {
        let config = queue_config(kind, properties, "20");
        let queue_db = pool(db, &config);
        let node = Arc::new(TestNode::start(&queue_db, node));
        let queued = match kind {
            Kind::MainBus => {
                Queued::Bus(Bus::new(queue_db, config.main_bus.clone(), &node.monitor))
            }
            Kind::ExternalBus => Queued::Bus(Bus::new(
                queue_db,
                config.external_bus.clone(),
                &node.monitor,
            )),
            Kind::Notifications => Queued::Notifications(NotificationQueueService::new(
                queue_db,
                config.notification_queue.clone(),
                &node.monitor,
                Clock::system(),
            )),
        };
        TestQueue {
            queued,
            node,
            posting: pool(db, &config),
        }
    }

    /// Registers `handler` for the test entries: the subscriber of their class on a bus, the
    /// handler of their queue name on the notification queue.
    pub(crate) fn on_entry<F, Fut>(&self, handler: F)
    where
        F: Fn(Handled) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        match &self.queued {
            Queued::Bus(bus) => bus.subscribe(CLASS_NAME, move |entry: Arc<BusEntry>| {
                let handler = handler.clone();
                async move {
                    let payload: Payload = entry.decode()?;
                    let (record_id, error_count) = (entry.record_id, entry.error_count);
                    handler(Handled {
                        record_id,
                        n: payload.n,
                        error_count,
                    })
                    .await
                }
            }),
            Queued::Notifications(queue) => {
                queue.register(QUEUE_NAME, move |entry: Arc<NotificationEntry>| {
                    let handler = handler.clone();
                    async move {
                        let payload: Payload = entry.decode()?;
                        let (record_id, error_count) = (entry.record_id, entry.error_count);
                        handler(Handled {
                            record_id,
                            n: payload.n,
                            error_count,
                        })
                        .await
                    }
                })
            }
        }
    }

    /// A handler that reports each entry's `n` on the returned channel.
    pub(crate) fn reporting(&self) -> mpsc::UnboundedReceiver<u64> {
        let (handled, receiver) = mpsc::unbounded_channel();
        self.on_entry(move |entry| {
            let _ = handled.send(entry.n);
            async { Ok(()) }
        });
        receiver
    }

    pub(crate) async fn start(&self) {
        match &self.queued {
            Queued::Bus(bus) => bus.start().await.expect("the bus starts"),
            Queued::Notifications(queue) => queue.start().await.expect("the queue starts"),
        }
    }

    /// Posts (or records, due now) entry `n` in its own transaction, committed or rolled
    /// back; returns its record id.
    pub(crate) async fn post(&self, n: u64, commit: bool) -> i64 {
        match &self.queued {
            Queued::Bus(bus) => crate::bus::post(&self.posting, bus, &Payload { n }, commit).await,
            Queued::Notifications(queue) => {
                let work = self.posting.begin().await.expect("a connection");
                let record_id = queue
                    .record_future_notification(
                        &work,
                        QUEUE_NAME,
                        Utc::now(),
                        &Payload { n },
                        keys(n),
                        None,
                    )
                    .await
                    .expect("the notification is recorded");
                if commit {
                    work.commit().await.expect("commit");
                }
                record_id
            }
        }
    }

    pub(crate) async fn ready_entries(&self) -> i64 {
        match &self.queued {
            Queued::Bus(bus) => bus.ready_entries().await.expect("ready entries"),
            Queued::Notifications(queue) => queue.ready_entries().await.expect("ready entries"),
        }
    }

    pub(crate) async fn take_over(&self, node: &str) -> usize {
        match &self.queued {
            Queued::Bus(bus) => bus.take_over(node).await.expect("a take-over"),
            Queued::Notifications(queue) => queue.take_over(node).await.expect("a take-over"),
        }
    }

    pub(crate) async fn shutdown(&self, timeout: Duration) {
        match &self.queued {
            Queued::Bus(bus) => bus.shutdown(timeout).await,
            Queued::Notifications(queue) => queue.shutdown(timeout).await,
        }
    }

    /// Stops this node's heartbeat, as a crash would (its queue may still be running).
    pub(crate) fn die(&self) {
        self.node.die();
    }
}
