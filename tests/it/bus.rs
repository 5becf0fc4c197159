//! The persistent bus on a real database: an event exists iff its transaction commits, in
//! every mode; two nodes share the work without handling an entry twice; failing handlers are
//! retried `max.failure.retry` times; a dead node's claims are reaped and handled elsewhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrobill::bus::{Bus, BusEntry, BusEvent, HandlerError, SearchKeys};
use ferrobill::config::Config;
use ferrobill::db::pool::DbPool;
use ferrobill::db::work::Db;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::harness::{count, wait_until, TestApp, TestDatabase};

const BUS: &str = "org.killbill.persistent.bus.main.";
const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TestEvent {
    pub(crate) n: u64,
}

impl BusEvent for TestEvent {
    const CLASS_NAME: &'static str = "org.ferrobill.test.TestEvent";

    fn search_keys(&self) -> SearchKeys {
        SearchKeys {
            account_record_id: Some(self.n as i64),
            tenant_record_id: 1,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct DoomedEvent {
    n: u64,
}

impl BusEvent for DoomedEvent {
    const CLASS_NAME: &'static str = "org.ferrobill.test.DoomedEvent";

    fn search_keys(&self) -> SearchKeys {
        SearchKeys {
            account_record_id: None,
            tenant_record_id: 1,
        }
    }
}

/// A configuration with these main-bus properties (names without the prefix).
fn config(bus_properties: &[(&str, &str)], max_active: &str) -> Config {
    let names: Vec<String> = bus_properties
        .iter()
        .map(|(name, _)| format!("{BUS}{name}"))
        .collect();
    let mut pairs: Vec<(&str, &str)> = names
        .iter()
        .zip(bus_properties)
        .map(|(name, (_, value))| (name.as_str(), *value))
        .collect();
    pairs.push(("org.killbill.dao.maxActive", max_active));
    Config::from_properties(&pairs).expect("a valid bus configuration")
}

fn pool(db: &TestDatabase, config: &Config) -> Db {
    Db::new(DbPool::new("main", &config.main_pool, db.config.clone()).expect("a pool"))
}

/// A bus not yet dispatching, for subscribing first.
fn new_bus(db: &TestDatabase, bus_properties: &[(&str, &str)], node: &str) -> Bus {
    let config = config(bus_properties, "20");
    Bus::new(pool(db, &config), config.main_bus.clone(), node)
}

async fn start_bus(db: &TestDatabase, bus_properties: &[(&str, &str)], node: &str) -> Bus {
    let bus = new_bus(db, bus_properties, node);
    bus.start().await.expect("the bus starts");
    bus
}

/// Posts one event in its own transaction, committed or rolled back; returns its record id.
pub(crate) async fn post<E: BusEvent>(pool: &Db, bus: &Bus, event: &E, commit: bool) -> i64 {
    let work = pool.begin().await.expect("a connection");
    let mut posted = bus.posted();
    let record_id = posted
        .post(&work, event, None)
        .await
        .expect("the event is inserted");
    if commit {
        work.commit().await.expect("commit");
        drop(work);
        posted.committed().await;
    } else {
        drop(work);
        drop(posted);
    }
    record_id
}

async fn wait_for_count(client: &tokio_postgres::Client, what: &str, sql: &str, expected: i64) {
    wait_until(what, WAIT, || async {
        count(client, sql).await == expected
    })
    .await;
}

async fn rolled_back_is_never_dispatched_committed_is(mode: &str, sleep: &str) {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let bus = new_bus(&db, &[("queue.mode", mode), ("sleep", sleep)], "node-a");
    let (handled, mut handled_ids) = mpsc::unbounded_channel::<i64>();
    bus.subscribe(TestEvent::CLASS_NAME, move |entry: Arc<BusEntry>| {
        let handled = handled.clone();
        async move {
            let event: TestEvent = entry.decode()?;
            assert_eq!(
                event.n,
                entry.search_keys.account_record_id.unwrap_or(-1) as u64
            );
            let _ = handled.send(entry.record_id);
            Ok::<(), HandlerError>(())
        }
    });
    bus.start().await.expect("the bus starts");
    let posting = pool(&db, &config(&[], "5"));

    let rolled_back = post(&posting, &bus, &TestEvent { n: 1 }, false).await;
    let committed_at = Instant::now();
    let committed = post(&posting, &bus, &TestEvent { n: 2 }, true).await;
    assert_ne!(rolled_back, committed);

    let first = tokio::time::timeout(WAIT, handled_ids.recv())
        .await
        .expect("the committed event is dispatched")
        .expect("a record id");
    assert_eq!(
        first, committed,
        "{mode}: only the committed event is dispatched"
    );
    // The poll period is far longer than this: NOTIFY (or the in-memory queue) woke the bus.
    assert!(
        committed_at.elapsed() < Duration::from_secs(10),
        "{mode}: dispatched after {:?}",
        committed_at.elapsed()
    );
    wait_for_count(
        &client,
        "the committed event in history",
        "select count(*) from bus_events_history where processing_state = 'PROCESSED'",
        1,
    )
    .await;
    assert_eq!(count(&client, "select count(*) from bus_events").await, 0);
    let history = client
        .query_one(
            "select event_json, processing_owner, creating_owner, error_count, search_key1, search_key2
             from bus_events_history",
            &[],
        )
        .await
        .expect("the history row");
    assert_eq!(history.get::<_, String>(0), r#"{"n":2}"#);
    assert_eq!(
        history.get::<_, Option<String>>(1).as_deref(),
        Some("node-a")
    );
    assert_eq!(history.get::<_, String>(2), "node-a");
    assert_eq!(history.get::<_, i32>(3), 0);
    assert_eq!(history.get::<_, Option<i64>>(4), Some(2));
    assert_eq!(history.get::<_, i64>(5), 1);
    bus.shutdown(Duration::from_secs(5)).await;
    assert!(
        handled_ids.try_recv().is_err(),
        "{mode}: nothing else was dispatched"
    );
}

#[tokio::test]
async fn polling_dispatches_committed_events_only() {
    // A 30 s poll period: the event can only arrive in time through NOTIFY.
    rolled_back_is_never_dispatched_committed_is("POLLING", "30000").await;
}

#[tokio::test]
async fn sticky_polling_dispatches_committed_events_only() {
    rolled_back_is_never_dispatched_committed_is("STICKY_POLLING", "30000").await;
}

#[tokio::test]
async fn sticky_events_dispatches_committed_events_only() {
    rolled_back_is_never_dispatched_committed_is("STICKY_EVENTS", "30000").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_ten_thousand_events_without_handling_one_twice() {
    const TASKS: u64 = 50;
    const PER_TASK: u64 = 200;
    const TOTAL: u64 = TASKS * PER_TASK;
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let properties = [
        ("queue.mode", "POLLING"),
        ("sleep", "50"),
        ("claimed", "100"),
        ("nbThreads", "10"),
    ];
    // record id → the nodes that handled it.
    let handled: Arc<Mutex<HashMap<i64, Vec<&'static str>>>> = Arc::default();
    let all_handled = Arc::new(tokio::sync::Notify::new());
    let mut buses = Vec::new();
    for node in ["node-a", "node-b"] {
        let bus = new_bus(&db, &properties, node);
        let handled = handled.clone();
        let all_handled = all_handled.clone();
        bus.subscribe(TestEvent::CLASS_NAME, move |entry: Arc<BusEntry>| {
            let handled = handled.clone();
            let all_handled = all_handled.clone();
            async move {
                let mut handled = handled.lock().map_err(|e| e.to_string())?;
                handled.entry(entry.record_id).or_default().push(node);
                if handled.len() as u64 == TOTAL {
                    all_handled.notify_one();
                }
                Ok::<(), HandlerError>(())
            }
        });
        bus.start().await.expect("the bus starts");
        buses.push(bus);
    }

    let posting = pool(&db, &config(&[], "60"));
    let mut posters = Vec::new();
    for task in 0..TASKS {
        let posting = posting.clone();
        let bus = buses[(task % 2) as usize].clone();
        posters.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                post(
                    &posting,
                    &bus,
                    &TestEvent {
                        n: task * PER_TASK + i,
                    },
                    true,
                )
                .await;
            }
        }));
    }
    for poster in posters {
        poster.await.expect("a posting task");
    }
    tokio::time::timeout(Duration::from_secs(120), all_handled.notified())
        .await
        .expect("every event is handled");
    wait_for_count(
        &client,
        "every event in history",
        "select count(*) from bus_events_history where processing_state = 'PROCESSED'",
        TOTAL as i64,
    )
    .await;
    assert_eq!(count(&client, "select count(*) from bus_events").await, 0);
    assert_eq!(
        count(
            &client,
            "select count(distinct event_json) from bus_events_history"
        )
        .await,
        TOTAL as i64
    );
    let handled = handled.lock().expect("the handled map").clone();
    let twice: Vec<_> = handled
        .iter()
        .filter(|(_, nodes)| nodes.len() != 1)
        .collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    for node in ["node-a", "node-b"] {
        let by_node = handled.values().filter(|nodes| nodes[0] == node).count();
        assert!(by_node > 0, "{node} handled nothing");
        let in_history = count(
            &client,
            &format!("select count(*) from bus_events_history where processing_owner = '{node}'"),
        )
        .await;
        assert_eq!(in_history, by_node as i64, "{node}'s history rows");
    }
    for bus in buses {
        bus.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn polling_retries_a_failing_handler_then_fails_its_event() {
    a_failing_handler_is_retried_then_its_event_fails_and_others_go_on("POLLING").await;
}

#[tokio::test]
async fn sticky_events_retries_a_failing_handler_then_fails_its_event() {
    a_failing_handler_is_retried_then_its_event_fails_and_others_go_on("STICKY_EVENTS").await;
}

async fn a_failing_handler_is_retried_then_its_event_fails_and_others_go_on(mode: &str) {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let bus = new_bus(
        &db,
        &[
            ("queue.mode", mode),
            ("sleep", "50"),
            ("max.failure.retry", "2"),
        ],
        "node-a",
    );
    let attempts: Arc<Mutex<Vec<i32>>> = Arc::default();
    {
        let attempts = attempts.clone();
        bus.subscribe(DoomedEvent::CLASS_NAME, move |entry: Arc<BusEntry>| {
            let attempts = attempts.clone();
            async move {
                attempts
                    .lock()
                    .map_err(|e| e.to_string())?
                    .push(entry.error_count);
                Err::<(), HandlerError>("this handler always fails".into())
            }
        });
    }
    bus.subscribe(TestEvent::CLASS_NAME, |_entry: Arc<BusEntry>| async {
        Ok::<(), HandlerError>(())
    });
    bus.start().await.expect("the bus starts");
    let posting = pool(&db, &config(&[], "5"));
    post(&posting, &bus, &DoomedEvent { n: 0 }, true).await;
    for n in 0..5 {
        post(&posting, &bus, &TestEvent { n }, true).await;
    }

    wait_for_count(
        &client,
        "every event in history",
        "select count(*) from bus_events_history",
        6,
    )
    .await;
    assert_eq!(count(&client, "select count(*) from bus_events").await, 0);
    // max.failure.retry + 1 tries, each seeing the count of earlier failures.
    assert_eq!(*attempts.lock().expect("attempts"), vec![0, 1, 2]);
    let failed = client
        .query_one(
            "select class_name, processing_state, error_count from bus_events_history
             where processing_state <> 'PROCESSED'",
            &[],
        )
        .await
        .expect("one event did not succeed");
    assert_eq!(failed.get::<_, String>(0), DoomedEvent::CLASS_NAME);
    assert_eq!(failed.get::<_, String>(1), "FAILED");
    // As in Kill Bill, history keeps the count from before the last try.
    assert_eq!(failed.get::<_, i32>(2), 2);
    assert_eq!(
        count(
            &client,
            "select count(*) from bus_events_history
             where processing_state = 'PROCESSED' and error_count = 0"
        )
        .await,
        5
    );
    bus.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_stopped_nodes_claims_are_reaped_and_handled_by_another_node() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    // STICKY_POLLING: a node only claims entries it created, so another node's entries can
    // reach node B through the reaper alone. Kill Bill pushes the reap threshold out to
    // claim.time + 5m unless claim.time is below it, hence the short lease.
    let properties = [
        ("queue.mode", "STICKY_POLLING"),
        ("sleep", "50"),
        ("claim.time", "500ms"),
        ("reapThreshold", "1s"),
        ("reapSchedule", "200ms"),
    ];

    // Node A claims three events, hangs in its handler, and stops without finishing them.
    let doomed_node = new_bus(&db, &properties, "node-a");
    let (entered, mut entered_events) = mpsc::unbounded_channel::<i64>();
    doomed_node.subscribe(TestEvent::CLASS_NAME, move |entry: Arc<BusEntry>| {
        let entered = entered.clone();
        async move {
            let _ = entered.send(entry.record_id);
            std::future::pending::<()>().await;
            Ok::<(), HandlerError>(())
        }
    });
    doomed_node.start().await.expect("node A starts");
    let posting = pool(&db, &config(&[], "5"));
    for n in 0..3 {
        post(&posting, &doomed_node, &TestEvent { n }, true).await;
    }
    for _ in 0..3 {
        tokio::time::timeout(WAIT, entered_events.recv())
            .await
            .expect("node A claims the events")
            .expect("a record id");
    }
    doomed_node.shutdown(Duration::from_millis(100)).await;

    // A node that died holding a long lease: only its stale heartbeat shows it is gone.
    // And a node that is alive (fresh heartbeat, lease running): its claim must be left alone.
    client
        .batch_execute(
            "insert into bus_nodes values ('node-gone', now() - interval '2 hours', now() - interval '1 hour');
             insert into bus_nodes values ('node-busy', now(), now());
             insert into bus_events (class_name, event_json, created_date, creating_owner,
                 processing_owner, processing_available_date, processing_state, search_key2)
             values ('org.ferrobill.test.TestEvent', '{\"n\":98}', now() - interval '1 hour',
                     'node-gone', 'node-gone', now() + interval '1 hour', 'IN_PROCESSING', 1),
                    ('org.ferrobill.test.TestEvent', '{\"n\":99}', now() - interval '1 hour',
                     'node-busy', 'node-busy', now() + interval '1 hour', 'IN_PROCESSING', 1);",
        )
        .await
        .expect("claims of a dead and of a busy node");

    let survivor = new_bus(&db, &properties, "node-b");
    let (handled, mut handled_events) = mpsc::unbounded_channel::<u64>();
    survivor.subscribe(TestEvent::CLASS_NAME, move |entry: Arc<BusEntry>| {
        let handled = handled.clone();
        async move {
            let event: TestEvent = entry.decode()?;
            let _ = handled.send(event.n);
            Ok::<(), HandlerError>(())
        }
    });
    survivor.start().await.expect("node B starts");
    let mut rescued = Vec::new();
    for _ in 0..4 {
        rescued.push(
            tokio::time::timeout(WAIT, handled_events.recv())
                .await
                .expect("node B handles the dead nodes' events")
                .expect("an event"),
        );
    }
    rescued.sort_unstable();
    assert_eq!(rescued, vec![0, 1, 2, 98]);
    wait_for_count(
        &client,
        "the rescued events processed",
        "select count(*) from bus_events_history
         where processing_state = 'PROCESSED' and processing_owner = 'node-b'
           and creating_owner = 'node-b'",
        4,
    )
    .await;
    assert_eq!(
        count(
            &client,
            "select count(*) from bus_events_history
             where processing_state = 'REAPED' and processing_owner in ('node-a', 'node-gone')"
        )
        .await,
        4
    );
    // Waiting is the point here: several reaper passes later, the busy node's claim is still
    // its own.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        count(
            &client,
            "select count(*) from bus_events where processing_owner = 'node-busy'"
        )
        .await,
        1
    );
    assert_eq!(count(&client, "select count(*) from bus_events").await, 1);
    assert!(handled_events.try_recv().is_err(), "nothing else handled");
    survivor.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn sticky_events_reloads_this_nodes_entries_on_start() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    // Left from before a restart: two of this node's entries and one of another node's,
    // which this node must not take (only the reaper would, after reapThreshold).
    client
        .batch_execute(
            "insert into bus_events (class_name, event_json, created_date, creating_owner, search_key2)
             values ('org.ferrobill.test.TestEvent', '{\"n\":1}', now(), 'node-s', 1),
                    ('org.ferrobill.test.TestEvent', '{\"n\":2}', now(), 'node-other', 1),
                    ('org.ferrobill.test.TestEvent', '{\"n\":3}', now(), 'node-s', 1);",
        )
        .await
        .expect("entries from before");
    let bus = new_bus(&db, &[("queue.mode", "STICKY_EVENTS")], "node-s");
    let (handled, mut handled_events) = mpsc::unbounded_channel::<u64>();
    bus.subscribe(TestEvent::CLASS_NAME, move |entry: Arc<BusEntry>| {
        let handled = handled.clone();
        async move {
            let event: TestEvent = entry.decode()?;
            let _ = handled.send(event.n);
            Ok::<(), HandlerError>(())
        }
    });
    bus.start().await.expect("the bus starts");
    let mut reloaded = Vec::new();
    for _ in 0..2 {
        reloaded.push(
            tokio::time::timeout(WAIT, handled_events.recv())
                .await
                .expect("this node's entries are dispatched")
                .expect("an event"),
        );
    }
    reloaded.sort_unstable();
    assert_eq!(reloaded, vec![1, 3]);
    wait_for_count(
        &client,
        "this node's entries processed",
        "select count(*) from bus_events_history where processing_state = 'PROCESSED'",
        2,
    )
    .await;
    assert_eq!(
        count(
            &client,
            "select count(*) from bus_events_history where creating_owner = 'node-s'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &client,
            "select count(*) from bus_events where creating_owner = 'node-other'"
        )
        .await,
        1
    );
    // getNbReadyEntries in a sticky mode counts this node's entries only.
    assert_eq!(bus.ready_entries().await.expect("ready entries"), 0);
    bus.shutdown(Duration::from_secs(5)).await;
    assert!(handled_events.try_recv().is_err(), "nothing else handled");
}

#[tokio::test]
async fn an_in_memory_bus_dispatches_on_commit_and_keeps_no_rows() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let bus = start_bus(&db, &[("inMemory", "true")], "node-a").await;
    let (handled, mut handled_events) = mpsc::unbounded_channel::<u64>();
    bus.subscribe(TestEvent::CLASS_NAME, move |entry: Arc<BusEntry>| {
        let handled = handled.clone();
        async move {
            let event: TestEvent = entry.decode()?;
            let _ = handled.send(event.n);
            Ok::<(), HandlerError>(())
        }
    });
    let posting = pool(&db, &config(&[], "5"));
    post(&posting, &bus, &TestEvent { n: 1 }, false).await;
    post(&posting, &bus, &TestEvent { n: 2 }, true).await;
    // committed() ran the subscribers before returning.
    assert_eq!(handled_events.try_recv().ok(), Some(2));
    assert!(handled_events.try_recv().is_err());
    assert_eq!(count(&client, "select count(*) from bus_events").await, 0);
    assert!(bus.ready_entries().await.is_err());
    bus.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_bus_that_is_off_stores_events_without_dispatching() {
    let db = TestDatabase::create().await;
    let bus = start_bus(&db, &[("off", "true")], "node-a").await;
    bus.subscribe(TestEvent::CLASS_NAME, |_entry: Arc<BusEntry>| async {
        Err::<(), HandlerError>("an off bus dispatches nothing".into())
    });
    let posting = pool(&db, &config(&[], "5"));
    post(&posting, &bus, &TestEvent { n: 1 }, true).await;
    assert_eq!(bus.ready_entries().await.expect("ready entries"), 1);
    bus.shutdown(Duration::from_secs(5)).await;
    assert_eq!(bus.ready_entries().await.expect("ready entries"), 1);
}

#[tokio::test]
async fn the_app_runs_both_buses_as_its_node() {
    let app = TestApp::spawn_with(&[("org.killbill.queue.creator.name", "node-app")]).await;
    let client = app.db.client().await;
    let (main, external) = (app.app().main_bus(), app.app().external_bus());
    assert_eq!((main.name(), main.table()), ("main", "bus_events"));
    assert_eq!(
        (external.name(), external.table()),
        ("external", "bus_ext_events")
    );
    assert_eq!(main.node(), "node-app");
    assert_eq!(
        count(
            &client,
            "select count(*) from bus_nodes where node_name = 'node-app'"
        )
        .await,
        1
    );
    assert_eq!(main.ready_entries().await.expect("ready entries"), 0);
    assert_eq!(external.ready_entries().await.expect("ready entries"), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_polling_node_reconnects_its_listener_and_still_wakes_on_commit() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let bus = new_bus(
        &db,
        &[("queue.mode", "POLLING"), ("sleep", "30000")],
        "node-a",
    );
    let (handled, mut handled_events) = mpsc::unbounded_channel::<u64>();
    bus.subscribe(TestEvent::CLASS_NAME, move |entry: Arc<BusEntry>| {
        let handled = handled.clone();
        async move {
            let event: TestEvent = entry.decode()?;
            let _ = handled.send(event.n);
            Ok::<(), HandlerError>(())
        }
    });
    bus.start().await.expect("the bus starts");
    const LISTENER: &str = "select pid from pg_stat_activity
         where datname = current_database() and query = 'listen bus_events'";
    let listener_pid = || async {
        client
            .query_opt(LISTENER, &[])
            .await
            .expect("pg_stat_activity")
            .map(|row| row.get::<_, i32>(0))
    };
    wait_until("the listener to connect", WAIT, || async {
        listener_pid().await.is_some()
    })
    .await;
    let first_pid = listener_pid().await.expect("a listener");
    client
        .execute("select pg_terminate_backend($1)", &[&first_pid])
        .await
        .expect("terminate the listener's session");
    wait_until("the listener to reconnect", WAIT, || async {
        listener_pid().await.is_some_and(|pid| pid != first_pid)
    })
    .await;

    let posting = pool(&db, &config(&[], "5"));
    post(&posting, &bus, &TestEvent { n: 7 }, true).await;
    // Far sooner than the 30 s poll period: the new listener woke the fetcher.
    let handled = tokio::time::timeout(Duration::from_secs(10), handled_events.recv())
        .await
        .expect("the event is dispatched without waiting for the poll period");
    assert_eq!(handled, Some(7));
    bus.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_saturated_node_leaves_entries_in_the_table_until_a_worker_is_free() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    // One worker, a hand-over queue of one, one entry per poll.
    let bus = new_bus(
        &db,
        &[
            ("queue.mode", "POLLING"),
            ("sleep", "20"),
            ("claimed", "1"),
            ("nbThreads", "1"),
            ("queue.capacity", "1"),
        ],
        "node-a",
    );
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    {
        let gate = gate.clone();
        bus.subscribe(TestEvent::CLASS_NAME, move |_entry: Arc<BusEntry>| {
            let gate = gate.clone();
            async move {
                gate.acquire().await?.forget();
                Ok::<(), HandlerError>(())
            }
        });
    }
    bus.start().await.expect("the bus starts");
    let posting = pool(&db, &config(&[], "5"));
    for n in 0..6 {
        post(&posting, &bus, &TestEvent { n }, true).await;
    }
    // One entry in the handler, one in the queue, one claimed by the blocked fetcher.
    wait_for_count(
        &client,
        "the node to saturate",
        "select count(*) from bus_events where processing_state = 'IN_PROCESSING'",
        3,
    )
    .await;
    // Waiting is the point: a saturated fetcher claims nothing more.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count(
            &client,
            "select count(*) from bus_events where processing_state = 'AVAILABLE'"
        )
        .await,
        3
    );
    assert_eq!(bus.ready_entries().await.expect("ready entries"), 3);
    gate.add_permits(6);
    wait_for_count(
        &client,
        "every event processed",
        "select count(*) from bus_events_history where processing_state = 'PROCESSED'",
        6,
    )
    .await;
    bus.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn shutdown_waits_for_a_running_handler_and_records_its_outcome() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let bus = new_bus(&db, &[("queue.mode", "POLLING"), ("sleep", "20")], "node-a");
    let (entered, mut entered_events) = mpsc::unbounded_channel::<()>();
    bus.subscribe(TestEvent::CLASS_NAME, move |_entry: Arc<BusEntry>| {
        let entered = entered.clone();
        async move {
            let _ = entered.send(());
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok::<(), HandlerError>(())
        }
    });
    bus.start().await.expect("the bus starts");
    let posting = pool(&db, &config(&[], "5"));
    post(&posting, &bus, &TestEvent { n: 1 }, true).await;
    tokio::time::timeout(WAIT, entered_events.recv())
        .await
        .expect("the handler starts");
    bus.shutdown(Duration::from_secs(10)).await;
    // Recorded before shutdown returned.
    assert_eq!(
        count(
            &client,
            "select count(*) from bus_events_history where processing_state = 'PROCESSED'"
        )
        .await,
        1
    );
    assert_eq!(count(&client, "select count(*) from bus_events").await, 0);
}

