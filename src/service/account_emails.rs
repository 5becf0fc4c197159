//! An account's additional email addresses, with Kill Bill's rules (AccountResource and
//! DefaultAccountDao): an address must be given, adding one the account has is a no-op,
//! removing one it lacks is too, and neither posts an event.
//!
//! Every write is one transaction on the main pool: the `account_emails` row, its
//! `account_email_history` copy and its audit row. This file owns those rules; it writes no SQL
//! and knows nothing of HTTP.
//!
//! Another tenant's accounts and addresses are indistinguishable from unknown ones.

use uuid::Uuid;

use super::{
    find_account, now_in_millis, required, trail_with_history, AuditLogWithHistory, CallContext,
    ServiceError,
};
use crate::db::work::Db;
use crate::service::tenants::Tenant;
use crate::storage::account_emails::{self, AccountEmailRecord};

#[derive(Clone)]
pub struct AccountEmailService {
    db: Db,
}

impl AccountEmailService {
    pub fn new(db: Db) -> AccountEmailService {
        AccountEmailService { db }
    }

    /// The account's addresses in the order they were added. As in Kill Bill the account is
    /// not looked up: an unknown one has none.
    pub async fn emails(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
    ) -> Result<Vec<AccountEmailRecord>, ServiceError> {
        let read = self.db.read().await?;
        Ok(
            account_emails::find_emails_for_account(read.client(), tenant.record_id, account_id)
                .await?,
        )
    }

    /// Adds an address to the tenant's account unless it has it already.
    pub async fn add(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        email: Option<String>,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let email = required(email, "AccountEmailJson email needs to be set")?;
        let now = now_in_millis();
        let work = self.db.begin().await?;
        let transaction = work.client();
        let account = find_account(transaction, tenant.record_id, account_id).await?;
        // The unique index on the account's active addresses makes a concurrent addition of
        // the same address a no-op too.
        account_emails::insert_email_unless_present(
            transaction,
            Uuid::new_v4(),
            account_id,
            &email,
            now,
            &context.audit(tenant.record_id, Some(account.record_id)),
        )
        .await?;
        work.commit().await?;
        Ok(())
    }

    /// Removes the address from the account; one it lacks (or an unknown account) is left
    /// alone, as Kill Bill does.
    pub async fn remove(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        email: &str,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let now = now_in_millis();
        let work = self.db.begin().await?;
        let transaction = work.client();
        let carried =
            account_emails::find_emails_for_account(transaction, tenant.record_id, account_id)
                .await?;
        let removed: Vec<&AccountEmailRecord> = carried
            .iter()
            .filter(|carried| carried.email == email)
            .collect();
        if removed.is_empty() {
            return Ok(());
        }
        let account = find_account(transaction, tenant.record_id, account_id).await?;
        let audit = context.audit(tenant.record_id, Some(account.record_id));
        for address in removed {
            account_emails::TABLE
                .deactivate_with_history(transaction, address.record_id, now, &audit)
                .await?;
        }
        work.commit().await?;
        Ok(())
    }

    /// The whole audit trail of the tenant's address with this id (removed or not), each entry
    /// with the address's state after that change. The account must be the tenant's; as in
    /// Kill Bill, the address need not be that account's.
    pub async fn audit_logs_with_history(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        email_id: Uuid,
    ) -> Result<Vec<AuditLogWithHistory>, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        find_account(connection, tenant.record_id, account_id).await?;
        let email = account_emails::TABLE
            .find_by_id(connection, tenant.record_id, email_id)
            .await?;
        trail_with_history(connection, tenant.record_id, email, email_id).await
    }
}
