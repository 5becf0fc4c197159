//! The payment operations that act on a transaction already recorded, each as Kill Bill's
//! PaymentApi, JaxRsResourceBase and AdminPaymentApi do it:
//!
//! - [`PaymentService::notify_state_changed`]: a gateway says a PENDING transaction succeeded
//!   or failed (notifyPendingTransactionOfStateChanged): the plugin is not asked, the
//!   transaction takes the outcome, with its bus event;
//! - [`PaymentService::complete`]: `PUT /payments`: the PENDING transaction the body names is
//!   run again through its plugin (a SUCCESS one is left as it is);
//! - [`PaymentService::cancel_scheduled`]: cancelling the retry of a payment attempt, of which
//!   there are none without control plugins;
//! - [`PaymentService::fix_transaction_state`]: the admin's repair of a stuck transaction.
//!
//! Each goes through [`PaymentService::perform`] (and so the account's lock) where Kill Bill
//! runs its state machine; the admin repair writes in one transaction of its own, as Kill
//! Bill's does. No SQL here, no HTTP.

use uuid::Uuid;

use super::state;
use super::{
    unknown_payment, unknown_transaction, OperationResult, PaymentRef, PaymentRequest,
    PaymentService, Target,
};
use crate::bus::internal_events::{
    PaymentErrorInternalEvent, PaymentEventData, PaymentInfoInternalEvent,
    PaymentPluginErrorInternalEvent,
};
use crate::domain::payments::{TransactionStatus, TransactionType};
use crate::service::now_in_millis;
use crate::service::tenants::Tenant;
use crate::service::{CallContext, ServiceError};
use crate::storage::payments::{self, PaymentLookup, TransactionOutcome, TransactionRecord};
use crate::storage::StorageError;

/// How a completion names the transaction to complete (the body of `PUT /payments`); all
/// unset names the payment's only PENDING (or SUCCESS) transaction.
#[derive(Debug, Clone, Default)]
pub struct CompletionFilter {
    pub transaction_id: Option<Uuid>,
    pub transaction_external_key: Option<String>,
    pub transaction_type: Option<TransactionType>,
}

/// What the admin sets on a transaction (AdminPaymentJson); unset states are derived as Kill
/// Bill derives them.
#[derive(Debug, Clone)]
pub struct StateFix {
    pub transaction_status: TransactionStatus,
    pub last_success_payment_state: Option<String>,
    pub current_payment_state_name: Option<String>,
}

impl PaymentService {
    /// A gateway's word on a PENDING transaction: `success` records it SUCCESS, otherwise
    /// PAYMENT_FAILURE, without asking the plugin. `payment_id` is the payment the caller names
    /// (it must exist); the transaction's own payment is the one changed.
    pub async fn notify_state_changed(
        &self,
        tenant: &Tenant,
        payment_id: Uuid,
        transaction_id: Uuid,
        success: bool,
        context: &CallContext,
    ) -> Result<OperationResult, ServiceError> {
        let (named, found) = {
            let work = self.inner.db.read().await?;
            let client = work.client();
            let named =
                payments::find_payment(client, tenant.record_id, PaymentLookup::Id(payment_id))
                    .await?;
            let found =
                payments::find_transaction_with_payment(client, tenant.record_id, transaction_id)
                    .await?;
            (named, found)
        };
        if named.is_none() {
            return Err(unknown_payment(payment_id));
        }
        let found = found.ok_or(unknown_transaction(transaction_id))?;
        let transaction = found.transaction;
        let kind = transaction.transaction_type;
        let mut request = PaymentRequest::of(kind);
        request.transaction_id = Some(transaction.id);
        request.transaction_external_key = Some(transaction.external_key.clone());
        request.amount = transaction.amount;
        request.currency = transaction.currency.clone();
        request.override_status = Some(if success {
            TransactionStatus::Success
        } else {
            TransactionStatus::PaymentFailure
        });
        // Whether it is still PENDING is decided under the account's lock (7024 otherwise).
        self.perform(
            tenant,
            Target::Payment(PaymentRef::Id(found.payment.id)),
            request,
            context,
        )
        .await
    }

