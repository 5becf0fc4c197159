//! Several nodes on one database, as Kill Bill is deployed (docs/operations.md): three
//! in-process nodes share the bus work in a sticky mode, each dispatching its own events once;
//! and three real processes under mixed load (account creations and purchases on the simulated
//! gateway, spread round robin) lose one to SIGKILL: every acknowledged account and payment is
//! in the database exactly once, the survivors reap and dispatch the dead node's bus entries,
//! and their janitors settle every UNKNOWN transaction, the dead node's included.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{
    bus_entries_left, charges_without_a_success, count, external_account_creations, http_client,
    node_name, payments_with_several_transactions, successes_and_charges, wait_until,
    wait_until_none_left, TestCluster, CLUSTER_SIZE,
};
use crate::process::{cluster_node, slow_gateway_and_janitor, Node, ServerProcess, QUEUES};

const ACCOUNT_CREATION_EVENT: &str =
    "org.killbill.billing.account.api.user.DefaultAccountCreationEvent";

#[tokio::test]
async fn three_nodes_each_dispatch_their_own_sticky_events_exactly_once() {
    let mut cluster = TestCluster::spawn_with(&[
        (
            "org.killbill.persistent.bus.main.queue.mode",
            "STICKY_EVENTS",
        ),
        (
            "org.killbill.persistent.bus.external.queue.mode",
            "STICKY_EVENTS",
        ),
    ])
    .await;
    cluster.create_tenant("cluster", "cluster-secret").await;
    const ACCOUNTS: usize = 30;
    for index in 0..ACCOUNTS {
        let response = cluster
            .node(index)
            .kb(Method::POST, "/1.0/kb/accounts")
            .json(&json!({"externalKey": format!("spread-{index}"), "currency": "USD"}))
            .send()
            .await
            .expect("POST /1.0/kb/accounts");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let sql = cluster.db.client().await;
    wait_until("both buses drained", Duration::from_secs(60), || async {
        bus_entries_left(&sql).await == 0
    })
    .await;
    for index in 1..=CLUSTER_SIZE {
        let node = node_name(index);
        let handled = sql
            .query_one(
                "select count(*) from bus_events_history
                 where class_name = $1 and processing_state = 'PROCESSED'
                   and creating_owner = $2 and processing_owner = $2",
                &[&ACCOUNT_CREATION_EVENT, &node],
            )
            .await
            .expect("a count")
            .get::<_, i64>(0);
        assert_eq!(
            handled,
            (ACCOUNTS / CLUSTER_SIZE) as i64,
            "{node} handled the events of the accounts it created, and only those"
        );
    }
    assert_eq!(external_account_creations(&sql).await, ACCOUNTS as i64);
    cluster.stop().await;
}

/// One ferrobill process of the SIGKILL test's cluster.
fn start_node(database_url: &str, index: usize, victim: bool) -> ServerProcess {
    let mut command = cluster_node(database_url, &node_name(index));
    command
        // Pools above the load's concurrency: the test is about the kill, not about starving
        // (a payment-method addition holds a main connection while it waits for the plugin's).
        .env("KB_org_killbill_dao_maxActive", "30")
        .env("KB_org_killbill_billing_osgi_dao_maxActive", "40")
        .env("KB_org_killbill_payment_plugin_threads_nb", "20")
        .env("KB_org_killbill_payment_plugin_timeout", "2s");
    // A tail past the plugin timeout: some purchases time out on live nodes too and are left
    // UNKNOWN for the janitor's notifications, besides those the kill leaves.
    slow_gateway_and_janitor(&mut command, "100ms", Duration::from_secs(3));
    // Every node takes only the entries it created (STICKY_POLLING), so the dead node's
    // entries can reach the others through their reapers alone. The lease is below the reap
    // threshold, as Kill Bill requires for the threshold to apply.
    for queue in QUEUES {
        command
            .env(format!("KB_org_killbill_{queue}_sleep"), "100")
            .env(format!("KB_org_killbill_{queue}_claim_time"), "2s")
            .env(format!("KB_org_killbill_{queue}_reapThreshold"), "3s")
            .env(format!("KB_org_killbill_{queue}_reapSchedule"), "500ms");
    }
    if victim {
        // The node to be killed dispatches nothing, as a node fallen behind: whatever it posts
        // waits in the tables, so the kill always leaves entries that only the survivors'
        // reapers can hand over (the point of the test), however fast the others are.
        command
            .env("KB_org_killbill_persistent_bus_main_off", "true")
            .env("KB_org_killbill_persistent_bus_external_off", "true")
            .env(
                "KB_org_killbill_notificationq_main_notification_off",
                "true",
            );
    }
    ServerProcess::start(command)
}

/// What one customer of the load got: the account's status, then the purchase's.
#[derive(Debug)]
struct Customer {
    index: usize,
    account: Option<StatusCode>,
    purchase: Option<StatusCode>,
}

/// Creates an account on one node, adds a card and buys on the next node.
async fn customer(index: usize, account_node: Node, purchase_node: Node) -> Customer {
    let mut outcome = Customer {
        index,
        account: None,
        purchase: None,
    };
    let Ok(response) = account_node
        .request(Method::POST, "/1.0/kb/accounts")
        .json(&json!({"externalKey": format!("customer-{index}"), "currency": "USD"}))
        .send()
        .await
    else {
        return outcome;
    };
    outcome.account = Some(response.status());
    let Some(account_id) = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .and_then(|location| location.rsplit('/').next())
        .map(str::to_string)
    else {
        return outcome;
    };
    let method = account_node.add_card(&account_id).await;
    if !method.is_ok_and(|response| response.status() == StatusCode::CREATED) {
        return outcome;
    }
    outcome.purchase = purchase_node
        .purchase(&account_id, &format!("purchase-{index}"))
        .await;
    outcome
}

/// What is still to be done after the kill: queue entries (table, creator, owner, state,
/// count) and UNKNOWN transactions. Empty once everything is settled.
async fn unsettled(sql: &tokio_postgres::Client) -> Vec<String> {
    let rows = sql
        .query(
            "select 'bus_events', creating_owner, coalesce(processing_owner, '-'), processing_state,
                    count(*) from bus_events group by 2, 3, 4
             union all
             select 'bus_ext_events', creating_owner, coalesce(processing_owner, '-'),
                    processing_state, count(*) from bus_ext_events group by 2, 3, 4
             union all
             select 'notifications ' || queue_name, creating_owner,
                    coalesce(processing_owner, '-'), processing_state, count(*)
             from notifications group by 1, 2, 3, 4
             union all
             select 'UNKNOWN transactions', '-', '-', '-', count(*) from payment_transactions
             where transaction_status = 'UNKNOWN' having count(*) > 0",
            &[],
        )
        .await
        .expect("the unsettled work");
    rows.iter()
        .map(|row| {
            format!(
                "{} created by {} owned by {} {}: {}",
                row.get::<_, String>(0),
                row.get::<_, String>(1),
                row.get::<_, String>(2),
                row.get::<_, String>(3),
                row.get::<_, i64>(4)
            )
        })
        .collect()
}

#[tokio::test]
async fn a_node_killed_under_load_loses_nothing_and_does_nothing_twice() {
    const CUSTOMERS: usize = 60;
    const VICTIM: usize = 3;
    let db = crate::harness::TestDatabase::create().await;
    let url = db.url();
    let mut processes: Vec<Option<ServerProcess>> = (1..=CLUSTER_SIZE)
        .map(|index| Some(start_node(&url, index, index == VICTIM)))
        .collect();
    let http = http_client();
    let nodes: Vec<Node> = processes
        .iter()
        .flatten()
        .map(|process| Node::new(&http, process, "cluster"))
        .collect();
    nodes[0].create_tenant().await;

    // Every customer at once, round robin over the nodes; SIGKILL once a third are served.
    let (served, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    for index in 0..CUSTOMERS {
        let account_node = nodes[index % CLUSTER_SIZE].clone();
        let purchase_node = nodes[(index + 1) % CLUSTER_SIZE].clone();
        let served = served.clone();
        tokio::spawn(async move {
            let _ = served.send(customer(index, account_node, purchase_node).await);
        });
    }
    drop(served);
    let mut results = Vec::with_capacity(CUSTOMERS);
    while results.len() < CUSTOMERS / 3 {
        results.push(outcomes.recv().await.expect("a customer's outcome"));
    }
    let victim = processes[VICTIM - 1].take().expect("the victim runs");
    victim.signal(Signal::SIGKILL);
    let killed_at = Instant::now();
    let _ = victim.wait();
    while let Some(result) = outcomes.recv().await {
        results.push(result);
    }
    let sql = db.client().await;
    let victim_name = node_name(VICTIM);
    let left_in_tables = sql
        .query_one(
            "select (select count(*) from bus_events where creating_owner = $1)
                  + (select count(*) from bus_ext_events where creating_owner = $1)
                  + (select count(*) from notifications where creating_owner = $1)",
            &[&victim_name],
        )
        .await
        .expect("a count")
        .get::<_, i64>(0);
    let left_unknown = count(
        &sql,
        "select count(*) from payment_transactions where transaction_status = 'UNKNOWN'",
    )
    .await;

    // The survivors settle everything: the dead node's entries reaped and dispatched, every
    // UNKNOWN transaction repaired by a janitor.
    wait_until_none_left(
        "the survivors to settle the dead node's work",
        Duration::from_secs(120),
        || unsettled(&sql),
    )
    .await;
    let settled_after = killed_at.elapsed();

    // Every acknowledged account exists once; so does every acknowledged purchase, SUCCESS,
    // with one transaction.
    let accounts_acknowledged: Vec<String> = results
        .iter()
        .filter(|customer| customer.account == Some(StatusCode::CREATED))
        .map(|customer| format!("customer-{}", customer.index))
        .collect();
    let purchases_acknowledged: Vec<String> = results
        .iter()
        .filter(|customer| customer.purchase == Some(StatusCode::CREATED))
        .map(|customer| format!("purchase-{}", customer.index))
        .collect();
    assert!(!purchases_acknowledged.is_empty(), "{results:?}");
    for key in &accounts_acknowledged {
        let found = sql
            .query_one(
                "select count(*) from accounts where external_key = $1",
                &[key],
            )
            .await
            .expect("a count")
            .get::<_, i64>(0);
        assert_eq!(found, 1, "acknowledged account {key}");
    }
    for key in &purchases_acknowledged {
        let rows = sql
            .query(
                "select t.transaction_status from payment_transactions t
                 join payments p on p.id = t.payment_id where p.external_key = $1",
                &[key],
            )
            .await
            .expect("the purchase's transactions");
        assert_eq!(rows.len(), 1, "acknowledged purchase {key} recorded once");
        assert_eq!(rows[0].get::<_, String>(0), "SUCCESS", "{key}");
    }
    assert!(
        results.iter().all(|customer| customer
            .purchase
            .is_none_or(|status| status != StatusCode::INTERNAL_SERVER_ERROR)),
        "no 500: {results:?}"
    );
    // The gateway charged exactly the SUCCESS transactions, each once.
    let (successes, charged) = successes_and_charges(&sql).await;
    assert_eq!(successes, charged, "one charge per SUCCESS transaction");
    assert_eq!(
        charges_without_a_success(&sql).await,
        0,
        "no charge without a SUCCESS record"
    );
    assert_eq!(
        payments_with_several_transactions(&sql).await,
        0,
        "one transaction per payment"
    );

    // Bus: nothing failed, no event dispatched twice, one creation event per account.
    for history in ["bus_events_history", "bus_ext_events_history"] {
        assert_eq!(
            count(
                &sql,
                &format!("select count(*) from {history} where processing_state = 'FAILED'")
            )
            .await,
            0,
            "{history}: nothing failed"
        );
    }
    assert_eq!(
        count(
            &sql,
            "select count(*) from (select class_name, event_json from bus_events_history
                                   where processing_state = 'PROCESSED'
                                   group by class_name, event_json having count(*) > 1) twice"
        )
        .await,
        0,
        "no internal event dispatched twice"
    );
    let accounts = count(&sql, "select count(*) from accounts").await;
    let creation_events = sql
        .query_one(
            "select count(*) from bus_events_history
             where class_name = $1 and processing_state = 'PROCESSED'",
            &[&ACCOUNT_CREATION_EVENT],
        )
        .await
        .expect("a count")
        .get::<_, i64>(0);
    assert_eq!(creation_events, accounts, "one creation event per account");
    assert_eq!(
        external_account_creations(&sql).await,
        accounts,
        "one external ACCOUNT_CREATION per account"
    );
    let reaped = sql
        .query_one(
            "select (select count(*) from bus_events_history
                     where processing_state = 'REAPED' and creating_owner = $1)
                  + (select count(*) from bus_ext_events_history
                     where processing_state = 'REAPED' and creating_owner = $1)
                  + (select count(*) from notifications_history
                     where processing_state = 'REAPED' and creating_owner = $1)",
            &[&victim_name],
        )
        .await
        .expect("a count")
        .get::<_, i64>(0);
    assert!(reaped > 0, "the survivors reaped the dead node's entries");
    let dispatched_by_dead = sql
        .query_one(
            "select (select count(*) from bus_events_history
                     where processing_state = 'PROCESSED' and processing_owner = $1)
                  + (select count(*) from bus_ext_events_history
                     where processing_state = 'PROCESSED' and processing_owner = $1)",
            &[&victim_name],
        )
        .await
        .expect("a count")
        .get::<_, i64>(0);
    assert_eq!(dispatched_by_dead, 0, "the dead node dispatched nothing");
    let repaired = count(
        &sql,
        "select count(*) from audit_log
         where table_name = 'PAYMENT_TRANSACTION_HISTORY' and created_by = 'PaymentRequestProcessor'",
    )
    .await;
    let errors = results
        .iter()
        .filter(|customer| {
            customer.purchase.is_none() || customer.purchase != Some(StatusCode::CREATED)
        })
        .count();
    println!(
        "FAULT sigkill-node: {CUSTOMERS} customers over {CLUSTER_SIZE} nodes, \
         {} accounts and {} purchases acknowledged, {errors} purchases not acknowledged \
         (node killed, timeout or refused), losses 0, duplicates 0; at the kill {left_in_tables} \
         entries of the dead node were waiting and {left_unknown} transactions were UNKNOWN; \
         {reaped} entries reaped, {repaired} transactions repaired by janitors; everything settled \
         {:.1} s after the kill",
        accounts_acknowledged.len(),
        purchases_acknowledged.len(),
        settled_after.as_secs_f64()
    );
}
