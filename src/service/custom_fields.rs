//! Custom fields: names and values on accounts, payment methods, payments and transactions,
//! with Kill Bill's rules (DefaultCustomFieldUserApi, DefaultCustomFieldDao and
//! JaxRsResourceBase): a name and a value must be given, an object carries a name and value
//! once (CUSTOM_FIELD_ALREADY_EXISTS), a modification names an active field of that object and
//! may change only its value (CUSTOM_FIELD_DOES_NOT_EXISTS_FOR_ID, CUSTOM_FIELD_INVALID_UPDATE),
//! and a removal skips ids the object does not carry.
//!
//! Every write is one transaction on the main pool for the whole request: each field's row, its
//! `custom_field_history` copy and its audit row, and for an addition or a removal Kill Bill's
//! CustomFieldCreationEvent or CustomFieldDeletionEvent (pushed as CUSTOM_FIELD_CREATION and
//! CUSTOM_FIELD_DELETION; a changed value posts nothing, as in Kill Bill). This file owns those
//! rules; it writes no SQL and knows nothing of HTTP.
//!
//! Another tenant's objects and fields are indistinguishable from unknown ones.

use uuid::Uuid;

use super::{
    commit_and_announce, duplicate_on, find_account, find_object, now_in_millis, required,
    search_page, with_audit_trails, AuditLevel, AuditLog, CallContext, Page, PageRequest,
    ServiceError,
};
use crate::bus::internal_events::{
    CustomFieldCreationInternalEvent, CustomFieldDeletionInternalEvent, CustomFieldEventData,
};
use crate::bus::Bus;
use crate::db::work::{Db, Work};
use crate::service::tenants::Tenant;
use crate::storage::custom_fields::{self, CustomFieldRecord, NewCustomField};
use crate::storage::objects::{ObjectOwner, ObjectRef};

pub use crate::storage::custom_fields::FieldFilter;

/// A field as served, with its audit trail at the requested level.
#[derive(Debug, Clone)]
pub struct CustomFieldView {
    pub field: CustomFieldRecord,
    pub audit_logs: Vec<AuditLog>,
}

/// A field to add, as the caller gives it; `None` is "not given".
#[derive(Debug, Clone, Default)]
pub struct NewField {
    pub name: Option<String>,
    pub value: Option<String>,
}

/// A change of a field's value, as the caller gives it; `None` is "not given".
#[derive(Debug, Clone, Default)]
pub struct FieldChange {
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub value: Option<String>,
}

#[derive(Clone)]
pub struct CustomFieldService {
    db: Db,
    /// Where fields added and removed are announced.
    main_bus: Bus,
}

impl CustomFieldService {
    pub fn new(db: Db, main_bus: Bus) -> CustomFieldService {
        CustomFieldService { db, main_bus }
    }

    /// The object's active fields in the order they were added, each with its audit trail at
    /// `audit`. As in Kill Bill the object is not looked up: an unknown one has no fields.
    pub async fn object_fields(
        &self,
        tenant: &Tenant,
        object: ObjectRef,
        audit: AuditLevel,
    ) -> Result<Vec<CustomFieldView>, ServiceError> {
        let read = self.db.read().await?;
        let fields = custom_fields::find_custom_fields_for_object(
            read.client(),
            tenant.record_id,
            object.id,
            object.kind.object_type(),
        )
        .await?;
        with_trails(&read, tenant, fields, audit).await
    }

