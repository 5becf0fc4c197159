//! `__EXTERNAL_PAYMENT__`, Kill Bill's ExternalPaymentProviderPlugin: the always-registered
//! plugin for payments made outside Kill Bill (cheques, wire transfers). It keeps nothing, so
//! adding, deleting and choosing a default do nothing, and its detail is a constant.

use futures_util::future::FutureExt;

use super::{PaymentMethodCall, PaymentMethodPlugin, PaymentPluginApi, PluginResult};

/// The name Kill Bill registers the plugin under (PaymentMethodProcessor's
/// `EXTERNAL_PAYMENT_PLUGIN_NAME`).
pub const EXTERNAL_PAYMENT_PLUGIN_NAME: &str = "__EXTERNAL_PAYMENT__";

/// The external key Kill Bill's plugin reports for every method; hence the first such method
/// of a tenant created without an external key gets the key `unknown`.
const UNKNOWN_EXTERNAL_ID: &str = "unknown";

pub struct ExternalPaymentProviderPlugin;

impl PaymentPluginApi for ExternalPaymentProviderPlugin {
    fn add_payment_method<'a>(
        &'a self,
        _call: PaymentMethodCall<'a>,
        _detail: Option<&'a PaymentMethodPlugin>,
        _set_default: bool,
    ) -> PluginResult<'a, ()> {
        std::future::ready(Ok(())).boxed()
    }

    fn delete_payment_method<'a>(&'a self, _call: PaymentMethodCall<'a>) -> PluginResult<'a, ()> {
        std::future::ready(Ok(())).boxed()
    }

    fn get_payment_method_detail<'a>(
        &'a self,
        _call: PaymentMethodCall<'a>,
    ) -> PluginResult<'a, PaymentMethodPlugin> {
        std::future::ready(Ok(PaymentMethodPlugin {
            external_payment_method_id: Some(UNKNOWN_EXTERNAL_ID.to_string()),
            is_default_payment_method: false,
            properties: Vec::new(),
        }))
        .boxed()
    }

    fn set_default_payment_method<'a>(
        &'a self,
        _call: PaymentMethodCall<'a>,
    ) -> PluginResult<'a, ()> {
        std::future::ready(Ok(())).boxed()
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
        let plugin = ExternalPaymentProviderPlugin;
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
