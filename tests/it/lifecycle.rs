//! Graceful shutdown: in-flight requests finish, new connections are refused, pools close.

use std::time::Duration;

use reqwest::StatusCode;

use crate::harness::{expect_status, wait_until, TestApp};

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_ones() {
    let mut app = TestApp::spawn().await;
    let lock = app.lock_table("tenants").await;
    let in_flight = app.spawn_create_tenant("in-flight");
    app.wait_for_lock_waiters(1).await;

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

    lock.release().await;
    let response = in_flight
        .await
        .expect("task")
        .expect("the in-flight request completes");
    expect_status(response, StatusCode::CREATED).await;
    shutdown.await.expect("task").expect("clean shutdown");
    let observer = app.db.client().await;
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
