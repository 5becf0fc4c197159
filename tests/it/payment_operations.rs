//! The payment operations beyond create/capture/refund/void (issue 14): combo payments (two at
//! once with one account key make one account and one method), chargebacks and their
//! reversals changing the totals as Kill Bill does, a PENDING transaction of the simulated
//! gateway settled by notifyStateChanged and by a gateway notification (with Kill Bill's
//! PAYMENT_SUCCESS event), hosted payment page descriptors, the admin's repair, tenant
//! isolation on every new route, and bad input refused without storing anything.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{expect_kb_error, expect_status, header, last_segment, Callback, TestApp};

/// The simulated gateway's card left PENDING until a notification settles it.
const PENDING_CARD: &str = "4000000000003220";

async fn spawn() -> TestApp {
    TestApp::spawn_with_tenant().await
}

async fn payment(app: &TestApp, id: &str) -> Value {
    app.get_json(&format!("/1.0/kb/payments/{id}")).await
}

fn combo_body(key: &str, transaction_key: &str) -> Value {
    json!({
        "account": {"externalKey": key, "currency": "USD", "name": "Combo"},
        "paymentMethod": {"pluginName": "__EXTERNAL_PAYMENT__", "externalKey": format!("{key}-pm")},
        "transaction": {
            "transactionType": "PURCHASE", "amount": "5", "transactionExternalKey": transaction_key
        }
    })
}

