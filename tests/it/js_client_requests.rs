//! Requests exactly as Kill Bill's official JavaScript client sends them, for what
//! `scripts/js-client.sh` relies on without Node.js: axios labels every body-less POST and PUT
//! `application/x-www-form-urlencoded`, and ferrobill ignores the `Content-Type` of a request
//! whose operation takes no body (docs/compatibility.md, HTTP), where Kill Bill's `setDefault`
//! and `registerNotificationCallback` answer 415.

use reqwest::{Method, StatusCode};

use crate::harness::{expect_status, TestApp};

const AXIOS_DEFAULT: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn body_less_writes_labelled_as_forms_are_served() {
    let app = TestApp::spawn_with_tenant().await;
    let (account, method) = app.account_with_external_method("js-client").await;

    let response = app
        .kb(
            Method::PUT,
            &format!("/1.0/kb/accounts/{account}/paymentMethods/{method}/setDefault"),
        )
        .header("Content-Type", AXIOS_DEFAULT)
        .send()
        .await
        .expect("PUT setDefault");
    expect_status(response, StatusCode::NO_CONTENT).await;

    let response = app
        .kb(Method::POST, "/1.0/kb/tenants/registerNotificationCallback")
        .query(&[("cb", "http://127.0.0.1:9/js-client")])
        .header("Content-Type", AXIOS_DEFAULT)
        .send()
        .await
        .expect("POST registerNotificationCallback");
    expect_status(response, StatusCode::CREATED).await;
    let callbacks = app
        .get_json("/1.0/kb/tenants/registerNotificationCallback")
        .await;
    assert_eq!(callbacks["values"][0], "http://127.0.0.1:9/js-client");

    // Kill Bill serves this one too: its resource declares no body type.
    let response = app
        .kb(
            Method::PUT,
            &format!("/1.0/kb/accounts/{account}/paymentMethods/refresh"),
        )
        .query(&[("pluginName", "__EXTERNAL_PAYMENT__")])
        .header("Content-Type", AXIOS_DEFAULT)
        .send()
        .await
        .expect("PUT refresh");
    expect_status(response, StatusCode::NO_CONTENT).await;

    app.stop().await;
}
