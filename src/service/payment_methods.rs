//! Payment methods: adding one to an account through its plugin, reading them, choosing the
//! account's default and soft-deleting them, with Kill Bill's rules (PaymentMethodProcessor):
//! at most one `__EXTERNAL_PAYMENT__` method per account, the external key chosen from the
//! request, then the plugin, then the id, and a default method deleted only on request.
//!
//! Every write checks what it can first, calls the plugin holding no connection (as Kill Bill
//! holds only its account lock around the plugin), then writes in one transaction on the main
//! pool holding the account's row lock, checking again: the `payment_methods` row, its
//! `payment_method_history` copy and audit row, and when the account's default changes, the
//! account update with its own history and audit rows (and, when the default is deleted with
//! `deleteDefaultPmWithAutoPayOff`, the AUTO_PAY_OFF tag with its own). A plugin refusal
//! leaves nothing behind. This file owns those rules; it writes no SQL and knows nothing of
//! HTTP.
//!
//! Another tenant's accounts and methods are indistinguishable from unknown ones.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use uuid::Uuid;

use super::{
    commit_and_announce, find_account, lock_account, now_in_millis, record_change, required,
    search_page, with_audit_trails, AuditLevel, AuditLog, CallContext, Page, PageRequest,
    ServiceError,
};
use crate::bus::{Bus, PostedEvents};
use crate::db::work::Db;
use crate::plugin::{
    PaymentMethodCall, PaymentMethodInfo, PaymentMethodPlugin, PaymentPluginApi, PluginError,
    PluginProperty, PluginRegistry, EXTERNAL_PAYMENT_PLUGIN_NAME,
};
use crate::service::accounts::post_account_change;
use crate::service::tags;
use crate::service::tenants::Tenant;
use crate::storage::accounts::{self, AccountRecord};
use crate::storage::audit::ChangeType;
use crate::storage::payment_methods::{self, MethodFilter, NewPaymentMethod, PaymentMethodRecord};
use crate::storage::StorageError;

/// A payment method as served: the stored row, whether it is its account's default, the
/// plugin's detail when it was asked for, and its audit trail at the requested level.
#[derive(Debug, Clone)]
pub struct PaymentMethodView {
    pub method: PaymentMethodRecord,
    pub is_default: bool,
    pub plugin_info: Option<PaymentMethodPlugin>,
    pub audit_logs: Vec<AuditLog>,
}

/// How a read names a payment method.
#[derive(Debug, Clone, Copy)]
pub enum MethodRef<'a> {
    Id(Uuid),
    ExternalKey(&'a str),
}

/// What a read includes (`includedDeleted`, `withPluginInfo` with the caller's
/// `pluginProperty` values for the plugin, `audit`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions<'a> {
    pub include_deleted: bool,
    pub with_plugin_info: bool,
    pub properties: &'a [PluginProperty],
    pub audit: AuditLevel,
}

/// Which methods a page lists: Kill Bill's getPaymentMethods (every active method, or one
/// plugin's) or searchPaymentMethods (the database's search by key, or with a plugin named or
/// plugin detail asked for, the plugins' own search).
#[derive(Debug, Clone, Copy)]
pub enum MethodListing<'a> {
    All {
        plugin_name: Option<&'a str>,
    },
    Search {
        key: &'a str,
        plugin_name: Option<&'a str>,
    },
}

/// A method to add, as the caller describes it.
#[derive(Debug, Clone, Default)]
pub struct PaymentMethodInput {
    pub external_key: Option<String>,
    pub plugin_name: Option<String>,
    pub plugin_info: Option<PaymentMethodPlugin>,
}

/// A method an addition writes, once its plugin has accepted it.
struct NewMethodWrite<'a> {
    id: Uuid,
    external_key: String,
    account_id: Uuid,
    plugin_name: &'a str,
    set_default: bool,
}

/// What a deletion of the account's default method is allowed to do
/// (`deleteDefaultPmWithAutoPayOff`, `forceDefaultPmDeletion`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteFlags {
    pub delete_default_with_auto_pay_off: bool,
    pub force_default_deletion: bool,
}

#[derive(Clone)]
pub struct PaymentMethodService {
    db: Db,
    plugins: Arc<PluginRegistry>,
    /// Where a changed default (ACCOUNT_CHANGE) and an AUTO_PAY_OFF tag are announced.
    main_bus: Bus,
}