#[tokio::test]
async fn two_combos_at_once_make_one_account_one_method_and_two_transactions() {
    let app = spawn().await;
    let first = app.send(
        Method::POST,
        "/1.0/kb/payments/combo",
        Some(combo_body("race", "race-1")),
    );
    let second = app.send(
        Method::POST,
        "/1.0/kb/payments/combo",
        Some(combo_body("race", "race-2")),
    );
    let (first, second) = tokio::join!(first, second);
    let first = expect_status(first, StatusCode::CREATED).await;
    let second = expect_status(second, StatusCode::CREATED).await;
    let payments = [
        last_segment(&header(&first, "location")),
        last_segment(&header(&second, "location")),
    ];
    assert_ne!(payments[0], payments[1]);
    assert_eq!(
        app.count("select count(*) from accounts where external_key = 'race'")
            .await,
        1
    );
    assert_eq!(
        app.count("select count(*) from payment_methods where external_key = 'race-pm'")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "select count(*) from payment_transactions t join payments p on p.id = t.payment_id
             join accounts a on a.id = p.account_id where a.external_key = 'race'"
        )
        .await,
        2
    );
    let account = app.get_json("/1.0/kb/accounts?externalKey=race").await;
    for id in &payments {
        let paid = payment(&app, id).await;
        assert_eq!(paid["accountId"], account["accountId"]);
        assert_eq!(paid["transactions"][0]["status"], "SUCCESS");
        assert_eq!(paid["purchasedAmount"], 5.0);
    }
    // The method is the account's default: it was its first.
    let method = app
        .get_json("/1.0/kb/paymentMethods?externalKey=race-pm")
        .await;
    assert_eq!(account["paymentMethodId"], method["paymentMethodId"]);
    // A third combo finds both.
    let third = app
        .send(
            Method::POST,
            "/1.0/kb/payments/combo",
            Some(combo_body("race", "race-3")),
        )
        .await;
    expect_status(third, StatusCode::CREATED).await;
    assert_eq!(
        app.count("select count(*) from payment_methods where account_record_id = (select record_id from accounts where external_key = 'race')")
            .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn a_chargeback_takes_from_the_purchase_and_its_reversal_gives_it_back() {
    let app = spawn().await;
    let (account, _) = app.account_with_external_method("cb").await;
    let (id, _) = app.purchase(&account, "10").await;
    let response = app
        .send(
            Method::POST,
            &format!("/1.0/kb/payments/{id}/chargebacks"),
            Some(json!({"amount": 4, "currency": "USD", "transactionExternalKey": "cb-1"})),
        )
        .await;
    expect_status(response, StatusCode::CREATED).await;
    let charged = payment(&app, &id).await;
    assert_eq!(charged["purchasedAmount"], 6.0, "{charged}");
    assert_eq!(charged["transactions"][1]["transactionType"], "CHARGEBACK");
    assert_eq!(charged["transactions"][1]["status"], "SUCCESS");

    // A reversal by the chargeback's key: recorded as a failed CHARGEBACK, which Kill Bill's
    // createPaymentResponse answers 402 (it reports the latest CHARGEBACK with that key).
    let response = app
        .send(
            Method::POST,
            &format!("/1.0/kb/payments/{id}/chargebackReversals"),
            Some(json!({"transactionExternalKey": "cb-1"})),
        )
        .await;
    let response = expect_status(response, StatusCode::PAYMENT_REQUIRED).await;
    assert!(header(&response, "location").ends_with(&format!("/1.0/kb/payments/{id}/")));
    let reversed = payment(&app, &id).await;
    assert_eq!(reversed["purchasedAmount"], 10.0, "{reversed}");
    assert_eq!(reversed["transactions"][2]["transactionType"], "CHARGEBACK");
    assert_eq!(reversed["transactions"][2]["status"], "PAYMENT_FAILURE");

    // After a reversal the state machine allows refunds only (CHARGEBACK_FAILED), as Kill
    // Bill's.
    let response = app
        .send(
            Method::POST,
            &format!("/1.0/kb/payments/{id}/chargebacks"),
            Some(json!({"amount": 1, "currency": "USD"})),
        )
        .await;
    assert_eq!(
        expect_kb_error(response, StatusCode::BAD_REQUEST).await["code"],
        7032
    );

    // By the payment's key, on another purchase: all of it.
    let (other, _) = app.purchase(&account, "8").await;
    let key = payment(&app, &other).await["paymentExternalKey"]
        .as_str()
        .expect("a key")
        .to_string();
    let response = app
        .send(
            Method::POST,
            "/1.0/kb/payments/chargebacks",
            Some(json!({"paymentExternalKey": key, "amount": 8, "currency": "USD"})),
        )
        .await;
    expect_status(response, StatusCode::CREATED).await;
    assert_eq!(payment(&app, &other).await["purchasedAmount"], 0.0);
    app.stop().await;
}

#[tokio::test]
async fn a_pending_gateway_transaction_is_settled_by_notify_state_changed_with_its_event() {
    let app = spawn().await;
    let mut callback = Callback::start().await;
    app.register_callback(&callback.url).await;
    let account = app.account_with_card("pending", PENDING_CARD).await;
    let response = app
        .send(
            Method::POST,
            &format!("/1.0/kb/accounts/{account}/payments"),
            Some(json!({"transactionType": "PURCHASE", "amount": 7, "currency": "USD"})),
        )
        .await;
    let response = expect_status(response, StatusCode::CREATED).await;
    let id = last_segment(&header(&response, "location"));
    let pending = payment(&app, &id).await;
    assert_eq!(pending["transactions"][0]["status"], "PENDING", "{pending}");
    let transaction = pending["transactions"][0]["transactionId"]
        .as_str()
        .expect("an id")
        .to_string();

    let response = app
        .send(
            Method::POST,
            &format!("/1.0/kb/paymentTransactions/{transaction}"),
            Some(json!({"paymentId": id, "status": "SUCCESS"})),
        )
        .await;
    let response = expect_status(response, StatusCode::CREATED).await;
    assert!(header(&response, "location").ends_with(&format!("/1.0/kb/payments/{id}/")));
    let settled = payment(&app, &id).await;
    assert_eq!(settled["transactions"].as_array().map(Vec::len), Some(1));
    assert_eq!(settled["transactions"][0]["status"], "SUCCESS", "{settled}");
    assert_eq!(settled["purchasedAmount"], 7.0);
    let events = callback.next_of("PAYMENT_SUCCESS", 1).await;
    assert_eq!(events[0]["objectId"], json!(id));

    // Not PENDING any more: Kill Bill's 7024.
    let response = app
        .send(
            Method::POST,
            &format!("/1.0/kb/paymentTransactions/{transaction}"),
            Some(json!({"paymentId": id, "status": "SUCCESS"})),
        )
        .await;
    let error = expect_kb_error(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], 7024);

    // The payment by its transaction, and the transaction's audit trail with history.
    let by_transaction = app
        .get_json(&format!("/1.0/kb/paymentTransactions/{transaction}"))
        .await;
    assert_eq!(by_transaction["paymentId"], json!(id));
    let trail = app
        .get_json(&format!(
            "/1.0/kb/paymentTransactions/{transaction}/auditLogsWithHistory"
        ))
        .await;
    let changes: Vec<&Value> = trail
        .as_array()
        .expect("a list")
        .iter()
        .map(|entry| &entry["changeType"])
        .collect();
    assert_eq!(changes.first(), Some(&&json!("INSERT")), "{trail}");
    assert!(changes.len() >= 2, "{trail}");
    app.stop().await;
}

