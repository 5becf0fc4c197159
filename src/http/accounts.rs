//! `/1.0/kb/accounts`: Kill Bill's AccountResource, the create, read, update, children, emails
//! and audit trail endpoints (api.md §2), with AccountJson and AccountEmailJson exactly as Kill
//! Bill writes them: every field present, `null` where unset, dates as
//! `2024-05-01T12:00:00.000Z`. The account's tags and custom fields are `tags.rs`'s and
//! `custom_fields.rs`'s.
//!
//! This file owns the wire shape and the query parameters. It must never hold SQL or a business
//! rule (defaults, validation, what may change): those are `service::accounts`'s.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::audit::{
    audit_log_json, audit_logs_json, audit_logs_with_history_json, kill_bill_date_time,
    parse_audit_level, AuditLogJson,
};
use super::error::Result;
use super::extract::{
    flag, kill_bill_json_body, long, parse_id, BaseUrl, CurrentTenant, KbJson, KbPath, TenantWrite,
};
use super::lenient;
use super::paging::Listing;
use super::respond::created;
use super::AppState;
use crate::service::accounts::{AccountInput, AccountView, BalanceRequest};
use crate::service::{AuditLevel, PageRequest};

/// Kill Bill's ObjectTypes of an account and of an account email, in their audit logs.
const ACCOUNT_OBJECT_TYPE: &str = "ACCOUNT";
const ACCOUNT_EMAIL_OBJECT_TYPE: &str = "ACCOUNT_EMAIL";

/// Kill Bill's AccountJson as a request body. Every field is optional and an explicit `null`
/// is the same as an absent field; `accountId`, `accountBalance`, `accountCBA` and `auditLogs`
/// are accepted and ignored, as Kill Bill does. Unknown fields are a 400.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountInputJson {
    /// Ignored by account creation; the combo calls find the account by it.
    #[serde(default, rename = "accountId")]
    pub(super) account_id: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    first_name_length: Option<i32>,
    #[serde(default, deserialize_with = "lenient::string")]
    external_key: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    email: Option<String>,
    #[serde(default, deserialize_with = "lenient::int")]
    bill_cycle_day_local: Option<i32>,
    #[serde(default, deserialize_with = "lenient::currency")]
    currency: Option<String>,
    #[serde(default, deserialize_with = "lenient::uuid")]
    parent_account_id: Option<Uuid>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    is_payment_delegated_to_parent: Option<bool>,
    #[serde(default, deserialize_with = "lenient::uuid")]
    payment_method_id: Option<Uuid>,
    #[serde(default, deserialize_with = "lenient::date_time")]
    reference_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::string")]
    time_zone: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    address1: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    address2: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    postal_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    company: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    city: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    state: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    country: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    locale: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    phone: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    notes: Option<String>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    is_migrated: Option<bool>,
    #[serde(default, rename = "accountBalance")]
    _account_balance: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "accountCBA")]
    _account_cba: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "auditLogs")]
    _audit_logs: Option<serde::de::IgnoredAny>,
}

kill_bill_json_body!(AccountInputJson, "AccountJson");

impl From<AccountInputJson> for AccountInput {
    fn from(json: AccountInputJson) -> Self {
        AccountInput {
            external_key: json.external_key,
            email: json.email,
            name: json.name,
            first_name_length: json.first_name_length,
            currency: json.currency,
            bill_cycle_day_local: json.bill_cycle_day_local,
            parent_account_id: json.parent_account_id,
            is_payment_delegated_to_parent: json.is_payment_delegated_to_parent,
            payment_method_id: json.payment_method_id,
            reference_time: json.reference_time,
            time_zone: json.time_zone,
            locale: json.locale,
            address1: json.address1,
            address2: json.address2,
            company_name: json.company,
            city: json.city,
            state_or_province: json.state,
            country: json.country,
            postal_code: json.postal_code,
            phone: json.phone,
            notes: json.notes,
            migrated: json.is_migrated,
        }
    }
}

