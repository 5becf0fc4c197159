//! The simulated gateway's hosted payment pages: the form descriptor that sends a customer to
//! its (simulated) checkout page, and the notification the gateway sends back once the
//! customer paid there, which settles the transaction left PENDING.
//!
//! A notification is JSON (`{"kbPaymentId": …, "kbTransactionId": …, "status": "PROCESSED"}`)
//! or the same keys as `key=value&…` (a query string, when Kill Bill passes the request's
//! query for an empty body); `status` is `PROCESSED` or `ERROR`. It settles the gateway's own
//! row under the payment's row lock, applying the amount rules then, and tells the caller the
//! outcome: the payment service records it in Kill Bill's tables, never this plugin.
//!
//! This file decides nothing about ferrobill's payments and holds no SQL (`storage.rs` does).

use std::collections::HashMap;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::storage;
use super::{apply, gateway_id, storage_error, GatewaySimPlugin, GATEWAY_PLUGIN_NAME};
use crate::plugin::{
    FormDescriptor, GatewayNotification, HostedPageCall, NotifiedOutcome, PaymentPluginStatus,
    PluginError, PluginProperty,
};

/// The simulated checkout page's path under ferrobill's base URL, as a Kill Bill plugin's
/// servlet is served under `/plugins/{pluginName}/`.
pub const CHECKOUT_PATH: &str = "/plugins/ferrobill-gateway/checkout";

fn property(key: &str, value: impl Into<String>) -> PluginProperty {
    PluginProperty {
        key: key.to_string(),
        value: Some(value.into()),
        is_updatable: false,
    }
}

/// The form a customer's browser posts to the simulated checkout page: the session (a
/// Stripe-like `cs_…` id), the account and method it pays for, and the caller's own fields.
pub fn form_descriptor(call: &HostedPageCall<'_>) -> FormDescriptor {
    let session = gateway_id("cs", Uuid::new_v4());
    let mut fields = vec![
        property("sessionId", session.clone()),
        property("kbAccountId", call.account_id.to_string()),
        property("kbPaymentMethodId", call.payment_method_id.to_string()),
    ];
    fields.extend(
        call.form_fields
            .iter()
            .filter(|field| !fields_reserved(&field.key))
            .cloned(),
    );
    FormDescriptor {
        kb_account_id: call.account_id,
        form_method: Some("POST".to_string()),
        form_url: Some(format!("{}{CHECKOUT_PATH}", call.base_url)),
        form_fields: fields,
        properties: vec![
            property("sessionId", session),
            property("pluginName", GATEWAY_PLUGIN_NAME),
        ],
    }
}

fn fields_reserved(key: &str) -> bool {
    matches!(key, "sessionId" | "kbAccountId" | "kbPaymentMethodId")
}

/// What a notification names.
#[derive(Debug, PartialEq, Eq)]
struct Notice {
    payment_id: Uuid,
    transaction_id: Uuid,
    succeeded: bool,
}

