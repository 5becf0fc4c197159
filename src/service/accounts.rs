//! Accounts: creation, lookup by id and external key, and update, with Kill Bill's defaults and
//! its rules on what an update may change (DefaultAccountUserApi, DefaultAccount).
//!
//! Every write is one transaction on the main pool: the `accounts` row, its `account_history`
//! copy, the audit row pointing at that copy, and for a creation the
//! AccountCreationInternalEvent on the main bus. This file owns those rules and boundaries; it
//! must never write SQL (storage does) nor know about HTTP or JSON.
//!
//! Every read and write is scoped to the caller's tenant: another tenant's account is
//! indistinguishable from one that does not exist.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    commit_and_announce, duplicate_on, find_account, lock_account, now_in_millis, record_change,
    AuditLevel, AuditLog, CallContext, Page, PageRequest, ServiceError,
};
use crate::bus::internal_events::{
    AccountChangeInternalEvent, AccountCreationInternalEvent, ChangedField,
};
use crate::bus::Bus;
use crate::db::work::Db;
use crate::profiling::{measure, Category::Dao};
use crate::service::tenants::Tenant;
use crate::storage::accounts::{self, AccountData};
use crate::storage::audit::{self, AuditedTable, ChangeType};
use crate::storage::StorageError;

/// An account as stored: the storage record is the service's account too, nothing is derived.
pub use crate::storage::accounts::AccountRecord as Account;

/// Kill Bill's EXTERNAL_KEY_LIMIT_EXCEEDED threshold, in characters.
const MAX_EXTERNAL_KEY_CHARS: usize = 255;
const DEFAULT_TIME_ZONE: &str = "UTC";
/// Kill Bill's DEFAULT_BILLING_CYCLE_DAY_LOCAL: "not set yet".
const UNSET_BILL_CYCLE_DAY: i32 = 0;

/// Kill Bill's Currency enum (killbill-api): ISO 4217 codes as of Kill Bill 0.24, plus BTC.
const CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYR", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP",
    "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GGP", "GHS", "GIP", "GMD",
    "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF", "IDR", "ILS", "IMP", "INR", "IQD",
    "IRR", "ISK", "JEP", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LTL", "LVL", "LYD", "MAD", "MDL", "MGA",
    "MKD", "MMK", "MNT", "MOP", "MRO", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLL", "SOS",
    "SPL", "SRD", "STD", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD",
    "TVD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VEF", "VND", "VUV", "WST", "XAF",
    "XCD", "XDR", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWD", "BTC",
];

/// Whether `code` is one of killbill-api's Currency constants.
pub fn is_currency(code: &str) -> bool {
    CURRENCIES.contains(&code)
}

/// Account fields as a caller supplies them; `None` is "not given" (absent or JSON null).
#[derive(Debug, Clone, Default)]
pub struct AccountInput {
    pub external_key: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub first_name_length: Option<i32>,
    pub currency: Option<String>,
    pub bill_cycle_day_local: Option<i32>,
    pub parent_account_id: Option<Uuid>,
    pub is_payment_delegated_to_parent: Option<bool>,
    pub payment_method_id: Option<Uuid>,
    pub reference_time: Option<DateTime<Utc>>,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub company_name: Option<String>,
    pub city: Option<String>,
    pub state_or_province: Option<String>,
    pub country: Option<String>,
    pub postal_code: Option<String>,
    pub phone: Option<String>,
    pub notes: Option<String>,
    pub migrated: Option<bool>,
}

/// Which balances a read should compute (`accountWithBalance`, `accountWithBalanceAndCBA`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BalanceRequest {
    pub balance: bool,
    pub credit: bool,
}

/// An audit entry of some object of an account, with Kill Bill's ObjectType and the object's
/// id.
#[derive(Debug, Clone)]
pub struct ObjectAuditLog {
    pub object_type: &'static str,
    pub object_id: Uuid,
    pub log: AuditLog,
}

/// An account with the balances a read asked for.
#[derive(Debug, Clone)]
pub struct AccountView {
    pub account: Account,
    /// Invoice balance; `None` unless requested.
    pub balance: Option<i64>,
    /// Credit balance (CBA); `None` unless requested.
    pub credit: Option<i64>,
}

