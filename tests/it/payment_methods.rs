//! Payment methods as api.md §3 describes Kill Bill's: adding one (default or not) through
//! `__EXTERNAL_PAYMENT__`, the error codes (7000, 7022, 7023, 7028), the soft delete and the
//! account default it clears, tenant isolation, and the history and audit rows every write
//! leaves.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_kb_error, expect_status, header, TestApp};

const EXTERNAL: &str = "__EXTERNAL_PAYMENT__";

/// Creates an account and returns its id.
async fn create_account(app: &TestApp, external_key: &str) -> String {
    let response = app
        .kb(Method::POST, "/1.0/kb/accounts")
        .json(&json!({ "externalKey": external_key, "currency": "USD" }))
        .send()
        .await
        .expect("POST /1.0/kb/accounts");
    let response = expect_status(response, StatusCode::CREATED).await;
    let location = header(&response, "location");
    location.rsplit('/').next().expect("an id").to_string()
}

/// Adds a payment method with the query `query`; returns the response.
async fn add(app: &TestApp, account_id: &str, query: &str, body: Value) -> reqwest::Response {
    app.kb(
        Method::POST,
        &format!("/1.0/kb/accounts/{account_id}/paymentMethods{query}"),
    )
    .json(&body)
    .send()
    .await
    .expect("POST paymentMethods")
}

async fn add_ok(app: &TestApp, account_id: &str, query: &str, body: Value) -> String {
    let response =
        expect_status(add(app, account_id, query, body).await, StatusCode::CREATED).await;
    let location = header(&response, "location");
    assert!(
        location.starts_with("http://") && location.contains("/1.0/kb/paymentMethods/"),
        "{location}"
    );
    location.rsplit('/').next().expect("an id").to_string()
}

