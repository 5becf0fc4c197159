//! Tags: the tag definitions (Kill Bill's fixed ones, the control tags of killbill-api's
//! ControlTagType and the system tag `__PARK__` of SystemTags, then each tenant's own), and
//! adding, listing, searching and removing the tags of accounts, payments and transactions with
//! Kill Bill's rules (DefaultTagUserApi, DefaultTagDao, DefaultTagDefinitionDao,
//! JaxRsResourceBase, AccountResource, TagResource, TagDefinitionResource): adding a tag the
//! object already carries does nothing, a system definition cannot be added, a control tag only
//! goes on the object types it applies to, AUTO_PAY_OFF stays while the account has no default
//! payment method, a definition name is lowercase and unique among the tenant's live ones, and a
//! definition in use cannot be deleted.
//!
//! Every write is one transaction on the main pool. A tag write on an account holds the
//! account's row lock (so it is ordered with the payment-method writes that read or change the
//! default method); on any object it writes the `tags` rows, a `tag_history` copy of each, the
//! audit row pointing at it and Kill Bill's tag event; a definition write does the same with
//! `tag_definitions` and `tag_definition_history`. This file owns those rules; it writes no SQL
//! and knows nothing of HTTP.
//!
//! Another tenant's objects, tags and definitions are indistinguishable from unknown ones.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use uuid::Uuid;

use super::{
    commit_and_announce, duplicate_on, find_account, find_object, lock_account, now_in_millis,
    record_change, required, search_page, with_audit_trails, AuditLevel, AuditLog, CallContext,
    Page, PageRequest, ServiceError,
};
use crate::bus::internal_events::{
    ControlTagCreationInternalEvent, ControlTagDeletionInternalEvent, TagEventData,
    UserTagCreationInternalEvent, UserTagDeletionInternalEvent,
};
use crate::bus::{Bus, PostedEvents};
use crate::db::work::{Db, Work};
use crate::domain::object_types::{is_object_type, unknown_object_type};
use crate::service::tenants::Tenant;
use crate::storage::accounts::AccountRecord;
use crate::storage::audit::ChangeType;
use crate::storage::objects::{ObjectKind, ObjectOwner, ObjectRef};
use crate::storage::tag_definitions::{self, NewTagDefinition, TagDefinitionRecord};
use crate::storage::tags::{self, NewTag, SearchedDefinition, TagFilter, TagRecord};
use crate::storage::Lock;

/// One of Kill Bill's fixed definitions, the same in every tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FixedDefinition {
    id: Uuid,
    name: &'static str,
    description: &'static str,
    is_control_tag: bool,
    applicable_object_types: &'static [&'static str],
}

/// A tag definition as Kill Bill serves it (TagDefinitionJson).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDefinition {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub is_control_tag: bool,
    pub applicable_object_types: Vec<String>,
}

impl From<&FixedDefinition> for TagDefinition {
    fn from(fixed: &FixedDefinition) -> Self {
        TagDefinition {
            id: fixed.id,
            name: fixed.name.to_string(),
            description: fixed.description.to_string(),
            is_control_tag: fixed.is_control_tag,
            applicable_object_types: fixed
                .applicable_object_types
                .iter()
                .map(|object_type| object_type.to_string())
                .collect(),
        }
    }
}

