//! Payment reads: one payment (by id or external key), an account's payments, pages and
//! searches, with their transactions, audit trails at the asked level and, with
//! `withPluginInfo=true`, the plugin's own view (which also repairs open outcomes, as Kill
//! Bill's read does). The plugin is always asked before a connection is taken.

use std::collections::HashMap;

use uuid::Uuid;

use super::janitor;
use super::{unknown_transaction, PaymentRef, PaymentService, PaymentView, ReadOptions};
use crate::plugin::PaymentTransactionInfo;
use crate::service::tenants::Tenant;
use crate::service::ServiceError;
use crate::service::{audit_trails, find_account};
use crate::storage::audit::AuditedTable;
use crate::storage::payment_methods;
use crate::storage::payments::{self, PaymentLookup, PaymentRecord};

impl PaymentService {
    /// The tenant's payment by id; with `with_plugin_info`, the plugin is asked about it and
    /// any still-open transaction is repaired on the fly, as Kill Bill's read does.
    pub async fn find(
        &self,
        tenant: &Tenant,
        reference: PaymentRef,
        options: ReadOptions,
    ) -> Result<PaymentView, ServiceError> {
        let lookup = match &reference {
            PaymentRef::Id(id) => PaymentLookup::Id(*id),
            PaymentRef::ExternalKey(key) => PaymentLookup::ExternalKey(key),
        };
        let payment = {
            let work = self.inner.db.read().await?;
            payments::find_payment(work.client(), tenant.record_id, lookup).await?
        }
        .ok_or_else(|| ServiceError::PaymentNotFound {
            id: reference.to_string(),
        })?;
        let mut views = self.views(tenant, vec![payment], options).await?;
        views
            .pop()
            .ok_or_else(|| ServiceError::Internal("payment vanished".to_string()))
    }

    /// The payment holding the tenant's transaction `transaction_id` (TransactionResource);
    /// an id no transaction of the tenant has is Kill Bill's ObjectDoesNotExist.
    pub async fn find_by_transaction_id(
        &self,
        tenant: &Tenant,
        transaction_id: Uuid,
        options: ReadOptions,
    ) -> Result<PaymentView, ServiceError> {
        let found = self
            .read_transaction(tenant, transaction_id)
            .await?
            .ok_or(unknown_transaction(transaction_id))?;
        self.find(tenant, PaymentRef::Id(found.payment.id), options)
            .await
    }

    /// The payment of the tenant's transactions with this external key (all on one payment, as
    /// the rules keep them); none is PAYMENT_NO_SUCH_PAYMENT naming the key.
    pub async fn find_by_transaction_external_key(
        &self,
        tenant: &Tenant,
        key: &str,
        options: ReadOptions,
    ) -> Result<PaymentView, ServiceError> {
        let first = {
            let work = self.inner.db.read().await?;
            payments::find_transactions_by_external_key(work.client(), tenant.record_id, key)
                .await?
                .into_iter()
                .next()
        }
        .ok_or_else(|| ServiceError::PaymentNotFound {
            id: key.to_string(),
        })?;
        self.find(tenant, PaymentRef::Id(first.payment_id), options)
            .await
    }

    /// The account's payments, oldest first.
    pub async fn list_for_account(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        options: ReadOptions,
    ) -> Result<Vec<PaymentView>, ServiceError> {
        let found = {
            let work = self.inner.db.read().await?;
            let client = work.client();
            find_account(client, tenant.record_id, account_id).await?;
            payments::find_payments_by_account(client, tenant.record_id, account_id).await?
        };
        self.views(tenant, found, options).await
    }

    /// One page of the tenant's payments (or of those matching `search`): the views and the
    /// count of matching payments, and of all payments.
    pub async fn page(
        &self,
        tenant: &Tenant,
        search: Option<&str>,
        offset: i64,
        limit: i64,
        options: ReadOptions,
    ) -> Result<(Vec<PaymentView>, i64, i64), ServiceError> {
        let (found, matching, total) = {
            let work = self.inner.db.read().await?;
            let connection = work.client();
            let descending = limit < 0;
            // `limit=-9223372036854775808` is a valid Long: saturate rather than overflow.
            let found = payments::search(search)
                .page(
                    connection,
                    tenant.record_id,
                    offset,
                    limit.saturating_abs(),
                    descending,
                )
                .await?;
            let matching = payments::search(search)
                .count(connection, tenant.record_id)
                .await?;
            let total = match search {
                Some(_) => {
                    payments::search(None)
                        .count(connection, tenant.record_id)
                        .await?
                }
                None => matching,
            };
            (found, matching, total)
        };
        let views = self.views(tenant, found, options).await?;
        Ok((views, matching, total))
    }