async fn get(app: &TestApp, path: &str) -> Value {
    let response = app.kb(Method::GET, path).send().await.expect("GET");
    expect_status(response, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON")
}

#[tokio::test]
async fn a_default_method_is_added_read_and_deleted_only_when_forced() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = create_account(&app, "pm-account").await;
    let pm_id = add_ok(
        &app,
        &account_id,
        "?isDefault=true",
        json!({ "pluginName": EXTERNAL, "isDefault": false }),
    )
    .await;

    let account = get(&app, &format!("/1.0/kb/accounts/{account_id}")).await;
    assert_eq!(account["paymentMethodId"], json!(pm_id));
    let method = get(&app, &format!("/1.0/kb/paymentMethods/{pm_id}")).await;
    let fields: BTreeSet<&str> = method
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "paymentMethodId",
            "externalKey",
            "accountId",
            "isDefault",
            "pluginName",
            "pluginInfo",
            "auditLogs"
        ])
    );
    assert_eq!(method["isDefault"], json!(true));
    assert_eq!(method["accountId"], json!(account_id));
    assert_eq!(method["pluginName"], json!(EXTERNAL));
    assert_eq!(method["pluginInfo"], Value::Null);
    // The first external method without a key takes the plugin's id, "unknown".
    assert_eq!(method["externalKey"], json!("unknown"));
    let with_info = get(
        &app,
        &format!("/1.0/kb/paymentMethods/{pm_id}?withPluginInfo=true"),
    )
    .await;
    assert_eq!(
        with_info["pluginInfo"],
        json!({ "externalPaymentMethodId": "unknown", "isDefaultPaymentMethod": false, "properties": [] })
    );
    let by_key = get(&app, "/1.0/kb/paymentMethods?externalKey=unknown").await;
    assert_eq!(by_key["paymentMethodId"], json!(pm_id));

    // The default cannot be deleted without a flag: 400 (Kill Bill: 500), nothing changes.
    let response = app
        .kb(Method::DELETE, &format!("/1.0/kb/paymentMethods/{pm_id}"))
        .send()
        .await
        .expect("DELETE");
    let error = expect_kb_error(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], json!(7022));
    assert_eq!(
        error["message"],
        json!(format!(
            "Cannot delete default payment method for account {account_id}"
        ))
    );
    let account = get(&app, &format!("/1.0/kb/accounts/{account_id}")).await;
    assert_eq!(account["paymentMethodId"], json!(pm_id));
    let listed = get(
        &app,
        &format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
    )
    .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));

    // Forced: a soft delete that clears the account's default.
    let response = app
        .kb(
            Method::DELETE,
            &format!("/1.0/kb/paymentMethods/{pm_id}?forceDefaultPmDeletion=true"),
        )
        .send()
        .await
        .expect("DELETE");
    expect_status(response, StatusCode::NO_CONTENT).await;
    let account = get(&app, &format!("/1.0/kb/accounts/{account_id}")).await;
    assert_eq!(account["paymentMethodId"], Value::Null);
    let listed = get(
        &app,
        &format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
    )
    .await;
    assert_eq!(listed, json!([]));
    let listed = get(
        &app,
        &format!("/1.0/kb/accounts/{account_id}/paymentMethods?includedDeleted=true"),
    )
    .await;
    assert_eq!(listed[0]["paymentMethodId"], json!(pm_id));
    assert_eq!(listed[0]["isDefault"], json!(false));
    let response = app
        .kb(Method::GET, &format!("/1.0/kb/paymentMethods/{pm_id}"))
        .send()
        .await
        .expect("GET");
    let error = expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], json!(7000));

    // One INSERT and one DELETE history row, each audited; the account's default changed
    // twice, each an audited account_history row.
    assert_eq!(
        app.count("select count(*) from payment_method_history")
            .await,
        2
    );
    assert_eq!(
        app.count(
            "select count(*) from audit_log where table_name = 'PAYMENT_METHOD_HISTORY'
             and account_record_id is not null"
        )
        .await,
        2
    );
    assert_eq!(
        app.count(
            "select count(*) from payment_method_history h join audit_log l
             on l.target_record_id = h.record_id and l.table_name = 'PAYMENT_METHOD_HISTORY'
             where h.change_type = l.change_type"
        )
        .await,
        2
    );
    assert_eq!(
        app.count(
            "select count(*) from audit_log where table_name = 'ACCOUNT_HISTORY'
             and change_type = 'UPDATE'"
        )
        .await,
        2
    );
    assert_eq!(
        app.count("select count(*) from payment_methods where not is_active")
            .await,
        1
    );
}

#[tokio::test]
async fn refusals_carry_kill_bills_codes() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = create_account(&app, "refusals").await;
    let first = add_ok(
        &app,
        &account_id,
        "",
        json!({ "pluginName": EXTERNAL, "externalKey": "cheque" }),
    )
    .await;
    let listed = get(
        &app,
        &format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
    )
    .await;
    assert_eq!(listed[0]["isDefault"], json!(false));
    assert_eq!(listed[0]["externalKey"], json!("cheque"));

    let error = expect_kb_error(
        add(&app, &account_id, "", json!({ "pluginName": EXTERNAL })).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], json!(7023));

    let error = expect_kb_error(
        add(&app, &account_id, "", json!({ "pluginName": "stripe" })).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], json!(7028));
    assert_eq!(
        error["message"],
        json!("Payment plugin stripe is not registered")
    );

    expect_kb_error(
        add(&app, &account_id, "", json!({ "externalKey": "x" })).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let unknown = uuid::Uuid::new_v4();
    expect_kb_error(
        add(
            &app,
            &unknown.to_string(),
            "",
            json!({ "pluginName": EXTERNAL }),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let response = app
        .kb(Method::GET, "/1.0/kb/paymentMethods?externalKey=nope")
        .send()
        .await
        .expect("GET");
    let error = expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], json!(7000));

    // setDefault with another account's method: 404 7000 (Kill Bill: 500).
    let other_account = create_account(&app, "other").await;
    let response = app
        .kb(
            Method::PUT,
            &format!("/1.0/kb/accounts/{other_account}/paymentMethods/{first}/setDefault"),
        )
        .send()
        .await
        .expect("PUT");
    let error = expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], json!(7000));
    let response = app
        .kb(
            Method::PUT,
            &format!("/1.0/kb/accounts/{account_id}/paymentMethods/{first}/setDefault"),
        )
        .send()
        .await
        .expect("PUT");
    expect_status(response, StatusCode::NO_CONTENT).await;
    let method = get(&app, &format!("/1.0/kb/paymentMethods/{first}")).await;
    assert_eq!(method["isDefault"], json!(true));

    // Nothing was written by the refusals.
    assert_eq!(app.count("select count(*) from payment_methods").await, 1);
}

