//! The janitor (Kill Bill's IncompletePaymentTransactionTask): a transaction left UNKNOWN or
//! PENDING is looked at again through the `payment-service:janitor` notification queue, on
//! Kill Bill's schedules (`org.killbill.payment.janitor.unknown.retries` and
//! `….pending.retries`), and repaired from the plugin's own record: the transaction's status
//! and amounts, the payment's state, history, audit and the bus event, as if the plugin had
//! answered in time. A read with `withPluginInfo=true` repairs the same way on the fly.
//!
//! This file owns when to look again and how to repair. It never calls a plugin through the
//! executor (Kill Bill's janitor calls `getPaymentInfo` directly) and writes no SQL.
//!
//! Time is read from the notification queue's [`Clock`](crate::clock::Clock), never from the
//! wall clock directly: when a look is due, when a lease taken for a repair ends, how old a
//! transaction is, which transactions a sweep counts as abandoned. Each is a pure function of
//! that "now" (`retry_due`, `lease_expiry`, `conclusive_at`, `never_reached_the_plugin`,
//! `abandoned_before`), tested on tokio's paused time.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::lock::lock_name;
use super::record::{lease_length, Started};
use super::state;
use super::PaymentService;
use crate::bus::notifications::NotificationQueueService;
use crate::bus::{HandlerError, NotificationEntry, NotificationEvent, SearchKeys};
use crate::config::PaymentConfig;
use crate::db::work::Work;
use crate::domain::payments::TransactionStatus;
use crate::plugin::PaymentTransactionInfo;
use crate::service::tenants::Tenant;
use crate::service::{CallContext, ServiceError};
use crate::storage::payment_methods;
use crate::storage::payments::{self, PaymentRecord};

/// Kill Bill's janitor queue (`PaymentService` name + `Janitor.QUEUE_NAME`).
const JANITOR_QUEUE: &str = "payment-service:janitor";
/// Who the janitor's writes are audited as.
const JANITOR_USER: &str = "PaymentRequestProcessor";

/// Kill Bill's JanitorNotificationKey.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JanitorNotificationKey {
    /// The transaction to look at again.
    uuid_key: Uuid,
    task_name: String,
    is_api_payment: bool,
    attempt_number: u32,
}

impl JanitorNotificationKey {
    /// Kill Bill's key of the `attempt`-th look at `transaction_id` by its
    /// IncompletePaymentTransactionTask, on behalf of an API call.
    fn look(transaction_id: Uuid, attempt: u32) -> JanitorNotificationKey {
        JanitorNotificationKey {
            uuid_key: transaction_id,
            task_name: "IncompletePaymentTransactionTask".to_string(),
            is_api_payment: true,
            attempt_number: attempt,
        }
    }
}

impl NotificationEvent for JanitorNotificationKey {
    const CLASS_NAME: &'static str =
        "org.killbill.billing.payment.core.janitor.JanitorNotificationKey";
}

/// Records, inside the caller's transaction, the `attempt`-th look at `transaction_id` if the
/// schedule for `status` has one; nothing once the schedule is used up, as in Kill Bill.
#[allow(clippy::too_many_arguments)]
pub(super) async fn schedule(
    notifications: &NotificationQueueService,
    work: &Work,
    config: &PaymentConfig,
    transaction_id: Uuid,
    status: TransactionStatus,
    attempt: u32,
    account_record_id: i64,
    tenant_record_id: i64,
    user_token: Option<Uuid>,
) -> Result<(), ServiceError> {
    let schedule = match status {
        TransactionStatus::Pending => &config.janitor_pending_retries,
        _ => &config.janitor_unknown_retries,
    };
    let Some(due) = retry_due(schedule, attempt, notifications.clock().now()) else {
        return Ok(());
    };
    notifications
        .record_future_notification(
            work,
            JANITOR_QUEUE,
            due,
            &JanitorNotificationKey::look(transaction_id, attempt),
            SearchKeys {
                account_record_id: Some(account_record_id),
                tenant_record_id,
            },
            user_token,
        )
        .await
        .map_err(ServiceError::from)?;
    Ok(())
}

