//! The differences from Kill Bill that ferrobill makes on purpose, as the tool recognises
//! them: each with the id under which `docs/compatibility.md` explains it (written there as
//! `diff:<id>`), the steps where it shows and the aspects it may change. A difference outside
//! these is undocumented, and the run fails.
//!
//! Patterns use `*` for any run of characters. Keep this list and the document in step: the
//! tests below fail when an id is missing from the document or the document names an id this
//! list lacks.

use super::compare::Difference;

/// One documented difference.
#[derive(Debug)]
pub struct Documented {
    pub id: &'static str,
    /// Step-name patterns.
    pub steps: &'static [&'static str],
    /// Aspect patterns (`status`, `header:location`, `body`, `body:/className`, `event:*`).
    pub aspects: &'static [&'static str],
    /// Text one of the two values must contain, when the aspect alone says too little (one
    /// kind of notification among several of the same type).
    pub contains: Option<&'static str>,
}

const fn doc(
    id: &'static str,
    steps: &'static [&'static str],
    aspects: &'static [&'static str],
) -> Documented {
    Documented {
        id,
        steps,
        aspects,
        contains: None,
    }
}

/// Every aspect of the answer: the whole answer differs (typically a 4xx where Kill Bill
/// fails with a 500).
const WHOLE: &[&str] = &["status", "header:*", "body", "body:*"];
/// The status line stays, the body differs in kind (Kill Bill's is empty or a container page).
const BODY_KIND: &[&str] = &["header:content-type", "body"];