#[tokio::test]
async fn another_tenants_methods_are_unknown() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = create_account(&app, "mine").await;
    let pm_id = add_ok(&app, &account_id, "", json!({ "pluginName": EXTERNAL })).await;
    let other = app.create_tenant("other-key", "other-secret").await;
    let as_other = |method: Method, path: &str| {
        app.admin(method, path)
            .header("X-Killbill-ApiKey", &other.api_key)
            .header("X-Killbill-ApiSecret", &other.api_secret)
            .header("X-Killbill-CreatedBy", "intruder")
    };
    for (method, path) in [
        (Method::GET, format!("/1.0/kb/paymentMethods/{pm_id}")),
        (Method::DELETE, format!("/1.0/kb/paymentMethods/{pm_id}")),
        (
            Method::GET,
            "/1.0/kb/paymentMethods?externalKey=unknown".to_string(),
        ),
        (
            Method::GET,
            format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
        ),
    ] {
        let response = as_other(method, &path).send().await.expect("request");
        expect_kb_error(response, StatusCode::NOT_FOUND).await;
    }
    let response = as_other(
        Method::POST,
        &format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
    )
    .json(&json!({ "pluginName": EXTERNAL }))
    .send()
    .await
    .expect("POST");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(
        app.count("select count(*) from payment_methods where is_active")
            .await,
        1
    );
}

#[tokio::test]
async fn auto_pay_off_deletion_clears_the_default_and_a_second_delete_is_unknown() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = create_account(&app, "auto-pay-off").await;
    let pm_id = add_ok(
        &app,
        &account_id,
        "?isDefault=true&pluginProperty=a=b",
        json!({ "pluginName": EXTERNAL, "externalKey": "wire" }),
    )
    .await;

    // setDefault on an unknown account is the account's 404.
    let response = app
        .kb(
            Method::PUT,
            &format!(
                "/1.0/kb/accounts/{}/paymentMethods/{pm_id}/setDefault",
                uuid::Uuid::new_v4()
            ),
        )
        .send()
        .await
        .expect("PUT");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;

    let delete = |query: &'static str| {
        app.kb(
            Method::DELETE,
            &format!("/1.0/kb/paymentMethods/{pm_id}{query}"),
        )
        .send()
    };
    let response = delete("?deleteDefaultPmWithAutoPayOff=true")
        .await
        .expect("DELETE");
    expect_status(response, StatusCode::NO_CONTENT).await;
    let account = get(&app, &format!("/1.0/kb/accounts/{account_id}")).await;
    assert_eq!(account["paymentMethodId"], Value::Null);
    let error = expect_kb_error(delete("").await.expect("DELETE"), StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], json!(7000));

    // The deleted method still holds its key, and with it a second external method may exist.
    let deleted = get(
        &app,
        "/1.0/kb/paymentMethods?externalKey=wire&includedDeleted=true",
    )
    .await;
    assert_eq!(deleted["paymentMethodId"], json!(pm_id));
    add_ok(&app, &account_id, "", json!({ "pluginName": EXTERNAL })).await;

    // No body at all is Kill Bill's "PaymentMethodJson body should be specified".
    let response = app
        .kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
        )
        .header("Content-Type", "application/json")
        .send()
        .await
        .expect("POST");
    expect_kb_error(response, StatusCode::BAD_REQUEST).await;
}