    /// The active fields of the tenant's account and of everything it holds (of one object
    /// type when given), oldest first, each with its audit trail at `audit`.
    pub async fn account_fields(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        object_type: Option<&str>,
        audit: AuditLevel,
    ) -> Result<Vec<CustomFieldView>, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        let account = find_account(connection, tenant.record_id, account_id).await?;
        let fields = custom_fields::find_custom_fields_for_account(
            connection,
            tenant.record_id,
            account.record_id,
            object_type,
        )
        .await?;
        with_trails(&read, tenant, fields, audit).await
    }

    /// Adds the fields to the object, all or none. Each needs a name and a value (checked for
    /// all before anything is looked up, as Kill Bill's resource does); a name and value the
    /// object carries already is CUSTOM_FIELD_ALREADY_EXISTS.
    pub async fn add(
        &self,
        tenant: &Tenant,
        object: ObjectRef,
        fields: Vec<NewField>,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let fields = fields
            .into_iter()
            .map(|field| {
                Ok((
                    required(field.name, "CustomFieldJson name needs to be set")?,
                    required(field.value, "CustomFieldJson value needs to be set")?,
                ))
            })
            .collect::<Result<Vec<_>, ServiceError>>()?;
        if fields.is_empty() {
            return Ok(());
        }
        let now = now_in_millis();
        let work = self.db.begin().await?;
        let owner = find_object(work.client(), tenant.record_id, object).await?;
        let audit = context.audit(tenant.record_id, Some(owner.account_record_id));
        let mut posted = self.main_bus.posted();
        for (name, value) in &fields {
            let id = Uuid::new_v4();
            let new_field = NewCustomField {
                id,
                object_id: object.id,
                object_type: object.kind.object_type(),
                name,
                value,
            };
            // The unique index on active names and values decides a duplicate, so concurrent
            // additions of one field cannot both succeed.
            let field = custom_fields::insert_custom_field(work.client(), &new_field, now, &audit)
                .await
                .map_err(duplicate_on(custom_fields::ACTIVE_NAME_VALUE_INDEX, || {
                    ServiceError::CustomFieldAlreadyExists { id }
                }))?;
            posted
                .post(
                    &work,
                    &CustomFieldCreationInternalEvent(event_data(&field, &owner)),
                    context.user_token,
                )
                .await?;
        }
        commit_and_announce(work, posted).await
    }

    /// Changes the values of the object's fields, all or none. Each change names a field id
    /// and a value; the field must be an active field of this object, and a name, when given,
    /// its own.
    pub async fn modify(
        &self,
        tenant: &Tenant,
        object: ObjectRef,
        changes: Vec<FieldChange>,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let changes = changes
            .into_iter()
            .map(|change| {
                let id = change.id.ok_or_else(|| {
                    ServiceError::InvalidArgument("CustomFieldJson id needs to be set".to_string())
                })?;
                let value = required(change.value, "CustomFieldJson value needs to be set")?;
                Ok((id, change.name, value))
            })
            .collect::<Result<Vec<_>, ServiceError>>()?;
        if changes.is_empty() {
            return Ok(());
        }
        let now = now_in_millis();
        let work = self.db.begin().await?;
        let transaction = work.client();
        let owner = find_object(work.client(), tenant.record_id, object).await?;
        let audit = context.audit(tenant.record_id, Some(owner.account_record_id));
        for (id, name, value) in changes {
            let field = custom_fields::TABLE
                .find_by_id(transaction, tenant.record_id, id)
                .await?
                .filter(|field| field.is_active)
                .ok_or(ServiceError::CustomFieldNotFound { id })?;
            check_update(&field, object, name)?;
            custom_fields::update_custom_field_value(
                transaction,
                field.record_id,
                &value,
                now,
                &audit,
            )
            .await?
            .ok_or(ServiceError::CustomFieldNotFound { id })?;
        }
        work.commit().await?;
        Ok(())
    }

    /// Removes the object's fields with these ids (every one of its fields when `ids` is
    /// empty), all or none; ids the object does not carry are skipped, as Kill Bill does.
    pub async fn remove(
        &self,
        tenant: &Tenant,
        object: ObjectRef,
        ids: &[Uuid],
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let now = now_in_millis();
        let work = self.db.begin().await?;
        let transaction = work.client();
        let carried = custom_fields::find_custom_fields_for_object(
            transaction,
            tenant.record_id,
            object.id,
            object.kind.object_type(),
        )
        .await?;
        let removed: Vec<&CustomFieldRecord> = carried
            .iter()
            .filter(|field| ids.is_empty() || ids.contains(&field.id))
            .collect();
        if removed.is_empty() {
            return Ok(());
        }
        let owner = find_object(work.client(), tenant.record_id, object).await?;
        let audit = context.audit(tenant.record_id, Some(owner.account_record_id));
        let mut posted = self.main_bus.posted();
        for field in removed {
            // A field removed concurrently is skipped, as Kill Bill skips what it no longer
            // finds.
            let Some(field) = custom_fields::TABLE
                .deactivate_with_history(transaction, field.record_id, now, &audit)
                .await?
            else {
                continue;
            };
            posted
                .post(
                    &work,
                    &CustomFieldDeletionInternalEvent(event_data(&field, &owner)),
                    context.user_token,
                )
                .await?;
        }
        commit_and_announce(work, posted).await
    }

    /// One page of the tenant's active fields that `filter` keeps, each with its audit trail
    /// at `audit`; MaxNbRecords counts all of the tenant's active fields.
    pub async fn page(
        &self,
        tenant: &Tenant,
        filter: FieldFilter<'_>,
        request: PageRequest,
        audit: AuditLevel,
    ) -> Result<Page<CustomFieldView>, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        let (fields, total, max) = search_page(
            connection,
            tenant.record_id,
            custom_fields::search,
            filter,
            FieldFilter::All,
            request,
        )
        .await?;
        let views = with_trails(&read, tenant, fields, audit).await?;
        Ok(Page::new(views, request, total, max))
    }
}

