//! The writes of a payment operation, each in the one transaction it belongs to, its
//! statements sent together with the COMMIT (one round trip):
//!
//! - [`write_settled`]: an operation whose plugin answered at once (`__EXTERNAL_PAYMENT__`,
//!   chargebacks): the payment and transaction in their final state, with the history and
//!   audit rows Kill Bill's two transactions leave, and the bus event.
//! - [`write_started`]: the first transaction of an operation that calls out: the account's
//!   lease, the payment (when new) and the transaction as UNKNOWN.
//! - [`write_outcome`]: the second one: the outcome, the payment's state, the bus event, a
//!   janitor notification while the outcome is open, and the lease given back.
//!
//! This file owns what each transaction contains; the SQL is storage's and the rules are
//! `prepare`'s.

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::janitor;
use super::lock::lock_name;
use super::prepare::{Decision, PaymentPlan};
use super::state;
use super::{Payment, PaymentRequest, Transaction};
use crate::bus::internal_events::{
    PaymentErrorInternalEvent, PaymentEventData, PaymentInfoInternalEvent,
    PaymentPluginErrorInternalEvent,
};
use crate::bus::notifications::NotificationQueueService;
use crate::bus::{Bus, PostedEvents};
use crate::config::PaymentConfig;
use crate::db::work::Work;
use crate::domain::payments::{TransactionStatus, TransactionType};
use crate::plugin::PaymentTransactionInfo;
use crate::service::tenants::Tenant;
use crate::service::{now_in_millis, CallContext, ServiceError};
use crate::storage::accounts::AccountRecord;
use crate::storage::payments::{
    self, Lease, NewTransaction, PaymentRecord, TransactionOutcome, TransactionRecord,
};
use crate::storage::AuditContext;
use crate::storage::StorageError;

/// An operation between its two transactions: what the second one needs.
#[derive(Debug, Clone)]
pub(super) struct Started {
    pub account: AccountRecord,
    pub payment: Payment,
    pub transaction: Transaction,
    pub plugin_name: String,
    /// Who holds the account's lease until the outcome is recorded.
    pub lease_owner: String,
    /// The open transaction of another node (dead, or its lease expired) whose lease on the
    /// account this one replaced: nobody finds it through its lease any more.
    pub displaced: Option<uuid::Uuid>,
}

/// What an operation wrote: the payment and its new transaction, as stored.
#[derive(Debug, Clone)]
pub(super) struct Written {
    pub payment: Payment,
    pub transaction: Transaction,
}

/// The outcome of a plugin call as the transaction records it.
struct Outcome<'a> {
    status: TransactionStatus,
    processed_amount: Option<Decimal>,
    processed_currency: Option<String>,
    info: Option<&'a PaymentTransactionInfo>,
}

impl<'a> Outcome<'a> {
    /// Kill Bill keeps the plugin's amount for a processed or pending transaction and records
    /// nothing processed otherwise.
    fn new(
        status: TransactionStatus,
        info: Option<&'a PaymentTransactionInfo>,
        amount: Option<Decimal>,
        currency: Option<&str>,
    ) -> Outcome<'a> {
        let processed = matches!(
            status,
            TransactionStatus::Success | TransactionStatus::Pending
        );
        Outcome {
            status,
            processed_amount: if processed {
                info.and_then(|info| info.amount).or(amount)
            } else {
                Some(Decimal::ZERO)
            },
            processed_currency: info
                .and_then(|info| info.currency.clone())
                .or_else(|| currency.map(str::to_string)),
            info,
        }
    }

    fn columns(&self) -> TransactionOutcome<'_> {
        TransactionOutcome {
            status: self.status,
            processed_amount: self.processed_amount,
            processed_currency: self.processed_currency.as_deref(),
            gateway_error_code: self
                .info
                .and_then(|info| info.gateway_error_code.as_deref()),
            gateway_error_msg: self.info.and_then(|info| info.gateway_error.as_deref()),
        }
    }
}