fn parse_notice(body: &str) -> Result<Notice, PluginError> {
    let trimmed = body.trim();
    let fields: HashMap<String, String> = if trimmed.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(trimmed)
            .map_err(|error| PluginError(format!("the notification is not JSON: {error}")))?;
        value
            .as_object()
            .map(|object| {
                object
                    .iter()
                    .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        trimmed
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    };
    let id = |key: &str| -> Result<Uuid, PluginError> {
        fields
            .get(key)
            .and_then(|value| Uuid::parse_str(value).ok())
            .ok_or_else(|| PluginError(format!("the notification has no valid {key}")))
    };
    let succeeded = match fields.get("status").map(String::as_str) {
        Some("PROCESSED") => true,
        Some("ERROR") => false,
        _ => {
            return Err(PluginError(
                "the notification's status must be PROCESSED or ERROR".to_string(),
            ))
        }
    };
    Ok(Notice {
        payment_id: id("kbPaymentId")?,
        transaction_id: id("kbTransactionId")?,
        succeeded,
    })
}

impl GatewaySimPlugin {
    /// Settles the PENDING transaction a notification names, in one transaction on a
    /// plugin-pool connection under the payment's row lock. A transaction already settled is
    /// acknowledged without an outcome (gateways repeat notifications).
    pub(super) async fn notification(
        &self,
        tenant_id: Uuid,
        body: &str,
    ) -> Result<GatewayNotification, PluginError> {
        let notice = parse_notice(body)?;
        let mut work = self.connection().await?;
        work.start_transaction();
        let client = work.client();
        let Some(mut payment) = storage::lock_payment(client, tenant_id, notice.payment_id)
            .await
            .map_err(storage_error)?
        else {
            return Err(PluginError(format!(
                "payment {} is unknown to the gateway",
                notice.payment_id
            )));
        };
        let recorded = storage::find_transaction(client, notice.transaction_id)
            .await
            .map_err(storage_error)?
            .filter(|recorded| recorded.payment_id == notice.payment_id)
            .ok_or_else(|| {
                PluginError(format!(
                    "transaction {} is unknown to the gateway",
                    notice.transaction_id
                ))
            })?;
        if recorded.status != PaymentPluginStatus::Pending {
            work.commit().await.map_err(storage_error)?;
            return Ok(answer(notice.payment_id, "already settled", None));
        }
        let refusal = if notice.succeeded {
            apply(
                &mut payment,
                recorded.transaction_type,
                recorded.processed_amount,
            )
            .err()
        } else {
            None
        };
        let succeeded = notice.succeeded && refusal.is_none();
        let (status, processed, code, message) = match (&refusal, notice.succeeded) {
            (Some(refusal), _) => (
                PaymentPluginStatus::Error,
                Decimal::ZERO,
                Some(refusal.code),
                Some(refusal.message.clone()),
            ),
            (None, true) => (
                PaymentPluginStatus::Processed,
                recorded.processed_amount.unwrap_or_default(),
                None,
                None,
            ),
            (None, false) => (
                PaymentPluginStatus::Error,
                Decimal::ZERO,
                Some("card_declined"),
                Some("Your card was declined.".to_string()),
            ),
        };
        if succeeded {
            storage::update_payment_totals(client, notice.payment_id, &payment)
                .await
                .map_err(storage_error)?;
        }
        storage::settle_pending_transaction(
            client,
            notice.transaction_id,
            status,
            processed,
            code,
            message.as_deref(),
        )
        .await
        .map_err(storage_error)?;
        work.commit().await.map_err(storage_error)?;
        tracing::info!(payment_id = %notice.payment_id, transaction_id = %notice.transaction_id,
            succeeded, "simulated gateway notification settled a pending transaction");
        Ok(answer(
            notice.payment_id,
            if succeeded { "PROCESSED" } else { "ERROR" },
            Some(NotifiedOutcome {
                payment_id: notice.payment_id,
                transaction_id: notice.transaction_id,
                success: succeeded,
            }),
        ))
    }
}

fn answer(payment_id: Uuid, status: &str, outcome: Option<NotifiedOutcome>) -> GatewayNotification {
    GatewayNotification {
        kb_payment_id: Some(payment_id),
        status: 200,
        headers: vec![("Content-Type".to_string(), "application/json".to_string())],
        entity: Some(serde_json::json!({ "status": status }).to_string()),
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_are_json_or_key_values() {
        let payment = Uuid::new_v4();
        let transaction = Uuid::new_v4();
        let json = format!(
            r#"{{"kbPaymentId":"{payment}","kbTransactionId":"{transaction}","status":"PROCESSED"}}"#
        );
        let expected = Notice {
            payment_id: payment,
            transaction_id: transaction,
            succeeded: true,
        };
        assert_eq!(parse_notice(&json).ok(), Some(expected));
        let query = format!("kbPaymentId={payment}&kbTransactionId={transaction}&status=ERROR");
        assert!(parse_notice(&query).is_ok_and(|notice| !notice.succeeded));
        assert!(parse_notice("status=PROCESSED").is_err());
        assert!(parse_notice("{").is_err());
    }
}
