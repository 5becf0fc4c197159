//! A pool far smaller than the load means queueing, never collapse: with two main-pool and two
//! plugin-pool connections, hundreds of concurrent purchases (through `__EXTERNAL_PAYMENT__`
//! and through the simulated gateway) and account creations all succeed, none anywhere near
//! `connectionTimeout`. No request holds a connection while it waits for another one, for an
//! account's turn or for a plugin (`db::work`), so two connections are always enough to make
//! progress.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::task::JoinSet;

use crate::harness::{TestApp, APPROVED_CARD};

const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_connections_serve_hundreds_of_payments_and_accounts_at_once() {
    let timeout = format!("{}s", CONNECTION_TIMEOUT.as_secs());
    let mut app = TestApp::spawn_with(&[
        ("org.killbill.dao.maxActive", "2"),
        ("org.killbill.dao.connectionTimeout", timeout.as_str()),
        ("org.killbill.billing.osgi.dao.maxActive", "2"),
        (
            "org.killbill.billing.osgi.dao.connectionTimeout",
            timeout.as_str(),
        ),
        ("org.killbill.payment.plugin.threads.nb", "20"),
    ])
    .await;
    app.use_new_tenant("small-pools").await;

    let mut accounts = Vec::new();
    for index in 0..25 {
        let (account, _) = app
            .account_with_external_method(&format!("external-{index}"))
            .await;
        accounts.push(account);
        accounts.push(
            app.account_with_card(&format!("card-{index}"), APPROVED_CARD)
                .await,
        );
    }

    let mut requests = JoinSet::new();
    for index in 0..200 {
        let request = app
            .kb(
                Method::POST,
                &format!(
                    "/1.0/kb/accounts/{}/payments",
                    accounts[index % accounts.len()]
                ),
            )
            .json(&json!({
                "transactionType": "PURCHASE",
                "amount": 5,
                "currency": "USD",
                "paymentExternalKey": format!("purchase-{index}"),
            }));
        requests.spawn(timed("purchase", request));
    }
    for index in 0..100 {
        let request = app
            .kb(Method::POST, "/1.0/kb/accounts")
            .json(&json!({ "externalKey": format!("late-{index}"), "currency": "EUR" }));
        requests.spawn(timed("account", request));
    }
    let mut answers = Vec::new();
    while let Some(answer) = requests.join_next().await {
        answers.push(answer.expect("the request task"));
    }
    let refused: Vec<_> = answers
        .iter()
        .filter(|(_, status, _)| *status != StatusCode::CREATED)
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    let slowest = answers
        .iter()
        .map(|(_, _, took)| *took)
        .max()
        .unwrap_or_default();
    assert!(
        slowest < CONNECTION_TIMEOUT,
        "a request took {slowest:?}, as long as a connection wait may"
    );

    assert_eq!(
        app.count("select count(*) from payment_transactions where transaction_status = 'SUCCESS'")
            .await,
        200
    );
    assert_eq!(app.count("select count(*) from accounts").await, 150);
}

async fn timed(
    what: &'static str,
    request: reqwest::RequestBuilder,
) -> (&'static str, StatusCode, Duration) {
    let started = Instant::now();
    let status = match request.send().await {
        Ok(response) => response.status(),
        Err(_) => StatusCode::GATEWAY_TIMEOUT,
    };
    (what, status, started.elapsed())
}