/// One operation, recorded in the transaction `work` has open, then committed: the plugin
/// answered `info` without waiting for anything.
#[allow(clippy::too_many_arguments)]
pub(super) async fn write_settled(
    work: &Work,
    bus: &Bus,
    tenant: &Tenant,
    account: &AccountRecord,
    decision: &Decision,
    request: &PaymentRequest,
    info: &PaymentTransactionInfo,
    context: &CallContext,
) -> Result<(Written, PostedEvents), ServiceError> {
    let kind = request.transaction_type;
    let now = now_in_millis();
    let audit = context.audit(tenant.record_id, Some(account.record_id));
    let status = state::status_from_plugin(info.status);
    let outcome = Outcome::new(
        status,
        Some(info),
        decision.amount,
        decision.currency.as_deref(),
    );
    let state_name = state::state_after(kind, status);
    let last_success = state::is_success_state(&state_name).then_some(state_name.as_str());
    let new_transaction = new_transaction(decision, request, account, now);
    let effective_date = match &decision.completing {
        Some(pending) => pending.effective_date,
        None => new_transaction.effective_date,
    };
    let event = event_data(
        tenant,
        account,
        decision.payment.id(),
        decision.transaction_id,
        kind,
        &outcome,
        decision.amount,
        decision.currency.as_deref(),
        effective_date,
    );
    let client = work.client();
    let mut posted = bus.posted();
    if let (Some(pending), PaymentPlan::Existing(payment)) =
        (&decision.completing, &decision.payment)
    {
        // A completion updates the PENDING transaction and the payment's state, as Kill Bill's
        // processPaymentInfoPlugin does; nothing is inserted.
        let ((transaction, payment), (), ()) = crate::db::sql::pipelined(async {
            tokio::try_join!(
                update_outcome_and_state(
                    client,
                    (pending.id, &outcome),
                    (payment.id, &state_name, last_success),
                    now,
                    &audit,
                ),
                post_payment_event(&mut posted, work, status, event, context),
                commit(work),
            )
        })
        .await?;
        return Ok((
            Written {
                payment,
                transaction,
            },
            posted,
        ));
    }
    let write_payment = async {
        let written = match &decision.payment {
            PaymentPlan::New(new) => {
                payments::insert_settled_payment(
                    client,
                    &new.row(account),
                    &state_name,
                    last_success,
                    now,
                    &audit,
                )
                .await
            }
            // Kill Bill updates (and audits) the payment when a transaction is added to it,
            // and again when the outcome is recorded.
            PaymentPlan::Existing(payment) => tokio::try_join!(
                payments::touch_payment(client, payment.record_id, now, &audit),
                payments::update_payment_state(
                    client,
                    payment.id,
                    &state_name,
                    last_success,
                    now,
                    &audit,
                ),
            )
            .map(|(_, updated)| updated),
        };
        written.map_err(|error| payment_key_conflict(error, &decision.payment))
    };
    let write_transaction = async {
        payments::insert_settled_transaction(
            client,
            &new_transaction,
            &outcome.columns(),
            now,
            &audit,
        )
        .await
        .map_err(ServiceError::from)
    };
    let (payment, transaction, (), ()) = crate::db::sql::pipelined(async {
        tokio::try_join!(
            write_payment,
            write_transaction,
            post_payment_event(&mut posted, work, status, event, context),
            commit(work),
        )
    })
    .await?;
    Ok((
        Written {
            payment,
            transaction,
        },
        posted,
    ))
}

