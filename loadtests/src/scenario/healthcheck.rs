//! The `healthcheck` scenario: the cheapest request the server answers, so it measures the
//! HTTP stack and admission control rather than the database.

use crate::runner::{Stop, VirtualUser};

const HEALTHCHECK: &str = "Healthcheck";
pub const SAMPLERS: &[&str] = &[HEALTHCHECK];

pub async fn iteration(user: &mut VirtualUser) -> Result<(), Stop> {
    let request = user.client().healthcheck();
    user.send(HEALTHCHECK, request).await?;
    Ok(())
}
