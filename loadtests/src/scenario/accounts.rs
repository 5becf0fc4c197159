//! The `accounts` scenario, seed 002's: every iteration creates one account (one transaction:
//! account, history, audit and the bus event). Run it with `--sweep 25,50,60,70,100` for the
//! seed's concurrency sweep, and with `--callback-latency` plus a one-thread bus to make the
//! queue-growth healthcheck turn 500 ("Growing queues: bus (…)") as it did for Kill Bill.

use super::payments::CREATE_ACCOUNT;
use crate::runner::{Stop, VirtualUser};

pub const SAMPLERS: &[&str] = &[CREATE_ACCOUNT];

pub async fn iteration(user: &mut VirtualUser) -> Result<(), Stop> {
    let key = user.unique_key();
    let request = user.client().create_account(user.tenant(), &key);
    user.send(CREATE_ACCOUNT, request).await?;
    Ok(())
}
