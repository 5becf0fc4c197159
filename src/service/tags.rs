//! Tags: Kill Bill's fixed tag definitions (the control tags of killbill-api's ControlTagType
//! and the system tag `__PARK__` of SystemTags), and adding, listing and removing an account's
//! tags with Kill Bill's rules (DefaultTagUserApi, DefaultTagDao, AccountResource): adding a tag
//! the account already carries does nothing, a system definition cannot be added, a control
//! tag only goes on the object types it applies to, and AUTO_PAY_OFF stays while the account
//! has no default payment method.
//!
//! Every write is one transaction on the main pool holding the account's row lock (so it is
//! ordered with the payment-method writes that read or change the default method): the `tags`
//! rows, a `tag_history` copy of each and the audit row pointing at it. This file owns those
//! rules; it writes no SQL and knows nothing of HTTP. User-defined tag definitions are not
//! served yet, so every definition is one of the fixed ones below.
//!
//! Another tenant's accounts are indistinguishable from unknown ones.

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use deadpool_postgres::Transaction;
use uuid::Uuid;

use super::{AuditLevel, AuditLog, CallContext, ServiceError};
use crate::db::pool::DbPool;
use crate::service::tenants::Tenant;
use crate::storage::accounts::{self, AccountRecord};
use crate::storage::audit::{find_audit_logs, insert_audit_log, AuditedTable, ChangeType};
use crate::storage::tags::{self, NewTag, TagRecord};
use crate::storage::{AuditContext, StorageError};

/// Kill Bill's ObjectType of an account, as tags store and serve it.
const ACCOUNT_OBJECT_TYPE: &str = "ACCOUNT";

/// A tag definition as Kill Bill serves it (TagDefinitionJson).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDefinition {
    pub id: Uuid,
    pub name: &'static str,
    pub description: &'static str,
    pub is_control_tag: bool,
    pub applicable_object_types: &'static [&'static str],
}

/// AUTO_PAY_OFF: payments are suspended until it is removed.
pub const AUTO_PAY_OFF: Uuid = Uuid::from_u128(1);

/// Kill Bill's `new UUID(0, n)`: the fixed id of the n-th control tag.
const fn control(
    n: u128,
    name: &'static str,
    description: &'static str,
    applicable_object_types: &'static [&'static str],
) -> TagDefinition {
    TagDefinition {
        id: Uuid::from_u128(n),
        name,
        description,
        is_control_tag: true,
        applicable_object_types,
    }
}

/// Every definition a tenant has, in the order Kill Bill lists them (user definitions would
/// come first): the system tag, then the control tags in ControlTagType's order, with its ids,
/// descriptions and object types.
static DEFINITIONS: [TagDefinition; 10] = [
    // SystemTags.PARK_TAG_DEFINITION_ID is `new UUID(1, 1)`.
    TagDefinition {
        id: Uuid::from_u128((1 << 64) | 1),
        name: "__PARK__",
        description: "Accounts with invalid invoicing state",
        is_control_tag: false,
        applicable_object_types: &["ACCOUNT"],
    },
    control(
        1,
        "AUTO_PAY_OFF",
        "Suspends payments until removed.",
        &["ACCOUNT"],
    ),
    control(
        2,
        "AUTO_INVOICING_OFF",
        "Suspends invoicing until removed.",
        &["ACCOUNT"],
    ),
    control(
        3,
        "OVERDUE_ENFORCEMENT_OFF",
        "Suspends overdue enforcement behaviour until removed.",
        &["ACCOUNT"],
    ),
    control(
        4,
        "WRITTEN_OFF",
        "Indicates that an invoice is written off. No billing or payment effect.",
        &["INVOICE"],
    ),
    control(
        5,
        "MANUAL_PAY",
        "Indicates that Killbill doesn't process payments for that account (external payments only)",
        &["ACCOUNT"],
    ),
    control(
        6,
        "TEST",
        "Indicates that this is a test account",
        &["ACCOUNT"],
    ),
    control(
        7,
        "PARTNER",
        "Indicates that this is a partner account",
        &["ACCOUNT"],
    ),
    control(
        8,
        "AUTO_INVOICING_DRAFT",
        "Generate account invoices in DRAFT mode.",
        &["ACCOUNT"],
    ),
    control(
        9,
        "AUTO_INVOICING_REUSE_DRAFT",
        "Use existing draft invoice if exists.",
        &["ACCOUNT"],
    ),
];

fn find_definition(id: Uuid) -> Option<&'static TagDefinition> {
    DEFINITIONS.iter().find(|definition| definition.id == id)
}

/// A tag as served: the stored row, its definition, and its audit trail at the requested level.
#[derive(Debug, Clone)]
pub struct TagView {
    pub tag: TagRecord,
    pub definition: &'static TagDefinition,
    pub audit_logs: Vec<AuditLog>,
}

