//! Kill Bill's permissions (killbill-api's `Permission` enum) and the rules Shiro applies to
//! them: a subject holds wildcard permissions (`*`, `account:*`, `payment:trigger,refund`,
//! `ACCOUNT:CREATE`), compared case-insensitively part by part, and a role definition stores
//! what Kill Bill's `sanitizePermissions` makes of the list it is given.
//!
//! Pure rules, no I/O. Which operation needs which permission is the HTTP layer's table
//! (`http/permissions.rs`); who holds what is `mod.rs`'s.

/// Kill Bill 0.24's permissions (killbill-api 0.54), `group:value` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    AccountCreate,
    AccountUpdate,
    AccountAddEmails,
    AccountDeleteEmails,
    AccountCharge,
    AccountCredit,
    CatalogUpload,
    CatalogDelete,
    CustomFieldAdd,
    CustomFieldUpdate,
    CustomFieldDelete,
    EntitlementCreate,
    EntitlementChangePlan,
    EntitlementPauseResume,
    EntitlementCancel,
    EntitlementTransfer,
    InvoiceCredit,
    InvoiceItemAdjust,
    InvoiceDeleteCba,
    InvoiceTrigger,
    InvoiceDryRun,
    InvoiceWriteOff,
    InvoiceCommit,
    InvoiceVoid,
    OverdueUpload,
    PaymentTrigger,
    PaymentRefund,
    PaymentChargeback,
    PaymentTransition,
    PaymentNotification,
    PaymentMethodCreate,
    PaymentMethodUpdate,
    PaymentMethodDelete,
    TagCreateDefinition,
    TagDeleteDefinition,
    TagAdd,
    TagDelete,
    TenantCreate,
    TenantKvsAdd,
    TenantKvsDelete,
    UsageRecord,
    UserCreate,
    AdminUpdate,
    AdminExport,
    AdminTriggerCommand,
}

impl Permission {
    /// Every permission, in Kill Bill's order.
    pub const ALL: [Permission; 45] = [
        Permission::AccountCreate,
        Permission::AccountUpdate,
        Permission::AccountAddEmails,
        Permission::AccountDeleteEmails,
        Permission::AccountCharge,
        Permission::AccountCredit,
        Permission::CatalogUpload,
        Permission::CatalogDelete,
        Permission::CustomFieldAdd,
        Permission::CustomFieldUpdate,
        Permission::CustomFieldDelete,
        Permission::EntitlementCreate,
        Permission::EntitlementChangePlan,
        Permission::EntitlementPauseResume,
        Permission::EntitlementCancel,
        Permission::EntitlementTransfer,
        Permission::InvoiceCredit,
        Permission::InvoiceItemAdjust,
        Permission::InvoiceDeleteCba,
        Permission::InvoiceTrigger,
        Permission::InvoiceDryRun,
        Permission::InvoiceWriteOff,
        Permission::InvoiceCommit,
        Permission::InvoiceVoid,
        Permission::OverdueUpload,
        Permission::PaymentTrigger,
        Permission::PaymentRefund,
        Permission::PaymentChargeback,
        Permission::PaymentTransition,
        Permission::PaymentNotification,
        Permission::PaymentMethodCreate,
        Permission::PaymentMethodUpdate,
        Permission::PaymentMethodDelete,
        Permission::TagCreateDefinition,
        Permission::TagDeleteDefinition,
        Permission::TagAdd,
        Permission::TagDelete,
        Permission::TenantCreate,
        Permission::TenantKvsAdd,
        Permission::TenantKvsDelete,
        Permission::UsageRecord,
        Permission::UserCreate,
        Permission::AdminUpdate,
        Permission::AdminExport,
        Permission::AdminTriggerCommand,
    ];