#[derive(Clone)]
pub struct AccountService {
    db: Db,
    main_bus: Bus,
}

impl AccountService {
    pub fn new(db: Db, main_bus: Bus) -> AccountService {
        AccountService { db, main_bus }
    }

    /// Creates an account with Kill Bill's defaults, in one transaction with its history row,
    /// audit row and AccountCreationInternalEvent.
    pub async fn create(
        &self,
        tenant: &Tenant,
        input: AccountInput,
        context: &CallContext,
    ) -> Result<Account, ServiceError> {
        let id = Uuid::new_v4();
        let now = now_in_millis();
        let mut input = input;
        // An empty time zone is no time zone: the default applies, as in Kill Bill.
        input.time_zone = input.time_zone.filter(|zone| !zone.is_empty());
        validate(&input)?;
        let data = AccountData {
            external_key: input.external_key.unwrap_or_else(|| id.to_string()),
            email: input.email,
            name: input.name,
            first_name_length: input.first_name_length,
            currency: input.currency,
            bill_cycle_day_local: input.bill_cycle_day_local.unwrap_or(UNSET_BILL_CYCLE_DAY),
            parent_account_id: input.parent_account_id,
            is_payment_delegated_to_parent: input.is_payment_delegated_to_parent.unwrap_or(false),
            payment_method_id: input.payment_method_id,
            reference_time: input.reference_time.unwrap_or(now),
            time_zone: input
                .time_zone
                .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_string()),
            locale: input.locale,
            address1: input.address1,
            address2: input.address2,
            company_name: input.company_name,
            city: input.city,
            state_or_province: input.state_or_province,
            country: input.country,
            postal_code: input.postal_code,
            phone: input.phone,
            notes: input.notes,
            migrated: input.migrated,
        };