impl PaymentMethodService {
    pub fn new(db: Db, plugins: Arc<PluginRegistry>, main_bus: Bus) -> PaymentMethodService {
        PaymentMethodService {
            db,
            plugins,
            main_bus,
        }
    }

    /// Adds a method to the account through its plugin; with `set_default` the account points
    /// at it in the same transaction.
    pub async fn add(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        input: PaymentMethodInput,
        set_default: bool,
        properties: &[PluginProperty],
        context: &CallContext,
    ) -> Result<PaymentMethodRecord, ServiceError> {
        let plugin_name = required(
            input.plugin_name,
            "PaymentMethodJson pluginName should be specified",
        )?;
        let plugin = self.plugin(&plugin_name)?;
        let id = Uuid::new_v4();
        let is_external = plugin_name == EXTERNAL_PAYMENT_PLUGIN_NAME;
        {
            let work = self.db.read().await?;
            let client = work.client();
            find_account(client, tenant.record_id, account_id).await?;
            if is_external
                && !plugin_methods(
                    client,
                    tenant,
                    account_id,
                    EXTERNAL_PAYMENT_PLUGIN_NAME,
                    false,
                )
                .await?
                .is_empty()
            {
                return Err(ServiceError::ExternalPaymentMethodAlreadyExists { account_id });
            }
        }
        let call = method_call(tenant, account_id, id, properties);
        plugin
            .add_payment_method(call.clone(), input.plugin_info.as_ref(), set_default)
            .await
            .map_err(plugin_refused)?;
        let plugin_key = match &input.external_key {
            Some(_) => None,
            None => {
                plugin
                    .get_payment_method_detail(call)
                    .await
                    .map_err(plugin_refused)?
                    .external_payment_method_id
            }
        };

        // The plugin's key is only a suggestion: when another method of the tenant took it
        // (two first methods added at once both see it free), the method gets its id instead.
        let new_method = |external_key: String| NewMethodWrite {
            id,
            external_key,
            account_id,
            plugin_name: &plugin_name,
            set_default,
        };
        let suggested = input.external_key.is_none() && plugin_key.is_some();
        let first_try = new_method(
            input
                .external_key
                .or(plugin_key)
                .unwrap_or_else(|| id.to_string()),
        );
        match self
            .write_method(tenant, &first_try, suggested, context)
            .await
        {
            Err(ServiceError::PaymentMethodKeyAlreadyExists { .. }) if suggested => {
                self.write_method(tenant, &new_method(id.to_string()), false, context)
                    .await
            }
            written => written,
        }
    }

    /// The transaction of an addition: the method with its history and audit rows, and the
    /// account's new default when asked. A `suggested` key already taken is refused before
    /// the insert.
    async fn write_method(
        &self,
        tenant: &Tenant,
        method: &NewMethodWrite<'_>,
        suggested: bool,
        context: &CallContext,
    ) -> Result<PaymentMethodRecord, ServiceError> {
        let now = now_in_millis();
        let account_id = method.account_id;
        let external_key = &method.external_key;
        let work = self.db.begin().await?;
        let transaction = work.client();
        let account = lock_account(transaction, tenant.record_id, account_id).await?;
        if suggested
            && payment_methods::TABLE
                .find_by_external_key(transaction, tenant.record_id, external_key)
                .await?
                .is_some()
        {
            return Err(ServiceError::PaymentMethodKeyAlreadyExists {
                external_key: external_key.clone(),
            });
        }
        let inserted = payment_methods::insert_payment_method(
            transaction,
            &NewPaymentMethod {
                id: method.id,
                external_key,
                account_id,
                plugin_name: method.plugin_name,
                account_record_id: account.record_id,
                tenant_record_id: tenant.record_id,
            },
            &context.created_by,
            now,
        )
        .await
        .map_err(|error| match error {
            StorageError::UniqueViolation { constraint }
                if constraint == payment_methods::EXTERNAL_KEY_INDEX =>
            {
                ServiceError::PaymentMethodKeyAlreadyExists {
                    external_key: external_key.clone(),
                }
            }
            // Another request added the account's external method meanwhile.
            StorageError::UniqueViolation { constraint }
                if constraint == payment_methods::ONE_EXTERNAL_PER_ACCOUNT_INDEX =>
            {
                ServiceError::ExternalPaymentMethodAlreadyExists { account_id }
            }
            other => other.into(),
        })?;
        record_change(transaction, &inserted, ChangeType::Insert, now, context).await?;
        let mut posted = self.main_bus.posted();
        if method.set_default {
            set_account_default(&work, &mut posted, &account, Some(method.id), now, context)
                .await?;
        }
        commit_and_announce(work, posted).await?;
        Ok(inserted)
    }

