//! Payments: authorize, capture, purchase, void, refund and credit through the payment plugins,
//! with Kill Bill's state machine, idempotency by external keys, per-account serialization, and
//! the janitor that repairs outcomes a plugin did not give in time.
//!
//! An operation that calls out is written as Kill Bill writes it (internals.md §5.2): a first
//! transaction records the payment and the transaction as UNKNOWN, the plugin is called outside
//! any transaction (on the plugin executor, under the account's lock), and a second transaction
//! records the outcome with its history, audit and bus event. A crash between the two leaves an
//! UNKNOWN transaction for the janitor, never a charge without a record. A plugin that answers
//! without waiting for anything (`__EXTERNAL_PAYMENT__`) has nothing to lose in a crash, so its
//! operations are one transaction with the same rows (docs/compatibility.md).
//!
//! | file        | owns                                                                   |
//! |-------------|------------------------------------------------------------------------|
//! | `mod.rs`    | the service and the order of an operation's steps                       |
//! | [`prepare`] | the reads under the account's lock and the rules deciding from them     |
//! | `record`    | what each of the operation's transactions writes                        |
//! | `read`      | payment reads and searches                                              |
//! | `lock`      | the per-node queue on an account                                        |
//! | `janitor`   | repairing open outcomes                                                 |
//!
//! This module owns those rules. It never writes SQL (storage does) nor knows about HTTP.

mod janitor;
mod lock;
pub mod money;
mod operations;
mod prepare;
mod read;
mod record;
pub mod state;
mod totals;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tokio::time::Instant;
use uuid::Uuid;

use self::lock::LocalAccountLocks;
pub use self::operations::{CompletionFilter, StateFix, TransactionRefForCancel};
use self::prepare::{FreshIds, Loaded};
use self::record::{Started, Written};
pub use self::totals::PaymentTotals;
use super::{AuditLevel, CallContext, ServiceError};
use crate::bus::nodes::NodeMonitor;
use crate::bus::notifications::NotificationQueueService;
use crate::bus::Bus;
use crate::config::PaymentConfig;
use crate::db::work::Db;
use crate::domain::payments::{TransactionStatus, TransactionType};
use crate::plugin::{
    process_payment, ExecutorError, PaymentCall, PaymentPluginApi, PaymentTransactionInfo,
    PluginExecutor, PluginProperty, PluginRegistry,
};
use crate::profiling::{measure, Category::Glock, Category::Plugin};
use crate::service::tenants::{Tenant, TenantDirectory};
use crate::storage::accounts;
use crate::storage::audit::AuditLogRecord as AuditLog;
use crate::storage::payments::{self, PaymentLookup};

pub use crate::storage::payments::PaymentRecord as Payment;
pub use crate::storage::payments::TransactionRecord as Transaction;

/// Kill Bill's pause between two tries of a lock another node holds.
const LOCK_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Which account a new payment is for.
#[derive(Debug, Clone)]
pub enum AccountRef {
    Id(Uuid),
    ExternalKey(String),
}

/// Which payment a follow-up operation (capture, refund, void) is for.
#[derive(Debug, Clone)]
pub enum PaymentRef {
    Id(Uuid),
    ExternalKey(String),
}

/// Where an operation lands.
#[derive(Debug, Clone)]
pub enum Target {
    Account(AccountRef),
    Payment(PaymentRef),
}

/// One operation as the caller asked for it.
#[derive(Debug, Clone)]
pub struct PaymentRequest {
    pub transaction_type: TransactionType,
    /// Required except for a void.
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub effective_date: Option<DateTime<Utc>>,
    pub payment_external_key: Option<String>,
    pub transaction_external_key: Option<String>,
    pub payment_method_id: Option<Uuid>,
    pub properties: Vec<PluginProperty>,
    /// The transaction to complete, when the caller names it (a completion or a gateway's
    /// notification); a PENDING transaction with the request's key is completed too.
    pub transaction_id: Option<Uuid>,
    /// Kill Bill's `overridePluginOperationResult`: the outcome is this status and the plugin
    /// is not called (notifyStateChanged, chargeback reversals).
    pub override_status: Option<TransactionStatus>,
}

impl PaymentRequest {
    /// An operation of `transaction_type` with nothing else set.
    pub fn of(transaction_type: TransactionType) -> PaymentRequest {
        PaymentRequest {
            transaction_type,
            amount: None,
            currency: None,
            effective_date: None,
            payment_external_key: None,
            transaction_external_key: None,
            payment_method_id: None,
            properties: Vec::new(),
            transaction_id: None,
            override_status: None,
        }
    }

