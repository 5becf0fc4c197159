//! Payment plugins: Kill Bill's PaymentPluginApi as a Rust trait, the registry that resolves a
//! plugin by the name stored on a payment method, the built-in `__EXTERNAL_PAYMENT__`
//! plugin (`external.rs`) and the simulated card gateway (`gateway_sim/`, registered as
//! `ferrobill-gateway` and `killbill-stripe`).
//!
//! The trait has Kill Bill's two sides: payment methods (add, delete, detail, set default) and
//! payments (one entry point, `process_payment`, for authorize, capture, purchase, void, refund
//! and credit; get payment info). Methods return boxed futures rather than `async fn` so the
//! trait stays usable as `dyn PaymentPluginApi` behind an `Arc` in the registry. Payment calls take an owned
//! [`PaymentCall`] by reference so the caller can run them on a task of their own that
//! outlives a timeout, as Kill Bill's plugin executor lets a timed-out call finish.
//!
//! A plugin never sees a transaction of ferrobill's: it keeps its own rows (on the plugin
//! pool) and reports outcomes, which the payment service records.

mod executor;
mod external;
mod gateway_sim;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::domain::payments::TransactionType;

pub use self::executor::{ExecutorError, PluginExecutor};
pub use self::external::{ExternalPaymentProviderPlugin, EXTERNAL_PAYMENT_PLUGIN_NAME};
pub use self::gateway_sim::{GatewaySimPlugin, GATEWAY_PLUGIN_NAME, STRIPE_PLUGIN_NAME};

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

/// A payment method as the gateway holds it for one account (Kill Bill's
/// PaymentMethodInfoPlugin), what a refresh reconciles Kill Bill's methods with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethodInfo {
    /// Kill Bill's id of the method, when the gateway knows it (a method added outside Kill
    /// Bill has none yet).
    pub payment_method_id: Option<Uuid>,
    pub external_payment_method_id: Option<String>,
    pub is_default: bool,
}

/// A payment method a plugin's search found: Kill Bill's id of it and the plugin's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethodMatch {
    pub payment_method_id: Uuid,
    pub detail: PaymentMethodPlugin,
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

/// Kill Bill's PaymentPluginStatus: what the gateway said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentPluginStatus {
    /// The gateway accepted the operation.
    Processed,
    /// Accepted, outcome to come later (the janitor asks again).
    Pending,
    /// The gateway declined (PAYMENT_FAILURE).
    Error,
    /// The plugin did not submit the operation (PLUGIN_FAILURE).
    Canceled,
    /// The outcome is unknown (UNKNOWN; the janitor asks again).
    Undefined,
}

/// One payment call's arguments. Owned, so the call can outlive the request that made it.
#[derive(Debug, Clone)]
pub struct PaymentCall {
    pub tenant_id: Uuid,
    pub account_id: Uuid,
    pub payment_id: Uuid,
    pub transaction_id: Uuid,
    pub payment_method_id: Uuid,
    /// `None` for a void.
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub properties: Vec<PluginProperty>,
}

/// Kill Bill's PaymentTransactionInfoPlugin: a plugin's answer about one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentTransactionInfo {
    pub payment_id: Uuid,
    pub transaction_id: Uuid,
    pub transaction_type: TransactionType,
    /// What the gateway processed (0 when it processed nothing).
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub created_date: DateTime<Utc>,
    pub effective_date: DateTime<Utc>,
    pub status: PaymentPluginStatus,
    pub gateway_error: Option<String>,
    pub gateway_error_code: Option<String>,
    pub first_payment_reference_id: Option<String>,
    pub second_payment_reference_id: Option<String>,
    pub properties: Vec<PluginProperty>,
}

impl PaymentTransactionInfo {
    /// An answer to `call` with `status`, the call's amount as processed amount, no error.
    pub fn for_call(
        call: &PaymentCall,
        transaction_type: TransactionType,
        status: PaymentPluginStatus,
    ) -> PaymentTransactionInfo {
        let now = Utc::now();
        PaymentTransactionInfo {
            payment_id: call.payment_id,
            transaction_id: call.transaction_id,
            transaction_type,
            amount: call.amount,
            currency: call.currency.clone(),
            created_date: now,
            effective_date: now,
            status,
            gateway_error: None,
            gateway_error_code: None,
            first_payment_reference_id: None,
            second_payment_reference_id: None,
            properties: Vec::new(),
        }
    }
}

