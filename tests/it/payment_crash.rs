//! The server killed with SIGKILL in the middle of 100 concurrent purchases, then restarted on
//! the same database: every purchase answered 201 is SUCCESS; every other one ends SUCCESS,
//! failed, or UNKNOWN repaired by the janitor; the gateway charged exactly the SUCCESS ones,
//! each once.

use std::time::Duration;

use nix::sys::signal::Signal;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{count, http_client, wait_until, TestDatabase};
use crate::process::{ferrobill, fresh_workdir, ServerProcess};

const PURCHASES: usize = 100;

fn start(database_url: &str, workdir: &std::path::Path) -> ServerProcess {
    let mut command = ferrobill(workdir);
    command
        .env("DATABASE_URL", database_url)
        .env("KB_org_killbill_payment_plugin_threads_nb", "100")
        .env("KB_org_killbill_billing_osgi_dao_maxActive", "100")
        .env("KB_org_killbill_dao_maxActive", "30")
        .env("KB_org_killbill_payment_plugin_timeout", "4s")
        .env(
            "FERROBILL_GATEWAY_LATENCY",
            "lognormal:median=300ms,p99=2500ms",
        )
        .env(
            "KB_org_killbill_payment_janitor_unknown_retries",
            // Enough looks to outlast a dead run's leases and the plugin-silence rule (twice
            // the plugin timeout).
            "1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s",
        )
        .env("KB_org_killbill_payment_janitor_rate", "1s")
        .env("KB_org_killbill_notificationq_main_sleep", "100")
        .env("KB_org_killbill_notificationq_main_reapThreshold", "3s")
        .env("KB_org_killbill_notificationq_main_reapSchedule", "1s")
        .env("KB_org_killbill_queue_creator_name", "crash-node");
    ServerProcess::start(command)
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .basic_auth("admin", Some("password"))
            .header("X-Killbill-ApiKey", "crash")
            .header("X-Killbill-ApiSecret", "crash-secret")
            .header("X-Killbill-CreatedBy", "crash-test")
    }
}

#[tokio::test]
async fn a_kill_9_mid_purchases_loses_nothing_and_charges_nothing_twice() {
    let db = TestDatabase::create().await;
    let url = db.url();
    let workdir = fresh_workdir("payment-crash");
    let server = start(&url, &workdir);
    let client = Client {
        http: http_client(),
        base: server.address.clone(),
    };
    let response = client
        .request(Method::POST, "/1.0/kb/tenants")
        .json(&json!({"apiKey": "crash", "apiSecret": "crash-secret"}))
        .send()
        .await
        .expect("tenant");
    assert_eq!(response.status(), StatusCode::CREATED);
    let mut accounts = Vec::new();
    for index in 0..PURCHASES {
        let response = client
            .request(Method::POST, "/1.0/kb/accounts")
            .json(&json!({"externalKey": format!("buyer-{index}"), "currency": "USD"}))
            .send()
            .await
            .expect("account");
        assert_eq!(response.status(), StatusCode::CREATED);
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .expect("a Location")
            .to_string();
        let account_id = location.rsplit('/').next().expect("an id").to_string();
        let response = client
            .request(
                Method::POST,
                &format!("/1.0/kb/accounts/{account_id}/paymentMethods?isDefault=true"),
            )
            .json(
                &json!({"pluginName": "killbill-stripe", "pluginInfo": {"properties": [
                    {"key": "ccNumber", "value": "4242424242424242"}
                ]}}),
            )
            .send()
            .await
            .expect("payment method");
        assert_eq!(response.status(), StatusCode::CREATED);
        accounts.push(account_id);
    }

    // Fire every purchase; kill the server once ten of them have succeeded (on a loaded
    // machine the first answers may be timeouts).
    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for (index, account_id) in accounts.iter().enumerate() {
        let request = client
            .request(
                Method::POST,
                &format!("/1.0/kb/accounts/{account_id}/payments"),
            )
            .json(&json!({
                "transactionType": "PURCHASE", "amount": 1,
                "paymentExternalKey": format!("purchase-{index}")
            }));
        let answered = answered.clone();
        tokio::spawn(async move {
            let status = request.send().await.map(|response| response.status()).ok();
            let _ = answered.send((index, status));
        });
    }
    drop(answered);
    let mut results = Vec::new();
    let succeeded = |results: &Vec<(usize, Option<StatusCode>)>| {
        results
            .iter()
            .filter(|(_, status)| *status == Some(StatusCode::CREATED))
            .count()
    };
    while succeeded(&results) < 10 && results.len() < PURCHASES {
        results.push(answers.recv().await.expect("an answer"));
    }
    server.signal(Signal::SIGKILL);
    let _ = server.wait();
    while let Some(result) = answers.recv().await {
        results.push(result);
    }
    assert_eq!(results.len(), PURCHASES);
    let acknowledged: Vec<String> = results
        .iter()
        .filter(|(_, status)| *status == Some(StatusCode::CREATED))
        .map(|(index, _)| format!("purchase-{index}"))
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "some purchases completed before the kill"
    );
    assert!(
        results.iter().all(|(_, status)| status
            .map(|status| status.as_u16() < 500
                || status == StatusCode::SERVICE_UNAVAILABLE
                || status == StatusCode::GATEWAY_TIMEOUT)
            .unwrap_or(true)),
        "no 500 before the kill: {results:?}"
    );

    // Restart on the same database; the janitor settles every open transaction.
    let sql = db.client().await;
    let left_open = count(
        &sql,
        "select count(*) from payment_transactions where transaction_status = 'UNKNOWN'",
    )
    .await;
    println!(
        "{} purchases acknowledged, {left_open} transactions left UNKNOWN by the kill",
        acknowledged.len()
    );
    let _restarted = start(&url, &workdir);
    wait_until(
        "no payment transaction is left UNKNOWN",
        Duration::from_secs(90),
        || async {
            count(
                &sql,
                "select count(*) from payment_transactions where transaction_status = 'UNKNOWN'",
            )
            .await
                == 0
        },
    )
    .await;

    // Every acknowledged purchase is SUCCESS.
    for key in &acknowledged {
        let row = sql
            .query_one(
                "select t.transaction_status from payment_transactions t
                 join payments p on p.id = t.payment_id where p.external_key = $1",
                &[key],
            )
            .await
            .expect("an acknowledged purchase is recorded");
        assert_eq!(row.get::<_, String>(0), "SUCCESS", "{key}");
    }
    // Nothing doubled: one transaction per payment, and the gateway charged exactly the
    // SUCCESS transactions, each once.
    assert_eq!(
        count(
            &sql,
            "select count(*) from (select payment_id from payment_transactions
                                   group by payment_id having count(*) > 1) doubled"
        )
        .await,
        0
    );
    let successes = count(
        &sql,
        "select count(*) from payment_transactions where transaction_status = 'SUCCESS'",
    )
    .await;
    let charged = count(
        &sql,
        "select count(*) from gateway_transactions where status = 'PROCESSED'",
    )
    .await;
    assert_eq!(
        successes, charged,
        "the gateway charged exactly the SUCCESS purchases"
    );
    assert_eq!(
        count(
            &sql,
            "select count(*) from (select kb_transaction_id from gateway_transactions
                                   where status = 'PROCESSED'
                                   group by kb_transaction_id having count(*) > 1) doubled"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &sql,
            "select count(*) from gateway_transactions g
             where g.status = 'PROCESSED' and not exists (
                 select 1 from payment_transactions t
                 where t.id = g.kb_transaction_id and t.transaction_status = 'SUCCESS')"
        )
        .await,
        0,
        "no charge without a SUCCESS record"
    );
}
