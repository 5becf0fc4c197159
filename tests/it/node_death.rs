//! A node dies with payments in flight: two real processes on one database, one SIGKILLed
//! while its purchases wait on the gateway. Kill Bill's account lock dies with its
//! connection; ferrobill's account leases, queue entries and open transactions must pass to
//! the survivor once the dead node's heartbeat has stood still for
//! `ferrobill.cluster.deadAfter`, not after the lease, the reaper threshold or the janitor's
//! next sweep, all left at values far beyond the test's bounds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nix::sys::signal::Signal;
use reqwest::StatusCode;

use crate::harness::{
    count, http_client, successes_and_charges, wait_until, wait_until_none_left, TestDatabase,
};
use crate::process::{cluster_node, Node, ServerProcess};

const SURVIVOR: &str = "survivor";
const VICTIM: &str = "victim";
const ACCOUNTS: usize = 20;

fn start_node(database_url: &str, name: &str) -> ServerProcess {
    // Every node takes only the entries it created (STICKY_POLLING): the dead node's entries
    // reach the survivor only by being taken over (the reaper's threshold stays at 10 minutes).
    let mut command = cluster_node(database_url, name);
    command
        .env("KB_org_killbill_dao_maxActive", "30")
        .env("KB_org_killbill_billing_osgi_dao_maxActive", "30")
        .env("KB_org_killbill_payment_plugin_threads_nb", "30")
        // A lease lasts 2 × 5 s + 5 s = 15 s: long enough to tell a take-over from an expiry.
        .env("KB_org_killbill_payment_plugin_timeout", "5s")
        .env("FERROBILL_GATEWAY_LATENCY", "1s")
        .env("FERROBILL_CLUSTER_HEARTBEAT", "500ms")
        .env("FERROBILL_CLUSTER_DEADAFTER", "2s");
    if name == VICTIM {
        // The victim dispatches nothing, as a node fallen behind: its events wait in the tables.
        command
            .env("KB_org_killbill_persistent_bus_main_off", "true")
            .env("KB_org_killbill_persistent_bus_external_off", "true");
    }
    ServerProcess::start(command)
}

/// What the dead node still holds: its leases, the entries it created that nobody handled,
/// and UNKNOWN transactions.
async fn held_by_victim(sql: &tokio_postgres::Client) -> Vec<String> {
    let rows = sql
        .query(
            "select 'leases', count(*) from account_locks where node = $1
             union all
             select 'bus_events', count(*) from bus_events where creating_owner = $1
             union all
             select 'bus_ext_events', count(*) from bus_ext_events where creating_owner = $1
             union all
             select 'notifications', count(*) from notifications
             where creating_owner = $1 or processing_owner = $1
             union all
             select 'UNKNOWN transactions', count(*) from payment_transactions
             where transaction_status = 'UNKNOWN'",
            &[&VICTIM],
        )
        .await
        .expect("what the victim holds");
    rows.iter()
        .filter(|row| row.get::<_, i64>(1) > 0)
        .map(|row| format!("{}: {}", row.get::<_, String>(0), row.get::<_, i64>(1)))
        .collect()
}

