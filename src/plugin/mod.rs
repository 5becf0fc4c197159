//! Payment plugins: Kill Bill's PaymentPluginApi as a Rust trait, the registry that resolves a
//! plugin by the name stored on a payment method, and the built-in `__EXTERNAL_PAYMENT__`
//! plugin (`external.rs`).
//!
//! Only the payment-method side of the API exists so far (add, delete, detail, set default).
//! The trait is meant to grow: the payment side (authorize, purchase, capture, refund, void,
//! get payment info) and a simulated gateway come next. New methods should be added with a
//! default body when a plugin may reasonably not support them, so that existing plugins keep
//! compiling. Methods return boxed futures rather than `async fn` so the trait stays usable as
//! `dyn PaymentPluginApi` behind an `Arc` in the registry.

mod external;

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use uuid::Uuid;

pub use self::external::{ExternalPaymentProviderPlugin, EXTERNAL_PAYMENT_PLUGIN_NAME};

/// A plugin property: Kill Bill's PluginProperty (`key`, `value`, `isUpdatable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginProperty {
    pub key: String,
    pub value: Option<String>,
    pub is_updatable: bool,
}

/// What a plugin knows about a payment method: Kill Bill's PaymentMethodPlugin, served as
/// PaymentMethodPluginDetail (`pluginInfo`) when a read asks `withPluginInfo=true`. Kill Bill
/// never stores it: it is asked of the plugin on every such read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethodPlugin {
    pub external_payment_method_id: Option<String>,
    pub is_default_payment_method: bool,
    pub properties: Vec<PluginProperty>,
}

/// The arguments every payment-method call carries: which account, which method, which tenant,
/// and the caller's `pluginProperty=k=v` query parameters.
// The only plugin so far, `__EXTERNAL_PAYMENT__`, ignores its arguments; gateway plugins read
// them.
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct PaymentMethodCall<'a> {
    pub account_id: Uuid,
    pub payment_method_id: Uuid,
    pub tenant_id: Uuid,
    pub properties: &'a [PluginProperty],
}

/// A plugin's refusal or failure; Kill Bill wraps these in PAYMENT_PLUGIN_EXCEPTION.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PluginError(pub String);

pub type PluginResult<'a, T> = BoxFuture<'a, Result<T, PluginError>>;

/// Kill Bill's PaymentPluginApi, payment-method side. A plugin is shared by every request and
/// tenant, so it must be `Send + Sync` and keep per-call state out of `self`.
pub trait PaymentPluginApi: Send + Sync {
    /// Registers a new payment method with the gateway. `detail` is what the caller sent as
    /// `pluginInfo`; `set_default` is the request's `isDefault`.
    fn add_payment_method<'a>(
        &'a self,
        call: PaymentMethodCall<'a>,
        detail: Option<&'a PaymentMethodPlugin>,
        set_default: bool,
    ) -> PluginResult<'a, ()>;

    /// Removes a payment method from the gateway; called before the soft delete.
    fn delete_payment_method<'a>(&'a self, call: PaymentMethodCall<'a>) -> PluginResult<'a, ()>;

    /// The gateway's view of a payment method (`withPluginInfo=true`, and on creation to pick
    /// the external key).
    fn get_payment_method_detail<'a>(
        &'a self,
        call: PaymentMethodCall<'a>,
    ) -> PluginResult<'a, PaymentMethodPlugin>;

    /// Tells the gateway this method became the account's default.
    fn set_default_payment_method<'a>(
        &'a self,
        call: PaymentMethodCall<'a>,
    ) -> PluginResult<'a, ()>;
}

/// The registered payment plugins by name (Kill Bill's OSGIServiceRegistration for
/// PaymentPluginApi). `__EXTERNAL_PAYMENT__` is always registered.
#[derive(Clone)]
pub struct PluginRegistry {
    plugins: HashMap<String, Arc<dyn PaymentPluginApi>>,
}

impl Default for PluginRegistry {
    fn default() -> Self {
        PluginRegistry::new()
    }
}

impl PluginRegistry {
    /// A registry holding only the built-in `__EXTERNAL_PAYMENT__` plugin.
    pub fn new() -> PluginRegistry {
        let mut registry = PluginRegistry {
            plugins: HashMap::new(),
        };
        registry.register(
            EXTERNAL_PAYMENT_PLUGIN_NAME,
            Arc::new(ExternalPaymentProviderPlugin),
        );
        registry
    }

    /// Registers (or replaces) the plugin answering to `name`.
    pub fn register(&mut self, name: &str, plugin: Arc<dyn PaymentPluginApi>) {
        self.plugins.insert(name.to_string(), plugin);
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn PaymentPluginApi>> {
        self.plugins.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_external_plugin_is_always_registered() {
        let registry = PluginRegistry::new();
        assert!(registry.get(EXTERNAL_PAYMENT_PLUGIN_NAME).is_some());
        assert!(registry.get("stripe").is_none());
    }
}