        let work = self.db.begin().await?;
        let transaction = work.client();
        if let Some(parent_id) = data.parent_account_id {
            require_parent(transaction, tenant, parent_id).await?;
        }
        let audit = context.audit(tenant.record_id, None);
        let insert = accounts::insert_account(transaction, id, &data, now, &audit);
        let account = measure(Dao, "accounts:insert_account", insert)
            .await
            .map_err(duplicate_on(accounts::EXTERNAL_KEY_INDEX, || {
                ServiceError::AccountAlreadyExists {
                    external_key: data.external_key.clone(),
                }
            }))?;
        let mut posted = self.main_bus.posted();
        let event = AccountCreationInternalEvent {
            id: account.id,
            account_record_id: account.record_id,
            tenant_record_id: tenant.record_id,
        };
        // The event and the COMMIT go together: one round trip.
        let post_and_commit = async {
            crate::db::sql::pipelined(async {
                tokio::try_join!(
                    async {
                        posted
                            .post(&work, &event, context.user_token)
                            .await
                            .map_err(ServiceError::from)
                    },
                    async {
                        work.commit()
                            .await
                            .map_err(|error| ServiceError::from(StorageError::from(error)))
                    },
                )
            })
            .await
        };
        measure(Dao, "bus:post+commit", post_and_commit).await?;
        drop(work);
        posted.committed().await;
        Ok(account)
    }

    /// The tenant's account with this id; unknown (or another tenant's) → ObjectDoesNotExist.
    pub async fn find_by_id(
        &self,
        tenant: &Tenant,
        id: Uuid,
        balances: BalanceRequest,
    ) -> Result<AccountView, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        let found = find_account(connection, tenant.record_id, id);
        let account = measure(Dao, "accounts:find_account_by_id", found).await?;
        Ok(with_balances(account, balances))
    }

    /// The tenant's account with this external key; unknown → ACCOUNT_DOES_NOT_EXIST_FOR_KEY.
    pub async fn find_by_external_key(
        &self,
        tenant: &Tenant,
        external_key: &str,
        balances: BalanceRequest,
    ) -> Result<AccountView, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        let account = measure(
            Dao,
            "accounts:find_account_by_external_key",
            accounts::TABLE.find_by_external_key(connection, tenant.record_id, external_key),
        )
        .await?
        .ok_or_else(|| ServiceError::AccountNotFoundForKey {
            external_key: external_key.to_string(),
        })?;
        Ok(with_balances(account, balances))
    }

    /// The tenant's accounts whose parent is `parent_id`, oldest first. As in Kill Bill the
    /// parent is not looked up: an unknown one has no children.
    pub async fn children(
        &self,
        tenant: &Tenant,
        parent_id: Uuid,
        balances: BalanceRequest,
    ) -> Result<Vec<AccountView>, ServiceError> {
        let read = self.db.read().await?;
        let children = accounts::find_children(read.client(), tenant.record_id, parent_id).await?;
        Ok(children
            .into_iter()
            .map(|account| with_balances(account, balances))
            .collect())
    }

    /// Updates an account. With `treat_null_as_reset` false a field not given keeps its value;
    /// with it true a field not given is cleared. The external key, a set currency, the time
    /// zone, a set bill cycle day and the reference time's day cannot change (400, as Kill
    /// Bill). One transaction: the update, its history row and audit row,
    /// and the change event.
    /// When a field Kill Bill tracks changed, the AccountChangeInternalEvent is posted in the
    /// same transaction.
    pub async fn update(
        &self,
        tenant: &Tenant,
        id: Uuid,
        input: AccountInput,
        treat_null_as_reset: bool,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        validate(&input)?;
        let now = now_in_millis();
        let work = self.db.begin().await?;
        let transaction = work.client();
        let current = lock_account(transaction, tenant.record_id, id).await?;
        let data = merge(&current.data, input, treat_null_as_reset)?;
        if let Some(parent_id) = data.parent_account_id {
            if current.data.parent_account_id != Some(parent_id) {
                require_parent(transaction, tenant, parent_id).await?;
            }
        }
        let account = accounts::update_account(
            transaction,
            current.record_id,
            &data,
            &context.created_by,
            now,
        )
        .await?;
        record_change(transaction, &account, ChangeType::Update, now, context).await?;
        // Kill Bill's DefaultAccountDao posts the change event in the update's transaction,
        // whether or not a field changed.
        let mut posted = self.main_bus.posted();
        post_account_change(&work, &mut posted, &current.data, &account, now, context).await?;
        commit_and_announce(work, posted).await
    }

    /// One page of the tenant's accounts (all of them, or those `search` matches), with the
    /// counts Kill Bill's pagination headers carry.
    pub async fn list(
        &self,
        tenant: &Tenant,
        search: Option<&str>,
        request: PageRequest,
        balances: BalanceRequest,
    ) -> Result<Page<AccountView>, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        let page = accounts::search(search).page(
            connection,
            tenant.record_id,
            request.offset,
            request.size(),
            request.descending(),
        );
        let accounts = measure(Dao, "accounts:list_accounts", page).await?;
        let count = |search| {
            measure(
                Dao,
                "accounts:count_accounts",
                accounts::search(search).count(connection, tenant.record_id),
            )
        };
        let total = count(search).await?;
        // Without a search every account matches: one count serves both headers.
        let max = match search {
            Some(_) => count(None).await?,
            None => total,
        };
        let views = accounts
            .into_iter()
            .map(|account| with_balances(account, balances))
            .collect();
        Ok(Page::new(views, request, total, max))
    }

    /// The account's audit trail at `level`, oldest first: nothing for NONE, the creation
    /// entry for MINIMAL, every entry for FULL.
    pub async fn audit_logs(
        &self,
        account: &Account,
        level: AuditLevel,
    ) -> Result<Vec<AuditLog>, ServiceError> {
        if level == AuditLevel::None {
            return Ok(Vec::new());
        }
        let read = self.db.read().await?;
        let connection = read.client();
        let logs = audit::find_audit_logs(
            connection,
            AuditedTable::Account,
            account.tenant_record_id,
            &[account.record_id],
        )
        .await?;
        Ok(level.select(logs.into_iter().map(|(_, log)| log).collect()))
    }

    /// Every audit entry of the tenant's account with this id and of what it holds (payment
    /// methods, tags), by object type then oldest first, as Kill Bill's account `auditLogs`
    /// endpoint answers: each with the object's Kill Bill type and id.
    pub async fn account_audit_trail(
        &self,
        tenant: &Tenant,
        id: Uuid,
    ) -> Result<Vec<ObjectAuditLog>, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        let account = find_account(connection, tenant.record_id, id).await?;
        let trail =
            audit::find_account_audit_trail(connection, tenant.record_id, account.record_id)
                .await?;
        Ok(trail
            .into_iter()
            .map(|(table, object_id, log)| ObjectAuditLog {
                object_type: table.object_type(),
                object_id,
                log,
            })
            .collect())
    }
}

