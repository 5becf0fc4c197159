//! The `tenants` scenario: create a tenant with a key no one used before, then read it back by
//! id with its own API key and secret, which exercises the tenant-credential check too.

use crate::client::{id_from_location, TenantCredentials};
use crate::runner::{Stop, VirtualUser};

const CREATE_TENANT: &str = "Create Tenant";
const GET_TENANT: &str = "Get Tenant";
pub const SAMPLERS: &[&str] = &[CREATE_TENANT, GET_TENANT];

pub async fn iteration(user: &mut VirtualUser) -> Result<(), Stop> {
    let api_key = user.unique_key();
    let api_secret = format!("{api_key}-secret");
    let request = user.client().create_tenant(&api_key, &api_secret);
    let Some(created) = user.send(CREATE_TENANT, request).await? else {
        // Already counted as an error; there is nothing to read back.
        return Ok(());
    };
    let Some(id) = created.location().and_then(id_from_location) else {
        return Ok(());
    };
    let tenant = TenantCredentials {
        api_key,
        api_secret,
    };
    let request = user.client().get_tenant(&id, &tenant);
    user.send(GET_TENANT, request).await?;
    Ok(())
}
