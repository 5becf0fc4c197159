//! Kill Bill's ObjectType names (killbill-api 0.54): what a tag definition may apply to, what
//! `objectType` may name in a query or a body, and what a custom field search names.
//!
//! This file owns the list. Tags, custom fields and the extractors all read it here, so a name
//! is accepted or refused the same way everywhere; it must never know which objects ferrobill
//! stores (that is `storage::objects`).

/// Every ObjectType constant, in Kill Bill's declaration order.
pub const OBJECT_TYPES: [&str; 19] = [
    "ACCOUNT",
    "ACCOUNT_EMAIL",
    "BLOCKING_STATES",
    "BUNDLE",
    "CUSTOM_FIELD",
    "INVOICE",
    "PAYMENT",
    "TRANSACTION",
    "INVOICE_ITEM",
    "INVOICE_PAYMENT",
    "SUBSCRIPTION",
    "SUBSCRIPTION_EVENT",
    "SERVICE_BROADCAST",
    "PAYMENT_ATTEMPT",
    "PAYMENT_METHOD",
    "TAG",
    "TAG_DEFINITION",
    "TENANT",
    "TENANT_KVS",
];

/// Whether `name` is one of Kill Bill's ObjectType constants.
pub fn is_object_type(name: &str) -> bool {
    OBJECT_TYPES.contains(&name)
}

/// The message of Java's `ObjectType.valueOf` refusing `name` (an IllegalArgumentException).
pub fn unknown_object_type(name: &str) -> String {
    format!("No enum constant org.killbill.billing.ObjectType.{name}")
}
