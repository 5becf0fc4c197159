//! The `payments` and `payment_transactions` tables with their history (Kill Bill's
//! PaymentSqlDao and TransactionSqlDao), and `account_locks`, the lease that serializes payment
//! operations on one account across nodes.
//!
//! This file owns that SQL, always scoped to one tenant. It must never decide a rule (which
//! transition is legal, what a plugin status means), open a transaction, or know about HTTP.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use rust_decimal::Decimal;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::accounts::AccountRecord;
use super::audit::{
    audit_rows_of_history, record_with_history, AuditRow, AuditedTable, ChangeType,
};
use super::payment_methods::PaymentMethodRecord;
use super::table::Table;
use super::{
    execute_cached, query_as, query_one_as, query_opt_as, query_value, AuditContext, FromRow,
    Search, StorageError,
};
use crate::domain::payments::{TransactionStatus, TransactionType};

/// The unique index that makes a second payment with one external key in a tenant a conflict.
pub const PAYMENT_EXTERNAL_KEY_INDEX: &str = "payments_external_key";

const PAYMENT_COLUMNS: &str = "id, account_id, payment_method_id, external_key, state_name,
    last_success_state_name, created_by, created_date, updated_by, updated_date,
    account_record_id, tenant_record_id";

const TRANSACTION_COLUMNS: &str = "id, attempt_id, transaction_external_key, transaction_type,
    effective_date, transaction_status, amount, currency, processed_amount, processed_currency,
    payment_id, gateway_error_code, gateway_error_msg, created_by, created_date, updated_by,
    updated_date, account_record_id, tenant_record_id";

row_struct! {
    /// One `payments` row. `record_id` is Kill Bill's payment number.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PaymentRecord {
        pub record_id: i64,
        pub id: Uuid,
        pub account_id: Uuid,
        pub payment_method_id: Uuid,
        pub external_key: String,
        pub state_name: Option<String>,
        pub last_success_state_name: Option<String>,
        pub created_date: DateTime<Utc>,
        pub updated_date: DateTime<Utc>,
        pub account_record_id: i64,
        pub tenant_record_id: i64,
    }
}

row_struct! {
    /// One `payment_transactions` row.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TransactionRecord {
        pub record_id: i64,
        pub id: Uuid,
        pub payment_id: Uuid,
        pub external_key: String => "transaction_external_key",
        pub transaction_type: TransactionType,
        pub effective_date: DateTime<Utc>,
        pub status: TransactionStatus => "transaction_status",
        pub amount: Option<Decimal>,
        pub currency: Option<String>,
        pub processed_amount: Option<Decimal>,
        pub processed_currency: Option<String>,
        pub gateway_error_code: Option<String>,
        pub gateway_error_msg: Option<String>,
        pub created_date: DateTime<Utc>,
        pub updated_date: DateTime<Utc>,
    }
}

/// A payment to insert.
pub struct NewPayment<'a> {
    pub id: Uuid,
    pub account_id: Uuid,
    pub payment_method_id: Uuid,
    pub external_key: &'a str,
    pub account_record_id: i64,
}

/// A transaction to insert, UNKNOWN until its outcome is recorded.
pub struct NewTransaction<'a> {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub external_key: &'a str,
    pub transaction_type: TransactionType,
    pub effective_date: DateTime<Utc>,
    pub amount: Option<Decimal>,
    pub currency: Option<&'a str>,
    pub account_record_id: i64,
}

impl NewPayment<'_> {
    /// `$1` to `$8` of both payment inserts: the payment, who inserts it and when, its account
    /// and tenant.
    fn params<'p>(
        &'p self,
        now: &'p DateTime<Utc>,
        audit: &'p AuditContext<'_>,
    ) -> [&'p (dyn ToSql + Sync); 8] {
        [
            &self.id,
            &self.account_id,
            &self.payment_method_id,
            &self.external_key,
            &audit.created_by,
            now,
            &self.account_record_id,
            &audit.tenant_record_id,
        ]
    }
}

impl NewTransaction<'_> {
    /// `$1` to `$11` of both transaction inserts: the transaction, who inserts it and when, its
    /// account and tenant.
    fn params<'p>(
        &'p self,
        now: &'p DateTime<Utc>,
        audit: &'p AuditContext<'_>,
    ) -> [&'p (dyn ToSql + Sync); 11] {
        [
            &self.id,
            &self.external_key,
            &self.transaction_type,
            &self.effective_date,
            &self.amount,
            &self.currency,
            &self.payment_id,
            &audit.created_by,
            now,
            &self.account_record_id,
            &audit.tenant_record_id,
        ]
    }
}