/// When the `attempt`-th look (counted from 1) on `schedule` is due, counted from `now`;
/// `None` once the schedule is used up.
fn retry_due(
    schedule: &[std::time::Duration],
    attempt: u32,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let delay = schedule.get(attempt.saturating_sub(1) as usize)?;
    Some(now + TimeDelta::from_std(*delay).unwrap_or(TimeDelta::MAX))
}

/// When a lease taken `now` for a repair ends: the same length as a request's.
pub(super) fn lease_expiry(config: &PaymentConfig, now: DateTime<Utc>) -> DateTime<Utc> {
    now + TimeDelta::from_std(lease_length(config)).unwrap_or(TimeDelta::MAX)
}

/// Registers the janitor's handler on the notification queue.
pub(super) fn register(service: &PaymentService, notifications: &NotificationQueueService) {
    let service = service.clone();
    notifications.register(JANITOR_QUEUE, move |entry: Arc<NotificationEntry>| {
        let service = service.clone();
        async move { handle(&service, &entry).await.map_err(HandlerError::from) }
    });
}

async fn handle(service: &PaymentService, entry: &NotificationEntry) -> Result<(), ServiceError> {
    let key: JanitorNotificationKey = entry.decode().map_err(ServiceError::from)?;
    let Some(tenant) = find_tenant(service, entry.search_keys.tenant_record_id).await? else {
        // The tenant is gone: nothing left to repair.
        return Ok(());
    };
    let outcome = repair_transaction(service, &tenant, key.uuid_key).await?;
    if let Repair::StillOpen {
        status,
        account_record_id,
    } = outcome
    {
        let work = service.inner.db.begin().await?;
        schedule(
            &service.inner.notifications,
            &work,
            &service.inner.config,
            key.uuid_key,
            status,
            key.attempt_number + 1,
            account_record_id,
            tenant.record_id,
            entry.user_token,
        )
        .await?;
        work.commit().await?;
    }
    Ok(())
}

/// What a look at one transaction found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Repair {
    /// Not open (any more), or gone: nothing to do.
    Closed,
    /// The plugin knew the outcome; it is recorded.
    Repaired,
    /// The plugin still does not know.
    StillOpen {
        status: TransactionStatus,
        account_record_id: i64,
    },
}

/// Repairs every open transaction of `payment` (a `withPluginInfo=true` read).
pub(super) async fn repair_payment(
    service: &PaymentService,
    tenant: &Tenant,
    payment: &PaymentRecord,
) -> Result<(), ServiceError> {
    let open: Vec<Uuid> = {
        let work = service.inner.db.read().await?;
        payments::find_transactions_by_payments(work.client(), &[payment.id])
            .await?
            .into_iter()
            .filter(|transaction| transaction.status.is_open())
            .map(|transaction| transaction.id)
            .collect()
    };
    for transaction_id in open {
        repair_transaction(service, tenant, transaction_id).await?;
    }
    Ok(())
}

