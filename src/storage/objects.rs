//! The objects that custom fields and tags hang on (accounts, payment methods, payments,
//! transactions) seen from above: which table holds each kind, and the account an object
//! belongs to (Kill Bill's NonEntityDao, as InternalCallContextFactory resolves an object id).
//!
//! This file owns that lookup SQL, always scoped to one tenant. It never decides what a missing
//! object means for a request, opens a transaction or knows about HTTP.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::accounts::AccountRecord;
use super::StorageError;

/// A kind of object that carries custom fields and tags, named by Kill Bill's ObjectType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Account,
    PaymentMethod,
    Payment,
    Transaction,
}

impl ObjectKind {
    /// Kill Bill's ObjectType name, as the `object_type` columns hold it.
    pub fn object_type(self) -> &'static str {
        match self {
            ObjectKind::Account => "ACCOUNT",
            ObjectKind::PaymentMethod => "PAYMENT_METHOD",
            ObjectKind::Payment => "PAYMENT",
            ObjectKind::Transaction => "TRANSACTION",
        }
    }

    /// The owner lookup of this kind. Table names are fixed here, never taken from input.
    fn owner_sql(self) -> &'static str {
        match self {
            ObjectKind::Account => {
                "select id as account_id, record_id as account_record_id from accounts
                 where id = $1 and tenant_record_id = $2"
            }
            ObjectKind::PaymentMethod => {
                "select a.id as account_id, a.record_id as account_record_id
                 from payment_methods o join accounts a on a.record_id = o.account_record_id
                 where o.id = $1 and o.tenant_record_id = $2"
            }
            ObjectKind::Payment => {
                "select a.id as account_id, a.record_id as account_record_id
                 from payments o join accounts a on a.record_id = o.account_record_id
                 where o.id = $1 and o.tenant_record_id = $2"
            }
            ObjectKind::Transaction => {
                "select a.id as account_id, a.record_id as account_record_id
                 from payment_transactions o join accounts a on a.record_id = o.account_record_id
                 where o.id = $1 and o.tenant_record_id = $2"
            }
        }
    }
}

/// One object: its kind and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: ObjectKind,
    pub id: Uuid,
}

/// One object and the account it belongs to (an account belongs to itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectOwner {
    pub kind: ObjectKind,
    pub object_id: Uuid,
    pub account_id: Uuid,
    pub account_record_id: i64,
    pub tenant_record_id: i64,
}

impl ObjectOwner {
    /// An account, which belongs to itself.
    pub fn of_account(account: &AccountRecord) -> ObjectOwner {
        ObjectOwner {
            kind: ObjectKind::Account,
            object_id: account.id,
            account_id: account.id,
            account_record_id: account.record_id,
            tenant_record_id: account.tenant_record_id,
        }
    }
}

/// The tenant's `object` and its account; `None` when the tenant has no such object (another
/// tenant's included).
pub async fn find_owner(
    client: &impl GenericClient,
    tenant_record_id: i64,
    object: ObjectRef,
) -> Result<Option<ObjectOwner>, StorageError> {
    let row = crate::storage::query_opt_cached(
        client,
        object.kind.owner_sql(),
        &[&object.id, &tenant_record_id],
    )
    .await?;
    row.map(|row| {
        Ok(ObjectOwner {
            kind: object.kind,
            object_id: object.id,
            account_id: row.try_get("account_id")?,
            account_record_id: row.try_get("account_record_id")?,
            tenant_record_id,
        })
    })
    .transpose()
}
