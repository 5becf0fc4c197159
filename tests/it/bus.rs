//! What only the persistent bus does, on a real database: the sticky modes (an event exists
//! iff its transaction commits, retries, STICKY_EVENTS' reload of a node's own entries), the
//! in-memory and off buses, and the app running both instances as its node. The queue engine's
//! concurrency and fault tests run on both buses' tables in `queues.rs`.

use std::sync::Arc;
use std::time::Duration;

use ferrobill::bus::{Bus, BusEntry, BusEvent, HandlerError, SearchKeys};
use ferrobill::db::work::Db;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::harness::{count, TestApp, TestDatabase};
use crate::queues::{
    committed_entries_only, failing_handler_in, pool, queue_config, quiet_node, wait_for_count,
    Kind,
};

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

/// A bus not yet dispatching, for subscribing first. Its node writes no heartbeat: nothing
/// here runs long enough for a reaper to look.
fn new_bus(db: &TestDatabase, bus_properties: &[(&str, &str)], node: &str) -> Bus {
    let config = queue_config(Kind::MainBus, bus_properties, "20");
    let db = pool(db, &config);
    let node = quiet_node(&db, &config, node);
    Bus::new(db, config.main_bus.clone(), &node)
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

// POLLING, on every queue table: `queues::committed_entries_are_handled_and_rolled_back_ones_never`.

#[tokio::test]
async fn sticky_polling_dispatches_committed_events_only() {
    committed_entries_only(Kind::MainBus, "STICKY_POLLING").await;
}

#[tokio::test]
async fn sticky_events_dispatches_committed_events_only() {
    committed_entries_only(Kind::MainBus, "STICKY_EVENTS").await;
    committed_entries_only(Kind::ExternalBus, "STICKY_EVENTS").await;
}

// POLLING, on every queue table: `queues::a_failing_handler_is_retried_then_its_entry_fails_and_others_go_on`.

#[tokio::test]
async fn sticky_events_retries_a_failing_handler_then_fails_its_event() {
    failing_handler_in(Kind::MainBus, "STICKY_EVENTS").await;
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
    let posting = pool(&db, &queue_config(Kind::MainBus, &[], "5"));
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
    let posting = pool(&db, &queue_config(Kind::MainBus, &[], "5"));
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
