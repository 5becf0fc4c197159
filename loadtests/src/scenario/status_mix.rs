//! The `status-mix` scenario, in the shape of seed 004's read benchmark: each user first makes
//! an account with a card and one purchase (the setup rows), then alternates reading the account
//! and reading the payment, which measures the read path (tenant check, one indexed select,
//! JSON) rather than the write path.

use super::payments::{set_up_account, CREATE_ACCOUNT, PAYMENT_METHOD, PURCHASE, VISIT_ACCOUNT};
use crate::client::id_from_location;
use crate::runner::{Stop, VirtualUser};

const GET_ACCOUNT: &str = "Get Account";
const GET_PAYMENT: &str = "Get Payment";
/// A purchase is part of each user's setup here: the payment the reads then read.
pub const SETUP_SAMPLERS: &[&str] = &[CREATE_ACCOUNT, VISIT_ACCOUNT, PAYMENT_METHOD, PURCHASE];
pub const SAMPLERS: &[&str] = &[
    CREATE_ACCOUNT,
    VISIT_ACCOUNT,
    PAYMENT_METHOD,
    PURCHASE,
    GET_ACCOUNT,
    GET_PAYMENT,
];

pub async fn iteration(user: &mut VirtualUser) -> Result<(), Stop> {
    let Some(account_id) = user.memory.account_id.clone() else {
        return set_up_account(user).await;
    };
    let Some(payment_id) = user.memory.payment_id.clone() else {
        let key = user.unique_key();
        let request = user
            .client()
            .create_payment(user.tenant(), &account_id, "PURCHASE", &key);
        user.memory.payment_id = user
            .send(PURCHASE, request)
            .await?
            .as_ref()
            .and_then(|reply| reply.location())
            .and_then(id_from_location);
        return Ok(());
    };
    let request = user.client().get_account(user.tenant(), &account_id);
    user.send(GET_ACCOUNT, request).await?;
    let request = user.client().get_payment(user.tenant(), &payment_id);
    user.send(GET_PAYMENT, request).await?;
    Ok(())
}