    /// A chargeback reversal: a CHARGEBACK recorded as failed with the reversed one's key.
    pub fn is_chargeback_reversal(&self) -> bool {
        self.transaction_type == TransactionType::Chargeback
            && self.override_status == Some(TransactionStatus::PaymentFailure)
    }
}

/// What a payment read asks for besides the payment itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Ask the plugin (and repair open transactions on the fly).
    pub with_plugin_info: bool,
    pub audit: AuditLevel,
}

/// A payment with its transactions, as reads serve it.
#[derive(Debug, Clone)]
pub struct PaymentView {
    pub payment: Payment,
    /// In effective date order.
    pub transactions: Vec<Transaction>,
    /// The plugin's answers, when the read asked `withPluginInfo=true`.
    pub plugin_info: Option<Vec<PaymentTransactionInfo>>,
    /// The payment's audit trail at the read's audit level.
    pub audit_logs: Vec<AuditLog>,
    /// Each transaction's audit trail, by transaction record id.
    pub transaction_audit_logs: HashMap<i64, Vec<AuditLog>>,
}

impl PaymentView {
    /// The payment's currency, as Kill Bill's DefaultPayment chooses it.
    pub fn currency(&self) -> Option<&str> {
        totals::payment_currency(&self.transactions)
    }

    pub fn totals(&self) -> PaymentTotals {
        totals::totals(&self.transactions)
    }
}

/// What an operation did: the payment after it and the transaction it wrote.
#[derive(Debug, Clone)]
pub struct OperationResult {
    pub payment: Payment,
    pub transaction: Transaction,
    pub status: TransactionStatus,
}
/// The payment API. Cheap to clone.
#[derive(Clone)]
pub struct PaymentService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    main_bus: Bus,
    notifications: NotificationQueueService,
    plugins: Arc<PluginRegistry>,
    executor: PluginExecutor,
    config: PaymentConfig,
    local_locks: LocalAccountLocks,
    node: String,
    /// Which other nodes are dead: their leases pass to this one.
    nodes: NodeMonitor,
    tenants: TenantDirectory,
    /// Transactions whose plugin call is still running on this node.
    calls_in_flight: CallsInFlight,
}

type CallsInFlight = Arc<parking_lot::Mutex<std::collections::HashSet<Uuid>>>;

impl PaymentService {
    /// The tenant's transaction `transaction_id` with its payment (`None`: unknown), read in a
    /// unit of work of its own that is released before the caller waits for anything.
    async fn read_transaction(
        &self,
        tenant: &Tenant,
        transaction_id: Uuid,
    ) -> Result<Option<payments::OpenTransaction>, ServiceError> {
        let work = self.inner.db.read().await?;
        let client = work.client();
        Ok(
            payments::find_transaction_with_payment(client, tenant.record_id, transaction_id)
                .await?,
        )
    }
}

/// Why the plugin gave no usable answer, for the caller.
enum CallFailure {
    Timeout,
    Exception(String),
}

impl PaymentService {
    pub fn new(
        db: Db,
        main_bus: Bus,
        notifications: NotificationQueueService,
        plugins: Arc<PluginRegistry>,
        tenants: TenantDirectory,
        nodes: NodeMonitor,
        config: PaymentConfig,
    ) -> PaymentService {
        let node = notifications.node().to_string();
        let service = PaymentService {
            inner: Arc::new(Inner {
                db,
                main_bus,
                executor: PluginExecutor::new(config.plugin_threads as usize),
                notifications: notifications.clone(),
                plugins,
                config,
                local_locks: LocalAccountLocks::default(),
                node,
                nodes,
                tenants,
                calls_in_flight: CallsInFlight::default(),
            }),
        };
        janitor::register(&service, &notifications);
        service
    }

    /// The plugin executor, for the dashboard's view of its slots.
    pub fn plugin_executor(&self) -> PluginExecutor {
        self.inner.executor.clone()
    }

    /// Gives back the account leases an earlier run of this node held when it died: a node
    /// restarting under its name knows they are stale. Call once at startup.
    pub async fn release_stale_leases(&self) -> Result<u64, ServiceError> {
        let work = self.inner.db.read().await?;
        let released = payments::release_leases_of_node(work.client(), &self.inner.node).await?;
        if released > 0 {
            tracing::info!(
                released,
                node = self.inner.node,
                "released the account leases of this node's previous run"
            );
        }
        Ok(released)
    }

    /// Starts the janitor's periodic sweep (`org.killbill.payment.janitor.rate`); abort the
    /// handle to stop it.
    pub fn start_janitor_sweep(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(janitor::sweep_forever(self.clone()))
    }