/// What a plugin call decided for a transaction.
pub struct TransactionOutcome<'a> {
    pub status: TransactionStatus,
    pub processed_amount: Option<Decimal>,
    pub processed_currency: Option<&'a str>,
    pub gateway_error_code: Option<&'a str>,
    pub gateway_error_msg: Option<&'a str>,
}

/// The payments table, its history, and the statements they share with the other audited
/// tables.
pub const PAYMENT_TABLE: Table<PaymentRecord> =
    Table::new("payments", AuditedTable::Payment, PAYMENT_COLUMNS);

/// The payment transactions table, its history, and the statements they share with the other
/// audited tables.
pub const TRANSACTION_TABLE: Table<TransactionRecord> = Table::new(
    "payment_transactions",
    AuditedTable::PaymentTransaction,
    TRANSACTION_COLUMNS,
);

/// Inserts a payment with no state yet, with its history and audit rows.
pub async fn insert_payment(
    client: &impl GenericClient,
    payment: &NewPayment<'_>,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<PaymentRecord, StorageError> {
    record_with_history(
        client,
        PAYMENT_TABLE,
        &format!(
            "insert into payments ({PAYMENT_COLUMNS})
             values ($1, $2, $3, $4, null, null, $5, $6, $5, $6, $7, $8)
             returning *"
        ),
        ChangeType::Insert,
        &payment.params(&now, audit),
        now,
        audit,
    )
    .await
}

