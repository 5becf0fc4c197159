//! The scripted sequence: every operation ferrobill serves (the routers in `src/http/`,
//! listed in `OPERATIONS` of `src/http/swagger.rs`), each with its success and the refusals
//! ferrobill's code can give, plus the operator pages, in an order where each step finds what
//! it needs: a callback first (so the notifications of everything after are compared), then
//! tenants and their key-values, authentication, accounts, payment methods, payments, tags,
//! custom fields, tags on payments and transactions, account emails, children and export,
//! payment-method listings and refresh, chargebacks, transactions, PENDING transactions (made
//! by the admin's repair, as no plugin of Kill Bill's leaves one) completed and notified, combo
//! payments, hosted payment pages, users and permissions, nodes and plugins, admin, and
//! the removal of the callback and of the key-values last. Kill Bill announces a key-value
//! change from a poller every 5 s, and not at all if the value is gone by then, so no value the
//! script uploads is replaced or deleted before the notifications are compared.
//!
//! Every key the script creates carries `${run}`, so a run never meets an earlier run's data.
//! `${unknown}` is an id neither server has.

use super::step::{delete, get, post, put, Auth, Compare, Step};

const ACCOUNTS: &str = "/1.0/kb/accounts";
const PAYMENTS: &str = "/1.0/kb/payments";
const TAG_DEFINITIONS: &str = "/1.0/kb/tagDefinitions";
const CALLBACK: &str = "/1.0/kb/tenants/registerNotificationCallback";
const STRIPE_CONFIG: &str = "/1.0/kb/tenants/uploadPluginConfig/killbill-stripe";
const STATE_MACHINE: &str = "/1.0/kb/tenants/uploadPluginPaymentStateMachineConfig/killbill-stripe";
const PER_TENANT_CONFIG: &str = "/1.0/kb/tenants/uploadPerTenantConfig";
const USER_KEY: &str = "/1.0/kb/tenants/userKeyValue/${run}-colour";
const ROLES: &str = "/1.0/kb/security/roles";
const USERS: &str = "/1.0/kb/security/users";
const TEXT: Option<&str> = Some("text/plain");
/// Kill Bill's fixed control tag ids (killbill-api ControlTagType) and the system tag.
const AUTO_PAY_OFF: &str = "00000000-0000-0000-0000-000000000001";
const WRITTEN_OFF: &str = "00000000-0000-0000-0000-000000000004";
const PARK: &str = "00000000-0000-0001-0000-000000000001";

/// The tenant credentials the script uses, derived from the run's token: `${tenantKey}`,
/// `${tenantSecret}` (the main tenant) and `${otherKey}`, `${otherSecret}` (a second one).
pub fn credentials(run: &str) -> Vec<(&'static str, String)> {
    vec![
        ("tenantKey", format!("{run}-main")),
        ("tenantSecret", format!("secret-{run}")),
        ("otherKey", format!("{run}-other")),
        ("otherSecret", format!("other-{run}")),
    ]
}

fn other() -> Auth {
    Auth::Keys("${otherKey}".into(), "${otherSecret}".into())
}

pub fn script() -> Vec<Step> {
    let mut steps = Vec::new();
    tenants(&mut steps);
    tenant_key_values(&mut steps);
    authentication(&mut steps);
    bodies(&mut steps);
    accounts(&mut steps);
    account_updates(&mut steps);
    account_reads(&mut steps);
    payment_methods(&mut steps);
    payments(&mut steps);
    payment_refusals(&mut steps);
    payment_reads(&mut steps);
    tags(&mut steps);
    custom_fields(&mut steps);
    object_tags(&mut steps);
    account_extras(&mut steps);
    payment_method_listings(&mut steps);
    payment_method_deletion(&mut steps);
    chargebacks(&mut steps);
    payment_transactions(&mut steps);
    pending_transactions(&mut steps);
    combo_payments(&mut steps);
    payment_gateways(&mut steps);
    security(&mut steps);
    nodes_and_plugins(&mut steps);
    admin(&mut steps);
    admin_caches(&mut steps);
    operator_pages(&mut steps);
    steps
}

