//! Admission control: past the bound on requests in flight and waiting, extra requests are
//! answered 503 at once while the admitted ones complete.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{expect_kb_error, expect_status, lock_waiters, TestApp};

#[tokio::test]
async fn requests_past_the_bound_get_503_at_once_while_admitted_ones_complete() {
    let app = TestApp::spawn_with(&[
        ("ferrobill.server.maxInFlight", "2"),
        ("ferrobill.server.maxWaiting", "0"),
    ])
    .await;
    let lock = app.lock_table("tenants").await;
    let admitted: Vec<_> = (0..2)
        .map(|i| app.spawn_create_tenant(&format!("admitted-{i}")))
        .collect();
    app.wait_for_lock_waiters(2).await;
    let observer = app.db.client().await;
    let rejected_before = overloaded_rejections(&app).await;

    // Every extra request is refused while the admitted two are still blocked: nothing queues.
    for _ in 0..20 {
        let response = app
            .admin(Method::GET, "/1.0/kb/tenants?apiKey=admitted-0")
            .send()
            .await
            .expect("GET");
        let error = expect_kb_error(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("overloaded")),
            "{error}"
        );
    }
    assert_eq!(
        lock_waiters(&observer).await,
        2,
        "the admitted requests were still in flight"
    );
    // Counted for the operator (the recorder is process-wide: at least this test's twenty).
    assert!(overloaded_rejections(&app).await >= rejected_before + 20);

    // The ops endpoints stay reachable under overload.
    let health = app
        .bare(Method::GET, "/1.0/healthcheck")
        .send()
        .await
        .expect("GET");
    expect_status(health, StatusCode::OK).await;

    lock.release().await;
    for handle in admitted {
        let response = handle.await.expect("task").expect("response");
        expect_status(response, StatusCode::CREATED).await;
    }
    let response = app
        .admin(Method::GET, "/1.0/kb/tenants?apiKey=admitted-1")
        .send()
        .await
        .expect("GET");
    expect_status(response, StatusCode::OK).await;
    app.stop().await;
}

#[tokio::test]
async fn a_request_past_the_request_timeout_gets_503_and_the_server_carries_on() {
    let app = TestApp::spawn_with(&[("ferrobill.server.requestTimeout", "1s")]).await;
    let lock = app.lock_table("tenants").await;
    let started = std::time::Instant::now();
    let response = app
        .admin(Method::POST, "/1.0/kb/tenants")
        .header("X-Killbill-CreatedBy", "test")
        .json(&json!({ "apiKey": "too-slow", "apiSecret": "s" }))
        .send()
        .await
        .expect("POST");
    let error = expect_kb_error(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("1000 ms")),
        "{error}"
    );
    lock.release().await;

    // The abandoned write never becomes visible, and the server serves normally (a cheap
    // read, so that a loaded machine cannot push it past the 1 s timeout itself).
    let response = app
        .admin(Method::GET, "/1.0/kb/tenants?apiKey=too-slow")
        .send()
        .await
        .expect("GET");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    app.stop().await;
}

/// `ferrobill.http.admission.rejected{reason="overloaded"}` from `/1.0/metrics`.
async fn overloaded_rejections(app: &TestApp) -> u64 {
    let response = app
        .bare(Method::GET, "/1.0/metrics")
        .send()
        .await
        .expect("GET /1.0/metrics");
    let metrics: serde_json::Value = expect_status(response, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON");
    metrics["counters"]["ferrobill.http.admission.rejected{reason=\"overloaded\"}"]["count"]
        .as_u64()
        .unwrap_or(0)
}
