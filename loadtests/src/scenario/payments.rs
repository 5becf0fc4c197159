//! The `payments` scenario, seed 000's: each user creates an account, visits it, adds a default
//! card payment method on the simulated gateway under the Stripe plugin's name
//! (`killbill-stripe`), then loops authorize, capture, purchase. The `Threads` and `Metrics`
//! rows are the suite's snapshots at setup and teardown, as in the seed. Seed 000's pools come
//! with it as the spawned server's configuration (plugin threads 100, plugin pool 100, main
//! pool 140).

use crate::client::id_from_location;
use crate::runner::{Stop, VirtualUser};

pub const THREADS: &str = "Threads";
pub const METRICS: &str = "Metrics";
pub const CREATE_ACCOUNT: &str = "Create Account";
pub const VISIT_ACCOUNT: &str = "Visit Account";
pub const PAYMENT_METHOD: &str = "Stripe (Default) Payment Method";
const AUTHORIZE: &str = "Authorize Payment";
const CAPTURE: &str = "Capture Payment";
pub const PURCHASE: &str = "Purchase Payment";
pub const SETUP_SAMPLERS: &[&str] = &[CREATE_ACCOUNT, VISIT_ACCOUNT, PAYMENT_METHOD];
pub const SAMPLERS: &[&str] = &[
    THREADS,
    METRICS,
    CREATE_ACCOUNT,
    VISIT_ACCOUNT,
    PAYMENT_METHOD,
    AUTHORIZE,
    CAPTURE,
    PURCHASE,
];

/// Seed 000's tuned pools, in the environment forms of docs/configuration.md.
pub const SERVER_ENV: &[(&str, &str)] = &[
    ("KB_org_killbill_payment_plugin_threads_nb", "100"),
    ("KB_org_killbill_billing_osgi_dao_maxActive", "100"),
    ("KB_org_killbill_dao_maxActive", "140"),
];

pub async fn iteration(user: &mut VirtualUser) -> Result<(), Stop> {
    let Some(account_id) = user.memory.account_id.clone() else {
        return set_up_account(user).await;
    };
    let key = user.unique_key();
    let request = user
        .client()
        .create_payment(user.tenant(), &account_id, "AUTHORIZE", &key);
    let authorized = user.send(AUTHORIZE, request).await?;
    if let Some(payment_id) = authorized
        .as_ref()
        .and_then(|reply| reply.location())
        .and_then(id_from_location)
    {
        let request = user.client().capture(user.tenant(), &payment_id);
        user.send(CAPTURE, request).await?;
    }
    let key = user.unique_key();
    let request = user
        .client()
        .create_payment(user.tenant(), &account_id, "PURCHASE", &key);
    user.send(PURCHASE, request).await?;
    Ok(())
}

/// Account, visit, default card. The account is remembered only once its card is added, so a
/// failed step is retried by the next iteration with a fresh account.
pub async fn set_up_account(user: &mut VirtualUser) -> Result<(), Stop> {
    let key = user.unique_key();
    let request = user.client().create_account(user.tenant(), &key);
    let Some(account_id) = user
        .send(CREATE_ACCOUNT, request)
        .await?
        .as_ref()
        .and_then(|reply| reply.location())
        .and_then(id_from_location)
    else {
        return Ok(());
    };
    let request = user.client().get_account(user.tenant(), &account_id);
    user.send(VISIT_ACCOUNT, request).await?;
    let request = user
        .client()
        .add_card_payment_method(user.tenant(), &account_id);
    if user.send(PAYMENT_METHOD, request).await?.is_some() {
        user.memory.account_id = Some(account_id);
    }
    Ok(())
}
