//! The rules. Each public operation validates its input, opens at most the transactions it
//! needs on the main pool, and returns typed results or a [`ServiceError`] carrying Kill Bill's
//! error code. Nothing here knows about HTTP (status codes and JSON are the `http` layer's job)
//! and nothing here writes SQL (that is `storage`).

pub mod account_emails;
pub mod accounts;
pub mod admin;
pub mod caches;
pub mod cluster;
pub mod combo;
pub mod custom_fields;
pub mod export;
pub mod external_events;
pub mod history;
pub mod nodes;
pub mod payment_gateways;
pub mod payment_methods;
pub mod payments;
pub mod per_tenant_config;
pub mod pools;
pub mod push_notifications;
pub mod secrets;
pub mod security;
pub mod tags;
pub mod tenant_key_values;
pub mod tenant_values;
pub mod tenants;

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::bus::notifications::NotificationError;
use crate::bus::{BusError, PostedEvents};
use crate::db::pool::PoolError;
use crate::db::work::{Db, Work};
use crate::storage::accounts::AccountRecord;
use crate::storage::audit::{find_audit_logs, insert_audit_log, AuditedTable, ChangeType};
use crate::storage::page::Search;
use crate::storage::table::Table;
use crate::storage::{AuditContext, FromRow, StorageError};

/// Who is making a call and why: Kill Bill's CallContext, taken from the `X-Killbill-*`
/// headers by the HTTP layer and written to the audit log by every write.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub created_by: String,
    pub reason: Option<String>,
    pub comment: Option<String>,
    /// Kill Bill's user token: `X-Request-Id` (or the legacy `X-Killbill-Request-Id-Req`)
    /// when it is a UUID, else a fresh one per request; `None` only for work no request
    /// started.
    pub user_token: Option<uuid::Uuid>,
}

impl CallContext {
    /// The audit columns of a change this call makes in the tenant `tenant_record_id`, to an
    /// object of the account `account_record_id` (none for tenant-level objects).
    pub fn audit(&self, tenant_record_id: i64, account_record_id: Option<i64>) -> AuditContext<'_> {
        AuditContext {
            created_by: &self.created_by,
            reason: self.reason.as_deref(),
            comment: self.comment.as_deref(),
            user_token: self.user_token,
            tenant_record_id,
            account_record_id,
        }
    }
}

/// Dates are served with millisecond precision; storing them so keeps reads stable.
pub(crate) fn now_in_millis() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::milliseconds(1))
        .unwrap_or(now)
}

/// The tenant's `object` and its account, or Kill Bill's ObjectDoesNotExist (its id resolution
/// fails before any API is reached).
pub(crate) async fn find_object(
    connection: &impl deadpool_postgres::GenericClient,
    tenant_record_id: i64,
    object: ObjectRef,
) -> Result<crate::storage::objects::ObjectOwner, ServiceError> {
    crate::storage::objects::find_owner(connection, tenant_record_id, object)
        .await?
        .ok_or(ServiceError::ObjectNotFound {
            object_type: object.kind.object_type(),
            id: object.id,
        })
}

/// The tenant's account `id` read as it stands, or Kill Bill's ObjectDoesNotExist.
pub(crate) async fn find_account(
    connection: &impl deadpool_postgres::GenericClient,
    tenant_record_id: i64,
    id: uuid::Uuid,
) -> Result<AccountRecord, ServiceError> {
    crate::storage::accounts::TABLE
        .find_by_id(connection, tenant_record_id, id)
        .await?
        .ok_or(ServiceError::AccountNotFound { id })
}

/// The tenant's account `id` with its row locked for the caller's transaction (writes that
/// read or change the account are ordered by it), or Kill Bill's ObjectDoesNotExist.
pub(crate) async fn lock_account(
    connection: &impl deadpool_postgres::GenericClient,
    tenant_record_id: i64,
    id: uuid::Uuid,
) -> Result<AccountRecord, ServiceError> {
    crate::storage::accounts::lock_account_by_id(connection, tenant_record_id, id)
        .await?
        .ok_or(ServiceError::AccountNotFound { id })
}

