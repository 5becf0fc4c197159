//! The first step of every payment operation: what it reads under the account's lock, and the
//! rules that decide from what was read (Kill Bill's PaymentProcessor and
//! PaymentAutomatonRunner checks): which payment the operation lands on, whether the keys and
//! the state machine allow it, its currency and payment method.
//!
//! [`load`] sends its reads together, in one round trip, in the caller's transaction;
//! [`decide`] is a pure function of what was read, so the rules are unit tested without a
//! database. Nothing here writes.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::lock::lock_name;
use super::state::{self, INITIAL_STATE};
use super::PaymentRequest;
use crate::db::work::Work;
use crate::domain::payments::{TransactionStatus, TransactionType};
use crate::service::payment_methods::unknown_method;
use crate::service::ServiceError;
use crate::storage::accounts::AccountRecord;
use crate::storage::payment_methods::PaymentMethodRecord;
use crate::storage::payments::{self, NewPayment, PaymentLookup, PaymentRecord, TransactionRecord};
use crate::storage::StorageError;

/// Kill Bill's limit on external keys.
const MAX_EXTERNAL_KEY_CHARS: usize = 255;

/// What an operation found under its account's lock.
#[derive(Debug, Clone)]
pub(super) struct Loaded {
    pub account: AccountRecord,
    /// Another live node holds the account's lease: the operation must wait its turn.
    pub lease_held_elsewhere: bool,
    /// The payment the operation names (by id, else by payment external key), if it exists.
    pub payment: Option<PaymentRecord>,
    /// Its transactions, in effective date order.
    pub payment_transactions: Vec<TransactionRecord>,
    /// The method the operation would use: the payment's, else the one asked for, else the
    /// account's default.
    pub method: Option<PaymentMethodRecord>,
    /// The tenant's transactions with the request's transaction external key, oldest first.
    pub keyed_transactions: Vec<TransactionRecord>,
}

/// Reads what [`decide`] needs, in `work`'s transaction. `None` when another transaction holds
/// the account's lock right now (the caller tries again later, holding nothing).
pub(super) async fn load(
    work: &Work,
    tenant_record_id: i64,
    account_id: Uuid,
    payment_id: Option<Uuid>,
    request: &PaymentRequest,
    node: &str,
    dead_nodes: &[String],
) -> Result<Option<Loaded>, ServiceError> {
    let client = work.client();
    let lock = lock_name(account_id);
    let mut lookup = match (payment_id, &request.payment_external_key) {
        (Some(id), _) => PaymentLookup::Id(id),
        (None, Some(key)) => PaymentLookup::ExternalKey(key),
        (None, None) => PaymentLookup::None,
    };
    // One round trip: the lock first, then reads that see everything committed before it.
    let (locked, account, (payment, payment_transactions, method), keyed_transactions) =
        crate::db::sql::pipelined(async {
            tokio::try_join!(
                payments::try_lock_account(client, &lock),
                payments::find_account_for_payment(
                    client,
                    tenant_record_id,
                    account_id,
                    &lock,
                    node,
                    dead_nodes
                ),
                find_payment_parts(client, tenant_record_id, lookup, request, account_id),
                async {
                    match &request.transaction_external_key {
                        Some(key) => {
                            payments::find_transactions_by_external_key(
                                client,
                                tenant_record_id,
                                key,
                            )
                            .await
                        }
                        None => Ok(Vec::new()),
                    }
                },
            )
        })
        .await?;
    if !locked {
        return Ok(None);
    }
    let Some((account, lease_held_elsewhere)) = account else {
        return Err(ServiceError::AccountNotFound { id: account_id });
    };
    let mut loaded = Loaded {
        account,
        lease_held_elsewhere,
        payment,
        payment_transactions,
        method,
        keyed_transactions,
    };
    // A transaction key already used names its payment when the request names none (Kill
    // Bill's retrievePaymentId); rare, so read in a second round trip.
    if loaded.payment.is_none() {
        if let Some(last) = loaded.keyed_transactions.last() {
            lookup = PaymentLookup::Id(last.payment_id);
            let parts = find_payment_parts(client, tenant_record_id, lookup, request, account_id);
            let (payment, transactions, method) = crate::db::sql::pipelined(parts).await?;
            loaded.payment = payment;
            loaded.payment_transactions = transactions;
            loaded.method = method;
        }
    }
    Ok(Some(loaded))
}

