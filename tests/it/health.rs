//! `/1.0/healthcheck` in Kill Bill's shape, and rotation.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{expect_status, header, TestApp};

const KILLBILL: &str = "org.killbill.billing.server.healthchecks.KillbillHealthcheck";
const QUEUES: &str = "org.killbill.billing.server.healthchecks.KillbillQueuesHealthcheck";

#[tokio::test]
async fn healthcheck_lists_rotation_pools_and_queues() {
    let app = TestApp::spawn_with_tenant().await;
    let response = app
        .bare(Method::GET, "/1.0/healthcheck")
        .send()
        .await
        .expect("GET");
    let response = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        header(&response, "cache-control"),
        "must-revalidate,no-cache,no-store"
    );
    let body: Value = response.json().await.expect("JSON");
    let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        vec![
            "main.pool.ConnectivityCheck",
            KILLBILL,
            "org.killbill.billing.server.healthchecks.KillbillPluginsHealthcheck",
            QUEUES,
            "osgi.pool.ConnectivityCheck"
        ]
    );
    assert_eq!(body[KILLBILL]["healthy"], true);
    assert_eq!(body[KILLBILL]["message"], "OK");
    assert_eq!(body["main.pool.ConnectivityCheck"]["healthy"], true);
    assert_eq!(body[QUEUES]["healthy"], true);
    assert_eq!(body[QUEUES]["bus"], serde_json::json!({ "growing": false }));
    assert_eq!(
        body[QUEUES]["externalBus"],
        serde_json::json!({ "growing": false })
    );
    assert_eq!(
        body[QUEUES]["server-service:push-notification-queue"],
        serde_json::json!({ "growing": false })
    );

    // Out of rotation: 500 with Kill Bill's message; back in: 200.
    let response = app
        .kb(Method::DELETE, "/1.0/kb/admin/healthcheck")
        .send()
        .await
        .expect("DELETE");
    expect_status(response, StatusCode::NO_CONTENT).await;
    let response = app
        .bare(Method::GET, "/1.0/healthcheck?pretty=true")
        .send()
        .await
        .expect("GET");
    let response = expect_status(response, StatusCode::INTERNAL_SERVER_ERROR).await;
    let text = response.text().await.expect("text");
    assert!(text.contains('\n'), "pretty-printed: {text}");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body[KILLBILL]["healthy"], false);
    assert_eq!(body[KILLBILL]["message"], "Out of rotation");
    assert_eq!(body[KILLBILL]["error"]["type"], "java.lang.Throwable");

    let response = app
        .kb(Method::PUT, "/1.0/kb/admin/healthcheck")
        .send()
        .await
        .expect("PUT");
    expect_status(response, StatusCode::NO_CONTENT).await;
    let response = app
        .bare(Method::GET, "/1.0/healthcheck")
        .send()
        .await
        .expect("GET");
    expect_status(response, StatusCode::OK).await;

    // The rotation endpoints are under /1.0/kb and need credentials.
    let response = app
        .bare(Method::DELETE, "/1.0/kb/admin/healthcheck")
        .send()
        .await
        .expect("DELETE");
    expect_status(response, StatusCode::UNAUTHORIZED).await;
    app.stop().await;
}

#[tokio::test]
async fn the_queue_check_can_be_turned_off() {
    let app = TestApp::spawn_with(&[("org.killbill.server.queue.healthcheck", "false")]).await;
    let response = app
        .bare(Method::GET, "/1.0/healthcheck")
        .send()
        .await
        .expect("GET");
    let body: Value = expect_status(response, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(body[QUEUES], serde_json::json!({ "healthy": true }));
    app.stop().await;
}
