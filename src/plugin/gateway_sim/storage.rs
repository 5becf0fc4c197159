//! The simulated gateway's own tables (`gateway_payment_methods`, `gateway_payments`,
//! `gateway_transactions`, migration 0008), as a Kill Bill plugin keeps its tables: reached
//! only through the plugin pool and only by this plugin.
//!
//! This file owns that SQL and nothing else: it never decides whether a call is approved,
//! never sleeps, never opens a transaction (the caller passes one where rows must be locked),
//! and is never handed a full card number, so it cannot store one.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use rust_decimal::Decimal;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::domain::payments::TransactionType;
use crate::plugin::{PaymentCall, PaymentPluginStatus};

/// A new `gateway_payment_methods` row.
pub struct NewMethod<'a> {
    pub tenant_id: Uuid,
    pub account_id: Uuid,
    pub payment_method_id: Uuid,
    pub external_id: &'a str,
    pub card_class: Option<&'static str>,
    pub card_last4: Option<&'a str>,
    pub card_fingerprint: Option<&'a str>,
    pub details: serde_json::Value,
    pub is_default: bool,
}

/// A `gateway_payment_methods` row as reads need it.
pub struct MethodRecord {
    pub kb_payment_method_id: Uuid,
    pub external_id: String,
    pub card_class: Option<String>,
    pub card_last4: Option<String>,
    pub details: serde_json::Value,
    pub is_default: bool,
}

/// A locked `gateway_payments` row: the charge and its running totals.
pub struct PaymentRecord {
    pub charge_id: String,
    pub authorized: Decimal,
    pub captured: Decimal,
    pub refunded: Decimal,
    pub voided: bool,
}

/// A `gateway_transactions` row: one call and the gateway's answer.
pub struct TransactionRecord {
    pub transaction_id: Uuid,
    pub payment_id: Uuid,
    pub transaction_type: TransactionType,
    pub processed_amount: Option<Decimal>,
    pub currency: Option<String>,
    pub status: PaymentPluginStatus,
    pub gateway_error_code: Option<String>,
    pub gateway_error: Option<String>,
    pub charge_id: String,
    pub reference_id: String,
    pub created_date: DateTime<Utc>,
    pub updated_date: DateTime<Utc>,
}

/// The gateway's answer to one call, as [`save_transaction`] records it.
pub struct Answer<'a> {
    pub processed_amount: Option<Decimal>,
    pub status: PaymentPluginStatus,
    pub gateway_error_code: Option<&'a str>,
    pub gateway_error: Option<&'a str>,
}

/// The status column's spelling (Kill Bill's PaymentPluginStatus names).
fn status_name(status: PaymentPluginStatus) -> &'static str {
    match status {
        PaymentPluginStatus::Processed => "PROCESSED",
        PaymentPluginStatus::Pending => "PENDING",
        PaymentPluginStatus::Error => "ERROR",
        PaymentPluginStatus::Canceled => "CANCELED",
        PaymentPluginStatus::Undefined => "UNDEFINED",
    }
}

fn parse_status(name: &str) -> PaymentPluginStatus {
    match name {
        "PROCESSED" => PaymentPluginStatus::Processed,
        "PENDING" => PaymentPluginStatus::Pending,
        "ERROR" => PaymentPluginStatus::Error,
        "CANCELED" => PaymentPluginStatus::Canceled,
        // The check constraint admits nothing else.
        _ => PaymentPluginStatus::Undefined,
    }
}

pub async fn insert_payment_method(
    client: &impl GenericClient,
    method: &NewMethod<'_>,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "insert into gateway_payment_methods (kb_payment_method_id, kb_account_id,
                 kb_tenant_id, external_id, card_class, card_last4, card_fingerprint, details,
                 is_default)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &method.payment_method_id,
                &method.account_id,
                &method.tenant_id,
                &method.external_id,
                &method.card_class,
                &method.card_last4,
                &method.card_fingerprint,
                &method.details,
                &method.is_default,
            ],
        )
        .await?;
    Ok(())
}

/// Makes `payment_method_id` the account's only default with the gateway.
pub async fn set_default_payment_method(
    client: &impl GenericClient,
    tenant_id: Uuid,
    account_id: Uuid,
    payment_method_id: Uuid,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "update gateway_payment_methods
             set is_default = (kb_payment_method_id = $3), updated_date = now()
             where kb_tenant_id = $1 and kb_account_id = $2
               and (is_default or kb_payment_method_id = $3)",
            &[&tenant_id, &account_id, &payment_method_id],
        )
        .await?;
    Ok(())
}

/// Soft delete, as Kill Bill keeps deleted methods readable.
pub async fn delete_payment_method(
    client: &impl GenericClient,
    tenant_id: Uuid,
    payment_method_id: Uuid,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "update gateway_payment_methods
             set is_deleted = true, is_default = false, updated_date = now()
             where kb_tenant_id = $1 and kb_payment_method_id = $2",
            &[&tenant_id, &payment_method_id],
        )
        .await?;
    Ok(())
}