/// Commits `work`, gives its connection back, and only then lets the bus dispatch the events
/// it posted: the dispatchers may need a connection themselves.
pub(crate) async fn commit_and_announce(
    work: Work,
    posted: PostedEvents,
) -> Result<(), ServiceError> {
    work.commit().await?;
    drop(work);
    posted.committed().await;
    Ok(())
}

/// A task listening for other nodes' announcements, and what tells when its first LISTEN is in
/// place (see [`crate::bus::listen`]).
pub type Listener = (
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Receiver<()>,
);

/// Starts calling `forget` on every change announced on `channel` (a NOTIFY; `what` names the
/// changes in the logs), and after every reconnect, until `stop` turns true.
pub(crate) fn listen_and_forget(
    db: &Db,
    channel: &'static str,
    what: &'static str,
    stop: tokio::sync::watch::Receiver<bool>,
    forget: impl Fn() + Send + Sync + 'static,
) -> Listener {
    let (listening, subscribed) = tokio::sync::oneshot::channel();
    let listen = crate::bus::listen(db.clone(), channel, what, stop, listening, forget);
    (tokio::spawn(listen), subscribed)
}

/// How a write's storage error is answered when the unique index `index` refuses it: with
/// `refusal()`. The index, not a prior read, decides a duplicate, so two concurrent writes of
/// one value cannot both succeed. Any other error stays a storage error.
pub(crate) fn duplicate_on(
    index: &'static str,
    refusal: impl FnOnce() -> ServiceError,
) -> impl FnOnce(StorageError) -> ServiceError {
    move |error| match error {
        StorageError::UniqueViolation { constraint } if constraint == index => refusal(),
        other => other.into(),
    }
}

/// A string Kill Bill's verifyNonNullOrEmpty accepts, or its IllegalArgumentException with
/// `message`.
pub(crate) fn required(value: Option<String>, message: &str) -> Result<String, ServiceError> {
    value
        .filter(|value| !value.is_empty())
        .ok_or_else(|| ServiceError::InvalidArgument(message.to_string()))
}

/// A stored entity with an audit trail: the table it is stored in (whose `audited` names the
/// table of its audit rows), and its record id there.
pub(crate) trait Audited: Sized {
    const STORED: Table<Self>;
    fn record_id(&self) -> i64;
}

/// Where each kind of stored entity with an audit trail is stored; its `record_id` field names
/// it there.
macro_rules! audited {
    ($($record:ty => $table:expr,)*) => {$(
        impl Audited for $record {
            const STORED: Table<Self> = $table;
            fn record_id(&self) -> i64 {
                self.record_id
            }
        }
    )*};
}

audited! {
    AccountRecord => crate::storage::accounts::TABLE,
    crate::storage::account_emails::AccountEmailRecord => crate::storage::account_emails::TABLE,
    crate::storage::custom_fields::CustomFieldRecord => crate::storage::custom_fields::TABLE,
    crate::storage::payment_methods::PaymentMethodRecord => crate::storage::payment_methods::TABLE,
    crate::storage::payments::PaymentRecord => crate::storage::payments::PAYMENT_TABLE,
    crate::storage::payments::TransactionRecord => crate::storage::payments::TRANSACTION_TABLE,
    crate::storage::tag_definitions::TagDefinitionRecord => crate::storage::tag_definitions::TABLE,
    crate::storage::tags::TagRecord => crate::storage::tags::TABLE,
}

/// A stored entity the service writes itself, each change with a history copy and an audit row
/// naming the entity's account.
pub(crate) trait Recorded: Audited + FromRow {
    fn tenant_record_id(&self) -> i64;
    /// The account the entity is of; none for a tenant-level entity.
    fn account_record_id(&self) -> Option<i64>;
}

/// Which account (`account` of the entity) the audit rows of each entity whose changes the
/// service records name.
macro_rules! recorded {
    ($($record:ty => account: $account:expr,)*) => {$(
        impl Recorded for $record {
            fn tenant_record_id(&self) -> i64 {
                self.tenant_record_id
            }
            fn account_record_id(&self) -> Option<i64> {
                let account: fn(&Self) -> Option<i64> = $account;
                account(self)
            }
        }
    )*};
}

