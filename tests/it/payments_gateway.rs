//! Payments through the simulated card gateway (`killbill-stripe`) over HTTP: the gateway's
//! amount rules under concurrent captures, declines and errors by test card, a hung call that
//! times out (504/7100) and is then repaired by the janitor, seed 001's plugin-pool starvation,
//! and the plugins health check.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{
    expect_kb_error, expect_status, header, last_segment, wait_until, TestApp, APPROVED_CARD,
};

const DECLINED: &str = "4000000000000002";
const PROCESSING_ERROR: &str = "4000000000000119";
const HANGS: &str = "4000000000000341";
const LOST_ANSWER: &str = "4000000000000259";

async fn spawn(properties: &[(&str, &str)]) -> TestApp {
    let mut app = TestApp::spawn_with(properties).await;
    app.use_new_tenant("gateway").await;
    app
}

async fn pay(app: &TestApp, account_id: &str, body: Value) -> reqwest::Response {
    app.kb(
        Method::POST,
        &format!("/1.0/kb/accounts/{account_id}/payments"),
    )
    .json(&body)
    .send()
    .await
    .expect("POST payments")
}

async fn get_payment(app: &TestApp, id: &str, query: &str) -> Value {
    app.get_json(&format!("/1.0/kb/payments/{id}{query}")).await
}

#[tokio::test]
async fn fifty_concurrent_captures_of_one_against_ten_authorized_capture_exactly_ten() {
    let app = spawn(&[]).await;
    let account_id = app.account_with_card("captures", APPROVED_CARD).await;
    let response = pay(
        &app,
        &account_id,
        json!({"transactionType": "AUTHORIZE", "amount": "10.00"}),
    )
    .await;
    let id = last_segment(&header(
        &expect_status(response, StatusCode::CREATED).await,
        "location",
    ));
    let captures = (0..50).map(|_| {
        let request = app
            .kb(Method::POST, &format!("/1.0/kb/payments/{id}"))
            .json(&json!({"amount": "1.00"}));
        async move { request.send().await.expect("capture").status() }
    });
    let answers = futures_util::future::join_all(captures).await;
    let succeeded = answers
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let declined = answers
        .iter()
        .filter(|s| **s == StatusCode::PAYMENT_REQUIRED)
        .count();
    assert_eq!((succeeded, declined), (10, 40), "{answers:?}");
    let payment = get_payment(&app, &id, "").await;
    assert_eq!(payment["capturedAmount"], 10.0);
    assert_eq!(payment["authAmount"], 10.0);
}

#[tokio::test]
async fn test_cards_decline_and_fail_and_plugin_info_shows_the_gateway_references() {
    let app = spawn(&[]).await;
    let declined = app.account_with_card("declined", DECLINED).await;
    let response = pay(
        &app,
        &declined,
        json!({"transactionType": "PURCHASE", "amount": 5}),
    )
    .await;
    let location = header(&response, "location");
    let error = expect_kb_error(response, StatusCode::PAYMENT_REQUIRED).await;
    assert_eq!(
        error["message"],
        "Payment decline by gateway. Error message: Your card was declined."
    );
    let payment = get_payment(&app, &last_segment(&location), "").await;
    assert_eq!(payment["transactions"][0]["status"], "PAYMENT_FAILURE");
    assert_eq!(
        payment["transactions"][0]["gatewayErrorCode"],
        "card_declined"
    );

    let failing = app.account_with_card("failing", PROCESSING_ERROR).await;
    let response = pay(
        &app,
        &failing,
        json!({"transactionType": "PURCHASE", "amount": 5}),
    )
    .await;
    expect_kb_error(response, StatusCode::BAD_GATEWAY).await;

    let approved = app.account_with_card("approved", APPROVED_CARD).await;
    let response = pay(
        &app,
        &approved,
        json!({"transactionType": "PURCHASE", "amount": 5}),
    )
    .await;
    let location = header(
        &expect_status(response, StatusCode::CREATED).await,
        "location",
    );
    let payment = get_payment(&app, &last_segment(&location), "?withPluginInfo=true").await;
    let transaction = &payment["transactions"][0];
    assert!(
        transaction["firstPaymentReferenceId"]
            .as_str()
            .is_some_and(|reference| reference.starts_with("ch_")),
        "{transaction}"
    );
    assert!(transaction["properties"].is_array());
    // No card number ever comes back.
    assert!(!payment.to_string().contains(APPROVED_CARD));
}

#[tokio::test]
async fn an_unknown_outcome_is_503_and_a_read_with_plugin_info_repairs_it() {
    let app = spawn(&[]).await;
    let account_id = app.account_with_card("lost", LOST_ANSWER).await;
    let response = pay(
        &app,
        &account_id,
        json!({"transactionType": "PURCHASE", "amount": 4}),
    )
    .await;
    let location = header(&response, "location");
    let error = expect_kb_error(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        error["message"],
        "Payment in unknown status, failed to receive gateway response"
    );
    let id = last_segment(&location);
    let payment = get_payment(&app, &id, "").await;
    assert_eq!(payment["transactions"][0]["status"], "UNKNOWN");
    assert_eq!(payment["purchasedAmount"], 0.0);
    // Kill Bill's GET with withPluginInfo asks the plugin and repairs on the fly.
    let payment = get_payment(&app, &id, "?withPluginInfo=true").await;
    assert_eq!(payment["transactions"][0]["status"], "SUCCESS", "{payment}");
    assert_eq!(payment["purchasedAmount"], 4.0);
    let payment = get_payment(&app, &id, "").await;
    assert_eq!(
        payment["transactions"][0]["status"], "SUCCESS",
        "the repair is stored"
    );
}

