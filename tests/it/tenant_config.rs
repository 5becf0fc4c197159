//! A tenant's key-values over real HTTP: plugin configurations (and the simulated gateway
//! using its tenant's), payment state machines, the per-tenant system configuration (and the
//! push-notification retries it sets), user keys, prefix search, Kill Bill's
//! TENANT_CONFIG_CHANGE and TENANT_CONFIG_DELETION events, text bodies, and tenant isolation.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{
    expect_kb_error, expect_status, header, send, wait_until, TestApp, APPROVED_CARD,
};
use crate::push_notifications::{
    expect_registration_notice, next, register, start_callback_server,
};

const STRIPE_CONFIG: &str = "/1.0/kb/tenants/uploadPluginConfig/killbill-stripe";

/// `POST path` with a text body as the test tenant → 201; the `Location`.
async fn upload(app: &TestApp, path: &str, text: &str) -> String {
    let response = send(
        app.kb(Method::POST, path)
            .header("Content-Type", "text/plain")
            .body(text.to_string()),
    )
    .await;
    header(
        &expect_status(response, StatusCode::CREATED).await,
        "location",
    )
}

async fn get(app: &TestApp, path: &str) -> Value {
    app.get_json(path).await
}

async fn delete(app: &TestApp, path: &str) {
    expect_status(
        send(app.kb(Method::DELETE, path)).await,
        StatusCode::NO_CONTENT,
    )
    .await;
}

fn key_value(key: &str, values: &[&str]) -> Value {
    json!({ "key": key, "values": values, "auditLogs": [] })
}

#[tokio::test]
async fn plugin_configuration_is_uploaded_replaced_deleted_and_announced() {
    let app = TestApp::spawn_with_tenant().await;
    let (url, mut received) = start_callback_server(0).await;
    register(&app, &url).await;
    expect_registration_notice(&mut received).await;

    let location = upload(
        &app,
        STRIPE_CONFIG,
        "org.killbill.billing.plugin.stripe.apiKey=sk_1",
    )
    .await;
    assert_eq!(location, app.url(STRIPE_CONFIG));
    let change = next(&mut received).await.body;
    assert_eq!(change["eventType"], "TENANT_CONFIG_CHANGE");
    assert_eq!(change["objectType"], "TENANT_KVS");
    assert!(change["objectId"].is_string(), "{change}");
    assert_eq!(
        change["metaData"],
        r#"{"key":"PLUGIN_CONFIG_killbill-stripe"}"#
    );
    upload(&app, STRIPE_CONFIG, "second").await;
    next(&mut received).await;
    assert_eq!(
        get(&app, STRIPE_CONFIG).await,
        key_value("PLUGIN_CONFIG_killbill-stripe", &["second"])
    );

    delete(&app, STRIPE_CONFIG).await;
    let deletion = next(&mut received).await.body;
    assert_eq!(
        deletion,
        json!({
            "eventType": "TENANT_CONFIG_DELETION", "accountId": null, "objectType": "TENANT_KVS",
            "objectId": null, "metaData": r#"{"key":"PLUGIN_CONFIG_killbill-stripe"}"#
        })
    );
    assert_eq!(
        get(&app, STRIPE_CONFIG).await,
        key_value("PLUGIN_CONFIG_killbill-stripe", &[])
    );

    // A body that is not text is refused and stores nothing; no content type is text.
    let response = send(app.kb(Method::POST, STRIPE_CONFIG).json(&json!({ "a": 1 }))).await;
    let error = expect_kb_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(error["className"], "javax.ws.rs.NotSupportedException");
    assert_eq!(
        get(&app, STRIPE_CONFIG).await,
        key_value("PLUGIN_CONFIG_killbill-stripe", &[])
    );
    let response = send(app.kb(Method::POST, STRIPE_CONFIG).body("untyped")).await;
    expect_status(response, StatusCode::CREATED).await;
    // Without X-Killbill-CreatedBy: Kill Bill's 400.
    let response = send(
        app.admin(Method::DELETE, STRIPE_CONFIG)
            .header("X-Killbill-ApiKey", "tenant-key")
            .header("X-Killbill-ApiSecret", "tenant-secret"),
    )
    .await;
    expect_kb_error(response, StatusCode::BAD_REQUEST).await;
    app.stop().await;
}

#[tokio::test]
async fn the_simulated_gateway_follows_its_tenants_configuration() {
    let mut app = TestApp::spawn().await;
    let declining = app.create_tenant("declining", "declining-secret").await;
    let approving = app.create_tenant("approving", "approving-secret").await;
    let purchase = |app: &TestApp, account: &str| {
        let path = format!("/1.0/kb/accounts/{account}/payments");
        app.kb(Method::POST, &path)
            .json(&json!({ "transactionType": "PURCHASE", "amount": 5, "currency": "USD" }))
            .send()
    };

    app.tenant = Some(declining.clone());
    upload(
        &app,
        STRIPE_CONFIG,
        "# this tenant's gateway\nferrobill.gateway.declineRate = 1\n",
    )
    .await;
    let account = app.account_with_card("declined-buyer", APPROVED_CARD).await;
    let response = purchase(&app, &account).await.expect("POST payments");
    expect_kb_error(response, StatusCode::PAYMENT_REQUIRED).await;

    // Another tenant keeps the node's settings.
    app.tenant = Some(approving);
    let other = app.account_with_card("approved-buyer", APPROVED_CARD).await;
    let response = purchase(&app, &other).await.expect("POST payments");
    expect_status(response, StatusCode::CREATED).await;

    // Deleted: the node's settings again, at once.
    app.tenant = Some(declining);
    delete(&app, STRIPE_CONFIG).await;
    let response = purchase(&app, &account).await.expect("POST payments");
    expect_status(response, StatusCode::CREATED).await;

    // An unreadable setting fails the tenant's calls as the plugin's exception (7199).
    upload(&app, STRIPE_CONFIG, "ferrobill.gateway.errorRate=lots").await;
    let response = purchase(&app, &account).await.expect("POST payments");
    let error = expect_kb_error(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], 7199);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|message| message.contains("ferrobill.gateway.errorRate=lots")),
        "{error}"
    );
    app.stop().await;
}