#[derive(Clone)]
pub struct TagService {
    pool: DbPool,
}

impl TagService {
    pub fn new(pool: DbPool) -> TagService {
        TagService { pool }
    }

    /// Every tag definition of the tenant, in Kill Bill's order.
    pub fn definitions(&self) -> &'static [TagDefinition] {
        &DEFINITIONS
    }

    /// One definition; unknown → TAG_DEFINITION_DOES_NOT_EXIST.
    pub fn definition(&self, id: Uuid) -> Result<&'static TagDefinition, ServiceError> {
        find_definition(id).ok_or(ServiceError::TagDefinitionNotFound { id })
    }

    /// The account's tags in the order they were added (removed ones with `include_deleted`),
    /// each with its audit trail at `audit`.
    pub async fn account_tags(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        include_deleted: bool,
        audit: AuditLevel,
    ) -> Result<Vec<TagView>, ServiceError> {
        let connection = self.pool.get().await.map_err(StorageError::from)?;
        accounts::find_account_by_id(&connection, tenant.record_id, account_id)
            .await?
            .ok_or(ServiceError::AccountNotFound { id: account_id })?;
        let tags = tags::find_tags_for_object(
            &connection,
            tenant.record_id,
            account_id,
            ACCOUNT_OBJECT_TYPE,
            include_deleted,
        )
        .await?;
        let mut trails: HashMap<i64, Vec<AuditLog>> = HashMap::new();
        if audit != AuditLevel::None && !tags.is_empty() {
            let record_ids: Vec<i64> = tags.iter().map(|tag| tag.record_id).collect();
            let logs = find_audit_logs(
                &connection,
                AuditedTable::Tag,
                tenant.record_id,
                &record_ids,
            )
            .await?;
            for (record_id, log) in logs {
                trails.entry(record_id).or_default().push(log);
            }
        }
        tags.into_iter()
            .map(|tag| {
                let definition = find_definition(tag.tag_definition_id).ok_or_else(|| {
                    ServiceError::Internal(format!(
                        "tag {} has the unknown definition {}",
                        tag.id, tag.tag_definition_id
                    ))
                })?;
                let audit_logs = audit.select(trails.remove(&tag.record_id).unwrap_or_default());
                Ok(TagView {
                    tag,
                    definition,
                    audit_logs,
                })
            })
            .collect()
    }

    /// Tags the account with each definition it does not carry yet. A definition it already
    /// carries is skipped, as Kill Bill's addTag is idempotent. Any refusal leaves nothing.
    pub async fn add_account_tags(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        definition_ids: &[Uuid],
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let now = now_in_millis();
        let mut connection = self.pool.get().await.map_err(StorageError::from)?;
        let transaction = connection.transaction().await.map_err(StorageError::from)?;
        let account = accounts::lock_account_by_id(&transaction, tenant.record_id, account_id)
            .await?
            .ok_or(ServiceError::AccountNotFound { id: account_id })?;
        for &id in definition_ids {
            let definition = addable_definition(id, ACCOUNT_OBJECT_TYPE)?;
            add_tag(&transaction, &account, definition, now, context).await?;
        }
        transaction.commit().await.map_err(StorageError::from)?;
        Ok(())
    }

    /// Removes the account's tags of these definitions. AUTO_PAY_OFF cannot be removed while
    /// the account has no default payment method; a definition the account does not carry is
    /// TAG_DOES_NOT_EXIST. Any refusal leaves nothing.
    pub async fn remove_account_tags(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        definition_ids: &[Uuid],
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let now = now_in_millis();
        let mut connection = self.pool.get().await.map_err(StorageError::from)?;
        let transaction = connection.transaction().await.map_err(StorageError::from)?;
        // Locked so that a concurrent payment-method deletion cannot clear the default after
        // the AUTO_PAY_OFF check below.
        let account = accounts::lock_account_by_id(&transaction, tenant.record_id, account_id)
            .await?
            .ok_or(ServiceError::AccountNotFound { id: account_id })?;
        if definition_ids.contains(&AUTO_PAY_OFF) && account.data.payment_method_id.is_none() {
            return Err(ServiceError::TagCannotBeRemoved {
                name: "AUTO_PAY_OFF",
                reason: " the account does not have a default payment method",
            });
        }
        let carried = tags::find_tags_for_object(
            &transaction,
            tenant.record_id,
            account_id,
            ACCOUNT_OBJECT_TYPE,
            false,
        )
        .await?;
        let mut removed: Vec<Uuid> = Vec::with_capacity(definition_ids.len());
        for &id in definition_ids {
            // The same definition twice in one request is one removal.
            if removed.contains(&id) {
                continue;
            }
            let definition =
                find_definition(id).ok_or(ServiceError::TagDefinitionUnknown { id })?;
            let mut found = false;
            // Normally one tag; all of them are removed, as Kill Bill's deleteTag does.
            for tag in carried.iter().filter(|tag| tag.tag_definition_id == id) {
                tags::deactivate_tag(&transaction, tag.record_id, &context.created_by, now).await?;
                record_tag_change(&transaction, tag, ChangeType::Delete, now, context).await?;
                found = true;
            }
            if !found {
                return Err(ServiceError::TagNotFound {
                    name: definition.name,
                });
            }
            removed.push(id);
        }
        transaction.commit().await.map_err(StorageError::from)?;
        Ok(())
    }
}