/// The first transaction of an operation that calls out, in `work`, then committed: the
/// account's lease for `lease_owner`, the payment when new, and the transaction as UNKNOWN.
#[allow(clippy::too_many_arguments)]
pub(super) async fn write_started(
    work: &Work,
    lease_expires_at: DateTime<Utc>,
    node: &str,
    tenant: &Tenant,
    account: &AccountRecord,
    decision: &Decision,
    request: &PaymentRequest,
    lease_owner: &str,
    context: &CallContext,
) -> Result<Started, ServiceError> {
    let now = now_in_millis();
    let audit = context.audit(tenant.record_id, Some(account.record_id));
    let lock = lock_name(account.id);
    let new_transaction = new_transaction(decision, request, account, now);
    let client = work.client();
    let write_payment = async {
        match &decision.payment {
            PaymentPlan::New(new) => {
                payments::insert_payment(client, &new.row(account), now, &audit)
                    .await
                    .map_err(|error| payment_key_conflict(error, &decision.payment))
            }
            // Kill Bill updates (and audits) the payment when a transaction is added to it.
            PaymentPlan::Existing(payment) => {
                payments::touch_payment(client, payment.record_id, now, &audit)
                    .await
                    .map_err(ServiceError::from)
            }
        }
    };
    // The account's lease, protecting the transaction `transaction_id` until the outcome.
    let lease = |transaction_id| Lease {
        lock_name: &lock,
        owner: lease_owner,
        node,
        expires_at: lease_expires_at,
        transaction: Some((tenant.record_id, transaction_id)),
    };
    if let (Some(pending), PaymentPlan::Existing(payment)) =
        (&decision.completing, &decision.payment)
    {
        // Completing a PENDING transaction writes nothing before the plugin answers.
        let (displaced, ()) = crate::db::sql::pipelined(async {
            tokio::try_join!(
                async {
                    payments::take_lease(client, &lease(pending.id))
                        .await
                        .map_err(ServiceError::from)
                },
                commit(work),
            )
        })
        .await?;
        return Ok(Started {
            account: account.clone(),
            payment: payment.clone(),
            transaction: pending.clone(),
            plugin_name: decision.plugin_name.clone(),
            lease_owner: lease_owner.to_string(),
            displaced: displaced.map(|(_, transaction_id)| transaction_id),
        });
    }
    let (displaced, payment, transaction, ()) = crate::db::sql::pipelined(async {
        tokio::try_join!(
            async {
                payments::take_lease(client, &lease(decision.transaction_id))
                    .await
                    .map_err(ServiceError::from)
            },
            write_payment,
            async {
                payments::insert_transaction(client, &new_transaction, now, &audit)
                    .await
                    .map_err(ServiceError::from)
            },
            commit(work),
        )
    })
    .await?;
    Ok(Started {
        account: account.clone(),
        payment,
        transaction,
        plugin_name: decision.plugin_name.clone(),
        lease_owner: lease_owner.to_string(),
        displaced: displaced.map(|(_, transaction_id)| transaction_id),
    })
}

/// The second transaction, in `work`, then committed: records `status` (and what the plugin
/// said in `info`) for `started`, with the payment's state, the bus event, a janitor
/// notification while the outcome is open, and the lease given back.
#[allow(clippy::too_many_arguments)]
pub(super) async fn write_outcome(
    work: &Work,
    bus: &Bus,
    notifications: &NotificationQueueService,
    config: &PaymentConfig,
    tenant: &Tenant,
    started: &Started,
    status: TransactionStatus,
    info: Option<&PaymentTransactionInfo>,
    context: &CallContext,
) -> Result<(Written, PostedEvents), ServiceError> {
    let now = now_in_millis();
    let kind = started.transaction.transaction_type;
    let recorded = &started.transaction;
    let outcome = Outcome::new(status, info, recorded.amount, recorded.currency.as_deref());
    let audit = context.audit(tenant.record_id, Some(started.account.record_id));
    let state_name = state::state_after(kind, status);
    let last_success = state::is_success_state(&state_name).then_some(state_name.as_str());
    let event = event_data(
        tenant,
        &started.account,
        started.payment.id,
        recorded.id,
        kind,
        &outcome,
        recorded.amount,
        recorded.currency.as_deref(),
        recorded.effective_date,
    );
    let client = work.client();
    let mut posted = bus.posted();
    let schedule_janitor = async {
        if status.is_open() {
            janitor::schedule(
                notifications,
                work,
                config,
                recorded.id,
                status,
                1,
                started.account.record_id,
                tenant.record_id,
                context.user_token,
            )
            .await?;
        }
        Ok::<(), ServiceError>(())
    };
    let lock = lock_name(started.account.id);
    let ((transaction, payment), (), (), (), ()) = crate::db::sql::pipelined(async {
        tokio::try_join!(
            update_outcome_and_state(
                client,
                (recorded.id, &outcome),
                (started.payment.id, &state_name, last_success),
                now,
                &audit,
            ),
            post_payment_event(&mut posted, work, status, event, context),
            schedule_janitor,
            async {
                payments::release_lease(client, &lock, &started.lease_owner)
                    .await
                    .map_err(ServiceError::from)
            },
            commit(work),
        )
    })
    .await?;
    Ok((
        Written {
            payment,
            transaction,
        },
        posted,
    ))
}