    /// The account's methods as `options` asks.
    pub async fn list_for_account(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        options: ReadOptions<'_>,
    ) -> Result<Vec<PaymentMethodView>, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        let account = find_account(connection, tenant.record_id, account_id).await?;
        let methods = payment_methods::find_payment_methods_by_account(
            connection,
            tenant.record_id,
            account_id,
            options.include_deleted,
        )
        .await?;
        let methods = method_trails(connection, tenant, methods, options.audit).await?;
        // Released before the plugin calls, which may be slow.
        drop(read);
        let mut views = Vec::with_capacity(methods.len());
        for (method, audit_logs) in methods {
            views.push(
                self.view(tenant, method, &account, options, audit_logs)
                    .await?,
            );
        }
        Ok(views)
    }

    /// The tenant's method `reference` names, as [`Self::view`] serves it; a deleted one only
    /// with `include_deleted`. An unknown id is Kill Bill's ObjectDoesNotExist (its id
    /// resolution fails first); an unknown key, or a deleted method, is
    /// PAYMENT_NO_SUCH_PAYMENT_METHOD naming it as the request did. The read is released before
    /// the plugin is asked.
    pub async fn find(
        &self,
        tenant: &Tenant,
        reference: MethodRef<'_>,
        options: ReadOptions<'_>,
    ) -> Result<PaymentMethodView, ServiceError> {
        let read = self.db.read().await?;
        let connection = read.client();
        let (method, named) = match reference {
            MethodRef::Id(id) => {
                let method = payment_methods::TABLE
                    .find_by_id(connection, tenant.record_id, id)
                    .await?
                    .ok_or(unknown_method(id))?;
                (Some(method), id.to_string())
            }
            MethodRef::ExternalKey(key) => {
                let method = payment_methods::TABLE
                    .find_by_external_key(connection, tenant.record_id, key)
                    .await?;
                (method, key.to_string())
            }
        };
        let method = method
            .filter(|method| options.include_deleted || method.is_active)
            .ok_or(ServiceError::PaymentMethodNotFound { id: named })?;
        let listed = listed_methods(connection, tenant, vec![method], options.audit).await?;
        drop(read);
        let (method, account, audit_logs) = listed
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::Internal("a listed method went missing".to_string()))?;
        self.view(tenant, method, &account, options, audit_logs)
            .await
    }

    /// Soft-deletes a method. The account's default is refused unless a flag allows it; with
    /// one, the account's default is cleared in the same transaction, and with
    /// `delete_default_with_auto_pay_off` the account is also tagged AUTO_PAY_OFF there.
    pub async fn delete(
        &self,
        tenant: &Tenant,
        id: Uuid,
        flags: DeleteFlags,
        properties: &[PluginProperty],
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        // Checked before the plugin hears of it, and again in the write's transaction.
        let (method, account) = {
            let work = self.db.read().await?;
            self.deletable(work.client(), tenant, id, flags).await?
        };
        // A method whose plugin is gone can still be deleted: there is nothing to tell.
        if let Some(plugin) = self.plugins.get(&method.plugin_name) {
            plugin
                .delete_payment_method(method_call(tenant, account.id, id, properties))
                .await
                .map_err(plugin_refused)?;
        }
        let now = now_in_millis();
        let work = self.db.begin().await?;
        let transaction = work.client();
        let (method, account) = self.deletable(transaction, tenant, id, flags).await?;
        let is_default = account.data.payment_method_id == Some(id);
        deactivate_method(transaction, &method, now, context).await?;
        let mut posted = self.main_bus.posted();
        if is_default {
            // PaymentMethodProcessor tags only when the deleted method was the default, and
            // only with this flag; an account already AUTO_PAY_OFF keeps its tag.
            if flags.delete_default_with_auto_pay_off {
                tags::tag_auto_pay_off(&work, &mut posted, &account, now, context).await?;
            }
            set_account_default(&work, &mut posted, &account, None, now, context).await?;
        }
        commit_and_announce(work, posted).await
    }

    /// The active method `id` with its account (locked when `client` is in a transaction, so
    /// a concurrent setDefault cannot make it the default after the check), if `flags` allow
    /// deleting it.
    async fn deletable(
        &self,
        client: &Object,
        tenant: &Tenant,
        id: Uuid,
        flags: DeleteFlags,
    ) -> Result<(PaymentMethodRecord, AccountRecord), ServiceError> {
        let method = payment_methods::TABLE
            .find_by_id(client, tenant.record_id, id)
            .await?
            .ok_or(unknown_method(id))?;
        let method = Some(method)
            .filter(|method| method.is_active)
            .ok_or_else(|| ServiceError::PaymentMethodNotFound { id: id.to_string() })?;
        let account = accounts::lock_account_by_id(client, tenant.record_id, method.account_id)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("payment method {id} has no account")))?;
        let is_default = account.data.payment_method_id == Some(id);
        if is_default && !flags.delete_default_with_auto_pay_off && !flags.force_default_deletion {
            return Err(ServiceError::CannotDeleteDefaultPaymentMethod {
                account_id: account.id,
            });
        }
        Ok((method, account))
    }

    /// Makes one of the account's active methods its default.
    pub async fn set_default(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        id: Uuid,
        properties: &[PluginProperty],
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let method = {
            let work = self.db.read().await?;
            self.default_candidate(work.client(), tenant, account_id, id)
                .await?
                .1
        };
        let plugin = self.plugin(&method.plugin_name)?;
        plugin
            .set_default_payment_method(method_call(tenant, account_id, id, properties))
            .await
            .map_err(plugin_refused)?;
        let now = now_in_millis();
        let work = self.db.begin().await?;
        let transaction = work.client();
        let (account, _) = self
            .default_candidate(transaction, tenant, account_id, id)
            .await?;
        let mut posted = self.main_bus.posted();
        set_account_default(&work, &mut posted, &account, Some(id), now, context).await?;
        commit_and_announce(work, posted).await
    }

    /// The account (locked in a transaction) and its active method `id`.
    async fn default_candidate(
        &self,
        client: &Object,
        tenant: &Tenant,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<(AccountRecord, PaymentMethodRecord), ServiceError> {
        let account = lock_account(client, tenant.record_id, account_id).await?;
        let method = payment_methods::TABLE
            .find_by_id(client, tenant.record_id, id)
            .await?
            .filter(|method| method.is_active && method.account_id == account_id)
            .ok_or_else(|| ServiceError::PaymentMethodNotFound { id: id.to_string() })?;
        Ok((account, method))
    }

    /// One page of the tenant's active methods as Kill Bill's getPaymentMethods and
    /// searchPaymentMethods list them (see [`MethodListing`]), each with its account's default,
    /// its audit trail at `options.audit` and, with `options.with_plugin_info`, its plugin's
    /// detail (left out when the plugin fails, as Kill Bill does in a listing).
    pub async fn page(
        &self,
        tenant: &Tenant,
        listing: MethodListing<'_>,
        request: PageRequest,
        options: ReadOptions<'_>,
    ) -> Result<Page<PaymentMethodView>, ServiceError> {
        let plugin_search = match listing {
            MethodListing::All { plugin_name } => {
                if let (Some(name), true) = (plugin_name, options.with_plugin_info) {
                    self.plugin(name)?;
                }
                None
            }
            MethodListing::Search { key, plugin_name } => match plugin_name {
                Some(name) => Some((key, vec![name.to_string()])),
                None if options.with_plugin_info => Some((key, self.plugins.names())),
                None => None,
            },
        };
        if let Some((key, names)) = plugin_search {
            return self
                .plugin_search_page(tenant, key, &names, request, options)
                .await;
        }
        let filter = match listing {
            MethodListing::All { plugin_name } => MethodFilter::Plugin(plugin_name),
            MethodListing::Search { key, .. } => MethodFilter::Key(key),
        };
        let read = self.db.read().await?;
        let connection = read.client();
        let (methods, total, max) = search_page(
            connection,
            tenant.record_id,
            payment_methods::search,
            filter,
            MethodFilter::Plugin(None),
            request,
        )
        .await?;
        let listed = listed_methods(connection, tenant, methods, options.audit).await?;
        drop(read);
        let mut views = Vec::with_capacity(listed.len());
        for (method, account, audit_logs) in listed {
            let plugin_info = if options.with_plugin_info {
                self.listed_detail(tenant, &method, options.properties)
                    .await
            } else {
                None
            };
            views.push(PaymentMethodView {
                is_default: account.data.payment_method_id == Some(method.id),
                method,
                plugin_info,
                audit_logs,
            });
        }
        Ok(Page::new(views, request, total, max))
    }

    /// A page of what the plugins `names` find for `key`, each plugin's matches kept only for
    /// methods registered under its name (one plugin may answer to several names), mapped to
    /// the tenant's methods (deleted ones included, as Kill Bill maps them). Totals are the
    /// matches: ferrobill's plugins keep no other count.
    async fn plugin_search_page(
        &self,
        tenant: &Tenant,
        key: &str,
        names: &[String],
        request: PageRequest,
        options: ReadOptions<'_>,
    ) -> Result<Page<PaymentMethodView>, ServiceError> {
        let mut found = Vec::new();
        for name in names {
            let plugin = self.plugin(name)?;
            let matches = plugin
                .search_payment_methods(tenant.id, key, options.properties)
                .await
                .map_err(plugin_refused)?;
            found.push((name, matches));
        }
        let read = self.db.read().await?;
        let connection = read.client();
        let mut matched = Vec::new();
        for (name, matches) in found {
            for found in matches {
                let method = payment_methods::TABLE
                    .find_by_id(connection, tenant.record_id, found.payment_method_id)
                    .await?
                    .filter(|method| method.plugin_name == *name);
                if let Some(method) = method {
                    matched.push((method, found.detail));
                }
            }
        }
        let total = i64::try_from(matched.len()).unwrap_or(i64::MAX);
        if request.descending() {
            matched.reverse();
        }
        let offset = usize::try_from(request.offset).unwrap_or(usize::MAX);
        let size = usize::try_from(request.size()).unwrap_or(usize::MAX);
        let (methods, details): (Vec<_>, Vec<_>) =
            matched.into_iter().skip(offset).take(size).unzip();
        let listed = listed_methods(connection, tenant, methods, options.audit).await?;
        let views = listed
            .into_iter()
            .zip(details)
            .map(
                |((method, account, audit_logs), detail)| PaymentMethodView {
                    is_default: account.data.payment_method_id == Some(method.id),
                    method,
                    plugin_info: options.with_plugin_info.then_some(detail),
                    audit_logs,
                },
            )
            .collect();
        Ok(Page::new(views, request, total, total))
    }

    /// The plugin's detail of a listed method, or nothing when the plugin is gone or fails
    /// (logged), as Kill Bill lists the method without it.
    async fn listed_detail(
        &self,
        tenant: &Tenant,
        method: &PaymentMethodRecord,
        properties: &[PluginProperty],
    ) -> Option<PaymentMethodPlugin> {
        let plugin = self.plugins.get(&method.plugin_name)?;
        let call = method_call(tenant, method.account_id, method.id, properties);
        match plugin.get_payment_method_detail(call).await {
            Ok(detail) => Some(detail),
            Err(error) => {
                tracing::warn!(payment_method_id = %method.id, plugin = %method.plugin_name,
                    %error, "plugin detail of a listed payment method failed");
                None
            }
        }
    }

    /// Reconciles the account's methods with what its plugins hold now (Kill Bill's
    /// refreshPaymentMethods): for each plugin (the one named, or every registered one), a
    /// method the plugin holds and Kill Bill lacks is added (or undeleted), one Kill Bill holds
    /// for that plugin and the plugin no longer does is deleted, and when the account's default
    /// is none or that plugin's, the plugin's default becomes the account's (none when it has
    /// none). Each plugin's reconciliation is one transaction, after its answer.
    pub async fn refresh(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        plugin_name: Option<&str>,
        properties: &[PluginProperty],
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        {
            let read = self.db.read().await?;
            find_account(read.client(), tenant.record_id, account_id).await?;
        }
        let names = match plugin_name {
            Some(name) => vec![name.to_string()],
            None => self.plugins.names(),
        };
        for name in &names {
            let plugin = self.plugin(name)?;
            let held = plugin
                .get_payment_methods(tenant.id, account_id, properties)
                .await
                .map_err(plugin_refused)?;
            self.reconcile(tenant, account_id, name, held, context)
                .await?;
        }
        Ok(())
    }

    /// One plugin's part of [`Self::refresh`], in one transaction holding the account's lock.
    async fn reconcile(
        &self,
        tenant: &Tenant,
        account_id: Uuid,
        plugin_name: &str,
        held: Vec<PaymentMethodInfo>,
        context: &CallContext,
    ) -> Result<(), ServiceError> {
        let now = now_in_millis();
        let work = self.db.begin().await?;
        let transaction = work.client();
        let account = lock_account(transaction, tenant.record_id, account_id).await?;
        let mut existing =
            plugin_methods(transaction, tenant, account_id, plugin_name, true).await?;
        let mut plugin_default = None;
        for info in held {
            let id = info.payment_method_id.unwrap_or_else(Uuid::new_v4);
            if let Some(at) = existing.iter().position(|method| method.id == id) {
                let method = existing.remove(at);
                if !method.is_active {
                    payment_methods::TABLE
                        .set_active(
                            transaction,
                            method.record_id,
                            true,
                            &context.created_by,
                            now,
                        )
                        .await?;
                    record_change(transaction, &method, ChangeType::Update, now, context).await?;
                }
            } else if payment_methods::TABLE
                .find_by_id(transaction, tenant.record_id, id)
                .await?
                .is_some()
            {
                // Registered under another name (a plugin answering to several) or another
                // account: not this plugin's to reconcile.
                continue;
            } else {
                // The plugin's id for the method is only a suggestion for its key, as on an
                // addition: when another method took it, the method gets its own id.
                let suggested = info
                    .external_payment_method_id
                    .unwrap_or_else(|| id.to_string());
                let taken = payment_methods::TABLE
                    .find_by_external_key(transaction, tenant.record_id, &suggested)
                    .await?
                    .is_some();
                let external_key = if taken { id.to_string() } else { suggested };
                let inserted = payment_methods::insert_payment_method(
                    transaction,
                    &NewPaymentMethod {
                        id,
                        external_key: &external_key,
                        account_id,
                        plugin_name,
                        account_record_id: account.record_id,
                        tenant_record_id: tenant.record_id,
                    },
                    &context.created_by,
                    now,
                )
                .await?;
                record_change(transaction, &inserted, ChangeType::Insert, now, context).await?;
            }
            if info.is_default {
                plugin_default = Some(id);
            }
        }
        // What the plugin no longer holds is deleted.
        for method in existing.iter().filter(|method| method.is_active) {
            deactivate_method(transaction, method, now, context).await?;
        }
        // Kill Bill is authoritative on the default, unless the default is this plugin's.
        let default_is_this_plugins = match account.data.payment_method_id {
            None => true,
            Some(default_id) => payment_methods::TABLE
                .find_by_id(transaction, tenant.record_id, default_id)
                .await?
                .is_some_and(|method| method.plugin_name == plugin_name),
        };
        let mut posted = self.main_bus.posted();
        if default_is_this_plugins {
            set_account_default(&work, &mut posted, &account, plugin_default, now, context).await?;
        }
        commit_and_announce(work, posted).await
    }

    fn plugin(&self, name: &str) -> Result<Arc<dyn PaymentPluginApi>, ServiceError> {
        self.plugins
            .get(name)
            .ok_or_else(|| ServiceError::PaymentPluginNotRegistered {
                name: name.to_string(),
            })
    }

    async fn view(
        &self,
        tenant: &Tenant,
        method: PaymentMethodRecord,
        account: &AccountRecord,
        options: ReadOptions<'_>,
        audit_logs: Vec<AuditLog>,
    ) -> Result<PaymentMethodView, ServiceError> {
        let plugin_info = match (
            options.with_plugin_info,
            self.plugins.get(&method.plugin_name),
        ) {
            (true, Some(plugin)) => Some(
                plugin
                    .get_payment_method_detail(method_call(
                        tenant,
                        account.id,
                        method.id,
                        options.properties,
                    ))
                    .await
                    .map_err(plugin_refused)?,
            ),
            _ => None,
        };
        Ok(PaymentMethodView {
            is_default: account.data.payment_method_id == Some(method.id),
            method,
            plugin_info,
            audit_logs,
        })
    }
}