/// A hosted payment page request (Kill Bill's buildFormDescriptor): whose page, paying with
/// which method, with the caller's form fields (`customFields`) and plugin properties.
#[derive(Debug, Clone)]
pub struct HostedPageCall<'a> {
    pub tenant_id: Uuid,
    pub account_id: Uuid,
    pub payment_method_id: Uuid,
    pub form_fields: &'a [PluginProperty],
    pub properties: &'a [PluginProperty],
    /// Where ferrobill is reached (scheme and host), for a page the plugin serves through it.
    pub base_url: &'a str,
}

/// Kill Bill's HostedPaymentPageFormDescriptor: where and how to send the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormDescriptor {
    pub kb_account_id: Uuid,
    pub form_method: Option<String>,
    pub form_url: Option<String>,
    pub form_fields: Vec<PluginProperty>,
    pub properties: Vec<PluginProperty>,
}

/// What a gateway's notification said of a PENDING transaction: Kill Bill's plugins call
/// notifyPendingTransactionOfStateChanged themselves; here the payment service does it for
/// the plugin, which never touches ferrobill's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifiedOutcome {
    pub payment_id: Uuid,
    pub transaction_id: Uuid,
    pub success: bool,
}

/// Kill Bill's GatewayNotification: the answer to give the gateway (status, headers, body),
/// and the outcome the notification carried, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayNotification {
    pub kb_payment_id: Option<Uuid>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub entity: Option<String>,
    pub outcome: Option<NotifiedOutcome>,
}

impl GatewayNotification {
    /// Kill Bill's DefaultNoOpGatewayNotification: 200, nothing else.
    pub fn no_op() -> GatewayNotification {
        GatewayNotification {
            kb_payment_id: None,
            status: 200,
            headers: Vec::new(),
            entity: None,
            outcome: None,
        }
    }
}

/// Kill Bill's per-tenant plugin configuration (the tenant key-value `PLUGIN_CONFIG_<plugin>`
/// uploaded through `/1.0/kb/tenants/uploadPluginConfig/<plugin>`), as a plugin reads it
/// through Kill Bill's TenantUserApi. Implementations may take a main-pool connection, so a
/// plugin asks before taking its own.
pub trait TenantConfigSource: Send + Sync {
    /// The configuration text the tenant of `tenant_id` uploaded for `plugin_name`, if any.
    fn plugin_config<'a>(
        &'a self,
        tenant_id: Uuid,
        plugin_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, PluginError>>;
}

/// A plugin's own view of its health, for KillbillPluginsHealthcheck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginHealth {
    pub healthy: bool,
    pub message: Option<String>,
}

