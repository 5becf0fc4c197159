//! What only the notification queue does, on a real database: a due entry is handled with
//! its queue name and future user token, a future one only once its effective date has
//! passed, a rolled-back one never; ready entries count due ones of every queue name. The
//! queue engine's concurrency and fault tests (retries, two nodes, reaping, take-over, leases,
//! outages) run on `notifications` too, in `queues.rs`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ferrobill::bus::{
    HandlerError, NotificationEntry, NotificationEvent, NotificationQueueService, SearchKeys,
};
use ferrobill::clock::Clock;
use ferrobill::db::work::Db;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::harness::{count, wait_until, TestApp, TestDatabase};
use crate::queues::{pool, queue_config, quiet_node, Kind};

const WAIT: Duration = Duration::from_secs(60);
const JANITOR: &str = "payment-service:janitor";

#[derive(Debug, Serialize, Deserialize)]
struct TestNotification {
    n: u64,
}

impl NotificationEvent for TestNotification {
    const CLASS_NAME: &'static str = "org.ferrobill.test.TestNotification";
}

fn keys() -> SearchKeys {
    SearchKeys {
        account_record_id: Some(7),
        tenant_record_id: 1,
    }
}

fn new_queue(
    db: &TestDatabase,
    properties: &[(&str, &str)],
    node: &str,
) -> NotificationQueueService {
    let config = queue_config(Kind::Notifications, properties, "20");
    let db = pool(db, &config);
    // No heartbeat: nothing here runs long enough for a reaper to look.
    let node = quiet_node(&db, &config, node);
    NotificationQueueService::new(
        db,
        config.notification_queue.clone(),
        &node,
        Clock::system(),
    )
}

/// A handler that reports every handled record id (and its payload's `n`) on a channel.
fn register_reporting(
    queue: &NotificationQueueService,
    queue_name: &str,
) -> mpsc::UnboundedReceiver<(i64, u64)> {
    let (handled, receiver) = mpsc::unbounded_channel();
    queue.register(queue_name, move |entry: Arc<NotificationEntry>| {
        let handled = handled.clone();
        async move {
            let payload: TestNotification = entry.decode()?;
            let _ = handled.send((entry.record_id, payload.n));
            Ok::<(), HandlerError>(())
        }
    });
    receiver
}

/// Records one notification due `in_ms` from now in its own transaction.
async fn record(
    pool: &Db,
    queue: &NotificationQueueService,
    queue_name: &str,
    in_ms: i64,
    n: u64,
    commit: bool,
) -> i64 {
    let work = pool.begin().await.expect("a connection");
    let effective_date = Utc::now() + chrono::Duration::milliseconds(in_ms);
    let record_id = queue
        .record_future_notification(
            &work,
            queue_name,
            effective_date,
            &TestNotification { n },
            keys(),
            None,
        )
        .await
        .expect("the notification is recorded");
    if commit {
        work.commit().await.expect("commit");
    } else {
        drop(work);
    }
    record_id
}

#[tokio::test]
async fn a_due_notification_is_handled_and_a_rolled_back_one_never() {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    // A 30 s poll period: the entry can only be handled in time because NOTIFY woke the queue.
    let queue = new_queue(&db, &[("sleep", "30000")], "node-a");
    let mut handled = register_reporting(&queue, JANITOR);
    queue.start().await.expect("the queue starts");
    let posting = pool(&db, &queue_config(Kind::Notifications, &[], "20"));

    let rolled_back = record(&posting, &queue, JANITOR, 0, 1, false).await;
    let committed = record(&posting, &queue, JANITOR, 0, 2, true).await;
    let (record_id, n) = tokio::time::timeout(Duration::from_secs(10), handled.recv())
        .await
        .expect("the due notification is handled without waiting for the poll period")
        .expect("a record id");
    assert_eq!((record_id, n), (committed, 2));
    assert_ne!(rolled_back, committed);

    wait_until("the notification in history", WAIT, || async {
        count(
            &client,
            "select count(*) from notifications_history where processing_state = 'PROCESSED'",
        )
        .await
            == 1
    })
    .await;
    let row = client
        .query_one(
            "select queue_name, class_name, event_json, processing_owner, search_key1, search_key2,
                    future_user_token is not null
             from notifications_history",
            &[],
        )
        .await
        .expect("the history row");
    assert_eq!(row.get::<_, String>(0), JANITOR);
    assert_eq!(row.get::<_, String>(1), TestNotification::CLASS_NAME);
    assert_eq!(row.get::<_, String>(2), r#"{"n":2}"#);
    assert_eq!(row.get::<_, Option<String>>(3).as_deref(), Some("node-a"));
    assert_eq!(row.get::<_, Option<i64>>(4), Some(7));
    assert_eq!(row.get::<_, i64>(5), 1);
    assert!(row.get::<_, bool>(6));
    assert_eq!(
        count(&client, "select count(*) from notifications").await,
        0
    );
    queue.shutdown(Duration::from_secs(5)).await;
    assert!(
        handled.try_recv().is_err(),
        "the rolled-back entry was never handled"
    );
}

#[tokio::test]
async fn a_future_notification_waits_for_its_effective_date() {
    let db = TestDatabase::create().await;
    let queue = new_queue(&db, &[("sleep", "50")], "node-a");
    let mut handled = register_reporting(&queue, JANITOR);
    queue.start().await.expect("the queue starts");
    let posting = pool(&db, &queue_config(Kind::Notifications, &[], "20"));

    let due_in = Duration::from_millis(700);
    let effective_date = Utc::now() + chrono::Duration::milliseconds(700);
    let record_id = record(&posting, &queue, JANITOR, 700, 1, true).await;
    // The commit's NOTIFY woke the queue, and several 50 ms polls ran meanwhile: none took it.
    assert!(
        tokio::time::timeout(due_in / 2, handled.recv())
            .await
            .is_err(),
        "handled before its effective date"
    );
    assert_eq!(queue.ready_entries().await.expect("a count"), 0);
    let (handled_id, _) = tokio::time::timeout(WAIT, handled.recv())
        .await
        .expect("handled once due")
        .expect("a record id");
    assert_eq!(handled_id, record_id);
    assert!(
        Utc::now() >= effective_date,
        "handled at {} before its effective date {effective_date}",
        Utc::now()
    );
    queue.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn ready_entries_counts_due_available_entries_of_every_queue() {
    let db = TestDatabase::create().await;
    // Off: entries are stored but nothing dispatches them.
    let queue = new_queue(&db, &[("notification.off", "true")], "node-a");
    queue.start().await.expect("the queue starts");
    let posting = pool(&db, &queue_config(Kind::Notifications, &[], "20"));
    record(&posting, &queue, JANITOR, -1000, 1, true).await;
    record(
        &posting,
        &queue,
        "server-service:push-notification-queue",
        -1000,
        2,
        true,
    )
    .await;
    record(&posting, &queue, JANITOR, 3_600_000, 3, true).await;
    assert_eq!(queue.ready_entries().await.expect("a count"), 2);
    queue.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_app_runs_the_notification_queue_as_its_node() {
    let app = TestApp::spawn().await;
    let queue = app.app().notification_queue();
    assert!(!queue.node().is_empty());
    assert_eq!(queue.ready_entries().await.expect("a count"), 0);
    app.stop().await;
}
