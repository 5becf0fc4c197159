//! Kill Bill's `auditLogsWithHistory` of one object: the tenant's object read by its id, then
//! its whole audit trail, each entry with the object's state right after that change. One read
//! serves every kind of object with such a route; this file owns which table each kind is read
//! from and what an unknown id answers (Kill Bill's ObjectDoesNotExist, the id being resolved
//! before any API is reached).
//!
//! It writes no SQL (storage does) and knows nothing of HTTP.

use uuid::Uuid;

use super::{trail_with_history, AuditLogWithHistory, Audited, ServiceError};
use crate::db::work::Db;
use crate::service::tenants::Tenant;
use crate::storage::table::Table;
use crate::storage::{
    accounts, custom_fields, payment_methods, payments, tag_definitions, tags, FromRow,
};

/// The objects served with their history, by Kill Bill's ObjectType.
#[derive(Debug, Clone, Copy)]
pub enum WithHistory {
    Account,
    PaymentMethod,
    Payment,
    PaymentAttempt,
    Transaction,
    CustomField,
    Tag,
    TagDefinition,
}

impl WithHistory {
    /// Kill Bill's ObjectType, in the audit logs.
    pub fn object_type(self) -> &'static str {
        match self {
            WithHistory::Account => "ACCOUNT",
            WithHistory::PaymentMethod => "PAYMENT_METHOD",
            WithHistory::Payment => "PAYMENT",
            WithHistory::PaymentAttempt => "PAYMENT_ATTEMPT",
            WithHistory::Transaction => "TRANSACTION",
            WithHistory::CustomField => "CUSTOM_FIELD",
            WithHistory::Tag => "TAG",
            WithHistory::TagDefinition => "TAG_DEFINITION",
        }
    }
}

#[derive(Clone)]
pub struct HistoryService {
    db: Db,
}

impl HistoryService {
    pub fn new(db: Db) -> HistoryService {
        HistoryService { db }
    }

    /// The whole audit trail of the tenant's `object` with this id (deleted or not), each
    /// entry with the object's state after that change.
    pub async fn audit_logs_with_history(
        &self,
        tenant: &Tenant,
        object: WithHistory,
        id: Uuid,
    ) -> Result<Vec<AuditLogWithHistory>, ServiceError> {
        match object {
            WithHistory::Account => self.find_with_history(tenant, accounts::TABLE, id).await,
            WithHistory::PaymentMethod => {
                self.find_with_history(tenant, payment_methods::TABLE, id)
                    .await
            }
            WithHistory::Payment => {
                self.find_with_history(tenant, payments::PAYMENT_TABLE, id)
                    .await
            }
            // ferrobill has no payment control plugins, so no attempts: every id is unknown.
            WithHistory::PaymentAttempt => Err(ServiceError::ObjectNotFound {
                object_type: object.object_type(),
                id,
            }),
            WithHistory::Transaction => {
                self.find_with_history(tenant, payments::TRANSACTION_TABLE, id)
                    .await
            }
            WithHistory::CustomField => {
                self.find_with_history(tenant, custom_fields::TABLE, id)
                    .await
            }
            WithHistory::Tag => self.find_with_history(tenant, tags::TABLE, id).await,
            WithHistory::TagDefinition => {
                self.find_with_history(tenant, tag_definitions::TABLE, id)
                    .await
            }
        }
    }

    /// The trail of the tenant's row `id` of `table`, read in one unit of work; unknown: Kill
    /// Bill's ObjectDoesNotExist.
    async fn find_with_history<T: FromRow + Audited>(
        &self,
        tenant: &Tenant,
        table: Table<T>,
        id: Uuid,
    ) -> Result<Vec<AuditLogWithHistory>, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        let found = table.find_by_id(connection, tenant.record_id, id).await?;
        trail_with_history(connection, tenant.record_id, found, id).await
    }
}
