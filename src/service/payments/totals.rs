//! A payment's totals as Kill Bill's DefaultPayment computes them from its transactions:
//! `authAmount`, `capturedAmount`, `purchasedAmount`, `refundedAmount`, `creditedAmount` and
//! the payment's currency. A pure function of the transactions (in effective date order), unit
//! tested here; nothing reads the database.
//!
//! Kill Bill's rules, kept to the letter because clients reconcile against them:
//! - only SUCCESS transactions count; each successful VOID cancels the latest successful
//!   transaction before it (so a voided authorization no longer counts);
//! - the currency is that of the first AUTHORIZE, PURCHASE or CREDIT that succeeded or is
//!   pending, else that of the last of them;
//! - a total sums processed amounts when they are all in the payment's currency, else requested
//!   amounts when those are, else it is zero;
//! - chargebacks are the transactions whose external key's last CHARGEBACK succeeded (a
//!   reversal, a failed CHARGEBACK with the same key, takes it back); their amount is taken off
//!   both the captured and the purchased totals, in the total's currency (a payment charged
//!   back in another currency is zeroed), never below zero.

use std::collections::HashSet;

use rust_decimal::Decimal;

use super::money::rounded;
use super::Transaction;
use crate::domain::payments::{TransactionStatus, TransactionType};

/// Kill Bill's totals: sums of SUCCESS transactions, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentTotals {
    pub authorized: Decimal,
    pub captured: Decimal,
    pub purchased: Decimal,
    pub refunded: Decimal,
    pub credited: Decimal,
}

fn is_initial(transaction: &Transaction) -> bool {
    matches!(
        transaction.transaction_type,
        TransactionType::Authorize | TransactionType::Purchase | TransactionType::Credit
    )
}

/// The payment's currency (DefaultPayment's `transactionToUseForCurrency`).
pub fn payment_currency(transactions: &[Transaction]) -> Option<&str> {
    let chosen = transactions
        .iter()
        .filter(|transaction| is_initial(transaction))
        .find(|transaction| transaction.status.is_success_or_pending())
        .or_else(|| {
            transactions
                .iter()
                .rev()
                .find(|transaction| is_initial(transaction))
        });
    chosen.and_then(|transaction| transaction.currency.as_deref())
}

/// The single currency of `transactions` (processed or requested), `None` when they have none
/// or several: Kill Bill's `getCurrencyForTransactions`, where a set holding only a missing
/// currency also yields none.
fn single_currency<'a>(transactions: &[&'a Transaction], processed: bool) -> Option<&'a str> {
    let currencies: HashSet<Option<&str>> = transactions
        .iter()
        .map(|transaction| amount_and_currency(transaction, processed).1)
        .collect();
    if currencies.len() == 1 {
        currencies.into_iter().next().flatten()
    } else {
        None
    }
}

fn sum(transactions: &[&Transaction], processed: bool) -> Decimal {
    transactions
        .iter()
        .map(|transaction| {
            amount_and_currency(transaction, processed)
                .0
                .unwrap_or_default()
        })
        .sum()
}

/// The transaction's processed amount and currency, or its requested ones.
fn amount_and_currency(
    transaction: &Transaction,
    processed: bool,
) -> (Option<Decimal>, Option<&str>) {
    if processed {
        (
            transaction.processed_amount,
            transaction.processed_currency.as_deref(),
        )
    } else {
        (transaction.amount, transaction.currency.as_deref())
    }
}

/// What the payment's chargebacks take back, in each of the two currencies Kill Bill looks at.
struct Chargebacks<'a> {
    any: bool,
    processed: Option<(Decimal, &'a str)>,
    requested: Option<(Decimal, &'a str)>,
}

fn chargebacks(transactions: &[Transaction]) -> Chargebacks<'_> {
    let mut keys: HashSet<&str> = HashSet::new();
    for transaction in transactions {
        if transaction.transaction_type != TransactionType::Chargeback {
            continue;
        }
        match transaction.status {
            TransactionStatus::Success => {
                keys.insert(&transaction.external_key);
            }
            TransactionStatus::PaymentFailure => {
                keys.remove(transaction.external_key.as_str());
            }
            _ => {}
        }
    }
    let charged_back: Vec<&Transaction> = transactions
        .iter()
        .filter(|transaction| keys.contains(transaction.external_key.as_str()))
        .collect();
    let processed = single_currency(&charged_back, true).map(|c| (sum(&charged_back, true), c));
    let requested = single_currency(&charged_back, false).map(|c| (sum(&charged_back, false), c));
    Chargebacks {
        any: !charged_back.is_empty(),
        processed,
        requested,
    }
}

/// The total of the successful, not voided transactions of `transaction_type`.
fn total(
    payment_currency: Option<&str>,
    counted: &[&Transaction],
    transaction_type: TransactionType,
    chargebacks: &Chargebacks<'_>,
) -> Decimal {
    let candidates: Vec<&Transaction> = counted
        .iter()
        .copied()
        .filter(|transaction| {
            transaction.transaction_type == transaction_type
                && transaction.status == TransactionStatus::Success
        })
        .collect();
    let processed_currency = single_currency(&candidates, true);
    let (amount, currency) = match processed_currency {
        Some(currency) if Some(currency) == payment_currency => (sum(&candidates, true), currency),
        _ => match single_currency(&candidates, false) {
            Some(currency) if Some(currency) == payment_currency => {
                (sum(&candidates, false), currency)
            }
            // Several currencies, or not the payment's: Kill Bill cannot add them up.
            _ => return Decimal::ZERO,
        },
    };
    let takes_chargebacks = matches!(
        transaction_type,
        TransactionType::Capture | TransactionType::Purchase
    );
    let amount = if takes_chargebacks {
        let taken = match (chargebacks.processed, chargebacks.requested) {
            (Some((taken, charged)), _) if charged == currency => taken,
            (_, Some((taken, charged))) if charged == currency => taken,
            // Charged back in another currency: the whole total goes.
            _ if chargebacks.any => amount,
            _ => Decimal::ZERO,
        };
        (amount - taken).max(Decimal::ZERO)
    } else {
        amount
    };
    rounded(amount, Some(currency))
}

