//! Kill Bill's payment state machine (PaymentStates.xml) and the meaning of a plugin's answer
//! (PaymentTransactionInfoPluginConverter), as pure functions: which operation may follow the
//! payment's last successful state, and which transaction status and payment state a plugin
//! status leads to. Nothing here touches the database or a plugin.

use crate::domain::payments::{TransactionStatus, TransactionType};
use crate::plugin::PaymentPluginStatus;

/// The state an operation starts from when the payment never succeeded at anything.
pub const INITIAL_STATE: &str = "BIG_BANG_INIT";

/// What a plugin's status means for the transaction (PaymentTransactionInfoPluginConverter).
pub fn status_from_plugin(status: PaymentPluginStatus) -> TransactionStatus {
    match status {
        PaymentPluginStatus::Processed => TransactionStatus::Success,
        PaymentPluginStatus::Pending => TransactionStatus::Pending,
        PaymentPluginStatus::Error => TransactionStatus::PaymentFailure,
        PaymentPluginStatus::Canceled => TransactionStatus::PluginFailure,
        PaymentPluginStatus::Undefined => TransactionStatus::Unknown,
    }
}

/// The state prefix of an operation: its Kill Bill name, but AUTH for an authorization.
fn state_prefix(transaction_type: TransactionType) -> &'static str {
    match transaction_type {
        TransactionType::Authorize => "AUTH",
        other => other.as_str(),
    }
}

/// The payment state after an operation ended with `status` (X_SUCCESS, X_PENDING, X_FAILED,
/// X_ERRORED).
pub fn state_after(transaction_type: TransactionType, status: TransactionStatus) -> String {
    let suffix = match status {
        TransactionStatus::Success => "SUCCESS",
        TransactionStatus::Pending => "PENDING",
        TransactionStatus::PaymentFailure => "FAILED",
        TransactionStatus::PluginFailure | TransactionStatus::Unknown => "ERRORED",
    };
    format!("{}_{suffix}", state_prefix(transaction_type))
}

/// Whether a payment state counts as its last successful one (Kill Bill's
/// PaymentStateMachineHelper.isSuccessState): every `X_SUCCESS`, and every chargeback state, so
/// a reversed chargeback (CHARGEBACK_FAILED) leaves only a refund possible.
pub fn is_success_state(state_name: &str) -> bool {
    state_name.ends_with("SUCCESS") || state_name.starts_with("CHARGEBACK")
}

/// Whether `transaction_type` may follow the payment's last successful state (`None`: it never
/// succeeded). Failures never count, so a failed operation can always be retried.
pub fn is_allowed(last_success_state: Option<&str>, transaction_type: TransactionType) -> bool {
    use TransactionType::*;
    let allowed: &[TransactionType] = match last_success_state.unwrap_or(INITIAL_STATE) {
        INITIAL_STATE => &[Authorize, Purchase, Credit],
        "AUTH_SUCCESS" => &[Capture, Void],
        "CAPTURE_SUCCESS" => &[Capture, Refund, Chargeback],
        "PURCHASE_SUCCESS" | "REFUND_SUCCESS" => &[Refund, Chargeback],
        "CHARGEBACK_SUCCESS" => &[Chargeback],
        "CHARGEBACK_FAILED" => &[Refund],
        _ => &[],
    };
    allowed.contains(&transaction_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_follow_kill_bills_last_successful_state() {
        use TransactionType::*;
        assert!(is_allowed(None, Authorize));
        assert!(is_allowed(None, Purchase));
        assert!(!is_allowed(None, Capture));
        assert!(is_allowed(Some("AUTH_SUCCESS"), Capture));
        assert!(is_allowed(Some("AUTH_SUCCESS"), Void));
        assert!(!is_allowed(Some("AUTH_SUCCESS"), Refund));
        assert!(is_allowed(Some("CAPTURE_SUCCESS"), Capture));
        assert!(!is_allowed(Some("CAPTURE_SUCCESS"), Void));
        assert!(is_allowed(Some("PURCHASE_SUCCESS"), Refund));
        assert!(!is_allowed(Some("PURCHASE_SUCCESS"), Void));
        assert!(!is_allowed(Some("VOID_SUCCESS"), Capture));
        assert!(!is_allowed(Some("CREDIT_SUCCESS"), Refund));
        assert!(is_allowed(Some("CHARGEBACK_FAILED"), Refund));
        assert!(!is_allowed(Some("CHARGEBACK_FAILED"), Chargeback));
        assert!(is_success_state("CHARGEBACK_FAILED"));
        assert!(!is_success_state("PURCHASE_FAILED"));
    }

    #[test]
    fn plugin_statuses_map_to_kill_bills_states() {
        let status = status_from_plugin(PaymentPluginStatus::Canceled);
        assert_eq!(status, TransactionStatus::PluginFailure);
        assert_eq!(
            state_after(TransactionType::Authorize, status),
            "AUTH_ERRORED"
        );
        assert_eq!(
            state_after(TransactionType::Capture, TransactionStatus::PaymentFailure),
            "CAPTURE_FAILED"
        );
        assert_eq!(
            state_after(TransactionType::Purchase, TransactionStatus::Success),
            "PURCHASE_SUCCESS"
        );
    }
}