#[tokio::test]
async fn user_keys_state_machines_and_the_per_tenant_configuration_are_the_tenants_own() {
    let mut app = TestApp::spawn().await;
    let tenant_a = app.create_tenant("kv-a", "kv-a-secret").await;
    let tenant_b = app.create_tenant("kv-b", "kv-b-secret").await;
    app.tenant = Some(tenant_a.clone());

    // User keys hold every value added, oldest first.
    let location = upload(&app, "/1.0/kb/tenants/userKeyValue/colour", "red").await;
    assert_eq!(location, app.url("/1.0/kb/tenants/userKeyValue/colour"));
    upload(&app, "/1.0/kb/tenants/userKeyValue/colour", "blue").await;
    assert_eq!(
        get(&app, "/1.0/kb/tenants/userKeyValue/colour").await,
        key_value("colour", &["red", "blue"])
    );
    let state_machine = "/1.0/kb/tenants/uploadPluginPaymentStateMachineConfig/killbill-stripe";
    upload(&app, state_machine, "<stateMachineConfig/>").await;
    assert_eq!(
        get(&app, state_machine).await,
        key_value(
            "PLUGIN_PAYMENT_STATE_MACHINE_killbill-stripe",
            &["<stateMachineConfig/>"]
        )
    );
    let per_tenant = "/1.0/kb/tenants/uploadPerTenantConfig";
    let config = r#"{"org.killbill.payment.retry.days":"1,2"}"#;
    upload(&app, per_tenant, config).await;
    assert_eq!(
        get(&app, per_tenant).await,
        key_value("PER_TENANT_CONFIG", &[config])
    );
    upload(&app, STRIPE_CONFIG, "a=b").await;
    let found = get(&app, "/1.0/kb/tenants/uploadPerTenantConfig/PLUGIN_/search").await;
    let mut keys: Vec<&str> = found
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|item| item["key"].as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "PLUGIN_CONFIG_killbill-stripe",
            "PLUGIN_PAYMENT_STATE_MACHINE_killbill-stripe"
        ]
    );

    // Tenant B sees none of it, and its deletions touch none of it.
    app.tenant = Some(tenant_b);
    for (path, key) in [
        ("/1.0/kb/tenants/userKeyValue/colour", "colour"),
        (
            state_machine,
            "PLUGIN_PAYMENT_STATE_MACHINE_killbill-stripe",
        ),
        (per_tenant, "PER_TENANT_CONFIG"),
        (STRIPE_CONFIG, "PLUGIN_CONFIG_killbill-stripe"),
    ] {
        assert_eq!(get(&app, path).await, key_value(key, &[]), "{path}");
        delete(&app, path).await;
    }
    assert_eq!(
        get(&app, "/1.0/kb/tenants/uploadPerTenantConfig/%25/search").await,
        json!([])
    );

    app.tenant = Some(tenant_a);
    assert_eq!(
        get(&app, "/1.0/kb/tenants/userKeyValue/colour").await,
        key_value("colour", &["red", "blue"])
    );
    delete(&app, "/1.0/kb/tenants/userKeyValue/colour").await;
    assert_eq!(
        get(&app, "/1.0/kb/tenants/userKeyValue/colour").await,
        key_value("colour", &[])
    );
    delete(&app, state_machine).await;
    delete(&app, per_tenant).await;
    let left = get(&app, "/1.0/kb/tenants/uploadPerTenantConfig/%25/search").await;
    assert_eq!(
        left,
        json!([key_value("PLUGIN_CONFIG_killbill-stripe", &["a=b"])])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_tenants_retry_schedule_applies_to_its_push_notifications() {
    let mut app = TestApp::spawn_with(&[(
        "org.killbill.billing.server.notifications.retries",
        "100ms,100ms",
    )])
    .await;
    app.use_new_tenant("retries").await;
    let (url, mut received) = start_callback_server(1).await;
    register(&app, &url).await;
    expect_registration_notice(&mut received).await;
    upload(
        &app,
        "/1.0/kb/tenants/uploadPerTenantConfig",
        r#"{"org.killbill.billing.server.notifications.retries":"2h"}"#,
    )
    .await;
    assert_eq!(
        next(&mut received).await.body["metaData"],
        r#"{"key":"PER_TENANT_CONFIG"}"#
    );
    // The first ACCOUNT_CREATION fails: its retry is due after the tenant's 2h, not 100ms.
    app.create_account(json!({ "externalKey": "retried" }))
        .await;
    let retry = "select extract(epoch from effective_date - created_date)::float8
                 from notifications where queue_name = 'server-service:push-notification-queue'";
    let client = app.db.client().await;
    wait_until(
        "the retry to be scheduled",
        Duration::from_secs(30),
        || async { client.query_opt(retry, &[]).await.ok().flatten().is_some() },
    )
    .await;
    let delay_secs: f64 = client
        .query_one(retry, &[])
        .await
        .expect("the retry")
        .get(0);
    assert!((7190.0..=7210.0).contains(&delay_secs), "{delay_secs}");
    app.stop().await;
}