/// Each listed method with its account and its audit trail at `level`.
async fn listed_methods(
    connection: &impl deadpool_postgres::GenericClient,
    tenant: &Tenant,
    methods: Vec<PaymentMethodRecord>,
    level: AuditLevel,
) -> Result<Vec<(PaymentMethodRecord, AccountRecord, Vec<AuditLog>)>, ServiceError> {
    let methods = method_trails(connection, tenant, methods, level).await?;
    let mut accounts_by_id: HashMap<Uuid, AccountRecord> = HashMap::new();
    let mut listed = Vec::with_capacity(methods.len());
    for (method, audit_logs) in methods {
        let account = match accounts_by_id.get(&method.account_id) {
            Some(account) => account.clone(),
            None => {
                let account = accounts::TABLE
                    .find_by_id(connection, tenant.record_id, method.account_id)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::Internal(format!(
                            "payment method {} has no account",
                            method.id
                        ))
                    })?;
                accounts_by_id.insert(account.id, account.clone());
                account
            }
        };
        listed.push((method, account, audit_logs));
    }
    Ok(listed)
}

/// The account's methods of the plugin `plugin_name` (deleted ones with `include_deleted`).
async fn plugin_methods(
    connection: &Object,
    tenant: &Tenant,
    account_id: Uuid,
    plugin_name: &str,
    include_deleted: bool,
) -> Result<Vec<PaymentMethodRecord>, ServiceError> {
    let methods = payment_methods::find_payment_methods_by_account(
        connection,
        tenant.record_id,
        account_id,
        include_deleted,
    )
    .await?;
    Ok(methods
        .into_iter()
        .filter(|method| method.plugin_name == plugin_name)
        .collect())
}