/// Kill Bill's totals of a payment whose transactions are `transactions`, in effective date
/// order.
pub fn totals(transactions: &[Transaction]) -> PaymentTotals {
    // Walking back from the latest, each successful VOID cancels the next successful
    // transaction found.
    let mut voids_pending = 0usize;
    let mut counted: Vec<&Transaction> = Vec::with_capacity(transactions.len());
    for transaction in transactions.iter().rev() {
        if transaction.status != TransactionStatus::Success {
            continue;
        }
        if transaction.transaction_type == TransactionType::Void {
            voids_pending += 1;
        } else if voids_pending > 0 {
            voids_pending -= 1;
        } else {
            counted.push(transaction);
        }
    }
    counted.reverse();
    let currency = payment_currency(transactions);
    let chargebacks = chargebacks(transactions);
    let of = |transaction_type| total(currency, &counted, transaction_type, &chargebacks);
    PaymentTotals {
        authorized: of(TransactionType::Authorize),
        captured: of(TransactionType::Capture),
        purchased: of(TransactionType::Purchase),
        refunded: of(TransactionType::Refund),
        credited: of(TransactionType::Credit),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;

    fn transaction(
        kind: &str,
        key: &str,
        status: &str,
        amount: Option<i64>,
        currency: Option<&str>,
    ) -> Transaction {
        let now = Utc::now();
        let kind = TransactionType::parse(kind).unwrap();
        let status = TransactionStatus::parse(status).unwrap();
        let processed = if status.is_success_or_pending() {
            amount.map(Decimal::from)
        } else {
            Some(Decimal::ZERO)
        };
        Transaction {
            record_id: 1,
            id: Uuid::new_v4(),
            payment_id: Uuid::nil(),
            external_key: key.to_string(),
            transaction_type: kind,
            effective_date: now,
            status,
            amount: amount.map(Decimal::from),
            currency: currency.map(str::to_string),
            processed_amount: processed,
            processed_currency: currency.map(str::to_string),
            gateway_error_code: None,
            gateway_error_msg: None,
            created_date: now,
            updated_date: now,
        }
    }

    #[test]
    fn a_chargeback_takes_from_the_purchase_and_its_reversal_gives_it_back() {
        let usd = Some("USD");
        let mut transactions = vec![
            transaction("PURCHASE", "p", "SUCCESS", Some(10), usd),
            transaction("CHARGEBACK", "cb1", "SUCCESS", Some(4), usd),
        ];
        assert_eq!(totals(&transactions).purchased, Decimal::from(6));
        transactions.push(transaction(
            "CHARGEBACK",
            "cb1",
            "PAYMENT_FAILURE",
            None,
            None,
        ));
        assert_eq!(totals(&transactions).purchased, Decimal::from(10));
    }

    #[test]
    fn chargebacks_in_several_currencies_zero_the_captured_and_purchased_totals() {
        let transactions = vec![
            transaction("PURCHASE", "p", "SUCCESS", Some(10), Some("USD")),
            transaction("CHARGEBACK", "a", "SUCCESS", Some(3), Some("USD")),
            transaction("CHARGEBACK", "b", "SUCCESS", Some(2), Some("EUR")),
        ];
        let totals = totals(&transactions);
        assert_eq!(totals.purchased, Decimal::ZERO);
        assert_eq!(totals.refunded, Decimal::ZERO);
    }

    #[test]
    fn a_void_cancels_the_authorization_before_it() {
        let usd = Some("USD");
        let transactions = vec![
            transaction("AUTHORIZE", "a", "SUCCESS", Some(10), usd),
            transaction("VOID", "v", "SUCCESS", None, None),
        ];
        assert_eq!(totals(&transactions).authorized, Decimal::ZERO);
        let captured = vec![
            transaction("AUTHORIZE", "a", "SUCCESS", Some(10), usd),
            transaction("CAPTURE", "c1", "SUCCESS", Some(4), usd),
            transaction("CAPTURE", "c2", "PAYMENT_FAILURE", Some(4), usd),
            transaction("CHARGEBACK", "cb", "SUCCESS", Some(5), usd),
        ];
        let totals = totals(&captured);
        assert_eq!(totals.authorized, Decimal::from(10));
        assert_eq!(totals.captured, Decimal::ZERO);
    }

    #[test]
    fn the_currency_is_the_first_successful_or_pending_initial_transaction() {
        let transactions = vec![
            transaction("PURCHASE", "p1", "PAYMENT_FAILURE", Some(1), Some("EUR")),
            transaction("PURCHASE", "p2", "SUCCESS", Some(1), Some("USD")),
        ];
        assert_eq!(payment_currency(&transactions), Some("USD"));
        let failed = vec![transaction(
            "PURCHASE",
            "p1",
            "PAYMENT_FAILURE",
            Some(1),
            Some("EUR"),
        )];
        assert_eq!(payment_currency(&failed), Some("EUR"));
        assert_eq!(payment_currency(&[]), None);
    }
}