/// No invoices exist yet in ferrobill, so a requested balance is zero.
fn with_balances(account: Account, balances: BalanceRequest) -> AccountView {
    AccountView {
        account,
        balance: (balances.balance || balances.credit).then_some(0),
        credit: balances.credit.then_some(0),
    }
}

/// The rules every given field must satisfy, on creation and update alike.
fn validate(input: &AccountInput) -> Result<(), ServiceError> {
    if let Some(key) = &input.external_key {
        if key.chars().count() > MAX_EXTERNAL_KEY_CHARS {
            return Err(ServiceError::ExternalKeyTooLong);
        }
    }
    if let Some(currency) = &input.currency {
        if !CURRENCIES.contains(&currency.as_str()) {
            return Err(ServiceError::InvalidArgument(format!(
                "Invalid currency {currency}"
            )));
        }
    }
    if let Some(time_zone) = &input.time_zone {
        if !is_time_zone(time_zone) {
            return Err(ServiceError::InvalidArgument(format!(
                "The datetime zone id '{time_zone}' is not recognised"
            )));
        }
    }
    Ok(())
}

/// Whether Joda's DateTimeZone.forID would accept `id`: `UTC`, an IANA zone id, or a fixed
/// offset `±HH:MM`.
fn is_time_zone(id: &str) -> bool {
    if id.parse::<chrono_tz::Tz>().is_ok() {
        return true;
    }
    let Some(offset) = id.strip_prefix('+').or_else(|| id.strip_prefix('-')) else {
        return false;
    };
    match offset.split_once(':') {
        Some((hours, minutes)) => {
            hours.len() == 2
                && minutes.len() == 2
                && hours.parse::<u8>().is_ok_and(|h| h < 24)
                && minutes.parse::<u8>().is_ok_and(|m| m < 60)
        }
        None => false,
    }
}

/// The account data after an update, or Kill Bill's refusal to change an immutable field.
fn merge(
    current: &AccountData,
    input: AccountInput,
    treat_null_as_reset: bool,
) -> Result<AccountData, ServiceError> {
    let pick = |given: Option<String>, current: &Option<String>| {
        if treat_null_as_reset {
            given
        } else {
            given.or_else(|| current.clone())
        }
    };
    let refuse = |field: &str, new: &dyn std::fmt::Display, old: &dyn std::fmt::Display| {
        ServiceError::InvalidArgument(format!(
            "Killbill doesn't support updating the account {field}: new={new}, current={old}"
        ))
    };
    let shown = |value: &Option<String>| value.clone().unwrap_or_else(|| "null".to_string());

    let external_key = pick(input.external_key, &Some(current.external_key.clone()));
    if external_key.as_deref() != Some(current.external_key.as_str()) {
        return Err(refuse(
            "external key",
            &shown(&external_key),
            &current.external_key,
        ));
    }
    let currency = pick(input.currency, &current.currency);
    if current.currency.is_some() && currency != current.currency {
        return Err(refuse(
            "currency",
            &shown(&currency),
            &shown(&current.currency),
        ));
    }
    // AccountModelDao.mergeWithDelegate: without reset the stored currency stays, even when
    // none is stored yet and the request gives one; only a reset update sets it.
    let currency = if treat_null_as_reset {
        currency
    } else {
        current.currency.clone()
    };
    let time_zone = pick(input.time_zone, &Some(current.time_zone.clone()));
    if time_zone.as_deref() != Some(current.time_zone.as_str()) {
        return Err(refuse("timeZone", &shown(&time_zone), &current.time_zone));
    }
    // Without reset, a BCD of 0 means "not given", as in Kill Bill.
    let bill_cycle_day_local = match input.bill_cycle_day_local {
        Some(day) if day != UNSET_BILL_CYCLE_DAY => day,
        _ if treat_null_as_reset => UNSET_BILL_CYCLE_DAY,
        _ => current.bill_cycle_day_local,
    };
    if current.bill_cycle_day_local != UNSET_BILL_CYCLE_DAY
        && bill_cycle_day_local != current.bill_cycle_day_local
    {
        return Err(refuse(
            "BCD",
            &bill_cycle_day_local,
            &current.bill_cycle_day_local,
        ));
    }
    if let Some(reference_time) = input.reference_time {
        if reference_time.date_naive() != current.reference_time.date_naive() {
            return Err(refuse(
                "referenceTime",
                &reference_time.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                &current.reference_time.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            ));
        }
    }
    let keep_uuid = |given: Option<Uuid>, current: Option<Uuid>| {
        if treat_null_as_reset {
            given
        } else {
            given.or(current)
        }
    };
    Ok(AccountData {
        external_key: current.external_key.clone(),
        email: pick(input.email, &current.email),
        name: pick(input.name, &current.name),
        first_name_length: if treat_null_as_reset {
            input.first_name_length
        } else {
            input.first_name_length.or(current.first_name_length)
        },
        currency,
        bill_cycle_day_local,
        parent_account_id: keep_uuid(input.parent_account_id, current.parent_account_id),
        is_payment_delegated_to_parent: match input.is_payment_delegated_to_parent {
            Some(delegated) => delegated,
            None if treat_null_as_reset => false,
            None => current.is_payment_delegated_to_parent,
        },
        payment_method_id: keep_uuid(input.payment_method_id, current.payment_method_id),
        // Only the time of day could differ, and Kill Bill keeps the stored one.
        reference_time: current.reference_time,
        time_zone: current.time_zone.clone(),
        locale: pick(input.locale, &current.locale),
        address1: pick(input.address1, &current.address1),
        address2: pick(input.address2, &current.address2),
        company_name: pick(input.company_name, &current.company_name),
        city: pick(input.city, &current.city),
        state_or_province: pick(input.state_or_province, &current.state_or_province),
        country: pick(input.country, &current.country),
        postal_code: pick(input.postal_code, &current.postal_code),
        phone: pick(input.phone, &current.phone),
        notes: pick(input.notes, &current.notes),
        // Kill Bill's update statement does not write `is_migrated`.
        migrated: current.migrated,
    })
}

