//! Which permission each operation of Kill Bill's API needs: one table for every operation of
//! Kill Bill 0.24's API description (`kbswagger.yaml`), served by ferrobill or not yet, so a
//! route added later is checked from its first request. Kill Bill checks the permission
//! annotated on the API method a resource calls (killbill-api's `@RequiresPermissions`); the
//! table names, per operation, the permissions of the API methods it always calls. Reads need
//! none. A permission Kill Bill needs only in some cases (the catalog of a new tenant unless
//! `useGlobalDefault=true`, paying unpaid invoices on `paymentMethods` with
//! `payAllUnpaidInvoices=true`, cancelling subscriptions when closing an account, …) is the
//! handler's to check, with [`Access::check`], when that case arises.
//!
//! ferrobill's own addition: the administration operations Kill Bill leaves unchecked (rotation,
//! queue listings, cache invalidation) need the whole `admin` group, which the built-in admin
//! role (`ferrobill.security.adminUsers`) holds.
//!
//! This file only looks operations up; `auth.rs` refuses a subject without what they need.

use std::sync::LazyLock;

use axum::http::Method;

use super::error::ApiError;
use crate::service::security::permissions::{Permission, WildcardPermission};
use crate::service::security::Subject;

/// What an operation needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing beyond authentication.
    Open,
    /// Every one of these permissions.
    Needs(&'static [Permission]),
    /// Every permission of this group (`admin:*`); ferrobill's requirement where Kill Bill
    /// checks nothing.
    WholeGroup(&'static str),
}

impl Access {
    /// `Ok` when `subject` holds what is needed; otherwise Kill Bill's 401 naming the first
    /// permission missing, the operation (`POST /1.0/kb/…`) as its cause.
    pub fn check(self, subject: &Subject, operation: &str) -> Result<(), ApiError> {
        let missing = |permission: String| ApiError::NotPermitted {
            permission,
            operation: operation.to_string(),
        };
        match self {
            Access::Open => Ok(()),
            Access::Needs(permissions) => {
                for permission in permissions {
                    let required = WildcardPermission::parse(permission.as_str())
                        .ok_or_else(|| missing(permission.as_str().to_string()))?;
                    if !subject.is_permitted(&required) {
                        return Err(missing(permission.as_str().to_string()));
                    }
                }
                Ok(())
            }
            Access::WholeGroup(group) => {
                let wanted = format!("{group}:*");
                match WildcardPermission::parse(&wanted) {
                    Some(required) if subject.is_permitted(&required) => Ok(()),
                    _ => Err(missing(wanted)),
                }
            }
        }
    }
}

/// The operation a request is for: its table entry's method and path template, and what it
/// needs. `None` for a path no operation has (the router answers it). Among templates matching
/// the path, the one with the most literal segments wins, as in JAX-RS
/// (`/payments/refunds` before `/payments/{paymentId}`). A trailing slash is ignored.
pub fn operation(method: &Method, path: &str) -> Option<(&'static str, &'static str, Access)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    TEMPLATES
        .iter()
        .filter(|template| {
            template.method.eq_ignore_ascii_case(method.as_str())
                && template.segments.len() == segments.len()
        })
        .filter_map(|template| Some((template.literals_matched(&segments)?, template)))
        .max_by_key(|(literals, _)| *literals)
        .map(|(_, template)| (template.method, template.path, template.access))
}

/// A table entry with its path split once, for matching on every request.
struct Template {
    method: &'static str,
    path: &'static str,
    /// `None` for a `{name}` segment, which matches any one non-empty segment.
    segments: Vec<Option<&'static str>>,
    access: Access,
}

impl Template {
    /// How many literal segments match, if the whole path does.
    fn literals_matched(&self, given: &[&str]) -> Option<usize> {
        let mut literals = 0;
        for (wanted, given) in self.segments.iter().zip(given) {
            match wanted {
                None if given.is_empty() => return None,
                None => {}
                Some(literal) if literal == given => literals += 1,
                Some(_) => return None,
            }
        }
        Some(literals)
    }
}

static TEMPLATES: LazyLock<Vec<Template>> = LazyLock::new(|| {
    ACCESS
        .iter()
        .map(|&(method, path, access)| Template {
            method,
            path,
            segments: path
                .split('/')
                .map(|segment| (!segment.starts_with('{')).then_some(segment))
                .collect(),
            access,
        })
        .collect()
});