    /// `group:value`, as Kill Bill's `Permission.toString()` writes it.
    pub fn as_str(self) -> &'static str {
        use Permission::*;
        match self {
            AccountCreate => "account:create",
            AccountUpdate => "account:update",
            AccountAddEmails => "account:add_emails",
            AccountDeleteEmails => "account:delete_emails",
            AccountCharge => "account:charge",
            AccountCredit => "account:credit",
            CatalogUpload => "catalog:config_upload",
            CatalogDelete => "catalog:delete",
            CustomFieldAdd => "custom_field:add",
            CustomFieldUpdate => "custom_field:update",
            CustomFieldDelete => "custom_field:delete",
            EntitlementCreate => "entitlement:create",
            EntitlementChangePlan => "entitlement:change_plan",
            EntitlementPauseResume => "entitlement:pause_resume",
            EntitlementCancel => "entitlement:cancel",
            EntitlementTransfer => "entitlement:transfer",
            InvoiceCredit => "invoice:credit",
            InvoiceItemAdjust => "invoice:item_adjust",
            InvoiceDeleteCba => "invoice:delete_cba",
            InvoiceTrigger => "invoice:trigger",
            InvoiceDryRun => "invoice:dry_run",
            InvoiceWriteOff => "invoice:write_off",
            InvoiceCommit => "invoice:commit",
            InvoiceVoid => "invoice:void",
            OverdueUpload => "overdue:config_upload",
            PaymentTrigger => "payment:trigger",
            PaymentRefund => "payment:refund",
            PaymentChargeback => "payment:chargeback",
            PaymentTransition => "payment:transition",
            PaymentNotification => "payment:notification",
            PaymentMethodCreate => "payment_method:create",
            PaymentMethodUpdate => "payment_method:update",
            PaymentMethodDelete => "payment_method:delete",
            TagCreateDefinition => "tag:create_tag_definition",
            TagDeleteDefinition => "tag:delete_tag_definition",
            TagAdd => "tag:add",
            TagDelete => "tag:delete",
            TenantCreate => "tenant:create",
            TenantKvsAdd => "tenant_kvs:add",
            TenantKvsDelete => "tenant_kvs:delete",
            UsageRecord => "usage:record",
            UserCreate => "user:create",
            AdminUpdate => "admin:update",
            AdminExport => "admin:export",
            AdminTriggerCommand => "admin:trigger_command",
        }
    }

    /// The part before the colon (`account`, `payment_method`, `admin`).
    pub fn group(self) -> &'static str {
        self.as_str().split(':').next().unwrap_or_default()
    }
}

/// A permission in Shiro's wildcard syntax: parts separated by `:`, each a set of
/// comma-separated values or `*`, compared ignoring case (Shiro's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WildcardPermission {
    parts: Vec<Vec<String>>,
}

impl WildcardPermission {
    /// `None` for text Shiro refuses to read (empty, or only dividers): it implies nothing.
    pub fn parse(text: &str) -> Option<WildcardPermission> {
        let parts: Vec<Vec<String>> = java_split(text.trim(), ':')
            .into_iter()
            .map(|part| {
                part.split(',')
                    .map(|value| value.trim().to_lowercase())
                    .collect()
            })
            .collect();
        (!parts.is_empty()).then_some(WildcardPermission { parts })
    }

    /// Whether holding `self` grants `required` (Shiro's `WildcardPermission.implies`): every
    /// part of `required` is within the matching part of `self`, or that part is `*`; a
    /// holder with fewer parts grants everything below its last one, and extra parts of the
    /// holder must be `*`.
    pub fn implies(&self, required: &WildcardPermission) -> bool {
        let wildcard = |part: &Vec<String>| part.iter().any(|value| value == "*");
        for (index, wanted) in required.parts.iter().enumerate() {
            let Some(held) = self.parts.get(index) else {
                return true;
            };
            if !wildcard(held) && !wanted.iter().all(|value| held.contains(value)) {
                return false;
            }
        }
        self.parts.iter().skip(required.parts.len()).all(wildcard)
    }
}

/// Java's `String.split` on one character: empty strings at the end are dropped.
fn java_split(text: &str, divider: char) -> Vec<&str> {
    let mut parts: Vec<&str> = text.split(divider).collect();
    while parts.last().is_some_and(|part| part.is_empty()) {
        parts.pop();
    }
    parts
}