#[tokio::test]
async fn a_hosted_page_points_at_the_simulated_checkout_and_its_notification_settles_the_payment() {
    let app = spawn().await;
    let account = app.account_with_card("hosted", PENDING_CARD).await;
    let response = app
        .send(
            Method::POST,
            &format!("/1.0/kb/paymentGateways/hosted/form/{account}"),
            Some(json!({"formFields": [{"key": "amount", "value": "7"}]})),
        )
        .await;
    let form: Value = expect_status(response, StatusCode::OK)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(form["kbAccountId"], json!(account));
    assert_eq!(form["formMethod"], "POST");
    let url = form["formUrl"].as_str().expect("a form URL");
    assert!(
        url.ends_with("/plugins/ferrobill-gateway/checkout"),
        "{form}"
    );
    assert_eq!(form["formFields"]["amount"], "7");
    let page = app.http.get(url).send().await.expect("the checkout page");
    assert_eq!(page.status(), StatusCode::OK);

    let response = app
        .send(
            Method::POST,
            &format!("/1.0/kb/accounts/{account}/payments"),
            Some(json!({"transactionType": "PURCHASE", "amount": 7, "currency": "USD"})),
        )
        .await;
    let response = expect_status(response, StatusCode::CREATED).await;
    let id = last_segment(&header(&response, "location"));
    let transaction = payment(&app, &id).await["transactions"][0]["transactionId"]
        .as_str()
        .expect("an id")
        .to_string();
    let notification =
        json!({"kbPaymentId": id, "kbTransactionId": transaction, "status": "PROCESSED"});
    let response = app
        .kb(
            Method::POST,
            "/1.0/kb/paymentGateways/notification/ferrobill-gateway",
        )
        .header("Content-Type", "text/plain")
        .body(notification.to_string())
        .send()
        .await
        .expect("a notification");
    expect_status(response, StatusCode::OK).await;
    let settled = payment(&app, &id).await;
    assert_eq!(settled["transactions"][0]["status"], "SUCCESS", "{settled}");
    // The gateway agrees.
    let with_info = app
        .get_json(&format!("/1.0/kb/payments/{id}?withPluginInfo=true"))
        .await;
    assert_eq!(with_info["transactions"][0]["status"], "SUCCESS");
    // A repeated notification changes nothing.
    let response = app
        .kb(
            Method::POST,
            "/1.0/kb/paymentGateways/notification/ferrobill-gateway",
        )
        .body(notification.to_string())
        .send()
        .await
        .expect("a notification");
    expect_status(response, StatusCode::OK).await;
    app.stop().await;
}

