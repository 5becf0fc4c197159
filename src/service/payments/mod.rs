//! Payments: authorize, capture, purchase, void, refund and credit through the payment plugins,
//! with Kill Bill's state machine, idempotency by external keys, per-account serialization, and
//! the janitor that repairs outcomes a plugin did not give in time.
//!
//! Every operation is written as Kill Bill writes it (internals.md §5.2): a first transaction
//! records the payment and the transaction as UNKNOWN, the plugin is called outside any
//! transaction (on the plugin executor, under the account's lock), and a second transaction
//! records the outcome with its history, audit and bus event. A crash between the two leaves an
//! UNKNOWN transaction for the janitor, never a charge without a record.
//!
//! This module owns those rules. It never writes SQL (storage does) nor knows about HTTP.

mod janitor;
mod lock;
pub mod money;
pub mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rust_decimal::Decimal;
use tokio::time::Instant;
use uuid::Uuid;

use self::lock::{lock_name, LocalAccountLocks};
use self::state::{TransactionStatus, INITIAL_STATE};
use super::{AuditLevel, CallContext, ServiceError};
use crate::bus::internal_events::{
    PaymentErrorInternalEvent, PaymentEventData, PaymentInfoInternalEvent,
    PaymentPluginErrorInternalEvent,
};
use crate::bus::notifications::NotificationQueueService;
use crate::bus::Bus;
use crate::config::PaymentConfig;
use crate::db::pool::DbPool;
use crate::plugin::{
    process_payment, ExecutorError, PaymentCall, PaymentPluginApi, PaymentTransactionInfo,
    PluginExecutor, PluginProperty, PluginRegistry, TransactionType,
};
use crate::profiling::{measure, Category::Glock, Category::Plugin};
use crate::service::tenants::Tenant;
use crate::storage::accounts::{self, AccountRecord};
use crate::storage::audit::{self, AuditLogRecord as AuditLog, AuditedTable};
use crate::storage::payment_methods;
use crate::storage::payments::{
    self, NewPayment, NewTransaction, PaymentRecord, TransactionOutcome, TransactionRecord,
};
use crate::storage::{AuditContext, StorageError};

pub use crate::storage::payments::PaymentRecord as Payment;
pub use crate::storage::payments::TransactionRecord as Transaction;

/// Kill Bill's limit on external keys.
const MAX_EXTERNAL_KEY_CHARS: usize = 255;
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

/// Kill Bill's totals: sums of SUCCESS transactions, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentTotals {
    pub authorized: Decimal,
    pub captured: Decimal,
    pub purchased: Decimal,
    pub refunded: Decimal,
    pub credited: Decimal,
}

impl PaymentView {
    /// The payment's currency: that of its first transaction.
    pub fn currency(&self) -> Option<&str> {
        self.transactions
            .iter()
            .find_map(|transaction| transaction.currency.as_deref())
    }

    pub fn totals(&self) -> PaymentTotals {
        let mut totals = PaymentTotals::default();
        let mut voided = false;
        for transaction in &self.transactions {
            if transaction.status != TransactionStatus::Success.as_str() {
                continue;
            }
            let amount = transaction
                .processed_amount
                .or(transaction.amount)
                .unwrap_or_default();
            match TransactionType::parse(&transaction.transaction_type) {
                Some(TransactionType::Authorize) => totals.authorized += amount,
                Some(TransactionType::Capture) => totals.captured += amount,
                Some(TransactionType::Purchase) => totals.purchased += amount,
                Some(TransactionType::Refund) => totals.refunded += amount,
                Some(TransactionType::Credit) => totals.credited += amount,
                Some(TransactionType::Chargeback) => {
                    // A chargeback takes back what was captured or purchased.
                    if totals.captured > Decimal::ZERO {
                        totals.captured -= amount;
                    } else {
                        totals.purchased -= amount;
                    }
                }
                Some(TransactionType::Void) => voided = true,
                None => {}
            }
        }
        if voided {
            totals.authorized = Decimal::ZERO;
        }
        // DefaultPayment: captured and purchased totals are never negative.
        totals.captured = totals.captured.max(Decimal::ZERO);
        totals.purchased = totals.purchased.max(Decimal::ZERO);
        totals
    }
}

/// What an operation did: the payment after it and the transaction it wrote.
#[derive(Debug, Clone)]
pub struct OperationResult {
    pub view: PaymentView,
    pub transaction_id: Uuid,
    pub status: TransactionStatus,
}

