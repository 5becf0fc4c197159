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
use tokio_postgres::Row;
use uuid::Uuid;

use super::audit::{with_history_and_audit, AuditRow, ChangeType};
use super::{AuditContext, StorageError};

/// The unique index that makes a second payment with one external key in a tenant a conflict.
pub const PAYMENT_EXTERNAL_KEY_INDEX: &str = "payments_external_key";

const PAYMENT_COLUMNS: &str = "id, account_id, payment_method_id, external_key, state_name,
    last_success_state_name, created_by, created_date, updated_by, updated_date,
    account_record_id, tenant_record_id";

const TRANSACTION_COLUMNS: &str = "id, attempt_id, transaction_external_key, transaction_type,
    effective_date, transaction_status, amount, currency, processed_amount, processed_currency,
    payment_id, gateway_error_code, gateway_error_msg, created_by, created_date, updated_by,
    updated_date, account_record_id, tenant_record_id";

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

impl PaymentRecord {
    fn from_row(row: &Row) -> Result<PaymentRecord, StorageError> {
        Ok(PaymentRecord {
            record_id: row.try_get("record_id")?,
            id: row.try_get("id")?,
            account_id: row.try_get("account_id")?,
            payment_method_id: row.try_get("payment_method_id")?,
            external_key: row.try_get("external_key")?,
            state_name: row.try_get("state_name")?,
            last_success_state_name: row.try_get("last_success_state_name")?,
            created_date: row.try_get("created_date")?,
            updated_date: row.try_get("updated_date")?,
            account_record_id: row.try_get("account_record_id")?,
            tenant_record_id: row.try_get("tenant_record_id")?,
        })
    }
}

/// One `payment_transactions` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    pub record_id: i64,
    pub id: Uuid,
    pub payment_id: Uuid,
    pub external_key: String,
    pub transaction_type: String,
    pub effective_date: DateTime<Utc>,
    pub status: String,
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub processed_amount: Option<Decimal>,
    pub processed_currency: Option<String>,
    pub gateway_error_code: Option<String>,
    pub gateway_error_msg: Option<String>,
    pub created_date: DateTime<Utc>,
    pub updated_date: DateTime<Utc>,
}

impl TransactionRecord {
    fn from_row(row: &Row) -> Result<TransactionRecord, StorageError> {
        Ok(TransactionRecord {
            record_id: row.try_get("record_id")?,
            id: row.try_get("id")?,
            payment_id: row.try_get("payment_id")?,
            external_key: row.try_get("transaction_external_key")?,
            transaction_type: row.try_get("transaction_type")?,
            effective_date: row.try_get("effective_date")?,
            status: row.try_get("transaction_status")?,
            amount: row.try_get("amount")?,
            currency: row.try_get("currency")?,
            processed_amount: row.try_get("processed_amount")?,
            processed_currency: row.try_get("processed_currency")?,
            gateway_error_code: row.try_get("gateway_error_code")?,
            gateway_error_msg: row.try_get("gateway_error_msg")?,
            created_date: row.try_get("created_date")?,
            updated_date: row.try_get("updated_date")?,
        })
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
    pub transaction_type: &'a str,
    pub effective_date: DateTime<Utc>,
    pub amount: Option<Decimal>,
    pub currency: Option<&'a str>,
    pub account_record_id: i64,
}

/// What a plugin call decided for a transaction.
pub struct TransactionOutcome<'a> {
    pub status: &'a str,
    pub processed_amount: Option<Decimal>,
    pub processed_currency: Option<&'a str>,
    pub gateway_error_code: Option<&'a str>,
    pub gateway_error_msg: Option<&'a str>,
}

async fn query_recorded(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, StorageError> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_one(&statement, params).await?)
}

