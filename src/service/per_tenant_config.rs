//! The per-tenant system configuration a tenant uploads (`/1.0/kb/tenants/uploadPerTenantConfig`,
//! the tenant key `PER_TENANT_CONFIG`): a JSON object of Kill Bill property names and values
//! that overrides the node's configuration for that tenant, for the properties Kill Bill reads
//! per tenant (docs/configuration.md lists them).
//!
//! ferrobill stores and serves any upload, as Kill Bill does, and applies the one such property
//! it implements, [`NOTIFICATION_RETRIES`]. An upload that is not a JSON object, or a value that
//! does not parse, is logged and the node's value used. This file reads through the cache of tenant
//! key-values and never writes.

use serde_json::Value;

use super::tenant_key_values::PER_TENANT_CONFIG;
use super::tenant_values::TenantValues;
use super::ServiceError;

/// The push-notification retry schedule (NotificationConfig).
pub const NOTIFICATION_RETRIES: &str = "org.killbill.billing.server.notifications.retries";

/// The tenant's value of `property`, if its per-tenant configuration sets one (numbers and
/// booleans as their text, as Jackson reads them into Kill Bill's map of strings).
pub async fn tenant_property(
    values: &TenantValues,
    tenant_record_id: i64,
    property: &str,
) -> Result<Option<String>, ServiceError> {
    let uploaded = values.get(tenant_record_id, PER_TENANT_CONFIG).await?;
    let Some(text) = uploaded.last() else {
        return Ok(None);
    };
    Ok(property_of(text, property, tenant_record_id))
}

fn property_of(text: &str, property: &str, tenant_record_id: i64) -> Option<String> {
    let object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        _ => {
            tracing::warn!(
                tenant_record_id,
                "the per-tenant configuration is not a JSON object; the node's values apply"
            );
            return None;
        }
    };
    match object.get(property)? {
        Value::String(value) => Some(value.clone()),
        Value::Number(value) => Some(value.to_string()),
        Value::Bool(value) => Some(value.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_read_from_a_json_object() {
        let upload = r#"{"org.killbill.billing.server.notifications.retries":"1m,2m","n":3}"#;
        assert_eq!(
            property_of(upload, NOTIFICATION_RETRIES, 1).as_deref(),
            Some("1m,2m")
        );
        assert_eq!(property_of(upload, "n", 1).as_deref(), Some("3"));
        assert_eq!(property_of(upload, "absent", 1), None);
        assert_eq!(property_of("not json", NOTIFICATION_RETRIES, 1), None);
    }
}
