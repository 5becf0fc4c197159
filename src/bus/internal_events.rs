//! The typed events of the push-notification path: the internal events other modules post on
//! the main bus (account creation and change, payment outcomes, tags and custom fields added
//! and removed) and the external event Kill Bill's BeatrixListener turns them into on the
//! external bus (`ExtBusEvent`).
//!
//! This file owns their shape, JSON and class names (Kill Bill's implementation classes, what
//! Kill Bill writes in `class_name`). It must never post, read the database or decide which
//! internal event becomes which external one (`service::external_events` does).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{BusEvent, SearchKeys};

/// An account was created; posted in the account's insert transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountCreationInternalEvent {
    /// The new account's id.
    pub id: Uuid,
    pub account_record_id: i64,
    pub tenant_record_id: i64,
}

impl BusEvent for AccountCreationInternalEvent {
    const CLASS_NAME: &'static str =
        "org.killbill.billing.account.api.user.DefaultAccountCreationEvent";

    fn search_keys(&self) -> SearchKeys {
        SearchKeys::account(self.account_record_id, self.tenant_record_id)
    }
}

/// A tenant key-value of a system key was added (Kill Bill's TenantConfigChangeInternalEvent),
/// e.g. a push notification callback registered or a plugin's configuration uploaded; posted
/// in the insert's transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantConfigChangeInternalEvent {
    /// The new `tenant_kvs` row's id.
    pub id: Uuid,
    /// The tenant key, e.g. `PUSH_NOTIFICATION_CB`.
    pub key: String,
    pub tenant_record_id: i64,
}

impl BusEvent for TenantConfigChangeInternalEvent {
    const CLASS_NAME: &'static str =
        "org.killbill.billing.tenant.api.user.DefaultTenantConfigChangeInternalEvent";

    fn search_keys(&self) -> SearchKeys {
        SearchKeys::tenant(self.tenant_record_id)
    }
}

/// A tenant key-value was deleted (Kill Bill's TenantConfigDeletionInternalEvent); posted in
/// the deletion's transaction, whether or not the key had a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantConfigDeletionInternalEvent {
    /// The tenant key, e.g. `PLUGIN_CONFIG_killbill-stripe`.
    pub key: String,
    pub tenant_record_id: i64,
}

impl BusEvent for TenantConfigDeletionInternalEvent {
    const CLASS_NAME: &'static str =
        "org.killbill.billing.tenant.api.user.DefaultTenantConfigDeletionInternalEvent";

    fn search_keys(&self) -> SearchKeys {
        SearchKeys::tenant(self.tenant_record_id)
    }
}

/// An event whose JSON is its data's (`PaymentEventData`, `TagEventData`, `CustomFieldEventData`), under Kill Bill's
/// class name, searchable by the account and tenant the data names.
macro_rules! data_event {
    ($(#[$doc:meta])* $name:ident($data:ty), $class:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $data);

        impl BusEvent for $name {
            const CLASS_NAME: &'static str = $class;

            fn search_keys(&self) -> SearchKeys {
                SearchKeys::account(self.0.account_record_id, self.0.tenant_record_id)
            }
        }
    };
}

/// What every payment outcome event carries (Kill Bill's DefaultPaymentInfoEvent fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentEventData {
    pub account_id: Uuid,
    pub payment_id: Uuid,
    pub payment_transaction_id: Uuid,
    /// A decimal as text (e.g. `"10.00"`), so no amount is ever rounded through a float.
    pub amount: String,
    pub currency: String,
    /// Kill Bill's TransactionStatus: SUCCESS, PENDING, PAYMENT_FAILURE, PLUGIN_FAILURE, UNKNOWN…
    pub status: String,
    /// Kill Bill's TransactionType: AUTHORIZE, CAPTURE, PURCHASE, REFUND, CREDIT, VOID…
    pub transaction_type: String,
    /// The transaction's effective date (absent in events posted before it was carried).
    #[serde(default)]
    pub effective_date: Option<chrono::DateTime<chrono::Utc>>,
    pub account_record_id: i64,
    pub tenant_record_id: i64,
}

data_event!(
    /// A payment transaction ended SUCCESS or PENDING.
    PaymentInfoInternalEvent(PaymentEventData),
    "org.killbill.billing.payment.api.DefaultPaymentInfoEvent"
);
data_event!(
    /// A payment transaction ended PAYMENT_FAILURE (the gateway declined it).
    PaymentErrorInternalEvent(PaymentEventData),
    "org.killbill.billing.payment.api.DefaultPaymentErrorEvent"
);
data_event!(
    /// A payment transaction ended PLUGIN_FAILURE, UNKNOWN or another non-success state.
    PaymentPluginErrorInternalEvent(PaymentEventData),
    "org.killbill.billing.payment.api.DefaultPaymentPluginErrorEvent"
);