impl OperationResult {
    /// The transaction this operation wrote.
    pub fn transaction(&self) -> Option<&Transaction> {
        self.view
            .transactions
            .iter()
            .find(|transaction| transaction.id == self.transaction_id)
    }
}

/// The payment API. Cheap to clone.
#[derive(Clone)]
pub struct PaymentService {
    inner: Arc<Inner>,
}

struct Inner {
    pool: DbPool,
    main_bus: Bus,
    notifications: NotificationQueueService,
    plugins: Arc<PluginRegistry>,
    executor: PluginExecutor,
    config: PaymentConfig,
    local_locks: LocalAccountLocks,
    node: String,
    /// Transactions whose plugin call is still running on this node.
    calls_in_flight: CallsInFlight,
}

type CallsInFlight = Arc<std::sync::Mutex<std::collections::HashSet<Uuid>>>;

fn lock_calls(calls: &CallsInFlight) -> std::sync::MutexGuard<'_, std::collections::HashSet<Uuid>> {
    match calls.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Everything the first transaction decided.
struct Prepared {
    account: AccountRecord,
    payment: PaymentRecord,
    transaction: TransactionRecord,
    plugin_name: String,
}

/// Why the plugin gave no usable answer, for the caller.
enum CallFailure {
    Timeout,
    Exception(String),
}