/// Posts Kill Bill's AccountChangeInternalEvent (pushed as ACCOUNT_CHANGE) for `account`,
/// which was `old` before this change, in the change's transaction.
pub(crate) async fn post_account_change(
    work: &crate::db::work::Work,
    posted: &mut crate::bus::PostedEvents,
    old: &AccountData,
    account: &Account,
    now: DateTime<Utc>,
    context: &CallContext,
) -> Result<(), ServiceError> {
    let event = AccountChangeInternalEvent {
        changed_fields: changed_fields(old, &account.data, now),
        account_id: account.id,
        account_record_id: account.record_id,
        tenant_record_id: account.tenant_record_id,
    };
    posted
        .post(work, &event, context.user_token)
        .await
        .map_err(ServiceError::from)?;
    Ok(())
}

/// How a field of the account reads as text in an account change event.
type FieldText = fn(&AccountData) -> Option<String>;

/// The fields Kill Bill's DefaultAccountChangeEvent compares, in its order and under its names
/// (the account name is `firstName` there), as text: only those whose value differs.
fn changed_fields(old: &AccountData, new: &AccountData, now: DateTime<Utc>) -> Vec<ChangedField> {
    let fields: [(&str, FieldText); 15] = [
        ("externalKey", |data| Some(data.external_key.clone())),
        ("email", |data| data.email.clone()),
        ("firstName", |data| data.name.clone()),
        ("currency", |data| data.currency.clone()),
        ("billCycleDayLocal", |data| {
            Some(data.bill_cycle_day_local.to_string())
        }),
        ("paymentMethodId", |data| {
            data.payment_method_id.map(|id| id.to_string())
        }),
        ("locale", |data| data.locale.clone()),
        ("timeZone", |data| Some(data.time_zone.clone())),
        ("address1", |data| data.address1.clone()),
        ("address2", |data| data.address2.clone()),
        ("city", |data| data.city.clone()),
        ("stateOrProvince", |data| data.state_or_province.clone()),
        ("country", |data| data.country.clone()),
        ("postalCode", |data| data.postal_code.clone()),
        ("phone", |data| data.phone.clone()),
    ];
    let change_date = now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    fields
        .into_iter()
        .map(|(field_name, text)| (field_name, text(old), text(new)))
        .filter(|(_, old_value, new_value)| old_value != new_value)
        .map(|(field_name, old_value, new_value)| ChangedField {
            field_name: field_name.to_string(),
            old_value,
            new_value,
            change_date: change_date.clone(),
        })
        .collect()
}