impl From<&TagDefinitionRecord> for TagDefinition {
    fn from(record: &TagDefinitionRecord) -> Self {
        TagDefinition {
            id: record.id,
            name: record.name.clone(),
            description: record.description.clone(),
            // A stored definition can never be a control tag: their names are refused.
            is_control_tag: false,
            applicable_object_types: record
                .applicable_object_types
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .filter(|object_type| !object_type.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

/// A definition as served, with its audit trail at the requested level (always empty for the
/// fixed definitions, which are never written).
#[derive(Debug, Clone)]
pub struct TagDefinitionView {
    pub definition: TagDefinition,
    pub audit_logs: Vec<AuditLog>,
}

impl TagDefinitionView {
    /// A fixed definition as served: it is never written, so it has no audit trail.
    fn fixed(fixed: &FixedDefinition) -> TagDefinitionView {
        TagDefinitionView {
            definition: fixed.into(),
            audit_logs: Vec::new(),
        }
    }
}

/// A definition to create, as the caller describes it; `None` is "not given".
#[derive(Debug, Clone, Default)]
pub struct TagDefinitionInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub applicable_object_types: Option<Vec<String>>,
}

/// AUTO_PAY_OFF: payments are suspended until it is removed.
const AUTO_PAY_OFF: Uuid = Uuid::from_u128(1);

/// Kill Bill's `new UUID(0, n)`: the fixed id of the n-th control tag.
const fn control(
    n: u128,
    name: &'static str,
    description: &'static str,
    applicable_object_types: &'static [&'static str],
) -> FixedDefinition {
    FixedDefinition {
        id: Uuid::from_u128(n),
        name,
        description,
        is_control_tag: true,
        applicable_object_types,
    }
}

/// The definitions every tenant has, in the order Kill Bill lists them after the tenant's own:
/// the system tag, then the control tags in ControlTagType's order, with its ids, descriptions
/// and object types.
static FIXED: [FixedDefinition; 10] = [
    // SystemTags.PARK_TAG_DEFINITION_ID is `new UUID(1, 1)`.
    FixedDefinition {
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

fn find_fixed(id: Uuid) -> Option<&'static FixedDefinition> {
    FIXED.iter().find(|definition| definition.id == id)
}

/// A tag as served: the stored row, its definition, and its audit trail at the requested level.
#[derive(Debug, Clone)]
pub struct TagView {
    pub tag: TagRecord,
    pub definition: TagDefinition,
    pub audit_logs: Vec<AuditLog>,
}

#[derive(Clone)]
pub struct TagService {
    db: Db,
    /// Where tags added and removed are announced (TAG_CREATION, TAG_DELETION).
    main_bus: Bus,
}

impl TagService {
    pub fn new(db: Db, main_bus: Bus) -> TagService {
        TagService { db, main_bus }
    }

    /// Every tag definition of the tenant in Kill Bill's order (its own, oldest first, then
    /// the fixed ones), each with its audit trail at `audit`.
    pub async fn definitions(
        &self,
        tenant: &Tenant,
        audit: AuditLevel,
    ) -> Result<Vec<TagDefinitionView>, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        let own =
            tag_definitions::find_active_tag_definitions(connection, tenant.record_id).await?;
        Ok(definition_views(connection, tenant, own, audit)
            .await?
            .into_iter()
            .chain(FIXED.iter().map(TagDefinitionView::fixed))
            .collect())
    }

    /// One live definition of the tenant (or a fixed one) with its audit trail at `audit`;
    /// unknown → TAG_DEFINITION_DOES_NOT_EXIST.
    pub async fn definition(
        &self,
        tenant: &Tenant,
        id: Uuid,
        audit: AuditLevel,
    ) -> Result<TagDefinitionView, ServiceError> {
        if let Some(fixed) = find_fixed(id) {
            return Ok(TagDefinitionView::fixed(fixed));
        }
        let read = self.db.read().await?;
        let connection = read.client();
        let record = tag_definitions::find_active_tag_definition(
            connection,
            tenant.record_id,
            id,
            Lock::None,
        )
        .await?;
        definition_views(connection, tenant, Vec::from_iter(record), audit)
            .await?
            .pop()
            .ok_or(ServiceError::TagDefinitionNotFound { id })
    }

    /// Creates one of the tenant's own definitions, with Kill Bill's checks in its order: the
    /// name, the description and the object types must be given, the object types must be
    /// Kill Bill's, the name lowercase and not the name of another live definition.
    pub async fn create_definition(
        &self,
        tenant: &Tenant,
        input: TagDefinitionInput,
        context: &CallContext,
    ) -> Result<TagDefinition, ServiceError> {
        let name = required(input.name, "TagDefinition name needs to be set")?;
        let description = required(
            input.description,
            "TagDefinition description needs to be set",
        )?;
        let requested = input
            .applicable_object_types
            .filter(|object_types| !object_types.is_empty())
            .ok_or_else(|| {
                ServiceError::InvalidArgument("Applicable object types must be set".to_string())
            })?;
        // A set, as Kill Bill's: the first occurrence keeps its place.
        let mut object_types: Vec<&str> = Vec::with_capacity(requested.len());
        for object_type in &requested {
            if !is_object_type(object_type) {
                return Err(ServiceError::InvalidArgument(unknown_object_type(
                    object_type,
                )));
            }
            if !object_types.contains(&object_type.as_str()) {
                object_types.push(object_type);
            }
        }
        if name.chars().any(char::is_uppercase) {
            return Err(ServiceError::TagDefinitionHasUppercase { name });
        }
        let now = now_in_millis();
        let work = self.db.begin().await?;
        let transaction = work.client();
        // The unique index on live names decides a duplicate, so concurrent creations of one
        // name cannot both succeed.
        let record = tag_definitions::insert_tag_definition(
            transaction,
            &NewTagDefinition {
                id: Uuid::new_v4(),
                name: &name,
                applicable_object_types: &object_types.join(","),
                description: &description,
                tenant_record_id: tenant.record_id,
            },
            &context.created_by,
            now,
        )
        .await
        .map_err(duplicate_on(tag_definitions::ACTIVE_NAME_INDEX, || {
            ServiceError::TagDefinitionAlreadyExists { name: name.clone() }
        }))?;
        record_change(transaction, &record, ChangeType::Insert, now, context).await?;
        work.commit().await?;
        Ok((&record).into())
    }

    /// Deletes one of the tenant's own definitions (softly). A fixed or unknown one is
    /// TAG_DEFINITION_DOES_NOT_EXIST; one that an active tag uses is TAG_DEFINITION_IN_USE.
    pub async fn delete_definition(
        &self,
        tenant: &Tenant,
        id: Uuid,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let now = now_in_millis();
        let work = self.db.begin().await?;
        let transaction = work.client();
        // Locked, so tags being added with it (which share-lock it) commit first and are
        // counted below, and none can be added after the count.
        let record = tag_definitions::find_active_tag_definition(
            transaction,
            tenant.record_id,
            id,
            Lock::Update,
        )
        .await?
        .ok_or(ServiceError::TagDefinitionNotFound { id })?;
        if tags::count_active_tags_for_definition(transaction, tenant.record_id, id).await? > 0 {
            return Err(ServiceError::TagDefinitionInUse { id });
        }
        tag_definitions::TABLE
            .set_active(
                transaction,
                record.record_id,
                false,
                &context.created_by,
                now,
            )
            .await?;
        record_change(transaction, &record, ChangeType::Delete, now, context).await?;
        work.commit().await?;
        Ok(())
    }

    /// The object's tags in the order they were added (removed ones with `include_deleted`),
    /// each with its audit trail at `audit`. As in Kill Bill, an account's tags are looked up
    /// by its id alone (an unknown account simply has none), while a payment or a transaction
    /// is resolved first (unknown: ObjectDoesNotExist).
    pub async fn object_tags(
        &self,
        tenant: &Tenant,
        object: ObjectRef,
        include_deleted: bool,
        audit: AuditLevel,
    ) -> Result<Vec<TagView>, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        if object.kind != ObjectKind::Account {
            find_object(connection, tenant.record_id, object).await?;
        }
        let tags = tags::find_tags_for_object(
            connection,
            tenant.record_id,
            object.id,
            object.kind.object_type(),
            include_deleted,
        )
        .await?;
        tag_views(connection, tenant, tags, audit).await
    }

    /// The tags of the tenant's account and of everything it holds (of one object type when
    /// given), oldest first (removed ones with `include_deleted`), each with its audit trail at
    /// `audit`.
    pub async fn account_all_tags(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        object_type: Option<&str>,
        include_deleted: bool,
        audit: AuditLevel,
    ) -> Result<Vec<TagView>, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        let account = find_account(connection, tenant.record_id, account_id).await?;
        let tags = tags::find_tags_for_account(
            connection,
            tenant.record_id,
            account.record_id,
            object_type,
            include_deleted,
        )
        .await?;
        tag_views(connection, tenant, tags, audit).await
    }

