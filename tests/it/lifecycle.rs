//! Graceful shutdown: in-flight requests finish, new connections are refused, pools close.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{expect_status, lock_waiters, wait_until, TestApp};

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_ones() {
    let mut app = TestApp::spawn().await;
    let mut locker = app.db.client().await;
    let lock = locker.transaction().await.expect("begin");
    lock.batch_execute("lock table tenants in access exclusive mode")
        .await
        .expect("lock");
    let in_flight = {
        let request = app
            .admin(Method::POST, "/1.0/kb/tenants")
            .header("X-Killbill-CreatedBy", "test")
            .json(&json!({ "apiKey": "in-flight", "apiSecret": "s" }));
        tokio::spawn(async move { request.send().await })
    };
    let observer = app.db.client().await;
    wait_until("the request to block", Duration::from_secs(30), || {
        let observer = &observer;
        async move { lock_waiters(observer).await == 1 }
    })
    .await;

    let server = app.take_app();
    let shutdown = tokio::spawn(server.shutdown());
    // New connections are refused once the listener is closed.
    let health_url = app.url("/1.0/healthcheck");
    wait_until("the listener to close", Duration::from_secs(30), || {
        let url = health_url.clone();
        async move { crate::harness::http_client().get(url).send().await.is_err() }
    })
    .await;
    assert!(
        !shutdown.is_finished(),
        "shutdown waits for the in-flight request"
    );

    lock.rollback().await.expect("release");
    let response = in_flight
        .await
        .expect("task")
        .expect("the in-flight request completes");
    expect_status(response, StatusCode::CREATED).await;
    shutdown.await.expect("task").expect("clean shutdown");
    let stored: i64 = observer
        .query_one(
            "select count(*) from tenants where api_key = 'in-flight'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 1);
}