/// Looks at one transaction under its account's lock and records the plugin's outcome if the
/// plugin knows a different one.
pub(super) async fn repair_transaction(
    service: &PaymentService,
    tenant: &Tenant,
    transaction_id: Uuid,
) -> Result<Repair, ServiceError> {
    let inner = &service.inner;
    let found = service.read_transaction(tenant, transaction_id).await?;
    let Some(found) = found else {
        return Ok(Repair::Closed);
    };
    let account_id = found.payment.account_id;
    let still_open = || Repair::StillOpen {
        status: found.transaction.status,
        account_record_id: found.payment.account_record_id,
    };
    let _turn = inner.local_locks.turn(account_id).await?;
    let owner = format!("{}:janitor:{}", inner.node, Uuid::new_v4());
    // Take the lease and re-read under it: an operation may have finished meanwhile.
    let Some(started) =
        lease_for_repair(service, tenant, account_id, transaction_id, &owner).await?
    else {
        // Another node is working on the account, or the transaction is gone; look again on
        // the next schedule.
        return Ok(still_open());
    };
    let name = lock_name(account_id);
    let current_status = started.transaction.status;
    if !current_status.is_open() {
        release(service, &name, &owner).await?;
        return Ok(Repair::Closed);
    }
    let answer = match inner.plugins.get(&started.plugin_name) {
        Some(plugin) => plugin
            .get_payment_info(tenant.id, account_id, started.payment.id, &[])
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(transaction = %transaction_id, %error, "janitor: the plugin could not say");
                Vec::new()
            }),
        None => Vec::new(),
    };
    let info = answer
        .into_iter()
        .find(|info| info.transaction_id == transaction_id);
    let new_status = match &info {
        Some(info) => Some(state::status_from_plugin(info.status)),
        None if current_status == TransactionStatus::Unknown
            && !service.is_call_in_flight(transaction_id)
            && never_reached_the_plugin(
                started.transaction.created_date,
                inner.config.plugin_timeout,
                inner.notifications.clock().now(),
            ) =>
        {
            Some(TransactionStatus::PluginFailure)
        }
        None => None,
    };
    match new_status {
        Some(status) if status != current_status => {
            let context = CallContext {
                created_by: JANITOR_USER.to_string(),
                reason: None,
                comment: None,
                user_token: None,
            };
            service
                .record_outcome(tenant, &started, status, info.as_ref(), &context)
                .await?;
            crate::metrics::janitor_repaired();
            tracing::info!(
                transaction = %transaction_id,
                from = current_status.as_str(),
                to = status.as_str(),
                "janitor repaired a payment transaction"
            );
            Ok(Repair::Repaired)
        }
        _ => {
            release(service, &name, &owner).await?;
            Ok(Repair::StillOpen {
                status: current_status,
                account_record_id: started.account.record_id,
            })
        }
    }
}

/// Under the account's lock, re-reads the transaction with its payment, account and method and
/// leases the account to `owner`; `None` when the account is locked or leased elsewhere, or
/// the transaction, its account or its method is gone.
async fn lease_for_repair(
    service: &PaymentService,
    tenant: &Tenant,
    account_id: Uuid,
    transaction_id: Uuid,
    owner: &str,
) -> Result<Option<Started>, ServiceError> {
    let inner = &service.inner;
    let dead_nodes = inner.nodes.dead_nodes();
    let work = inner.db.begin().await?;
    let client = work.client();
    let name = lock_name(account_id);
    let (locked, account, current) = crate::db::sql::pipelined(async {
        tokio::try_join!(
            payments::try_lock_account(client, &name),
            payments::find_account_for_payment(
                client,
                tenant.record_id,
                account_id,
                &name,
                &inner.node,
                &dead_nodes
            ),
            payments::find_transaction_with_payment(client, tenant.record_id, transaction_id),
        )
    })
    .await?;
    let (Some((account, false)), Some(current), true) = (account, current, locked) else {
        return Ok(None);
    };
    let Some(method) = payment_methods::TABLE
        .find_by_id(client, tenant.record_id, current.payment.payment_method_id)
        .await?
    else {
        return Ok(None);
    };
    let expires_at = lease_expiry(&inner.config, inner.notifications.clock().now());
    let lease = payments::Lease {
        lock_name: &name,
        owner,
        node: &inner.node,
        expires_at,
        transaction: Some((tenant.record_id, transaction_id)),
    };
    let displaced = payments::take_lease(client, &lease).await?;
    work.commit().await?;
    let started = Started {
        account,
        payment: current.payment,
        transaction: current.transaction,
        plugin_name: method.plugin_name,
        lease_owner: owner.to_string(),
        displaced: displaced.map(|(_, displaced)| displaced),
    };
    look_at_displaced(service, tenant, &started);
    Ok(Some(started))
}

/// How long [`settle_known`] keeps trying while the database cannot be reached.
const SETTLE_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