    /// One page of the tenant's active tags (all of them, or those `search` matches), each
    /// with its audit trail at `audit`; MaxNbRecords counts all of the tenant's active tags.
    pub async fn page(
        &self,
        tenant: &Tenant,
        search: Option<&str>,
        request: PageRequest,
        audit: AuditLevel,
    ) -> Result<Page<TagView>, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        let fixed: Vec<SearchedDefinition> = FIXED
            .iter()
            .map(|definition| SearchedDefinition {
                id: definition.id,
                name: definition.name,
                description: definition.description,
            })
            .collect();
        let filter = match search {
            Some(key) => TagFilter::Key { key, fixed: &fixed },
            None => TagFilter::All,
        };
        let (found, total, max) = search_page(
            connection,
            tenant.record_id,
            tags::search,
            filter,
            TagFilter::All,
            request,
        )
        .await?;
        let views = tag_views(connection, tenant, found, audit).await?;
        Ok(Page::new(views, request, total, max))
    }

    /// Tags the object with each definition it does not carry yet. A definition it already
    /// carries is skipped, as Kill Bill's addTag is idempotent. Any refusal leaves nothing.
    pub async fn add_tags(
        &self,
        tenant: &Tenant,
        object: ObjectRef,
        definition_ids: &[Uuid],
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let now = now_in_millis();
        let work = self.db.begin().await?;
        let transaction = work.client();
        let owner = lock_owner(transaction, tenant, object).await?.owner;
        let mut posted = self.main_bus.posted();
        for &id in definition_ids {
            // Kill Bill checks the object types of control tags only; a tenant's own
            // definition goes on any object.
            if find_fixed(id).is_some() {
                addable_fixed_definition(id, object.kind.object_type())?;
            }
            let definition = tag_kind(transaction, tenant, id, Lock::Share).await?;
            add_tag(&work, &mut posted, &owner, &definition, now, context).await?;
        }
        commit_and_announce(work, posted).await
    }

    /// Removes the object's tags of these definitions. AUTO_PAY_OFF cannot be removed from an
    /// account without a default payment method; a definition the object does not carry is
    /// TAG_DOES_NOT_EXIST. Any refusal leaves nothing.
    pub async fn remove_tags(
        &self,
        tenant: &Tenant,
        object: ObjectRef,
        definition_ids: &[Uuid],
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let now = now_in_millis();
        let work = self.db.begin().await?;
        let transaction = work.client();
        let locked = lock_owner(transaction, tenant, object).await?;
        // AccountResource checks this before removing; the account is locked so that a
        // concurrent payment-method deletion cannot clear the default after the check.
        if let Some(account) = &locked.account {
            if definition_ids.contains(&AUTO_PAY_OFF) && account.data.payment_method_id.is_none() {
                return Err(ServiceError::TagCannotBeRemoved {
                    name: "AUTO_PAY_OFF",
                    reason: " the account does not have a default payment method",
                });
            }
        }
        let carried = tags::find_tags_for_object(
            transaction,
            tenant.record_id,
            object.id,
            object.kind.object_type(),
            false,
        )
        .await?;
        let mut removed: Vec<Uuid> = Vec::with_capacity(definition_ids.len());
        let mut posted = self.main_bus.posted();
        for &id in definition_ids {
            // The same definition twice in one request is one removal.
            if removed.contains(&id) {
                continue;
            }
            let definition = tag_kind(transaction, tenant, id, Lock::None).await?;
            let mut found = false;
            // Normally one tag; all of them are removed, as Kill Bill's deleteTag does.
            for tag in carried.iter().filter(|tag| tag.tag_definition_id == id) {
                tags::TABLE
                    .set_active(transaction, tag.record_id, false, &context.created_by, now)
                    .await?;
                let change = TagChange {
                    tag,
                    account_id: locked.owner.account_id,
                    definition: &definition,
                    change_type: ChangeType::Delete,
                };
                record_tag_change(&work, &mut posted, change, now, context).await?;
                found = true;
            }
            if !found {
                return Err(ServiceError::TagNotFound {
                    name: definition.name,
                });
            }
            removed.push(id);
        }
        commit_and_announce(work, posted).await
    }
}