    /// Runs one operation; see the module documentation for its shape. A decline, a plugin
    /// failure or an unknown outcome is a result (the payment records it), not an error; a
    /// plugin exception or timeout is an error, after the UNKNOWN transaction is recorded.
    pub async fn perform(
        &self,
        tenant: &Tenant,
        target: Target,
        request: PaymentRequest,
        context: &CallContext,
    ) -> Result<OperationResult, ServiceError> {
        prepare::validate(&request)?;
        let deadline = Instant::now() + self.inner.config.plugin_timeout;
        let (account_id, payment_id) = self.resolve(tenant, &target).await?;

        // Kill Bill counts the wait for the account's lock toward the plugin timeout.
        let waiting = measure(
            Glock,
            "account lock",
            self.inner.local_locks.turn(account_id),
        );
        let turn = match tokio::time::timeout_at(deadline, waiting).await {
            Ok(turn) => turn?,
            Err(_) => return Err(self.timeout_error(tenant, account_id, "").await),
        };
        let (work, loaded) = self
            .lock_account(
                tenant.record_id,
                account_id,
                payment_id,
                &request,
                turn.waited(),
            )
            .await?;
        let decision = prepare::decide(&loaded, &request, FreshIds::draw())?;
        let account = &loaded.account;
        let call = PaymentCall {
            tenant_id: tenant.id,
            account_id: account.id,
            payment_id: decision.payment.id(),
            transaction_id: decision.transaction_id,
            payment_method_id: decision.payment.payment_method_id(),
            amount: decision.amount,
            currency: decision.currency.clone(),
            properties: request.properties.clone(),
        };
        let settled = if let Some(status) = request.override_status {
            // The caller says what happened: the plugin is bypassed, so nothing can be lost
            // between two transactions.
            Some(overridden_outcome(
                &call,
                request.transaction_type,
                status,
                &decision,
            ))
        } else if self.inner.config.settle_in_one_transaction {
            self.inner.plugins.answer_at_once(
                &decision.plugin_name,
                request.transaction_type,
                &call,
            )
        } else {
            None
        };
        if let Some(info) = settled {
            let (written, posted) = record::write_settled(
                &work,
                &self.inner.main_bus,
                tenant,
                account,
                &decision,
                &request,
                &info,
                context,
            )
            .await?;
            drop(work);
            posted.committed().await;
            drop(turn);
            return Ok(OperationResult {
                status: state::status_from_plugin(info.status),
                payment: written.payment,
                transaction: written.transaction,
            });
        }

        let lease_owner = format!("{}:{}", self.inner.node, Uuid::new_v4());
        let lease_expires_at =
            janitor::lease_expiry(&self.inner.config, self.inner.notifications.clock().now());
        let started = record::write_started(
            &work,
            lease_expires_at,
            &self.inner.node,
            tenant,
            account,
            &decision,
            &request,
            &lease_owner,
            context,
        )
        .await;
        drop(work);
        let started = match started {
            Ok(started) => {
                janitor::look_at_displaced(self, tenant, &started);
                started
            }
            Err(error) => {
                if error.is_unavailable() && decision.completing.is_none() {
                    // The first transaction may have committed just before the database went
                    // away; the plugin was never called, so that is what gets recorded. (A
                    // completion wrote nothing: its transaction stays PENDING.)
                    self.settle_later(
                        tenant,
                        decision.transaction_id,
                        TransactionStatus::PluginFailure,
                        None,
                        None,
                        context,
                    );
                }
                return Err(error);
            }
        };

        let call = self.call_plugin(
            &started.plugin_name,
            request.transaction_type,
            call,
            deadline,
        );
        let answer = measure(Plugin, &decision.plugin_name, call).await;
        let (info, failure) = match answer {
            Ok(info) => (Some(info), None),
            Err(ExecutorError::Timeout) => (None, Some(CallFailure::Timeout)),
            Err(ExecutorError::Plugin(error)) => (None, Some(CallFailure::Exception(error.0))),
        };
        let status = info
            .as_ref()
            .map(|info| state::status_from_plugin(info.status))
            .unwrap_or(TransactionStatus::Unknown);
        let written = self
            .record_outcome(tenant, &started, status, info.as_ref(), context)
            .await;
        drop(turn);
        let written = match written {
            Ok(written) => written,
            Err(error) => {
                if error.is_unavailable() {
                    // The plugin answered: recorded as soon as the database answers again,
                    // with the request's stale lease given back.
                    self.settle_later(
                        tenant,
                        started.transaction.id,
                        status,
                        info,
                        Some(started.transaction.updated_date),
                        context,
                    );
                }
                return Err(error);
            }
        };
        match failure {
            Some(CallFailure::Timeout) => Err(ServiceError::PaymentPluginTimeout {
                account_id: account.id,
                detail: timeout_detail(
                    account.id,
                    &account.data.external_key,
                    &started.plugin_name,
                ),
            }),
            Some(CallFailure::Exception(message)) => {
                Err(ServiceError::PaymentPluginException(message))
            }
            None => Ok(OperationResult {
                payment: written.payment,
                transaction: written.transaction,
                status,
            }),
        }
    }