/// Records an outcome this node already knows (`status`, what the plugin said in `info`) for
/// a transaction whose second transaction could not be written (the database went away), as
/// soon as the database answers again: under the account's turn and a fresh lease, only if
/// the transaction is still open, so nothing is recorded twice; the request's stale lease goes
/// with it. Gives up, leaving the transaction to the janitor, after the lease's length.
pub(super) async fn settle_known(
    service: PaymentService,
    tenant: Tenant,
    transaction_id: Uuid,
    status: TransactionStatus,
    info: Option<PaymentTransactionInfo>,
    recorded_at: Option<DateTime<Utc>>,
    context: CallContext,
) {
    let give_up = tokio::time::Instant::now() + lease_length(&service.inner.config);
    loop {
        let settled = settle_once(
            &service,
            &tenant,
            transaction_id,
            status,
            info.as_ref(),
            recorded_at,
            &context,
        )
        .await;
        match settled {
            Ok(()) => return,
            Err(error) if error.is_unavailable() && tokio::time::Instant::now() < give_up => {
                tokio::time::sleep(SETTLE_RETRY_PAUSE).await;
            }
            Err(error) => {
                tracing::warn!(transaction = %transaction_id, %error, "an outcome could not be recorded; the janitor will ask the plugin");
                return;
            }
        }
    }
}

async fn settle_once(
    service: &PaymentService,
    tenant: &Tenant,
    transaction_id: Uuid,
    status: TransactionStatus,
    info: Option<&PaymentTransactionInfo>,
    recorded_at: Option<DateTime<Utc>>,
    context: &CallContext,
) -> Result<(), ServiceError> {
    let inner = &service.inner;
    let found = service.read_transaction(tenant, transaction_id).await?;
    // Its first transaction never committed: nothing to record.
    let Some(found) = found else {
        return Ok(());
    };
    let account_id = found.payment.account_id;
    let _turn = inner.local_locks.turn(account_id).await?;
    let owner = format!("{}:settle:{}", inner.node, Uuid::new_v4());
    let Some(started) =
        lease_for_repair(service, tenant, account_id, transaction_id, &owner).await?
    else {
        return Err(ServiceError::PaymentLockFailed { account_id });
    };
    let current = started.transaction.status;
    let unchanged_since = recorded_at.unwrap_or(started.transaction.created_date);
    if !current.is_open() || started.transaction.updated_date != unchanged_since {
        // Recorded after all (the commit had gone through), or repaired meanwhile.
        return release(service, &lock_name(account_id), &owner).await;
    }
    service
        .record_outcome(tenant, &started, status, info, context)
        .await?;
    tracing::info!(transaction = %transaction_id, status = status.as_str(), "recorded an outcome once the database answered again");
    Ok(())
}

/// Takes over what `node`, found dead, held in payments: each account lease, and the
/// transaction it protected, repaired as the janitor repairs (asking the plugin); one the
/// plugin does not know yet is looked at again once it can be concluded.
pub(super) async fn take_over_node(
    service: &PaymentService,
    node: &str,
) -> Result<usize, ServiceError> {
    let inner = &service.inner;
    let leases = {
        let work = inner.db.read().await?;
        payments::find_leases_of_node(work.client(), node).await?
    };
    let count = leases.len();
    for lease in leases {
        if let Some((tenant_record_id, transaction_id)) = lease.transaction {
            if let Some(tenant) = find_tenant(service, tenant_record_id).await? {
                let repair = repair_transaction(service, &tenant, transaction_id).await?;
                if let Repair::StillOpen {
                    status,
                    account_record_id,
                } = repair
                {
                    look_again_when_conclusive(
                        service,
                        &tenant,
                        transaction_id,
                        status,
                        account_record_id,
                    )
                    .await?;
                }
            }
        }
        // Gone already if the repair took the lease over.
        release(service, &lease.lock_name, &lease.owner).await?;
    }
    Ok(count)
}

/// Has the janitor look at `displaced` (an open transaction whose lease of another node
/// `started` replaced) once the plugin's silence about it means something. In the background:
/// if this node dies first, the janitor's sweep still finds it.
pub(super) fn look_at_displaced(service: &PaymentService, tenant: &Tenant, started: &Started) {
    let Some(displaced) = started.displaced else {
        return;
    };
    if displaced == started.transaction.id {
        return;
    }
    let (service, tenant) = (service.clone(), tenant.clone());
    let account_record_id = started.account.record_id;
    tokio::spawn(async move {
        let scheduled = look_again_when_conclusive(
            &service,
            &tenant,
            displaced,
            TransactionStatus::Unknown,
            account_record_id,
        )
        .await;
        if let Err(error) = scheduled {
            tracing::warn!(transaction = %displaced, %error, "could not schedule the janitor for a displaced lease's transaction; its sweep will find it");
        }
    });
}