impl PaymentService {
    pub fn new(
        pool: DbPool,
        main_bus: Bus,
        notifications: NotificationQueueService,
        plugins: Arc<PluginRegistry>,
        config: PaymentConfig,
    ) -> PaymentService {
        let node = notifications.node().to_string();
        let service = PaymentService {
            inner: Arc::new(Inner {
                pool,
                main_bus,
                executor: PluginExecutor::new(config.plugin_threads as usize),
                notifications: notifications.clone(),
                plugins,
                config,
                local_locks: LocalAccountLocks::default(),
                node,
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
        let connection = self.inner.pool.get().await.map_err(StorageError::from)?;
        let released =
            payments::release_locks_of_node(&connection, &format!("{}:", self.inner.node)).await?;
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
        validate(&request)?;
        let deadline = Instant::now() + self.inner.config.plugin_timeout;
        let (account, payment_id) = self.resolve(tenant, &target).await?;

        // Kill Bill counts the wait for the account's lock toward the plugin timeout.
        let waiting = measure(
            Glock,
            "account lock",
            self.inner.local_locks.turn(account.id),
        );
        let turn = match tokio::time::timeout_at(deadline, waiting).await {
            Ok(turn) => turn,
            Err(_) => return Err(self.timeout_error(&account, None)),
        };
        let lease_owner = format!("{}:{}", self.inner.node, Uuid::new_v4());
        let prepared = self
            .prepare(
                tenant,
                &account,
                payment_id,
                &request,
                &lease_owner,
                context,
            )
            .await?;

        let call = PaymentCall {
            tenant_id: tenant.id,
            account_id: account.id,
            payment_id: prepared.payment.id,
            transaction_id: prepared.transaction.id,
            payment_method_id: prepared.payment.payment_method_id,
            amount: prepared.transaction.amount,
            currency: prepared.transaction.currency.clone(),
            properties: request.properties.clone(),
        };
        let call = self.call_plugin(
            &prepared.plugin_name,
            request.transaction_type,
            call,
            deadline,
        );
        let answer = measure(Plugin, &prepared.plugin_name, call).await;
        let (info, failure) = match answer {
            Ok(info) => (Some(info), None),
            Err(ExecutorError::Timeout) => (None, Some(CallFailure::Timeout)),
            Err(ExecutorError::Plugin(error)) => (None, Some(CallFailure::Exception(error.0))),
        };
        let status = info
            .as_ref()
            .map(|info| TransactionStatus::from_plugin(info.status))
            .unwrap_or(TransactionStatus::Unknown);
        let view = self
            .record_outcome(
                tenant,
                &prepared,
                status,
                info.as_ref(),
                Some(&lease_owner),
                context,
            )
            .await?;
        drop(turn);
        match failure {
            Some(CallFailure::Timeout) => Err(self.timeout_error(&account, Some(&prepared))),
            Some(CallFailure::Exception(message)) => {
                Err(ServiceError::PaymentPluginException(message))
            }
            None => Ok(OperationResult {
                view,
                transaction_id: prepared.transaction.id,
                status,
            }),
        }
    }

    fn timeout_error(&self, account: &AccountRecord, prepared: Option<&Prepared>) -> ServiceError {
        let plugin = prepared.map(|p| p.plugin_name.as_str()).unwrap_or("");
        ServiceError::PaymentPluginTimeout {
            account_id: account.id,
            detail: format!(
                "Call TIMEOUT for accountId='{}' accountExternalKey='{}' plugin='{plugin}'",
                account.id, account.data.external_key
            ),
        }
    }

    /// The account an operation is for and, for a follow-up, the payment's id.
    async fn resolve(
        &self,
        tenant: &Tenant,
        target: &Target,
    ) -> Result<(AccountRecord, Option<Uuid>), ServiceError> {
        let connection = self.inner.pool.get().await.map_err(StorageError::from)?;
        match target {
            Target::Account(AccountRef::Id(id)) => {
                let account = accounts::find_account_by_id(&connection, tenant.record_id, *id)
                    .await?
                    .ok_or(ServiceError::AccountNotFound { id: *id })?;
                Ok((account, None))
            }
            Target::Account(AccountRef::ExternalKey(key)) => {
                let account =
                    accounts::find_account_by_external_key(&connection, tenant.record_id, key)
                        .await?
                        .ok_or_else(|| ServiceError::AccountNotFoundForKey {
                            external_key: key.clone(),
                        })?;
                Ok((account, None))
            }
            Target::Payment(reference) => {
                let payment = match reference {
                    PaymentRef::Id(id) => {
                        payments::find_payment_by_id(&connection, tenant.record_id, *id).await?
                    }
                    PaymentRef::ExternalKey(key) => {
                        payments::find_payment_by_external_key(&connection, tenant.record_id, key)
                            .await?
                    }
                }
                .ok_or_else(|| ServiceError::PaymentNotFound {
                    id: match reference {
                        PaymentRef::Id(id) => id.to_string(),
                        PaymentRef::ExternalKey(key) => key.clone(),
                    },
                })?;
                let account =
                    accounts::find_account_by_id(&connection, tenant.record_id, payment.account_id)
                        .await?
                        .ok_or(ServiceError::AccountNotFound {
                            id: payment.account_id,
                        })?;
                Ok((account, Some(payment.id)))
            }
        }
    }

    /// The first transaction: takes the account's lease, checks the operation against the
    /// payment's state and keys, and records the payment and the transaction as UNKNOWN.
    async fn prepare(
        &self,
        tenant: &Tenant,
        account: &AccountRecord,
        payment_id: Option<Uuid>,
        request: &PaymentRequest,
        lease_owner: &str,
        context: &CallContext,
    ) -> Result<Prepared, ServiceError> {
        let name = lock_name(account.id);
        let lease = lease_length(&self.inner.config);
        for attempt in 0..=self.inner.config.global_lock_retries {
            if attempt > 0 {
                tokio::time::sleep(LOCK_RETRY_PAUSE).await;
            }
            let mut connection = self.inner.pool.get().await.map_err(StorageError::from)?;
            let transaction = connection.transaction().await.map_err(StorageError::from)?;
            let expires_at = Utc::now() + TimeDelta::from_std(lease).unwrap_or(TimeDelta::MAX);
            if !payments::try_take_lock(&transaction, &name, lease_owner, expires_at).await? {
                continue;
            }
            let prepared =
                prepare_in(&transaction, tenant, account, payment_id, request, context).await?;
            transaction.commit().await.map_err(StorageError::from)?;
            return Ok(prepared);
        }
        Err(ServiceError::PaymentLockFailed {
            account_id: account.id,
        })
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
        lock_calls(&calls).insert(transaction_id);
        self.inner
            .executor
            .run(deadline, what, async move {
                let result = process_payment(&*plugin, transaction_type, &call).await;
                // Also after a timeout: only then may the janitor conclude anything from the
                // plugin's silence about this transaction.
                lock_calls(&calls).remove(&transaction_id);
                result
            })
            .await
    }

    /// Whether this node still runs a plugin call for `transaction_id` (a late one, after its
    /// request timed out).
    fn is_call_in_flight(&self, transaction_id: Uuid) -> bool {
        lock_calls(&self.inner.calls_in_flight).contains(&transaction_id)
    }

    /// The second transaction: the outcome, the payment's state, the bus event, a janitor
    /// notification when the outcome is still open, and the lease given back.
    async fn record_outcome(
        &self,
        tenant: &Tenant,
        prepared: &Prepared,
        status: TransactionStatus,
        info: Option<&PaymentTransactionInfo>,
        lease_owner: Option<&str>,
        context: &CallContext,
    ) -> Result<PaymentView, ServiceError> {
        let now = now_in_millis();
        let transaction_type = TransactionType::parse(&prepared.transaction.transaction_type)
            .ok_or_else(|| {
                ServiceError::Internal(format!(
                    "unknown transaction type {}",
                    prepared.transaction.transaction_type
                ))
            })?;
        let processed = matches!(
            status,
            TransactionStatus::Success | TransactionStatus::Pending
        );
        let processed_amount = if processed {
            info.and_then(|info| info.amount)
                .or(prepared.transaction.amount)
        } else {
            Some(Decimal::ZERO)
        };
        let processed_currency = info
            .and_then(|info| info.currency.clone())
            .or_else(|| prepared.transaction.currency.clone());
        let outcome = TransactionOutcome {
            status: status.as_str(),
            processed_amount,
            processed_currency: processed_currency.as_deref(),
            gateway_error_code: info.and_then(|info| info.gateway_error_code.as_deref()),
            gateway_error_msg: info.and_then(|info| info.gateway_error.as_deref()),
        };
        let audit = audit_context(context, tenant, prepared.account.record_id);
        let state_name = state::state_after(transaction_type, status);
        let last_success = (status == TransactionStatus::Success).then_some(state_name.as_str());

        let mut connection = self.inner.pool.get().await.map_err(StorageError::from)?;
        let transaction = connection.transaction().await.map_err(StorageError::from)?;
        let recorded = payments::update_transaction_outcome(
            &transaction,
            prepared.transaction.record_id,
            &outcome,
            now,
            &audit,
        )
        .await?;
        payments::update_payment_state(
            &transaction,
            prepared.payment.record_id,
            &state_name,
            last_success,
            now,
            &audit,
        )
        .await?;
        let data = PaymentEventData {
            account_id: prepared.account.id,
            payment_id: prepared.payment.id,
            payment_transaction_id: recorded.id,
            amount: recorded
                .processed_amount
                .or(recorded.amount)
                .unwrap_or_default()
                .normalize()
                .to_string(),
            currency: recorded.currency.clone().unwrap_or_default(),
            status: status.as_str().to_string(),
            transaction_type: transaction_type.as_str().to_string(),
            effective_date: Some(recorded.effective_date),
            account_record_id: prepared.account.record_id,
            tenant_record_id: tenant.record_id,
        };
        let mut posted = self.inner.main_bus.posted();
        let post = match status {
            TransactionStatus::Success | TransactionStatus::Pending => {
                posted
                    .post(
                        &transaction,
                        &PaymentInfoInternalEvent(data),
                        context.user_token,
                    )
                    .await
            }
            TransactionStatus::PaymentFailure => {
                posted
                    .post(
                        &transaction,
                        &PaymentErrorInternalEvent(data),
                        context.user_token,
                    )
                    .await
            }
            TransactionStatus::PluginFailure | TransactionStatus::Unknown => {
                posted
                    .post(
                        &transaction,
                        &PaymentPluginErrorInternalEvent(data),
                        context.user_token,
                    )
                    .await
            }
        };
        post.map_err(ServiceError::from)?;
        if status.is_open() {
            janitor::schedule(
                &self.inner.notifications,
                &transaction,
                &self.inner.config,
                recorded.id,
                status,
                1,
                prepared.account.record_id,
                tenant.record_id,
                context.user_token,
            )
            .await?;
        }
        if let Some(owner) = lease_owner {
            payments::release_lock(&transaction, &lock_name(prepared.account.id), owner).await?;
        }
        transaction.commit().await.map_err(StorageError::from)?;
        posted.committed().await;
        let connection = self.inner.pool.get().await.map_err(StorageError::from)?;
        let payment =
            payments::find_payment_by_id(&connection, tenant.record_id, prepared.payment.id)
                .await?
                .ok_or_else(|| ServiceError::PaymentNotFound {
                    id: prepared.payment.id.to_string(),
                })?;
        let transactions =
            payments::find_transactions_by_payments(&connection, &[payment.id]).await?;
        Ok(PaymentView {
            payment,
            transactions,
            plugin_info: None,
            audit_logs: Vec::new(),
            transaction_audit_logs: HashMap::new(),
        })
    }

    /// The tenant's payment by id; with `with_plugin_info`, the plugin is asked about it and
    /// any still-open transaction is repaired on the fly, as Kill Bill's read does.
    pub async fn find(
        &self,
        tenant: &Tenant,
        reference: PaymentRef,
        options: ReadOptions,
    ) -> Result<PaymentView, ServiceError> {
        let payment = {
            let connection = self.inner.pool.get().await.map_err(StorageError::from)?;
            match &reference {
                PaymentRef::Id(id) => {
                    payments::find_payment_by_id(&connection, tenant.record_id, *id).await?
                }
                PaymentRef::ExternalKey(key) => {
                    payments::find_payment_by_external_key(&connection, tenant.record_id, key)
                        .await?
                }
            }
        }
        .ok_or_else(|| ServiceError::PaymentNotFound {
            id: match &reference {
                PaymentRef::Id(id) => id.to_string(),
                PaymentRef::ExternalKey(key) => key.clone(),
            },
        })?;
        let mut views = self.views(tenant, vec![payment], options).await?;
        views
            .pop()
            .ok_or_else(|| ServiceError::Internal("payment vanished".to_string()))
    }

    /// The account's payments, oldest first.
    pub async fn list_for_account(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        options: ReadOptions,
    ) -> Result<Vec<PaymentView>, ServiceError> {
        let found = {
            let connection = self.inner.pool.get().await.map_err(StorageError::from)?;
            accounts::find_account_by_id(&connection, tenant.record_id, account_id)
                .await?
                .ok_or(ServiceError::AccountNotFound { id: account_id })?;
            payments::find_payments_by_account(&connection, tenant.record_id, account_id).await?
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
            let connection = self.inner.pool.get().await.map_err(StorageError::from)?;
            let descending = limit < 0;
            // `limit=-9223372036854775808` is a valid Long: saturate rather than overflow.
            let found = payments::list_payments(
                &connection,
                tenant.record_id,
                search,
                offset,
                limit.saturating_abs(),
                descending,
            )
            .await?;
            let matching = payments::count_payments(&connection, tenant.record_id, search).await?;
            let total = match search {
                Some(_) => payments::count_payments(&connection, tenant.record_id, None).await?,
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
        if options.with_plugin_info {
            for payment in &found {
                janitor::repair_payment(self, tenant, payment).await?;
            }
        }
        let connection = self.inner.pool.get().await.map_err(StorageError::from)?;
        let ids: Vec<Uuid> = found.iter().map(|payment| payment.id).collect();
        let mut transactions = payments::find_transactions_by_payments(&connection, &ids).await?;
        let mut payment_trails = audit_trails(
            &connection,
            tenant,
            AuditedTable::Payment,
            found.iter().map(|payment| payment.record_id).collect(),
            options.audit,
        )
        .await?;
        let mut transaction_trails = audit_trails(
            &connection,
            tenant,
            AuditedTable::PaymentTransaction,
            transactions
                .iter()
                .map(|transaction| transaction.record_id)
                .collect(),
            options.audit,
        )
        .await?;
        let mut views = Vec::with_capacity(found.len());
        for payment in found {
            // Re-read after a repair so the view shows the repaired state.
            let payment = if options.with_plugin_info {
                payments::find_payment_by_id(&connection, tenant.record_id, payment.id)
                    .await?
                    .unwrap_or(payment)
            } else {
                payment
            };
            let (own, rest): (Vec<_>, Vec<_>) = transactions
                .into_iter()
                .partition(|transaction| transaction.payment_id == payment.id);
            transactions = rest;
            let plugin_info = if options.with_plugin_info {
                Some(self.plugin_info(tenant, &payment).await.unwrap_or_default())
            } else {
                None
            };
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
                payment,
                transactions: own,
                plugin_info,
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
            let connection = self.inner.pool.get().await.map_err(StorageError::from)?;
            payment_methods::find_payment_method_by_id(
                &connection,
                tenant.record_id,
                payment.payment_method_id,
            )
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

/// The checks and inserts of the first transaction, inside it.
async fn prepare_in(
    transaction: &deadpool_postgres::Transaction<'_>,
    tenant: &Tenant,
    account: &AccountRecord,
    payment_id: Option<Uuid>,
    request: &PaymentRequest,
    context: &CallContext,
) -> Result<Prepared, ServiceError> {
    let kind = request.transaction_type;
    // The target payment: by id, then by payment external key, then by a transaction with
    // the same external key (Kill Bill's retrievePaymentId).
    let mut payment = match payment_id {
        Some(id) => payments::find_payment_by_id(transaction, tenant.record_id, id).await?,
        None => None,
    };
    if payment.is_none() {
        if let Some(key) = &request.payment_external_key {
            payment =
                payments::find_payment_by_external_key(transaction, tenant.record_id, key).await?;
        }
    }
    if let Some(key) = &request.transaction_external_key {
        let earlier =
            payments::find_transactions_by_external_key(transaction, tenant.record_id, key).await?;
        if earlier
            .iter()
            .any(|earlier| earlier.status == TransactionStatus::Success.as_str())
        {
            return Err(ServiceError::PaymentTransactionKeyExists { key: key.clone() });
        }
        if let Some(last) = earlier.last() {
            if last.transaction_type != kind.as_str() {
                return Err(ServiceError::PaymentInvalidParameter {
                    name: "transactionExternalKey".to_string(),
                    reason: format!(
                        "key {key} belongs to a {} transaction",
                        last.transaction_type
                    ),
                });
            }
            let owner =
                payments::find_payment_by_id(transaction, tenant.record_id, last.payment_id)
                    .await?;
            if let Some(owner) = owner {
                match &payment {
                    None => payment = Some(owner),
                    Some(target) if target.id != owner.id => {
                        return Err(ServiceError::PaymentInvalidParameter {
                            name: "transactionExternalKey".to_string(),
                            reason: format!("key {key} belongs to another payment"),
                        })
                    }
                    Some(_) => {}
                }
            }
        }
    }
    if let Some(existing) = &payment {
        if existing.account_id != account.id {
            return Err(ServiceError::PaymentDifferentAccount { id: existing.id });
        }
    }

    let last_success = payment
        .as_ref()
        .and_then(|payment| payment.last_success_state_name.as_deref());
    if !state::is_allowed(last_success, kind) {
        return Err(ServiceError::PaymentTransitionInvalid {
            transaction_type: kind.as_str().to_string(),
            state: last_success.unwrap_or(INITIAL_STATE).to_string(),
        });
    }

    let existing_transactions = match &payment {
        Some(payment) => {
            payments::find_transactions_by_payments(transaction, &[payment.id]).await?
        }
        None => Vec::new(),
    };
    let payment_currency = existing_transactions
        .iter()
        .find_map(|transaction| transaction.currency.clone());
    let currency = match (&request.currency, &payment_currency) {
        (Some(asked), Some(own)) if asked != own => {
            return Err(ServiceError::PaymentInvalidParameter {
                name: "currency".to_string(),
                // Kill Bill's wording, double space included.
                reason: format!(" should be {own} to match other existing transactions"),
            });
        }
        (Some(asked), _) => Some(asked.clone()),
        (None, Some(own)) => Some(own.clone()),
        (None, None) => account.data.currency.clone(),
    };

    let payment_method_id = match &payment {
        Some(payment) => payment.payment_method_id,
        None => request
            .payment_method_id
            .or(account.data.payment_method_id)
            .ok_or_else(|| ServiceError::PaymentInvalidParameter {
                name: "paymentMethodId".to_string(),
                reason: "should not be null".to_string(),
            })?,
    };
    // An id no method of the tenant has is Kill Bill's ObjectDoesNotExist; another account's
    // or a deleted method is PAYMENT_NO_SUCH_PAYMENT_METHOD.
    let method = payment_methods::find_payment_method_by_id(
        transaction,
        tenant.record_id,
        payment_method_id,
    )
    .await?
    .ok_or(ServiceError::ObjectNotFound {
        object_type: "PAYMENT_METHOD",
        id: payment_method_id,
    })?;
    let method = Some(method)
        .filter(|method| method.account_id == account.id)
        .filter(|method| method.is_active || payment.is_some())
        .ok_or_else(|| ServiceError::PaymentMethodNotFound {
            id: payment_method_id.to_string(),
        })?;
    // Kill Bill refuses a missing payment method before a missing currency.
    if currency.is_none() && kind != TransactionType::Void {
        return Err(ServiceError::PaymentInvalidParameter {
            name: "currency".to_string(),
            reason: "should not be null".to_string(),
        });
    }

    let now = now_in_millis();
    let audit = audit_context(context, tenant, account.record_id);
    let payment = match payment {
        // Kill Bill updates (and audits) the payment when a transaction is added to it, and
        // again when the outcome is recorded.
        Some(payment) => {
            payments::touch_payment(transaction, payment.record_id, now, &audit).await?
        }
        None => {
            let id = Uuid::new_v4();
            let external_key = request
                .payment_external_key
                .clone()
                .unwrap_or_else(|| id.to_string());
            payments::insert_payment(
                transaction,
                &NewPayment {
                    id,
                    account_id: account.id,
                    payment_method_id,
                    external_key: &external_key,
                    account_record_id: account.record_id,
                },
                now,
                &audit,
            )
            .await
            .map_err(|error| match error {
                StorageError::UniqueViolation { constraint }
                    if constraint == payments::PAYMENT_EXTERNAL_KEY_INDEX =>
                {
                    ServiceError::PaymentInvalidParameter {
                        name: "paymentExternalKey".to_string(),
                        reason: format!("{external_key} is already used"),
                    }
                }
                other => other.into(),
            })?
        }
    };
    let transaction_id = Uuid::new_v4();
    let transaction_key = request
        .transaction_external_key
        .clone()
        .unwrap_or_else(|| transaction_id.to_string());
    let recorded = payments::insert_transaction(
        transaction,
        &NewTransaction {
            id: transaction_id,
            payment_id: payment.id,
            external_key: &transaction_key,
            transaction_type: kind.as_str(),
            effective_date: request.effective_date.unwrap_or(now),
            amount: request.amount,
            currency: currency.as_deref(),
            account_record_id: account.record_id,
        },
        now,
        &audit,
    )
    .await?;
    Ok(Prepared {
        account: account.clone(),
        payment,
        transaction: recorded,
        plugin_name: method.plugin_name,
    })
}

/// How long an account lease lasts: past the operation's own bound (the plugin timeout, twice
/// for the transactions around it), so only a dead node's lease ever expires while held.
fn lease_length(config: &PaymentConfig) -> Duration {
    config.plugin_timeout * 2 + Duration::from_secs(5)
}

fn validate(request: &PaymentRequest) -> Result<(), ServiceError> {
    for key in [
        &request.payment_external_key,
        &request.transaction_external_key,
    ]
    .into_iter()
    .flatten()
    {
        if key.chars().count() > MAX_EXTERNAL_KEY_CHARS {
            return Err(ServiceError::ExternalKeyTooLong);
        }
    }
    if request.transaction_type != TransactionType::Void && request.amount.is_none() {
        return Err(ServiceError::InvalidArgument(
            "PaymentTransactionJson amount needs to be set".to_string(),
        ));
    }
    Ok(())
}

fn audit_context<'a>(
    context: &'a CallContext,
    tenant: &Tenant,
    account_record_id: i64,
) -> AuditContext<'a> {
    AuditContext {
        created_by: &context.created_by,
        reason: context.reason.as_deref(),
        comment: context.comment.as_deref(),
        user_token: context.user_token,
        tenant_record_id: tenant.record_id,
        account_record_id: Some(account_record_id),
    }
}

/// The audit trails of the `record_ids` of `table` at `level`, by record id.
async fn audit_trails(
    connection: &deadpool_postgres::Object,
    tenant: &Tenant,
    table: AuditedTable,
    record_ids: Vec<i64>,
    level: AuditLevel,
) -> Result<HashMap<i64, Vec<AuditLog>>, ServiceError> {
    let mut trails: HashMap<i64, Vec<AuditLog>> = HashMap::new();
    if level == AuditLevel::None || record_ids.is_empty() {
        return Ok(trails);
    }
    for (record_id, log) in
        audit::find_audit_logs(connection, table, tenant.record_id, &record_ids).await?
    {
        trails.entry(record_id).or_default().push(log);
    }
    Ok(trails
        .into_iter()
        .map(|(record_id, logs)| (record_id, level.select(logs)))
        .collect())
}

/// Kill Bill stores dates with millisecond precision.
fn now_in_millis() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::milliseconds(1))
        .unwrap_or(now)
}