/// A parent account must be one of the tenant's accounts (ACCOUNT_DOES_NOT_EXIST_FOR_ID).
async fn require_parent(
    transaction: &deadpool_postgres::Object,
    tenant: &Tenant,
    parent_id: Uuid,
) -> Result<(), ServiceError> {
    match accounts::TABLE
        .find_by_id(transaction, tenant.record_id, parent_id)
        .await?
    {
        Some(_) => Ok(()),
        None => Err(ServiceError::AccountNotFoundForId { id: parent_id }),
    }
}

/// An account as tests of the rules start from: a USD account with a key, a name and an email,
/// nothing else set.
#[cfg(test)]
pub(crate) fn sample_account_data() -> AccountData {
    AccountData {
        external_key: "key".to_string(),
        email: Some("a@example.com".to_string()),
        name: Some("Ann".to_string()),
        first_name_length: None,
        currency: Some("USD".to_string()),
        bill_cycle_day_local: 0,
        parent_account_id: None,
        is_payment_delegated_to_parent: false,
        payment_method_id: None,
        reference_time: Utc::now(),
        time_zone: "UTC".to_string(),
        locale: None,
        address1: None,
        address2: None,
        company_name: None,
        city: None,
        state_or_province: None,
        country: None,
        postal_code: None,
        phone: None,
        notes: None,
        migrated: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_change_names_only_the_fields_that_differ_in_kill_bills_order() {
        let old = sample_account_data();
        let method_id = Uuid::from_u128(9);
        let new = AccountData {
            email: Some("b@example.com".to_string()),
            payment_method_id: Some(method_id),
            ..old.clone()
        };
        let changed = changed_fields(&old, &new, Utc::now());
        let names: Vec<&str> = changed.iter().map(|f| f.field_name.as_str()).collect();
        assert_eq!(names, ["email", "paymentMethodId"]);
        assert_eq!(changed[0].old_value.as_deref(), Some("a@example.com"));
        assert_eq!(changed[1].old_value, None);
        assert_eq!(changed[1].new_value, Some(method_id.to_string()));
    }

    #[test]
    fn time_zones_are_joda_ids() {
        assert!(is_time_zone("UTC"));
        assert!(is_time_zone("Europe/Paris"));
        assert!(is_time_zone("+05:30"));
        assert!(!is_time_zone("Mars/Olympus"));
        assert!(!is_time_zone("+25:00"));
    }

    #[test]
    fn absent_fields_keep_their_values_unless_reset() {
        let current = sample_account_data();
        let input = AccountInput {
            name: Some("Bob".to_string()),
            ..AccountInput::default()
        };
        let kept = merge(&current, input.clone(), false).expect("merges");
        assert_eq!(kept.name.as_deref(), Some("Bob"));
        assert_eq!(kept.email, current.email);
        // A reset clears the email, but also the currency that may not change.
        assert!(merge(&current, input, true).is_err());
    }

    #[test]
    fn immutable_fields_are_refused() {
        let current = sample_account_data();
        for input in [
            AccountInput {
                external_key: Some("other".to_string()),
                ..AccountInput::default()
            },
            AccountInput {
                currency: Some("EUR".to_string()),
                ..AccountInput::default()
            },
            AccountInput {
                time_zone: Some("Europe/Paris".to_string()),
                ..AccountInput::default()
            },
        ] {
            let error = merge(&current, input, false).expect_err("refused");
            assert!(
                error
                    .to_string()
                    .starts_with("Killbill doesn't support updating the account"),
                "{error}"
            );
        }
        // The bill cycle day can be set once, then not changed.
        let set = merge(
            &current,
            AccountInput {
                bill_cycle_day_local: Some(15),
                ..AccountInput::default()
            },
            false,
        )
        .expect("a first BCD is accepted");
        assert!(merge(
            &set,
            AccountInput {
                bill_cycle_day_local: Some(16),
                ..AccountInput::default()
            },
            false
        )
        .is_err());
    }
}