/// The methods each with its audit trail at `level`; one query for all of them.
async fn method_trails(
    connection: &impl deadpool_postgres::GenericClient,
    tenant: &Tenant,
    methods: Vec<PaymentMethodRecord>,
    level: AuditLevel,
) -> Result<Vec<(PaymentMethodRecord, Vec<AuditLog>)>, ServiceError> {
    with_audit_trails(connection, tenant.record_id, methods, level).await
}

/// Soft-deletes the method, with its history and audit rows.
async fn deactivate_method(
    transaction: &Object,
    method: &PaymentMethodRecord,
    now: DateTime<Utc>,
    context: &CallContext,
) -> Result<(), ServiceError> {
    let record_id = method.record_id;
    payment_methods::TABLE
        .set_active(transaction, record_id, false, &context.created_by, now)
        .await?;
    record_change(transaction, method, ChangeType::Delete, now, context).await
}

/// Points the (locked) account at `payment_method_id`, with the account's history and audit
/// rows and its change event, as Kill Bill's DefaultAccountDao.updatePaymentMethod does; when
/// the account already points there, nothing is written, as there.
async fn set_account_default(
    work: &crate::db::work::Work,
    posted: &mut PostedEvents,
    account: &AccountRecord,
    payment_method_id: Option<Uuid>,
    now: DateTime<Utc>,
    context: &CallContext,
) -> Result<(), ServiceError> {
    if account.data.payment_method_id == payment_method_id {
        return Ok(());
    }
    let transaction = work.client();
    payment_methods::set_account_payment_method(
        transaction,
        account.record_id,
        payment_method_id,
        &context.created_by,
        now,
    )
    .await?;
    record_change(transaction, account, ChangeType::Update, now, context).await?;
    let mut changed = account.clone();
    changed.data.payment_method_id = payment_method_id;
    post_account_change(work, posted, &account.data, &changed, now, context).await
}

/// What a plugin call about the tenant's method `payment_method_id` of the account carries.
fn method_call<'a>(
    tenant: &Tenant,
    account_id: Uuid,
    payment_method_id: Uuid,
    properties: &'a [PluginProperty],
) -> PaymentMethodCall<'a> {
    PaymentMethodCall {
        account_id,
        payment_method_id,
        tenant_id: tenant.id,
        properties,
    }
}

/// A plugin refusing or failing a payment-method call: PAYMENT_PLUGIN_EXCEPTION.
fn plugin_refused(error: PluginError) -> ServiceError {
    ServiceError::PaymentPlugin(error.0)
}

/// A method id no method of the tenant has: Kill Bill's ObjectDoesNotExist (its id resolution
/// fails before the payment API is reached). A deleted method is found, then refused with 7000.
pub(super) fn unknown_method(id: Uuid) -> ServiceError {
    ServiceError::ObjectNotFound {
        object_type: "PAYMENT_METHOD",
        id,
    }
}