    /// Takes Kill Bill's lock on the account and reads what the operation needs under it, in
    /// a transaction left open for the operation's writes. Another node holding the account
    /// is waited out holding nothing: retried every 100 ms, `globalLock.retries` times.
    async fn lock_account(
        &self,
        tenant_record_id: i64,
        account_id: Uuid,
        payment_id: Option<Uuid>,
        request: &PaymentRequest,
        waited_for_turn: bool,
    ) -> Result<(crate::db::work::Work, Loaded), ServiceError> {
        // Having queued once behind the account's previous operation, it does not queue again
        // behind fresh requests for a connection.
        let db = if waited_for_turn {
            self.inner.db.resumed()
        } else {
            self.inner.db.clone()
        };
        for attempt in 0..=self.inner.config.global_lock_retries {
            if attempt > 0 {
                tokio::time::sleep(LOCK_RETRY_PAUSE).await;
            }
            let work = db.begin().await?;
            let loaded = prepare::load(
                &work,
                tenant_record_id,
                account_id,
                payment_id,
                request,
                &self.inner.node,
                &self.inner.nodes.dead_nodes(),
            )
            .await?;
            match loaded {
                Some(loaded) if !loaded.lease_held_elsewhere => return Ok((work, loaded)),
                // Rolled back as `work` drops, before the pause.
                _ => continue,
            }
        }
        Err(ServiceError::PaymentLockFailed { account_id })
    }

    /// Records a known outcome of `transaction_id` in the background, once the database
    /// answers again ([`janitor::settle_known`]), if it was not updated since `recorded_at`
    /// (`None`: since it was created).
    fn settle_later(
        &self,
        tenant: &Tenant,
        transaction_id: Uuid,
        status: TransactionStatus,
        info: Option<PaymentTransactionInfo>,
        recorded_at: Option<DateTime<Utc>>,
        context: &CallContext,
    ) {
        tokio::spawn(janitor::settle_known(
            self.clone(),
            tenant.clone(),
            transaction_id,
            status,
            info,
            recorded_at,
            context.clone(),
        ));
    }

    /// Takes over what `node`, found dead, held: its account leases and the transactions they
    /// protected (repaired as the janitor does). Returns how many leases it held.
    pub async fn take_over_node(&self, node: &str) -> Result<usize, ServiceError> {
        janitor::take_over_node(self, node).await
    }