    /// Completes the payment's PENDING transaction that `filter` names, through its plugin, as
    /// Kill Bill's `completeTransactionInternal`: a SUCCESS transaction is already complete
    /// and nothing happens; whatever the outcome, the caller answers 204.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete(
        &self,
        tenant: &Tenant,
        payment: PaymentRef,
        filter: CompletionFilter,
        amount: Option<rust_decimal::Decimal>,
        currency: Option<String>,
        properties: Vec<crate::plugin::PluginProperty>,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let (found, transactions) = {
            let work = self.inner.db.read().await?;
            let client = work.client();
            let lookup = match &payment {
                PaymentRef::Id(id) => PaymentLookup::Id(*id),
                PaymentRef::ExternalKey(key) => PaymentLookup::ExternalKey(key),
            };
            let found = payments::find_payment(client, tenant.record_id, lookup).await?;
            let transactions =
                payments::find_transactions_of_payment(client, tenant.record_id, lookup).await?;
            (found, transactions)
        };
        let found = found.ok_or_else(|| ServiceError::PaymentNotFound {
            id: payment.to_string(),
        })?;
        let pending = pending_or_success(found.id, &transactions, &filter)?;
        if pending.status == TransactionStatus::Success {
            return Ok(());
        }
        let mut request = PaymentRequest::of(pending.transaction_type);
        request.transaction_id = Some(pending.id);
        request.transaction_external_key = Some(pending.external_key.clone());
        request.amount = amount;
        request.currency = currency;
        request.properties = properties;
        self.perform(
            tenant,
            Target::Payment(PaymentRef::Id(found.id)),
            request,
            context,
        )
        .await?;
        Ok(())
    }

    /// Cancels the scheduled retry of the last payment attempt of a transaction (by id) or of
    /// a transaction external key. Without control plugins there are no attempts, so there is
    /// nothing to cancel; an id must still name a transaction of the tenant.
    pub async fn cancel_scheduled(
        &self,
        tenant: &Tenant,
        transaction: TransactionRefForCancel<'_>,
    ) -> Result<(), ServiceError> {
        match transaction {
            TransactionRefForCancel::Id(id) => {
                self.read_transaction(tenant, id)
                    .await?
                    .ok_or(unknown_transaction(id))?;
                Ok(())
            }
            TransactionRefForCancel::ExternalKey(Some(_)) => Ok(()),
            TransactionRefForCancel::ExternalKey(None) => {
                Err(ServiceError::PaymentInvalidParameter {
                    name: "paymentTransactionExternalKey".to_string(),
                    reason: "should not be null".to_string(),
                })
            }
        }
    }

    /// Kill Bill's AdminPaymentApi.fixPaymentTransactionState: sets the transaction's status
    /// (processed amount: its amount when SUCCESS or PENDING, else 0; gateway error cleared)
    /// and the payment's current and last successful states, derived when not given; one
    /// transaction with the history, audit rows and bus event of any outcome.
    pub async fn fix_transaction_state(
        &self,
        tenant: &Tenant,
        payment_id: Uuid,
        transaction_id: Uuid,
        fix: StateFix,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let account_id = {
            let work = self.inner.db.read().await?;
            payments::find_payment(
                work.client(),
                tenant.record_id,
                PaymentLookup::Id(payment_id),
            )
            .await?
            .ok_or(unknown_payment(payment_id))?
            .account_id
        };
        // Not to race an operation of this node on the account.
        let _turn = self.inner.local_locks.turn(account_id).await?;
        let work = self.inner.db.begin().await?;
        let client = work.client();
        let lookup = PaymentLookup::Id(payment_id);
        let payment = payments::find_payment(client, tenant.record_id, lookup)
            .await?
            .ok_or(unknown_payment(payment_id))?;
        let transactions =
            payments::find_transactions_of_payment(client, tenant.record_id, lookup).await?;
        let position = transactions
            .iter()
            .position(|transaction| transaction.id == transaction_id)
            .ok_or(unknown_transaction(transaction_id))?;
        let transaction = &transactions[position];
        let kind = transaction.transaction_type;
        let status = fix.transaction_status;
        let current = fix
            .current_payment_state_name
            .unwrap_or_else(|| state::state_after(kind, status));
        let last_success = fix.last_success_payment_state.or_else(|| {
            // Only the payment's last transaction decides its last successful state.
            if position + 1 != transactions.len() {
                return None;
            }
            if state::is_success_state(&current) {
                return Some(current.clone());
            }
            transactions[..position]
                .iter()
                .rev()
                .find(|earlier| earlier.status == TransactionStatus::Success)
                .map(|earlier| {
                    state::state_after(earlier.transaction_type, TransactionStatus::Success)
                })
        });
        let processed = status.is_success_or_pending();
        let outcome = TransactionOutcome {
            status,
            processed_amount: if processed {
                transaction.amount
            } else {
                Some(rust_decimal::Decimal::ZERO)
            },
            processed_currency: transaction.currency.as_deref(),
            gateway_error_code: None,
            gateway_error_msg: None,
        };
        let now = now_in_millis();
        let audit = context.audit(tenant.record_id, Some(payment.account_record_id));
        let event = PaymentEventData {
            account_id,
            payment_id,
            payment_transaction_id: transaction.id,
            amount: outcome
                .processed_amount
                .unwrap_or_default()
                .normalize()
                .to_string(),
            currency: transaction.currency.clone().unwrap_or_default(),
            status: status.as_str().to_string(),
            transaction_type: kind.as_str().to_string(),
            effective_date: Some(transaction.effective_date),
            account_record_id: payment.account_record_id,
            tenant_record_id: tenant.record_id,
        };
        let mut posted = self.inner.main_bus.posted();
        let token = context.user_token;
        let ((), _, (), ()) = crate::db::sql::pipelined(async {
            tokio::try_join!(
                async {
                    payments::update_transaction_outcome(
                        client,
                        transaction.id,
                        &outcome,
                        now,
                        &audit,
                    )
                    .await
                    .map(|_| ())
                    .map_err(ServiceError::from)
                },
                async {
                    payments::overwrite_payment_state(
                        client,
                        payment.id,
                        &current,
                        last_success.as_deref(),
                        now,
                        &audit,
                    )
                    .await
                    .map_err(ServiceError::from)
                },
                async {
                    let post = match status {
                        TransactionStatus::Success | TransactionStatus::Pending => {
                            posted
                                .post(&work, &PaymentInfoInternalEvent(event), token)
                                .await
                        }
                        TransactionStatus::PaymentFailure => {
                            posted
                                .post(&work, &PaymentErrorInternalEvent(event), token)
                                .await
                        }
                        TransactionStatus::PluginFailure | TransactionStatus::Unknown => {
                            posted
                                .post(&work, &PaymentPluginErrorInternalEvent(event), token)
                                .await
                        }
                    };
                    post.map(|_| ()).map_err(ServiceError::from)
                },
                async {
                    work.commit()
                        .await
                        .map_err(|error| ServiceError::from(StorageError::from(error)))
                },
            )
        })
        .await?;
        drop(work);
        posted.committed().await;
        Ok(())
    }
}

