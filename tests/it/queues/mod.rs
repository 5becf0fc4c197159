//! The queue engine on a real database, once per queue table: the main bus (`bus_events`),
//! the external bus (`bus_ext_events`) and the notification queue (`notifications`) run the
//! same engine, so each concurrency and fault test here runs on each of them. An entry exists
//! iff its transaction commits; two nodes share the work without handling an entry twice;
//! failing handlers are retried `max.failure.retry` times; a dead node's claims are reaped or
//! taken over and handled elsewhere, a live node's never, even when its handler outlives the
//! lease; outcomes survive a database outage; a saturated node leaves entries in the table; a
//! lost NOTIFY listener reconnects.
//!
//! What only one kind of queue does (STICKY_EVENTS, the in-memory bus, effective dates) is
//! tested in `bus.rs` and `notifications.rs`, with the configuration, pool, node and waits
//! this module shares.

mod table;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrobill::bus::HandlerError;
use tokio::sync::mpsc;

use crate::harness::{count, wait_until, TestDatabase};
use table::TestQueue;
pub(crate) use table::{pool, queue_config, quiet_node, Kind};

const WAIT: Duration = Duration::from_secs(60);

/// Runs each named test (an `async fn(Kind)`) once per queue table, as `name::main_bus`,
/// `name::external_bus` and `name::notifications`.
macro_rules! per_table {
    ($($test:ident),* $(,)?) => {
        $(per_table!(@one $test, tokio::test);)*
    };
    (@one $test:ident, $runtime:meta) => {
        mod $test {
            use super::Kind;

            #[$runtime]
            async fn main_bus() {
                super::$test(Kind::MainBus).await
            }

            #[$runtime]
            async fn external_bus() {
                super::$test(Kind::ExternalBus).await
            }

            #[$runtime]
            async fn notifications() {
                super::$test(Kind::Notifications).await
            }
        }
    };
}

per_table!(
    committed_entries_are_handled_and_rolled_back_ones_never,
    a_failing_handler_is_retried_then_its_entry_fails_and_others_go_on,
    a_dead_nodes_claims_are_reaped_and_a_live_nodes_are_not,
    a_dead_nodes_entries_are_taken_over_at_once,
    a_handler_outliving_its_lease_on_a_live_node_runs_once,
    an_outcome_that_cannot_be_recorded_for_a_while_is_recorded_once_the_database_is_back,
    a_saturated_node_leaves_entries_in_the_table_until_a_worker_is_free,
    shutdown_waits_for_a_running_handler_and_records_its_outcome,
    a_polling_node_reconnects_its_listener_and_still_wakes_on_commit,
);
per_table!(
    @one two_nodes_share_ten_thousand_entries_without_handling_one_twice,
    tokio::test(flavor = "multi_thread", worker_threads = 4)
);

/// Waits (up to a minute) until `sql` counts `expected`.
pub(crate) async fn wait_for_count(
    client: &tokio_postgres::Client,
    what: &str,
    sql: &str,
    expected: i64,
) {
    wait_until(what, WAIT, || async {
        count(client, sql).await == expected
    })
    .await;
}

async fn committed_entries_are_handled_and_rolled_back_ones_never(kind: Kind) {
    committed_entries_only(kind, "POLLING").await;
}

