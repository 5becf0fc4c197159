//! PostgreSQL restarted while purchases wait on the gateway: the requests in flight lose their
//! connections between their two transactions, leaving their account leases and UNKNOWN
//! transactions behind. The node that made them knows they ended: once PostgreSQL answers
//! again, the next purchases on those accounts are served at once (not after the lease or
//! five seconds of lock retries), and the janitor closes the cut transactions, which the
//! gateway (its commit cut by the same restart) never charged.

use std::time::{Duration, Instant};

use ferrobill::db::embedded::EmbeddedCluster;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{
    count, own_postgres, successes_and_charges, wait_until, wait_until_none_left, TestApp,
    APPROVED_CARD,
};

const ACCOUNTS: usize = 10;

#[tokio::test]
async fn purchases_cut_by_a_postgres_restart_leave_no_account_locked() {
    let (cluster, options, db) = own_postgres("pg-restart-purchases").await;
    let data_dir = options.data_dir.clone();
    let mut app = TestApp::spawn_on(
        db.clone(),
        &[
            ("org.killbill.dao.maxActive", "20"),
            ("org.killbill.billing.osgi.dao.maxActive", "20"),
            ("org.killbill.payment.plugin.threads.nb", "20"),
            ("org.killbill.dao.connectionTimeout", "2s"),
            // Each purchase spends this long on the gateway, between its two transactions.
            ("ferrobill.gateway.latency", "500ms"),
            // A lease lasts 2 × 5 s + 5 s = 15 s, well past the restart; the janitor looks at
            // the cut transactions once their plugin's silence is conclusive (2 × 5 s).
            ("org.killbill.payment.plugin.timeout", "5s"),
            ("org.killbill.payment.janitor.unknown.retries", "12s"),
        ],
    )
    .await;
    app.use_new_tenant("restart").await;
    let mut accounts = Vec::with_capacity(ACCOUNTS);
    for index in 0..ACCOUNTS {
        accounts.push(
            app.account_with_card(&format!("cut-{index}"), APPROVED_CARD)
                .await,
        );
    }
    let purchase = |account_id: &str, key: String| {
        app.kb(
            Method::POST,
            &format!("/1.0/kb/accounts/{account_id}/payments"),
        )
        .json(&json!({"transactionType": "PURCHASE", "amount": 1, "paymentExternalKey": key}))
        .send()
    };

    // One purchase per account; PostgreSQL goes away while they are all on the gateway.
    let in_flight: Vec<_> = accounts
        .iter()
        .enumerate()
        .map(|(index, account_id)| tokio::spawn(purchase(account_id, format!("cut-{index}"))))
        .collect();
    let sql = db.client().await;
    wait_until(
        "every purchase leasing its account",
        Duration::from_secs(30),
        || async { count(&sql, "select count(*) from account_locks").await == ACCOUNTS as i64 },
    )
    .await;
    drop(sql);
    cluster.stop().await.expect("fast shutdown");
    let mut cut = Vec::new();
    for request in in_flight {
        let status = request
            .await
            .expect("a purchase task")
            .map(|response| response.status())
            .ok();
        assert_ne!(status, Some(StatusCode::INTERNAL_SERVER_ERROR));
        cut.push(status);
    }

    let restarting = Instant::now();
    let cluster = EmbeddedCluster::start(options)
        .await
        .expect("restart PostgreSQL");
    let up_at = Instant::now();
    // Every account at once, as soon as PostgreSQL accepts connections again.
    let again: Vec<_> = accounts
        .iter()
        .enumerate()
        .map(|(index, account_id)| {
            let request = purchase(account_id, format!("again-{index}"));
            tokio::spawn(async move {
                let status = request.await.map(|response| response.status()).ok();
                (status, up_at.elapsed())
            })
        })
        .collect();
    let mut served_after = Vec::new();
    for request in again {
        let (status, after) = request.await.expect("a purchase task");
        assert_eq!(
            status,
            Some(StatusCode::CREATED),
            "a purchase on an account whose purchase the restart cut"
        );
        served_after.push(after);
    }

    // Their leases are gone and the janitor closed them: never charged, so PLUGIN_FAILURE.
    let sql = db.client().await;
    wait_until_none_left(
        "the janitor to settle the cut purchases",
        Duration::from_secs(60),
        || unsettled(&sql),
    )
    .await;
    let settled_after = up_at.elapsed();
    let (successes, charged) = successes_and_charges(&sql).await;
    assert_eq!(successes, charged, "one charge per SUCCESS transaction");
    let slowest = served_after.iter().max().copied().unwrap_or_default();
    let fastest = served_after.iter().min().copied().unwrap_or_default();
    println!(
        "FAULT postgres-restart-in-flight: {ACCOUNTS} purchases cut between their two transactions \
         (answers {cut:?}); PostgreSQL took {:.0} ms to start again; a purchase on each of their \
         accounts was served {:.0}–{:.0} ms after it accepted connections (gateway latency 500 ms \
         included); leases gone and cut transactions closed by the janitor {:.1} s after",
        (up_at - restarting).as_secs_f64() * 1000.0,
        fastest.as_secs_f64() * 1000.0,
        slowest.as_secs_f64() * 1000.0,
        settled_after.as_secs_f64()
    );
    app.take_app().shutdown().await.expect("clean shutdown");
    cluster.stop().await.expect("stop PostgreSQL");
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// Leases and UNKNOWN transactions still in the database.
async fn unsettled(sql: &tokio_postgres::Client) -> Vec<String> {
    let leases = sql
        .query(
            "select lock_name, owner, node, expires_at::text from account_locks",
            &[],
        )
        .await
        .expect("the leases");
    let unknown = sql
        .query(
            "select id::text, created_date::text from payment_transactions
             where transaction_status = 'UNKNOWN'",
            &[],
        )
        .await
        .expect("the UNKNOWN transactions");
    leases
        .iter()
        .map(|row| {
            format!(
                "lease {} of {} on {} until {}",
                row.get::<_, String>(0),
                row.get::<_, String>(1),
                row.get::<_, String>(2),
                row.get::<_, String>(3)
            )
        })
        .chain(unknown.iter().map(|row| {
            format!(
                "UNKNOWN {} since {}",
                row.get::<_, String>(0),
                row.get::<_, String>(1)
            )
        }))
        .collect()
}
