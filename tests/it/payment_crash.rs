//! The server killed with SIGKILL in the middle of 100 concurrent purchases, then restarted on
//! the same database: every purchase answered 201 is SUCCESS; every other one ends SUCCESS,
//! failed, or UNKNOWN repaired by the janitor; the gateway charged exactly the SUCCESS ones,
//! each once.

use std::time::Duration;

use nix::sys::signal::Signal;
use reqwest::StatusCode;

use crate::harness::{
    charges_without_a_success, count, http_client, payments_with_several_transactions,
    successes_and_charges, wait_until, TestDatabase,
};
use crate::process::{ferrobill, fresh_workdir, slow_gateway_and_janitor, Node, ServerProcess};

const PURCHASES: usize = 100;

fn start(database_url: &str, workdir: &std::path::Path) -> ServerProcess {
    let mut command = ferrobill(workdir);
    command
        .env("DATABASE_URL", database_url)
        .env("KB_org_killbill_payment_plugin_threads_nb", "100")
        .env("KB_org_killbill_billing_osgi_dao_maxActive", "100")
        .env("KB_org_killbill_dao_maxActive", "30")
        .env("KB_org_killbill_payment_plugin_timeout", "4s")
        .env("KB_org_killbill_notificationq_main_sleep", "100")
        .env("KB_org_killbill_notificationq_main_reapThreshold", "3s")
        .env("KB_org_killbill_notificationq_main_reapSchedule", "1s")
        .env("KB_org_killbill_queue_creator_name", "crash-node");
    // The janitor's looks also outlast a dead run's leases and the plugin-silence rule (twice
    // the plugin timeout).
    slow_gateway_and_janitor(&mut command, "300ms", Duration::from_millis(2500));
    ServerProcess::start(command)
}

#[tokio::test]
async fn a_kill_9_mid_purchases_loses_nothing_and_charges_nothing_twice() {
    let db = TestDatabase::create().await;
    let url = db.url();
    let workdir = fresh_workdir("payment-crash");
    let server = start(&url, &workdir);
    let client = Node::new(&http_client(), &server, "crash");
    client.create_tenant().await;
    let mut accounts = Vec::new();
    for index in 0..PURCHASES {
        accounts.push(client.account_with_card(&format!("buyer-{index}")).await);
    }

    // Fire every purchase; kill the server once ten of them have succeeded (on a loaded
    // machine the first answers may be timeouts).
    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for (index, account_id) in accounts.iter().enumerate() {
        let (client, account_id) = (client.clone(), account_id.clone());
        let answered = answered.clone();
        tokio::spawn(async move {
            let status = client
                .purchase(&account_id, &format!("purchase-{index}"))
                .await;
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
    assert_eq!(payments_with_several_transactions(&sql).await, 0);
    let (successes, charged) = successes_and_charges(&sql).await;
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
        charges_without_a_success(&sql).await,
        0,
        "no charge without a SUCCESS record"
    );
}