/// Tags the (locked) account AUTO_PAY_OFF in the caller's transaction unless it already is, as
/// Kill Bill does when it deletes the default payment method with
/// `deleteDefaultPmWithAutoPayOff`.
pub(crate) async fn tag_auto_pay_off(
    transaction: &Transaction<'_>,
    account: &AccountRecord,
    now: DateTime<Utc>,
    context: &CallContext,
) -> Result<(), ServiceError> {
    let definition = addable_definition(AUTO_PAY_OFF, ACCOUNT_OBJECT_TYPE)?;
    add_tag(transaction, account, definition, now, context).await
}

/// The definition `id` if a caller may put it on an object of `object_type`.
fn addable_definition(
    id: Uuid,
    object_type: &'static str,
) -> Result<&'static TagDefinition, ServiceError> {
    let definition = find_definition(id).ok_or(ServiceError::TagDefinitionUnknown { id })?;
    if !definition.is_control_tag {
        // Only the system tag is neither user-defined nor a control tag.
        return Err(ServiceError::TagIsSystem { id });
    }
    if !definition.applicable_object_types.contains(&object_type) {
        return Err(ServiceError::ControlTagNotApplicable {
            name: definition.name,
            object_type,
        });
    }
    Ok(definition)
}

/// Adds the tag unless the account carries it; a new tag gets its history and audit rows.
async fn add_tag(
    transaction: &Transaction<'_>,
    account: &AccountRecord,
    definition: &TagDefinition,
    now: DateTime<Utc>,
    context: &CallContext,
) -> Result<(), ServiceError> {
    let inserted = tags::insert_tag_unless_present(
        transaction,
        &NewTag {
            id: Uuid::new_v4(),
            tag_definition_id: definition.id,
            object_id: account.id,
            object_type: ACCOUNT_OBJECT_TYPE,
            account_record_id: account.record_id,
            tenant_record_id: account.tenant_record_id,
        },
        &context.created_by,
        now,
    )
    .await?;
    if let Some(tag) = inserted {
        record_tag_change(transaction, &tag, ChangeType::Insert, now, context).await?;
    }
    Ok(())
}

/// The history row of a tag change and the audit row pointing at it.
async fn record_tag_change(
    transaction: &Transaction<'_>,
    tag: &TagRecord,
    change_type: ChangeType,
    now: DateTime<Utc>,
    context: &CallContext,
) -> Result<(), ServiceError> {
    let history_record_id =
        tags::insert_tag_history(transaction, tag.record_id, change_type).await?;
    insert_audit_log(
        transaction,
        AuditedTable::Tag.history_table_name(),
        history_record_id,
        change_type,
        now,
        &AuditContext {
            created_by: &context.created_by,
            reason: context.reason.as_deref(),
            comment: context.comment.as_deref(),
            user_token: context.user_token,
            tenant_record_id: tag.tenant_record_id,
            account_record_id: Some(tag.account_record_id),
        },
    )
    .await?;
    Ok(())
}

/// Dates are served with millisecond precision; storing them so keeps reads stable.
fn now_in_millis() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::milliseconds(1))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_tags_have_kill_bills_fixed_ids() {
        assert_eq!(
            AUTO_PAY_OFF.to_string(),
            "00000000-0000-0000-0000-000000000001"
        );
        let park = &DEFINITIONS[0];
        assert_eq!(park.id.to_string(), "00000000-0000-0001-0000-000000000001");
        assert!(!park.is_control_tag);
        for (n, definition) in DEFINITIONS[1..].iter().enumerate() {
            assert_eq!(definition.id, Uuid::from_u128(n as u128 + 1));
            assert!(definition.is_control_tag);
        }
    }

    #[test]
    fn only_applicable_control_tags_can_be_added() {
        assert!(addable_definition(AUTO_PAY_OFF, "ACCOUNT").is_ok());
        assert!(matches!(
            addable_definition(Uuid::from_u128(4), "ACCOUNT"),
            Err(ServiceError::ControlTagNotApplicable {
                name: "WRITTEN_OFF",
                ..
            })
        ));
        assert!(matches!(
            addable_definition(DEFINITIONS[0].id, "ACCOUNT"),
            Err(ServiceError::TagIsSystem { .. })
        ));
        assert!(matches!(
            addable_definition(Uuid::from_u128(99), "ACCOUNT"),
            Err(ServiceError::TagDefinitionUnknown { .. })
        ));
    }
}