/// The object a tag write changes, with its account's row when the object is an account.
struct LockedOwner {
    owner: ObjectOwner,
    account: Option<AccountRecord>,
}

/// The tenant's object and its account for a tag write: an account is locked (tag writes are
/// ordered with the payment-method writes that read or change its default method); another
/// object is only resolved. Unknown: Kill Bill's ObjectDoesNotExist.
async fn lock_owner(
    transaction: &Object,
    tenant: &Tenant,
    object: ObjectRef,
) -> Result<LockedOwner, ServiceError> {
    if object.kind != ObjectKind::Account {
        return Ok(LockedOwner {
            owner: find_object(transaction, tenant.record_id, object).await?,
            account: None,
        });
    }
    let account = lock_account(transaction, tenant.record_id, object.id).await?;
    Ok(LockedOwner {
        owner: ObjectOwner::of_account(&account),
        account: Some(account),
    })
}

/// The tags as served: each with its definition (fixed or the tenant's own, deleted ones
/// included) and its audit trail at `audit`.
async fn tag_views(
    connection: &impl deadpool_postgres::GenericClient,
    tenant: &Tenant,
    tags: Vec<TagRecord>,
    audit: AuditLevel,
) -> Result<Vec<TagView>, ServiceError> {
    let own_ids: Vec<Uuid> = tags
        .iter()
        .map(|tag| tag.tag_definition_id)
        .filter(|id| find_fixed(*id).is_none())
        .collect();
    let own: HashMap<Uuid, TagDefinition> = if own_ids.is_empty() {
        HashMap::new()
    } else {
        tag_definitions::TABLE
            .find_by_ids(connection, tenant.record_id, &own_ids)
            .await?
            .iter()
            .map(|record| (record.id, record.into()))
            .collect()
    };
    let tags = with_audit_trails(connection, tenant.record_id, tags, audit).await?;
    tags.into_iter()
        .map(|(tag, audit_logs)| {
            let definition = match find_fixed(tag.tag_definition_id) {
                Some(fixed) => fixed.into(),
                None => own.get(&tag.tag_definition_id).cloned().ok_or_else(|| {
                    ServiceError::Internal(format!(
                        "tag {} has the unknown definition {}",
                        tag.id, tag.tag_definition_id
                    ))
                })?,
            };
            Ok(TagView {
                audit_logs,
                tag,
                definition,
            })
        })
        .collect()
}