    async fn views(
        &self,
        tenant: &Tenant,
        found: Vec<PaymentRecord>,
        options: ReadOptions,
    ) -> Result<Vec<PaymentView>, ServiceError> {
        // The plugin is asked (and open outcomes repaired) before a connection is taken: a
        // unit of work never waits for a plugin.
        let mut plugin_infos: HashMap<Uuid, Vec<PaymentTransactionInfo>> = HashMap::new();
        if options.with_plugin_info {
            for payment in &found {
                janitor::repair_payment(self, tenant, payment).await?;
                let info = self.plugin_info(tenant, payment).await.unwrap_or_default();
                plugin_infos.insert(payment.id, info);
            }
        }
        let work = self.inner.db.read().await?;
        let connection = work.client();
        let ids: Vec<Uuid> = found.iter().map(|payment| payment.id).collect();
        // Re-read after a repair so the view shows the repaired state.
        let found = if options.with_plugin_info {
            let mut repaired = payments::PAYMENT_TABLE
                .find_by_ids(connection, tenant.record_id, &ids)
                .await?
                .into_iter()
                .map(|payment| (payment.id, payment))
                .collect::<HashMap<_, _>>();
            found
                .into_iter()
                .map(|payment| repaired.remove(&payment.id).unwrap_or(payment))
                .collect()
        } else {
            found
        };
        let mut transactions = payments::find_transactions_by_payments(connection, &ids).await?;
        let payment_ids: Vec<i64> = found.iter().map(|payment| payment.record_id).collect();
        let transaction_ids: Vec<i64> = transactions
            .iter()
            .map(|transaction| transaction.record_id)
            .collect();
        let mut payment_trails = audit_trails(
            connection,
            AuditedTable::Payment,
            tenant.record_id,
            &payment_ids,
            options.audit,
        )
        .await?;
        let mut transaction_trails = audit_trails(
            connection,
            AuditedTable::PaymentTransaction,
            tenant.record_id,
            &transaction_ids,
            options.audit,
        )
        .await?;
        drop(work);
        let mut views = Vec::with_capacity(found.len());
        for payment in found {
            let (own, rest): (Vec<_>, Vec<_>) = transactions
                .into_iter()
                .partition(|transaction| transaction.payment_id == payment.id);
            transactions = rest;
            let transaction_audit_logs = own
                .iter()
                .filter_map(|transaction| {
                    transaction_trails
                        .remove(&transaction.record_id)
                        .map(|logs| (transaction.record_id, logs))
                })
                .collect();
            views.push(PaymentView {
                audit_logs: payment_trails
                    .remove(&payment.record_id)
                    .unwrap_or_default(),
                plugin_info: plugin_infos.remove(&payment.id),
                payment,
                transactions: own,
                transaction_audit_logs,
            });
        }
        Ok(views)
    }

    /// The plugin's answers about `payment`, asked directly (not through the executor), as
    /// Kill Bill's janitor does.
    async fn plugin_info(
        &self,
        tenant: &Tenant,
        payment: &PaymentRecord,
    ) -> Result<Vec<PaymentTransactionInfo>, ServiceError> {
        let plugin_name = {
            let work = self.inner.db.read().await?;
            payment_methods::TABLE
                .find_by_id(work.client(), tenant.record_id, payment.payment_method_id)
                .await?
                .map(|method| method.plugin_name)
        };
        let Some(plugin) = plugin_name.and_then(|name| self.inner.plugins.get(&name)) else {
            return Ok(Vec::new());
        };
        plugin
            .get_payment_info(tenant.id, payment.account_id, payment.id, &[])
            .await
            .map_err(|error| ServiceError::PaymentPluginException(error.0))
    }
}