#[tokio::test]
async fn completing_a_pending_transaction_updates_it_instead_of_adding_one() {
    let app = spawn().await;
    let (account, _) = app.account_with_external_method("complete").await;
    let (id, transaction) = app.purchase(&account, "3").await;
    let response = app
        .send(
            Method::PUT,
            &format!("/1.0/kb/admin/payments/{id}/transactions/{transaction}"),
            Some(json!({"transactionStatus": "PENDING"})),
        )
        .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    assert_eq!(
        payment(&app, &id).await["transactions"][0]["status"],
        "PENDING"
    );
    let response = app
        .send(
            Method::PUT,
            &format!("/1.0/kb/payments/{id}"),
            Some(json!({})),
        )
        .await;
    expect_status(response, StatusCode::NO_CONTENT).await;
    let completed = payment(&app, &id).await;
    assert_eq!(completed["transactions"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        completed["transactions"][0]["status"], "SUCCESS",
        "{completed}"
    );
    app.stop().await;
}

#[tokio::test]
async fn another_tenants_payments_and_transactions_are_not_found_on_the_new_routes() {
    let mut app = spawn().await;
    let (account, _) = app.account_with_external_method("mine").await;
    let (id, transaction) = app.purchase(&account, "4").await;
    let key = payment(&app, &id).await["transactions"][0]["transactionExternalKey"]
        .as_str()
        .expect("a key")
        .to_string();
    app.use_new_tenant("other").await;
    let rows_before = app.count("select count(*) from payment_transactions").await;
    let not_found = [
        (
            Method::GET,
            format!("/1.0/kb/paymentTransactions/{transaction}"),
            None,
        ),
        (
            Method::GET,
            format!("/1.0/kb/paymentTransactions?transactionExternalKey={key}"),
            None,
        ),
        (
            Method::GET,
            format!("/1.0/kb/paymentTransactions/{transaction}/auditLogsWithHistory"),
            None,
        ),
        (
            Method::POST,
            format!("/1.0/kb/paymentTransactions/{transaction}"),
            Some(json!({"paymentId": id, "status": "SUCCESS"})),
        ),
        (
            Method::GET,
            format!("/1.0/kb/payments/{id}/auditLogsWithHistory"),
            None,
        ),
        (
            Method::POST,
            format!("/1.0/kb/payments/{id}/chargebacks"),
            Some(json!({"amount": 1, "currency": "USD"})),
        ),
        (
            Method::POST,
            format!("/1.0/kb/payments/{id}/chargebackReversals"),
            Some(json!({"transactionExternalKey": key})),
        ),
        (
            Method::PUT,
            format!("/1.0/kb/payments/{id}"),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            format!("/1.0/kb/payments/{transaction}/cancelScheduledPaymentTransaction"),
            None,
        ),
        (
            Method::PUT,
            format!("/1.0/kb/admin/payments/{id}/transactions/{transaction}"),
            Some(json!({"transactionStatus": "PAYMENT_FAILURE"})),
        ),
        (
            Method::POST,
            format!("/1.0/kb/paymentGateways/hosted/form/{account}"),
            Some(json!({"formFields": []})),
        ),
        (
            Method::POST,
            "/1.0/kb/payments/combo".to_string(),
            Some(json!({"account": {"accountId": account},
                        "transaction": {"transactionType": "PURCHASE", "amount": 1}})),
        ),
    ];
    for (method, path, body) in not_found {
        let response = app.send(method.clone(), &path, body).await;
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    assert_eq!(
        app.count("select count(*) from payment_transactions").await,
        rows_before
    );
    // The first tenant's payment is as it was.
    let status: String = app
        .db
        .client()
        .await
        .query_one(
            "select transaction_status from payment_transactions where id = $1",
            &[&Uuid::parse_str(&transaction).expect("a UUID")],
        )
        .await
        .expect("the transaction")
        .get(0);
    assert_eq!(status, "SUCCESS");
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_kill_bills_error_and_stores_nothing() {
    let app = spawn().await;
    let (account, _) = app.account_with_external_method("bad").await;
    let (id, transaction) = app.purchase(&account, "4").await;
    let accounts_before = app.count("select count(*) from accounts").await;
    let transactions_before = app.count("select count(*) from payment_transactions").await;
    let refused = [
        // A combo whose transaction type no account takes: Kill Bill's 412.
        (
            "/1.0/kb/payments/combo".to_string(),
            Method::POST,
            json!({"account": {"externalKey": "never"},
                   "transaction": {"transactionType": "CAPTURE", "amount": 1}}),
            StatusCode::PRECONDITION_FAILED,
        ),
        (
            "/1.0/kb/payments/combo".to_string(),
            Method::POST,
            json!({"account": {"externalKey": "never"}, "colour": "blue"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/1.0/kb/payments/{id}/chargebacks"),
            Method::POST,
            json!({"currency": "USD"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/1.0/kb/payments/{id}/chargebackReversals"),
            Method::POST,
            json!({}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/1.0/kb/paymentTransactions/{transaction}"),
            Method::POST,
            json!({"status": "SUCCESS"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/1.0/kb/admin/payments/{id}/transactions/{transaction}"),
            Method::PUT,
            json!({"transactionStatus": "BROKEN"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/1.0/kb/payments/chargebacks".to_string(),
            Method::POST,
            json!({"amount": 1}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (path, method, body, status) in refused {
        let response = app.send(method, &path, Some(body)).await;
        // Kill Bill's 412 carries its text, not its error JSON.
        if status == StatusCode::PRECONDITION_FAILED {
            expect_status(response, status).await;
        } else {
            expect_kb_error(response, status).await;
        }
    }
    assert_eq!(
        app.count("select count(*) from accounts").await,
        accounts_before
    );
    assert_eq!(
        app.count("select count(*) from payment_transactions").await,
        transactions_before
    );
    assert_eq!(
        app.count("select count(*) from accounts where external_key = 'never'")
            .await,
        0
    );
    app.stop().await;
}