recorded! {
    AccountRecord => account: |account| Some(account.record_id),
    crate::storage::payment_methods::PaymentMethodRecord =>
        account: |method| Some(method.account_record_id),
    crate::storage::tags::TagRecord => account: |tag| Some(tag.account_record_id),
    crate::storage::tag_definitions::TagDefinitionRecord => account: |_| None,
}

/// The history row of the change just written to `entity` in the caller's transaction, and the
/// audit row pointing at it.
pub(crate) async fn record_change<T: Recorded>(
    transaction: &impl deadpool_postgres::GenericClient,
    entity: &T,
    change_type: ChangeType,
    now: DateTime<Utc>,
    context: &CallContext,
) -> Result<(), ServiceError> {
    let history_record_id = T::STORED
        .copy_to_history(transaction, entity.record_id(), change_type)
        .await?;
    let audit = context.audit(entity.tenant_record_id(), entity.account_record_id());
    insert_audit_log(
        transaction,
        T::STORED.audited.history_table_name(),
        history_record_id,
        change_type,
        now,
        &audit,
    )
    .await?;
    Ok(())
}

/// The whole audit trail of the entity `found` (`None` when the tenant has no entity of its
/// kind with the requested `id`), each entry with the entity's state after that change;
/// unknown: Kill Bill's ObjectDoesNotExist.
pub(crate) async fn trail_with_history<T: Audited>(
    connection: &impl deadpool_postgres::GenericClient,
    tenant_record_id: i64,
    found: Option<T>,
    id: uuid::Uuid,
) -> Result<Vec<AuditLogWithHistory>, ServiceError> {
    let entity = found.ok_or(ServiceError::ObjectNotFound {
        object_type: T::STORED.audited.object_type(),
        id,
    })?;
    Ok(crate::storage::audit::find_audit_logs_with_history(
        connection,
        T::STORED.audited,
        tenant_record_id,
        entity.record_id(),
    )
    .await?)
}

/// The audit trails at `level` of the entities `record_ids` of `table`, by record id; one query
/// for all of them, none at level NONE.
pub(crate) async fn audit_trails(
    connection: &impl deadpool_postgres::GenericClient,
    table: AuditedTable,
    tenant_record_id: i64,
    record_ids: &[i64],
    level: AuditLevel,
) -> Result<HashMap<i64, Vec<AuditLog>>, ServiceError> {
    let mut trails: HashMap<i64, Vec<AuditLog>> = HashMap::new();
    if level == AuditLevel::None || record_ids.is_empty() {
        return Ok(trails);
    }
    for (record_id, log) in find_audit_logs(connection, table, tenant_record_id, record_ids).await?
    {
        trails.entry(record_id).or_default().push(log);
    }
    Ok(trails
        .into_iter()
        .map(|(record_id, logs)| (record_id, level.select(logs)))
        .collect())
}

/// The entities `items` each with its audit trail at `level`; one query for all of them.
pub(crate) async fn with_audit_trails<T: Audited>(
    connection: &impl deadpool_postgres::GenericClient,
    tenant_record_id: i64,
    items: Vec<T>,
    level: AuditLevel,
) -> Result<Vec<(T, Vec<AuditLog>)>, ServiceError> {
    let record_ids: Vec<i64> = items.iter().map(Audited::record_id).collect();
    let mut trails = audit_trails(
        connection,
        T::STORED.audited,
        tenant_record_id,
        &record_ids,
        level,
    )
    .await?;
    Ok(items
        .into_iter()
        .map(|item| {
            let logs = trails.remove(&item.record_id()).unwrap_or_default();
            (item, logs)
        })
        .collect())
}

/// Kill Bill's AuditLevel: how much of an object's audit trail a read includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditLevel {
    #[default]
    None,
    /// Only the first entry (the creation), as Kill Bill's DefaultAuditDao.
    Minimal,
    Full,
}

impl AuditLevel {
    /// The part of one object's trail (oldest first) this level shows.
    pub fn select<T>(self, mut logs: Vec<T>) -> Vec<T> {
        match self {
            AuditLevel::None => logs.clear(),
            AuditLevel::Minimal => logs.truncate(1),
            AuditLevel::Full => {}
        }
        logs
    }
}