/// Kill Bill's validateCustomFieldWhenUpdate, in its order: the object id, the object type,
/// then the name when one is given.
fn check_update(
    field: &CustomFieldRecord,
    object: ObjectRef,
    name: Option<String>,
) -> Result<(), ServiceError> {
    let refuse = |value: String, what: &'static str| ServiceError::CustomFieldInvalidUpdate {
        id: field.id,
        value,
        field: what,
    };
    if field.object_id != object.id {
        return Err(refuse(object.id.to_string(), "ObjectId"));
    }
    if field.object_type != object.kind.object_type() {
        return Err(refuse(object.kind.object_type().to_string(), "ObjectType"));
    }
    match name {
        Some(name) if name != field.name => Err(refuse(name, "FieldName")),
        _ => Ok(()),
    }
}

fn event_data(field: &CustomFieldRecord, owner: &ObjectOwner) -> CustomFieldEventData {
    CustomFieldEventData {
        custom_field_id: field.id,
        object_id: field.object_id,
        object_type: field.object_type.clone(),
        account_id: owner.account_id,
        account_record_id: owner.account_record_id,
        tenant_record_id: owner.tenant_record_id,
    }
}

/// The fields with their audit trails at `audit`, one query for all of them.
async fn with_trails(
    read: &Work,
    tenant: &Tenant,
    fields: Vec<CustomFieldRecord>,
    audit: AuditLevel,
) -> Result<Vec<CustomFieldView>, ServiceError> {
    let fields = with_audit_trails(read.client(), tenant.record_id, fields, audit).await?;
    Ok(fields
        .into_iter()
        .map(|(field, audit_logs)| CustomFieldView { field, audit_logs })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::objects::ObjectKind;

    fn field() -> CustomFieldRecord {
        CustomFieldRecord {
            record_id: 1,
            id: Uuid::from_u128(7),
            object_id: Uuid::from_u128(1),
            object_type: "ACCOUNT".to_string(),
            is_active: true,
            name: "color".to_string(),
            value: Some("red".to_string()),
            account_record_id: 1,
            tenant_record_id: 1,
        }
    }

    #[test]
    fn only_the_value_of_the_objects_own_field_may_change() {
        let account = ObjectRef {
            kind: ObjectKind::Account,
            id: Uuid::from_u128(1),
        };
        assert!(check_update(&field(), account, None).is_ok());
        assert!(check_update(&field(), account, Some("color".to_string())).is_ok());
        let renamed = check_update(&field(), account, Some("size".to_string()));
        assert_eq!(
            renamed.expect_err("refused").to_string(),
            "Failed to update custom field 00000000-0000-0000-0000-000000000007: \
             Invalid value size for field FieldName"
        );
        let payment = ObjectRef {
            kind: ObjectKind::Payment,
            id: Uuid::from_u128(2),
        };
        assert!(matches!(
            check_update(&field(), payment, None),
            Err(ServiceError::CustomFieldInvalidUpdate {
                field: "ObjectId",
                ..
            })
        ));
    }
}
