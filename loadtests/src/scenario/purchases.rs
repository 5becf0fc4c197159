//! The `purchases` scenario: PURCHASE through Kill Bill's built-in `__EXTERNAL_PAYMENT__`
//! plugin on a random one of `--accounts` shared accounts. No gateway is called, so every
//! millisecond is ferrobill's or PostgreSQL's: this is the scenario that measures the cost of a
//! payment itself. Each shared account is set up (created, then given the external method as
//! its default) by the first user that picks it; those setup requests are rows of the table.

use super::payments::{CREATE_ACCOUNT, PURCHASE};
use crate::client::id_from_location;
use crate::runner::{Stop, VirtualUser};

const EXTERNAL_PAYMENT_METHOD: &str = "External Payment Method";
pub const SETUP_SAMPLERS: &[&str] = &[CREATE_ACCOUNT, EXTERNAL_PAYMENT_METHOD];
pub const SAMPLERS: &[&str] = &[CREATE_ACCOUNT, EXTERNAL_PAYMENT_METHOD, PURCHASE];

pub async fn iteration(user: &mut VirtualUser) -> Result<(), Stop> {
    let shared = user.shared();
    let index = user.pick(shared.len());
    let slot = shared.slot(index);
    let account_id = match slot.get() {
        Some(account_id) => account_id.clone(),
        None => {
            let set_up = slot.get_or_try_init(|| set_up_account(user)).await;
            match set_up {
                Ok(account_id) => account_id.clone(),
                // A failed setup (counted as an error) is tried again by the next pick.
                Err(SetUp::Failed) => return Ok(()),
                Err(SetUp::Stopped) => return Err(Stop),
            }
        }
    };
    let key = user.unique_key();
    let request = user
        .client()
        .create_payment(user.tenant(), &account_id, "PURCHASE", &key);
    user.send(PURCHASE, request).await?;
    Ok(())
}

enum SetUp {
    Failed,
    Stopped,
}

async fn set_up_account(user: &mut VirtualUser) -> Result<String, SetUp> {
    let key = user.unique_key();
    let request = user.client().create_account(user.tenant(), &key);
    let created = user
        .send(CREATE_ACCOUNT, request)
        .await
        .map_err(|Stop| SetUp::Stopped)?;
    let account_id = created
        .as_ref()
        .and_then(|reply| reply.location())
        .and_then(id_from_location)
        .ok_or(SetUp::Failed)?;
    let request = user
        .client()
        .add_external_payment_method(user.tenant(), &account_id);
    match user.send(EXTERNAL_PAYMENT_METHOD, request).await {
        Ok(Some(_)) => Ok(account_id),
        Ok(None) => Err(SetUp::Failed),
        Err(Stop) => Err(SetUp::Stopped),
    }
}