#[tokio::test]
async fn a_dead_nodes_leases_entries_and_payments_pass_to_the_survivor() {
    let db = TestDatabase::create().await;
    let url = db.url();
    let survivor_process = start_node(&url, SURVIVOR);
    let victim_process = start_node(&url, VICTIM);
    let http = http_client();
    let survivor = Node::new(&http, &survivor_process, "death");
    let victim = Node::new(&http, &victim_process, "death");
    survivor.create_tenant().await;
    let mut accounts = Vec::with_capacity(ACCOUNTS);
    for index in 0..ACCOUNTS {
        accounts.push(victim.account_with_card(&format!("death-{index}")).await);
    }
    let sql = db.client().await;
    assert!(
        count(
            &sql,
            "select count(*) from bus_events where creating_owner = 'victim'"
        )
        .await
            > 0,
        "the victim's events wait in the table"
    );

    // One purchase per account on the victim, each on the gateway for a second.
    let in_flight: Vec<_> = accounts
        .iter()
        .enumerate()
        .map(|(index, account_id)| {
            let (victim, account_id) = (victim.clone(), account_id.clone());
            tokio::spawn(async move {
                victim
                    .purchase(&account_id, &format!("before-{index}"))
                    .await
            })
        })
        .collect();
    wait_until(
        "every purchase leasing its account",
        Duration::from_secs(30),
        || async {
            count(
                &sql,
                "select count(*) from account_locks where node = 'victim'",
            )
            .await
                == ACCOUNTS as i64
        },
    )
    .await;
    let leases: HashMap<String, DateTime<Utc>> = sql
        .query(
            "select lock_name, expires_at from account_locks where node = 'victim'",
            &[],
        )
        .await
        .expect("the victim's leases")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    victim_process.signal(Signal::SIGKILL);
    let killed_at = Instant::now();
    let _ = victim_process.wait();
    for purchase in in_flight {
        // Cut off by the kill.
        let _ = purchase.await;
    }

    // Every account bought from again on the survivor, as a client retrying would.
    let retries: Vec<_> = accounts
        .iter()
        .enumerate()
        .map(|(index, account_id)| {
            let (survivor, account_id) = (survivor.clone(), account_id.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(60);
                while Instant::now() < deadline {
                    let status = survivor
                        .purchase(&account_id, &format!("after-{index}"))
                        .await;
                    statuses.push(status);
                    if status == Some(StatusCode::CREATED) {
                        return (statuses, Some(killed_at.elapsed()));
                    }
                }
                (statuses, None)
            })
        })
        .collect();
    let mut served_after = Vec::new();
    for retry in retries {
        let (statuses, served) = retry.await.expect("a retrying client");
        assert!(
            statuses
                .iter()
                .all(|status| *status != Some(StatusCode::INTERNAL_SERVER_ERROR)),
            "no 500: {statuses:?}"
        );
        served_after.push(served.unwrap_or_else(|| panic!("never served: {statuses:?}")));
    }
    wait_until_none_left(
        "the victim's holdings to pass to the survivor",
        Duration::from_secs(60),
        || held_by_victim(&sql),
    )
    .await;
    let settled_after = killed_at.elapsed();

    // Each account was bought from again while the dead node's lease on it still ran: the
    // survivor took the lease over rather than waiting it out.
    for row in sql
        .query(
            "select p.account_id::text, t.created_date from payments p
             join payment_transactions t on t.payment_id = p.id
             where p.external_key like 'after-%'",
            &[],
        )
        .await
        .expect("the purchases after the kill")
    {
        let account_id: String = row.get(0);
        let created: DateTime<Utc> = row.get(1);
        let lease = leases
            .iter()
            .find(|(name, _)| name.contains(&account_id))
            .map(|(_, expires)| *expires)
            .unwrap_or_else(|| panic!("the victim leased account {account_id}"));
        assert!(
            created < lease,
            "account {account_id} served at {created}, after its lease expired at {lease}"
        );
    }
    // Nothing charged twice or without a record; every purchase after the kill succeeded.
    assert_eq!(
        count(
            &sql,
            "select count(*) from payment_transactions t join payments p on p.id = t.payment_id
             where p.external_key like 'after-%' and t.transaction_status = 'SUCCESS'"
        )
        .await,
        ACCOUNTS as i64
    );
    let (successes, charged) = successes_and_charges(&sql).await;
    assert_eq!(successes, charged, "one charge per SUCCESS transaction");
    let repaired = count(
        &sql,
        "select count(*) from payment_transactions t join payments p on p.id = t.payment_id
         where p.external_key like 'before-%' and t.transaction_status <> 'SUCCESS'",
    )
    .await;
    let reaped = count(
        &sql,
        "select (select count(*) from bus_events_history
                 where processing_state = 'REAPED' and creating_owner = 'victim')
              + (select count(*) from bus_ext_events_history
                 where processing_state = 'REAPED' and creating_owner = 'victim')",
    )
    .await;
    assert!(reaped > 0, "the victim's entries were taken over");
    let slowest = served_after.iter().max().copied().unwrap_or_default();
    println!(
        "FAULT node-death: {ACCOUNTS} purchases in flight on the killed node; heartbeat 500 ms, \
         deadAfter 2 s, leases of 15 s; every account bought from again on the survivor \
         {:.1}–{:.1} s after the kill; {reaped} queue entries and {} leases taken over, \
         {repaired} open transactions closed without a charge; nothing left {:.1} s after the kill",
        served_after
            .iter()
            .min()
            .copied()
            .unwrap_or_default()
            .as_secs_f64(),
        slowest.as_secs_f64(),
        leases.len(),
        settled_after.as_secs_f64()
    );
    drop(survivor_process);
}
