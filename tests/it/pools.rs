//! The main pool bounded by `maxActive` and `connectionTimeout`: a starved request fails with
//! the pool's error after the timeout, and the server serves normally afterwards.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::harness::{expect_kb_error, expect_status, TestApp};

#[tokio::test]
async fn a_starved_main_pool_fails_after_its_timeout_then_recovers() {
    let app = TestApp::spawn_with(&[
        ("org.killbill.dao.maxActive", "1"),
        ("org.killbill.dao.connectionTimeout", "1s"),
    ])
    .await;
    assert_eq!(app.app().main_pool_state().max_size, 1);

    // Hold a lock on tenants so a tenant creation keeps the only connection busy.
    let lock = app.lock_table("tenants").await;
    let holder = app.spawn_create_tenant("slow");
    app.wait_for_lock_waiters(1).await;

    let started = Instant::now();
    let response = app
        .admin(Method::GET, "/1.0/kb/tenants?apiKey=slow")
        .send()
        .await
        .expect("GET");
    let waited = started.elapsed();
    let error = expect_kb_error(response, StatusCode::SERVICE_UNAVAILABLE).await;
    let message = error["message"].as_str().expect("message");
    assert!(
        message.starts_with(
            "main pool: could not obtain a database connection within 1.000 seconds (waited 1."
        ),
        "{message}"
    );
    assert!(
        waited >= Duration::from_millis(950),
        "failed only after the timeout: {waited:?}"
    );

    lock.release().await;
    let created = holder.await.expect("task").expect("response");
    expect_status(created, StatusCode::CREATED).await;
    let response = app
        .admin(Method::GET, "/1.0/kb/tenants?apiKey=slow")
        .send()
        .await
        .expect("GET");
    expect_status(response, StatusCode::OK).await;
    app.stop().await;
}