/// In `mode`, with a 30 s poll period: the committed entry can only arrive in time because
/// the commit woke the queue (NOTIFY, or STICKY_EVENTS' in-memory hand-over).
pub(crate) async fn committed_entries_only(kind: Kind, mode: &str) {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let queue = TestQueue::new(
        &db,
        kind,
        &[("queue.mode", mode), ("sleep", "30000")],
        "node-a",
    );
    let (handled, mut handled_ids) = mpsc::unbounded_channel::<i64>();
    queue.on_entry(move |entry| {
        let _ = handled.send(entry.record_id);
        async { Ok(()) }
    });
    queue.start().await;

    let rolled_back = queue.post(1, false).await;
    let committed_at = Instant::now();
    let committed = queue.post(2, true).await;
    assert_ne!(rolled_back, committed);
    let first = tokio::time::timeout(WAIT, handled_ids.recv())
        .await
        .expect("the committed entry is dispatched")
        .expect("a record id");
    assert_eq!(
        first, committed,
        "{kind:?} {mode}: only the committed entry is dispatched"
    );
    assert!(
        committed_at.elapsed() < Duration::from_secs(10),
        "{kind:?} {mode}: dispatched after {:?}",
        committed_at.elapsed()
    );
    let history = kind.history();
    wait_for_count(
        &client,
        "the committed entry in history",
        &format!("select count(*) from {history} where processing_state = 'PROCESSED'"),
        1,
    )
    .await;
    assert_eq!(
        count(&client, &format!("select count(*) from {}", kind.live())).await,
        0
    );
    let row = client
        .query_one(
            &format!(
                "select event_json, processing_owner, creating_owner, error_count, search_key1,
                        search_key2
                 from {history}"
            ),
            &[],
        )
        .await
        .expect("the history row");
    assert_eq!(row.get::<_, String>(0), r#"{"n":2}"#);
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("node-a"));
    assert_eq!(row.get::<_, String>(2), "node-a");
    assert_eq!(row.get::<_, i32>(3), 0);
    assert_eq!(row.get::<_, Option<i64>>(4), Some(2));
    assert_eq!(row.get::<_, i64>(5), 1);
    queue.shutdown(Duration::from_secs(5)).await;
    assert!(
        handled_ids.try_recv().is_err(),
        "{kind:?} {mode}: nothing else was dispatched"
    );
}

async fn two_nodes_share_ten_thousand_entries_without_handling_one_twice(kind: Kind) {
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
    let mut nodes = Vec::new();
    for node in ["node-a", "node-b"] {
        let queue = TestQueue::new(&db, kind, &properties, node);
        let (handled, all_handled) = (handled.clone(), all_handled.clone());
        queue.on_entry(move |entry| {
            let mut handled = handled.lock().expect("the handled map");
            handled.entry(entry.record_id).or_default().push(node);
            if handled.len() as u64 == TOTAL {
                all_handled.notify_one();
            }
            async { Ok(()) }
        });
        queue.start().await;
        nodes.push(queue);
    }

    let mut posters = Vec::new();
    for task in 0..TASKS {
        let queue = nodes[(task % 2) as usize].clone();
        posters.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                queue.post(task * PER_TASK + i, true).await;
            }
        }));
    }
    for poster in posters {
        poster.await.expect("a posting task");
    }
    tokio::time::timeout(Duration::from_secs(120), all_handled.notified())
        .await
        .expect("every entry is handled");
    let history = kind.history();
    wait_for_count(
        &client,
        "every entry in history",
        &format!("select count(*) from {history} where processing_state = 'PROCESSED'"),
        TOTAL as i64,
    )
    .await;
    assert_eq!(
        count(&client, &format!("select count(*) from {}", kind.live())).await,
        0
    );
    assert_eq!(
        count(
            &client,
            &format!("select count(distinct event_json) from {history}")
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
            &format!("select count(*) from {history} where processing_owner = '{node}'"),
        )
        .await;
        assert_eq!(in_history, by_node as i64, "{node}'s history rows");
    }
    for queue in nodes {
        queue.shutdown(Duration::from_secs(5)).await;
    }
}

async fn a_failing_handler_is_retried_then_its_entry_fails_and_others_go_on(kind: Kind) {
    failing_handler_in(kind, "POLLING").await;
}