/// Kill Bill's PaymentPluginApi. A plugin is shared by every request and tenant, so it must be
/// `Send + Sync` and keep per-call state out of `self`.
pub trait PaymentPluginApi: Send + Sync {
    /// Registers a new payment method with the gateway. `detail` is what the caller sent as
    /// `pluginInfo`; `set_default` is the request's `isDefault`. A plugin keeping no methods
    /// of its own has nothing to register, as Kill Bill's `__EXTERNAL_PAYMENT__`.
    fn add_payment_method<'a>(
        &'a self,
        _call: PaymentMethodCall<'a>,
        _detail: Option<&'a PaymentMethodPlugin>,
        _set_default: bool,
    ) -> PluginResult<'a, ()> {
        answered(())
    }

    /// Removes a payment method from the gateway; called before the soft delete. A plugin
    /// keeping no methods of its own has nothing to remove.
    fn delete_payment_method<'a>(&'a self, _call: PaymentMethodCall<'a>) -> PluginResult<'a, ()> {
        answered(())
    }

    /// The gateway's view of a payment method (`withPluginInfo=true`, and on creation to pick
    /// the external key).
    fn get_payment_method_detail<'a>(
        &'a self,
        call: PaymentMethodCall<'a>,
    ) -> PluginResult<'a, PaymentMethodPlugin>;

    /// Tells the gateway this method became the account's default. A plugin keeping no
    /// methods of its own has no default to change.
    fn set_default_payment_method<'a>(
        &'a self,
        _call: PaymentMethodCall<'a>,
    ) -> PluginResult<'a, ()> {
        answered(())
    }

    /// The account's payment methods as the gateway holds them now (Kill Bill's
    /// getPaymentMethods with `refreshFromGateway`). A plugin keeping no methods of its own
    /// has none, as Kill Bill's `__EXTERNAL_PAYMENT__` answers.
    fn get_payment_methods<'a>(
        &'a self,
        _tenant_id: Uuid,
        _account_id: Uuid,
        _properties: &'a [PluginProperty],
    ) -> PluginResult<'a, Vec<PaymentMethodInfo>> {
        answered(Vec::new())
    }

    /// The tenant's payment methods the plugin finds for `search_key` (Kill Bill's
    /// searchPaymentMethods), oldest first. A plugin keeping no methods of its own finds none.
    fn search_payment_methods<'a>(
        &'a self,
        _tenant_id: Uuid,
        _search_key: &'a str,
        _properties: &'a [PluginProperty],
    ) -> PluginResult<'a, Vec<PaymentMethodMatch>> {
        answered(Vec::new())
    }

    /// Runs one payment operation: Kill Bill's authorizePayment, capturePayment,
    /// purchasePayment, voidPayment, refundPayment or creditPayment, as `transaction_type`
    /// says. Never asked for a chargeback ([`process_payment`] answers those).
    fn process_payment<'a>(
        &'a self,
        transaction_type: TransactionType,
        call: &'a PaymentCall,
    ) -> PluginResult<'a, PaymentTransactionInfo>;

    /// Everything the gateway knows about the payment's transactions (the janitor's question).
    /// A plugin remembering nothing, as Kill Bill's `__EXTERNAL_PAYMENT__`, tells the janitor
    /// nothing.
    fn get_payment_info<'a>(
        &'a self,
        _tenant_id: Uuid,
        _account_id: Uuid,
        _payment_id: Uuid,
        _properties: &'a [PluginProperty],
    ) -> PluginResult<'a, Vec<PaymentTransactionInfo>> {
        answered(Vec::new())
    }

    /// The answer to a payment call when the plugin can give it without waiting for anything
    /// (no gateway, no database, no timer), so the payment service may record the operation
    /// in one transaction. `None`, the default, means the call must go through
    /// [`process_payment`] outside any transaction.
    fn answer_at_once(
        &self,
        _transaction_type: TransactionType,
        _call: &PaymentCall,
    ) -> Option<PaymentTransactionInfo> {
        None
    }

    /// A hosted payment page for the account (Kill Bill's buildFormDescriptor). The default
    /// is Kill Bill's DefaultNoOpHostedPaymentPageFormDescriptor: the account, nothing else.
    fn build_form_descriptor<'a>(
        &'a self,
        call: HostedPageCall<'a>,
    ) -> PluginResult<'a, FormDescriptor> {
        let descriptor = FormDescriptor {
            kb_account_id: call.account_id,
            form_method: None,
            form_url: None,
            form_fields: Vec::new(),
            properties: Vec::new(),
        };
        answered(descriptor)
    }

    /// A notification the gateway sent (its body, opaque to Kill Bill). The default is Kill
    /// Bill's DefaultNoOpGatewayNotification.
    fn process_notification<'a>(
        &'a self,
        _tenant_id: Uuid,
        _notification: &'a str,
        _properties: &'a [PluginProperty],
    ) -> PluginResult<'a, GatewayNotification> {
        answered(GatewayNotification::no_op())
    }

    /// Reported by KillbillPluginsHealthcheck; healthy unless the plugin knows better.
    fn health(&self) -> PluginHealth {
        PluginHealth {
            healthy: true,
            message: None,
        }
    }
}

