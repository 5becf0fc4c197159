//! `__EXTERNAL_PAYMENT__`, Kill Bill's ExternalPaymentProviderPlugin: the always-registered
//! plugin for payments made outside Kill Bill (cheques, wire transfers). It keeps nothing, so
//! adding, deleting and choosing a default do nothing and the janitor learns nothing from it
//! (the trait's defaults for a plugin keeping nothing), its detail is a constant, and every
//! payment is processed for the amount asked, unless one of Kill Bill's four failure-forcing
//! plugin properties is `true`.

use std::time::Duration;

use futures_util::future::FutureExt;

use super::{
    answered, PaymentCall, PaymentMethodCall, PaymentMethodPlugin, PaymentPluginApi,
    PaymentPluginStatus, PaymentTransactionInfo, PluginError, PluginProperty, PluginResult,
    TransactionType,
};

/// The name Kill Bill registers the plugin under (PaymentMethodProcessor's
/// `EXTERNAL_PAYMENT_PLUGIN_NAME`).
pub const EXTERNAL_PAYMENT_PLUGIN_NAME: &str = "__EXTERNAL_PAYMENT__";

/// The external key Kill Bill's plugin reports for every method; hence the first such method
/// of a tenant created without an external key gets the key `unknown`.
const UNKNOWN_EXTERNAL_ID: &str = "unknown";

/// Kill Bill's test hooks: set one to `true` in a payment's plugin properties.
const FAIL_WITH_ERROR: &str = "killbill.external.payment.fail.error";
const FAIL_WITH_CANCELLATION: &str = "killbill.external.payment.fail.cancellation";
const FAIL_WITH_EXCEPTION: &str = "killbill.external.payment.fail.exception";
const FAIL_WITH_TIMEOUT: &str = "killbill.external.payment.fail.timeout";

pub struct ExternalPaymentProviderPlugin {
    /// How long `fail.timeout` sleeps: past the plugin timeout, so the caller times out.
    timeout_sleep: Duration,
}

impl ExternalPaymentProviderPlugin {
    /// `plugin_timeout` is `org.killbill.payment.plugin.timeout`; Kill Bill's plugin sleeps one
    /// second longer to force a timeout.
    pub fn new(plugin_timeout: Duration) -> ExternalPaymentProviderPlugin {
        ExternalPaymentProviderPlugin {
            timeout_sleep: plugin_timeout + Duration::from_secs(1),
        }
    }

    /// The answer to `call`, unless `fail.exception` or `fail.timeout` asks for an exception or
    /// a hang, which only the asynchronous path can give.
    fn settle(
        call: &PaymentCall,
        transaction_type: TransactionType,
    ) -> Option<PaymentTransactionInfo> {
        let is_set = |key: &str| property_is_true(&call.properties, key);
        if is_set(FAIL_WITH_EXCEPTION) || is_set(FAIL_WITH_TIMEOUT) {
            return None;
        }
        Some(Self::answer(call, transaction_type))
    }

    fn answer(call: &PaymentCall, transaction_type: TransactionType) -> PaymentTransactionInfo {
        let is_set = |key: &str| property_is_true(&call.properties, key);
        let status = if is_set(FAIL_WITH_ERROR) {
            PaymentPluginStatus::Error
        } else if is_set(FAIL_WITH_CANCELLATION) {
            PaymentPluginStatus::Canceled
        } else {
            PaymentPluginStatus::Processed
        };
        PaymentTransactionInfo::for_call(call, transaction_type, status)
    }
}

fn property_is_true(properties: &[PluginProperty], key: &str) -> bool {
    properties
        .iter()
        .any(|property| property.key == key && property.value.as_deref() == Some("true"))
}

impl PaymentPluginApi for ExternalPaymentProviderPlugin {
    fn get_payment_method_detail<'a>(
        &'a self,
        _call: PaymentMethodCall<'a>,
    ) -> PluginResult<'a, PaymentMethodPlugin> {
        answered(PaymentMethodPlugin {
            external_payment_method_id: Some(UNKNOWN_EXTERNAL_ID.to_string()),
            is_default_payment_method: false,
            properties: Vec::new(),
        })
    }

    fn process_payment<'a>(
        &'a self,
        transaction_type: TransactionType,
        call: &'a PaymentCall,
    ) -> PluginResult<'a, PaymentTransactionInfo> {
        async move {
            if property_is_true(&call.properties, FAIL_WITH_EXCEPTION) {
                // Kill Bill's ExternalPaymentProviderPlugin says "cancellation" here.
                return Err(PluginError(
                    "Triggered from killbill.external.payment.fail.cancellation".to_string(),
                ));
            }
            if property_is_true(&call.properties, FAIL_WITH_TIMEOUT) {
                tokio::time::sleep(self.timeout_sleep).await;
            }
            Ok(Self::answer(call, transaction_type))
        }
        .boxed()
    }

    /// Nothing to wait for: no gateway, no table. The test hooks that ask for an exception or a
    /// hang take the asynchronous path.
    fn answer_at_once(
        &self,
        transaction_type: TransactionType,
        call: &PaymentCall,
    ) -> Option<PaymentTransactionInfo> {
        Self::settle(call, transaction_type)
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[tokio::test]
    async fn the_detail_is_kill_bills_constant() {
        let call = PaymentMethodCall {
            account_id: Uuid::new_v4(),
            payment_method_id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            properties: &[],
        };
        let plugin = ExternalPaymentProviderPlugin::new(Duration::from_secs(30));
        assert!(plugin
            .add_payment_method(call.clone(), None, true)
            .await
            .is_ok());
        let detail = plugin
            .get_payment_method_detail(call)
            .await
            .expect("a detail");
        assert_eq!(
            detail,
            PaymentMethodPlugin {
                external_payment_method_id: Some("unknown".to_string()),
                is_default_payment_method: false,
                properties: Vec::new(),
            }
        );
    }
}