/// Schedules the janitor's next look at an open transaction of a dead node for when the
/// plugin's silence about it means something (twice the plugin timeout after it was
/// recorded), rather than the first step of the usual schedule.
async fn look_again_when_conclusive(
    service: &PaymentService,
    tenant: &Tenant,
    transaction_id: Uuid,
    status: TransactionStatus,
    account_record_id: i64,
) -> Result<(), ServiceError> {
    let inner = &service.inner;
    let created = service
        .read_transaction(tenant, transaction_id)
        .await?
        .map(|found| found.transaction.created_date);
    let Some(created) = created else {
        return Ok(());
    };
    let due = conclusive_at(
        created,
        inner.config.plugin_timeout,
        inner.notifications.clock().now(),
    );
    let work = inner.db.read().await?;
    inner
        .notifications
        .record_future_notification(
            &work,
            JANITOR_QUEUE,
            due,
            &JanitorNotificationKey::look(transaction_id, 1),
            SearchKeys {
                account_record_id: Some(account_record_id),
                tenant_record_id: tenant.record_id,
            },
            None,
        )
        .await
        .map_err(ServiceError::from)?;
    tracing::info!(transaction = %transaction_id, status = status.as_str(), %due, "a dead node's open transaction is looked at again when conclusive");
    Ok(())
}

/// When the plugin's silence about a transaction recorded at `created` means something: just
/// past twice the plugin timeout after it, or `now` if that has passed.
fn conclusive_at(
    created: DateTime<Utc>,
    plugin_timeout: std::time::Duration,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let conclusive = created
        + TimeDelta::from_std(plugin_timeout * 2).unwrap_or(TimeDelta::MAX)
        + TimeDelta::seconds(1);
    conclusive.max(now)
}

/// Whether an UNKNOWN transaction the plugin has no record of, and for which this node runs no
/// late call, can only be one the plugin never received: twice the plugin timeout has passed
/// since it was recorded at `created` (its request timed out, or its node died). Kill Bill
/// leaves such a transaction UNKNOWN for good; ferrobill records it as PLUGIN_FAILURE, which is
/// what happened (nothing was charged), so the payment's history tells the truth
/// (docs/compatibility.md).
fn never_reached_the_plugin(
    created: DateTime<Utc>,
    plugin_timeout: std::time::Duration,
    now: DateTime<Utc>,
) -> bool {
    now - created > TimeDelta::from_std(plugin_timeout * 2).unwrap_or(TimeDelta::MAX)
}

/// Most abandoned transactions one sweep looks at (Kill Bill's janitor sweeps 1000 attempts).
const SWEEP_LIMIT: i64 = 1000;

/// Kill Bill's periodic janitor run, for what no notification covers: an UNKNOWN transaction
/// whose second transaction never happened (its node died) has no janitor entry, so every
/// `org.killbill.payment.janitor.rate` the oldest of them are looked at. Runs until aborted.
pub(super) async fn sweep_forever(service: PaymentService) {
    let mut ticks = tokio::time::interval(service.inner.config.janitor_rate);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = sweep(&service).await {
            tracing::warn!(%error, "janitor sweep failed; retrying at the next tick");
        }
    }
}

async fn sweep(service: &PaymentService) -> Result<(), ServiceError> {
    let inner = &service.inner;
    let recorded_before = abandoned_before(&inner.config, inner.notifications.clock().now());
    let abandoned = {
        let work = inner.db.read().await?;
        payments::find_abandoned_transactions(work.client(), recorded_before, SWEEP_LIMIT).await?
    };
    for (tenant_record_id, transaction_id) in abandoned {
        let Some(tenant) = find_tenant(service, tenant_record_id).await? else {
            continue;
        };
        repair_transaction(service, &tenant, transaction_id).await?;
    }
    Ok(())
}