#[tokio::test]
async fn a_handler_outliving_its_lease_on_a_live_node_runs_once() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    // Leases far shorter than the handler: without renewal the other node would claim (or
    // reap) each entry again while the first still handles it.
    let properties = [
        ("queue.mode", "POLLING"),
        ("sleep", "50"),
        ("claim.time", "300ms"),
        ("reapThreshold", "400ms"),
        ("reapSchedule", "100ms"),
    ];
    let calls = Arc::new(Mutex::new(HashMap::<u64, usize>::new()));
    let mut nodes = Vec::new();
    for node in ["node-a", "node-b"] {
        let bus = new_bus(&db, &properties, node);
        let calls = calls.clone();
        bus.subscribe(TestEvent::CLASS_NAME, move |entry: Arc<BusEntry>| {
            let calls = calls.clone();
            async move {
                let event: TestEvent = entry.decode()?;
                *calls.lock().expect("calls").entry(event.n).or_default() += 1;
                // The handler's own slow work (a slow database, a slow callback).
                tokio::time::sleep(Duration::from_millis(1500)).await;
                Ok::<(), HandlerError>(())
            }
        });
        bus.start().await.expect("the bus starts");
        nodes.push(bus);
    }
    let posting = pool(&db, &config(&[], "5"));
    for n in 0..4 {
        post(&posting, &nodes[(n % 2) as usize], &TestEvent { n }, true).await;
    }
    wait_for_count(
        &client,
        "every event processed",
        "select count(*) from bus_events_history where processing_state = 'PROCESSED'",
        4,
    )
    .await;
    assert_eq!(count(&client, "select count(*) from bus_events").await, 0);
    assert_eq!(
        count(
            &client,
            "select count(*) from bus_events_history where processing_state <> 'PROCESSED'"
        )
        .await,
        0,
        "nothing reaped"
    );
    let calls = calls.lock().expect("calls").clone();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(
        calls.values().all(|&n| n == 1),
        "each handled once: {calls:?}"
    );
    for node in nodes {
        node.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn an_outcome_that_cannot_be_recorded_for_a_while_is_recorded_once_the_database_is_back() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    // The default claim.time (5 minutes): an outcome given up on would wait that long.
    let bus = new_bus(&db, &[("sleep", "50")], "node-a");
    let (entered, mut entered_events) = mpsc::unbounded_channel::<()>();
    let release = Arc::new(tokio::sync::Notify::new());
    let calls = Arc::new(Mutex::new(0_usize));
    {
        let (release, calls) = (release.clone(), calls.clone());
        bus.subscribe(TestEvent::CLASS_NAME, move |_entry: Arc<BusEntry>| {
            let (entered, release, calls) = (entered.clone(), release.clone(), calls.clone());
            async move {
                *calls.lock().expect("calls") += 1;
                let _ = entered.send(());
                release.notified().await;
                Ok::<(), HandlerError>(())
            }
        });
    }
    bus.start().await.expect("the bus starts");
    let posting = pool(&db, &config(&[], "5"));
    post(&posting, &bus, &TestEvent { n: 1 }, true).await;
    tokio::time::timeout(WAIT, entered_events.recv())
        .await
        .expect("the handler runs")
        .expect("entered");

    // The history table vanishes while the handler finishes: recording the outcome fails,
    // for longer than a few quick retries would cover.
    client
        .batch_execute("alter table bus_events_history rename to bus_events_history_away")
        .await
        .expect("hide the history table");
    release.notify_one();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    client
        .batch_execute("alter table bus_events_history_away rename to bus_events_history")
        .await
        .expect("restore the history table");

    wait_for_count(
        &client,
        "the outcome recorded",
        "select count(*) from bus_events_history where processing_state = 'PROCESSED'",
        1,
    )
    .await;
    assert_eq!(count(&client, "select count(*) from bus_events").await, 0);
    assert_eq!(*calls.lock().expect("calls"), 1, "handled once");
    bus.shutdown(Duration::from_secs(5)).await;
}
