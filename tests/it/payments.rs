//! Payments through `__EXTERNAL_PAYMENT__` as api.md §4 describes Kill Bill's: every operation
//! of the state machine with its status, totals and Location; the illegal transitions (7032);
//! the failure hooks answered 402, 502, 400/7199 and 504/7100; idempotency by external keys;
//! concurrency on one account; and the rows every operation leaves.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_kb_error, expect_status, header, last_segment, wait_until, TestApp};

/// An account with a default `__EXTERNAL_PAYMENT__` method; returns its id.
async fn account_with_method(app: &TestApp, external_key: &str) -> String {
    app.account_with_external_method(external_key).await.0
}

async fn pay(app: &TestApp, account_id: &str, query: &str, body: Value) -> reqwest::Response {
    app.kb(
        Method::POST,
        &format!("/1.0/kb/accounts/{account_id}/payments{query}"),
    )
    .json(&body)
    .send()
    .await
    .expect("POST payments")
}

/// Follows a payment Location (absolute, trailing slash included) and returns the PaymentJson.
async fn follow(app: &TestApp, location: &str) -> Value {
    assert!(
        location.starts_with("http://") && location.contains("/1.0/kb/payments/"),
        "{location}"
    );
    assert!(
        location.ends_with('/'),
        "Kill Bill's payment Location ends with /: {location}"
    );
    let tenant = app.tenant.as_ref().expect("a tenant");
    let response = reqwest::Client::new()
        .get(location)
        .basic_auth("admin", Some("password"))
        .header("X-Killbill-ApiKey", &tenant.api_key)
        .header("X-Killbill-ApiSecret", &tenant.api_secret)
        .send()
        .await
        .expect("GET Location");
    expect_status(response, StatusCode::OK)
        .await
        .json()
        .await
        .expect("PaymentJson")
}

async fn created(response: reqwest::Response) -> String {
    header(
        &expect_status(response, StatusCode::CREATED).await,
        "location",
    )
}

async fn follow_up(app: &TestApp, method: Method, path: &str, body: Value) -> reqwest::Response {
    app.kb(method, path)
        .json(&body)
        .send()
        .await
        .expect("follow-up")
}

fn totals(payment: &Value) -> [f64; 5] {
    [
        "authAmount",
        "capturedAmount",
        "purchasedAmount",
        "refundedAmount",
        "creditedAmount",
    ]
    .map(|name| {
        payment[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} in {payment}"))
    })
}