/// The sweep's cut-off at `now`: a transaction recorded after it may still be between its two
/// transactions on a live node (its lease has not run out), so only older ones are abandoned.
fn abandoned_before(config: &PaymentConfig, now: DateTime<Utc>) -> DateTime<Utc> {
    now - TimeDelta::from_std(lease_length(config)).unwrap_or(TimeDelta::MAX)
}

async fn find_tenant(
    service: &PaymentService,
    tenant_record_id: i64,
) -> Result<Option<Tenant>, ServiceError> {
    service.inner.tenants.by_record_id(tenant_record_id).await
}

async fn release(service: &PaymentService, name: &str, owner: &str) -> Result<(), ServiceError> {
    let work = service.inner.db.read().await?;
    payments::release_lease(work.client(), name, owner).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The janitor's rules of time, on tokio's paused time: `Clock::following_tokio` moves
    //! only when the test advances it, so each boundary is hit exactly and nothing waits.

    use std::time::Duration;

    use super::*;
    use crate::clock::Clock;
    use crate::config::Config;

    fn config() -> PaymentConfig {
        Config::from_properties(&[]).expect("defaults").payment
    }

    fn chrono(duration: Duration) -> TimeDelta {
        TimeDelta::from_std(duration).expect("a short duration")
    }

    #[tokio::test(start_paused = true)]
    async fn each_look_is_due_its_delay_after_the_one_before_and_none_after_the_last() {
        let clock = Clock::following_tokio();
        let schedule = [Duration::from_secs(300), Duration::from_secs(3600)];
        let first = retry_due(&schedule, 1, clock.now()).expect("a first look");
        assert_eq!(first - clock.now(), TimeDelta::minutes(5));
        // The second look is scheduled when the first one finds the transaction still open.
        tokio::time::advance(Duration::from_secs(300)).await;
        assert_eq!(clock.now(), first);
        let second = retry_due(&schedule, 2, clock.now()).expect("a second look");
        assert_eq!(second - first, TimeDelta::hours(1));
        assert_eq!(retry_due(&schedule, 3, clock.now()), None);
        assert_eq!(retry_due(&[], 1, clock.now()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_repairs_lease_runs_as_long_as_a_requests() {
        let (clock, config) = (Clock::following_tokio(), config());
        let now = clock.now();
        assert_eq!(
            lease_expiry(&config, now) - now,
            chrono(lease_length(&config))
        );
        tokio::time::advance(Duration::from_secs(7)).await;
        assert_eq!(
            lease_expiry(&config, clock.now()) - lease_expiry(&config, now),
            TimeDelta::seconds(7)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_transaction_never_reached_the_plugin_only_past_twice_its_timeout() {
        let clock = Clock::following_tokio();
        let timeout = Duration::from_secs(30);
        let created = clock.now();
        tokio::time::advance(timeout * 2).await;
        assert!(!never_reached_the_plugin(created, timeout, clock.now()));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(never_reached_the_plugin(created, timeout, clock.now()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_nodes_transaction_is_looked_at_once_conclusive_or_at_once_if_it_is() {
        let clock = Clock::following_tokio();
        let timeout = Duration::from_secs(30);
        let created = clock.now();
        let conclusive = created + TimeDelta::seconds(61);
        assert_eq!(conclusive_at(created, timeout, clock.now()), conclusive);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(conclusive_at(created, timeout, clock.now()), conclusive);
        // Found later than that (the dead node was noticed late): due now, not in the past.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(conclusive_at(created, timeout, clock.now()), clock.now());
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweep_leaves_a_transaction_alone_while_its_lease_could_still_run() {
        let (clock, config) = (Clock::following_tokio(), config());
        let created = clock.now();
        // The sweep takes transactions recorded strictly before its cut-off.
        tokio::time::advance(lease_length(&config) - Duration::from_secs(1)).await;
        assert!(abandoned_before(&config, clock.now()) < created);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(abandoned_before(&config, clock.now()), created);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(abandoned_before(&config, clock.now()) > created);
    }
}