/// Kill Bill's AccountJson as a response, fields in Kill Bill's order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountJson {
    account_id: Uuid,
    name: Option<String>,
    first_name_length: Option<i32>,
    external_key: String,
    email: Option<String>,
    bill_cycle_day_local: i32,
    currency: Option<String>,
    parent_account_id: Option<Uuid>,
    is_payment_delegated_to_parent: bool,
    payment_method_id: Option<Uuid>,
    #[serde(serialize_with = "kill_bill_date_time")]
    reference_time: DateTime<Utc>,
    time_zone: String,
    address1: Option<String>,
    address2: Option<String>,
    postal_code: Option<String>,
    company: Option<String>,
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    locale: Option<String>,
    phone: Option<String>,
    notes: Option<String>,
    is_migrated: Option<bool>,
    account_balance: Option<i64>,
    #[serde(rename = "accountCBA")]
    account_cba: Option<i64>,
    audit_logs: Vec<AuditLogJson>,
}

impl From<AccountView> for AccountJson {
    fn from(view: AccountView) -> Self {
        let account = view.account;
        let data = account.data;
        AccountJson {
            account_id: account.id,
            name: data.name,
            first_name_length: data.first_name_length,
            external_key: data.external_key,
            email: data.email,
            bill_cycle_day_local: data.bill_cycle_day_local,
            currency: data.currency,
            parent_account_id: data.parent_account_id,
            is_payment_delegated_to_parent: data.is_payment_delegated_to_parent,
            payment_method_id: data.payment_method_id,
            reference_time: data.reference_time,
            time_zone: data.time_zone,
            address1: data.address1,
            address2: data.address2,
            postal_code: data.postal_code,
            company: data.company_name,
            city: data.city,
            state: data.state_or_province,
            country: data.country,
            locale: data.locale,
            phone: data.phone,
            notes: data.notes,
            is_migrated: data.migrated,
            account_balance: view.balance,
            account_cba: view.credit,
            audit_logs: Vec::new(),
        }
    }
}

/// The read parameters Kill Bill's getAccount and getAccountByKey take. Booleans follow
/// JAX-RS: anything other than `true` is false. `audit` must name an AuditLevel (else 404).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReadQuery {
    external_key: Option<String>,
    account_with_balance: Option<String>,
    #[serde(rename = "accountWithBalanceAndCBA")]
    account_with_balance_and_cba: Option<String>,
    audit: Option<String>,
}

impl ReadQuery {
    fn balances(&self) -> BalanceRequest {
        BalanceRequest {
            balance: flag(self.account_with_balance.as_deref()),
            credit: flag(self.account_with_balance_and_cba.as_deref()),
        }
    }
}

fn read_query(
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> ReadQuery {
    query.map(|Query(query)| query).unwrap_or_default()
}

/// The AccountJson of `view` with its audit trail at `level`.
async fn account_json(
    state: &AppState,
    view: AccountView,
    level: AuditLevel,
) -> Result<AccountJson> {
    let logs = state.accounts.audit_logs(&view.account, level).await?;
    let id = view.account.id;
    let mut json = AccountJson::from(view);
    json.audit_logs = audit_logs_json(ACCOUNT_OBJECT_TYPE, id, logs);
    Ok(json)
}

/// `GET /1.0/kb/accounts/{accountId}/auditLogs`: the audit trail of the account and of
/// everything on it (payment methods, tags), by object type, as Kill Bill answers it.
pub(super) async fn get_account_audit_logs(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_id): KbPath<String>,
) -> Result<Json<Vec<AuditLogJson>>> {
    let id = parse_id(&raw_id)?;
    let trail = state.accounts.account_audit_trail(&tenant, id).await?;
    Ok(Json(
        trail
            .into_iter()
            .map(|entry| audit_log_json(entry.object_type, entry.object_id, entry.log))
            .collect(),
    ))
}

/// `GET /1.0/kb/accounts/{accountId}/children?accountWithBalance=false&audit=NONE`: the
/// accounts whose parent it is.
pub(super) async fn get_children_accounts(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_id): KbPath<String>,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AccountJson>>> {
    let parent_id = parse_id(&raw_id)?;
    let query = read_query(query);
    let audit = parse_audit_level(query.audit.as_deref())?;
    let children = state
        .accounts
        .children(&tenant, parent_id, query.balances())
        .await?;
    let mut body = Vec::with_capacity(children.len());
    for view in children {
        body.push(account_json(&state, view, audit).await?);
    }
    Ok(Json(body))
}