pub async fn find_payment_method(
    client: &impl GenericClient,
    tenant_id: Uuid,
    payment_method_id: Uuid,
) -> Result<Option<MethodRecord>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!(
                "select {METHOD_COLUMNS} from gateway_payment_methods
                 where kb_tenant_id = $1 and kb_payment_method_id = $2"
            ),
            &[&tenant_id, &payment_method_id],
        )
        .await?;
    row.as_ref().map(method_record).transpose()
}

/// The account's methods the gateway still holds (not deleted), oldest first.
pub async fn find_account_methods(
    client: &impl GenericClient,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Vec<MethodRecord>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "select {METHOD_COLUMNS} from gateway_payment_methods
                 where kb_tenant_id = $1 and kb_account_id = $2 and not is_deleted
                 order by record_id"
            ),
            &[&tenant_id, &account_id],
        )
        .await?;
    rows.iter().map(method_record).collect()
}

/// The tenant's methods the gateway still holds whose Kill Bill id, account id or card's last
/// four digits equal `key`, or whose gateway id contains it; oldest first.
pub async fn search_methods(
    client: &impl GenericClient,
    tenant_id: Uuid,
    key: &str,
) -> Result<Vec<MethodRecord>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "select {METHOD_COLUMNS} from gateway_payment_methods
                 where kb_tenant_id = $1 and not is_deleted
                   and (kb_payment_method_id::text = $2 or kb_account_id::text = $2
                        or card_last4 = $2 or strpos(external_id, $2) > 0)
                 order by record_id"
            ),
            &[&tenant_id, &key],
        )
        .await?;
    rows.iter().map(method_record).collect()
}

/// The columns a [`MethodRecord`] is read from.
const METHOD_COLUMNS: &str =
    "kb_payment_method_id, external_id, card_class, card_last4, details, is_default";

fn method_record(row: &Row) -> Result<MethodRecord, tokio_postgres::Error> {
    Ok(MethodRecord {
        kb_payment_method_id: row.try_get("kb_payment_method_id")?,
        external_id: row.try_get("external_id")?,
        card_class: row.try_get("card_class")?,
        card_last4: row.try_get("card_last4")?,
        details: row.try_get("details")?,
        is_default: row.try_get("is_default")?,
    })
}

/// Creates the payment's row on its first call; later calls find it.
pub async fn ensure_payment(
    client: &impl GenericClient,
    call: &PaymentCall,
    charge_id: &str,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "insert into gateway_payments (kb_payment_id, kb_account_id, kb_tenant_id, charge_id)
             values ($1, $2, $3, $4)
             on conflict (kb_payment_id) do nothing",
            &[
                &call.payment_id,
                &call.account_id,
                &call.tenant_id,
                &charge_id,
            ],
        )
        .await?;
    Ok(())
}

/// Locks the payment's row until the caller's transaction ends. `for update` rather than an
/// advisory lock or serializable isolation: concurrent calls on one payment queue on this row
/// and each sees the totals the previous one committed, so two captures can never both fit
/// into the same remaining authorization. Calls on other payments are not held up.
pub async fn lock_payment(
    client: &impl GenericClient,
    tenant_id: Uuid,
    payment_id: Uuid,
) -> Result<Option<PaymentRecord>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "select charge_id, authorized_amount, captured_amount, refunded_amount, voided
             from gateway_payments
             where kb_tenant_id = $1 and kb_payment_id = $2
             for update",
            &[&tenant_id, &payment_id],
        )
        .await?;
    row.map(|row| {
        Ok(PaymentRecord {
            charge_id: row.try_get("charge_id")?,
            authorized: row.try_get("authorized_amount")?,
            captured: row.try_get("captured_amount")?,
            refunded: row.try_get("refunded_amount")?,
            voided: row.try_get("voided")?,
        })
    })
    .transpose()
}

/// Writes the payment's totals back; only under [`lock_payment`]'s lock.
pub async fn update_payment_totals(
    client: &impl GenericClient,
    payment_id: Uuid,
    payment: &PaymentRecord,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "update gateway_payments
             set authorized_amount = $2, captured_amount = $3, refunded_amount = $4,
                 voided = $5, updated_date = now()
             where kb_payment_id = $1",
            &[
                &payment_id,
                &payment.authorized,
                &payment.captured,
                &payment.refunded,
                &payment.voided,
            ],
        )
        .await?;
    Ok(())
}

/// Records a call whose answer is not known yet (a hanging call), so `get_payment_info`
/// reports it as UNDEFINED meanwhile. A repeated call keeps the first row.
pub async fn insert_undefined_transaction(
    client: &impl GenericClient,
    call: &PaymentCall,
    transaction_type: TransactionType,
    reference_id: &str,
    card_last4: &str,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "insert into gateway_transactions (kb_transaction_id, kb_payment_id, kb_tenant_id,
                 transaction_type, requested_amount, currency, status, reference_id, card_last4)
             values ($1, $2, $3, $4, $5, $6, 'UNDEFINED', $7, $8)
             on conflict (kb_transaction_id) do nothing",
            &[
                &call.transaction_id,
                &call.payment_id,
                &call.tenant_id,
                &transaction_type.as_str(),
                &call.amount,
                &call.currency,
                &reference_id,
                &card_last4,
            ],
        )
        .await?;
    Ok(())
}