/// One page of a listing with Kill Bill's pagination counts (its DefaultPagination).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The offset this page starts at.
    pub offset: i64,
    /// Where the next page starts; `None` on the last page.
    pub next_offset: Option<i64>,
    /// How many items match (TotalNbRecords).
    pub total: i64,
    /// How many items the tenant has in all (MaxNbRecords).
    pub max: i64,
}

impl<T> Page<T> {
    /// A page read with `request`: Kill Bill's next offset is the offset plus the limit, while
    /// that is below `total`.
    pub fn new(items: Vec<T>, request: PageRequest, total: i64, max: i64) -> Page<T> {
        let next = request.offset.saturating_add(request.size());
        Page {
            items,
            offset: request.offset,
            next_offset: (next < total).then_some(next),
            total,
            max,
        }
    }

    pub fn map<U>(mut self, f: impl FnMut(T) -> U) -> Page<U> {
        let items = std::mem::take(&mut self.items).into_iter().map(f).collect();
        self.with_items(items)
    }

    /// The same page holding `items` instead (what the items became, in their order).
    pub fn with_items<U>(self, items: Vec<U>) -> Page<U> {
        Page {
            items,
            offset: self.offset,
            next_offset: self.next_offset,
            total: self.total,
            max: self.max,
        }
    }
}

/// One page of the tenant's rows that `search(filter)` keeps, read as `request` asks, with the
/// page's TotalNbRecords and MaxNbRecords: how many rows `filter` keeps, and how many the tenant
/// has in all (`everything`, the filter keeping all of them; one count when `filter` is that
/// already). Returns the rows, then the two counts.
pub(crate) async fn search_page<'f, F, T>(
    connection: &impl deadpool_postgres::GenericClient,
    tenant_record_id: i64,
    search: impl Fn(F) -> Search<'f, T>,
    filter: F,
    everything: F,
    request: PageRequest,
) -> Result<(Vec<T>, i64, i64), ServiceError>
where
    F: Copy + PartialEq,
    T: FromRow,
{
    let rows = search(filter)
        .page(
            connection,
            tenant_record_id,
            request.offset,
            request.size(),
            request.descending(),
        )
        .await?;
    let total = search(filter).count(connection, tenant_record_id).await?;
    let max = if filter == everything {
        total
    } else {
        search(everything)
            .count(connection, tenant_record_id)
            .await?
    };
    Ok((rows, total, max))
}

/// The `offset` and `limit` of a listing as Kill Bill reads them: a negative limit reads
/// backwards from the newest; a negative offset reads from the start (PostgreSQL refuses one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: i64,
    pub limit: i64,
}

impl PageRequest {
    pub fn new(offset: i64, limit: i64) -> PageRequest {
        PageRequest {
            offset: offset.max(0),
            limit,
        }
    }

    /// How many items at most (`limit=-9223372036854775808` is a valid Long: saturated).
    pub fn size(self) -> i64 {
        self.limit.saturating_abs()
    }

    pub fn descending(self) -> bool {
        self.limit < 0
    }
}

/// One entry of an object's audit trail.
pub use crate::storage::audit::AuditLogRecord as AuditLog;
/// The objects custom fields and tags hang on.
pub use crate::storage::objects::{ObjectKind, ObjectRef};

/// One entry of an object's audit trail with the object's state right after that change: the
/// history row's columns as a JSON object.
pub type AuditLogWithHistory = (AuditLog, serde_json::Value);