/// Tags the (locked) account AUTO_PAY_OFF in the caller's transaction unless it already is, as
/// Kill Bill does when it deletes the default payment method with
/// `deleteDefaultPmWithAutoPayOff`.
pub(crate) async fn tag_auto_pay_off(
    work: &Work,
    posted: &mut PostedEvents,
    account: &AccountRecord,
    now: DateTime<Utc>,
    context: &CallContext,
) -> Result<(), ServiceError> {
    let definition = find_fixed(AUTO_PAY_OFF)
        .map(TagKind::fixed)
        .ok_or(ServiceError::TagDefinitionUnknown { id: AUTO_PAY_OFF })?;
    let owner = ObjectOwner::of_account(account);
    add_tag(work, posted, &owner, &definition, now, context).await
}

/// The definition of a tag being added or removed, as its events name it.
struct TagKind {
    id: Uuid,
    name: String,
    is_control_tag: bool,
}

impl TagKind {
    fn fixed(definition: &FixedDefinition) -> TagKind {
        TagKind {
            id: definition.id,
            name: definition.name.to_string(),
            is_control_tag: definition.is_control_tag,
        }
    }

    fn user(id: Uuid, name: String) -> TagKind {
        TagKind {
            id,
            name,
            is_control_tag: false,
        }
    }
}

/// The definition `id` of a tag being added or removed: a fixed one, or one of the tenant's live
/// definitions read with `lock`. Unknown: TAG_DEFINITION_DOES_NOT_EXIST, as Kill Bill's
/// TagApiException.
async fn tag_kind(
    transaction: &Object,
    tenant: &Tenant,
    id: Uuid,
    lock: Lock,
) -> Result<TagKind, ServiceError> {
    if let Some(fixed) = find_fixed(id) {
        return Ok(TagKind::fixed(fixed));
    }
    let own = tag_definitions::find_active_tag_definition(transaction, tenant.record_id, id, lock)
        .await?
        .ok_or(ServiceError::TagDefinitionUnknown { id })?;
    Ok(TagKind::user(id, own.name))
}

/// One tag added or removed, for its history, audit row and event.
struct TagChange<'a> {
    tag: &'a TagRecord,
    account_id: Uuid,
    definition: &'a TagKind,
    change_type: ChangeType,
}

/// Whether a caller may put the fixed definition `id` on an object of `object_type`.
fn addable_fixed_definition(id: Uuid, object_type: &'static str) -> Result<(), ServiceError> {
    let definition = find_fixed(id).ok_or(ServiceError::TagDefinitionUnknown { id })?;
    if !definition.is_control_tag {
        // The only fixed definition that is not a control tag is the system tag.
        return Err(ServiceError::TagIsSystem { id });
    }
    if !definition.applicable_object_types.contains(&object_type) {
        return Err(ServiceError::ControlTagNotApplicable {
            name: definition.name,
            object_type,
        });
    }
    Ok(())
}