/// Inserts a payment with no state yet, with its history and audit rows.
pub async fn insert_payment(
    client: &impl GenericClient,
    payment: &NewPayment<'_>,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<PaymentRecord, StorageError> {
    let sql = with_history_and_audit(
        &format!(
            "insert into payments ({PAYMENT_COLUMNS})
             values ($1, $2, $3, $4, null, null, $5, $6, $5, $6, $7, $8)
             returning *"
        ),
        "payment_history",
        PAYMENT_COLUMNS,
        "PAYMENT_HISTORY",
        ChangeType::Insert,
        9,
    );
    let audit_row = AuditRow::new(now, audit);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &payment.id,
        &payment.account_id,
        &payment.payment_method_id,
        &payment.external_key,
        &audit.created_by,
        &now,
        &payment.account_record_id,
        &audit.tenant_record_id,
    ];
    params.extend(audit_row.params());
    let row = query_recorded(client, &sql, &params).await?;
    PaymentRecord::from_row(&row)
}

/// Sets the payment's state (and its last successful state, when given), with history and
/// audit rows.
pub async fn update_payment_state(
    client: &impl GenericClient,
    record_id: i64,
    state_name: &str,
    last_success_state_name: Option<&str>,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<PaymentRecord, StorageError> {
    let sql = with_history_and_audit(
        "update payments set state_name = $2,
                last_success_state_name = coalesce($3, last_success_state_name),
                updated_by = $4, updated_date = $5
         where record_id = $1
         returning *",
        "payment_history",
        PAYMENT_COLUMNS,
        "PAYMENT_HISTORY",
        ChangeType::Update,
        6,
    );
    let audit_row = AuditRow::new(now, audit);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &record_id,
        &state_name,
        &last_success_state_name,
        &audit.created_by,
        &now,
    ];
    params.extend(audit_row.params());
    let row = query_recorded(client, &sql, &params).await?;
    PaymentRecord::from_row(&row)
}

/// Marks the payment as updated (a transaction is being added to it), with history and audit
/// rows, as Kill Bill's updatePaymentWithNewTransaction does; its state is unchanged.
pub async fn touch_payment(
    client: &impl GenericClient,
    record_id: i64,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<PaymentRecord, StorageError> {
    let sql = with_history_and_audit(
        "update payments set updated_by = $2, updated_date = $3
         where record_id = $1
         returning *",
        "payment_history",
        PAYMENT_COLUMNS,
        "PAYMENT_HISTORY",
        ChangeType::Update,
        4,
    );
    let audit_row = AuditRow::new(now, audit);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&record_id, &audit.created_by, &now];
    params.extend(audit_row.params());
    let row = query_recorded(client, &sql, &params).await?;
    PaymentRecord::from_row(&row)
}

/// Inserts a transaction as UNKNOWN, with its history and audit rows.
pub async fn insert_transaction(
    client: &impl GenericClient,
    transaction: &NewTransaction<'_>,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<TransactionRecord, StorageError> {
    let sql = with_history_and_audit(
        &format!(
            "insert into payment_transactions ({TRANSACTION_COLUMNS})
             values ($1, null, $2, $3, $4, 'UNKNOWN', $5, $6, null, null, $7, null, null,
                     $8, $9, $8, $9, $10, $11)
             returning *"
        ),
        "payment_transaction_history",
        TRANSACTION_COLUMNS,
        "PAYMENT_TRANSACTION_HISTORY",
        ChangeType::Insert,
        12,
    );
    let audit_row = AuditRow::new(now, audit);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &transaction.id,
        &transaction.external_key,
        &transaction.transaction_type,
        &transaction.effective_date,
        &transaction.amount,
        &transaction.currency,
        &transaction.payment_id,
        &audit.created_by,
        &now,
        &transaction.account_record_id,
        &audit.tenant_record_id,
    ];
    params.extend(audit_row.params());
    let row = query_recorded(client, &sql, &params).await?;
    TransactionRecord::from_row(&row)
}

