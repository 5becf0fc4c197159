//! Kill Bill's combo calls (`POST /1.0/kb/payments/combo`, `POST
//! /1.0/kb/paymentGateways/hosted/form`): the account, its payment method and the operation in
//! one request, the account found by id or external key or else created, the method found on
//! the account by id or external key or else added (the account's default when it is its
//! first), as JaxRsResourceBase's getOrCreateAccount and getOrCreatePaymentMethod do.
//!
//! Unlike Kill Bill, two combos arriving at once with the same account external key (or the
//! same method external key) do not fail the loser with a duplicate key: the loser's insert
//! is refused by the unique index, and it reads and uses the winner's row. Each step is the
//! owning service's own operation (its own unit of work, released before the next), so no
//! connection is held across the steps or across a plugin call. No SQL, no HTTP here.

use uuid::Uuid;

use super::accounts::{Account, AccountInput, AccountService, BalanceRequest};
use super::payment_methods::{MethodRef, PaymentMethodInput, PaymentMethodService, ReadOptions};
use super::payments::{AccountRef, OperationResult, PaymentRequest, PaymentService, Target};
use super::tenants::Tenant;
use super::{CallContext, ServiceError};
use crate::domain::payments::TransactionType;
use crate::plugin::PluginProperty;

/// The account part of a combo: Kill Bill's AccountJson, its `accountId` included.
#[derive(Debug, Clone, Default)]
pub struct ComboAccount {
    pub account_id: Option<Uuid>,
    pub input: AccountInput,
}

/// The payment method part of a combo: Kill Bill's PaymentMethodJson, its `paymentMethodId`
/// included. Without a plugin name no method is looked up or added: the account's default
/// pays.
#[derive(Debug, Clone, Default)]
pub struct ComboMethod {
    pub payment_method_id: Option<Uuid>,
    pub input: PaymentMethodInput,
}

/// The account and method parts of the combo calls, over the services that own them.
#[derive(Clone)]
pub struct ComboService {
    accounts: AccountService,
    payment_methods: PaymentMethodService,
    payments: PaymentService,
}

impl ComboService {
    pub fn new(
        accounts: AccountService,
        payment_methods: PaymentMethodService,
        payments: PaymentService,
    ) -> ComboService {
        ComboService {
            accounts,
            payment_methods,
            payments,
        }
    }

    /// `POST /payments/combo`: the account and method, then the AUTHORIZE, PURCHASE or CREDIT
    /// (another type is Kill Bill's 412), in the request's currency or else the account's.
    pub async fn pay(
        &self,
        tenant: &Tenant,
        account: ComboAccount,
        method: Option<ComboMethod>,
        method_properties: &[PluginProperty],
        mut request: PaymentRequest,
        context: &CallContext,
    ) -> Result<OperationResult, ServiceError> {
        // Kill Bill reads the type before anything else of the transaction.
        if !matches!(
            request.transaction_type,
            TransactionType::Authorize | TransactionType::Purchase | TransactionType::Credit
        ) {
            return Err(ServiceError::TransactionTypeNotAllowed(
                request.transaction_type.as_str().to_string(),
            ));
        }
        let (account, payment_method_id) = self
            .account_and_method(tenant, account, method, method_properties, context)
            .await?;
        // Without a method in the body Kill Bill passes no method on (a control plugin could
        // choose one); with none, the account's default is not used: 7031.
        let payment_method_id =
            payment_method_id.ok_or_else(|| ServiceError::PaymentInvalidParameter {
                name: "paymentMethodId".to_string(),
                reason: "should not be null".to_string(),
            })?;
        if request.currency.is_none() {
            request.currency = account.data.currency.clone();
        }
        request.payment_method_id = Some(payment_method_id);
        self.payments
            .perform(
                tenant,
                Target::Account(AccountRef::Id(account.id)),
                request,
                context,
            )
            .await
    }

    /// The account (found or created) and the method to pay with (found or added; `None`:
    /// the account's default).
    pub async fn account_and_method(
        &self,
        tenant: &Tenant,
        account: ComboAccount,
        method: Option<ComboMethod>,
        method_properties: &[PluginProperty],
        context: &CallContext,
    ) -> Result<(Account, Option<Uuid>), ServiceError> {
        let account = self.get_or_create_account(tenant, account, context).await?;
        let method = self
            .get_or_create_method(tenant, &account, method, method_properties, context)
            .await?;
        Ok((account, method))
    }

    async fn get_or_create_account(
        &self,
        tenant: &Tenant,
        account: ComboAccount,
        context: &CallContext,
    ) -> Result<Account, ServiceError> {
        let balances = BalanceRequest::default();
        if let Some(id) = account.account_id {
            return Ok(self
                .accounts
                .find_by_id(tenant, id, balances)
                .await?
                .account);
        }
        let key = account.input.external_key.clone();
        if let Some(key) = &key {
            match self
                .accounts
                .find_by_external_key(tenant, key, balances)
                .await
            {
                Ok(found) => return Ok(found.account),
                Err(ServiceError::AccountNotFoundForKey { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        match self.accounts.create(tenant, account.input, context).await {
            // Another request created it since the read: use that one.
            Err(ServiceError::AccountAlreadyExists { external_key }) if key.is_some() => Ok(self
                .accounts
                .find_by_external_key(tenant, &external_key, balances)
                .await?
                .account),
            created => created,
        }
    }

    async fn get_or_create_method(
        &self,
        tenant: &Tenant,
        account: &Account,
        method: Option<ComboMethod>,
        properties: &[PluginProperty],
        context: &CallContext,
    ) -> Result<Option<Uuid>, ServiceError> {
        let Some(method) = method.filter(|method| method.input.plugin_name.is_some()) else {
            return Ok(None);
        };
        let existing = self
            .payment_methods
            .list_for_account(tenant, account.id, ReadOptions::default())
            .await?;
        if let Some(id) = method.payment_method_id {
            return if existing.iter().any(|view| view.method.id == id) {
                Ok(Some(id))
            } else {
                Err(ServiceError::PaymentMethodNotFound { id: id.to_string() })
            };
        }
        let key = method.input.external_key.clone();
        if let Some(key) = &key {
            if let Some(found) = existing
                .iter()
                .find(|view| &view.method.external_key == key)
            {
                return Ok(Some(found.method.id));
            }
        }
        let first = existing.is_empty();
        let added = self
            .payment_methods
            .add(tenant, account.id, method.input, first, properties, context)
            .await;
        match added {
            Ok(added) => Ok(Some(added.id)),
            // Another request added it since the read: use that one if it is this account's.
            Err(ServiceError::PaymentMethodKeyAlreadyExists { external_key }) if key.is_some() => {
                let found = self
                    .payment_methods
                    .find(
                        tenant,
                        MethodRef::ExternalKey(&external_key),
                        ReadOptions::default(),
                    )
                    .await?;
                if found.method.account_id == account.id {
                    Ok(Some(found.method.id))
                } else {
                    Err(ServiceError::PaymentMethodKeyAlreadyExists { external_key })
                }
            }
            // Another request added the account's one external method since the read: use it
            // if it is the one asked for (same key), as above.
            Err(ServiceError::ExternalPaymentMethodAlreadyExists { account_id })
                if key.is_some() =>
            {
                self.payment_methods
                    .list_for_account(tenant, account.id, ReadOptions::default())
                    .await?
                    .iter()
                    .find(|view| Some(&view.method.external_key) == key.as_ref())
                    .map(|view| Some(view.method.id))
                    .ok_or(ServiceError::ExternalPaymentMethodAlreadyExists { account_id })
            }
            Err(other) => Err(other),
        }
    }
}