/// In `mode`, entry 0's handler always fails: it is tried `max.failure.retry` + 1 times, then
/// moves to history as FAILED, while entries 1 to 5 are processed.
pub(crate) async fn failing_handler_in(kind: Kind, mode: &str) {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let queue = TestQueue::new(
        &db,
        kind,
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
        queue.on_entry(move |entry| {
            let failed = entry.n == 0;
            if failed {
                attempts.lock().expect("attempts").push(entry.error_count);
            }
            async move {
                if failed {
                    return Err::<(), HandlerError>("this handler always fails".into());
                }
                Ok(())
            }
        });
    }
    queue.start().await;
    for n in 0..6 {
        queue.post(n, true).await;
    }

    let history = kind.history();
    wait_for_count(
        &client,
        "every entry in history",
        &format!("select count(*) from {history}"),
        6,
    )
    .await;
    assert_eq!(
        count(&client, &format!("select count(*) from {}", kind.live())).await,
        0
    );
    // max.failure.retry + 1 tries, each seeing the count of earlier failures.
    assert_eq!(*attempts.lock().expect("attempts"), vec![0, 1, 2]);
    let failed = client
        .query_one(
            &format!(
                "select event_json, processing_state, error_count from {history}
                 where processing_state <> 'PROCESSED'"
            ),
            &[],
        )
        .await
        .expect("one entry did not succeed");
    assert_eq!(failed.get::<_, String>(0), r#"{"n":0}"#);
    assert_eq!(failed.get::<_, String>(1), "FAILED");
    // As in Kill Bill, history keeps the count from before the last try.
    assert_eq!(failed.get::<_, i32>(2), 2);
    assert_eq!(
        count(
            &client,
            &format!(
                "select count(*) from {history}
                 where processing_state = 'PROCESSED' and error_count = 0"
            )
        )
        .await,
        5
    );
    queue.shutdown(Duration::from_secs(5)).await;
}

async fn a_dead_nodes_claims_are_reaped_and_a_live_nodes_are_not(kind: Kind) {
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

    // Node A claims three entries, hangs in its handler, stops without finishing them and
    // dies.
    let doomed = TestQueue::new(&db, kind, &properties, "node-a");
    let (entered, mut entered_entries) = mpsc::unbounded_channel::<i64>();
    doomed.on_entry(move |entry| {
        let _ = entered.send(entry.record_id);
        async {
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    doomed.start().await;
    for n in 0..3 {
        doomed.post(n, true).await;
    }
    for _ in 0..3 {
        tokio::time::timeout(WAIT, entered_entries.recv())
            .await
            .expect("node A claims the entries")
            .expect("a record id");
    }
    doomed.shutdown(Duration::from_millis(100)).await;
    doomed.die();

    // A node that died holding a long lease: only its stale heartbeat shows it is gone.
    // And a node that is alive (fresh heartbeat, lease running): its claim must be left alone.
    client
        .batch_execute(&format!(
            "insert into bus_nodes values ('node-gone', now() - interval '2 hours', now() - interval '1 hour');
             insert into bus_nodes values ('node-busy', now(), now());
             {}",
            kind.insert(
                &[("node-gone", Some("node-gone"), 98), ("node-busy", Some("node-busy"), 99)],
                "1 hour"
            )
        ))
        .await
        .expect("claims of a dead and of a busy node");

    let survivor = TestQueue::new(&db, kind, &properties, "node-b");
    let mut handled = survivor.reporting();
    survivor.start().await;
    let mut rescued = Vec::new();
    for _ in 0..4 {
        rescued.push(
            tokio::time::timeout(WAIT, handled.recv())
                .await
                .expect("node B handles the dead nodes' entries")
                .expect("an entry"),
        );
    }
    rescued.sort_unstable();
    assert_eq!(rescued, vec![0, 1, 2, 98]);
    let (live, history) = (kind.live(), kind.history());
    wait_for_count(
        &client,
        "the rescued entries processed",
        &format!(
            "select count(*) from {history}
             where processing_state = 'PROCESSED' and processing_owner = 'node-b'
               and creating_owner = 'node-b'"
        ),
        4,
    )
    .await;
    assert_eq!(
        count(
            &client,
            &format!(
                "select count(*) from {history}
                 where processing_state = 'REAPED' and processing_owner in ('node-a', 'node-gone')"
            )
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
            &format!("select count(*) from {live} where processing_owner = 'node-busy'")
        )
        .await,
        1
    );
    assert_eq!(
        count(&client, &format!("select count(*) from {live}")).await,
        1
    );
    assert!(handled.try_recv().is_err(), "nothing else handled");
    survivor.shutdown(Duration::from_secs(5)).await;
}

async fn a_dead_nodes_entries_are_taken_over_at_once(kind: Kind) {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    // The victim's claim (its lease runs for an hour) and an entry only it would dispatch
    // (sticky modes), both fresh, so no reaper would touch them for ten minutes; and a live
    // node's claim, which must stay its own.
    client
        .batch_execute(&kind.insert(
            &[
                ("victim", Some("victim"), 1),
                ("victim", None, 2),
                ("alive", Some("alive"), 3),
            ],
            "0 seconds",
        ))
        .await
        .expect("the victim's entries");
    let taker = TestQueue::new(
        &db,
        kind,
        &[("queue.mode", "STICKY_POLLING"), ("sleep", "50")],
        "taker",
    );
    let mut handled = taker.reporting();
    taker.start().await;

    assert_eq!(taker.take_over("victim").await, 2);
    let mut taken = Vec::new();
    for _ in 0..2 {
        taken.push(
            tokio::time::timeout(WAIT, handled.recv())
                .await
                .expect("the taker handles the victim's entries")
                .expect("an entry"),
        );
    }
    taken.sort_unstable();
    assert_eq!(taken, vec![1, 2]);
    let (live, history) = (kind.live(), kind.history());
    wait_for_count(
        &client,
        "the taken entries processed",
        &format!(
            "select count(*) from {history}
             where processing_state = 'PROCESSED' and processing_owner = 'taker'
               and creating_owner = 'taker'"
        ),
        2,
    )
    .await;
    assert_eq!(
        count(
            &client,
            &format!(
                "select count(*) from {history}
                 where processing_state = 'REAPED' and creating_owner = 'victim'"
            )
        )
        .await,
        2
    );
    assert_eq!(taker.take_over("victim").await, 0, "nothing is taken twice");
    assert_eq!(
        count(
            &client,
            &format!("select count(*) from {live} where processing_owner = 'alive'")
        )
        .await,
        1
    );
    assert!(handled.try_recv().is_err(), "nothing else handled");
    taker.shutdown(Duration::from_secs(5)).await;
}

async fn a_handler_outliving_its_lease_on_a_live_node_runs_once(kind: Kind) {
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
        let queue = TestQueue::new(&db, kind, &properties, node);
        let calls = calls.clone();
        queue.on_entry(move |entry| {
            *calls.lock().expect("calls").entry(entry.n).or_default() += 1;
            async {
                // The handler's own slow work (a slow database, a slow callback).
                tokio::time::sleep(Duration::from_millis(1500)).await;
                Ok(())
            }
        });
        queue.start().await;
        nodes.push(queue);
    }
    for n in 0..4 {
        nodes[(n % 2) as usize].post(n, true).await;
    }
    let (live, history) = (kind.live(), kind.history());
    wait_for_count(
        &client,
        "every entry processed",
        &format!("select count(*) from {history} where processing_state = 'PROCESSED'"),
        4,
    )
    .await;
    assert_eq!(
        count(&client, &format!("select count(*) from {live}")).await,
        0
    );
    assert_eq!(
        count(
            &client,
            &format!("select count(*) from {history} where processing_state <> 'PROCESSED'")
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
    for queue in nodes {
        queue.shutdown(Duration::from_secs(5)).await;
    }
}

async fn an_outcome_that_cannot_be_recorded_for_a_while_is_recorded_once_the_database_is_back(
    kind: Kind,
) {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    // The default claim.time (5 minutes): an outcome given up on would wait that long.
    let queue = TestQueue::new(&db, kind, &[("sleep", "50")], "node-a");
    let (entered, mut entered_entries) = mpsc::unbounded_channel::<()>();
    let release = Arc::new(tokio::sync::Notify::new());
    let calls = Arc::new(Mutex::new(0_usize));
    {
        let (release, calls) = (release.clone(), calls.clone());
        queue.on_entry(move |_entry| {
            *calls.lock().expect("calls") += 1;
            let _ = entered.send(());
            let release = release.clone();
            async move {
                release.notified().await;
                Ok(())
            }
        });
    }
    queue.start().await;
    queue.post(1, true).await;
    tokio::time::timeout(WAIT, entered_entries.recv())
        .await
        .expect("the handler runs")
        .expect("entered");

    // The history table vanishes while the handler finishes: recording the outcome fails,
    // for longer than a few quick retries would cover.
    let (live, history) = (kind.live(), kind.history());
    client
        .batch_execute(&format!("alter table {history} rename to {history}_away"))
        .await
        .expect("hide the history table");
    release.notify_one();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    client
        .batch_execute(&format!("alter table {history}_away rename to {history}"))
        .await
        .expect("restore the history table");

    wait_for_count(
        &client,
        "the outcome recorded",
        &format!("select count(*) from {history} where processing_state = 'PROCESSED'"),
        1,
    )
    .await;
    assert_eq!(
        count(&client, &format!("select count(*) from {live}")).await,
        0
    );
    assert_eq!(*calls.lock().expect("calls"), 1, "handled once");
    queue.shutdown(Duration::from_secs(5)).await;
}

async fn a_saturated_node_leaves_entries_in_the_table_until_a_worker_is_free(kind: Kind) {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    // One worker, a hand-over queue of one, one entry per poll.
    let queue = TestQueue::new(
        &db,
        kind,
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
        queue.on_entry(move |_entry| {
            let gate = gate.clone();
            async move {
                gate.acquire().await?.forget();
                Ok(())
            }
        });
    }
    queue.start().await;
    for n in 0..6 {
        queue.post(n, true).await;
    }
    let live = kind.live();
    // One entry in the handler, one in the queue, one claimed by the blocked fetcher.
    wait_for_count(
        &client,
        "the node to saturate",
        &format!("select count(*) from {live} where processing_state = 'IN_PROCESSING'"),
        3,
    )
    .await;
    // Waiting is the point: a saturated fetcher claims nothing more.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count(
            &client,
            &format!("select count(*) from {live} where processing_state = 'AVAILABLE'")
        )
        .await,
        3
    );
    assert_eq!(queue.ready_entries().await, 3);
    gate.add_permits(6);
    wait_for_count(
        &client,
        "every entry processed",
        &format!(
            "select count(*) from {} where processing_state = 'PROCESSED'",
            kind.history()
        ),
        6,
    )
    .await;
    queue.shutdown(Duration::from_secs(5)).await;
}

async fn shutdown_waits_for_a_running_handler_and_records_its_outcome(kind: Kind) {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let queue = TestQueue::new(
        &db,
        kind,
        &[("queue.mode", "POLLING"), ("sleep", "20")],
        "node-a",
    );
    let (entered, mut entered_entries) = mpsc::unbounded_channel::<()>();
    queue.on_entry(move |_entry| {
        let _ = entered.send(());
        async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok(())
        }
    });
    queue.start().await;
    queue.post(1, true).await;
    tokio::time::timeout(WAIT, entered_entries.recv())
        .await
        .expect("the handler starts");
    queue.shutdown(Duration::from_secs(10)).await;
    // Recorded before shutdown returned.
    assert_eq!(
        count(
            &client,
            &format!(
                "select count(*) from {} where processing_state = 'PROCESSED'",
                kind.history()
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(&client, &format!("select count(*) from {}", kind.live())).await,
        0
    );
}

async fn a_polling_node_reconnects_its_listener_and_still_wakes_on_commit(kind: Kind) {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    let queue = TestQueue::new(
        &db,
        kind,
        &[("queue.mode", "POLLING"), ("sleep", "30000")],
        "node-a",
    );
    let mut handled = queue.reporting();
    queue.start().await;
    let listener = format!(
        "select pid from pg_stat_activity
         where datname = current_database() and query = 'listen {}'",
        kind.live()
    );
    let listener_pid = || async {
        client
            .query_opt(&listener, &[])
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

    queue.post(7, true).await;
    // Far sooner than the 30 s poll period: the new listener (or the commit itself, on this
    // node) woke the fetcher.
    let first = tokio::time::timeout(Duration::from_secs(10), handled.recv())
        .await
        .expect("the entry is dispatched without waiting for the poll period");
    assert_eq!(first, Some(7));
    queue.shutdown(Duration::from_secs(5)).await;
}
