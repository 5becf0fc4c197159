//! Tenant key-values with Kill Bill's rules (DefaultTenantUserApi and DefaultTenantDao): the
//! push-notification callback, plugin configurations (`PLUGIN_CONFIG_<plugin>`), payment state
//! machines (`PLUGIN_PAYMENT_STATE_MACHINE_<plugin>`), the per-tenant system configuration
//! (`PER_TENANT_CONFIG`) and any user key.
//!
//! A key starting with one of Kill Bill's `TenantKey` names is a system key: it holds one value
//! (a new one replaces the old, except for `CATALOG`), and every change announces itself on the
//! main bus as TENANT_CONFIG_CHANGE (with the new value's id) or TENANT_CONFIG_DELETION, which
//! plugins and push notifications receive. Other keys hold every value added, oldest first,
//! and announce nothing. Each change is one transaction with its audit rows, its event and a
//! NOTIFY that makes every node forget the key-values it remembers (`tenant_values.rs`).
//!
//! This file owns those rules. It never writes SQL (storage does) and never interprets a value
//! (the consumers of each key do).

use chrono::Utc;

use super::tenant_values::TenantValues;
use super::tenants::Tenant;
use super::{CallContext, ServiceError};
use crate::bus::internal_events::{
    TenantConfigChangeInternalEvent, TenantConfigDeletionInternalEvent,
};
use crate::bus::{Bus, BusEvent};
use crate::db::work::{Db, Work};
use crate::java_hash::hash_map_order;
use crate::storage::audit::{insert_audit_log, ChangeType};
use crate::storage::{tenant_kvs, AuditContext};

/// Kill Bill's audit table name for tenant key-values.
const TENANT_KVS_TABLE: &str = "TENANT_KVS";

/// Kill Bill's `TenantKey`s, each with whether it holds a single value.
const SYSTEM_KEYS: [(&str, bool); 10] = [
    ("PUSH_NOTIFICATION_CB", true),
    ("CATALOG", false),
    ("OVERDUE_CONFIG", true),
    ("PER_TENANT_CONFIG", true),
    ("INVOICE_TRANSLATION_", true),
    ("CATALOG_TRANSLATION_", true),
    ("INVOICE_TEMPLATE", true),
    ("INVOICE_MP_TEMPLATE", true),
    ("PLUGIN_CONFIG_", true),
    ("PLUGIN_PAYMENT_STATE_MACHINE_", true),
];

/// The key of a plugin's per-tenant configuration.
pub fn plugin_config_key(plugin: &str) -> String {
    format!("PLUGIN_CONFIG_{plugin}")
}

/// The key of a plugin's per-tenant payment state machine.
pub fn payment_state_machine_key(plugin: &str) -> String {
    format!("PLUGIN_PAYMENT_STATE_MACHINE_{plugin}")
}

/// The key of the per-tenant system configuration.
pub const PER_TENANT_CONFIG: &str = "PER_TENANT_CONFIG";

/// Whether `key` starts with one of Kill Bill's `TenantKey`s.
fn is_system_key(key: &str) -> bool {
    SYSTEM_KEYS
        .iter()
        .any(|(prefix, _)| key.starts_with(prefix))
}

/// Whether a new value of `key` replaces the old one.
fn is_single_valued(key: &str) -> bool {
    SYSTEM_KEYS
        .iter()
        .any(|(prefix, single)| *single && key.starts_with(prefix))
}

/// Adding, reading, deleting and searching a tenant's key-values. Cheap to clone.
#[derive(Clone)]
pub struct TenantKeyValues {
    db: Db,
    /// Where system keys announce their changes.
    main_bus: Bus,
    /// What the hot paths read; forgotten here at once after a change.
    values: TenantValues,
}

impl TenantKeyValues {
    pub fn new(db: Db, main_bus: Bus, values: TenantValues) -> TenantKeyValues {
        TenantKeyValues {
            db,
            main_bus,
            values,
        }
    }