/// Kill Bill's AccountEmailJson as a response. Kill Bill lists an account's emails without
/// their audit logs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountEmailJson {
    account_id: Uuid,
    email: String,
    audit_logs: Vec<AuditLogJson>,
}

/// Kill Bill's AccountEmailJson as a request body. The account is the path's: `accountId`
/// and `auditLogs` are accepted and ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct AccountEmailInputJson {
    #[serde(default, rename = "accountId", deserialize_with = "lenient::uuid")]
    _account_id: Option<Uuid>,
    #[serde(default, deserialize_with = "lenient::string")]
    email: Option<String>,
    #[serde(default, rename = "auditLogs")]
    _audit_logs: Option<serde::de::IgnoredAny>,
}

kill_bill_json_body!(AccountEmailInputJson, "AccountEmailJson");

/// `GET /1.0/kb/accounts/{accountId}/emails`.
pub(super) async fn get_account_emails(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_id): KbPath<String>,
) -> Result<Json<Vec<AccountEmailJson>>> {
    let account_id = parse_id(&raw_id)?;
    let emails = state.account_emails.emails(&tenant, account_id).await?;
    Ok(Json(
        emails
            .into_iter()
            .map(|email| AccountEmailJson {
                account_id: email.account_id,
                email: email.email,
                audit_logs: Vec::new(),
            })
            .collect(),
    ))
}

/// `POST /1.0/kb/accounts/{accountId}/emails` → 201 with the absolute `Location` of the
/// account's emails, even when the account had the address already.
pub(super) async fn add_account_email(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, context }: TenantWrite,
    KbPath(raw_id): KbPath<String>,
    KbJson(body): KbJson<AccountEmailInputJson>,
) -> Result<Response> {
    let account_id = parse_id(&raw_id)?;
    state
        .account_emails
        .add(&tenant, account_id, body.email, &context)
        .await?;
    let location = format!("{base}/1.0/kb/accounts/{account_id}/emails");
    Ok(created(location))
}