/// The payment `lookup` names, its transactions and the method the request would use, read
/// together (pipelined, when the caller pipelines: their requests go out in this order).
async fn find_payment_parts(
    client: &impl deadpool_postgres::GenericClient,
    tenant_record_id: i64,
    lookup: PaymentLookup<'_>,
    request: &PaymentRequest,
    account_id: Uuid,
) -> Result<
    (
        Option<PaymentRecord>,
        Vec<TransactionRecord>,
        Option<PaymentMethodRecord>,
    ),
    StorageError,
> {
    let method_id = request.payment_method_id;
    tokio::try_join!(
        payments::find_payment(client, tenant_record_id, lookup),
        payments::find_transactions_of_payment(client, tenant_record_id, lookup),
        payments::find_method_for_payment(client, tenant_record_id, lookup, method_id, account_id),
    )
}

/// The ids a new payment and transaction would get, drawn by the caller.
#[derive(Debug, Clone, Copy)]
pub(super) struct FreshIds {
    pub payment_id: Uuid,
    pub transaction_id: Uuid,
}

impl FreshIds {
    pub fn draw() -> FreshIds {
        FreshIds {
            payment_id: Uuid::new_v4(),
            transaction_id: Uuid::new_v4(),
        }
    }
}

/// The payment an operation lands on.
#[derive(Debug, Clone)]
pub(super) enum PaymentPlan {
    Existing(PaymentRecord),
    New(NewPaymentPlan),
}

/// A payment an operation creates.
#[derive(Debug, Clone)]
pub(super) struct NewPaymentPlan {
    pub id: Uuid,
    pub external_key: String,
    pub payment_method_id: Uuid,
}

impl PaymentPlan {
    pub fn id(&self) -> Uuid {
        match self {
            PaymentPlan::Existing(payment) => payment.id,
            PaymentPlan::New(new) => new.id,
        }
    }

    pub fn payment_method_id(&self) -> Uuid {
        match self {
            PaymentPlan::Existing(payment) => payment.payment_method_id,
            PaymentPlan::New(new) => new.payment_method_id,
        }
    }
}

impl NewPaymentPlan {
    /// The payment's row, as one of `account`'s.
    pub fn row<'a>(&'a self, account: &AccountRecord) -> NewPayment<'a> {
        NewPayment {
            id: self.id,
            account_id: account.id,
            payment_method_id: self.payment_method_id,
            external_key: &self.external_key,
            account_record_id: account.record_id,
        }
    }
}

/// What the rules decided: the operation may go ahead, on this payment, with this transaction.
#[derive(Debug, Clone)]
pub(super) struct Decision {
    pub payment: PaymentPlan,
    pub transaction_id: Uuid,
    pub transaction_external_key: String,
    pub currency: Option<String>,
    pub plugin_name: String,
    /// The PENDING transaction the operation completes instead of recording a new one.
    pub completing: Option<TransactionRecord>,
    /// The amount the plugin is asked for: the request's, else the completed transaction's.
    pub amount: Option<Decimal>,
}

/// Checks that don't need the database, made before anything is read.
pub(super) fn validate(request: &PaymentRequest) -> Result<(), ServiceError> {
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
    // A completion (of a named transaction) and an outcome given by the caller take the
    // amount already recorded.
    let amount_optional = request.transaction_type == TransactionType::Void
        || request.transaction_id.is_some()
        || request.override_status.is_some();
    if !amount_optional && request.amount.is_none() {
        return Err(ServiceError::InvalidArgument(
            "PaymentTransactionJson amount needs to be set".to_string(),
        ));
    }
    Ok(())
}