pub const DOCUMENTED: &[Documented] = &[
    doc(
        "unknown-transaction-id",
        &[
            "pending/notify-unknown-transaction",
            "pending/cancel-scheduled-by-unknown-id",
        ],
        WHOLE,
    ),
    doc(
        "role-permissions-order",
        &["security/role-after-update"],
        &["body:/permissions/*"],
    ),
    doc(
        "basic-auth-401-body",
        &[
            "tenants/create-without-basic-auth",
            "tenants/create-with-wrong-password",
            "auth/no-basic-auth",
            "auth/wrong-password",
            "security/permissions-without-auth",
            "security/old-password-refused",
            "security/deleted-user-refused",
        ],
        BODY_KIND,
    ),
    doc(
        "tenant-401-body",
        &[
            "auth/no-tenant-headers",
            "auth/wrong-tenant-secret",
            "auth/unknown-api-key",
            "admin/queues-no-tenant",
            "tenant-config/get-plugin-config-no-tenant",
            "plugins/info-no-tenant",
            "admin/cache-no-tenant",
        ],
        BODY_KIND,
    ),
    doc(
        "not-found-body",
        &[
            "auth/unknown-route",
            "auth/ping",
            "*/get-malformed-id",
            "*/update-malformed-id",
            "tenants/get-by-malformed-id",
            "payments/malformed-payment-method-id",
            "accounts/get-audit-bogus",
            "accounts/page-bad-offset",
            "payments/page-bad-limit",
            "tags/definition-malformed-id",
            "tags/remove-malformed-id",
            "admin/queues-bad-account",
            "custom-fields/all-bad-object-type",
            "custom-fields/page-bad-limit",
            "custom-fields/delete-malformed-id",
            "tags/all-bad-object-type",
            "tags/page-bad-offset",
            "children/list-bad-audit",
            "payment-methods/page-bad-offset",
        ],
        BODY_KIND,
    ),
    doc(
        "method-not-allowed-body",
        &["auth/method-not-allowed"],
        BODY_KIND,
    ),
    doc(
        "unsupported-media-type-body",
        &[
            "tenants/create-text-plain",
            "bodies/account-no-content-type",
            "bodies/account-text-plain",
            "tenant-config/upload-plugin-config-json",
        ],
        BODY_KIND,
    ),
    doc(
        "malformed-json",
        &["tenants/create-malformed-json", "bodies/account-malformed"],
        WHOLE,
    ),
    doc(
        "trailing-characters",
        &["bodies/account-trailing-garbage"],
        WHOLE,
    ),
    doc("body-too-large", &["bodies/too-large"], WHOLE),
    doc(
        "value-too-long",
        &[
            "accounts/create-name-too-long",
            "custom-fields/add-name-too-long",
        ],
        WHOLE,
    ),
    doc(
        "concurrent-duplicate-key",
        &["accounts/create-concurrent-same-key"],
        &["[*]status", "[*]body:*"],
    ),
    doc(
        "unknown-api-key-lookup",
        &["tenants/get-by-unknown-api-key"],
        WHOLE,
    ),
    doc(
        "other-tenant-by-id",
        &["tenants/get-other-tenant-by-id"],
        WHOLE,
    ),
    doc(
        "other-tenant-object",
        &[
            "accounts/get-other-tenant",
            "payments/get-other-tenant",
            "custom-fields/add-other-tenant-account",
            "custom-fields/audit-logs-with-history-other-tenant",
            "tags/add-payment-other-tenant",
            "tags/audit-logs-with-history-other-tenant",
            "emails/add-other-tenant",
            "export/other-tenant",
            "payment-methods/refresh-other-tenant",
            "chargebacks/create-other-tenant",
            "payment-transactions/get-other-tenant",
        ],
        WHOLE,
    ),
    doc(
        "callback-without-url",
        &["callback/register-without-cb"],
        WHOLE,
    ),
    doc(
        "callback-not-a-url",
        &["callback/register-not-a-url"],
        WHOLE,
    ),
    doc(
        "history-delegated-flag",
        &["accounts/audit-logs-with-history"],
        &["body:/*/history/isPaymentDelegatedToParent"],
    ),
    doc(
        "gateway-plugin",
        &["payment-methods/create-gateway-plugin"],
        WHOLE,
    ),
    doc(
        "payment-method-key-conflict",
        &["payment-methods/create-duplicate-key"],
        WHOLE,
    ),
    doc(
        "set-default-refused",
        &[
            "payment-methods/set-default-unknown-method",
            "payment-methods/set-default-other-accounts-method",
        ],
        WHOLE,
    ),
    doc(
        "delete-default-refused",
        &["payment-methods/delete-default"],
        WHOLE,
    ),
    doc("tag-definitions-audit", &["tags/definitions-after"], WHOLE),
    doc(
        "control-tag-not-applicable",
        &["tags/add-inapplicable-control", "tags/add-payment-control"],
        WHOLE,
    ),
    doc(
        "tag-list-body-null",
        &["tags/add-null-body"],
        &["body:/className", "body:/message"],
    ),
    doc(
        "custom-field-list-body-null",
        &[
            "custom-fields/add-null-body",
            "custom-fields/modify-null-body",
        ],
        &["body:/className", "body:/message"],
    ),
    doc(
        "custom-field-search-next-page",
        &["custom-fields/search-by-name-next-page"],
        WHOLE,
    ),
    doc(
        "email-account-from-path",
        &[
            "emails/add-without-account-id",
            "emails/add-other-account-id",
        ],
        WHOLE,
    ),
    doc(
        "email-audit-unknown-id",
        &["emails/audit-logs-with-history-unknown-email"],
        WHOLE,
    ),
    doc(
        "healthcheck-checks",
        &["ops/healthcheck", "admin/healthcheck-out-of-rotation"],
        &["body:keys"],
    ),
    doc("prometheus-page", &["ops/prometheus"], WHOLE),
    doc(
        "permission-refusal-cause",
        &["security/*-as-user"],
        &["body:/causeMessage"],
    ),
    doc(
        "admin-operations-need-admin",
        &["security/admin-queues-as-user"],
        WHOLE,
    ),
    doc(
        "null-body-refusals",
        &[
            "security/add-role-empty-body",
            "security/add-user-without-password",
            "security/add-user-without-roles",
            "nodes/command-without-properties",
        ],
        &["body:/className", "body:/message"],
    ),
    doc(
        "recreate-deleted-user",
        &["security/add-user-after-delete"],
        WHOLE,
    ),
    doc(
        "node-info",
        &["nodes/info"],
        &["body:/*/nodeName", "body:/*/pluginsInfo*"],
    ),
    doc("plugins-info", &["plugins/info"], &["body:*"]),
    doc("cache-name-body", &["admin/cache-unknown-name"], BODY_KIND),
    doc(
        "cache-unknown-account",
        &["admin/cache-account-unknown"],
        WHOLE,
    ),
    doc("api-description", &["ops/swagger"], &["body:keys"]),
    // Last: the more specific ids above win where both match.
    doc(
        "json-error-messages",
        &[
            "combo/unknown-field",
            "tenants/create-array-body",
            "tenants/create-unknown-field",
            "bodies/*",
            "accounts/create-bad-currency",
            "accounts/create-lowercase-currency",
            "accounts/update-bad-currency",
            "accounts/update-array-body",
            "payments/bad-type",
            "payments/bad-amount",
            "payments/bad-currency",
            "payments/array-body",
            "payments/unknown-field",
            "tags/create-definition-bad-type",
            "tags/add-malformed-id",
            "custom-fields/add-object-body",
            "custom-fields/add-unknown-field",
            "custom-fields/add-bad-object-type",
            "emails/add-unknown-field",
            "security/add-role-unknown-field",
        ],
        &["body:/message", "body:/causeMessage"],
    ),
    Documented {
        contains: Some("CATALOG"),
        ..doc(
            "catalog-notification",
            &[super::EVENTS_STEP],
            &["event:TENANT_CONFIG_CHANGE"],
        )
    },
];

