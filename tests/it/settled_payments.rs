//! `__EXTERNAL_PAYMENT__` operations are settled in one transaction
//! (`ferrobill.payment.settleInOneTransaction`) and must leave exactly the rows Kill Bill's two
//! transactions leave: the same payment and transaction rows, the same history and audit rows
//! in the same order per object, the same bus events. The same operations are run once settled
//! and once in two transactions, and every row is compared, ids, dates and tokens aside.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{expect_status, header, last_segment, TestApp};

/// Purchase, refund; authorize, partial capture, capture, refund; authorize, void; credit; a
/// declined purchase (the `fail.error` hook). Returns after every answer.
async fn operations(app: &TestApp) {
    let (account, _) = app.account_with_external_method("rows").await;
    let pay = |query: &'static str, body: Value| {
        app.kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account}/payments{query}"),
        )
        .json(&body)
    };
    let follow_up = |method: Method, path: String, body: Value| app.kb(method, &path).json(&body);

    let purchase = pay(
        "",
        json!({"transactionType": "PURCHASE", "amount": 12.5, "currency": "USD",
               "paymentExternalKey": "p-1", "transactionExternalKey": "t-1"}),
    );
    let purchased = last_segment(&created(purchase).await);
    expect_status(
        follow_up(
            Method::POST,
            format!("/1.0/kb/payments/{purchased}/refunds"),
            json!({"amount": 2.5, "currency": "USD"}),
        )
        .send()
        .await
        .expect("refund"),
        StatusCode::CREATED,
    )
    .await;

    let authorize = pay(
        "",
        json!({"transactionType": "AUTHORIZE", "amount": 30, "currency": "USD"}),
    );
    let authorized = last_segment(&created(authorize).await);
    for amount in [10, 20] {
        expect_status(
            follow_up(
                Method::POST,
                format!("/1.0/kb/payments/{authorized}"),
                json!({"amount": amount, "currency": "USD"}),
            )
            .send()
            .await
            .expect("capture"),
            StatusCode::CREATED,
        )
        .await;
    }

    let to_void = pay(
        "",
        json!({"transactionType": "AUTHORIZE", "amount": 7, "currency": "USD"}),
    );
    let voided = last_segment(&created(to_void).await);
    expect_status(
        app.kb(Method::DELETE, &format!("/1.0/kb/payments/{voided}"))
            .send()
            .await
            .expect("void"),
        StatusCode::NO_CONTENT,
    )
    .await;

    created(pay(
        "",
        json!({"transactionType": "CREDIT", "amount": 3, "currency": "USD"}),
    ))
    .await;
    let declined = pay(
        "?pluginProperty=killbill.external.payment.fail.error=true",
        json!({"transactionType": "PURCHASE", "amount": 4, "currency": "USD"}),
    )
    .send()
    .await
    .expect("declined purchase");
    assert_eq!(declined.status(), StatusCode::PAYMENT_REQUIRED);
}

async fn created(request: reqwest::RequestBuilder) -> String {
    header(
        &expect_status(
            request.send().await.expect("a payment"),
            StatusCode::CREATED,
        )
        .await,
        "location",
    )
}

/// Every row the operations left, as text, without ids, dates, record ids or user tokens (which
/// differ between any two runs), in a stable order.
async fn rows(app: &TestApp) -> Vec<String> {
    let queries = [
        "select p.external_key is not null, state_name, last_success_state_name, created_by,
                updated_by
         from payments p order by record_id",
        "select change_type, state_name, last_success_state_name, created_by, updated_by
         from payment_history order by target_record_id, record_id",
        "select transaction_type, transaction_status, amount::text, currency,
                processed_amount::text, processed_currency, gateway_error_code,
                gateway_error_msg, created_by, updated_by
         from payment_transactions order by record_id",
        "select change_type, transaction_type, transaction_status, amount::text, currency,
                processed_amount::text, processed_currency, gateway_error_code,
                gateway_error_msg, created_by, updated_by
         from payment_transaction_history order by target_record_id, record_id",
        "select a.table_name, a.change_type, a.created_by, a.reason_code, a.comments
         from audit_log a
         left join payment_history ph
           on a.table_name = 'PAYMENT_HISTORY' and ph.record_id = a.target_record_id
         left join payment_transaction_history th
           on a.table_name = 'PAYMENT_TRANSACTION_HISTORY' and th.record_id = a.target_record_id
         where a.table_name in ('PAYMENT_HISTORY', 'PAYMENT_TRANSACTION_HISTORY')
         order by a.table_name, coalesce(ph.target_record_id, th.target_record_id), a.record_id",
        "select class_name,
                (event_json::jsonb - 'paymentId' - 'paymentTransactionId' - 'accountId'
                                    - 'effectiveDate' - 'userToken')::text
         from (select record_id, class_name, event_json from bus_events
               union all select record_id, class_name, event_json from bus_events_history) e
         where class_name like '%Payment%'
         order by record_id",
    ];
    let client = app.db.client().await;
    let mut found = Vec::new();
    for sql in queries {
        for row in client.query(sql, &[]).await.expect(sql) {
            let values: Vec<String> = (0..row.len())
                .map(|index| {
                    row.try_get::<_, Option<String>>(index)
                        .map(|value| value.unwrap_or_else(|| "null".into()))
                        .or_else(|_| {
                            row.try_get::<_, Option<bool>>(index)
                                .map(|value| format!("{value:?}"))
                        })
                        .unwrap_or_else(|error| format!("<{error}>"))
                })
                .collect();
            found.push(values.join(" | "));
        }
        found.push("--".to_string());
    }
    found
}

async fn rows_after_operations(settle_in_one_transaction: &str) -> Vec<String> {
    let mut app = TestApp::spawn_with(&[
        (
            "ferrobill.payment.settleInOneTransaction",
            settle_in_one_transaction,
        ),
        // Dispatched events move to history: the comparison reads both tables.
        ("org.killbill.persistent.bus.main.off", "true"),
    ])
    .await;
    app.use_new_tenant("rows").await;
    operations(&app).await;
    rows(&app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_transaction_leaves_the_rows_of_kill_bills_two() {
    let settled = rows_after_operations("true").await;
    let two_transactions = rows_after_operations("false").await;
    assert!(settled.len() > 40, "{settled:#?}");
    assert_eq!(settled, two_transactions);
}