    /// Adds `value` under `key` (Kill Bill's addTenantKeyValue): for a single-valued key, in
    /// place of the current value.
    pub async fn add(
        &self,
        tenant: &Tenant,
        key: &str,
        value: &str,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let now = Utc::now();
        let audit = context.audit(tenant.record_id, None);
        let work = self.db.begin().await?;
        let transaction = work.client();
        tenant_kvs::lock_tenant_kvs(transaction, tenant.record_id).await?;
        if is_single_valued(key) {
            deactivate(&work, tenant, key, context, &audit).await?;
        }
        let (record_id, kv_id) = tenant_kvs::insert_tenant_kv(
            transaction,
            tenant.record_id,
            key,
            value,
            &context.created_by,
            now,
        )
        .await?;
        insert_audit_log(
            transaction,
            TENANT_KVS_TABLE,
            record_id,
            ChangeType::Insert,
            now,
            &audit,
        )
        .await?;
        let event = TenantConfigChangeInternalEvent {
            id: kv_id,
            key: key.to_string(),
            tenant_record_id: tenant.record_id,
        };
        self.finish(work, key, &event, context).await
    }

    /// The active values of `key`, oldest first; none is not an error.
    pub async fn values(&self, tenant: &Tenant, key: &str) -> Result<Vec<String>, ServiceError> {
        let work = self.db.read().await?;
        Ok(tenant_kvs::active_values(work.client(), tenant.record_id, key).await?)
    }

    /// Removes every value of `key` (Kill Bill's deleteTenantKey); nothing there is not an
    /// error, and a system key announces the deletion either way, as in Kill Bill.
    pub async fn delete(
        &self,
        tenant: &Tenant,
        key: &str,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let audit = context.audit(tenant.record_id, None);
        let work = self.db.begin().await?;
        tenant_kvs::lock_tenant_kvs(work.client(), tenant.record_id).await?;
        deactivate(&work, tenant, key, context, &audit).await?;
        let event = TenantConfigDeletionInternalEvent {
            key: key.to_string(),
            tenant_record_id: tenant.record_id,
        };
        self.finish(work, key, &event, context).await
    }

    /// Every key starting with `prefix` with its values (Kill Bill's searchTenantKeyValues), in
    /// the order of Kill Bill's `HashMap` of keys filled oldest value first.
    pub async fn search(
        &self,
        tenant: &Tenant,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<String>)>, ServiceError> {
        let found = {
            let work = self.db.read().await?;
            tenant_kvs::search_active_values(work.client(), tenant.record_id, prefix).await?
        };
        let mut keys: Vec<(String, Vec<String>)> = Vec::new();
        for (key, value) in found {
            match keys.iter_mut().find(|(known, _)| *known == key) {
                Some((_, values)) => values.push(value),
                None => keys.push((key, vec![value])),
            }
        }
        Ok(hash_map_order(&keys, |(key, _)| key)
            .into_iter()
            .cloned()
            .collect())
    }

    /// Ends a change of `key`: posts `event` if the key is a system key, announces the change
    /// to every node, commits, forgets here at once, and hands the event to the bus.
    async fn finish(
        &self,
        work: Work,
        key: &str,
        event: &impl BusEvent,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let mut posted = self.main_bus.posted();
        if is_system_key(key) {
            posted.post(&work, event, context.user_token).await?;
        }
        tenant_kvs::announce_change(work.client()).await?;
        work.commit().await?;
        drop(work);
        self.values.forget();
        posted.committed().await;
        Ok(())
    }
}

/// Marks every active value of `key` inactive, with an audit row each.
async fn deactivate(
    work: &Work,
    tenant: &Tenant,
    key: &str,
    context: &CallContext,
    audit: &AuditContext<'_>,
) -> Result<(), ServiceError> {
    let now = Utc::now();
    let transaction = work.client();
    let deleted = tenant_kvs::deactivate_tenant_key(
        transaction,
        tenant.record_id,
        key,
        &context.created_by,
        now,
    )
    .await?;
    for record_id in deleted {
        insert_audit_log(
            transaction,
            TENANT_KVS_TABLE,
            record_id,
            ChangeType::Delete,
            now,
            audit,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_keys_are_kill_bills_tenant_keys_by_prefix() {
        assert!(is_system_key("PUSH_NOTIFICATION_CB"));
        assert!(is_system_key(&plugin_config_key("killbill-stripe")));
        assert!(is_system_key("CATALOG"));
        assert!(!is_system_key("my-key"));
        assert!(is_single_valued(&payment_state_machine_key("x")));
        assert!(is_single_valued(PER_TENANT_CONFIG));
        assert!(!is_single_valued("CATALOG"));
        // CATALOG_TRANSLATION_ starts with CATALOG too; its own single value wins.
        assert!(is_single_valued("CATALOG_TRANSLATION_fr"));
        assert!(!is_single_valued("my-key"));
    }
}