/// Records a transaction's outcome, with history and audit rows.
pub async fn update_transaction_outcome(
    client: &impl GenericClient,
    record_id: i64,
    outcome: &TransactionOutcome<'_>,
    now: DateTime<Utc>,
    audit: &AuditContext<'_>,
) -> Result<TransactionRecord, StorageError> {
    let sql = with_history_and_audit(
        "update payment_transactions set transaction_status = $2, processed_amount = $3,
                processed_currency = $4, gateway_error_code = $5, gateway_error_msg = $6,
                updated_by = $7, updated_date = $8
         where record_id = $1
         returning *",
        "payment_transaction_history",
        TRANSACTION_COLUMNS,
        "PAYMENT_TRANSACTION_HISTORY",
        ChangeType::Update,
        9,
    );
    let audit_row = AuditRow::new(now, audit);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &record_id,
        &outcome.status,
        &outcome.processed_amount,
        &outcome.processed_currency,
        &outcome.gateway_error_code,
        &outcome.gateway_error_msg,
        &audit.created_by,
        &now,
    ];
    params.extend(audit_row.params());
    let row = query_recorded(client, &sql, &params).await?;
    TransactionRecord::from_row(&row)
}

async fn query_payments(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<PaymentRecord>, StorageError> {
    let statement = client.prepare_cached(sql).await?;
    let rows = client.query(&statement, params).await?;
    rows.iter().map(PaymentRecord::from_row).collect()
}

/// The tenant's payment with this id.
pub async fn find_payment_by_id(
    client: &impl GenericClient,
    tenant_record_id: i64,
    id: Uuid,
) -> Result<Option<PaymentRecord>, StorageError> {
    let found = query_payments(
        client,
        "select * from payments where id = $1 and tenant_record_id = $2",
        &[&id, &tenant_record_id],
    )
    .await?;
    Ok(found.into_iter().next())
}

/// The tenant's payment with this external key.
pub async fn find_payment_by_external_key(
    client: &impl GenericClient,
    tenant_record_id: i64,
    external_key: &str,
) -> Result<Option<PaymentRecord>, StorageError> {
    let found = query_payments(
        client,
        "select * from payments where external_key = $1 and tenant_record_id = $2",
        &[&external_key, &tenant_record_id],
    )
    .await?;
    Ok(found.into_iter().next())
}

/// The account's payments, oldest first.
pub async fn find_payments_by_account(
    client: &impl GenericClient,
    tenant_record_id: i64,
    account_id: Uuid,
) -> Result<Vec<PaymentRecord>, StorageError> {
    query_payments(
        client,
        "select * from payments where account_id = $1 and tenant_record_id = $2
         order by record_id",
        &[&account_id, &tenant_record_id],
    )
    .await
}

/// One page of the tenant's payments, or of those matching `search` (Kill Bill's PaymentSqlDao
/// `searchQuery`: the id, the account id or the payment method id equal to the key, or the
/// external key or state name containing it), in record id order (descending when asked).
pub async fn list_payments(
    client: &impl GenericClient,
    tenant_record_id: i64,
    search: Option<&str>,
    offset: i64,
    limit: i64,
    descending: bool,
) -> Result<Vec<PaymentRecord>, StorageError> {
    let order = if descending { "desc" } else { "asc" };
    let like = search.map(|key| format!("%{key}%"));
    let sql = format!(
        "select * from payments
         where tenant_record_id = $1
           and ($2::text is null or id::text = $2 or account_id::text = $2
                or payment_method_id::text = $2 or external_key like $3
                or state_name like $3)
         order by record_id {order}
         offset $4 limit $5"
    );
    query_payments(
        client,
        &sql,
        &[&tenant_record_id, &search, &like, &offset, &limit],
    )
    .await
}

/// How many of the tenant's payments match `search`, with [`list_payments`]' clause.
pub async fn count_payments(
    client: &impl GenericClient,
    tenant_record_id: i64,
    search: Option<&str>,
) -> Result<i64, StorageError> {
    let like = search.map(|key| format!("%{key}%"));
    let row = client
        .query_one(
            "select count(*) from payments
             where tenant_record_id = $1
               and ($2::text is null or id::text = $2 or account_id::text = $2
                    or payment_method_id::text = $2 or external_key like $3
                    or state_name like $3)",
            &[&tenant_record_id, &search, &like],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// The transactions of these payments, in effective date order (then creation order).
pub async fn find_transactions_by_payments(
    client: &impl GenericClient,
    payment_ids: &[Uuid],
) -> Result<Vec<TransactionRecord>, StorageError> {
    let statement = client
        .prepare_cached(
            "select * from payment_transactions where payment_id = any($1)
             order by effective_date, record_id",
        )
        .await?;
    let rows = client.query(&statement, &[&payment_ids]).await?;
    rows.iter().map(TransactionRecord::from_row).collect()
}

/// The tenant's transactions with this external key, oldest first.
pub async fn find_transactions_by_external_key(
    client: &impl GenericClient,
    tenant_record_id: i64,
    external_key: &str,
) -> Result<Vec<TransactionRecord>, StorageError> {
    let statement = client
        .prepare_cached(
            "select * from payment_transactions
             where tenant_record_id = $1 and transaction_external_key = $2
             order by record_id",
        )
        .await?;
    let rows = client
        .query(&statement, &[&tenant_record_id, &external_key])
        .await?;
    rows.iter().map(TransactionRecord::from_row).collect()
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
    let statement = client
        .prepare_cached(
            "select * from payment_transactions where id = $1 and tenant_record_id = $2",
        )
        .await?;
    let Some(row) = client
        .query_opt(&statement, &[&transaction_id, &tenant_record_id])
        .await?
    else {
        return Ok(None);
    };
    let transaction = TransactionRecord::from_row(&row)?;
    let payment = find_payment_by_id(client, tenant_record_id, transaction.payment_id).await?;
    Ok(payment.map(|payment| OpenTransaction {
        transaction,
        payment,
    }))
}

/// Takes the lease `lock_name` for `owner` until `expires_at`, if it is free or expired.
/// Returns whether it is now held by `owner`.
pub async fn try_take_lock(
    client: &impl GenericClient,
    lock_name: &str,
    owner: &str,
    expires_at: DateTime<Utc>,
) -> Result<bool, StorageError> {
    let statement = client
        .prepare_cached(
            "insert into account_locks (lock_name, owner, expires_at) values ($1, $2, $3)
             on conflict (lock_name) do update
                 set owner = excluded.owner, expires_at = excluded.expires_at
                 where account_locks.expires_at < now()
             returning owner",
        )
        .await?;
    let row = client
        .query_opt(&statement, &[&lock_name, &owner, &expires_at])
        .await?;
    Ok(row.is_some())
}

/// Gives the lease back, if `owner` still holds it.
pub async fn release_lock(
    client: &impl GenericClient,
    lock_name: &str,
    owner: &str,
) -> Result<(), StorageError> {
    let statement = client
        .prepare_cached("delete from account_locks where lock_name = $1 and owner = $2")
        .await?;
    client.execute(&statement, &[&lock_name, &owner]).await?;
    Ok(())
}

/// Deletes every lease whose owner starts with `owner_prefix` (a node's name and `:`); returns
/// how many there were.
pub async fn release_locks_of_node(
    client: &impl GenericClient,
    owner_prefix: &str,
) -> Result<u64, StorageError> {
    let pattern = format!("{}%", owner_prefix.replace('%', "\\%").replace('_', "\\_"));
    Ok(client
        .execute("delete from account_locks where owner like $1", &[&pattern])
        .await?)
}

/// UNKNOWN transactions whose outcome was never recorded (never updated since their first
/// transaction) and recorded before `recorded_before`: the ones a dead node left. At most
/// `limit`, oldest first, as (tenant record id, transaction id).
pub async fn find_abandoned_transactions(
    client: &impl GenericClient,
    recorded_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(i64, Uuid)>, StorageError> {
    let rows = client
        .query(
            "select tenant_record_id, id from payment_transactions
             where transaction_status = 'UNKNOWN' and updated_date = created_date
               and created_date < $1
             order by record_id
             limit $2",
            &[&recorded_before, &limit],
        )
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}