#[tokio::test]
async fn a_hung_call_times_out_unknown_and_the_janitor_repairs_it_to_the_gateways_outcome() {
    let app = spawn(&[
        ("org.killbill.payment.plugin.timeout", "1s"),
        ("ferrobill.gateway.hangTime", "2s"),
        (
            "org.killbill.payment.janitor.unknown.retries",
            "1s,1s,1s,1s,1s",
        ),
        ("org.killbill.notificationq.main.sleep", "100"),
    ])
    .await;
    let account_id = app.account_with_card("hanging", HANGS).await;
    let response = pay(
        &app,
        &account_id,
        json!({"transactionType": "PURCHASE", "amount": 8, "paymentExternalKey": "hung"}),
    )
    .await;
    let error = expect_kb_error(response, StatusCode::GATEWAY_TIMEOUT).await;
    assert_eq!(error["code"], 7100);
    let by_key = |app: &TestApp| {
        let request = app.kb(Method::GET, "/1.0/kb/payments?externalKey=hung");
        async move {
            let payment: Value = request
                .send()
                .await
                .expect("GET")
                .json()
                .await
                .expect("JSON");
            payment
        }
    };
    let payment = by_key(&app).await;
    assert_eq!(payment["transactions"][0]["status"], "UNKNOWN");
    assert_eq!(payment["purchasedAmount"], 0.0);
    wait_until(
        "the janitor repairs the purchase",
        Duration::from_secs(60),
        || async { by_key(&app).await["transactions"][0]["status"] == "SUCCESS" },
    )
    .await;
    let payment = by_key(&app).await;
    assert_eq!(payment["purchasedAmount"], 8.0);
    // One statement, one snapshot: the event may move from the live table to history meanwhile.
    assert_eq!(
        app.count(
            "select (select count(*) from bus_events_history
                     where class_name = 'org.killbill.billing.payment.api.DefaultPaymentInfoEvent')
                  + (select count(*) from bus_events
                     where class_name = 'org.killbill.billing.payment.api.DefaultPaymentInfoEvent')"
        )
        .await,
        1,
        "the repair posts the success event"
    );
    assert_eq!(
        app.count("select count(*) from payment_transaction_history")
            .await,
        3,
        "insert, UNKNOWN outcome, repair"
    );
}

/// Seed 001's mechanism with its numbers: 100 plugin threads, a plugin pool of 30, a 5 s
/// `connectionTimeout`, and a gateway slower than that, under 100 concurrent purchases.
/// Calls that find no connection within 5 s fail with the pool's own message, as a plugin
/// exception (400, 7199); with a pool as large as the thread pool, none do.
#[tokio::test]
async fn a_plugin_pool_smaller_than_the_plugin_threads_starves_as_in_seed_001() {
    async fn run(pool_size: &str) -> Vec<(StatusCode, String)> {
        let app = spawn(&[
            ("org.killbill.payment.plugin.threads.nb", "100"),
            ("org.killbill.billing.osgi.dao.maxActive", pool_size),
            ("org.killbill.billing.osgi.dao.connectionTimeout", "5s"),
            ("ferrobill.gateway.latency", "6s"),
        ])
        .await;
        let mut accounts = Vec::new();
        for index in 0..100 {
            accounts.push(
                app.account_with_card(&format!("buyer-{index}"), APPROVED_CARD)
                    .await,
            );
        }
        let purchases = accounts.iter().map(|account_id| {
            let request = app
                .kb(
                    Method::POST,
                    &format!("/1.0/kb/accounts/{account_id}/payments"),
                )
                .json(&json!({"transactionType": "PURCHASE", "amount": 1}));
            async move {
                let response = request.send().await.expect("purchase");
                let status = response.status();
                (status, response.text().await.unwrap_or_default())
            }
        });
        futures_util::future::join_all(purchases).await
    }
    let starved = run("30").await;
    let succeeded = starved
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let starved_calls: Vec<&String> = starved
        .iter()
        .filter(|(s, _)| *s == StatusCode::BAD_REQUEST)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(succeeded, 30, "{starved:?}");
    assert_eq!(starved_calls.len(), 70, "{starved:?}");
    for body in starved_calls {
        let error: Value = serde_json::from_str(body).expect("error JSON");
        assert_eq!(error["code"], 7199);
        assert!(
            error["message"].as_str().is_some_and(
                |m| m.contains("could not obtain a database connection within 5.000 seconds")
            ),
            "{error}"
        );
    }
    let sized = run("100").await;
    assert!(
        sized.iter().all(|(s, _)| *s == StatusCode::CREATED),
        "{sized:?}"
    );
}

#[tokio::test]
async fn the_plugins_health_check_reports_each_plugin() {
    let app = spawn(&[("ferrobill.gateway.health", "unhealthy")]).await;
    let response = app
        .bare(Method::GET, "/1.0/healthcheck")
        .send()
        .await
        .expect("healthcheck");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = response.json().await.expect("JSON");
    let plugins = &body["org.killbill.billing.server.healthchecks.KillbillPluginsHealthcheck"];
    assert_eq!(plugins["healthy"], false, "{body}");
    assert_eq!(plugins["killbill-stripe"]["healthy"], false);
    assert_eq!(plugins["__EXTERNAL_PAYMENT__"]["healthy"], true);

    let app = spawn(&[]).await;
    let body: Value = app
        .bare(Method::GET, "/1.0/healthcheck")
        .send()
        .await
        .expect("healthcheck")
        .json()
        .await
        .expect("JSON");
    let plugins = &body["org.killbill.billing.server.healthchecks.KillbillPluginsHealthcheck"];
    assert_eq!(plugins["healthy"], true, "{body}");
}