/// Every operation of Kill Bill 0.24's `kbswagger.yaml` (method, path, access), by path.
#[rustfmt::skip]
pub const ACCESS: &[(&str, &str, Access)] = &[
    ("get", "/1.0/kb/accounts", Access::Open),
    ("post", "/1.0/kb/accounts", Access::Needs(&[Permission::AccountCreate])),
    ("get", "/1.0/kb/accounts/block/{blockingId}/auditLogsWithHistory", Access::Open),
    ("get", "/1.0/kb/accounts/pagination", Access::Open),
    ("post", "/1.0/kb/accounts/payments", Access::Needs(&[Permission::PaymentTrigger])),
    ("get", "/1.0/kb/accounts/search/{searchKey}", Access::Open),
    ("delete", "/1.0/kb/accounts/{accountId}", Access::Needs(&[Permission::TagAdd])),
    ("get", "/1.0/kb/accounts/{accountId}", Access::Open),
    ("put", "/1.0/kb/accounts/{accountId}", Access::Needs(&[Permission::AccountUpdate])),
    ("get", "/1.0/kb/accounts/{accountId}/allCustomFields", Access::Open),
    ("get", "/1.0/kb/accounts/{accountId}/allTags", Access::Open),
    ("get", "/1.0/kb/accounts/{accountId}/auditLogs", Access::Open),
    ("get", "/1.0/kb/accounts/{accountId}/auditLogsWithHistory", Access::Open),
    ("get", "/1.0/kb/accounts/{accountId}/block", Access::Open),
    ("post", "/1.0/kb/accounts/{accountId}/block", Access::Needs(&[Permission::EntitlementPauseResume])),
    ("get", "/1.0/kb/accounts/{accountId}/bundles", Access::Open),
    ("get", "/1.0/kb/accounts/{accountId}/bundles/pagination", Access::Open),
    ("put", "/1.0/kb/accounts/{accountId}/cbaRebalancing", Access::Needs(&[Permission::InvoiceDeleteCba])),
    ("get", "/1.0/kb/accounts/{accountId}/children", Access::Open),
    ("delete", "/1.0/kb/accounts/{accountId}/customFields", Access::Needs(&[Permission::CustomFieldDelete])),
    ("get", "/1.0/kb/accounts/{accountId}/customFields", Access::Open),
    ("post", "/1.0/kb/accounts/{accountId}/customFields", Access::Needs(&[Permission::CustomFieldAdd])),
    ("put", "/1.0/kb/accounts/{accountId}/customFields", Access::Needs(&[Permission::CustomFieldUpdate])),
    ("get", "/1.0/kb/accounts/{accountId}/emails", Access::Open),
    ("post", "/1.0/kb/accounts/{accountId}/emails", Access::Needs(&[Permission::AccountAddEmails])),
    ("get", "/1.0/kb/accounts/{accountId}/emails/{accountEmailId}/auditLogsWithHistory", Access::Open),
    ("delete", "/1.0/kb/accounts/{accountId}/emails/{email}", Access::Needs(&[Permission::AccountDeleteEmails])),
    ("get", "/1.0/kb/accounts/{accountId}/invoicePayments", Access::Open),
    ("post", "/1.0/kb/accounts/{accountId}/invoicePayments", Access::Needs(&[Permission::PaymentTrigger])),
    ("get", "/1.0/kb/accounts/{accountId}/invoices", Access::Open),
    ("get", "/1.0/kb/accounts/{accountId}/invoices/pagination", Access::Open),
    ("get", "/1.0/kb/accounts/{accountId}/overdue", Access::Open),
    ("get", "/1.0/kb/accounts/{accountId}/paymentMethods", Access::Open),
    ("post", "/1.0/kb/accounts/{accountId}/paymentMethods", Access::Needs(&[Permission::PaymentMethodCreate])),
    ("put", "/1.0/kb/accounts/{accountId}/paymentMethods/refresh", Access::Needs(&[Permission::PaymentMethodUpdate])),
    ("put", "/1.0/kb/accounts/{accountId}/paymentMethods/{paymentMethodId}/setDefault", Access::Needs(&[Permission::PaymentMethodCreate])),
    ("get", "/1.0/kb/accounts/{accountId}/payments", Access::Open),
    ("post", "/1.0/kb/accounts/{accountId}/payments", Access::Needs(&[Permission::PaymentTrigger])),
    ("delete", "/1.0/kb/accounts/{accountId}/tags", Access::Needs(&[Permission::TagDelete])),
    ("get", "/1.0/kb/accounts/{accountId}/tags", Access::Open),
    ("post", "/1.0/kb/accounts/{accountId}/tags", Access::Needs(&[Permission::TagAdd])),
    ("get", "/1.0/kb/accounts/{accountId}/timeline", Access::Open),
    ("put", "/1.0/kb/accounts/{childAccountId}/transferCredit", Access::Needs(&[Permission::InvoiceDeleteCba])),
    ("delete", "/1.0/kb/admin/cache", Access::WholeGroup("admin")),
    ("delete", "/1.0/kb/admin/cache/accounts/{accountId}", Access::WholeGroup("admin")),
    ("delete", "/1.0/kb/admin/cache/tenants", Access::WholeGroup("admin")),
    ("delete", "/1.0/kb/admin/healthcheck", Access::WholeGroup("admin")),
    ("put", "/1.0/kb/admin/healthcheck", Access::WholeGroup("admin")),
    ("post", "/1.0/kb/admin/invoices", Access::Needs(&[Permission::InvoiceTrigger])),
    ("put", "/1.0/kb/admin/payments/{paymentId}/transactions/{paymentTransactionId}", Access::Needs(&[Permission::AdminUpdate])),
    ("get", "/1.0/kb/admin/queues", Access::WholeGroup("admin")),
    ("get", "/1.0/kb/bundles", Access::Open),
    ("get", "/1.0/kb/bundles/pagination", Access::Open),
    ("get", "/1.0/kb/bundles/search/{searchKey}", Access::Open),
    ("get", "/1.0/kb/bundles/{bundleId}", Access::Open),
    ("post", "/1.0/kb/bundles/{bundleId}", Access::Needs(&[Permission::EntitlementTransfer])),
    ("get", "/1.0/kb/bundles/{bundleId}/auditLogsWithHistory", Access::Open),
    ("post", "/1.0/kb/bundles/{bundleId}/block", Access::Needs(&[Permission::EntitlementPauseResume])),
    ("delete", "/1.0/kb/bundles/{bundleId}/customFields", Access::Needs(&[Permission::CustomFieldDelete])),
    ("get", "/1.0/kb/bundles/{bundleId}/customFields", Access::Open),
    ("post", "/1.0/kb/bundles/{bundleId}/customFields", Access::Needs(&[Permission::CustomFieldAdd])),
    ("put", "/1.0/kb/bundles/{bundleId}/customFields", Access::Needs(&[Permission::CustomFieldUpdate])),
    ("put", "/1.0/kb/bundles/{bundleId}/pause", Access::Needs(&[Permission::EntitlementPauseResume])),
    ("put", "/1.0/kb/bundles/{bundleId}/renameKey", Access::Needs(&[Permission::EntitlementCreate])),
    ("put", "/1.0/kb/bundles/{bundleId}/resume", Access::Needs(&[Permission::EntitlementPauseResume])),
    ("delete", "/1.0/kb/bundles/{bundleId}/tags", Access::Needs(&[Permission::TagDelete])),
    ("get", "/1.0/kb/bundles/{bundleId}/tags", Access::Open),
    ("post", "/1.0/kb/bundles/{bundleId}/tags", Access::Needs(&[Permission::TagAdd])),
    ("delete", "/1.0/kb/catalog", Access::Needs(&[Permission::CatalogDelete])),
    ("get", "/1.0/kb/catalog", Access::Open),
    ("get", "/1.0/kb/catalog/availableAddons", Access::Open),
    ("get", "/1.0/kb/catalog/availableBasePlans", Access::Open),
    ("get", "/1.0/kb/catalog/phase", Access::Open),
    ("get", "/1.0/kb/catalog/plan", Access::Open),
    ("get", "/1.0/kb/catalog/priceList", Access::Open),
    ("get", "/1.0/kb/catalog/product", Access::Open),
    ("post", "/1.0/kb/catalog/simplePlan", Access::Needs(&[Permission::CatalogUpload])),
    ("get", "/1.0/kb/catalog/versions", Access::Open),
    ("get", "/1.0/kb/catalog/xml", Access::Open),
    ("post", "/1.0/kb/catalog/xml", Access::Needs(&[Permission::CatalogUpload])),
    ("post", "/1.0/kb/catalog/xml/validate", Access::Open),
    ("post", "/1.0/kb/credits", Access::Needs(&[Permission::AccountCredit])),
    ("get", "/1.0/kb/credits/{creditId}", Access::Open),
    ("get", "/1.0/kb/customFields/pagination", Access::Open),
    ("get", "/1.0/kb/customFields/search", Access::Open),
    ("get", "/1.0/kb/customFields/search/{searchKey}", Access::Open),
    ("get", "/1.0/kb/customFields/{customFieldId}/auditLogsWithHistory", Access::Open),
    ("get", "/1.0/kb/export/{accountId}", Access::Needs(&[Permission::AdminExport])),
    ("get", "/1.0/kb/invoiceItems/{invoiceItemId}/auditLogsWithHistory", Access::Open),
    ("delete", "/1.0/kb/invoiceItems/{invoiceItemId}/customFields", Access::Needs(&[Permission::CustomFieldDelete])),
    ("get", "/1.0/kb/invoiceItems/{invoiceItemId}/customFields", Access::Open),
    ("post", "/1.0/kb/invoiceItems/{invoiceItemId}/customFields", Access::Needs(&[Permission::CustomFieldAdd])),
    ("put", "/1.0/kb/invoiceItems/{invoiceItemId}/customFields", Access::Needs(&[Permission::CustomFieldUpdate])),
    ("delete", "/1.0/kb/invoiceItems/{invoiceItemId}/tags", Access::Needs(&[Permission::TagDelete])),
    ("get", "/1.0/kb/invoiceItems/{invoiceItemId}/tags", Access::Open),
    ("post", "/1.0/kb/invoiceItems/{invoiceItemId}/tags", Access::Needs(&[Permission::TagAdd])),
    ("get", "/1.0/kb/invoicePayments/{invoicePaymentId}/auditLogsWithHistory", Access::Open),
    ("get", "/1.0/kb/invoicePayments/{paymentId}", Access::Open),
    ("put", "/1.0/kb/invoicePayments/{paymentId}", Access::Needs(&[Permission::PaymentTrigger])),
    ("post", "/1.0/kb/invoicePayments/{paymentId}/chargebackReversals", Access::Needs(&[Permission::PaymentChargeback])),
    ("post", "/1.0/kb/invoicePayments/{paymentId}/chargebacks", Access::Needs(&[Permission::PaymentChargeback])),
    ("delete", "/1.0/kb/invoicePayments/{paymentId}/customFields", Access::Needs(&[Permission::CustomFieldDelete])),
    ("get", "/1.0/kb/invoicePayments/{paymentId}/customFields", Access::Open),
    ("post", "/1.0/kb/invoicePayments/{paymentId}/customFields", Access::Needs(&[Permission::CustomFieldAdd])),
    ("put", "/1.0/kb/invoicePayments/{paymentId}/customFields", Access::Needs(&[Permission::CustomFieldUpdate])),
    ("post", "/1.0/kb/invoicePayments/{paymentId}/refunds", Access::Needs(&[Permission::PaymentRefund])),
    ("delete", "/1.0/kb/invoicePayments/{paymentId}/tags", Access::Needs(&[Permission::TagDelete])),
    ("get", "/1.0/kb/invoicePayments/{paymentId}/tags", Access::Open),
    ("post", "/1.0/kb/invoicePayments/{paymentId}/tags", Access::Needs(&[Permission::TagAdd])),
    ("post", "/1.0/kb/invoices", Access::Needs(&[Permission::InvoiceTrigger])),
    ("get", "/1.0/kb/invoices/byItemId/{itemId}", Access::Open),
    ("get", "/1.0/kb/invoices/byNumber/{invoiceNumber}", Access::Open),
    ("get", "/1.0/kb/invoices/catalogTranslation/{locale}", Access::Open),
    ("post", "/1.0/kb/invoices/catalogTranslation/{locale}", Access::Needs(&[Permission::TenantKvsAdd])),
    ("post", "/1.0/kb/invoices/charges/{accountId}", Access::Needs(&[Permission::AccountCharge])),
    ("post", "/1.0/kb/invoices/dryRun", Access::Needs(&[Permission::InvoiceDryRun])),
    ("post", "/1.0/kb/invoices/group", Access::Needs(&[Permission::InvoiceTrigger])),
    ("post", "/1.0/kb/invoices/manualPayTemplate", Access::Needs(&[Permission::TenantKvsAdd])),
    ("get", "/1.0/kb/invoices/manualPayTemplate/{locale}", Access::Open),
    ("post", "/1.0/kb/invoices/migration/{accountId}", Access::Needs(&[Permission::InvoiceTrigger])),
    ("get", "/1.0/kb/invoices/pagination", Access::Open),
    ("get", "/1.0/kb/invoices/search/{searchKey}", Access::Open),
    ("post", "/1.0/kb/invoices/taxes/{accountId}", Access::Needs(&[Permission::AccountCharge])),
    ("get", "/1.0/kb/invoices/template", Access::Open),
    ("post", "/1.0/kb/invoices/template", Access::Needs(&[Permission::TenantKvsAdd])),
    ("get", "/1.0/kb/invoices/translation/{locale}", Access::Open),
    ("post", "/1.0/kb/invoices/translation/{locale}", Access::Needs(&[Permission::TenantKvsAdd])),
    ("get", "/1.0/kb/invoices/{groupId}/group", Access::Open),
    ("get", "/1.0/kb/invoices/{invoiceId}", Access::Open),
    ("post", "/1.0/kb/invoices/{invoiceId}", Access::Needs(&[Permission::InvoiceItemAdjust])),
    ("get", "/1.0/kb/invoices/{invoiceId}/auditLogsWithHistory", Access::Open),
    ("put", "/1.0/kb/invoices/{invoiceId}/commitInvoice", Access::Needs(&[Permission::InvoiceCommit])),
    ("delete", "/1.0/kb/invoices/{invoiceId}/customFields", Access::Needs(&[Permission::CustomFieldDelete])),
    ("get", "/1.0/kb/invoices/{invoiceId}/customFields", Access::Open),
    ("post", "/1.0/kb/invoices/{invoiceId}/customFields", Access::Needs(&[Permission::CustomFieldAdd])),
    ("put", "/1.0/kb/invoices/{invoiceId}/customFields", Access::Needs(&[Permission::CustomFieldUpdate])),
    ("get", "/1.0/kb/invoices/{invoiceId}/html", Access::Open),
    ("get", "/1.0/kb/invoices/{invoiceId}/payments", Access::Open),
    ("post", "/1.0/kb/invoices/{invoiceId}/payments", Access::Needs(&[Permission::PaymentTrigger])),
    ("delete", "/1.0/kb/invoices/{invoiceId}/tags", Access::Needs(&[Permission::TagDelete])),
    ("get", "/1.0/kb/invoices/{invoiceId}/tags", Access::Open),
    ("post", "/1.0/kb/invoices/{invoiceId}/tags", Access::Needs(&[Permission::TagAdd])),
    ("put", "/1.0/kb/invoices/{invoiceId}/voidInvoice", Access::Needs(&[Permission::InvoiceVoid])),
    ("delete", "/1.0/kb/invoices/{invoiceId}/{invoiceItemId}/cba", Access::Needs(&[Permission::InvoiceDeleteCba])),
    ("get", "/1.0/kb/nodesInfo", Access::Open),
    ("post", "/1.0/kb/nodesInfo", Access::Needs(&[Permission::AdminTriggerCommand])),
    ("get", "/1.0/kb/overdue", Access::Open),
    ("post", "/1.0/kb/overdue", Access::Needs(&[Permission::OverdueUpload])),
    ("get", "/1.0/kb/overdue/xml", Access::Open),
    ("post", "/1.0/kb/overdue/xml", Access::Needs(&[Permission::OverdueUpload])),
    ("post", "/1.0/kb/paymentGateways/hosted/form", Access::Open),
    ("post", "/1.0/kb/paymentGateways/hosted/form/{accountId}", Access::Open),
    ("post", "/1.0/kb/paymentGateways/notification/{pluginName}", Access::Needs(&[Permission::PaymentNotification])),
    ("get", "/1.0/kb/paymentMethods", Access::Open),
    ("get", "/1.0/kb/paymentMethods/pagination", Access::Open),
    ("get", "/1.0/kb/paymentMethods/search/{searchKey}", Access::Open),
    ("delete", "/1.0/kb/paymentMethods/{paymentMethodId}", Access::Needs(&[Permission::PaymentMethodDelete])),
    ("get", "/1.0/kb/paymentMethods/{paymentMethodId}", Access::Open),
    ("get", "/1.0/kb/paymentMethods/{paymentMethodId}/auditLogsWithHistory", Access::Open),
    ("delete", "/1.0/kb/paymentMethods/{paymentMethodId}/customFields", Access::Needs(&[Permission::CustomFieldDelete])),
    ("get", "/1.0/kb/paymentMethods/{paymentMethodId}/customFields", Access::Open),
    ("post", "/1.0/kb/paymentMethods/{paymentMethodId}/customFields", Access::Needs(&[Permission::CustomFieldAdd])),
    ("put", "/1.0/kb/paymentMethods/{paymentMethodId}/customFields", Access::Needs(&[Permission::CustomFieldUpdate])),
    ("get", "/1.0/kb/paymentTransactions", Access::Open),
    ("get", "/1.0/kb/paymentTransactions/{transactionId}", Access::Open),
    ("post", "/1.0/kb/paymentTransactions/{transactionId}", Access::Needs(&[Permission::PaymentTransition])),
    ("get", "/1.0/kb/paymentTransactions/{transactionId}/auditLogsWithHistory", Access::Open),
    ("delete", "/1.0/kb/paymentTransactions/{transactionId}/customFields", Access::Needs(&[Permission::CustomFieldDelete])),
    ("get", "/1.0/kb/paymentTransactions/{transactionId}/customFields", Access::Open),
    ("post", "/1.0/kb/paymentTransactions/{transactionId}/customFields", Access::Needs(&[Permission::CustomFieldAdd])),
    ("put", "/1.0/kb/paymentTransactions/{transactionId}/customFields", Access::Needs(&[Permission::CustomFieldUpdate])),
    ("delete", "/1.0/kb/paymentTransactions/{transactionId}/tags", Access::Needs(&[Permission::TagDelete])),
    ("get", "/1.0/kb/paymentTransactions/{transactionId}/tags", Access::Open),
    ("post", "/1.0/kb/paymentTransactions/{transactionId}/tags", Access::Needs(&[Permission::TagAdd])),
    ("delete", "/1.0/kb/payments", Access::Needs(&[Permission::PaymentTrigger])),
    ("get", "/1.0/kb/payments", Access::Open),
    ("post", "/1.0/kb/payments", Access::Needs(&[Permission::PaymentTrigger])),
    ("put", "/1.0/kb/payments", Access::Needs(&[Permission::PaymentTrigger])),
    ("get", "/1.0/kb/payments/attempts/{paymentAttemptId}/auditLogsWithHistory", Access::Open),
    ("delete", "/1.0/kb/payments/cancelScheduledPaymentTransaction", Access::Needs(&[Permission::PaymentTrigger])),
    ("post", "/1.0/kb/payments/chargebackReversals", Access::Needs(&[Permission::PaymentChargeback])),
    ("post", "/1.0/kb/payments/chargebacks", Access::Needs(&[Permission::PaymentChargeback])),
    ("post", "/1.0/kb/payments/combo", Access::Needs(&[Permission::PaymentTrigger])),
    ("get", "/1.0/kb/payments/pagination", Access::Open),
    ("post", "/1.0/kb/payments/refunds", Access::Needs(&[Permission::PaymentRefund])),
    ("get", "/1.0/kb/payments/search/{searchKey}", Access::Open),
    ("delete", "/1.0/kb/payments/{paymentId}", Access::Needs(&[Permission::PaymentTrigger])),
    ("get", "/1.0/kb/payments/{paymentId}", Access::Open),
    ("post", "/1.0/kb/payments/{paymentId}", Access::Needs(&[Permission::PaymentTrigger])),
    ("put", "/1.0/kb/payments/{paymentId}", Access::Needs(&[Permission::PaymentTrigger])),
    ("get", "/1.0/kb/payments/{paymentId}/auditLogsWithHistory", Access::Open),
    ("post", "/1.0/kb/payments/{paymentId}/chargebackReversals", Access::Needs(&[Permission::PaymentChargeback])),
    ("post", "/1.0/kb/payments/{paymentId}/chargebacks", Access::Needs(&[Permission::PaymentChargeback])),
    ("delete", "/1.0/kb/payments/{paymentId}/customFields", Access::Needs(&[Permission::CustomFieldDelete])),
    ("get", "/1.0/kb/payments/{paymentId}/customFields", Access::Open),
    ("post", "/1.0/kb/payments/{paymentId}/customFields", Access::Needs(&[Permission::CustomFieldAdd])),
    ("put", "/1.0/kb/payments/{paymentId}/customFields", Access::Needs(&[Permission::CustomFieldUpdate])),
    ("post", "/1.0/kb/payments/{paymentId}/refunds", Access::Needs(&[Permission::PaymentRefund])),
    ("delete", "/1.0/kb/payments/{paymentId}/tags", Access::Needs(&[Permission::TagDelete])),
    ("get", "/1.0/kb/payments/{paymentId}/tags", Access::Open),
    ("post", "/1.0/kb/payments/{paymentId}/tags", Access::Needs(&[Permission::TagAdd])),
    ("delete", "/1.0/kb/payments/{paymentTransactionId}/cancelScheduledPaymentTransaction", Access::Needs(&[Permission::PaymentTrigger])),
    ("get", "/1.0/kb/pluginsInfo", Access::Open),
    ("get", "/1.0/kb/security/permissions", Access::Open),
    ("post", "/1.0/kb/security/roles", Access::Needs(&[Permission::UserCreate])),
    ("put", "/1.0/kb/security/roles", Access::Needs(&[Permission::UserCreate])),
    ("get", "/1.0/kb/security/roles/{role}", Access::Open),
    ("get", "/1.0/kb/security/subject", Access::Open),
    ("post", "/1.0/kb/security/users", Access::Needs(&[Permission::UserCreate])),
    ("delete", "/1.0/kb/security/users/{username}", Access::Needs(&[Permission::UserCreate])),
    ("put", "/1.0/kb/security/users/{username}/password", Access::Needs(&[Permission::UserCreate])),
    ("get", "/1.0/kb/security/users/{username}/roles", Access::Open),
    ("put", "/1.0/kb/security/users/{username}/roles", Access::Needs(&[Permission::UserCreate])),
    ("get", "/1.0/kb/subscriptions", Access::Open),
    ("post", "/1.0/kb/subscriptions", Access::Needs(&[Permission::EntitlementCreate])),
    ("post", "/1.0/kb/subscriptions/createSubscriptionWithAddOns", Access::Needs(&[Permission::EntitlementCreate])),
    ("post", "/1.0/kb/subscriptions/createSubscriptionsWithAddOns", Access::Needs(&[Permission::EntitlementCreate])),
    ("get", "/1.0/kb/subscriptions/events/{eventId}/auditLogsWithHistory", Access::Open),
    ("delete", "/1.0/kb/subscriptions/{subscriptionId}", Access::Needs(&[Permission::EntitlementCancel])),
    ("get", "/1.0/kb/subscriptions/{subscriptionId}", Access::Open),
    ("put", "/1.0/kb/subscriptions/{subscriptionId}", Access::Needs(&[Permission::EntitlementChangePlan])),
    ("get", "/1.0/kb/subscriptions/{subscriptionId}/auditLogsWithHistory", Access::Open),
    ("put", "/1.0/kb/subscriptions/{subscriptionId}/bcd", Access::Needs(&[Permission::EntitlementCreate])),
    ("post", "/1.0/kb/subscriptions/{subscriptionId}/block", Access::Needs(&[Permission::EntitlementPauseResume])),
    ("delete", "/1.0/kb/subscriptions/{subscriptionId}/customFields", Access::Needs(&[Permission::CustomFieldDelete])),
    ("get", "/1.0/kb/subscriptions/{subscriptionId}/customFields", Access::Open),
    ("post", "/1.0/kb/subscriptions/{subscriptionId}/customFields", Access::Needs(&[Permission::CustomFieldAdd])),
    ("put", "/1.0/kb/subscriptions/{subscriptionId}/customFields", Access::Needs(&[Permission::CustomFieldUpdate])),
    ("put", "/1.0/kb/subscriptions/{subscriptionId}/quantity", Access::Needs(&[Permission::EntitlementCreate])),
    ("delete", "/1.0/kb/subscriptions/{subscriptionId}/tags", Access::Needs(&[Permission::TagDelete])),
    ("get", "/1.0/kb/subscriptions/{subscriptionId}/tags", Access::Open),
    ("post", "/1.0/kb/subscriptions/{subscriptionId}/tags", Access::Needs(&[Permission::TagAdd])),
    ("put", "/1.0/kb/subscriptions/{subscriptionId}/uncancel", Access::Needs(&[Permission::EntitlementCancel])),
    ("put", "/1.0/kb/subscriptions/{subscriptionId}/undoChangePlan", Access::Needs(&[Permission::EntitlementChangePlan])),
    ("get", "/1.0/kb/tagDefinitions", Access::Open),
    ("post", "/1.0/kb/tagDefinitions", Access::Needs(&[Permission::TagCreateDefinition])),
    ("delete", "/1.0/kb/tagDefinitions/{tagDefinitionId}", Access::Needs(&[Permission::TagDeleteDefinition])),
    ("get", "/1.0/kb/tagDefinitions/{tagDefinitionId}", Access::Open),
    ("get", "/1.0/kb/tagDefinitions/{tagDefinitionId}/auditLogsWithHistory", Access::Open),
    ("get", "/1.0/kb/tags/pagination", Access::Open),
    ("get", "/1.0/kb/tags/search/{searchKey}", Access::Open),
    ("get", "/1.0/kb/tags/{tagId}/auditLogsWithHistory", Access::Open),
    ("get", "/1.0/kb/tenants", Access::Open),
    ("post", "/1.0/kb/tenants", Access::Needs(&[Permission::TenantCreate])),
    ("delete", "/1.0/kb/tenants/registerNotificationCallback", Access::Needs(&[Permission::TenantKvsDelete])),
    ("get", "/1.0/kb/tenants/registerNotificationCallback", Access::Open),
    ("post", "/1.0/kb/tenants/registerNotificationCallback", Access::Needs(&[Permission::TenantKvsAdd])),
    ("delete", "/1.0/kb/tenants/uploadPerTenantConfig", Access::Needs(&[Permission::TenantKvsDelete])),
    ("get", "/1.0/kb/tenants/uploadPerTenantConfig", Access::Open),
    ("post", "/1.0/kb/tenants/uploadPerTenantConfig", Access::Needs(&[Permission::TenantKvsAdd])),
    ("get", "/1.0/kb/tenants/uploadPerTenantConfig/{keyPrefix}/search", Access::Open),
    ("delete", "/1.0/kb/tenants/uploadPluginConfig/{pluginName}", Access::Needs(&[Permission::TenantKvsDelete])),
    ("get", "/1.0/kb/tenants/uploadPluginConfig/{pluginName}", Access::Open),
    ("post", "/1.0/kb/tenants/uploadPluginConfig/{pluginName}", Access::Needs(&[Permission::TenantKvsAdd])),
    ("delete", "/1.0/kb/tenants/uploadPluginPaymentStateMachineConfig/{pluginName}", Access::Needs(&[Permission::TenantKvsDelete])),
    ("get", "/1.0/kb/tenants/uploadPluginPaymentStateMachineConfig/{pluginName}", Access::Open),
    ("post", "/1.0/kb/tenants/uploadPluginPaymentStateMachineConfig/{pluginName}", Access::Needs(&[Permission::TenantKvsAdd])),
    ("delete", "/1.0/kb/tenants/userKeyValue/{keyName}", Access::Needs(&[Permission::TenantKvsDelete])),
    ("get", "/1.0/kb/tenants/userKeyValue/{keyName}", Access::Open),
    ("post", "/1.0/kb/tenants/userKeyValue/{keyName}", Access::Needs(&[Permission::TenantKvsAdd])),
    ("get", "/1.0/kb/tenants/{tenantId}", Access::Open),
    ("post", "/1.0/kb/usages", Access::Needs(&[Permission::UsageRecord])),
    ("get", "/1.0/kb/usages/{subscriptionId}", Access::Open),
    ("get", "/1.0/kb/usages/{subscriptionId}/{unitType}", Access::Open),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_table_has_every_kill_bill_operation_once() {
        assert_eq!(ACCESS.len(), 264, "kbswagger.yaml has 264 operations");
        let distinct: BTreeSet<(&str, &str)> = ACCESS
            .iter()
            .map(|(method, path, _)| (*method, *path))
            .collect();
        assert_eq!(distinct.len(), ACCESS.len(), "an operation is listed twice");
    }

    #[test]
    fn every_routed_operation_has_an_entry() {
        for (method, path) in super::super::swagger::OPERATIONS {
            assert!(
                ACCESS.iter().any(|(m, p, _)| m == method && p == path),
                "{method} {path} has no entry in the permission table"
            );
        }
    }

    /// Run with `KILL_BILL_SWAGGER=…/kbswagger.yaml cargo test --lib -- --ignored
    /// every_kill_bill_operation_has_an_entry`: the table and Kill Bill's description list the
    /// same operations.
    #[test]
    #[ignore = "reads Kill Bill's kbswagger.yaml ($KILL_BILL_SWAGGER)"]
    fn every_kill_bill_operation_has_an_entry() {
        let path = std::env::var("KILL_BILL_SWAGGER").expect("KILL_BILL_SWAGGER is set");
        let text = std::fs::read_to_string(path).expect("kbswagger.yaml is readable");
        let description: serde_json::Value = serde_yaml::from_str(&text).expect("YAML");
        let mut described = BTreeSet::new();
        for (path, item) in description["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                if ["get", "post", "put", "delete"].contains(&method.as_str()) {
                    described.insert((method.clone(), path.clone()));
                }
            }
        }
        let listed: BTreeSet<(String, String)> = ACCESS
            .iter()
            .map(|(method, path, _)| (method.to_string(), path.to_string()))
            .collect();
        assert_eq!(described, listed);
    }

    #[test]
    fn the_most_literal_template_wins() {
        let found = |method: Method, path: &str| operation(&method, path).map(|(_, t, a)| (t, a));
        assert_eq!(
            found(Method::POST, "/1.0/kb/payments/refunds"),
            Some((
                "/1.0/kb/payments/refunds",
                Access::Needs(&[Permission::PaymentRefund])
            ))
        );
        assert_eq!(
            found(
                Method::POST,
                "/1.0/kb/payments/3c1b8f0e-1f6b-4a1e-9d5b-0a2c4e6f8a10"
            ),
            Some((
                "/1.0/kb/payments/{paymentId}",
                Access::Needs(&[Permission::PaymentTrigger])
            ))
        );
        assert_eq!(
            found(
                Method::GET,
                "/1.0/kb/payments/3c1b8f0e-1f6b-4a1e-9d5b-0a2c4e6f8a10/"
            ),
            Some(("/1.0/kb/payments/{paymentId}", Access::Open))
        );
        assert_eq!(
            found(Method::DELETE, "/1.0/kb/admin/cache"),
            Some(("/1.0/kb/admin/cache", Access::WholeGroup("admin")))
        );
        assert_eq!(found(Method::GET, "/1.0/kb/nothing"), None);
        assert_eq!(found(Method::PATCH, "/1.0/kb/accounts"), None);
    }
}