/// What Kill Bill stores for a role defined with `permissions` (its `sanitizePermissions`):
/// empty and null entries dropped; `*` alone if any entry is `*`; `group` and `group:` become
/// `group:*`; anything with more than two parts is refused (`Err` names it). Sorted, each once.
pub fn sanitize_role_permissions(permissions: &[Option<String>]) -> Result<Vec<String>, String> {
    let given = permissions
        .iter()
        .flatten()
        .filter(|permission| !permission.is_empty());
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for permission in given {
        if permission == "*" {
            return Ok(vec!["*".to_string()]);
        }
        let parts = java_split(permission, ':');
        if !(1..=2).contains(&parts.len()) {
            return Err(permission.clone());
        }
        let group = parts[0].to_string();
        let index = match groups.iter().position(|(name, _)| *name == group) {
            Some(index) => index,
            None => {
                groups.push((group, Vec::new()));
                groups.len() - 1
            }
        };
        let values = &mut groups[index].1;
        match parts.get(1) {
            Some(value) if *value != "*" && !value.is_empty() => {
                values.push(value.to_string());
            }
            _ => {
                values.clear();
                values.push("*".to_string());
            }
        }
    }
    let mut sanitized: Vec<String> = groups
        .into_iter()
        .flat_map(|(group, values)| {
            values
                .into_iter()
                .map(move |value| format!("{group}:{value}"))
        })
        .collect();
    sanitized.sort();
    sanitized.dedup();
    Ok(sanitized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(held: &str, required: &str) -> bool {
        let held = WildcardPermission::parse(held).expect("a permission");
        let required = WildcardPermission::parse(required).expect("a permission");
        held.implies(&required)
    }

    #[test]
    fn wildcards_grant_as_shiro_grants() {
        assert!(holds("*", "payment:trigger"));
        assert!(holds("*:*", "payment:trigger"));
        assert!(holds("payment:*", "payment:trigger"));
        assert!(holds("payment", "payment:trigger"));
        assert!(holds("payment:trigger,refund", "payment:refund"));
        assert!(holds("ACCOUNT:CREATE", "account:create"));
        assert!(holds(
            "*:create_tag_definition",
            "tag:create_tag_definition"
        ));
        assert!(!holds("account:*", "payment:trigger"));
        assert!(!holds("payment:refund", "payment:trigger"));
        assert!(!holds("admin:update", "admin:*"));
        assert!(holds("admin", "admin:*"));
        assert!(!holds("payment:trigger:x", "payment:trigger"));
        assert!(holds("payment:trigger:*", "payment:trigger"));
        assert!(WildcardPermission::parse("").is_none());
        assert!(WildcardPermission::parse(":::").is_none());
    }

    #[test]
    fn every_permission_reads_as_kill_bill_writes_it() {
        assert_eq!(Permission::ALL.len(), 45);
        assert_eq!(Permission::PaymentTrigger.as_str(), "payment:trigger");
        assert_eq!(Permission::PaymentMethodCreate.group(), "payment_method");
        for permission in Permission::ALL {
            let parsed = WildcardPermission::parse(permission.as_str()).expect("parses");
            assert!(parsed.implies(&parsed), "{permission:?}");
        }
    }

    /// As Kill Bill 0.24 stored and listed them (sorted by its index on the permission).
    #[test]
    fn role_permissions_are_sanitized_as_kill_bill_does() {
        let given = |items: &[Option<&str>]| -> Vec<Option<String>> {
            items.iter().map(|item| item.map(str::to_string)).collect()
        };
        assert_eq!(
            sanitize_role_permissions(&given(&[
                Some("foo:bar"),
                Some("ACCOUNT:CREATE"),
                Some("payment"),
                Some("tag:"),
                Some(""),
                None,
            ])),
            Ok(vec![
                "ACCOUNT:CREATE".to_string(),
                "foo:bar".to_string(),
                "payment:*".to_string(),
                "tag:*".to_string(),
            ])
        );
        assert_eq!(
            sanitize_role_permissions(&given(&[Some("account:create"), Some("*")])),
            Ok(vec!["*".to_string()])
        );
        assert_eq!(
            sanitize_role_permissions(&given(&[Some("a:b:c")])),
            Err("a:b:c".to_string())
        );
        assert_eq!(sanitize_role_permissions(&[]), Ok(Vec::new()));
        // A group's wildcard replaces the values before it, not those after.
        assert_eq!(
            sanitize_role_permissions(&given(&[
                Some("tag:add"),
                Some("tag:*"),
                Some("tag:delete")
            ])),
            Ok(vec!["tag:*".to_string(), "tag:delete".to_string()])
        );
    }
}