/// Sets the payment's state (and its last successful state, when given), with history and
/// audit rows.
pub async fn update_payment_state(
    client: &impl GenericClient,
    id: Uuid,
    state_name: &str,
    last_success_state_name: Option<&str>,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<PaymentRecord, StorageError> {
    let states = PaymentStates {
        state_name,
        last_success_state_name,
        last_success_expression: "coalesce($3, last_success_state_name)",
    };
    set_payment_state(client, id, states, now, audit).await
}

/// Sets the payment's state and its last successful state, even to none (Kill Bill's
/// `updateLastSuccessPaymentStateName`, which the admin's repair forces), with history and
/// audit rows.
pub async fn overwrite_payment_state(
    client: &impl GenericClient,
    id: Uuid,
    state_name: &str,
    last_success_state_name: Option<&str>,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<PaymentRecord, StorageError> {
    let states = PaymentStates {
        state_name,
        last_success_state_name,
        last_success_expression: "$3",
    };
    set_payment_state(client, id, states, now, audit).await
}

/// The states a payment update writes: `last_success_expression` computes the new last
/// successful state from `$3` (the given one) and the column's current value.
struct PaymentStates<'a> {
    state_name: &'a str,
    last_success_state_name: Option<&'a str>,
    last_success_expression: &'static str,
}

async fn set_payment_state(
    client: &impl GenericClient,
    id: Uuid,
    states: PaymentStates<'_>,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<PaymentRecord, StorageError> {
    let change = format!(
        "update payments set state_name = $2,
                last_success_state_name = {},
                updated_by = $4, updated_date = $5
         where id = $1
         returning *",
        states.last_success_expression
    );
    record_with_history(
        client,
        PAYMENT_TABLE,
        &change,
        ChangeType::Update,
        &[
            &id,
            &states.state_name,
            &states.last_success_state_name,
            &audit.created_by,
            &now,
        ],
        now,
        audit,
    )
    .await
}

/// Marks the payment as updated (a transaction is being added to it), with history and audit
/// rows, as Kill Bill's updatePaymentWithNewTransaction does; its state is unchanged.
pub async fn touch_payment(
    client: &impl GenericClient,
    record_id: i64,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<PaymentRecord, StorageError> {
    record_with_history(
        client,
        PAYMENT_TABLE,
        "update payments set updated_by = $2, updated_date = $3
         where record_id = $1
         returning *",
        ChangeType::Update,
        &[&record_id, &audit.created_by, &now],
        now,
        audit,
    )
    .await
}

/// Inserts a transaction as UNKNOWN, with its history and audit rows.
pub async fn insert_transaction(
    client: &impl GenericClient,
    transaction: &NewTransaction<'_>,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<TransactionRecord, StorageError> {
    record_with_history(
        client,
        TRANSACTION_TABLE,
        &format!(
            "insert into payment_transactions ({TRANSACTION_COLUMNS})
             values ($1, null, $2, $3, $4, 'UNKNOWN', $5, $6, null, null, $7, null, null,
                     $8, $9, $8, $9, $10, $11)
             returning *"
        ),
        ChangeType::Insert,
        &transaction.params(&now, audit),
        now,
        audit,
    )
    .await
}

/// Records a transaction's outcome, with history and audit rows.
pub async fn update_transaction_outcome(
    client: &impl GenericClient,
    id: Uuid,
    outcome: &TransactionOutcome<'_>,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<TransactionRecord, StorageError> {
    record_with_history(
        client,
        TRANSACTION_TABLE,
        "update payment_transactions set transaction_status = $2, processed_amount = $3,
                processed_currency = $4, gateway_error_code = $5, gateway_error_msg = $6,
                updated_by = $7, updated_date = $8
         where id = $1
         returning *",
        ChangeType::Update,
        &[
            &id,
            &outcome.status,
            &outcome.processed_amount,
            &outcome.processed_currency,
            &outcome.gateway_error_code,
            &outcome.gateway_error_msg,
            &audit.created_by,
            &now,
        ],
        now,
        audit,
    )
    .await
}

/// The two steps of an operation whose plugin answered at once, written as one: the payment
/// row in its final state, and the history and audit rows Kill Bill's two transactions leave
/// (an INSERT copy with no state yet, then an UPDATE copy with `state_name`), in that order.
pub async fn insert_settled_payment(
    client: &impl GenericClient,
    payment: &NewPayment<'_>,
    state_name: &str,
    last_success_state_name: Option<&str>,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<PaymentRecord, StorageError> {
    insert_settled(
        client,
        PAYMENT_TABLE,
        &format!(
            "insert into payments ({PAYMENT_COLUMNS})
             values ($1, $2, $3, $4, $9, $10, $5, $6, $5, $6, $7, $8)
             returning *"
        ),
        "id, account_id, payment_method_id, external_key,
         case step.change_type when 'INSERT' then null else state_name end,
         case step.change_type when 'INSERT' then null else last_success_state_name end,
         created_by, created_date, updated_by, updated_date, account_record_id,
         tenant_record_id",
        &[
            &payment.params(&now, audit)[..],
            &[&state_name, &last_success_state_name],
        ]
        .concat(),
        now,
        audit,
    )
    .await
}

/// As [`insert_settled_payment`], for the transaction: the row with `outcome`, its INSERT copy
/// as UNKNOWN with nothing processed, its UPDATE copy with `outcome`, and their audit rows.
pub async fn insert_settled_transaction(
    client: &impl GenericClient,
    transaction: &NewTransaction<'_>,
    outcome: &TransactionOutcome<'_>,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<TransactionRecord, StorageError> {
    insert_settled(
        client,
        TRANSACTION_TABLE,
        &format!(
            "insert into payment_transactions ({TRANSACTION_COLUMNS})
             values ($1, null, $2, $3, $4, $12, $5, $6, $13, $14, $7, $15, $16,
                     $8, $9, $8, $9, $10, $11)
             returning *"
        ),
        "id, attempt_id, transaction_external_key, transaction_type, effective_date,
         case step.change_type when 'INSERT' then 'UNKNOWN' else transaction_status end,
         amount, currency,
         case step.change_type when 'INSERT' then null else processed_amount end,
         case step.change_type when 'INSERT' then null else processed_currency end,
         payment_id,
         case step.change_type when 'INSERT' then null else gateway_error_code end,
         case step.change_type when 'INSERT' then null else gateway_error_msg end,
         created_by, created_date, updated_by, updated_date, account_record_id,
         tenant_record_id",
        &[
            &transaction.params(&now, audit)[..],
            &[
                &outcome.status,
                &outcome.processed_amount,
                &outcome.processed_currency,
                &outcome.gateway_error_code,
                &outcome.gateway_error_msg,
            ],
        ]
        .concat(),
        now,
        audit,
    )
    .await
}

/// Runs `insert` (one row in its final state, `returning *`, its own values `params`) with
/// the two history copies Kill Bill's two transactions leave, an INSERT then an UPDATE (their
/// columns picked from the `changed` row by `history_columns`, which sees the copy's
/// `step.change_type`), and their audit rows, in that order; the inserted row.
async fn insert_settled<T: FromRow>(
    client: &impl GenericClient,
    target: Table<T>,
    insert: &str,
    history_columns: &str,
    params: &[&(dyn ToSql + Sync)],
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<T, StorageError> {
    let sql = format!(
        "with changed as ({insert}),
         history as (
             insert into {history} (target_record_id, change_type, {columns})
             select changed.record_id, step.change_type, {history_columns}
             from changed, (values (1, 'INSERT'), (2, 'UPDATE')) as step(n, change_type)
             order by step.n
             returning record_id, change_type
         ),
         audit as ({audit})
         select * from changed",
        history = target.audited.history_table(),
        columns = target.columns,
        audit = audit_rows_of_history(
            target.audited.history_table_name(),
            "gen_random_uuid()",
            "history.change_type",
            params.len() + 1,
        ),
    );
    let audit_row = AuditRow::new(now, audit);
    let mut all = params.to_vec();
    all.extend(audit_row.settled_params());
    query_one_as(client, &sql, &all).await
}

/// The account's payments, oldest first.
pub async fn find_payments_by_account(
    client: &impl GenericClient,
    tenant_record_id: i64,
    account_id: Uuid,
) -> Result<Vec<PaymentRecord>, StorageError> {
    query_as(
        client,
        "select * from payments where account_id = $1 and tenant_record_id = $2
         order by record_id",
        &[&account_id, &tenant_record_id],
    )
    .await
}

/// Kill Bill's PaymentSqlDao `searchQuery` on the payments of tenant `$1`: every one when
/// `$2` is null, else those whose id, account id or payment method id equals `$2`, or whose
/// external key or state name is like `$3`.
const PAYMENT_SEARCH_CLAUSE: &str = "tenant_record_id = $1
    and ($2::text is null or id::text = $2 or account_id::text = $2
         or payment_method_id::text = $2 or external_key like $3
         or state_name like $3)";

/// The tenant's payments, or those matching `key` ([`PAYMENT_SEARCH_CLAUSE`]), for a page
/// ([`Search::page`]) and its count ([`Search::count`]).
pub fn search(key: Option<&str>) -> Search<'_, PaymentRecord> {
    Search::by_key("payments", PAYMENT_SEARCH_CLAUSE, key)
}

/// The transactions of these payments, in effective date order (then creation order).
pub async fn find_transactions_by_payments(
    client: &impl GenericClient,
    payment_ids: &[Uuid],
) -> Result<Vec<TransactionRecord>, StorageError> {
    query_as(
        client,
        "select * from payment_transactions where payment_id = any($1)
         order by effective_date, record_id",
        &[&payment_ids],
    )
    .await
}

/// The tenant's transactions with this external key, oldest first.
pub async fn find_transactions_by_external_key(
    client: &impl GenericClient,
    tenant_record_id: i64,
    external_key: &str,
) -> Result<Vec<TransactionRecord>, StorageError> {
    query_as(
        client,
        "select * from payment_transactions
         where tenant_record_id = $1 and transaction_external_key = $2
         order by record_id",
        &[&tenant_record_id, &external_key],
    )
    .await
}

/// A transaction still UNKNOWN or PENDING, with what the janitor needs to repair it.
#[derive(Debug, Clone)]
pub struct OpenTransaction {
    pub transaction: TransactionRecord,
    pub payment: PaymentRecord,
}

/// The transaction with this id, with its payment.
pub async fn find_transaction_with_payment(
    client: &impl GenericClient,
    tenant_record_id: i64,
    transaction_id: Uuid,
) -> Result<Option<OpenTransaction>, StorageError> {
    let Some(transaction) = TRANSACTION_TABLE
        .find_by_id(client, tenant_record_id, transaction_id)
        .await?
    else {
        return Ok(None);
    };
    let payment = find_payment(
        client,
        tenant_record_id,
        PaymentLookup::Id(transaction.payment_id),
    )
    .await?;
    Ok(payment.map(|payment| OpenTransaction {
        transaction,
        payment,
    }))
}

/// Takes Kill Bill's lock on an account (`ACCNT_INV_PAY-<id>`) for the rest of the caller's
/// transaction, if no other transaction holds it; never waits. Every payment transaction on an
/// account takes it first, so two nodes never decide on one account at once, and the lease
/// check that follows sees every lease committed before.
pub async fn try_lock_account(
    client: &impl GenericClient,
    lock_name: &str,
) -> Result<bool, StorageError> {
    query_value(
        client,
        "select pg_try_advisory_xact_lock(hashtextextended($1, 0))",
        &[&lock_name],
    )
    .await
}

/// The tenant's account with this id, with whether a live lease of another node holds it: not
/// expired, and not of a node in `dead_nodes`. A lease of this node's is never live here: the
/// caller holds the account's turn on this node, so that lease belongs to a request that ended
/// without giving it back.
pub async fn find_account_for_payment(
    client: &impl GenericClient,
    tenant_record_id: i64,
    account_id: Uuid,
    lock_name: &str,
    node: &str,
    dead_nodes: &[String],
) -> Result<Option<(AccountRecord, bool)>, StorageError> {
    let row = super::query_opt_cached(
        client,
        "select accounts.*, exists (
                select 1 from account_locks lease
                where lease.lock_name = $3 and lease.expires_at > now() and lease.node <> $4
                  and lease.node <> all($5)
            ) as lease_held_elsewhere
         from accounts where id = $1 and tenant_record_id = $2",
        &[
            &account_id,
            &tenant_record_id,
            &lock_name,
            &node,
            &dead_nodes,
        ],
    )
    .await?;
    row.map(|row| {
        Ok((
            AccountRecord::from_row(&row)?,
            row.try_get("lease_held_elsewhere")?,
        ))
    })
    .transpose()
}

/// How an operation names its payment: by id, by payment external key, or not at all (a new
/// payment without a key).
#[derive(Debug, Clone, Copy)]
pub enum PaymentLookup<'a> {
    Id(Uuid),
    ExternalKey(&'a str),
    None,
}

impl PaymentLookup<'_> {
    /// The condition selecting the payment from `payments` (aliased `p`), with `$1` the tenant
    /// and `$2` the id or key; `None` when nothing is looked up.
    fn condition(&self) -> Option<&'static str> {
        match self {
            PaymentLookup::Id(_) => Some("p.id = $2 and p.tenant_record_id = $1"),
            PaymentLookup::ExternalKey(_) => {
                Some("p.external_key = $2 and p.tenant_record_id = $1")
            }
            PaymentLookup::None => None,
        }
    }

    fn value(&self) -> &(dyn ToSql + Sync) {
        match self {
            PaymentLookup::Id(id) => id,
            PaymentLookup::ExternalKey(key) => key,
            PaymentLookup::None => &None::<Uuid>,
        }
    }
}