/// A plugin's answer that waits for nothing: what the trait's defaults give.
fn answered<'a, T: Send + 'a>(answer: T) -> PluginResult<'a, T> {
    Box::pin(std::future::ready(Ok(answer)))
}

/// Runs the plugin method of `transaction_type` (chargebacks never reach a plugin: Kill Bill
/// records them without one, so they are answered as processed).
pub fn process_payment<'a>(
    plugin: &'a dyn PaymentPluginApi,
    transaction_type: TransactionType,
    call: &'a PaymentCall,
) -> PluginResult<'a, PaymentTransactionInfo> {
    match transaction_type {
        TransactionType::Chargeback => answered(PaymentTransactionInfo::for_call(
            call,
            transaction_type,
            PaymentPluginStatus::Processed,
        )),
        _ => plugin.process_payment(transaction_type, call),
    }
}

/// The registered payment plugins by name (Kill Bill's OSGIServiceRegistration for
/// PaymentPluginApi). `__EXTERNAL_PAYMENT__` is always registered.
#[derive(Clone)]
pub struct PluginRegistry {
    plugins: HashMap<String, Arc<dyn PaymentPluginApi>>,
}

impl PluginRegistry {
    /// A registry holding only the built-in `__EXTERNAL_PAYMENT__` plugin; `plugin_timeout`
    /// is what its `fail.timeout` hook outlasts.
    pub fn new(plugin_timeout: std::time::Duration) -> PluginRegistry {
        let mut registry = PluginRegistry {
            plugins: HashMap::new(),
        };
        registry.register(
            EXTERNAL_PAYMENT_PLUGIN_NAME,
            Arc::new(ExternalPaymentProviderPlugin::new(plugin_timeout)),
        );
        registry
    }

    /// Registers (or replaces) the plugin answering to `name`.
    pub fn register(&mut self, name: &str, plugin: Arc<dyn PaymentPluginApi>) {
        self.plugins.insert(name.to_string(), plugin);
    }

    /// The names plugins are registered under, sorted (Kill Bill's getAvailablePlugins; one
    /// plugin may answer to several names).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.plugins.keys().cloned().collect();
        names.sort();
        names
    }

    /// The plugin answering to `name`. Refused (as if none were registered, after an error
    /// log; a panic in debug builds) to a task holding a database connection: a plugin may
    /// take its time, and may need a connection of its own.
    pub fn get(&self, name: &str) -> Option<Arc<dyn PaymentPluginApi>> {
        crate::db::work::ensure_not_holding("a payment plugin").ok()?;
        self.plugins.get(name).cloned()
    }

    /// The answer of the plugin `name` to a payment call, if it can give it at once
    /// ([`PaymentPluginApi::answer_at_once`]); chargebacks never reach a plugin, so they always
    /// have one. Synchronous, so a task holding a connection may ask: nothing here can wait.
    pub fn answer_at_once(
        &self,
        name: &str,
        transaction_type: TransactionType,
        call: &PaymentCall,
    ) -> Option<PaymentTransactionInfo> {
        let plugin = self.plugins.get(name)?;
        match transaction_type {
            TransactionType::Chargeback => Some(PaymentTransactionInfo::for_call(
                call,
                transaction_type,
                PaymentPluginStatus::Processed,
            )),
            _ => plugin.answer_at_once(transaction_type, call),
        }
    }

    /// Every registered plugin by name, sorted by name.
    pub fn all(&self) -> Vec<(String, Arc<dyn PaymentPluginApi>)> {
        let mut plugins: Vec<_> = self
            .plugins
            .iter()
            .map(|(name, plugin)| (name.clone(), plugin.clone()))
            .collect();
        plugins.sort_by(|a, b| a.0.cmp(&b.0));
        plugins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_external_plugin_is_always_registered() {
        let registry = PluginRegistry::new(std::time::Duration::from_secs(30));
        assert!(registry.get(EXTERNAL_PAYMENT_PLUGIN_NAME).is_some());
        assert!(registry.get("stripe").is_none());
    }
}