/// The id of the documented difference covering this difference of this step, if any.
pub fn documented_by(step: &str, difference: &Difference) -> Option<&'static str> {
    DOCUMENTED
        .iter()
        .find(|documented| {
            documented.steps.iter().any(|pattern| glob(pattern, step))
                && documented
                    .aspects
                    .iter()
                    .any(|pattern| glob(pattern, &difference.aspect))
                && documented.contains.is_none_or(|text| {
                    difference.killbill.contains(text) || difference.ferrobill.contains(text)
                })
        })
        .map(|documented| documented.id)
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn compatibility_md() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/compatibility.md");
        std::fs::read_to_string(path).expect("docs/compatibility.md is readable")
    }

    /// The `diff:<id>` tokens of the document.
    fn ids_in_document(text: &str) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find("diff:") {
            let after = &rest[at + 5..];
            let id: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if !id.is_empty() {
                ids.insert(id);
            }
            rest = after;
        }
        ids
    }

    #[test]
    fn every_documented_difference_is_in_compatibility_md() {
        let in_document = ids_in_document(&compatibility_md());
        let missing: Vec<&str> = DOCUMENTED
            .iter()
            .map(|documented| documented.id)
            .filter(|id| !in_document.contains(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "ids missing from docs/compatibility.md: {missing:?}"
        );
    }

    #[test]
    fn every_id_in_compatibility_md_is_known_to_the_tool() {
        let known: BTreeSet<&str> = DOCUMENTED.iter().map(|documented| documented.id).collect();
        let unknown: Vec<String> = ids_in_document(&compatibility_md())
            .into_iter()
            .filter(|id| !known.contains(id.as_str()))
            .collect();
        assert!(
            unknown.is_empty(),
            "ids the tool does not know: {unknown:?}"
        );
    }

    #[test]
    fn ids_are_unique_and_patterns_are_not_empty() {
        let mut seen = BTreeSet::new();
        for documented in DOCUMENTED {
            assert!(seen.insert(documented.id), "{} twice", documented.id);
            assert!(!documented.steps.is_empty() && !documented.aspects.is_empty());
        }
    }

    #[test]
    fn every_step_pattern_names_a_scripted_step() {
        let names: Vec<String> = crate::diff::script::script()
            .into_iter()
            .chain(crate::diff::script::closing())
            .map(|step| step.name)
            .chain([crate::diff::EVENTS_STEP.to_string()])
            .collect();
        let unique: BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "step names repeat");
        for documented in DOCUMENTED {
            for pattern in documented.steps {
                assert!(
                    names.iter().any(|name| glob(pattern, name)),
                    "{}: no step matches {pattern}",
                    documented.id
                );
            }
        }
    }

    #[test]
    fn globs_match_runs_of_characters() {
        assert!(glob("*", "anything"));
        assert!(glob("accounts/*", "accounts/create"));
        assert!(glob("body:/*/className", "body:/0/className"));
        assert!(!glob("accounts/*", "tenants/create"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXcYb"));
    }
}