/// Records the gateway's answer to a call, replacing the UNDEFINED row of a hang.
pub async fn save_transaction(
    client: &impl GenericClient,
    call: &PaymentCall,
    transaction_type: TransactionType,
    reference_id: &str,
    card_last4: &str,
    answer: &Answer<'_>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), tokio_postgres::Error> {
    let row = client
        .query_one(
            "insert into gateway_transactions (kb_transaction_id, kb_payment_id, kb_tenant_id,
                 transaction_type, requested_amount, processed_amount, currency, status,
                 gateway_error_code, gateway_error, reference_id, card_last4)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             on conflict (kb_transaction_id) do update
             set processed_amount = excluded.processed_amount, status = excluded.status,
                 gateway_error_code = excluded.gateway_error_code,
                 gateway_error = excluded.gateway_error, updated_date = now()
             returning created_date, updated_date",
            &[
                &call.transaction_id,
                &call.payment_id,
                &call.tenant_id,
                &transaction_type.as_str(),
                &call.amount,
                &answer.processed_amount,
                &call.currency,
                &status_name(answer.status),
                &answer.gateway_error_code,
                &answer.gateway_error,
                &reference_id,
                &card_last4,
            ],
        )
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Settles a PENDING transaction as a notification says; a transaction no longer PENDING is
/// left as it is (only under [`lock_payment`]'s lock, so two notifications settle it once).
pub async fn settle_pending_transaction(
    client: &impl GenericClient,
    transaction_id: Uuid,
    status: PaymentPluginStatus,
    processed_amount: Decimal,
    gateway_error_code: Option<&str>,
    gateway_error: Option<&str>,
) -> Result<u64, tokio_postgres::Error> {
    client
        .execute(
            "update gateway_transactions
             set status = $2, processed_amount = $3, gateway_error_code = $4,
                 gateway_error = $5, updated_date = now()
             where kb_transaction_id = $1 and status = 'PENDING'",
            &[
                &transaction_id,
                &status_name(status),
                &processed_amount,
                &gateway_error_code,
                &gateway_error,
            ],
        )
        .await
}

const TRANSACTION_COLUMNS: &str = "t.kb_transaction_id, t.kb_payment_id, t.transaction_type,
    t.processed_amount, t.currency, t.status, t.gateway_error_code, t.gateway_error,
    p.charge_id, t.reference_id, t.created_date, t.updated_date";

fn transaction_from_row(row: &Row) -> Result<Option<TransactionRecord>, tokio_postgres::Error> {
    let transaction_type: String = row.try_get("transaction_type")?;
    // Only this plugin writes the column, from TransactionType::as_str.
    let Some(transaction_type) = TransactionType::parse(&transaction_type) else {
        return Ok(None);
    };
    let status: String = row.try_get("status")?;
    Ok(Some(TransactionRecord {
        transaction_id: row.try_get("kb_transaction_id")?,
        payment_id: row.try_get("kb_payment_id")?,
        transaction_type,
        processed_amount: row.try_get("processed_amount")?,
        currency: row.try_get("currency")?,
        status: parse_status(&status),
        gateway_error_code: row.try_get("gateway_error_code")?,
        gateway_error: row.try_get("gateway_error")?,
        charge_id: row.try_get("charge_id")?,
        reference_id: row.try_get("reference_id")?,
        created_date: row.try_get("created_date")?,
        updated_date: row.try_get("updated_date")?,
    }))
}

/// The recorded answer to one transaction, if the gateway has one.
pub async fn find_transaction(
    client: &impl GenericClient,
    transaction_id: Uuid,
) -> Result<Option<TransactionRecord>, tokio_postgres::Error> {
    let sql = format!(
        "select {TRANSACTION_COLUMNS}
         from gateway_transactions t join gateway_payments p using (kb_payment_id)
         where t.kb_transaction_id = $1"
    );
    match client.query_opt(&sql, &[&transaction_id]).await? {
        Some(row) => transaction_from_row(&row),
        None => Ok(None),
    }
}

/// Every transaction of the payment, oldest first.
pub async fn find_transactions_by_payment(
    client: &impl GenericClient,
    tenant_id: Uuid,
    payment_id: Uuid,
) -> Result<Vec<TransactionRecord>, tokio_postgres::Error> {
    let sql = format!(
        "select {TRANSACTION_COLUMNS}
         from gateway_transactions t join gateway_payments p using (kb_payment_id)
         where t.kb_tenant_id = $1 and t.kb_payment_id = $2
         order by t.record_id"
    );
    let rows = client.query(&sql, &[&tenant_id, &payment_id]).await?;
    let mut transactions = Vec::with_capacity(rows.len());
    for row in &rows {
        transactions.extend(transaction_from_row(row)?);
    }
    Ok(transactions)
}