/// A failure of a service operation. Variants carrying a Kill Bill `ErrorCode` say so in
/// their name; the HTTP layer maps each to a status and Kill Bill's error JSON in one place.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Kill Bill's IllegalArgumentException: a missing or malformed field.
    #[error("{0}")]
    InvalidArgument(String),
    /// ACCOUNT_ALREADY_EXISTS (3000): the external key is taken in this tenant.
    #[error("Account already exists for key {external_key}")]
    AccountAlreadyExists { external_key: String },
    /// ACCOUNT_DOES_NOT_EXIST_FOR_ID (3002), e.g. an unknown `parentAccountId`.
    #[error("Account does not exist for id {id}")]
    AccountNotFoundForId { id: uuid::Uuid },
    /// ACCOUNT_DOES_NOT_EXIST_FOR_KEY (3003).
    #[error("Account does not exist for key {external_key}")]
    AccountNotFoundForKey { external_key: String },
    /// Kill Bill's ObjectDoesNotExist: an account id that resolves to no account of the
    /// tenant (raised before the account API is reached, hence no error code).
    #[error("Object id={id} type=ACCOUNT doesn't exist!")]
    AccountNotFound { id: uuid::Uuid },
    /// Kill Bill's ObjectDoesNotExist for an id of another kind of object, resolved (as Kill
    /// Bill resolves every id of a request) before any API is reached: no error code.
    #[error("Object id={id} type={object_type} doesn't exist!")]
    ObjectNotFound {
        object_type: &'static str,
        id: uuid::Uuid,
    },
    /// EXTERNAL_KEY_LIMIT_EXCEEDED (5).
    #[error("External key exceeded 255 characters")]
    ExternalKeyTooLong,
    /// TENANT_ALREADY_EXISTS (20000). Kill Bill names the new tenant's external key in the
    /// message (`null` when it has none), not the API key that collided.
    #[error("Tenant already exists for key {}", external_key.as_deref().unwrap_or("null"))]
    TenantAlreadyExists { external_key: Option<String> },
    /// TENANT_DOES_NOT_EXIST_FOR_ID (20001).
    #[error("Tenant does not exist for id {id}")]
    TenantNotFoundForId { id: uuid::Uuid },
    /// TENANT_DOES_NOT_EXIST_FOR_API_KEY (20003).
    #[error("Tenant does not exist for api key {api_key}")]
    TenantNotFoundForApiKey { api_key: String },
    /// PAYMENT_NO_SUCH_PAYMENT_METHOD (7000): an unknown id or external key, a deleted
    /// method, or another account's method.
    #[error("Payment method {id} does not exist")]
    PaymentMethodNotFound { id: String },
    /// PAYMENT_DEL_DEFAULT_PAYMENT_METHOD (7022), without the flags that allow it.
    #[error("Cannot delete default payment method for account {account_id}")]
    CannotDeleteDefaultPaymentMethod { account_id: uuid::Uuid },
    /// PAYMENT_EXTERNAL_PAYMENT_METHOD_ALREADY_EXISTS (7023).
    #[error("External payment method already exists for account {account_id}")]
    ExternalPaymentMethodAlreadyExists { account_id: uuid::Uuid },
    /// PAYMENT_NO_SUCH_PAYMENT_PLUGIN (7028).
    #[error("Payment plugin {name} is not registered")]
    PaymentPluginNotRegistered { name: String },
    /// A payment method external key already used in the tenant.
    #[error("Payment method already exists for key {external_key}")]
    PaymentMethodKeyAlreadyExists { external_key: String },
    /// A plugin refused or failed (PAYMENT_PLUGIN_EXCEPTION, 7199).
    #[error("Plugin exception {0}")]
    PaymentPlugin(String),
    /// PAYMENT_NO_SUCH_PAYMENT (7020): an unknown id or external key, or another tenant's.
    #[error("Payment {id} does not exist")]
    PaymentNotFound { id: String },
    /// PAYMENT_NO_SUCH_SUCCESS_PAYMENT (7024): a transaction to complete that is not PENDING,
    /// or a chargeback reversal with no chargeback to reverse.
    #[error("Payment {id} did not succeed")]
    PaymentNotSucceeded { id: uuid::Uuid },
    /// PAYMENT_INTERNAL_ERROR (7019) of a completion naming no transaction of a payment with
    /// several PENDING or SUCCESS ones.
    #[error("Internal payment error : Illegal payment state: Found multiple PENDING payment transactions for paymentId='{payment_id}'")]
    PaymentCompletionAmbiguous { payment_id: uuid::Uuid },
    /// PAYMENT_INVALID_OPERATION (7032): the state machine refuses the operation.
    #[error("Invalid payment transition {transaction_type} from state {state}")]
    PaymentTransitionInvalid {
        transaction_type: crate::domain::payments::TransactionType,
        state: String,
    },
    /// PAYMENT_ACTIVE_TRANSACTION_KEY_EXISTS (7030).
    #[error("Successful transaction with external key {key} already exists")]
    PaymentTransactionKeyExists { key: String },
    /// PAYMENT_INVALID_PARAMETER (7031).
    #[error("Invalid parameter {name}: {reason}")]
    PaymentInvalidParameter { name: String, reason: String },
    /// PAYMENT_DIFFERENT_ACCOUNT_ID (7034): the payment a key names is another account's.
    #[error("Payment {id} has a different account id")]
    PaymentDifferentAccount { id: uuid::Uuid },
    /// PAYMENT_PLUGIN_TIMEOUT (7100): the plugin did not answer within
    /// `org.killbill.payment.plugin.timeout`; the transaction is left UNKNOWN.
    #[error("Plugin timeout for account {account_id}: {detail}")]
    PaymentPluginTimeout {
        account_id: uuid::Uuid,
        detail: String,
    },
    /// PAYMENT_PLUGIN_EXCEPTION (7199) on a payment call: the plugin threw.
    #[error("Plugin exception {0}")]
    PaymentPluginException(String),
    /// PAYMENT_INTERNAL_ERROR (7019): another node held the account's lock through every
    /// retry.
    #[error("Internal payment error : failed to take the lock of account {account_id}")]
    PaymentLockFailed { account_id: uuid::Uuid },
    /// A transaction type an account-level payment call does not take (Kill Bill's 412).
    #[error("TransactionType {0} is not allowed for an account")]
    TransactionTypeNotAllowed(String),
    /// TAG_DEFINITION_DOES_NOT_EXIST (3902) when reading or deleting a tag definition
    /// (TagDefinitionApiException).
    #[error("The tag definition {id} does not exist")]
    TagDefinitionNotFound { id: uuid::Uuid },
    /// TAG_DEFINITION_ALREADY_EXISTS (3901): a live definition of the tenant has this name.
    /// Kill Bill's message ends with a space.
    #[error("The tag definition {name} already exists ")]
    TagDefinitionAlreadyExists { name: String },
    /// TAG_DEFINITION_IN_USE (3903): deleting a definition some active tag still uses.
    #[error("The tag definition {id} is currently in use")]
    TagDefinitionInUse { id: uuid::Uuid },
    /// TAG_DEFINITION_HAS_UPPERCASE (3904).
    #[error("The tag definition name must be in lowercase {name}")]
    TagDefinitionHasUppercase { name: String },
    /// TAG_DEFINITION_DOES_NOT_EXIST (3902) when adding or removing a tag: Kill Bill raises it
    /// as a TagApiException there, which it answers 400 rather than 404.
    #[error("The tag definition {id} does not exist")]
    TagDefinitionUnknown { id: uuid::Uuid },
    /// TAG_DOES_NOT_EXIST (3950): removing a tag the object does not carry.
    #[error("The tag does not exist (name: {name})")]
    TagNotFound { name: String },
    /// TAG_CANNOT_BE_REMOVED (3951). `reason` starts with a space, as Kill Bill's argument
    /// does, so the message has its double space.
    #[error("The tag {name} cannot be removed because {reason}")]
    TagCannotBeRemoved {
        name: &'static str,
        reason: &'static str,
    },
    /// TAG_IS_SYSTEM (3953): a system definition (`__PARK__`) is Kill Bill's to set.
    #[error("Cannot add the system tag {id} (reserved to Kill Bill internal system)")]
    TagIsSystem { id: uuid::Uuid },
    /// A control tag on an object type it does not apply to (Kill Bill's IllegalStateException
    /// from DefaultTagDao, which has no error code).
    #[error("Invalid control tag '{name}' for object type '{object_type}'")]
    ControlTagNotApplicable {
        name: &'static str,
        object_type: &'static str,
    },
    /// CUSTOM_FIELD_ALREADY_EXISTS (9000): the object carries a field with this name and
    /// value. Kill Bill names the id the refused field would have had.
    #[error("The custom field {id} already exists")]
    CustomFieldAlreadyExists { id: uuid::Uuid },
    /// CUSTOM_FIELD_DOES_NOT_EXISTS_FOR_ID (9001): no active field of the tenant has this id.
    #[error("The custom field does not exists for id {id}")]
    CustomFieldNotFound { id: uuid::Uuid },
    /// CUSTOM_FIELD_INVALID_UPDATE (9002): a modification names another object, object type or
    /// name than the field's (`field` is ObjectId, ObjectType or FieldName).
    #[error("Failed to update custom field {id}: Invalid value {value} for field {field}")]
    CustomFieldInvalidUpdate {
        id: uuid::Uuid,
        value: String,
        field: &'static str,
    },
    /// SECURITY_INVALID_USER (40001): no active user of that name in the database.
    #[error("The user {username} does not exist or has been inactivated")]
    SecurityUserNotFound { username: String },
    /// SECURITY_USER_ALREADY_EXISTS (40002).
    #[error("The user {username} already exists")]
    SecurityUserAlreadyExists { username: String },
    /// SECURITY_ROLE_ALREADY_EXISTS (40004): the role already holds permissions.
    #[error("The role {role} already exists")]
    SecurityRoleAlreadyExists { role: String },
    /// SECURITY_INVALID_PERMISSIONS (40005): more than two `:`-separated parts.
    #[error("The permission {permission} is invalid")]
    SecurityInvalidPermission { permission: String },
    /// `DELETE /1.0/kb/admin/cache?cacheName=` with a name Kill Bill has no cache of.
    #[error("Cache for specified cacheName='{name}' does not exist or is not alive")]
    CacheNotFound { name: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A bug or an impossible state; logged with its cause, answered as 500.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A bus write failing with the database (a lost connection, an exhausted pool) is the same
/// retryable unavailability as any other write, answered 503; only what the bus itself could
/// not do (an event it cannot serialize) is internal.
impl From<BusError> for ServiceError {
    fn from(error: BusError) -> Self {
        match error {
            BusError::Pool(error) => ServiceError::Storage(StorageError::Pool(error)),
            BusError::Database(error) => ServiceError::Storage(StorageError::from(error)),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

impl ServiceError {
    /// The database could not be reached (a lost connection, an exhausted or closed pool):
    /// what was being written may be written later.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self.storage_failure(),
            Some(StorageFailure::PoolTimeout { .. } | StorageFailure::Pool { .. })
                | Some(StorageFailure::Unavailable)
        )
    }

    /// What kind of storage failure this is, if it is one.
    pub fn storage_failure(&self) -> Option<StorageFailure> {
        match self {
            ServiceError::Storage(error) => Some(StorageFailure::from(error)),
            _ => None,
        }
    }
}

/// What a storage failure means to the layer above, so http answers it without knowing
/// storage's or the pools' error types. The detail stays in the [`ServiceError`]'s message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFailure {
    /// No connection of `pool` came free in time.
    PoolTimeout { pool: &'static str },
    /// Any other refusal of `pool`: closed, cannot connect, a nested request.
    Pool { pool: &'static str },
    /// The connection broke or the server went away: retryable.
    Unavailable,
    /// A unique index refused the write.
    UniqueViolation,
    /// PostgreSQL refused a value (SQLSTATE class 22).
    InvalidValue,
    /// Any other database error, or stored data ferrobill cannot read (a name it never
    /// writes): a bug or a damaged row, its detail for the log only.
    Database,
}

impl From<&StorageError> for StorageFailure {
    fn from(error: &StorageError) -> StorageFailure {
        match error {
            StorageError::Pool(PoolError::Timeout { pool, .. }) => {
                StorageFailure::PoolTimeout { pool }
            }
            StorageError::Pool(error) => StorageFailure::Pool { pool: error.pool() },
            StorageError::Unavailable(_) => StorageFailure::Unavailable,
            StorageError::UniqueViolation { .. } => StorageFailure::UniqueViolation,
            StorageError::InvalidValue { .. } => StorageFailure::InvalidValue,
            StorageError::UnknownName { .. } | StorageError::Database(_) => {
                StorageFailure::Database
            }
        }
    }
}

/// A unit of work that could not be had (no connection in time, a closed pool) or a
/// statement the service runs itself (a commit) fails as storage does, so `?` treats them
/// alike.
impl From<PoolError> for ServiceError {
    fn from(error: PoolError) -> Self {
        ServiceError::Storage(StorageError::from(error))
    }
}

impl From<tokio_postgres::Error> for ServiceError {
    fn from(error: tokio_postgres::Error) -> Self {
        ServiceError::Storage(StorageError::from(error))
    }
}

/// A wait refused because the task held a connection: a bug, answered as 500.
impl From<crate::db::work::HeldConnection> for ServiceError {
    fn from(held: crate::db::work::HeldConnection) -> Self {
        ServiceError::Internal(held.to_string())
    }
}

/// As for [`BusError`]: database failures of the notification queue are storage failures.
impl From<NotificationError> for ServiceError {
    fn from(error: NotificationError) -> Self {
        match error {
            NotificationError::Pool(error) => ServiceError::Storage(StorageError::Pool(error)),
            NotificationError::Database(error) => ServiceError::Storage(StorageError::from(error)),
            NotificationError::Bus(error) => error.into(),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::pool::PoolError;

    #[test]
    fn only_the_named_unique_index_turns_a_write_error_into_the_refusal() {
        let refused = |constraint: &str| StorageError::UniqueViolation {
            constraint: constraint.to_string(),
        };
        let refusal = || ServiceError::ExternalKeyTooLong;
        assert!(matches!(
            duplicate_on("accounts_external_key", refusal)(refused("accounts_external_key")),
            ServiceError::ExternalKeyTooLong
        ));
        assert!(matches!(
            duplicate_on("accounts_external_key", refusal)(refused("another_index")),
            ServiceError::Storage(StorageError::UniqueViolation { .. })
        ));
    }

    #[test]
    fn required_refuses_what_is_missing_or_empty() {
        assert_eq!(
            required(Some("a".to_string()), "m").ok(),
            Some("a".to_string())
        );
        for missing in [None, Some(String::new())] {
            assert!(matches!(
                required(missing, "name needs to be set"),
                Err(ServiceError::InvalidArgument(message)) if message == "name needs to be set"
            ));
        }
    }

    #[test]
    fn queue_writes_failing_for_want_of_a_connection_are_storage_errors() {
        let closed = || PoolError::Closed { pool: "main" };
        assert!(matches!(
            ServiceError::from(BusError::Pool(closed())),
            ServiceError::Storage(StorageError::Pool(_))
        ));
        assert!(matches!(
            ServiceError::from(NotificationError::Pool(closed())),
            ServiceError::Storage(StorageError::Pool(_))
        ));
        assert!(matches!(
            ServiceError::from(NotificationError::Bus(BusError::Pool(closed()))),
            ServiceError::Storage(StorageError::Pool(_))
        ));
        assert!(matches!(
            ServiceError::from(BusError::InMemory { bus: "main" }),
            ServiceError::Internal(_)
        ));
    }

    #[test]
    fn storage_failures_name_what_the_caller_must_answer() {
        let failure = |error: StorageError| ServiceError::from(error).storage_failure();
        let timeout = PoolError::Timeout {
            pool: "osgi",
            timeout: std::time::Duration::from_millis(50),
            waited: std::time::Duration::from_millis(51),
        };
        let timed_out = ServiceError::from(timeout);
        assert_eq!(
            timed_out.storage_failure(),
            Some(StorageFailure::PoolTimeout { pool: "osgi" })
        );
        assert!(timed_out.is_unavailable());
        assert_eq!(
            failure(StorageError::Pool(PoolError::Closed { pool: "main" })),
            Some(StorageFailure::Pool { pool: "main" })
        );
        assert_eq!(
            failure(StorageError::UniqueViolation {
                constraint: "payments_external_key".to_string()
            }),
            Some(StorageFailure::UniqueViolation)
        );
        let invalid = ServiceError::from(StorageError::InvalidValue {
            message: "Invalid value (name): value too long for type character varying(50)"
                .to_string(),
        });
        assert_eq!(
            invalid.storage_failure(),
            Some(StorageFailure::InvalidValue)
        );
        assert!(!invalid.is_unavailable());
        assert_eq!(
            failure(StorageError::UnknownName {
                column: "transaction_status".to_string(),
                name: "SETTLED".to_string()
            }),
            Some(StorageFailure::Database)
        );
        assert_eq!(
            ServiceError::Internal("bug".to_string()).storage_failure(),
            None
        );
    }
}