/// Which transaction a cancellation names: its id, or its external key (`None`: the query
/// parameter is missing).
#[derive(Debug, Clone, Copy)]
pub enum TransactionRefForCancel<'a> {
    Id(Uuid),
    ExternalKey(Option<&'a str>),
}

/// Kill Bill's lookupPendingOrSuccessTransaction: the one PENDING or SUCCESS transaction the
/// filter names; none is 7031 naming the most specific filter, several is 7019.
fn pending_or_success(
    payment_id: Uuid,
    transactions: &[TransactionRecord],
    filter: &CompletionFilter,
) -> Result<TransactionRecord, ServiceError> {
    let matching: Vec<&TransactionRecord> = transactions
        .iter()
        .filter(|transaction| {
            transaction.status.is_success_or_pending()
                && filter.transaction_id.is_none_or(|id| id == transaction.id)
                && filter
                    .transaction_external_key
                    .as_deref()
                    .is_none_or(|key| key == transaction.external_key)
                && filter
                    .transaction_type
                    .is_none_or(|kind| kind == transaction.transaction_type)
        })
        .collect();
    match matching.as_slice() {
        [only] => Ok((*only).clone()),
        [] => {
            let (name, value) = if let Some(id) = filter.transaction_id {
                ("transactionId", id.to_string())
            } else if let Some(key) = &filter.transaction_external_key {
                ("transactionExternalKey", key.clone())
            } else if let Some(kind) = filter.transaction_type {
                ("transactionType", kind.as_str().to_string())
            } else {
                ("paymentId", payment_id.to_string())
            };
            Err(ServiceError::PaymentInvalidParameter {
                name: name.to_string(),
                reason: value,
            })
        }
        _ => Err(ServiceError::PaymentCompletionAmbiguous { payment_id }),
    }
}