fn statuses(payment: &Value) -> Vec<(String, String)> {
    payment["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(|transaction| {
            (
                transaction["transactionType"]
                    .as_str()
                    .expect("type")
                    .to_string(),
                transaction["status"].as_str().expect("status").to_string(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn every_operation_of_the_state_machine_answers_as_kill_bill_does() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = account_with_method(&app, "payer").await;

    // Authorize, partial capture, capture, refund.
    let location = created(
        pay(
            &app,
            &account_id,
            "",
            json!({"transactionType": "AUTHORIZE", "amount": 10, "paymentExternalKey": "order-1"}),
        )
        .await,
    )
    .await;
    let id = last_segment(&location);
    let payment = follow(&app, &location).await;
    assert_eq!(payment["accountId"], account_id.as_str());
    assert_eq!(payment["paymentExternalKey"], "order-1");
    assert_eq!(
        payment["currency"], "USD",
        "the account's currency is the default"
    );
    assert!(payment["paymentNumber"].is_string(), "{payment}");
    assert!(payment["paymentAttempts"].is_null());
    assert_eq!(totals(&payment), [10.0, 0.0, 0.0, 0.0, 0.0]);
    let transaction = &payment["transactions"][0];
    for field in [
        "transactionId",
        "transactionExternalKey",
        "paymentId",
        "paymentExternalKey",
        "transactionType",
        "amount",
        "currency",
        "effectiveDate",
        "processedAmount",
        "processedCurrency",
        "status",
        "gatewayErrorCode",
        "gatewayErrorMsg",
        "firstPaymentReferenceId",
        "secondPaymentReferenceId",
        "properties",
        "auditLogs",
    ] {
        assert!(
            transaction.get(field).is_some(),
            "{field} missing in {transaction}"
        );
    }
    assert_eq!(
        transaction["transactionExternalKey"],
        transaction["transactionId"]
    );
    assert!(
        transaction["properties"].is_null(),
        "null unless withPluginInfo"
    );

    let capture_path = format!("/1.0/kb/payments/{id}");
    let location =
        created(follow_up(&app, Method::POST, &capture_path, json!({"amount": 4})).await).await;
    assert_eq!(last_segment(&location), id);
    created(follow_up(&app, Method::POST, &capture_path, json!({"amount": "6.00"})).await).await;
    let refund_path = format!("/1.0/kb/payments/{id}/refunds");
    let location =
        created(follow_up(&app, Method::POST, &refund_path, json!({"amount": 2.5})).await).await;
    let payment = follow(&app, &location).await;
    assert_eq!(totals(&payment), [10.0, 10.0, 0.0, 2.5, 0.0]);
    assert_eq!(
        statuses(&payment),
        pairs(&[
            ("AUTHORIZE", "SUCCESS"),
            ("CAPTURE", "SUCCESS"),
            ("CAPTURE", "SUCCESS"),
            ("REFUND", "SUCCESS")
        ])
    );
    // No void after a capture.
    let error = expect_kb_error(
        app.kb(Method::DELETE, &capture_path)
            .send()
            .await
            .expect("void"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], 7032);
    assert_eq!(
        error["message"],
        "Invalid payment transition VOID from state REFUND_SUCCESS"
    );

    // Purchase, refund; no capture of a purchase.
    let location = created(
        pay(
            &app,
            &account_id,
            "",
            json!({"transactionType": "PURCHASE", "amount": 7.25}),
        )
        .await,
    )
    .await;
    let purchase = last_segment(&location);
    created(
        follow_up(
            &app,
            Method::POST,
            &format!("/1.0/kb/payments/{purchase}/refunds"),
            json!({"amount": 7.25}),
        )
        .await,
    )
    .await;
    let payment = follow(&app, &location).await;
    assert_eq!(totals(&payment), [0.0, 0.0, 7.25, 7.25, 0.0]);
    let error = expect_kb_error(
        follow_up(
            &app,
            Method::POST,
            &format!("/1.0/kb/payments/{purchase}"),
            json!({"amount": 1}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], 7032);

    // Authorize, void (204, no body even with none sent); nothing after a void.
    let location = created(
        pay(
            &app,
            &account_id,
            "",
            json!({"transactionType": "AUTHORIZE", "amount": 3}),
        )
        .await,
    )
    .await;
    let voided = last_segment(&location);
    let response = app
        .kb(Method::DELETE, &format!("/1.0/kb/payments/{voided}"))
        .send()
        .await
        .expect("void");
    expect_status(response, StatusCode::NO_CONTENT).await;
    let payment = follow(&app, &location).await;
    assert_eq!(
        totals(&payment),
        [0.0, 0.0, 0.0, 0.0, 0.0],
        "a voided auth counts 0"
    );
    let error = expect_kb_error(
        follow_up(
            &app,
            Method::POST,
            &format!("/1.0/kb/payments/{voided}"),
            json!({"amount": 1}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        error["message"],
        "Invalid payment transition CAPTURE from state VOID_SUCCESS"
    );

    // Credit; and CAPTURE is not a type an account takes (412).
    let location = created(
        pay(
            &app,
            &account_id,
            "",
            json!({"transactionType": "CREDIT", "amount": 1.5}),
        )
        .await,
    )
    .await;
    assert_eq!(
        totals(&follow(&app, &location).await),
        [0.0, 0.0, 0.0, 0.0, 1.5]
    );
    let response = pay(
        &app,
        &account_id,
        "",
        json!({"transactionType": "CAPTURE", "amount": 1}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);

    // Reads: by key, the account's list, a page.
    let by_key = app
        .kb(Method::GET, "/1.0/kb/payments?externalKey=order-1")
        .send()
        .await
        .expect("by key");
    let by_key: Value = expect_status(by_key, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(by_key["paymentId"], id.as_str());
    let error = expect_kb_error(
        app.kb(Method::GET, "/1.0/kb/payments?externalKey=nope")
            .send()
            .await
            .expect("unknown"),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(error["code"], 7020);
    let list = app
        .kb(
            Method::GET,
            &format!("/1.0/kb/accounts/{account_id}/payments"),
        )
        .send()
        .await
        .expect("list");
    let list: Value = expect_status(list, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(list.as_array().map(Vec::len), Some(4));
    let page = app
        .kb(Method::GET, "/1.0/kb/payments/pagination?offset=0&limit=3")
        .send()
        .await
        .expect("page");
    let page = expect_status(page, StatusCode::OK).await;
    assert_eq!(header(&page, "x-killbill-pagination-totalnbrecords"), "4");
    assert_eq!(header(&page, "x-killbill-pagination-nextoffset"), "3");

    // audit=MINIMAL shows each object's creation; FULL its whole trail.
    let audited = app
        .kb(Method::GET, &format!("/1.0/kb/payments/{id}?audit=MINIMAL"))
        .send()
        .await
        .expect("audit");
    let audited: Value = expect_status(audited, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON");
    let logs = audited["auditLogs"].as_array().expect("auditLogs");
    assert_eq!(logs.len(), 1, "{audited}");
    assert_eq!(logs[0]["changeType"], "INSERT");
    assert_eq!(logs[0]["objectType"], "PAYMENT");
    assert_eq!(logs[0]["changedBy"], "integration-test");
    assert_eq!(
        audited["transactions"][0]["auditLogs"][0]["objectType"],
        "TRANSACTION"
    );
    let full = app
        .kb(Method::GET, &format!("/1.0/kb/payments/{id}?audit=FULL"))
        .send()
        .await
        .expect("audit");
    let full: Value = expect_status(full, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        full["auditLogs"].as_array().map(Vec::len),
        Some(8),
        "the insert, its outcome, and two updates per follow-up (the transaction added, its outcome), as Kill Bill: {full}"
    );
    assert_eq!(
        full["transactions"][0]["auditLogs"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // Every transaction left history and audit rows, and an event that was dispatched.
    let transactions = app.count("select count(*) from payment_transactions").await;
    assert_eq!(transactions, 9);
    assert_eq!(
        app.count("select count(*) from payment_transaction_history")
            .await,
        2 * transactions,
        "an insert and an outcome each"
    );
    assert_eq!(
        app.count(
            "select count(*) from audit_log where table_name = 'PAYMENT_TRANSACTION_HISTORY'"
        )
        .await,
        2 * transactions
    );
    let events = "select count(*) from bus_events_history
                  where class_name = 'org.killbill.billing.payment.api.DefaultPaymentInfoEvent'";
    wait_until(
        "the payment events are dispatched",
        Duration::from_secs(30),
        || async { app.count(events).await == transactions },
    )
    .await;
}

#[tokio::test]
async fn failures_answer_402_502_7199_and_504_and_leave_the_transaction_recorded() {
    let app = {
        let mut app = TestApp::spawn_with(&[("org.killbill.payment.plugin.timeout", "1s")]).await;
        app.use_new_tenant("failures").await;
        app
    };
    let account_id = account_with_method(&app, "failing").await;
    let purchase = json!({"transactionType": "PURCHASE", "amount": 5});

    let response = pay(
        &app,
        &account_id,
        "?pluginProperty=killbill.external.payment.fail.error=true",
        purchase.clone(),
    )
    .await;
    let location = header(&response, "location");
    let error = expect_kb_error(response, StatusCode::PAYMENT_REQUIRED).await;
    assert_eq!(
        error["className"],
        "org.killbill.billing.payment.api.PaymentApiException"
    );
    assert!(error["code"].is_null());
    assert!(
        error["message"].as_str().is_some_and(
            |message| message.starts_with("Payment decline by gateway. Error message: ")
        ),
        "{error}"
    );
    let payment = follow(&app, &location).await;
    assert_eq!(
        statuses(&payment),
        pairs(&[("PURCHASE", "PAYMENT_FAILURE")])
    );
    assert_eq!(payment["transactions"][0]["processedAmount"], 0.0);

    let response = pay(
        &app,
        &account_id,
        "?pluginProperty=killbill.external.payment.fail.cancellation=true",
        purchase.clone(),
    )
    .await;
    let error = expect_kb_error(response, StatusCode::BAD_GATEWAY).await;
    assert_eq!(error["message"], "Failed to submit payment transaction");

    let response = pay(
        &app,
        &account_id,
        "?pluginProperty=killbill.external.payment.fail.exception=true",
        purchase.clone(),
    )
    .await;
    assert!(response.headers().get("location").is_none());
    let error = expect_kb_error(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["code"], 7199);

    let response = pay(
        &app,
        &account_id,
        "?pluginProperty=killbill.external.payment.fail.timeout=true",
        json!({"transactionType": "AUTHORIZE", "amount": 5, "paymentExternalKey": "slow"}),
    )
    .await;
    let error = expect_kb_error(response, StatusCode::GATEWAY_TIMEOUT).await;
    assert_eq!(error["code"], 7100);
    let message = error["message"].as_str().expect("a message");
    assert!(
        message.starts_with(&format!("Plugin timeout for account {account_id}: Call TIMEOUT for accountId='{account_id}' accountExternalKey='failing' plugin='__EXTERNAL_PAYMENT__'")),
        "{message}"
    );
    let slow = app
        .kb(Method::GET, "/1.0/kb/payments?externalKey=slow")
        .send()
        .await
        .expect("GET");
    let slow: Value = expect_status(slow, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(statuses(&slow), pairs(&[("AUTHORIZE", "UNKNOWN")]));
    assert_eq!(slow["transactions"][0]["processedAmount"], 0.0);
    // An UNKNOWN outcome is handed to the janitor.
    assert_eq!(
        app.count(
            "select count(*) from notifications where queue_name = 'payment-service:janitor'"
        )
        .await,
        2,
        "the exception's and the timeout's UNKNOWN transactions"
    );
    // Nothing was lost: every attempt is a recorded transaction.
    assert_eq!(
        app.count("select count(*) from payment_transactions").await,
        4
    );
}

#[tokio::test]
async fn external_keys_make_operations_idempotent_as_kill_bill_does() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = account_with_method(&app, "idempotent").await;
    let body = json!({
        "transactionType": "PURCHASE", "amount": 12, "transactionExternalKey": "charge-1"
    });
    created(pay(&app, &account_id, "", body.clone()).await).await;
    let error = expect_kb_error(
        pay(&app, &account_id, "", body.clone()).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], 7030);
    assert_eq!(
        error["message"],
        "Successful transaction with external key charge-1 already exists"
    );

    // After a decline, the same key retries on the same payment.
    let declined = json!({
        "transactionType": "PURCHASE", "amount": 3, "transactionExternalKey": "charge-2"
    });
    let response = pay(
        &app,
        &account_id,
        "?pluginProperty=killbill.external.payment.fail.error=true",
        declined.clone(),
    )
    .await;
    let first = last_segment(&header(&response, "location"));
    expect_kb_error(response, StatusCode::PAYMENT_REQUIRED).await;
    let location = created(pay(&app, &account_id, "", declined).await).await;
    assert_eq!(
        last_segment(&location),
        first,
        "the retry lands on the same payment"
    );
    let payment = follow(&app, &location).await;
    assert_eq!(
        statuses(&payment),
        pairs(&[("PURCHASE", "PAYMENT_FAILURE"), ("PURCHASE", "SUCCESS")])
    );

    // A payment external key attaches to the existing payment, under the state machine.
    let auth =
        json!({"transactionType": "AUTHORIZE", "amount": 2, "paymentExternalKey": "order-9"});
    created(pay(&app, &account_id, "", auth.clone()).await).await;
    let error = expect_kb_error(
        pay(&app, &account_id, "", auth).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], 7032);
}

#[tokio::test]
async fn concurrent_captures_on_one_account_are_serialized() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = account_with_method(&app, "busy").await;
    let location = created(
        pay(
            &app,
            &account_id,
            "",
            json!({"transactionType": "AUTHORIZE", "amount": 100}),
        )
        .await,
    )
    .await;
    let id = last_segment(&location);
    let captures = (0..30).map(|_| {
        let path = format!("/1.0/kb/payments/{id}");
        let request = app.kb(Method::POST, &path).json(&json!({"amount": 1}));
        async move { request.send().await.expect("capture").status() }
    });
    let answers = futures_util::future::join_all(captures).await;
    assert!(
        answers.iter().all(|status| *status == StatusCode::CREATED),
        "{answers:?}"
    );
    let payment = follow(&app, &location).await;
    assert_eq!(totals(&payment), [100.0, 30.0, 0.0, 0.0, 0.0]);
    assert_eq!(
        app.count("select count(*) from account_locks").await,
        0,
        "every lease given back"
    );
}

#[tokio::test]
async fn bad_payment_requests_are_refused_with_kill_bills_codes() {
    let app = TestApp::spawn_with_tenant().await;
    let account_id = account_with_method(&app, "strict").await;
    let no_amount = pay(
        &app,
        &account_id,
        "",
        json!({"transactionType": "PURCHASE"}),
    )
    .await;
    expect_kb_error(no_amount, StatusCode::BAD_REQUEST).await;
    let unknown = expect_kb_error(
        app.kb(
            Method::GET,
            &format!("/1.0/kb/payments/{}", uuid::Uuid::new_v4()),
        )
        .send()
        .await
        .expect("GET"),
        StatusCode::NOT_FOUND,
    )
    .await;
    // An id is resolved before the payment API, as Kill Bill's InternalCallContextFactory does.
    assert_eq!(unknown["code"], Value::Null);
    assert_eq!(
        unknown["className"],
        "org.killbill.billing.util.callcontext.InternalCallContextFactory$ObjectDoesNotExist"
    );
    let location = created(
        pay(
            &app,
            &account_id,
            "",
            json!({"transactionType": "AUTHORIZE", "amount": 1}),
        )
        .await,
    )
    .await;
    let id = last_segment(&location);
    let wrong_currency = expect_kb_error(
        follow_up(
            &app,
            Method::POST,
            &format!("/1.0/kb/payments/{id}"),
            json!({"amount": 1, "currency": "EUR"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(wrong_currency["code"], 7031);

    // An account with no payment method.
    let response = app
        .kb(Method::POST, "/1.0/kb/accounts")
        .json(&json!({"externalKey": "no-method", "currency": "USD"}))
        .send()
        .await
        .expect("POST account");
    let bare = last_segment(&format!("{}/", created(response).await));
    let error = expect_kb_error(
        pay(
            &app,
            &bare,
            "",
            json!({"transactionType": "PURCHASE", "amount": 1}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], 7031);
    assert_eq!(
        error["message"],
        "Invalid parameter paymentMethodId: should not be null"
    );
    // Another account's method.
    let other_method = app
        .kb(
            Method::GET,
            &format!("/1.0/kb/accounts/{account_id}/paymentMethods"),
        )
        .send()
        .await
        .expect("methods");
    let other_method: Value = other_method.json().await.expect("JSON");
    let method_id = other_method[0]["paymentMethodId"].as_str().expect("an id");
    let error = expect_kb_error(
        pay(
            &app,
            &bare,
            &format!("?paymentMethodId={method_id}"),
            json!({"transactionType": "PURCHASE", "amount": 1}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(error["code"], 7000);

    // Another tenant sees none of it.
    let other = app.create_tenant("other-tenant", "other-secret").await;
    let response = app
        .admin(Method::GET, &format!("/1.0/kb/payments/{id}"))
        .header("X-Killbill-ApiKey", &other.api_key)
        .header("X-Killbill-ApiSecret", &other.api_secret)
        .send()
        .await
        .expect("GET as another tenant");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    let response = app
        .admin(Method::POST, &format!("/1.0/kb/payments/{id}"))
        .header("X-Killbill-ApiKey", &other.api_key)
        .header("X-Killbill-ApiSecret", &other.api_secret)
        .header("X-Killbill-CreatedBy", "intruder")
        .json(&json!({"amount": 1}))
        .send()
        .await
        .expect("capture as another tenant");
    expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(
        app.count("select count(*) from payment_transactions").await,
        1
    );
}