/// The tenant's payment `lookup` names, if any.
pub async fn find_payment(
    client: &impl GenericClient,
    tenant_record_id: i64,
    lookup: PaymentLookup<'_>,
) -> Result<Option<PaymentRecord>, StorageError> {
    let Some(condition) = lookup.condition() else {
        return Ok(None);
    };
    let sql = format!("select * from payments p where {condition}");
    query_opt_as(client, &sql, &[&tenant_record_id, lookup.value()]).await
}

/// The transactions of the payment `lookup` names, in effective date order (then creation
/// order); none when it names none.
pub async fn find_transactions_of_payment(
    client: &impl GenericClient,
    tenant_record_id: i64,
    lookup: PaymentLookup<'_>,
) -> Result<Vec<TransactionRecord>, StorageError> {
    let Some(condition) = lookup.condition() else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "select * from payment_transactions
         where payment_id = (select p.id from payments p where {condition})
         order by effective_date, record_id"
    );
    query_as(client, &sql, &[&tenant_record_id, lookup.value()]).await
}

/// The method an operation would use: that of the payment `lookup` names, else
/// `payment_method_id`, else the default method of `account_id`; deleted ones too.
pub async fn find_method_for_payment(
    client: &impl GenericClient,
    tenant_record_id: i64,
    lookup: PaymentLookup<'_>,
    payment_method_id: Option<Uuid>,
    account_id: Uuid,
) -> Result<Option<PaymentMethodRecord>, StorageError> {
    let payments_method = match lookup.condition() {
        Some(condition) => {
            format!("(select p.payment_method_id from payments p where {condition})")
        }
        // Binds the (null) lookup value all the same, so every variant takes four parameters.
        None => "$2::uuid".to_string(),
    };
    let sql = format!(
        "select * from payment_methods
         where tenant_record_id = $1
           and id = coalesce({payments_method}, $3,
                             (select payment_method_id from accounts
                              where id = $4 and tenant_record_id = $1))"
    );
    query_opt_as(
        client,
        &sql,
        &[
            &tenant_record_id,
            lookup.value(),
            &payment_method_id,
            &account_id,
        ],
    )
    .await
}