/// A recorded transaction's outcome and its payment's state after it (Kill Bill's
/// processPaymentInfoPlugin), joined so that inside a pipeline the two updates are sent in
/// this order.
async fn update_outcome_and_state(
    client: &Object,
    (transaction_id, outcome): (Uuid, &Outcome<'_>),
    (payment_id, state_name, last_success): (Uuid, &str, Option<&str>),
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<(TransactionRecord, PaymentRecord), ServiceError> {
    let columns = outcome.columns();
    let (transaction, payment) = tokio::try_join!(
        payments::update_transaction_outcome(client, transaction_id, &columns, now, audit),
        payments::update_payment_state(client, payment_id, state_name, last_success, now, audit),
    )?;
    Ok((transaction, payment))
}

/// Kill Bill's PaymentInfo / PaymentError / PaymentPluginError internal event, by status.
async fn post_payment_event(
    posted: &mut PostedEvents,
    work: &Work,
    status: TransactionStatus,
    data: PaymentEventData,
    context: &CallContext,
) -> Result<(), ServiceError> {
    let token = context.user_token;
    let post = match status {
        TransactionStatus::Success | TransactionStatus::Pending => {
            posted
                .post(work, &PaymentInfoInternalEvent(data), token)
                .await
        }
        TransactionStatus::PaymentFailure => {
            posted
                .post(work, &PaymentErrorInternalEvent(data), token)
                .await
        }
        TransactionStatus::PluginFailure | TransactionStatus::Unknown => {
            posted
                .post(work, &PaymentPluginErrorInternalEvent(data), token)
                .await
        }
    };
    post.map(|_| ()).map_err(ServiceError::from)
}

async fn commit(work: &Work) -> Result<(), ServiceError> {
    work.commit()
        .await
        .map_err(|error| ServiceError::from(StorageError::from(error)))
}

#[allow(clippy::too_many_arguments)]
fn event_data(
    tenant: &Tenant,
    account: &AccountRecord,
    payment_id: uuid::Uuid,
    transaction_id: uuid::Uuid,
    kind: TransactionType,
    outcome: &Outcome<'_>,
    amount: Option<Decimal>,
    currency: Option<&str>,
    effective_date: DateTime<Utc>,
) -> PaymentEventData {
    PaymentEventData {
        account_id: account.id,
        payment_id,
        payment_transaction_id: transaction_id,
        amount: outcome
            .processed_amount
            .or(amount)
            .unwrap_or_default()
            .normalize()
            .to_string(),
        currency: currency.unwrap_or_default().to_string(),
        status: outcome.status.as_str().to_string(),
        transaction_type: kind.as_str().to_string(),
        effective_date: Some(effective_date),
        account_record_id: account.record_id,
        tenant_record_id: tenant.record_id,
    }
}

fn new_transaction<'a>(
    decision: &'a Decision,
    request: &PaymentRequest,
    account: &AccountRecord,
    now: DateTime<Utc>,
) -> NewTransaction<'a> {
    NewTransaction {
        id: decision.transaction_id,
        payment_id: decision.payment.id(),
        external_key: &decision.transaction_external_key,
        transaction_type: request.transaction_type,
        effective_date: request.effective_date.unwrap_or(now),
        amount: request.amount,
        currency: decision.currency.as_deref(),
        account_record_id: account.record_id,
    }
}

/// A new payment whose external key another request took meanwhile.
fn payment_key_conflict(error: StorageError, payment: &PaymentPlan) -> ServiceError {
    match (error, payment) {
        (StorageError::UniqueViolation { constraint }, PaymentPlan::New(new))
            if constraint == payments::PAYMENT_EXTERNAL_KEY_INDEX =>
        {
            ServiceError::PaymentInvalidParameter {
                name: "paymentExternalKey".to_string(),
                reason: format!("{} is already used", new.external_key),
            }
        }
        (other, _) => other.into(),
    }
}

/// How long an account lease lasts: past the operation's own bound (the plugin timeout, twice
/// for the transactions around it), so only a dead node's lease ever expires while held.
pub(super) fn lease_length(config: &PaymentConfig) -> std::time::Duration {
    config.plugin_timeout * 2 + std::time::Duration::from_secs(5)
}