    /// The plugin timeout's error, with the account's external key as Kill Bill words it.
    async fn timeout_error(&self, tenant: &Tenant, account_id: Uuid, plugin: &str) -> ServiceError {
        let external_key = match self.inner.db.read().await {
            Ok(work) => accounts::TABLE
                .find_by_id(work.client(), tenant.record_id, account_id)
                .await
                .ok()
                .flatten()
                .map(|account| account.data.external_key)
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        ServiceError::PaymentPluginTimeout {
            account_id,
            detail: timeout_detail(account_id, &external_key, plugin),
        }
    }

    /// The account an operation is for and, for a follow-up, the payment's id. An account
    /// named by id is not read here: the operation reads it under its lock.
    async fn resolve(
        &self,
        tenant: &Tenant,
        target: &Target,
    ) -> Result<(Uuid, Option<Uuid>), ServiceError> {
        if let Target::Account(AccountRef::Id(id)) = target {
            return Ok((*id, None));
        }
        let work = self.inner.db.read().await?;
        let client = work.client();
        match target {
            Target::Account(AccountRef::Id(id)) => Ok((*id, None)),
            Target::Account(AccountRef::ExternalKey(key)) => {
                let account = accounts::TABLE
                    .find_by_external_key(client, tenant.record_id, key)
                    .await?
                    .ok_or_else(|| ServiceError::AccountNotFoundForKey {
                        external_key: key.clone(),
                    })?;
                Ok((account.id, None))
            }
            Target::Payment(reference) => {
                let lookup = match reference {
                    PaymentRef::Id(id) => PaymentLookup::Id(*id),
                    PaymentRef::ExternalKey(key) => PaymentLookup::ExternalKey(key),
                };
                let payment = payments::find_payment(client, tenant.record_id, lookup)
                    .await?
                    .ok_or_else(|| ServiceError::PaymentNotFound {
                        id: reference.to_string(),
                    })?;
                Ok((payment.account_id, Some(payment.id)))
            }
        }
    }

    async fn call_plugin(
        &self,
        plugin_name: &str,
        transaction_type: TransactionType,
        call: PaymentCall,
        deadline: Instant,
    ) -> Result<PaymentTransactionInfo, ExecutorError> {
        let plugin: Arc<dyn PaymentPluginApi> = match self.inner.plugins.get(plugin_name) {
            Some(plugin) => plugin,
            None => {
                return Err(ExecutorError::Plugin(crate::plugin::PluginError(format!(
                    "Payment plugin {plugin_name} is not registered"
                ))))
            }
        };
        let what = format!(
            "{} of payment {} on plugin {plugin_name}",
            transaction_type.as_str(),
            call.payment_id
        );
        let calls = self.inner.calls_in_flight.clone();
        let transaction_id = call.transaction_id;
        calls.lock().insert(transaction_id);
        self.inner
            .executor
            .run(deadline, what, async move {
                let result = process_payment(&*plugin, transaction_type, &call).await;
                // Also after a timeout: only then may the janitor conclude anything from the
                // plugin's silence about this transaction.
                calls.lock().remove(&transaction_id);
                result
            })
            .await
    }

    /// Whether this node still runs a plugin call for `transaction_id` (a late one, after its
    /// request timed out).
    fn is_call_in_flight(&self, transaction_id: Uuid) -> bool {
        self.inner.calls_in_flight.lock().contains(&transaction_id)
    }

    /// The second transaction of an operation (or of the janitor's repair), then the events
    /// handed over once the connection is back in the pool. It goes before fresh requests for
    /// its connection: the operation queued once already, and the account's next operations
    /// wait for it.
    async fn record_outcome(
        &self,
        tenant: &Tenant,
        started: &Started,
        status: TransactionStatus,
        info: Option<&PaymentTransactionInfo>,
        context: &CallContext,
    ) -> Result<Written, ServiceError> {
        let work = self.inner.db.resumed().begin().await?;
        let (written, posted) = record::write_outcome(
            &work,
            &self.inner.main_bus,
            &self.inner.notifications,
            &self.inner.config,
            tenant,
            started,
            status,
            info,
            context,
        )
        .await?;
        drop(work);
        posted.committed().await;
        Ok(written)
    }
}

/// The outcome a caller imposed (Kill Bill's DefaultNoOpPaymentInfoPlugin for an overridden
/// result): processed or declined, for what the completed transaction had processed.
fn overridden_outcome(
    call: &PaymentCall,
    transaction_type: TransactionType,
    status: TransactionStatus,
    decision: &prepare::Decision,
) -> PaymentTransactionInfo {
    let plugin_status = match status {
        TransactionStatus::Success => crate::plugin::PaymentPluginStatus::Processed,
        TransactionStatus::Pending => crate::plugin::PaymentPluginStatus::Pending,
        TransactionStatus::PaymentFailure => crate::plugin::PaymentPluginStatus::Error,
        TransactionStatus::PluginFailure => crate::plugin::PaymentPluginStatus::Canceled,
        TransactionStatus::Unknown => crate::plugin::PaymentPluginStatus::Undefined,
    };
    let completed = decision.completing.as_ref();
    PaymentTransactionInfo {
        amount: completed.and_then(|pending| pending.processed_amount),
        currency: completed.and_then(|pending| pending.processed_currency.clone()),
        ..PaymentTransactionInfo::for_call(call, transaction_type, plugin_status)
    }
}

/// A payment id no payment of the tenant has: Kill Bill's ObjectDoesNotExist (its id resolution
/// fails before the payment API is reached).
fn unknown_payment(id: Uuid) -> ServiceError {
    ServiceError::ObjectNotFound {
        object_type: "PAYMENT",
        id,
    }
}

/// A transaction id no transaction of the tenant has: Kill Bill's ObjectDoesNotExist.
fn unknown_transaction(id: Uuid) -> ServiceError {
    ServiceError::ObjectNotFound {
        object_type: "TRANSACTION",
        id,
    }
}

fn timeout_detail(account_id: Uuid, external_key: &str, plugin: &str) -> String {
    format!(
        "Call TIMEOUT for accountId='{account_id}' accountExternalKey='{external_key}' plugin='{plugin}'"
    )
}

impl std::fmt::Display for PaymentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PaymentRef::Id(id) => write!(f, "{id}"),
            PaymentRef::ExternalKey(key) => f.write_str(key),
        }
    }
}
