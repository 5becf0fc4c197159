//! Kill Bill's queue-growth check on a real bus: a bus that cannot keep up with its posters
//! turns `/1.0/healthcheck` 500 with "Growing queues: bus (…)" (seed 002), and it turns back
//! to 200 once posting stops and the queue drains.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrobill::bus::BusEvent;
use ferrobill::config::Config;
use ferrobill::db::pool::DbPool;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::bus::{post, TestEvent};
use crate::harness::{wait_until, TestApp};

const QUEUES: &str = "org.killbill.billing.server.healthchecks.KillbillQueuesHealthcheck";

async fn health(app: &TestApp) -> (StatusCode, Value) {
    let response = app
        .bare(Method::GET, "/1.0/healthcheck")
        .send()
        .await
        .expect("GET /1.0/healthcheck");
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn a_bus_that_cannot_keep_up_turns_the_healthcheck_500_until_it_drains() {
    let app = TestApp::spawn_with(&[
        ("org.killbill.persistent.bus.main.nbThreads", "1"),
        ("org.killbill.persistent.bus.main.queue.capacity", "10"),
        ("org.killbill.persistent.bus.main.sleep", "20"),
        ("ferrobill.server.queue.healthcheck.period", "50ms"),
    ])
    .await;

    // Every queue is listed from the first call, healthy.
    let (status, body) = health(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[QUEUES]["healthy"], true, "{body}");
    assert_eq!(body[QUEUES]["bus"], serde_json::json!({ "growing": false }));
    assert_eq!(
        body[QUEUES]["externalBus"],
        serde_json::json!({ "growing": false })
    );

    // A handler that takes 50 ms, one worker: at most 20 events/s leave the table.
    let slow = Arc::new(AtomicBool::new(true));
    let handler_slow = slow.clone();
    app.app()
        .main_bus()
        .subscribe(TestEvent::CLASS_NAME, move |_entry| {
            let slow = handler_slow.load(Ordering::SeqCst);
            async move {
                if slow {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(())
            }
        });

    // Post 100 events/s until the check reports growth (bounded).
    let config = Config::from_properties(&[]).expect("defaults");
    let pool = ferrobill::db::work::Db::new(
        DbPool::new("main", &config.main_pool, app.db.config.clone()).expect("pool"),
    );
    let bus = app.app().main_bus().clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let mut posted = 0u64;
    let growing = loop {
        ticker.tick().await;
        post(&pool, &bus, &TestEvent { n: posted }, true).await;
        posted += 1;
        if posted % 20 == 0 {
            let (status, body) = health(&app).await;
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                break body;
            }
        }
        assert!(Instant::now() < deadline, "the queue never reported growth");
    };
    let message = growing[QUEUES]["message"].as_str().expect("a message");
    assert!(message.starts_with("Growing queues: bus ("), "{growing}");
    assert_eq!(growing[QUEUES]["healthy"], false);
    assert_eq!(growing[QUEUES]["bus"]["growing"], true);
    assert_eq!(growing[QUEUES]["externalBus"]["growing"], false);

    // Posting stops and the handler catches up: the queue drains and the check recovers.
    slow.store(false, Ordering::SeqCst);
    let observer = app.db.client().await;
    wait_until("the bus to drain", Duration::from_secs(60), || {
        let observer = &observer;
        async move {
            observer
                .query_one("select count(*) from bus_events", &[])
                .await
                .map(|row| row.get::<_, i64>(0) == 0)
                .unwrap_or(false)
        }
    })
    .await;
    wait_until(
        "the healthcheck to recover",
        Duration::from_secs(60),
        || {
            let app = &app;
            async move { health(app).await.0 == StatusCode::OK }
        },
    )
    .await;
    let (_, body) = health(&app).await;
    assert_eq!(body[QUEUES]["bus"]["growing"], false, "{body}");
    app.stop().await;
}