/// Kill Bill's rules on what was loaded: keys (7030, 7031), ownership, the state machine
/// (7032), currency (7031) and payment method (7031, 7000).
pub(super) fn decide(
    loaded: &Loaded,
    request: &PaymentRequest,
    fresh: FreshIds,
) -> Result<Decision, ServiceError> {
    let kind = request.transaction_type;
    let account = &loaded.account;
    let payment = loaded.payment.clone();
    // A gateway's notification completes a PENDING transaction or nothing (Kill Bill's
    // notifyPendingPaymentOfStateChanged, checked here under the account's lock, before
    // anything else: a transaction no longer PENDING is 7024, not a key already used).
    if let (Some(_), Some(id), Some(existing)) =
        (request.override_status, request.transaction_id, &payment)
    {
        let named = loaded
            .payment_transactions
            .iter()
            .find(|transaction| transaction.id == id);
        if named.is_none_or(|named| named.status != TransactionStatus::Pending) {
            return Err(ServiceError::PaymentNotSucceeded { id: existing.id });
        }
    }

    if let Some(key) = &request.transaction_external_key {
        let earlier = &loaded.keyed_transactions;
        // A chargeback's key is the one key that may come back after a success: its reversal.
        if earlier.iter().any(|earlier| {
            earlier.status == TransactionStatus::Success
                && earlier.transaction_type != TransactionType::Chargeback
        }) {
            return Err(ServiceError::PaymentTransactionKeyExists { key: key.clone() });
        }
        if let Some(last) = earlier.last() {
            if last.transaction_type != kind {
                return Err(invalid(
                    "transactionExternalKey",
                    format!(
                        "key {key} belongs to a {} transaction",
                        last.transaction_type
                    ),
                ));
            }
            match &payment {
                Some(target) if target.id != last.payment_id => {
                    return Err(invalid(
                        "transactionExternalKey",
                        format!("key {key} belongs to another payment"),
                    ))
                }
                _ => {}
            }
        }
    }
    if let Some(existing) = &payment {
        if existing.account_id != account.id {
            return Err(ServiceError::PaymentDifferentAccount { id: existing.id });
        }
    }

    let completing = match &payment {
        Some(existing) => transaction_to_complete(existing, &loaded.payment_transactions, request)?,
        None => None,
    };

    let last_success = payment
        .as_ref()
        .and_then(|payment| payment.last_success_state_name.as_deref());
    if !state::is_allowed(last_success, kind) {
        return Err(ServiceError::PaymentTransitionInvalid {
            transaction_type: kind,
            state: last_success.unwrap_or(INITIAL_STATE).to_string(),
        });
    }

    // A reversal needs a transaction of the payment with its key (ChargebackInitiated).
    let reversal = request.is_chargeback_reversal();
    if let (true, Some(existing)) = (reversal, &payment) {
        let reverses_something = loaded
            .payment_transactions
            .iter()
            .any(|transaction| names(request, transaction));
        if !reverses_something {
            return Err(ServiceError::PaymentNotSucceeded { id: existing.id });
        }
    }

    let payment_currency = match &payment {
        Some(_) => loaded
            .payment_transactions
            .iter()
            .find_map(|transaction| transaction.currency.clone()),
        None => None,
    };
    let currency = match (&request.currency, &payment_currency) {
        // A reversal records no amount and no currency.
        _ if reversal => None,
        (asked, _) if completing.is_some() => asked.clone().or_else(|| {
            completing
                .as_ref()
                .and_then(|pending| pending.currency.clone())
        }),
        // A chargeback is in the account's currency unless it says otherwise
        // (PaymentResource), and may be in another currency than the payment's.
        (None, _) if kind == TransactionType::Chargeback => account.data.currency.clone(),
        // Kill Bill lets a chargeback come in another currency than the payment's.
        (Some(asked), Some(own)) if asked != own && kind != TransactionType::Chargeback => {
            // Kill Bill's wording, double space included.
            return Err(invalid(
                "currency",
                format!(" should be {own} to match other existing transactions"),
            ));
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
            .ok_or_else(|| invalid("paymentMethodId", "should not be null".to_string()))?,
    };
    // An id no method of the tenant has is Kill Bill's ObjectDoesNotExist; another account's
    // or a deleted method is PAYMENT_NO_SUCH_PAYMENT_METHOD.
    let method = loaded
        .method
        .as_ref()
        .filter(|method| method.id == payment_method_id)
        .ok_or_else(|| unknown_method(payment_method_id))?;
    if method.account_id != account.id || !(method.is_active || payment.is_some()) {
        return Err(ServiceError::PaymentMethodNotFound {
            id: payment_method_id.to_string(),
        });
    }
    // Kill Bill refuses a missing payment method before a missing currency.
    if currency.is_none() && kind != TransactionType::Void && !reversal && completing.is_none() {
        return Err(invalid("currency", "should not be null".to_string()));
    }

    let plan = match payment {
        Some(payment) => PaymentPlan::Existing(payment),
        None => PaymentPlan::New(NewPaymentPlan {
            id: fresh.payment_id,
            external_key: request
                .payment_external_key
                .clone()
                .unwrap_or_else(|| fresh.payment_id.to_string()),
            payment_method_id,
        }),
    };
    let (transaction_id, transaction_external_key) = match &completing {
        Some(pending) => (pending.id, pending.external_key.clone()),
        None => (
            fresh.transaction_id,
            request
                .transaction_external_key
                .clone()
                .unwrap_or_else(|| fresh.transaction_id.to_string()),
        ),
    };
    Ok(Decision {
        payment: plan,
        transaction_id,
        transaction_external_key,
        currency,
        plugin_name: method.plugin_name.clone(),
        amount: request
            .amount
            .or_else(|| completing.as_ref().and_then(|pending| pending.amount)),
        completing,
    })
}

/// Whether the request names `transaction` (by id or external key).
fn names(request: &PaymentRequest, transaction: &TransactionRecord) -> bool {
    request.transaction_id == Some(transaction.id)
        || request.transaction_external_key.as_deref() == Some(transaction.external_key.as_str())
}

/// Kill Bill's findTransactionToCompleteAndRunSanityChecks: when the request names a
/// transaction of the payment (by id or key), a PENDING one of its type is completed rather
/// than a new one recorded; an UNKNOWN one cannot be (7032), another type is 7031, and another
/// pending AUTHORIZE, PURCHASE or CREDIT blocks the operation (7032).
fn transaction_to_complete(
    payment: &PaymentRecord,
    transactions: &[TransactionRecord],
    request: &PaymentRequest,
) -> Result<Option<TransactionRecord>, ServiceError> {
    if request.transaction_id.is_none() && request.transaction_external_key.is_none() {
        return Ok(None);
    }
    let kind = request.transaction_type;
    let mut candidate: Option<&TransactionRecord> = None;
    for transaction in transactions {
        let status = transaction.status;
        if !names(request, transaction) {
            let initial = matches!(
                transaction.transaction_type,
                TransactionType::Authorize | TransactionType::Purchase | TransactionType::Credit
            );
            if initial && status == TransactionStatus::Pending {
                return Err(ServiceError::PaymentTransitionInvalid {
                    transaction_type: transaction.transaction_type,
                    state: payment
                        .state_name
                        .clone()
                        .unwrap_or_else(|| INITIAL_STATE.to_string()),
                });
            }
            continue;
        }
        if transaction.transaction_type != kind {
            return Err(invalid(
                "transactionType",
                format!(
                    "{} doesn't match existing transaction type {}",
                    kind, transaction.transaction_type
                ),
            ));
        }
        if status.is_open() {
            candidate = Some(transaction);
        }
    }
    match candidate {
        Some(unknown) if unknown.status == TransactionStatus::Unknown => {
            Err(ServiceError::PaymentTransitionInvalid {
                transaction_type: kind,
                state: TransactionStatus::Unknown.as_str().to_string(),
            })
        }
        other => Ok(other.cloned()),
    }
}

fn invalid(name: &str, reason: String) -> ServiceError {
    ServiceError::PaymentInvalidParameter {
        name: name.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use rust_decimal::Decimal;

    use super::*;
    use crate::service::accounts::sample_account_data;
    use crate::storage::accounts::AccountData;

    fn account(currency: Option<&str>, default_method: Option<Uuid>) -> AccountRecord {
        let now = Utc::now();
        AccountRecord {
            record_id: 7,
            id: Uuid::new_v4(),
            tenant_record_id: 1,
            data: AccountData {
                external_key: "acme".into(),
                email: None,
                name: None,
                currency: currency.map(str::to_string),
                payment_method_id: default_method,
                reference_time: now,
                ..sample_account_data()
            },
            created_date: now,
            updated_date: now,
        }
    }

    fn method(id: Uuid, account_id: Uuid, is_active: bool) -> PaymentMethodRecord {
        PaymentMethodRecord {
            record_id: 3,
            id,
            external_key: "pm".into(),
            account_id,
            plugin_name: "__EXTERNAL_PAYMENT__".into(),
            is_active,
            account_record_id: 7,
            tenant_record_id: 1,
        }
    }

    fn payment(account_id: Uuid, method_id: Uuid, last_success: Option<&str>) -> PaymentRecord {
        let now = Utc::now();
        PaymentRecord {
            record_id: 11,
            id: Uuid::new_v4(),
            account_id,
            payment_method_id: method_id,
            external_key: "p-1".into(),
            state_name: last_success.map(str::to_string),
            last_success_state_name: last_success.map(str::to_string),
            created_date: now,
            updated_date: now,
            account_record_id: 7,
            tenant_record_id: 1,
        }
    }

    fn transaction(
        payment: &PaymentRecord,
        kind: TransactionType,
        status: TransactionStatus,
    ) -> TransactionRecord {
        let now = Utc::now();
        TransactionRecord {
            record_id: 21,
            id: Uuid::new_v4(),
            payment_id: payment.id,
            external_key: "t-1".into(),
            transaction_type: kind,
            effective_date: now,
            status,
            amount: Some(Decimal::TEN),
            currency: Some("EUR".into()),
            processed_amount: Some(Decimal::TEN),
            processed_currency: Some("EUR".into()),
            gateway_error_code: None,
            gateway_error_msg: None,
            created_date: now,
            updated_date: now,
        }
    }

    fn request(kind: TransactionType) -> PaymentRequest {
        PaymentRequest {
            amount: Some(Decimal::TEN),
            ..PaymentRequest::of(kind)
        }
    }

    fn loaded(account: AccountRecord, method: Option<PaymentMethodRecord>) -> Loaded {
        Loaded {
            account,
            lease_held_elsewhere: false,
            payment: None,
            payment_transactions: Vec::new(),
            method,
            keyed_transactions: Vec::new(),
        }
    }

    /// A USD account whose default is an active method of its own, loaded as `decide` sees it.
    fn usd_account_with_method() -> (Uuid, AccountRecord, Loaded) {
        let method_id = Uuid::new_v4();
        let account = account(Some("USD"), Some(method_id));
        let state = loaded(account.clone(), Some(method(method_id, account.id, true)));
        (method_id, account, state)
    }

    #[test]
    fn a_new_purchase_uses_the_default_method_and_the_accounts_currency() {
        let method_id = Uuid::new_v4();
        let account = account(Some("USD"), Some(method_id));
        let method = method(method_id, account.id, true);
        let fresh = FreshIds::draw();
        let decision = decide(
            &loaded(account, Some(method)),
            &request(TransactionType::Purchase),
            fresh,
        )
        .expect("allowed");
        assert_eq!(decision.payment.id(), fresh.payment_id);
        assert_eq!(decision.payment.payment_method_id(), method_id);
        assert_eq!(decision.currency.as_deref(), Some("USD"));
        assert_eq!(
            decision.transaction_external_key,
            fresh.transaction_id.to_string()
        );
        assert_eq!(decision.plugin_name, "__EXTERNAL_PAYMENT__");
    }

    #[test]
    fn no_currency_and_no_method_are_refused_with_7031() {
        let account = account(None, None);
        let method_id = Uuid::new_v4();
        let mut with_method = account.clone();
        with_method.data.payment_method_id = Some(method_id);
        let error = decide(
            &loaded(
                with_method.clone(),
                Some(method(method_id, with_method.id, true)),
            ),
            &request(TransactionType::Purchase),
            FreshIds::draw(),
        )
        .expect_err("no currency");
        assert!(
            matches!(error, ServiceError::PaymentInvalidParameter { ref name, .. } if name == "currency")
        );
        let mut asked = request(TransactionType::Purchase);
        asked.currency = Some("USD".into());
        let error =
            decide(&loaded(account, None), &asked, FreshIds::draw()).expect_err("no method");
        assert!(
            matches!(error, ServiceError::PaymentInvalidParameter { ref name, .. } if name == "paymentMethodId")
        );
    }

    #[test]
    fn a_method_of_no_account_is_an_unknown_object_and_is_refused_before_the_currency() {
        let method_id = Uuid::new_v4();
        let account = account(None, Some(method_id));
        let error = decide(
            &loaded(account, None),
            &request(TransactionType::Purchase),
            FreshIds::draw(),
        )
        .expect_err("unknown method");
        assert!(matches!(
            error,
            ServiceError::ObjectNotFound {
                object_type: "PAYMENT_METHOD",
                ..
            }
        ));
    }

    #[test]
    fn another_accounts_or_a_deleted_method_is_unknown() {
        let method_id = Uuid::new_v4();
        let account = account(Some("USD"), Some(method_id));
        for method in [
            method(method_id, Uuid::new_v4(), true),
            method(method_id, account.id, false),
        ] {
            let error = decide(
                &loaded(account.clone(), Some(method)),
                &request(TransactionType::Purchase),
                FreshIds::draw(),
            )
            .expect_err("refused");
            assert!(matches!(error, ServiceError::PaymentMethodNotFound { .. }));
        }
    }

    #[test]
    fn follow_ups_obey_the_state_machine_and_keep_the_payments_currency() {
        let (method_id, account, mut state) = usd_account_with_method();
        let authorized = payment(account.id, method_id, Some("AUTH_SUCCESS"));
        state.payment = Some(authorized.clone());
        state.payment_transactions = vec![transaction(
            &authorized,
            TransactionType::Authorize,
            TransactionStatus::Success,
        )];

        let capture = decide(&state, &request(TransactionType::Capture), FreshIds::draw())
            .expect("capture after auth");
        assert!(matches!(capture.payment, PaymentPlan::Existing(ref p) if p.id == authorized.id));
        assert_eq!(capture.currency.as_deref(), Some("EUR"));

        let refund = decide(&state, &request(TransactionType::Refund), FreshIds::draw())
            .expect_err("no refund after auth");
        assert!(matches!(
            refund,
            ServiceError::PaymentTransitionInvalid { ref state, .. } if state == "AUTH_SUCCESS"
        ));

        let mut other_currency = request(TransactionType::Capture);
        other_currency.currency = Some("USD".into());
        let error =
            decide(&state, &other_currency, FreshIds::draw()).expect_err("currency differs");
        assert!(
            matches!(error, ServiceError::PaymentInvalidParameter { ref name, .. } if name == "currency")
        );
    }

    #[test]
    fn a_transaction_key_already_successful_is_7030_and_one_of_another_kind_7031() {
        let (method_id, account, mut state) = usd_account_with_method();
        let paid = payment(account.id, method_id, Some("PURCHASE_SUCCESS"));
        state.keyed_transactions = vec![transaction(
            &paid,
            TransactionType::Purchase,
            TransactionStatus::Success,
        )];
        let mut keyed = request(TransactionType::Purchase);
        keyed.transaction_external_key = Some("t-1".into());
        let error = decide(&state, &keyed, FreshIds::draw()).expect_err("7030");
        assert!(matches!(
            error,
            ServiceError::PaymentTransactionKeyExists { .. }
        ));

        state.keyed_transactions = vec![transaction(
            &paid,
            TransactionType::Authorize,
            TransactionStatus::PaymentFailure,
        )];
        let error = decide(&state, &keyed, FreshIds::draw()).expect_err("7031");
        assert!(
            matches!(error, ServiceError::PaymentInvalidParameter { ref name, .. } if name == "transactionExternalKey")
        );
    }

    #[test]
    fn a_failed_keyed_transaction_is_retried_on_its_own_payment() {
        let (method_id, account, mut state) = usd_account_with_method();
        let failed = payment(account.id, method_id, None);
        state.keyed_transactions = vec![transaction(
            &failed,
            TransactionType::Purchase,
            TransactionStatus::PaymentFailure,
        )];
        // What load() reads for the key's payment.
        state.payment = Some(failed.clone());
        let mut keyed = request(TransactionType::Purchase);
        keyed.transaction_external_key = Some("t-1".into());
        let decision = decide(&state, &keyed, FreshIds::draw()).expect("retry allowed");
        assert!(matches!(decision.payment, PaymentPlan::Existing(ref p) if p.id == failed.id));
        assert_eq!(decision.transaction_external_key, "t-1");
    }

    #[test]
    fn a_payment_of_another_account_is_refused() {
        let (method_id, _, mut state) = usd_account_with_method();
        let theirs = payment(Uuid::new_v4(), method_id, None);
        state.payment = Some(theirs);
        let error = decide(
            &state,
            &request(TransactionType::Purchase),
            FreshIds::draw(),
        )
        .expect_err("refused");
        assert!(matches!(
            error,
            ServiceError::PaymentDifferentAccount { .. }
        ));
    }
}