/// A JSON body nested `depth` arrays deep.
fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn tenants(steps: &mut Vec<Step>) {
    let tenants = "/1.0/kb/tenants";
    let new_tenant =
        r#"{"apiKey":"${tenantKey}","apiSecret":"${tenantSecret}","externalKey":"${run}-tenant"}"#;
    steps.extend([
        post("tenants/create-without-basic-auth", tenants)
            .auth(Auth::None)
            .json(new_tenant),
        post("tenants/create-with-wrong-password", tenants)
            .auth(Auth::BasicAs("admin".into(), "wrong-${run}".into()))
            .json(new_tenant),
        post("tenants/create-without-created-by", tenants)
            .auth(Auth::Basic)
            .no_created_by()
            .json(new_tenant),
        post("tenants/create-empty-body", tenants)
            .auth(Auth::Basic)
            .raw("", Some("application/json")),
        post("tenants/create-array-body", tenants)
            .auth(Auth::Basic)
            .json("[]"),
        post("tenants/create-malformed-json", tenants)
            .auth(Auth::Basic)
            .raw("{\"apiKey\":", Some("application/json")),
        post("tenants/create-unknown-field", tenants)
            .auth(Auth::Basic)
            .json(r#"{"apiKey":"${run}-x","apiSecret":"s","colour":"blue"}"#),
        post("tenants/create-without-api-key", tenants)
            .auth(Auth::Basic)
            .json(r#"{"apiSecret":"s"}"#),
        post("tenants/create-without-api-secret", tenants)
            .auth(Auth::Basic)
            .json(r#"{"apiKey":"${run}-nosecret"}"#),
        post("tenants/create-text-plain", tenants)
            .auth(Auth::Basic)
            .raw(
                r#"{"apiKey":"plain","apiSecret":"plain"}"#,
                Some("text/plain"),
            ),
        post("tenants/create", tenants)
            .auth(Auth::Basic)
            .json(new_tenant)
            .location_as("tenant"),
        post("tenants/create-duplicate-api-key", tenants)
            .auth(Auth::Basic)
            .json(new_tenant),
        post("tenants/create-other", tenants)
            .auth(Auth::Basic)
            .json(r#"{"apiKey":"${otherKey}","apiSecret":"${otherSecret}"}"#)
            .location_as("other"),
        get(
            "tenants/get-by-api-key",
            "/1.0/kb/tenants?apiKey=${tenantKey}",
        )
        .auth(Auth::Basic),
        get(
            "tenants/get-by-unknown-api-key",
            "/1.0/kb/tenants?apiKey=${run}-nobody",
        )
        .auth(Auth::Basic),
        get("tenants/get-without-api-key", tenants).auth(Auth::Basic),
        get("tenants/get-by-id", "/1.0/kb/tenants/${tenant}"),
        get("tenants/get-by-unknown-id", "/1.0/kb/tenants/${unknown}"),
        get("tenants/get-by-malformed-id", "/1.0/kb/tenants/not-an-id"),
        get("tenants/get-other-tenant-by-id", "/1.0/kb/tenants/${other}"),
        // The callback: registered before anything else happens in the tenant, so every
        // notification after it is compared.
        get("callback/get-none", CALLBACK),
        post("callback/register-without-cb", CALLBACK),
        post(
            "callback/register-not-a-url",
            &format!("{CALLBACK}?cb=not-a-url"),
        ),
        post("callback/register", &format!("{CALLBACK}?cb=${{callback}}")),
        get("callback/get", CALLBACK),
    ]);
}

/// The main tenant's key-values: uploaded once each and kept until `closing`, so their
/// TENANT_CONFIG_CHANGE is compared; a deletion of a key never set is announced at once.
fn tenant_key_values(steps: &mut Vec<Step>) {
    steps.extend([
        post("tenant-config/upload-plugin-config", STRIPE_CONFIG).raw(
            "org.killbill.billing.plugin.stripe.apiKey=sk_test_${run}",
            TEXT,
        ),
        get("tenant-config/get-plugin-config", STRIPE_CONFIG),
        get(
            "tenant-config/get-plugin-config-none",
            "/1.0/kb/tenants/uploadPluginConfig/${run}-none",
        ),
        get(
            "tenant-config/get-plugin-config-other-tenant",
            STRIPE_CONFIG,
        )
        .auth(other()),
        get("tenant-config/get-plugin-config-no-tenant", STRIPE_CONFIG).auth(Auth::Basic),
        post(
            "tenant-config/upload-plugin-config-json",
            "/1.0/kb/tenants/uploadPluginConfig/${run}-json",
        )
        .json("{}"),
        post(
            "tenant-config/upload-plugin-config-without-created-by",
            "/1.0/kb/tenants/uploadPluginConfig/${run}-anon",
        )
        .no_created_by()
        .raw("a=b", TEXT),
        delete(
            "tenant-config/delete-plugin-config-never-uploaded",
            "/1.0/kb/tenants/uploadPluginConfig/${run}-never",
        ),
        post("tenant-config/upload-state-machine", STATE_MACHINE)
            .raw("<stateMachineConfig/>", TEXT),
        get("tenant-config/get-state-machine", STATE_MACHINE),
        post("tenant-config/upload-per-tenant-config", PER_TENANT_CONFIG)
            .raw(r#"{"org.killbill.payment.retry.days":"1,2,3"}"#, TEXT),
        get("tenant-config/get-per-tenant-config", PER_TENANT_CONFIG),
        get(
            "tenant-config/search-plugin-keys",
            "/1.0/kb/tenants/uploadPerTenantConfig/PLUGIN_/search",
        ),
        get(
            "tenant-config/search-nothing",
            "/1.0/kb/tenants/uploadPerTenantConfig/${run}-nothing/search",
        ),
        post("tenant-config/add-user-key", USER_KEY).raw("red", TEXT),
        post("tenant-config/add-user-key-again", USER_KEY).raw("blue", TEXT),
        post("tenant-config/add-user-key-untyped", USER_KEY).raw("green", None),
        get("tenant-config/get-user-key", USER_KEY),
        get("tenant-config/get-user-key-other-tenant", USER_KEY).auth(other()),
        delete("tenant-config/delete-user-key", USER_KEY),
        get("tenant-config/get-user-key-after-delete", USER_KEY),
    ]);
}

fn authentication(steps: &mut Vec<Step>) {
    steps.extend([
        get("auth/no-basic-auth", "/1.0/kb/tenants/${tenant}").auth(Auth::None),
        get("auth/wrong-password", "/1.0/kb/tenants/${tenant}")
            .auth(Auth::BasicAs("admin".into(), "wrong-${run}".into())),
        get("auth/no-tenant-headers", "/1.0/kb/tenants/${tenant}").auth(Auth::Basic),
        get("auth/wrong-tenant-secret", "/1.0/kb/tenants/${tenant}")
            .auth(Auth::Keys("${tenantKey}".into(), "wrong-${run}".into())),
        get("auth/unknown-api-key", "/1.0/kb/tenants/${tenant}")
            .auth(Auth::Keys("${run}-nobody".into(), "wrong-${run}".into())),
        get("auth/unknown-route", "/1.0/kb/nothing-here"),
        get("auth/ping", "/1.0/ping").auth(Auth::None),
        step_method_not_allowed(),
    ]);
}

fn step_method_not_allowed() -> Step {
    put("auth/method-not-allowed", "/1.0/kb/tagDefinitions").json("{}")
}

/// The shapes a JSON body must have, on the account creation as a representative of every
/// endpoint that takes an object. In the second tenant: a body one server accepts and the
/// other refuses (a documented difference) must not change what the main tenant's pages list.
fn bodies(steps: &mut Vec<Step>) {
    let first = steps.len();
    let shapes: [(&str, String); 8] = [
        ("array", "[]".to_string()),
        ("nested-array", "[[1]]".to_string()),
        ("deep-array", nested_arrays(200)),
        ("string", "\"account\"".to_string()),
        ("number", "1".to_string()),
        ("boolean", "true".to_string()),
        ("null", "null".to_string()),
        ("trailing-garbage", "{} x".to_string()),
    ];
    for (shape, body) in shapes {
        steps.push(post(&format!("bodies/account-{shape}"), ACCOUNTS).json(&body));
    }
    steps.extend([
        post("bodies/account-empty", ACCOUNTS).raw("", Some("application/json")),
        post("bodies/account-whitespace", ACCOUNTS).raw("  \n", Some("application/json")),
        post("bodies/account-malformed", ACCOUNTS).raw("{\"name\":", Some("application/json")),
        post("bodies/account-no-content-type", ACCOUNTS).raw("{}", None),
        post("bodies/account-text-plain", ACCOUNTS).raw("{}", Some("text/plain")),
        post("bodies/account-unknown-field", ACCOUNTS).json(r#"{"colour":"blue"}"#),
        post("bodies/account-bcd-string", ACCOUNTS).json(r#"{"billCycleDayLocal":"x"}"#),
        post("bodies/account-bcd-object", ACCOUNTS).json(r#"{"billCycleDayLocal":{}}"#),
        post("bodies/account-name-object", ACCOUNTS).json(r#"{"name":{"a":1}}"#),
        post("bodies/account-bad-uuid", ACCOUNTS).json(r#"{"parentAccountId":"not-a-uuid"}"#),
        post("bodies/account-bad-date", ACCOUNTS).json(r#"{"referenceTime":"yesterday"}"#),
        post("bodies/account-bad-boolean", ACCOUNTS).json(r#"{"isMigrated":"perhaps"}"#),
        post(
            "bodies/payment-method-array",
            &format!("{ACCOUNTS}/${{unknown}}/paymentMethods"),
        )
        .json("[]"),
        post("bodies/tag-definition-array", TAG_DEFINITIONS).json("[]"),
        post(
            "bodies/tags-object",
            &format!("{ACCOUNTS}/${{unknown}}/tags"),
        )
        .json("{}"),
        post("bodies/too-large", ACCOUNTS).raw(
            format!("{{\"notes\":\"{}\"}}", "x".repeat(2 * 1024 * 1024)),
            Some("application/json"),
        ),
        post("bodies/account-number-too-large", ACCOUNTS)
            .json(r#"{"billCycleDayLocal":99999999999}"#),
        post("bodies/account-empty-currency", ACCOUNTS).json(r#"{"currency":""}"#),
    ]);
    for step in &mut steps[first..] {
        step.auth = other();
    }
}

fn accounts(steps: &mut Vec<Step>) {
    let full = r#"{"name":"Ada Lovelace","firstNameLength":3,"externalKey":"${run}-ada","email":"ada@example.com","currency":"USD","timeZone":"Europe/London","address1":"1 Analytical Row","address2":"Flat 2","postalCode":"EC1","company":"Engines","city":"London","state":"LDN","country":"GB","locale":"en_GB","phone":"+44 20","notes":"first","isMigrated":false,"referenceTime":"2024-05-01T12:00:00.000Z"}"#;
    steps.extend([
        post("accounts/create", ACCOUNTS).json(full).location_as("acct"),
        post("accounts/create-minimal", ACCOUNTS)
            .json("{}")
            .location_as("bare"),
        post("accounts/create-second", ACCOUNTS)
            .json(r#"{"name":"Grace Hopper","externalKey":"${run}-grace","currency":"USD","email":"grace@example.com"}"#)
            .location_as("grace"),
        post("accounts/create-child", ACCOUNTS)
            .json(r#"{"name":"Child","externalKey":"${run}-child","currency":"USD","parentAccountId":"${acct}","isPaymentDelegatedToParent":true,"billCycleDayLocal":12}"#)
            .location_as("child"),
        // Jackson's coercions: numbers and booleans as text, numeric strings as numbers,
        // integers as booleans, empty strings as absent ids, dates and time zones.
        post("accounts/create-coerced-scalars", ACCOUNTS)
            .json(r#"{"name":5,"company":true,"externalKey":"${run}-coerced","billCycleDayLocal":"7","firstNameLength":4.9,"isMigrated":1,"isPaymentDelegatedToParent":"False","parentAccountId":"","paymentMethodId":"","timeZone":"","referenceTime":"2024-05-01"}"#)
            .location_as("coerced"),
        post("accounts/create-epoch-reference-time", ACCOUNTS)
            .json(r#"{"externalKey":"${run}-epoch","referenceTime":1714557600000,"isMigrated":"true"}"#)
            .location_as("epoch"),
        get("accounts/get-epoch", "/1.0/kb/accounts/${epoch}"),
        post("accounts/create-duplicate-key", ACCOUNTS).json(r#"{"externalKey":"${run}-ada"}"#),
        post("accounts/create-key-too-long", ACCOUNTS)
            .json(&format!(r#"{{"externalKey":"{}"}}"#, "k".repeat(256))),
        post("accounts/create-name-too-long", ACCOUNTS)
            .json(&format!(r#"{{"name":"{}"}}"#, "n".repeat(101))),
        post("accounts/create-bad-currency", ACCOUNTS).json(r#"{"currency":"XXX"}"#),
        post("accounts/create-lowercase-currency", ACCOUNTS).json(r#"{"currency":"usd"}"#),
        post("accounts/create-bad-time-zone", ACCOUNTS).json(r#"{"timeZone":"Mars/Olympus"}"#),
        post("accounts/create-unknown-parent", ACCOUNTS)
            .json(r#"{"parentAccountId":"${unknown}"}"#),
        post("accounts/create-concurrent-same-key", ACCOUNTS)
            .json(r#"{"externalKey":"${run}-race"}"#)
            .concurrent(4),
    ]);
}

fn account_updates(steps: &mut Vec<Step>) {
    let account = "/1.0/kb/accounts/${acct}";
    steps.extend([
        put("accounts/update-name", account)
            .json(r#"{"name":"Ada King","notes":"second"}"#),
        put("accounts/update-same-values", account)
            .json(r#"{"externalKey":"${run}-ada","currency":"USD","timeZone":"Europe/London"}"#),
        put("accounts/update-external-key", account).json(r#"{"externalKey":"${run}-other"}"#),
        put("accounts/update-currency", account).json(r#"{"currency":"EUR"}"#),
        put("accounts/update-time-zone", account).json(r#"{"timeZone":"UTC"}"#),
        put("accounts/update-reference-time", account)
            .json(r#"{"referenceTime":"2020-01-01T00:00:00.000Z"}"#),
        put("accounts/update-bad-currency", account).json(r#"{"currency":"XXX"}"#),
        put("accounts/update-set-bcd", "/1.0/kb/accounts/${grace}").json(r#"{"billCycleDayLocal":5}"#),
        put("accounts/update-change-bcd", "/1.0/kb/accounts/${grace}")
            .json(r#"{"billCycleDayLocal":6}"#),
        put("accounts/update-bare-currency", "/1.0/kb/accounts/${bare}")
            .json(r#"{"currency":"EUR"}"#),
        get("accounts/get-bare-after-currency", "/1.0/kb/accounts/${bare}"),
        put(
            "accounts/update-reset-nulls",
            "/1.0/kb/accounts/${grace}?treatNullAsReset=true",
        )
        .json(r#"{"externalKey":"${run}-grace","currency":"USD","billCycleDayLocal":5,"timeZone":"UTC"}"#),
        get("accounts/get-after-reset", "/1.0/kb/accounts/${grace}"),
        put("accounts/update-unknown", "/1.0/kb/accounts/${unknown}").json(r#"{"name":"x"}"#),
        put("accounts/update-malformed-id", "/1.0/kb/accounts/not-an-id").json(r#"{"name":"x"}"#),
        put("accounts/update-empty-body", account).raw("", Some("application/json")),
        put("accounts/update-array-body", account).json("[]"),
        put("accounts/update-without-created-by", account)
            .no_created_by()
            .json(r#"{"name":"x"}"#),
    ]);
}

fn account_reads(steps: &mut Vec<Step>) {
    steps.extend([
        get("accounts/get", "/1.0/kb/accounts/${acct}"),
        get("accounts/get-child", "/1.0/kb/accounts/${child}"),
        get("accounts/get-coerced", "/1.0/kb/accounts/${coerced}"),
        get(
            "accounts/get-with-balances",
            "/1.0/kb/accounts/${acct}?accountWithBalance=true&accountWithBalanceAndCBA=true",
        ),
        get(
            "accounts/get-audit-full",
            "/1.0/kb/accounts/${acct}?audit=FULL",
        ),
        get(
            "accounts/get-audit-minimal",
            "/1.0/kb/accounts/${acct}?audit=minimal",
        ),
        get(
            "accounts/get-audit-bogus",
            "/1.0/kb/accounts/${acct}?audit=bogus",
        ),
        get("accounts/get-unknown", "/1.0/kb/accounts/${unknown}"),
        get("accounts/get-malformed-id", "/1.0/kb/accounts/not-an-id"),
        get("accounts/get-other-tenant", "/1.0/kb/accounts/${acct}").auth(other()),
        get(
            "accounts/get-by-key",
            "/1.0/kb/accounts?externalKey=${run}-ada",
        ),
        get(
            "accounts/get-by-unknown-key",
            "/1.0/kb/accounts?externalKey=${run}-nobody",
        ),
        get("accounts/get-without-key", ACCOUNTS),
        get("accounts/page", "/1.0/kb/accounts/pagination"),
        get(
            "accounts/page-first",
            "/1.0/kb/accounts/pagination?offset=0&limit=2",
        ),
        get(
            "accounts/page-second",
            "/1.0/kb/accounts/pagination?offset=2&limit=2&audit=MINIMAL",
        ),
        get(
            "accounts/page-bad-offset",
            "/1.0/kb/accounts/pagination?offset=x",
        ),
        get("accounts/search", "/1.0/kb/accounts/search/${run}"),
        get(
            "accounts/search-limited",
            "/1.0/kb/accounts/search/${run}?offset=0&limit=1",
        ),
        get(
            "accounts/search-by-email",
            "/1.0/kb/accounts/search/grace@example.com",
        ),
        get(
            "accounts/search-nothing",
            "/1.0/kb/accounts/search/${run}-nothing",
        ),
        get("accounts/audit-logs", "/1.0/kb/accounts/${acct}/auditLogs"),
        get(
            "accounts/audit-logs-unknown",
            "/1.0/kb/accounts/${unknown}/auditLogs",
        ),
        get(
            "accounts/audit-logs-with-history",
            "/1.0/kb/accounts/${acct}/auditLogsWithHistory",
        ),
        get(
            "accounts/audit-logs-with-history-unknown",
            "/1.0/kb/accounts/${unknown}/auditLogsWithHistory",
        ),
        put(
            "accounts/update-with-request-id",
            "/1.0/kb/accounts/${child}",
        )
        .header("X-Request-Id", "${unknown}")
        .header("X-Killbill-Reason", "reason-${run}")
        .header("X-Killbill-Comment", "comment")
        .json(r#"{"notes":"with a request id"}"#),
        put(
            "accounts/update-base64-headers",
            "/1.0/kb/accounts/${child}",
        )
        .header("X-Killbill-Encoding", "base64")
        .header("X-Killbill-Reason", "cmVhc29u")
        .json(r#"{"notes":"with base64 headers"}"#),
        get(
            "accounts/child-audit-logs",
            "/1.0/kb/accounts/${child}/auditLogs",
        ),
    ]);
}

fn payment_methods(steps: &mut Vec<Step>) {
    let methods = "/1.0/kb/accounts/${acct}/paymentMethods";
    steps.extend([
        post("payment-methods/create-default", &format!("{methods}?isDefault=true"))
            .json(r#"{"pluginName":"__EXTERNAL_PAYMENT__","externalKey":"${run}-pm"}"#)
            .location_as("pm"),
        post("payment-methods/create-second-external", methods)
            .json(r#"{"pluginName":"__EXTERNAL_PAYMENT__"}"#),
        post("payment-methods/create-without-plugin", methods).json(r#"{"externalKey":"x"}"#),
        post("payment-methods/create-unknown-plugin", methods)
            .json(r#"{"pluginName":"no-such-plugin"}"#),
        post("payment-methods/create-gateway-plugin", "/1.0/kb/accounts/${grace}/paymentMethods")
            .json(r#"{"pluginName":"killbill-stripe","pluginInfo":{"properties":[{"key":"ccNumber","value":"4242424242424242"}]}}"#),
        post(
            "payment-methods/create-unknown-account",
            "/1.0/kb/accounts/${unknown}/paymentMethods",
        )
        .json(r#"{"pluginName":"__EXTERNAL_PAYMENT__"}"#),
        post(
            "payment-methods/create-with-plugin-info",
            "/1.0/kb/accounts/${grace}/paymentMethods",
        )
        .json(r#"{"pluginName":"__EXTERNAL_PAYMENT__","pluginInfo":{"externalPaymentMethodId":"ext-${run}","isDefaultPaymentMethod":true,"properties":[{"key":"k","value":"v","isUpdatable":false}]}}"#)
        .location_as("gracePm"),
        post(
            "payment-methods/create-duplicate-key",
            "/1.0/kb/accounts/${child}/paymentMethods",
        )
        .json(r#"{"pluginName":"__EXTERNAL_PAYMENT__","externalKey":"${run}-pm"}"#),
        post(
            "payment-methods/create-child",
            "/1.0/kb/accounts/${child}/paymentMethods?isDefault=true",
        )
        .json(r#"{"pluginName":"__EXTERNAL_PAYMENT__"}"#)
        .location_as("childPm"),
        post("payment-methods/create-without-created-by", methods)
            .no_created_by()
            .json(r#"{"pluginName":"__EXTERNAL_PAYMENT__"}"#),
        get("payment-methods/list", methods),
        get(
            "payment-methods/list-with-plugin-info",
            &format!("{methods}?withPluginInfo=true&audit=FULL"),
        ),
        get(
            "payment-methods/list-unknown-account",
            "/1.0/kb/accounts/${unknown}/paymentMethods",
        ),
        get("payment-methods/get", "/1.0/kb/paymentMethods/${pm}"),
        get(
            "payment-methods/get-with-plugin-info",
            "/1.0/kb/paymentMethods/${gracePm}?withPluginInfo=true",
        ),
        get("payment-methods/get-audit-full", "/1.0/kb/paymentMethods/${pm}?audit=FULL"),
        get("payment-methods/get-unknown", "/1.0/kb/paymentMethods/${unknown}"),
        get("payment-methods/get-malformed-id", "/1.0/kb/paymentMethods/not-an-id"),
        get("payment-methods/get-by-key", "/1.0/kb/paymentMethods?externalKey=${run}-pm"),
        get(
            "payment-methods/get-by-unknown-key",
            "/1.0/kb/paymentMethods?externalKey=${run}-nothing",
        ),
        get(
            "payment-methods/audit-logs-with-history",
            "/1.0/kb/paymentMethods/${pm}/auditLogsWithHistory",
        ),
        get(
            "payment-methods/audit-logs-with-history-unknown",
            "/1.0/kb/paymentMethods/${unknown}/auditLogsWithHistory",
        ),
        put(
            "payment-methods/set-default",
            "/1.0/kb/accounts/${grace}/paymentMethods/${gracePm}/setDefault",
        ),
        put(
            "payment-methods/set-default-unknown-method",
            "/1.0/kb/accounts/${grace}/paymentMethods/${unknown}/setDefault",
        ),
        put(
            "payment-methods/set-default-other-accounts-method",
            "/1.0/kb/accounts/${grace}/paymentMethods/${pm}/setDefault",
        ),
        put(
            "payment-methods/set-default-unknown-account",
            "/1.0/kb/accounts/${unknown}/paymentMethods/${pm}/setDefault",
        ),
        get("payment-methods/grace-after-set-default", "/1.0/kb/accounts/${grace}"),
    ]);
}

/// A payment on the main account: `body` is the PaymentTransactionJson.
fn pay(name: &str, body: &str) -> Step {
    post(name, "/1.0/kb/accounts/${acct}/payments").json(body)
}

fn payments(steps: &mut Vec<Step>) {
    let payment = |var: &str| format!("{PAYMENTS}/${{{var}}}");
    steps.extend([
        pay(
            "payments/authorize",
            r#"{"transactionType":"AUTHORIZE","amount":10,"currency":"USD","paymentExternalKey":"${run}-auth","transactionExternalKey":"${run}-auth-t1"}"#,
        )
        .location_as("auth"),
        get("payments/get-authorized", &payment("auth")),
        post("payments/capture", &payment("auth"))
            .json(r#"{"amount":4,"currency":"USD","transactionExternalKey":"${run}-cap1"}"#),
        post("payments/capture-again", &payment("auth"))
            .json(r#"{"amount":3,"transactionExternalKey":"${run}-cap2"}"#),
        post("payments/capture-other-currency", &payment("auth"))
            .json(r#"{"amount":1,"currency":"EUR"}"#),
        post("payments/capture-without-amount", &payment("auth")).json(r#"{"currency":"USD"}"#),
        post("payments/capture-by-key", PAYMENTS)
            .json(r#"{"paymentExternalKey":"${run}-auth","amount":1,"currency":"USD"}"#),
        post("payments/capture-by-key-without-key", PAYMENTS).json(r#"{"amount":1}"#),
        post("payments/capture-by-unknown-key", PAYMENTS)
            .json(r#"{"paymentExternalKey":"${run}-nothing","amount":1}"#),
        post("payments/refund-captured", &format!("{}/refunds", payment("auth")))
            .json(r#"{"amount":2,"currency":"USD"}"#),
        delete("payments/void-after-capture", &payment("auth")),
        get("payments/get-captured", &format!("{}?audit=FULL", payment("auth"))),
        pay(
            "payments/authorize-to-void",
            r#"{"transactionType":"AUTHORIZE","amount":5,"currency":"USD","paymentExternalKey":"${run}-void"}"#,
        )
        .location_as("voided"),
        delete("payments/void", &payment("voided")),
        get("payments/get-voided", &payment("voided")),
        delete("payments/void-again", &payment("voided")),
        pay(
            "payments/authorize-to-void-by-key",
            r#"{"transactionType":"AUTHORIZE","amount":5,"paymentExternalKey":"${run}-void2"}"#,
        )
        .location_as("voided2"),
        delete("payments/void-by-key", PAYMENTS).json(r#"{"paymentExternalKey":"${run}-void2"}"#),
        delete("payments/void-by-key-without-key", PAYMENTS).json("{}"),
        pay(
            "payments/purchase",
            r#"{"transactionType":"PURCHASE","amount":"12.345","currency":"USD","paymentExternalKey":"${run}-buy","transactionExternalKey":"${run}-buy-t1","properties":[{"key":"ignored","value":"on a new payment"}]}"#,
        )
        .location_as("purchase"),
        get("payments/get-purchase", &payment("purchase"))
            .capture("/transactions/0/transactionId", "purchaseTx"),
        post("payments/refund", &format!("{}/refunds", payment("purchase")))
            .json(r#"{"amount":2.5,"transactionExternalKey":"${run}-ref1","properties":[{"key":"k","value":"v"}]}"#),
        post("payments/refund-by-key", "/1.0/kb/payments/refunds")
            .json(r#"{"paymentExternalKey":"${run}-buy","amount":1}"#),
        post("payments/refund-by-key-without-key", "/1.0/kb/payments/refunds")
            .json(r#"{"amount":1}"#),
        post("payments/capture-purchase", &payment("purchase")).json(r#"{"amount":1}"#),
        delete("payments/void-purchase", &payment("purchase")),
        pay(
            "payments/purchase-negative",
            r#"{"transactionType":"PURCHASE","amount":-5,"currency":"USD"}"#,
        )
        .location_as("negative"),
        get("payments/get-negative", &payment("negative")),
        pay(
            "payments/purchase-zero",
            r#"{"transactionType":"PURCHASE","amount":0,"currency":"USD"}"#,
        ),
        pay(
            "payments/credit",
            r#"{"transactionType":"CREDIT","amount":3,"currency":"USD","paymentExternalKey":"${run}-credit"}"#,
        )
        .location_as("credit"),
        post("payments/refund-credit", &format!("{}/refunds", payment("credit")))
            .json(r#"{"amount":1}"#),
        pay(
            "payments/purchase-reused-transaction-key",
            r#"{"transactionType":"PURCHASE","amount":1,"transactionExternalKey":"${run}-buy-t1"}"#,
        ),
        pay(
            "payments/authorize-reused-payment-key",
            r#"{"transactionType":"AUTHORIZE","amount":1,"paymentExternalKey":"${run}-buy"}"#,
        ),
        post("payments/purchase-by-account-key", "/1.0/kb/accounts/payments?externalKey=${run}-ada")
            .json(r#"{"transactionType":"PURCHASE","amount":2,"currency":"USD"}"#),
        post(
            "payments/purchase-by-unknown-account-key",
            "/1.0/kb/accounts/payments?externalKey=${run}-nobody",
        )
        .json(r#"{"transactionType":"PURCHASE","amount":2}"#),
        post("payments/purchase-by-account-key-without-key", "/1.0/kb/accounts/payments")
            .json(r#"{"transactionType":"PURCHASE","amount":2}"#),
        pay(
            "payments/purchase-with-payment-method",
            r#"{"transactionType":"PURCHASE","amount":1,"currency":"USD"}"#,
        )
        .header("X-Request-Id", "${unknown}"),
        post(
            "payments/purchase-named-method",
            "/1.0/kb/accounts/${acct}/payments?paymentMethodId=${pm}",
        )
        .json(r#"{"transactionType":"PURCHASE","amount":1}"#),
    ]);
}

fn payment_refusals(steps: &mut Vec<Step>) {
    let on = |property: &str| {
        format!("/1.0/kb/accounts/${{acct}}/payments?pluginProperty={property}=true")
    };
    let purchase = r#"{"transactionType":"PURCHASE","amount":7,"currency":"USD"}"#;
    steps.extend([
        post("payments/declined", &on("killbill.external.payment.fail.error"))
            .json(r#"{"transactionType":"PURCHASE","amount":7,"currency":"USD","transactionExternalKey":"${run}-retry"}"#)
            .location_as("declined"),
        get("payments/get-declined", "/1.0/kb/payments/${declined}"),
        // A transaction key whose transaction failed may be used again: a retry.
        pay(
            "payments/retry-declined",
            r#"{"transactionType":"PURCHASE","amount":7,"currency":"USD","transactionExternalKey":"${run}-retry"}"#,
        ),
        get("payments/get-retried", "/1.0/kb/payments/${declined}"),
        post("payments/refund-with-capture-key", "/1.0/kb/payments/${auth}/refunds")
            .json(r#"{"amount":1,"transactionExternalKey":"${run}-cap1"}"#),
        post("payments/capture-with-other-payments-key", "/1.0/kb/payments/${voided2}")
            .json(r#"{"amount":1,"transactionExternalKey":"${run}-auth-t1"}"#),
        post("payments/plugin-failure", &on("killbill.external.payment.fail.cancellation"))
            .json(purchase),
        post("payments/plugin-exception", &on("killbill.external.payment.fail.exception"))
            .json(purchase),
        post("payments/plugin-timeout", &on("killbill.external.payment.fail.timeout"))
            .json(purchase),
        pay("payments/capture-on-account", r#"{"transactionType":"CAPTURE","amount":1}"#),
        pay("payments/refund-on-account", r#"{"transactionType":"REFUND","amount":1}"#),
        pay("payments/without-type", r#"{"amount":1}"#),
        pay("payments/bad-type", r#"{"transactionType":"STEAL","amount":1}"#),
        pay("payments/without-amount", r#"{"transactionType":"PURCHASE"}"#),
        pay("payments/bad-amount", r#"{"transactionType":"PURCHASE","amount":"lots"}"#),
        pay("payments/bad-currency", r#"{"transactionType":"PURCHASE","amount":1,"currency":"XXX"}"#),
        pay(
            "payments/other-currency",
            r#"{"transactionType":"PURCHASE","amount":1,"currency":"EUR"}"#,
        ),
        post("payments/no-currency", "/1.0/kb/accounts/${bare}/payments")
            .json(r#"{"transactionType":"PURCHASE","amount":1}"#),
        post("payments/no-payment-method", "/1.0/kb/accounts/${bare}/payments")
            .json(r#"{"transactionType":"PURCHASE","amount":1,"currency":"USD"}"#),
        post(
            "payments/unknown-payment-method",
            "/1.0/kb/accounts/${acct}/payments?paymentMethodId=${unknown}",
        )
        .json(purchase),
        post(
            "payments/other-accounts-payment-method",
            "/1.0/kb/accounts/${acct}/payments?paymentMethodId=${gracePm}",
        )
        .json(purchase),
        post(
            "payments/malformed-payment-method-id",
            "/1.0/kb/accounts/${acct}/payments?paymentMethodId=nope",
        )
        .json(purchase),
        post("payments/unknown-account", "/1.0/kb/accounts/${unknown}/payments").json(purchase),
        pay("payments/array-body", "[]"),
        pay("payments/unknown-field", r#"{"transactionType":"PURCHASE","amount":1,"colour":"blue"}"#),
        post("payments/capture-unknown-payment", "/1.0/kb/payments/${unknown}")
            .json(r#"{"amount":1}"#),
        post("payments/refund-unknown-payment", "/1.0/kb/payments/${unknown}/refunds")
            .json(r#"{"amount":1}"#),
        delete("payments/void-unknown-payment", "/1.0/kb/payments/${unknown}"),
        post(
            "payments/refund-authorization",
            "/1.0/kb/payments/${voided2}/refunds",
        )
        .json(r#"{"amount":1}"#),
        // A payment of another account, whose key the main account then reuses.
        post("payments/purchase-on-child", "/1.0/kb/accounts/${child}/payments")
            .json(r#"{"transactionType":"PURCHASE","amount":1,"paymentExternalKey":"${run}-child-pay"}"#),
        pay(
            "payments/key-of-other-account",
            r#"{"transactionType":"PURCHASE","amount":1,"paymentExternalKey":"${run}-child-pay"}"#,
        ),
    ]);
}

fn payment_reads(steps: &mut Vec<Step>) {
    steps.extend([
        get(
            "payments/get-with-plugin-info",
            "/1.0/kb/payments/${purchase}?withPluginInfo=true",
        ),
        get(
            "payments/get-with-attempts",
            "/1.0/kb/payments/${purchase}?withAttempts=true",
        ),
        get(
            "payments/get-audit-full",
            "/1.0/kb/payments/${purchase}?audit=FULL",
        ),
        get(
            "payments/get-trailing-slash",
            "/1.0/kb/payments/${purchase}/",
        ),
        get("payments/get-unknown", "/1.0/kb/payments/${unknown}"),
        get("payments/get-malformed-id", "/1.0/kb/payments/not-an-id"),
        get("payments/get-other-tenant", "/1.0/kb/payments/${purchase}").auth(other()),
        get(
            "payments/get-by-key",
            "/1.0/kb/payments?externalKey=${run}-buy",
        ),
        get(
            "payments/get-by-unknown-key",
            "/1.0/kb/payments?externalKey=${run}-nothing",
        ),
        get("payments/get-without-key", PAYMENTS),
        get(
            "payments/list-for-account",
            "/1.0/kb/accounts/${acct}/payments",
        ),
        get(
            "payments/list-for-account-with-plugin-info",
            "/1.0/kb/accounts/${child}/payments?withPluginInfo=true&withAttempts=true",
        ),
        get(
            "payments/list-for-unknown-account",
            "/1.0/kb/accounts/${unknown}/payments",
        ),
        get(
            "payments/page",
            "/1.0/kb/payments/pagination?offset=0&limit=3",
        ),
        get(
            "payments/page-with-options",
            "/1.0/kb/payments/pagination?offset=1&limit=2&withPluginInfo=true&audit=MINIMAL",
        ),
        get(
            "payments/page-bad-limit",
            "/1.0/kb/payments/pagination?limit=x",
        ),
        get("payments/search", "/1.0/kb/payments/search/${run}-buy"),
        get(
            "payments/search-limited",
            "/1.0/kb/payments/search/SUCCESS?offset=0&limit=2",
        ),
        get(
            "payments/search-nothing",
            "/1.0/kb/payments/search/${run}-nothing",
        ),
        get(
            "payments/account-audit-logs",
            "/1.0/kb/accounts/${acct}/auditLogs",
        ),
    ]);
}

fn tags(steps: &mut Vec<Step>) {
    let account_tags = "/1.0/kb/accounts/${acct}/tags";
    steps.extend([
        get("tags/definitions", TAG_DEFINITIONS),
        post("tags/create-definition", TAG_DEFINITIONS)
            .json(r#"{"name":"vip-${run}","description":"Very important","applicableObjectTypes":["ACCOUNT"]}"#)
            .location_as("vip"),
        post("tags/create-definition-unused", TAG_DEFINITIONS)
            .json(r#"{"name":"spare-${run}","description":"Unused","applicableObjectTypes":["ACCOUNT","INVOICE"]}"#)
            .location_as("spare"),
        post("tags/create-definition-control-name", TAG_DEFINITIONS)
            .json(r#"{"name":"auto_pay_off","description":"A user tag named like a control tag","applicableObjectTypes":["ACCOUNT"]}"#),
        post("tags/create-definition-duplicate", TAG_DEFINITIONS)
            .json(r#"{"name":"vip-${run}","description":"Again","applicableObjectTypes":["ACCOUNT"]}"#),
        post("tags/create-definition-uppercase", TAG_DEFINITIONS)
            .json(r#"{"name":"VIP-${run}","description":"Loud","applicableObjectTypes":["ACCOUNT"]}"#),
        post("tags/create-definition-without-name", TAG_DEFINITIONS)
            .json(r#"{"description":"d","applicableObjectTypes":["ACCOUNT"]}"#),
        post("tags/create-definition-without-description", TAG_DEFINITIONS)
            .json(r#"{"name":"nodesc-${run}","applicableObjectTypes":["ACCOUNT"]}"#),
        post("tags/create-definition-without-types", TAG_DEFINITIONS)
            .json(r#"{"name":"notypes-${run}","description":"d"}"#),
        post("tags/create-definition-bad-type", TAG_DEFINITIONS)
            .json(r#"{"name":"badtype-${run}","description":"d","applicableObjectTypes":["SPACESHIP"]}"#),
        get("tags/definitions-after", &format!("{TAG_DEFINITIONS}?audit=FULL")),
        get("tags/definition", "/1.0/kb/tagDefinitions/${vip}"),
        get("tags/definition-control", &format!("/1.0/kb/tagDefinitions/{AUTO_PAY_OFF}")),
        get("tags/definition-unknown", "/1.0/kb/tagDefinitions/${unknown}"),
        get("tags/definition-malformed-id", "/1.0/kb/tagDefinitions/not-an-id"),
        get(
            "tags/definition-audit-logs-with-history",
            "/1.0/kb/tagDefinitions/${vip}/auditLogsWithHistory",
        ),
        get(
            "tags/definition-audit-logs-with-history-unknown",
            "/1.0/kb/tagDefinitions/${unknown}/auditLogsWithHistory",
        ),
        post("tags/add", account_tags).json(r#"["${vip}"]"#),
        post("tags/add-again", account_tags).json(r#"["${vip}"]"#),
        post("tags/add-control", "/1.0/kb/accounts/${grace}/tags").json(&format!(r#"["{AUTO_PAY_OFF}"]"#)),
        post("tags/add-unknown-definition", account_tags).json(r#"["${unknown}"]"#),
        post("tags/add-system-tag", account_tags).json(&format!(r#"["{PARK}"]"#)),
        post("tags/add-inapplicable-control", account_tags).json(&format!(r#"["{WRITTEN_OFF}"]"#)),
        post("tags/add-null-body", account_tags).json("null"),
        post("tags/add-empty-list", account_tags).json("[]"),
        post("tags/add-malformed-id", account_tags).json(r#"["nope"]"#),
        post("tags/add-unknown-account", "/1.0/kb/accounts/${unknown}/tags").json(r#"["${vip}"]"#),
        get("tags/list", account_tags),
        get("tags/list-audit-full", &format!("{account_tags}?audit=FULL")),
        get("tags/list-unknown-account", "/1.0/kb/accounts/${unknown}/tags"),
        delete("tags/delete-definition-in-use", "/1.0/kb/tagDefinitions/${vip}"),
        delete("tags/remove", &format!("{account_tags}?tagDef=${{vip}}")),
        delete("tags/remove-again", &format!("{account_tags}?tagDef=${{vip}}")),
        delete("tags/remove-unknown-definition", &format!("{account_tags}?tagDef=${{unknown}}")),
        delete("tags/remove-malformed-id", &format!("{account_tags}?tagDef=nope")),
        delete("tags/remove-none", account_tags),
        get("tags/list-included-deleted", &format!("{account_tags}?includedDeleted=true")),
        delete("tags/delete-definition", "/1.0/kb/tagDefinitions/${spare}"),
        delete("tags/delete-definition-again", "/1.0/kb/tagDefinitions/${spare}"),
        delete("tags/delete-control-definition", &format!("/1.0/kb/tagDefinitions/{AUTO_PAY_OFF}")),
        delete("tags/delete-unknown-definition", "/1.0/kb/tagDefinitions/${unknown}"),
        get("tags/definitions-after-delete", TAG_DEFINITIONS),
    ]);
}

fn custom_fields(steps: &mut Vec<Step>) {
    let account_fields = "/1.0/kb/accounts/${acct}/customFields";
    let search = "/1.0/kb/customFields/search";
    steps.extend([
        post("custom-fields/add-account", account_fields)
            .json(r#"[{"name":"color-${run}","value":"red"},{"name":"size","value":"L"}]"#),
        post("custom-fields/add-account-duplicate", account_fields)
            .json(r#"[{"name":"color-${run}","value":"red"}]"#),
        post("custom-fields/add-same-name-other-value", account_fields)
            .json(r#"[{"name":"color-${run}","value":"blue","objectType":"PAYMENT","objectId":"${unknown}","customFieldId":"${unknown}"}]"#),
        post("custom-fields/add-duplicate-in-one-request", account_fields)
            .json(r#"[{"name":"twice","value":"1"},{"name":"twice","value":"1"}]"#),
        post("custom-fields/add-without-name", account_fields).json(r#"[{"value":"v"}]"#),
        post("custom-fields/add-without-value", account_fields).json(r#"[{"name":"n"}]"#),
        post("custom-fields/add-empty-value", account_fields)
            .json(r#"[{"name":"n","value":""}]"#),
        post("custom-fields/add-empty-list", account_fields).json("[]"),
        post("custom-fields/add-null-body", account_fields).json("null"),
        post("custom-fields/add-object-body", account_fields).json("{}"),
        post("custom-fields/add-unknown-field", account_fields)
            .json(r#"[{"name":"n","value":"v","colour":"blue"}]"#),
        post("custom-fields/add-bad-object-type", account_fields)
            .json(r#"[{"name":"n","value":"v","objectType":"SPACESHIP"}]"#),
        post("custom-fields/add-name-too-long", account_fields)
            .json(&format!(r#"[{{"name":"{}","value":"v"}}]"#, "n".repeat(65))),
        post(
            "custom-fields/add-unknown-account",
            "/1.0/kb/accounts/${unknown}/customFields",
        )
        .json(r#"[{"name":"n","value":"v"}]"#),
        post("custom-fields/add-other-tenant-account", account_fields)
            .auth(other())
            .json(r#"[{"name":"n","value":"v"}]"#),
        post("custom-fields/add-without-created-by", account_fields)
            .no_created_by()
            .json(r#"[{"name":"n","value":"v"}]"#),
        get("custom-fields/list-account", account_fields),
        get(
            "custom-fields/list-account-audit-full",
            &format!("{account_fields}?audit=FULL"),
        )
        .capture("/0/customFieldId", "field"),
        get(
            "custom-fields/list-unknown-account",
            "/1.0/kb/accounts/${unknown}/customFields",
        ),
        get("custom-fields/list-other-tenant", account_fields).auth(other()),
        put("custom-fields/modify", account_fields)
            .json(r#"[{"customFieldId":"${field}","name":"color-${run}","value":"green"}]"#),
        put("custom-fields/modify-rename", account_fields)
            .json(r#"[{"customFieldId":"${field}","name":"renamed","value":"green"}]"#),
        put("custom-fields/modify-without-id", account_fields).json(r#"[{"value":"green"}]"#),
        put("custom-fields/modify-without-value", account_fields)
            .json(r#"[{"customFieldId":"${field}"}]"#),
        put("custom-fields/modify-unknown-field", account_fields)
            .json(r#"[{"customFieldId":"${unknown}","value":"green"}]"#),
        put(
            "custom-fields/modify-unknown-account",
            "/1.0/kb/accounts/${unknown}/customFields",
        )
        .json(r#"[{"customFieldId":"${field}","value":"green"}]"#),
        put(
            "custom-fields/modify-through-payment",
            "/1.0/kb/payments/${purchase}/customFields",
        )
        .json(r#"[{"customFieldId":"${field}","value":"green"}]"#),
        put("custom-fields/modify-empty-list", account_fields).json("[]"),
        put("custom-fields/modify-null-body", account_fields).json("null"),
        post(
            "custom-fields/add-payment-method",
            "/1.0/kb/paymentMethods/${pm}/customFields",
        )
        .json(r#"[{"name":"pm-${run}","value":"1"}]"#),
        post(
            "custom-fields/add-unknown-payment-method",
            "/1.0/kb/paymentMethods/${unknown}/customFields",
        )
        .json(r#"[{"name":"n","value":"v"}]"#),
        get(
            "custom-fields/list-payment-method",
            "/1.0/kb/paymentMethods/${pm}/customFields?audit=MINIMAL",
        ),
        post(
            "custom-fields/add-payment",
            "/1.0/kb/payments/${purchase}/customFields",
        )
        .json(r#"[{"name":"pay-${run}","value":"1"},{"name":"order","value":"42"}]"#),
        post(
            "custom-fields/add-unknown-payment",
            "/1.0/kb/payments/${unknown}/customFields",
        )
        .json(r#"[{"name":"n","value":"v"}]"#),
        get(
            "custom-fields/list-payment",
            "/1.0/kb/payments/${purchase}/customFields",
        ),
        post(
            "custom-fields/add-transaction",
            "/1.0/kb/paymentTransactions/${purchaseTx}/customFields",
        )
        .json(r#"[{"name":"tx-${run}","value":"1"}]"#),
        post(
            "custom-fields/add-unknown-transaction",
            "/1.0/kb/paymentTransactions/${unknown}/customFields",
        )
        .json(r#"[{"name":"n","value":"v"}]"#),
        get(
            "custom-fields/list-transaction",
            "/1.0/kb/paymentTransactions/${purchaseTx}/customFields?audit=FULL",
        ),
        put(
            "custom-fields/modify-unknown-field-of-payment-method",
            "/1.0/kb/paymentMethods/${pm}/customFields",
        )
        .json(r#"[{"customFieldId":"${unknown}","value":"2"}]"#),
        put(
            "custom-fields/modify-account-field-through-transaction",
            "/1.0/kb/paymentTransactions/${purchaseTx}/customFields",
        )
        .json(r#"[{"customFieldId":"${field}","value":"2"}]"#),
        delete(
            "custom-fields/delete-all-of-payment-method",
            "/1.0/kb/paymentMethods/${pm}/customFields",
        ),
        delete(
            "custom-fields/delete-unknown-id-of-transaction",
            "/1.0/kb/paymentTransactions/${purchaseTx}/customFields?customField=${unknown}",
        ),
        get(
            "custom-fields/all-for-account",
            "/1.0/kb/accounts/${acct}/allCustomFields",
        ),
        get(
            "custom-fields/all-for-account-by-type",
            "/1.0/kb/accounts/${acct}/allCustomFields?objectType=PAYMENT&audit=MINIMAL",
        ),
        get(
            "custom-fields/all-for-unknown-account",
            "/1.0/kb/accounts/${unknown}/allCustomFields",
        ),
        get(
            "custom-fields/all-bad-object-type",
            "/1.0/kb/accounts/${acct}/allCustomFields?objectType=SPACESHIP",
        ),
        get(
            "custom-fields/page",
            "/1.0/kb/customFields/pagination?offset=0&limit=2",
        ),
        get(
            "custom-fields/page-second",
            "/1.0/kb/customFields/pagination?offset=2&limit=2&audit=FULL",
        ),
        get(
            "custom-fields/page-bad-limit",
            "/1.0/kb/customFields/pagination?limit=x",
        ),
        get("custom-fields/search", &format!("{search}/color-${{run}}")),
        get(
            "custom-fields/search-limited",
            &format!("{search}/${{run}}?offset=0&limit=1&audit=MINIMAL"),
        ),
        get("custom-fields/search-nothing", &format!("{search}/${{run}}-nothing")),
        get(
            "custom-fields/search-by-name",
            &format!("{search}?objectType=ACCOUNT&fieldName=color-${{run}}&fieldValue=blue"),
        ),
        get(
            "custom-fields/search-by-name-next-page",
            &format!("{search}?objectType=ACCOUNT&fieldName=color-${{run}}&limit=1"),
        ),
        get(
            "custom-fields/search-by-name-without-type",
            &format!("{search}?fieldName=color-${{run}}"),
        ),
        get(
            "custom-fields/search-by-name-without-name",
            &format!("{search}?objectType=ACCOUNT"),
        ),
        get(
            "custom-fields/search-by-name-bad-type",
            &format!("{search}?objectType=SPACESHIP&fieldName=n"),
        ),
        get(
            "custom-fields/audit-logs-with-history",
            "/1.0/kb/customFields/${field}/auditLogsWithHistory",
        ),
        get(
            "custom-fields/audit-logs-with-history-unknown",
            "/1.0/kb/customFields/${unknown}/auditLogsWithHistory",
        ),
        get(
            "custom-fields/audit-logs-with-history-other-tenant",
            "/1.0/kb/customFields/${field}/auditLogsWithHistory",
        )
        .auth(other()),
        delete(
            "custom-fields/delete-unknown-id",
            &format!("{account_fields}?customField=${{unknown}}"),
        ),
        delete(
            "custom-fields/delete-malformed-id",
            &format!("{account_fields}?customField=nope"),
        ),
        delete(
            "custom-fields/delete",
            &format!("{account_fields}?customField=${{field}}"),
        ),
        delete(
            "custom-fields/delete-all-of-payment",
            "/1.0/kb/payments/${purchase}/customFields",
        ),
        delete(
            "custom-fields/delete-unknown-account",
            "/1.0/kb/accounts/${unknown}/customFields",
        ),
        get("custom-fields/list-account-after-delete", account_fields),
        get(
            "custom-fields/audit-logs-with-history-after-delete",
            "/1.0/kb/customFields/${field}/auditLogsWithHistory",
        ),
        put("custom-fields/modify-deleted", account_fields)
            .json(r#"[{"customFieldId":"${field}","value":"again"}]"#),
    ]);
}

fn object_tags(steps: &mut Vec<Step>) {
    let payment_tags = "/1.0/kb/payments/${purchase}/tags";
    let transaction_tags = "/1.0/kb/paymentTransactions/${purchaseTx}/tags";
    steps.extend([
        post("tags/add-payment", payment_tags).json(r#"["${vip}"]"#),
        post("tags/add-payment-again", payment_tags).json(r#"["${vip}"]"#),
        post("tags/add-payment-control", payment_tags).json(&format!(r#"["{AUTO_PAY_OFF}"]"#)),
        post("tags/add-payment-unknown-definition", payment_tags).json(r#"["${unknown}"]"#),
        post("tags/add-unknown-payment", "/1.0/kb/payments/${unknown}/tags")
            .json(r#"["${vip}"]"#),
        post("tags/add-payment-other-tenant", payment_tags)
            .auth(other())
            .json(r#"["${vip}"]"#),
        get("tags/list-payment", &format!("{payment_tags}?audit=FULL")),
        get("tags/list-unknown-payment", "/1.0/kb/payments/${unknown}/tags"),
        post("tags/add-transaction", transaction_tags).json(r#"["${vip}"]"#),
        post(
            "tags/add-unknown-transaction",
            "/1.0/kb/paymentTransactions/${unknown}/tags",
        )
        .json(r#"["${vip}"]"#),
        get("tags/list-transaction", transaction_tags),
        get(
            "tags/list-unknown-transaction",
            "/1.0/kb/paymentTransactions/${unknown}/tags",
        ),
        delete(
            "tags/remove-transaction",
            &format!("{transaction_tags}?tagDef=${{vip}}"),
        ),
        delete(
            "tags/remove-transaction-again",
            &format!("{transaction_tags}?tagDef=${{vip}}"),
        ),
        delete(
            "tags/remove-unknown-payment",
            "/1.0/kb/payments/${unknown}/tags?tagDef=${vip}",
        ),
        get(
            "tags/list-transaction-included-deleted",
            &format!("{transaction_tags}?includedDeleted=true&audit=FULL"),
        )
        .capture("/0/tagId", "txTag"),
        get("tags/all-for-account", "/1.0/kb/accounts/${acct}/allTags"),
        get(
            "tags/all-for-account-by-type",
            "/1.0/kb/accounts/${acct}/allTags?objectType=TRANSACTION&includedDeleted=true&audit=MINIMAL",
        ),
        get("tags/all-for-unknown-account", "/1.0/kb/accounts/${unknown}/allTags"),
        get(
            "tags/all-bad-object-type",
            "/1.0/kb/accounts/${acct}/allTags?objectType=SPACESHIP",
        ),
        get("tags/page", "/1.0/kb/tags/pagination?offset=0&limit=1"),
        get(
            "tags/page-second",
            "/1.0/kb/tags/pagination?offset=1&limit=1&audit=FULL",
        ),
        get("tags/page-bad-offset", "/1.0/kb/tags/pagination?offset=x"),
        get("tags/search", "/1.0/kb/tags/search/vip-${run}"),
        get("tags/search-by-object-type", "/1.0/kb/tags/search/TRANSACTION"),
        get(
            "tags/search-control-description",
            "/1.0/kb/tags/search/Suspends payments",
        ),
        get("tags/search-nothing", "/1.0/kb/tags/search/${run}-nothing"),
        get(
            "tags/audit-logs-with-history",
            "/1.0/kb/tags/${txTag}/auditLogsWithHistory",
        ),
        get(
            "tags/audit-logs-with-history-unknown",
            "/1.0/kb/tags/${unknown}/auditLogsWithHistory",
        ),
        get(
            "tags/audit-logs-with-history-other-tenant",
            "/1.0/kb/tags/${txTag}/auditLogsWithHistory",
        )
        .auth(other()),
    ]);
}

/// An account's emails, children and export.
fn account_extras(steps: &mut Vec<Step>) {
    let emails = "/1.0/kb/accounts/${acct}/emails";
    steps.extend([
        get("emails/list-none", emails),
        post("emails/add", emails).json(r#"{"accountId":"${acct}","email":"ada-${run}@example.com"}"#),
        post("emails/add-again", emails)
            .json(r#"{"accountId":"${acct}","email":"ada-${run}@example.com"}"#),
        post("emails/add-second", emails)
            .json(r#"{"accountId":"${acct}","email":"lovelace-${run}@example.com"}"#),
        post("emails/add-empty", emails).json(r#"{"accountId":"${acct}","email":""}"#),
        post("emails/add-null-body", emails).json("null"),
        post("emails/add-unknown-field", emails).json(r#"{"email":"x@example.com","colour":"blue"}"#),
        post("emails/add-unknown-account", "/1.0/kb/accounts/${unknown}/emails")
            .json(r#"{"accountId":"${unknown}","email":"x@example.com"}"#),
        post("emails/add-other-tenant", emails)
            .auth(other())
            .json(r#"{"accountId":"${acct}","email":"x@example.com"}"#),
        // The account's id left out of the body, and another account's: Kill Bill files the
        // address under the body's id (on an account whose emails are never listed after).
        post("emails/add-without-account-id", "/1.0/kb/accounts/${bare}/emails")
            .json(r#"{"email":"bare-${run}@example.com"}"#),
        post("emails/add-other-account-id", "/1.0/kb/accounts/${bare}/emails")
            .json(r#"{"accountId":"${coerced}","email":"coerced-${run}@example.com"}"#),
        get("emails/list", emails),
        get("emails/list-unknown-account", "/1.0/kb/accounts/${unknown}/emails"),
        delete("emails/delete", "/1.0/kb/accounts/${acct}/emails/lovelace-${run}@example.com"),
        delete(
            "emails/delete-again",
            "/1.0/kb/accounts/${acct}/emails/lovelace-${run}@example.com",
        ),
        delete(
            "emails/delete-unknown-account",
            "/1.0/kb/accounts/${unknown}/emails/x@example.com",
        ),
        get("emails/list-after-delete", emails),
        get("emails/account-audit-logs", "/1.0/kb/accounts/${acct}/auditLogs")
            .capture("/0/objectId", "email"),
        get(
            "emails/audit-logs-with-history",
            "/1.0/kb/accounts/${acct}/emails/${email}/auditLogsWithHistory",
        ),
        get(
            "emails/audit-logs-with-history-unknown-email",
            "/1.0/kb/accounts/${acct}/emails/${unknown}/auditLogsWithHistory",
        ),
        get(
            "emails/audit-logs-with-history-unknown-account",
            "/1.0/kb/accounts/${unknown}/emails/${email}/auditLogsWithHistory",
        ),
        get("children/list", "/1.0/kb/accounts/${acct}/children"),
        get(
            "children/list-with-options",
            "/1.0/kb/accounts/${acct}/children?audit=MINIMAL&accountWithBalance=true&accountWithBalanceAndCBA=true",
        ),
        get("children/list-none", "/1.0/kb/accounts/${child}/children"),
        get("children/list-unknown", "/1.0/kb/accounts/${unknown}/children"),
        get(
            "children/list-bad-audit",
            "/1.0/kb/accounts/${acct}/children?audit=bogus",
        ),
        // The export's content is each server's own tables: its kind is compared.
        get("export/account", "/1.0/kb/export/${acct}")
            .header("X-Killbill-CreatedBy", "diff")
            .compare(Compare::Kind),
        get("export/unknown-account", "/1.0/kb/export/${unknown}")
            .header("X-Killbill-CreatedBy", "diff"),
        get("export/without-created-by", "/1.0/kb/export/${acct}"),
        get("export/other-tenant", "/1.0/kb/export/${acct}")
            .header("X-Killbill-CreatedBy", "diff")
            .auth(other()),
    ]);
}

/// Paging, searching and refreshing payment methods, in the second tenant: the main one holds
/// a method of the simulated gateway that only ferrobill has (`diff:gateway-plugin`), which
/// every count would show.
fn payment_method_listings(steps: &mut Vec<Step>) {
    let first = steps.len();
    let pages = "/1.0/kb/paymentMethods/pagination";
    let search = "/1.0/kb/paymentMethods/search";
    steps.extend([
        post("payment-methods/other-create-first-account", ACCOUNTS)
            .json(r#"{"externalKey":"${run}-o1","currency":"USD"}"#)
            .location_as("o1"),
        post("payment-methods/other-create-second-account", ACCOUNTS)
            .json(r#"{"externalKey":"${run}-o2","currency":"EUR"}"#)
            .location_as("o2"),
        post(
            "payment-methods/other-create-first-method",
            "/1.0/kb/accounts/${o1}/paymentMethods?isDefault=true",
        )
        .json(r#"{"pluginName":"__EXTERNAL_PAYMENT__","externalKey":"${run}-opm1"}"#),
        post(
            "payment-methods/other-create-second-method",
            "/1.0/kb/accounts/${o2}/paymentMethods",
        )
        .json(r#"{"pluginName":"__EXTERNAL_PAYMENT__","externalKey":"${run}-opm2"}"#),
        get("payment-methods/page", &format!("{pages}?offset=0&limit=1")),
        get(
            "payment-methods/page-second",
            &format!("{pages}?offset=1&limit=1&withPluginInfo=true&audit=FULL"),
        ),
        get(
            "payment-methods/page-by-plugin",
            &format!("{pages}?pluginName=__EXTERNAL_PAYMENT__&limit=1&audit=MINIMAL"),
        ),
        get(
            "payment-methods/page-unknown-plugin",
            &format!("{pages}?pluginName=no-such-plugin"),
        ),
        get(
            "payment-methods/page-unknown-plugin-with-info",
            &format!("{pages}?pluginName=no-such-plugin&withPluginInfo=true"),
        ),
        get(
            "payment-methods/page-bad-offset",
            &format!("{pages}?offset=x"),
        ),
        get(
            "payment-methods/search",
            &format!("{search}/${{run}}-opm?limit=1"),
        ),
        get(
            "payment-methods/search-by-account",
            &format!("{search}/${{o2}}"),
        ),
        get(
            "payment-methods/search-with-plugin-info",
            &format!("{search}/${{run}}-opm?withPluginInfo=true"),
        ),
        get(
            "payment-methods/search-by-plugin",
            &format!("{search}/${{run}}-opm?pluginName=__EXTERNAL_PAYMENT__"),
        ),
        get(
            "payment-methods/search-unknown-plugin",
            &format!("{search}/${{run}}-opm?pluginName=no-such-plugin"),
        ),
        get(
            "payment-methods/search-nothing",
            &format!("{search}/${{run}}-nothing"),
        ),
        put(
            "payment-methods/refresh-unknown-plugin",
            "/1.0/kb/accounts/${o1}/paymentMethods/refresh?pluginName=no-such-plugin",
        ),
        put(
            "payment-methods/refresh-unknown-account",
            "/1.0/kb/accounts/${unknown}/paymentMethods/refresh",
        ),
        put(
            "payment-methods/refresh-without-created-by",
            "/1.0/kb/accounts/${o1}/paymentMethods/refresh",
        )
        .no_created_by(),
        // Kill Bill's __EXTERNAL_PAYMENT__ holds no methods: a refresh deletes the account's
        // and clears its default.
        put(
            "payment-methods/refresh",
            "/1.0/kb/accounts/${o1}/paymentMethods/refresh",
        ),
        put(
            "payment-methods/refresh-by-plugin",
            "/1.0/kb/accounts/${o2}/paymentMethods/refresh?pluginName=__EXTERNAL_PAYMENT__",
        ),
        get(
            "payment-methods/list-after-refresh",
            "/1.0/kb/accounts/${o1}/paymentMethods?includedDeleted=true",
        ),
        get(
            "payment-methods/account-after-refresh",
            "/1.0/kb/accounts/${o1}",
        ),
        get("payment-methods/page-after-refresh", pages),
    ]);
    for step in &mut steps[first..] {
        step.auth = other();
    }
    steps.push(
        put(
            "payment-methods/refresh-other-tenant",
            "/1.0/kb/accounts/${acct}/paymentMethods/refresh?pluginName=__EXTERNAL_PAYMENT__",
        )
        .auth(other()),
    );
}

fn payment_method_deletion(steps: &mut Vec<Step>) {
    steps.extend([
        delete(
            "payment-methods/delete-default",
            "/1.0/kb/paymentMethods/${childPm}",
        ),
        delete(
            "payment-methods/delete-default-with-auto-pay-off",
            "/1.0/kb/paymentMethods/${childPm}?deleteDefaultPmWithAutoPayOff=true",
        ),
        get(
            "payment-methods/child-tags-after-delete",
            "/1.0/kb/accounts/${child}/tags",
        ),
        delete(
            "tags/remove-auto-pay-off-without-default",
            "/1.0/kb/accounts/${child}/tags?tagDef=00000000-0000-0000-0000-000000000001",
        ),
        delete(
            "payment-methods/delete-default-forced",
            "/1.0/kb/paymentMethods/${pm}?forceDefaultPmDeletion=true",
        ),
        delete(
            "payment-methods/delete-again",
            "/1.0/kb/paymentMethods/${pm}",
        ),
        delete(
            "payment-methods/delete-unknown",
            "/1.0/kb/paymentMethods/${unknown}",
        ),
        get(
            "payment-methods/get-deleted",
            "/1.0/kb/paymentMethods/${pm}",
        ),
        get(
            "payment-methods/get-deleted-included",
            "/1.0/kb/paymentMethods/${pm}?includedDeleted=true",
        ),
        get(
            "payment-methods/list-included-deleted",
            "/1.0/kb/accounts/${acct}/paymentMethods?includedDeleted=true",
        ),
        get(
            "payment-methods/account-after-delete",
            "/1.0/kb/accounts/${acct}",
        ),
        pay(
            "payments/purchase-after-method-deleted",
            r#"{"transactionType":"PURCHASE","amount":1}"#,
        ),
        get(
            "payment-methods/account-audit-logs",
            "/1.0/kb/accounts/${child}/auditLogs",
        ),
    ]);
}

/// A role and a user made by the script (Kill Bill's users are global: named after the run),
/// what they may do, and every change to them.
fn security(steps: &mut Vec<Step>) {
    let alice = |password: &str| Auth::BasicAs("${run}-alice".into(), password.into());
    let alice_in_tenant = Auth::UserInTenant("${run}-alice".into(), "alice-${run}".into());
    let user = "/1.0/kb/security/users/${run}-alice";
    steps.extend([
        get("security/permissions", "/1.0/kb/security/permissions"),
        get("security/permissions-without-auth", "/1.0/kb/security/permissions")
            .auth(Auth::None),
        get("security/subject", "/1.0/kb/security/subject"),
        post("security/add-role", ROLES)
            .json(r#"{"role":"${run}-accountant","permissions":["account:*"]}"#),
        post("security/add-role-again", ROLES)
            .json(r#"{"role":"${run}-accountant","permissions":["tag:add"]}"#),
        post("security/add-role-invalid-permission", ROLES)
            .json(r#"{"role":"${run}-invalid","permissions":["a:b:c"]}"#),
        post("security/add-role-sanitized", ROLES).json(
            r#"{"role":"${run}-mixed","permissions":["foo:bar","ACCOUNT:CREATE","payment","tag:","",null]}"#,
        ),
        get("security/role", "/1.0/kb/security/roles/${run}-mixed"),
        get("security/role-unknown", "/1.0/kb/security/roles/${run}-nobody"),
        post("security/add-role-without-name", ROLES).json(r#"{"permissions":["account:*"]}"#),
        post("security/add-role-empty-body", ROLES).raw("", Some("application/json")),
        post("security/add-role-unknown-field", ROLES)
            .json(r#"{"role":"${run}-x","permissions":[],"colour":"blue"}"#),
        put("security/update-role", ROLES)
            .json(r#"{"role":"${run}-mixed","permissions":["account:update","tag:*"]}"#),
        get("security/role-after-update", "/1.0/kb/security/roles/${run}-mixed"),
        post("security/add-user", USERS).json(
            r#"{"username":"${run}-alice","password":"alice-${run}","roles":["${run}-accountant"]}"#,
        ),
        post("security/add-user-again", USERS)
            .json(r#"{"username":"${run}-alice","password":"x","roles":[]}"#),
        post("security/add-user-without-password", USERS)
            .json(r#"{"username":"${run}-bob","roles":[]}"#),
        post("security/add-user-without-roles", USERS)
            .json(r#"{"username":"${run}-bob","password":"x"}"#),
        get("security/user-roles", &format!("{user}/roles")),
        get("security/user-roles-unknown", "/1.0/kb/security/users/${run}-nobody/roles"),
        get("security/permissions-as-user", "/1.0/kb/security/permissions")
            .auth(alice("alice-${run}")),
        get("security/subject-as-user", "/1.0/kb/security/subject").auth(alice("alice-${run}")),
        post("security/create-account-as-user", ACCOUNTS)
            .auth(alice_in_tenant.clone())
            .json(r#"{"externalKey":"${run}-alices","currency":"USD"}"#),
        get("security/read-account-as-user", "/1.0/kb/accounts/${acct}")
            .auth(alice_in_tenant.clone()),
        post("security/purchase-as-user", "/1.0/kb/accounts/${acct}/payments")
            .auth(alice_in_tenant.clone())
            .json(r#"{"transactionType":"PURCHASE","amount":1,"currency":"USD"}"#),
        post("security/tag-definition-as-user", TAG_DEFINITIONS)
            .auth(alice_in_tenant.clone())
            .json(r#"{"name":"alice-${run}","description":"d","applicableObjectTypes":["ACCOUNT"]}"#),
        post("security/user-key-as-user", USER_KEY)
            .auth(alice_in_tenant.clone())
            .raw("x", TEXT),
        get("security/admin-queues-as-user", "/1.0/kb/admin/queues")
            .auth(alice_in_tenant)
            .compare(Compare::TopLevelKeys),
        put("security/update-password", &format!("{user}/password"))
            .json(r#"{"password":"alice2-${run}"}"#),
        get("security/old-password-refused", "/1.0/kb/security/permissions")
            .auth(alice("alice-${run}")),
        get("security/new-password", "/1.0/kb/security/permissions")
            .auth(alice("alice2-${run}")),
        put(
            "security/update-password-unknown",
            "/1.0/kb/security/users/${run}-nobody/password",
        )
        .json(r#"{"password":"x"}"#),
        put("security/update-user-roles", &format!("{user}/roles"))
            .json(r#"{"roles":["${run}-mixed"]}"#),
        get("security/user-roles-after-update", &format!("{user}/roles")),
        get("security/permissions-after-roles", "/1.0/kb/security/permissions")
            .auth(alice("alice2-${run}")),
        delete("security/delete-user", user),
        get("security/deleted-user-refused", "/1.0/kb/security/permissions")
            .auth(alice("alice2-${run}")),
        delete("security/delete-user-again", user),
        post("security/add-user-after-delete", USERS).json(
            r#"{"username":"${run}-alice","password":"alice3-${run}","roles":[]}"#,
        ),
    ]);
}

/// This node and its plugins, and a node command (no plugin acts on it).
fn nodes_and_plugins(steps: &mut Vec<Step>) {
    let nodes = "/1.0/kb/nodesInfo";
    steps.extend([
        get("nodes/info", nodes).auth(Auth::Basic),
        post("nodes/command", nodes)
            .auth(Auth::Basic)
            .no_created_by()
            .json(r#"{"isSystemCommandType":false,"nodeCommandType":"${run}-noop","nodeCommandProperties":[]}"#),
        post("nodes/command-without-properties", nodes)
            .auth(Auth::Basic)
            .json(r#"{"isSystemCommandType":false,"nodeCommandType":"${run}-noop"}"#),
        get("plugins/info", "/1.0/kb/pluginsInfo"),
        get("plugins/info-no-tenant", "/1.0/kb/pluginsInfo").auth(Auth::Basic),
    ]);
}

/// A payment on grace's account (whose default method is external); the main account's
/// default method is deleted by then.
fn pay_grace(name: &str, body: &str) -> Step {
    post(name, "/1.0/kb/accounts/${grace}/payments").json(body)
}

fn chargebacks(steps: &mut Vec<Step>) {
    steps.extend([
        pay_grace(
            "chargebacks/purchase",
            r#"{"transactionType":"PURCHASE","amount":20,"currency":"USD","paymentExternalKey":"${run}-cb","transactionExternalKey":"${run}-cb-t1"}"#,
        )
        .location_as("cbPay"),
        get("chargebacks/get-purchase", "/1.0/kb/payments/${cbPay}")
            .capture("/transactions/0/transactionId", "cbPurchaseTx"),
        post("chargebacks/create", "/1.0/kb/payments/${cbPay}/chargebacks")
            .json(r#"{"amount":5,"currency":"USD","transactionExternalKey":"${run}-cb1"}"#),
        post("chargebacks/create-without-amount", "/1.0/kb/payments/${cbPay}/chargebacks")
            .json(r#"{"currency":"USD"}"#),
        post("chargebacks/create-by-key", "/1.0/kb/payments/chargebacks")
            .json(r#"{"paymentExternalKey":"${run}-cb","amount":3,"transactionExternalKey":"${run}-cb2"}"#),
        post("chargebacks/create-by-key-without-key", "/1.0/kb/payments/chargebacks")
            .json(r#"{"amount":1}"#),
        post("chargebacks/create-unknown-payment", "/1.0/kb/payments/${unknown}/chargebacks")
            .json(r#"{"amount":1,"currency":"USD"}"#),
        get("chargebacks/get-charged-back", "/1.0/kb/payments/${cbPay}"),
        post("chargebacks/reverse", "/1.0/kb/payments/${cbPay}/chargebackReversals")
            .json(r#"{"transactionExternalKey":"${run}-cb1"}"#),
        post("chargebacks/reverse-unknown-key", "/1.0/kb/payments/${cbPay}/chargebackReversals")
            .json(r#"{"transactionExternalKey":"${run}-nothing"}"#),
        post("chargebacks/reverse-without-key", "/1.0/kb/payments/${cbPay}/chargebackReversals")
            .json("{}"),
        post("chargebacks/reverse-by-key", "/1.0/kb/payments/chargebackReversals")
            .json(r#"{"paymentExternalKey":"${run}-cb","transactionExternalKey":"${run}-cb2"}"#),
        get("chargebacks/get-reversed", "/1.0/kb/payments/${cbPay}"),
        post("chargebacks/refund-after-reversal", "/1.0/kb/payments/${cbPay}/refunds")
            .json(r#"{"amount":1,"currency":"USD"}"#),
        post("chargebacks/create-other-tenant", "/1.0/kb/payments/${cbPay}/chargebacks")
            .auth(other())
            .json(r#"{"amount":1,"currency":"USD"}"#),
    ]);
}

fn payment_transactions(steps: &mut Vec<Step>) {
    let transactions = "/1.0/kb/paymentTransactions";
    steps.extend([
        get(
            "payment-transactions/get",
            &format!("{transactions}/${{cbPurchaseTx}}"),
        ),
        get(
            "payment-transactions/get-with-options",
            &format!(
                "{transactions}/${{cbPurchaseTx}}?withPluginInfo=true&withAttempts=true&audit=FULL"
            ),
        ),
        get(
            "payment-transactions/get-unknown",
            &format!("{transactions}/${{unknown}}"),
        ),
        get(
            "payment-transactions/get-malformed-id",
            &format!("{transactions}/not-an-id"),
        ),
        get(
            "payment-transactions/get-other-tenant",
            &format!("{transactions}/${{cbPurchaseTx}}"),
        )
        .auth(other()),
        get(
            "payment-transactions/get-by-key",
            &format!("{transactions}?transactionExternalKey=${{run}}-cb-t1"),
        ),
        get(
            "payment-transactions/get-by-unknown-key",
            &format!("{transactions}?transactionExternalKey=${{run}}-nothing"),
        ),
        get(
            "payment-transactions/get-by-key-other-tenant",
            &format!("{transactions}?transactionExternalKey=${{run}}-cb-t1"),
        )
        .auth(other()),
        get(
            "payment-transactions/audit-logs-with-history",
            &format!("{transactions}/${{cbPurchaseTx}}/auditLogsWithHistory"),
        ),
        get(
            "payment-transactions/audit-logs-with-history-unknown",
            &format!("{transactions}/${{unknown}}/auditLogsWithHistory"),
        ),
        get(
            "payments/audit-logs-with-history",
            "/1.0/kb/payments/${cbPay}/auditLogsWithHistory",
        ),
        get(
            "payments/audit-logs-with-history-unknown",
            "/1.0/kb/payments/${unknown}/auditLogsWithHistory",
        ),
        get(
            "payments/attempt-audit-logs-with-history-unknown",
            "/1.0/kb/payments/attempts/${unknown}/auditLogsWithHistory",
        ),
    ]);
}

/// No plugin of Kill Bill's leaves a transaction PENDING; the admin's repair does.
fn pending_transactions(steps: &mut Vec<Step>) {
    let fix = "/1.0/kb/admin/payments/${pendPay}/transactions/${pendTx}";
    let to_pending = r#"{"transactionStatus":"PENDING","currentPaymentStateName":"AUTH_PENDING"}"#;
    steps.extend([
        pay_grace(
            "pending/authorize",
            r#"{"transactionType":"AUTHORIZE","amount":8,"currency":"USD","paymentExternalKey":"${run}-pend","transactionExternalKey":"${run}-pend-t1"}"#,
        )
        .location_as("pendPay"),
        get("pending/get-authorized", "/1.0/kb/payments/${pendPay}")
            .capture("/transactions/0/transactionId", "pendTx"),
        put("pending/fix-to-pending", fix).json(to_pending),
        get("pending/get-pending", "/1.0/kb/payments/${pendPay}"),
        put("pending/complete", "/1.0/kb/payments/${pendPay}")
            .json(r#"{"transactionExternalKey":"${run}-pend-t1"}"#),
        get("pending/get-completed", "/1.0/kb/payments/${pendPay}"),
        put("pending/complete-again", "/1.0/kb/payments/${pendPay}").json("{}"),
        put("pending/fix-to-pending-again", fix).json(to_pending),
        put("pending/complete-by-key", "/1.0/kb/payments")
            .json(r#"{"paymentExternalKey":"${run}-pend"}"#),
        put("pending/complete-by-key-without-key", "/1.0/kb/payments").json("{}"),
        put("pending/complete-unknown-payment", "/1.0/kb/payments/${unknown}").json("{}"),
        put("pending/fix-to-pending-third", fix).json(to_pending),
        post(
            "pending/notify-state-changed",
            "/1.0/kb/paymentTransactions/${pendTx}",
        )
        .json(r#"{"paymentId":"${pendPay}","status":"SUCCESS"}"#),
        get("pending/get-notified", "/1.0/kb/payments/${pendPay}"),
        post(
            "pending/notify-not-pending",
            "/1.0/kb/paymentTransactions/${pendTx}",
        )
        .json(r#"{"paymentId":"${pendPay}","status":"PAYMENT_FAILURE"}"#),
        post(
            "pending/notify-unknown-transaction",
            "/1.0/kb/paymentTransactions/${unknown}",
        )
        .json(r#"{"paymentId":"${pendPay}","status":"SUCCESS"}"#),
        post(
            "pending/notify-without-payment-id",
            "/1.0/kb/paymentTransactions/${pendTx}",
        )
        .json(r#"{"status":"SUCCESS"}"#),
        put("pending/fix-to-failure", fix).json(r#"{"transactionStatus":"PAYMENT_FAILURE"}"#),
        get("pending/get-fixed-to-failure", "/1.0/kb/payments/${pendPay}"),
        put("pending/fix-bad-status", fix).json(r#"{"transactionStatus":"BROKEN"}"#),
        put(
            "pending/fix-unknown-payment",
            "/1.0/kb/admin/payments/${unknown}/transactions/${pendTx}",
        )
        .json(r#"{"transactionStatus":"SUCCESS"}"#),
        delete(
            "pending/cancel-scheduled-by-id",
            "/1.0/kb/payments/${pendTx}/cancelScheduledPaymentTransaction",
        ),
        delete(
            "pending/cancel-scheduled-by-unknown-id",
            "/1.0/kb/payments/${unknown}/cancelScheduledPaymentTransaction",
        ),
        delete(
            "pending/cancel-scheduled-by-key",
            "/1.0/kb/payments/cancelScheduledPaymentTransaction?transactionExternalKey=${run}-pend-t1",
        ),
        delete(
            "pending/cancel-scheduled-without-key",
            "/1.0/kb/payments/cancelScheduledPaymentTransaction",
        ),
    ]);
}

fn combo_payments(steps: &mut Vec<Step>) {
    let combo = "/1.0/kb/payments/combo";
    let new_account = r#"{"account":{"externalKey":"${run}-combo","name":"Combo","currency":"USD"},"paymentMethod":{"pluginName":"__EXTERNAL_PAYMENT__","externalKey":"${run}-combo-pm"},"transaction":{"transactionType":"PURCHASE","amount":9,"transactionExternalKey":"${run}-combo-t1"}}"#;
    steps.extend([
        post("combo/purchase-new-account", combo)
            .json(new_account)
            .location_as("comboPay"),
        get("combo/get-payment", "/1.0/kb/payments/${comboPay}"),
        get("combo/account", "/1.0/kb/accounts?externalKey=${run}-combo"),
        get(
            "combo/payment-method",
            "/1.0/kb/paymentMethods?externalKey=${run}-combo-pm",
        ),
        post("combo/purchase-same-account", combo)
            .json(r#"{"account":{"externalKey":"${run}-combo"},"paymentMethod":{"pluginName":"__EXTERNAL_PAYMENT__","externalKey":"${run}-combo-pm"},"transaction":{"transactionType":"AUTHORIZE","amount":4,"currency":"USD"}}"#),
        post("combo/by-account-id", combo)
            .json(r#"{"account":{"accountId":"${grace}"},"transaction":{"transactionType":"CREDIT","amount":2,"currency":"USD"}}"#),
        post("combo/capture-refused", combo)
            .json(r#"{"account":{"externalKey":"${run}-combo"},"transaction":{"transactionType":"CAPTURE","amount":1}}"#),
        post("combo/unknown-payment-method-id", combo)
            .json(r#"{"account":{"externalKey":"${run}-combo"},"paymentMethod":{"pluginName":"__EXTERNAL_PAYMENT__","paymentMethodId":"${unknown}"},"transaction":{"transactionType":"PURCHASE","amount":1}}"#),
        post("combo/empty-body", combo).raw("", Some("application/json")),
        post("combo/unknown-field", combo).json(r#"{"colour":"blue"}"#),
    ]);
}

fn payment_gateways(steps: &mut Vec<Step>) {
    steps.extend([
        post("gateways/form", "/1.0/kb/paymentGateways/hosted/form/${grace}")
            .json(r#"{"formFields":[{"key":"amount","value":"10"}]}"#),
        post(
            "gateways/form-unknown-account",
            "/1.0/kb/paymentGateways/hosted/form/${unknown}",
        )
        .json(r#"{"formFields":[]}"#),
        post(
            "gateways/form-without-method",
            "/1.0/kb/paymentGateways/hosted/form/${bare}",
        )
        .json(r#"{"formFields":[]}"#),
        post(
            "gateways/form-other-accounts-method",
            "/1.0/kb/paymentGateways/hosted/form/${bare}?paymentMethodId=${gracePm}",
        )
        .json(r#"{"formFields":[]}"#),
        post("gateways/combo-form", "/1.0/kb/paymentGateways/hosted/form")
            .json(r#"{"account":{"externalKey":"${run}-combo"},"paymentMethod":{"pluginName":"__EXTERNAL_PAYMENT__","externalKey":"${run}-combo-pm"},"hostedPaymentPageFields":{"formFields":[]}}"#),
        post(
            "gateways/notification",
            "/1.0/kb/paymentGateways/notification/__EXTERNAL_PAYMENT__",
        )
        .raw("{}", Some("application/json")),
        post(
            "gateways/notification-unknown-plugin",
            "/1.0/kb/paymentGateways/notification/no-such-plugin",
        )
        .raw("event=1", Some("text/plain")),
    ]);
}

fn admin(steps: &mut Vec<Step>) {
    steps.extend([
        delete("admin/out-of-rotation", "/1.0/kb/admin/healthcheck"),
        get("admin/healthcheck-out-of-rotation", "/1.0/healthcheck")
            .auth(Auth::None)
            .compare(Compare::TopLevelKeys),
        put("admin/in-rotation", "/1.0/kb/admin/healthcheck"),
        get("admin/queues", "/1.0/kb/admin/queues").compare(Compare::TopLevelKeys),
        get(
            "admin/queues-for-account",
            "/1.0/kb/admin/queues?accountId=${acct}&withHistory=false&withBusEvents=false",
        )
        .compare(Compare::TopLevelKeys),
        get(
            "admin/queues-bad-account",
            "/1.0/kb/admin/queues?accountId=nope",
        ),
        get(
            "admin/queues-bad-date",
            "/1.0/kb/admin/queues?minDate=yesterday",
        ),
        get("admin/queues-no-tenant", "/1.0/kb/admin/queues").auth(Auth::Basic),
    ]);
}

fn admin_caches(steps: &mut Vec<Step>) {
    steps.extend([
        delete("admin/cache-all", "/1.0/kb/admin/cache"),
        delete(
            "admin/cache-named",
            "/1.0/kb/admin/cache?cacheName=tenant-kv",
        ),
        delete(
            "admin/cache-unknown-name",
            "/1.0/kb/admin/cache?cacheName=${run}",
        ),
        delete("admin/cache-no-tenant", "/1.0/kb/admin/cache").auth(Auth::Basic),
        delete(
            "admin/cache-account",
            "/1.0/kb/admin/cache/accounts/${acct}",
        ),
        delete(
            "admin/cache-account-unknown",
            "/1.0/kb/admin/cache/accounts/${unknown}",
        ),
        delete("admin/cache-tenant", "/1.0/kb/admin/cache/tenants"),
    ]);
}

fn operator_pages(steps: &mut Vec<Step>) {
    steps.extend([
        get("ops/healthcheck", "/1.0/healthcheck")
            .auth(Auth::None)
            .compare(Compare::TopLevelKeys),
        get("ops/metrics", "/1.0/metrics")
            .auth(Auth::None)
            .compare(Compare::TopLevelKeys),
        get("ops/threads", "/1.0/threads")
            .auth(Auth::None)
            .compare(Compare::Kind),
        get("ops/prometheus", "/metrics")
            .auth(Auth::None)
            .compare(Compare::Kind),
        get("ops/swagger", "/swagger.json")
            .auth(Auth::None)
            .compare(Compare::TopLevelKeys),
        get(
            "ops/error-with-stack-trace",
            "/1.0/kb/accounts/${unknown}?withStackTrace=true",
        )
        .compare(Compare::TopLevelKeys),
    ]);
}

/// What runs after the notifications are compared: removing the callback and the key-values.
pub fn closing() -> Vec<Step> {
    vec![
        delete("callback/delete", CALLBACK),
        get("callback/get-after-delete", CALLBACK),
        delete("tenant-config/delete-plugin-config", STRIPE_CONFIG),
        get(
            "tenant-config/get-plugin-config-after-delete",
            STRIPE_CONFIG,
        ),
        delete("tenant-config/delete-state-machine", STATE_MACHINE),
        delete("tenant-config/delete-per-tenant-config", PER_TENANT_CONFIG),
        get(
            "tenant-config/get-per-tenant-config-after-delete",
            PER_TENANT_CONFIG,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a scripted path (placeholders filled or not, query left out) names the
    /// operation `template` (`{name}` matches any segment).
    fn matches(template: &str, path: &str) -> bool {
        let path = path.split('?').next().unwrap_or_default();
        let path = path.trim_end_matches('/');
        let wanted: Vec<&str> = template.split('/').collect();
        let given: Vec<&str> = path.split('/').collect();
        wanted.len() == given.len()
            && wanted.iter().zip(&given).all(|(wanted, given)| {
                (wanted.starts_with('{') && !given.is_empty()) || wanted == given
            })
    }

    /// Every operation of the served API description (`docs/swagger.json`, which a test of
    /// the server keeps equal to what is routed) has at least one step.
    #[test]
    fn every_served_operation_is_scripted() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/swagger.json");
        let text = std::fs::read_to_string(path).expect("docs/swagger.json is readable");
        let description: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let steps: Vec<Step> = script().into_iter().chain(closing()).collect();
        let mut missing = Vec::new();
        let paths = description["paths"].as_object().expect("paths");
        for (template, operations) in paths {
            for method in operations.as_object().expect("operations").keys() {
                let scripted = steps.iter().any(|step| {
                    step.method.as_str().eq_ignore_ascii_case(method)
                        && matches(template, &step.path)
                });
                if !scripted {
                    missing.push(format!("{method} {template}"));
                }
            }
        }
        assert!(missing.is_empty(), "operations without a step: {missing:?}");
        assert!(paths.len() > 25, "only {} paths", paths.len());
    }

    #[test]
    fn templates_match_scripted_paths() {
        assert!(matches(
            "/1.0/kb/payments/{paymentId}",
            "/1.0/kb/payments/${auth}"
        ));
        assert!(matches(
            "/1.0/kb/payments/{paymentId}",
            "/1.0/kb/payments/${auth}/"
        ));
        assert!(matches(
            "/1.0/kb/accounts",
            "/1.0/kb/accounts?externalKey=x"
        ));
        assert!(!matches("/1.0/kb/accounts/{accountId}", "/1.0/kb/accounts"));
    }
}
