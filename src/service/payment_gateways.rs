//! Kill Bill's PaymentGatewayApi without control plugins: hosted payment pages through the
//! payment method's plugin (buildFormDescriptor, and its combo form that finds or creates the
//! account and method first) and a gateway's notifications through the plugin it names
//! (processNotification).
//!
//! A plugin that reports a PENDING transaction settled by the notification gets it recorded
//! here, through [`PaymentService::notify_state_changed`] (the account's lock, the state
//! machine, Kill Bill's bus event), as a Kill Bill plugin would call
//! notifyPendingTransactionOfStateChanged. Every read is released before a plugin is called:
//! no connection is held across one. No SQL, no HTTP here.

use std::sync::Arc;

use uuid::Uuid;

use super::accounts::{Account, AccountService, BalanceRequest};
use super::combo::{ComboAccount, ComboMethod, ComboService};
use super::payment_methods::{MethodRef, PaymentMethodService, ReadOptions};
use super::payments::PaymentService;
use super::tenants::Tenant;
use super::{CallContext, ServiceError};
use crate::plugin::{
    FormDescriptor, GatewayNotification, HostedPageCall, PluginProperty, PluginRegistry,
};

#[derive(Clone)]
pub struct PaymentGatewayService {
    accounts: AccountService,
    payment_methods: PaymentMethodService,
    payments: PaymentService,
    combo: ComboService,
    plugins: Arc<PluginRegistry>,
}

/// The caller's part of a hosted page: its form fields (`formFields`), its `pluginProperty`
/// query parameters, and where ferrobill is reached.
pub struct HostedPageRequest<'a> {
    pub form_fields: &'a [PluginProperty],
    pub properties: &'a [PluginProperty],
    pub base_url: &'a str,
}

impl PaymentGatewayService {
    pub fn new(
        accounts: AccountService,
        payment_methods: PaymentMethodService,
        payments: PaymentService,
        plugins: Arc<PluginRegistry>,
    ) -> PaymentGatewayService {
        let combo = ComboService::new(accounts.clone(), payment_methods.clone(), payments.clone());
        PaymentGatewayService {
            accounts,
            payment_methods,
            payments,
            combo,
            plugins,
        }
    }

    /// `POST /paymentGateways/hosted/form/{accountId}`: the form of the plugin of the method
    /// given (it must be the account's), else of the account's default.
    pub async fn build_form_descriptor(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        payment_method_id: Option<Uuid>,
        request: HostedPageRequest<'_>,
    ) -> Result<FormDescriptor, ServiceError> {
        let account = self
            .accounts
            .find_by_id(tenant, account_id, BalanceRequest::default())
            .await?
            .account;
        self.descriptor(tenant, &account, payment_method_id, request)
            .await
    }

    /// `POST /paymentGateways/hosted/form`: the account and method found or created as a combo
    /// payment does, then the form.
    pub async fn build_combo_form_descriptor(
        &self,
        tenant: &Tenant,
        account: ComboAccount,
        method: Option<ComboMethod>,
        method_properties: &[PluginProperty],
        request: HostedPageRequest<'_>,
        context: &CallContext,
    ) -> Result<FormDescriptor, ServiceError> {
        let (account, method) = self
            .combo
            .account_and_method(tenant, account, method, method_properties, context)
            .await?;
        self.descriptor(tenant, &account, method, request).await
    }

    async fn descriptor(
        &self,
        tenant: &Tenant,
        account: &Account,
        payment_method_id: Option<Uuid>,
        request: HostedPageRequest<'_>,
    ) -> Result<FormDescriptor, ServiceError> {
        // JaxRsResourceBase.validatePaymentMethodForAccount, then DefaultPaymentGatewayApi's
        // refusal of no method at all.
        let method_id = payment_method_id
            .or(account.data.payment_method_id)
            .ok_or_else(|| ServiceError::PaymentInvalidParameter {
                name: "paymentMethodId".to_string(),
                reason: "should not be null".to_string(),
            })?;
        let method = self
            .payment_methods
            .find(tenant, MethodRef::Id(method_id), ReadOptions::default())
            .await?
            .method;
        if method.account_id != account.id {
            return Err(ServiceError::PaymentMethodNotFound {
                id: method_id.to_string(),
            });
        }
        let plugin = self.plugin(&method.plugin_name)?;
        let call = HostedPageCall {
            tenant_id: tenant.id,
            account_id: account.id,
            payment_method_id: method_id,
            form_fields: request.form_fields,
            properties: request.properties,
            base_url: request.base_url,
        };
        plugin
            .build_form_descriptor(call)
            .await
            .map_err(|error| ServiceError::PaymentPluginException(error.0))
    }

    /// `POST /paymentGateways/notification/{pluginName}`: the plugin's answer for the gateway,
    /// after recording the outcome it carried.
    pub async fn process_notification(
        &self,
        tenant: &Tenant,
        plugin_name: &str,
        notification: &str,
        properties: &[PluginProperty],
        context: &CallContext,
    ) -> Result<GatewayNotification, ServiceError> {
        let plugin = self.plugin(plugin_name)?;
        let answer = plugin
            .process_notification(tenant.id, notification, properties)
            .await
            .map_err(|error| ServiceError::PaymentPluginException(error.0))?;
        if let Some(outcome) = answer.outcome {
            let recorded = self
                .payments
                .notify_state_changed(
                    tenant,
                    outcome.payment_id,
                    outcome.transaction_id,
                    outcome.success,
                    context,
                )
                .await;
            match recorded {
                // Settled meanwhile (the janitor asked the gateway first): nothing to do.
                Ok(_) | Err(ServiceError::PaymentNotSucceeded { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(answer)
    }

    fn plugin(&self, name: &str) -> Result<Arc<dyn crate::plugin::PaymentPluginApi>, ServiceError> {
        self.plugins
            .get(name)
            .ok_or_else(|| ServiceError::PaymentPluginNotRegistered {
                name: name.to_string(),
            })
    }
}