/// What every tag event carries (Kill Bill's Default*Tag*Event fields that BeatrixListener
/// reads, plus the account it belongs to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagEventData {
    pub tag_id: Uuid,
    pub object_id: Uuid,
    pub object_type: String,
    pub tag_definition_id: Uuid,
    pub tag_definition_name: String,
    pub account_id: Uuid,
    pub account_record_id: i64,
    pub tenant_record_id: i64,
}

data_event!(
    /// A tag of one of the tenant's own definitions was added.
    UserTagCreationInternalEvent(TagEventData),
    "org.killbill.billing.util.tag.api.user.DefaultUserTagCreationEvent"
);
data_event!(
    /// A tag of one of the tenant's own definitions was removed.
    UserTagDeletionInternalEvent(TagEventData),
    "org.killbill.billing.util.tag.api.user.DefaultUserTagDeletionEvent"
);
data_event!(
    /// A control tag (AUTO_PAY_OFF …) was added.
    ControlTagCreationInternalEvent(TagEventData),
    "org.killbill.billing.util.tag.api.user.DefaultControlTagCreationEvent"
);
data_event!(
    /// A control tag was removed.
    ControlTagDeletionInternalEvent(TagEventData),
    "org.killbill.billing.util.tag.api.user.DefaultControlTagDeletionEvent"
);

/// What both custom field events carry (Kill Bill's DefaultCustomFieldCreationEvent fields,
/// plus the account the field's object belongs to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomFieldEventData {
    pub custom_field_id: Uuid,
    pub object_id: Uuid,
    pub object_type: String,
    pub account_id: Uuid,
    pub account_record_id: i64,
    pub tenant_record_id: i64,
}

data_event!(
    /// A custom field was added (Kill Bill posts nothing when a value changes).
    CustomFieldCreationInternalEvent(CustomFieldEventData),
    "org.killbill.billing.util.customfield.api.DefaultCustomFieldCreationEvent"
);
data_event!(
    /// A custom field was removed.
    CustomFieldDeletionInternalEvent(CustomFieldEventData),
    "org.killbill.billing.util.customfield.api.DefaultCustomFieldDeletionEvent"
);

/// Kill Bill's ExtBusEvent (DefaultBusExternalEvent): what plugins and push notifications see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalBusEvent {
    /// ExtBusEventType: ACCOUNT_CREATION, PAYMENT_SUCCESS, PAYMENT_FAILED…
    pub event_type: String,
    /// ObjectType: ACCOUNT, PAYMENT…
    pub object_type: String,
    pub object_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub tenant_id: Uuid,
    pub meta_data: Option<String>,
    pub search_key1: Option<i64>,
    pub search_key2: i64,
    pub user_token: Option<Uuid>,
}

impl BusEvent for ExternalBusEvent {
    const CLASS_NAME: &'static str = "org.killbill.billing.beatrix.extbus.DefaultBusExternalEvent";

    fn search_keys(&self) -> SearchKeys {
        SearchKeys {
            account_record_id: self.search_key1,
            tenant_record_id: self.search_key2,
        }
    }
}

/// One field an account update changed (Kill Bill's DefaultChangedField). Values are the text
/// Kill Bill compares: `null` when unset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangedField {
    /// Kill Bill's name for the field, e.g. `email`, `firstName` (the account name).
    pub field_name: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    /// Joda's DateTime as Kill Bill's ObjectMapper writes it.
    pub change_date: String,
}

/// An account was updated (Kill Bill's AccountChangeInternalEvent); posted in the update's
/// transaction on every update, and when its default payment method changes, as Kill Bill's
/// DefaultAccountDao does (its `hasChanges` is not consulted before posting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountChangeInternalEvent {
    /// Kill Bill serialises the list through its getter, as `changedFields`.
    pub changed_fields: Vec<ChangedField>,
    pub account_id: Uuid,
    pub account_record_id: i64,
    pub tenant_record_id: i64,
}

impl BusEvent for AccountChangeInternalEvent {
    const CLASS_NAME: &'static str =
        "org.killbill.billing.account.api.user.DefaultAccountChangeEvent";

    fn search_keys(&self) -> SearchKeys {
        SearchKeys::account(self.account_record_id, self.tenant_record_id)
    }
}