/// Adds the tag unless the object carries it; a new tag gets its history and audit rows.
async fn add_tag(
    work: &Work,
    posted: &mut PostedEvents,
    owner: &ObjectOwner,
    definition: &TagKind,
    now: DateTime<Utc>,
    context: &CallContext,
) -> Result<(), ServiceError> {
    let transaction = work.client();
    let inserted = tags::insert_tag_unless_present(
        transaction,
        &NewTag {
            id: Uuid::new_v4(),
            tag_definition_id: definition.id,
            object_id: owner.object_id,
            object_type: owner.kind.object_type(),
            account_record_id: owner.account_record_id,
            tenant_record_id: owner.tenant_record_id,
        },
        &context.created_by,
        now,
    )
    .await?;
    if let Some(tag) = inserted {
        let change = TagChange {
            tag: &tag,
            account_id: owner.account_id,
            definition,
            change_type: ChangeType::Insert,
        };
        record_tag_change(work, posted, change, now, context).await?;
    }
    Ok(())
}

/// The history row of a tag change, the audit row pointing at it, and its event (Kill Bill's
/// user or control tag creation or deletion event, which become TAG_CREATION and
/// TAG_DELETION).
async fn record_tag_change(
    work: &Work,
    posted: &mut PostedEvents,
    change: TagChange<'_>,
    now: DateTime<Utc>,
    context: &CallContext,
) -> Result<(), ServiceError> {
    let transaction = work.client();
    let TagChange {
        tag,
        account_id,
        definition,
        change_type,
    } = change;
    record_change(transaction, tag, change_type, now, context).await?;
    let data = TagEventData {
        tag_id: tag.id,
        object_id: tag.object_id,
        object_type: tag.object_type.clone(),
        tag_definition_id: definition.id,
        tag_definition_name: definition.name.clone(),
        account_id,
        account_record_id: tag.account_record_id,
        tenant_record_id: tag.tenant_record_id,
    };
    let token = context.user_token;
    match (change_type, definition.is_control_tag) {
        (ChangeType::Insert, true) => {
            posted
                .post(work, &ControlTagCreationInternalEvent(data), token)
                .await
        }
        (ChangeType::Insert, false) => {
            posted
                .post(work, &UserTagCreationInternalEvent(data), token)
                .await
        }
        (_, true) => {
            posted
                .post(work, &ControlTagDeletionInternalEvent(data), token)
                .await
        }
        (_, false) => {
            posted
                .post(work, &UserTagDeletionInternalEvent(data), token)
                .await
        }
    }
    .map_err(ServiceError::from)?;
    Ok(())
}

/// The tenant's own definitions as served, each with its audit trail at `level`; one query
/// for all of them.
async fn definition_views(
    connection: &impl deadpool_postgres::GenericClient,
    tenant: &Tenant,
    definitions: Vec<TagDefinitionRecord>,
    level: AuditLevel,
) -> Result<Vec<TagDefinitionView>, ServiceError> {
    let definitions = with_audit_trails(connection, tenant.record_id, definitions, level).await?;
    Ok(definitions
        .into_iter()
        .map(|(record, audit_logs)| TagDefinitionView {
            definition: (&record).into(),
            audit_logs,
        })
        .collect())
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
        let park = &FIXED[0];
        assert_eq!(park.id.to_string(), "00000000-0000-0001-0000-000000000001");
        assert!(!park.is_control_tag);
        for (n, definition) in FIXED[1..].iter().enumerate() {
            assert_eq!(definition.id, Uuid::from_u128(n as u128 + 1));
            assert!(definition.is_control_tag);
        }
    }

    #[test]
    fn only_applicable_control_tags_can_be_added() {
        assert!(addable_fixed_definition(AUTO_PAY_OFF, "ACCOUNT").is_ok());
        assert!(matches!(
            addable_fixed_definition(Uuid::from_u128(4), "ACCOUNT"),
            Err(ServiceError::ControlTagNotApplicable {
                name: "WRITTEN_OFF",
                ..
            })
        ));
        assert!(matches!(
            addable_fixed_definition(FIXED[0].id, "ACCOUNT"),
            Err(ServiceError::TagIsSystem { .. })
        ));
    }

    #[test]
    fn stored_object_types_are_kill_bills_comma_joined_list() {
        let record = TagDefinitionRecord {
            record_id: 1,
            id: Uuid::new_v4(),
            name: "vip".to_string(),
            applicable_object_types: Some("ACCOUNT,INVOICE".to_string()),
            description: "very important".to_string(),
            is_active: true,
            tenant_record_id: 1,
        };
        let definition = TagDefinition::from(&record);
        assert_eq!(definition.applicable_object_types, ["ACCOUNT", "INVOICE"]);
        assert!(!definition.is_control_tag);
    }
}