/// Who holds an account's lease, and for what.
pub struct Lease<'a> {
    pub lock_name: &'a str,
    pub owner: &'a str,
    pub node: &'a str,
    pub expires_at: DateTime<Utc>,
    /// The payment transaction it protects, which whoever takes the lease over repairs.
    pub transaction: Option<(i64, Uuid)>,
}

/// Records a lease. Called under [`try_lock_account`] once no live lease of another node was
/// found, so it may overwrite a stale one: a dead node's, or one that expired. Returns the
/// transaction such a lease of another node protected (tenant record id, transaction id),
/// which nobody will find through its lease any more.
pub async fn take_lease(
    client: &impl GenericClient,
    lease: &Lease<'_>,
) -> Result<Option<(i64, Uuid)>, StorageError> {
    let (tenant_record_id, transaction_id) = lease.transaction.unzip();
    // `displaced` reads the row as it was before the upsert (one snapshot for the statement).
    query_opt_as(
        client,
        "with displaced as (
             select tenant_record_id, transaction_id from account_locks
             where lock_name = $1 and node <> $3
               and transaction_id is not null and tenant_record_id is not null
         ), taken as (
             insert into account_locks
                 (lock_name, owner, node, expires_at, tenant_record_id, transaction_id)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (lock_name) do update
                 set owner = excluded.owner, node = excluded.node,
                     expires_at = excluded.expires_at,
                     tenant_record_id = excluded.tenant_record_id,
                     transaction_id = excluded.transaction_id
         )
         select tenant_record_id, transaction_id from displaced",
        &[
            &lease.lock_name,
            &lease.owner,
            &lease.node,
            &lease.expires_at,
            &tenant_record_id,
            &transaction_id,
        ],
    )
    .await
}

