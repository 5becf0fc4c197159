//! A payment transaction's type and status, with Kill Bill's upper-case names.
//!
//! These names are what Kill Bill stores in `payment_transactions` and serves in JSON, so they
//! must never change; [`TransactionType::parse`] and [`TransactionStatus::parse`] are their
//! only readers. What a status means for the state machine lives in `service::payments::state`.

/// Kill Bill's TransactionType.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionType {
    Authorize,
    Capture,
    Chargeback,
    Credit,
    Purchase,
    Refund,
    Void,
}

impl TransactionType {
    pub const ALL: [TransactionType; 7] = [
        TransactionType::Authorize,
        TransactionType::Capture,
        TransactionType::Chargeback,
        TransactionType::Credit,
        TransactionType::Purchase,
        TransactionType::Refund,
        TransactionType::Void,
    ];

    /// The name on the wire and in the `transaction_type` column.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionType::Authorize => "AUTHORIZE",
            TransactionType::Capture => "CAPTURE",
            TransactionType::Chargeback => "CHARGEBACK",
            TransactionType::Credit => "CREDIT",
            TransactionType::Purchase => "PURCHASE",
            TransactionType::Refund => "REFUND",
            TransactionType::Void => "VOID",
        }
    }

    pub fn parse(name: &str) -> Option<TransactionType> {
        TransactionType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// Kill Bill's name, as in messages ("TransactionType CAPTURE is not allowed …").
impl std::fmt::Display for TransactionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kill Bill's TransactionStatus, as stored and served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionStatus {
    Success,
    Pending,
    PaymentFailure,
    PluginFailure,
    Unknown,
}

impl TransactionStatus {
    pub const ALL: [TransactionStatus; 5] = [
        TransactionStatus::Success,
        TransactionStatus::Pending,
        TransactionStatus::PaymentFailure,
        TransactionStatus::PluginFailure,
        TransactionStatus::Unknown,
    ];

    /// The name on the wire and in the `transaction_status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionStatus::Success => "SUCCESS",
            TransactionStatus::Pending => "PENDING",
            TransactionStatus::PaymentFailure => "PAYMENT_FAILURE",
            TransactionStatus::PluginFailure => "PLUGIN_FAILURE",
            TransactionStatus::Unknown => "UNKNOWN",
        }
    }

    pub fn parse(name: &str) -> Option<TransactionStatus> {
        TransactionStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
    }

    /// Whether the janitor must ask the plugin again later.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            TransactionStatus::Unknown | TransactionStatus::Pending
        )
    }

    /// SUCCESS or PENDING: the gateway took the money or will, so Kill Bill counts a processed
    /// amount only for these, and completes only these.
    pub fn is_success_or_pending(self) -> bool {
        matches!(
            self,
            TransactionStatus::Success | TransactionStatus::Pending
        )
    }
}

/// Kill Bill's name, as in messages ("TransactionType CAPTURE is not allowed …").
impl std::fmt::Display for TransactionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transaction_type_reads_back_from_its_name() {
        let names: Vec<_> = TransactionType::ALL
            .iter()
            .map(|kind| kind.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "AUTHORIZE",
                "CAPTURE",
                "CHARGEBACK",
                "CREDIT",
                "PURCHASE",
                "REFUND",
                "VOID"
            ]
        );
        for kind in TransactionType::ALL {
            assert_eq!(TransactionType::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn every_transaction_status_reads_back_from_its_name() {
        let names: Vec<_> = TransactionStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "SUCCESS",
                "PENDING",
                "PAYMENT_FAILURE",
                "PLUGIN_FAILURE",
                "UNKNOWN"
            ]
        );
        for status in TransactionStatus::ALL {
            assert_eq!(TransactionStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn names_kill_bill_never_stores_are_refused() {
        for name in ["", "purchase", "Purchase", "SALE", " PURCHASE", "AUTH"] {
            assert_eq!(TransactionType::parse(name), None, "{name:?}");
        }
        for name in ["", "success", "FAILED", "SUCCESS ", "ERRORED"] {
            assert_eq!(TransactionStatus::parse(name), None, "{name:?}");
        }
    }
}