/// `DELETE /1.0/kb/accounts/{accountId}/emails/{email}` → 204, whether or not the account had
/// the address.
pub(super) async fn remove_account_email(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
    KbPath((raw_id, email)): KbPath<(String, String)>,
) -> Result<StatusCode> {
    let account_id = parse_id(&raw_id)?;
    state
        .account_emails
        .remove(&tenant, account_id, &email, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /1.0/kb/accounts/{accountId}/emails/{accountEmailId}/auditLogsWithHistory`.
pub(super) async fn get_account_email_audit_logs_with_history(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath((raw_account_id, raw_email_id)): KbPath<(String, String)>,
) -> Result<Json<Vec<AuditLogJson>>> {
    let account_id = parse_id(&raw_account_id)?;
    let email_id = parse_id(&raw_email_id)?;
    let logs = state
        .account_emails
        .audit_logs_with_history(&tenant, account_id, email_id)
        .await?;
    Ok(Json(audit_logs_with_history_json(
        ACCOUNT_EMAIL_OBJECT_TYPE,
        email_id,
        logs,
    )))
}

/// The parameters of Kill Bill's getAccounts and searchAccounts: paging plus the read ones.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListQuery {
    offset: Option<String>,
    limit: Option<String>,
    #[serde(flatten)]
    read: ReadQuery,
}

/// `GET /1.0/kb/accounts/pagination?offset=0&limit=100` and
/// `GET /1.0/kb/accounts/search/{searchKey}?offset=0&limit=100`, as Kill Bill's getAccounts and
/// searchAccounts answer them.
pub(super) async fn list_accounts(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    listing: Listing,
    query: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    let offset = long("offset", query.offset.as_deref(), 0)?;
    let limit = long("limit", query.limit.as_deref(), 100)?;
    let audit = parse_audit_level(query.read.audit.as_deref())?;
    let balances = query.read.balances();
    let search = listing.search.as_deref();
    let mut page = state
        .accounts
        .list(&tenant, search, PageRequest::new(offset, limit), balances)
        .await?;
    let mut body = Vec::with_capacity(page.items.len());
    for view in std::mem::take(&mut page.items) {
        body.push(account_json(&state, view, audit).await?);
    }
    // The read parameters as the resource echoes them: booleans normalised.
    let echoed = vec![
        ("accountWithBalanceAndCBA", balances.credit.to_string()),
        ("accountWithBalance", balances.balance.to_string()),
    ];
    listing.respond(page.with_items(body), limit, echoed, audit)
}

/// `POST /1.0/kb/accounts` → 201 with an empty body and the new account's absolute `Location`.
pub(super) async fn create_account(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    TenantWrite { tenant, context }: TenantWrite,
    KbJson(body): KbJson<AccountInputJson>,
) -> Result<Response> {
    let account = state
        .accounts
        .create(&tenant, body.into(), &context)
        .await?;
    let location = format!("{base}/1.0/kb/accounts/{}", account.id);
    Ok(created(location))
}

/// `GET /1.0/kb/accounts/{accountId}`.
pub(super) async fn get_account(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    KbPath(raw_id): KbPath<String>,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AccountJson>> {
    let id = parse_id(&raw_id)?;
    let query = read_query(query);
    let audit = parse_audit_level(query.audit.as_deref())?;
    let view = state
        .accounts
        .find_by_id(&tenant, id, query.balances())
        .await?;
    Ok(Json(account_json(&state, view, audit).await?))
}

/// `GET /1.0/kb/accounts?externalKey=`. A missing key is looked up as Kill Bill's `null`.
pub(super) async fn get_account_by_external_key(
    State(state): State<AppState>,
    CurrentTenant(tenant): CurrentTenant,
    query: std::result::Result<Query<ReadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AccountJson>> {
    let query = read_query(query);
    let audit = parse_audit_level(query.audit.as_deref())?;
    let external_key = query.external_key.as_deref().unwrap_or("null");
    let view = state
        .accounts
        .find_by_external_key(&tenant, external_key, query.balances())
        .await?;
    Ok(Json(account_json(&state, view, audit).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateQuery {
    treat_null_as_reset: Option<String>,
}

/// `PUT /1.0/kb/accounts/{accountId}?treatNullAsReset=false` → 204.
pub(super) async fn update_account(
    State(state): State<AppState>,
    TenantWrite { tenant, context }: TenantWrite,
    KbPath(raw_id): KbPath<String>,
    query: std::result::Result<Query<UpdateQuery>, axum::extract::rejection::QueryRejection>,
    KbJson(body): KbJson<AccountInputJson>,
) -> Result<StatusCode> {
    let id = parse_id(&raw_id)?;
    let raw = query
        .ok()
        .and_then(|Query(query)| query.treat_null_as_reset);
    let treat_null_as_reset = flag(raw.as_deref());
    state
        .accounts
        .update(&tenant, id, body.into(), treat_null_as_reset, &context)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::http::fuzz::{client_error, parse_query, query, CASES};

    const NAMES: &[&str] = &[
        "offset",
        "limit",
        "audit",
        "accountWithBalance",
        "accountWithBalanceAndCBA",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Paging, audit level and booleans: a value, or a 4xx; an unreadable query is read
        /// as empty, never a panic.
        #[test]
        fn list_queries_parse_or_are_refused_with_a_4xx(text in query(NAMES)) {
            let Some(parsed) = parse_query::<ListQuery>(&text) else {
                return Ok(());
            };
            let query = parsed.map(|Query(query)| query).unwrap_or_default();
            let _ = query.read.balances();
            for result in [
                long("offset", query.offset.as_deref(), 0),
                long("limit", query.limit.as_deref(), 100),
            ] {
                if let Err(error) = result {
                    client_error(error)?;
                }
            }
            if let Err(error) = parse_audit_level(query.read.audit.as_deref()) {
                client_error(error)?;
            }
        }
    }
}