/// A lease a dead node held: its name, owner and the transaction it protected.
#[derive(Debug, Clone)]
pub struct HeldLease {
    pub lock_name: String,
    pub owner: String,
    pub transaction: Option<(i64, Uuid)>,
}

/// The leases `node` holds.
pub async fn find_leases_of_node(
    client: &impl GenericClient,
    node: &str,
) -> Result<Vec<HeldLease>, StorageError> {
    let rows = super::query_cached(
        client,
        "select lock_name, owner, tenant_record_id, transaction_id from account_locks
         where node = $1 order by lock_name",
        &[&node],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let tenant: Option<i64> = row.try_get("tenant_record_id")?;
            let transaction: Option<Uuid> = row.try_get("transaction_id")?;
            Ok(HeldLease {
                lock_name: row.try_get("lock_name")?,
                owner: row.try_get("owner")?,
                transaction: tenant.zip(transaction),
            })
        })
        .collect()
}

/// Gives the lease back, if `owner` still holds it.
pub async fn release_lease(
    client: &impl GenericClient,
    lock_name: &str,
    owner: &str,
) -> Result<(), StorageError> {
    execute_cached(
        client,
        "delete from account_locks where lock_name = $1 and owner = $2",
        &[&lock_name, &owner],
    )
    .await?;
    Ok(())
}

/// Deletes every lease `node` holds; returns how many there were.
pub async fn release_leases_of_node(
    client: &impl GenericClient,
    node: &str,
) -> Result<u64, StorageError> {
    execute_cached(
        client,
        "delete from account_locks where node = $1",
        &[&node],
    )
    .await
}

/// UNKNOWN transactions whose outcome was never recorded (never updated since their first
/// transaction) and recorded before `recorded_before`: the ones a dead node left. At most
/// `limit`, oldest first, as (tenant record id, transaction id).
pub async fn find_abandoned_transactions(
    client: &impl GenericClient,
    recorded_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(i64, Uuid)>, StorageError> {
    query_as(
        client,
        "select tenant_record_id, id from payment_transactions
             where transaction_status = 'UNKNOWN' and updated_date = created_date
               and created_date < $1
             order by record_id
             limit $2",
        &[&recorded_before, &limit],
    )
    .await
}
