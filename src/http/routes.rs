//! Every path ferrobill serves, in one place: the operator pages, then Kill Bill's resources in
//! the order of its API description (TenantResource, SecurityResource, NodesInfoResource,
//! AccountResource, …, AdminResource), each path once with all its methods. A path's handler
//! is named with the file that holds it (`accounts::get_account`), so this table is also the
//! map from a path to its code.
//!
//! This file only maps paths and methods to handlers; it must never read a request or shape an
//! answer (the handlers' files do), nor decide who may call what (`permissions.rs`).

use axum::routing::{delete, get, post, put};
use axum::Router;

use super::history::{history_route, WithHistory};
use super::payment_operations::{follow_up_route, payment_routes, FollowUp};
use super::tenants::{
    named_key_routes, PER_TENANT_CONFIG_PATH, PLUGIN_CONFIG_PATH, REGISTER_NOTIFICATION_CALLBACK,
    STATE_MACHINE_PATH, USER_KEY_PATH,
};
use super::{
    accounts, admin, admin_payments, custom_fields, dashboard, export, nodes, ops,
    payment_gateways, payment_methods, payment_operations, payment_transactions, payments,
    security, swagger, tags, tenants, AppState,
};
use crate::service::tenant_key_values::{payment_state_machine_key, plugin_config_key};
use crate::service::ObjectKind;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        // The operator pages, outside Kill Bill's API.
        .route("/1.0/healthcheck", get(ops::healthcheck))
        .route("/1.0/metrics", get(ops::metrics_json))
        .route("/metrics", get(ops::metrics_prometheus))
        .route("/1.0/threads", get(ops::threads))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/data", get(dashboard::data))
        .route("/swagger.json", get(swagger::swagger))
        // TenantResource.
        .route(
            "/1.0/kb/tenants",
            post(tenants::create_tenant).get(tenants::get_tenant_by_api_key),
        )
        .route("/1.0/kb/tenants/{tenant_id}", get(tenants::get_tenant))
        .route(
            REGISTER_NOTIFICATION_CALLBACK,
            post(tenants::register_push_notification_callback)
                .get(tenants::get_push_notification_callbacks)
                .delete(tenants::delete_push_notification_callbacks),
        )
        .route(
            PLUGIN_CONFIG_PATH,
            named_key_routes(PLUGIN_CONFIG_PATH, plugin_config_key),
        )
        .route(
            STATE_MACHINE_PATH,
            named_key_routes(STATE_MACHINE_PATH, payment_state_machine_key),
        )
        .route(
            PER_TENANT_CONFIG_PATH,
            post(tenants::upload_per_tenant_config)
                .get(tenants::get_per_tenant_config)
                .delete(tenants::delete_per_tenant_config),
        )
        .route(
            "/1.0/kb/tenants/uploadPerTenantConfig/{key_prefix}/search",
            get(tenants::search_key_values),
        )
        .route(
            USER_KEY_PATH,
            named_key_routes(USER_KEY_PATH, str::to_string),
        )
        // SecurityResource.
        .route(
            "/1.0/kb/security/permissions",
            get(security::get_permissions),
        )
        .route("/1.0/kb/security/subject", get(security::get_subject))
        .route("/1.0/kb/security/users", post(security::add_user))
        .route(
            "/1.0/kb/security/users/{username}/password",
            put(security::update_password),
        )
        .route(
            "/1.0/kb/security/users/{username}/roles",
            get(security::get_user_roles).put(security::update_user_roles),
        )
        .route(
            "/1.0/kb/security/users/{username}",
            delete(security::invalidate_user),
        )
        .route(
            "/1.0/kb/security/roles",
            post(security::add_role_definition).put(security::update_role_definition),
        )
        .route(
            "/1.0/kb/security/roles/{role}",
            get(security::get_role_definition),
        )
        // NodesInfoResource and PluginInfoResource.
        .route(
            "/1.0/kb/nodesInfo",
            get(nodes::get_nodes_info).post(nodes::trigger_node_command),
        )
        .route("/1.0/kb/pluginsInfo", get(nodes::get_plugins_info))
        // AccountResource, with the account's tags, custom fields, payment methods and
        // payments, and ExportResource.
        .route(
            "/1.0/kb/accounts",
            post(accounts::create_account).get(accounts::get_account_by_external_key),
        )
        .route("/1.0/kb/accounts/pagination", get(accounts::list_accounts))
        .route(
            "/1.0/kb/accounts/search/{*search_key}",
            get(accounts::list_accounts),
        )
        .route(
            "/1.0/kb/accounts/{account_id}",
            get(accounts::get_account).put(accounts::update_account),
        )
        .route(
            "/1.0/kb/accounts/{account_id}/auditLogs",
            get(accounts::get_account_audit_logs),
        )
        .route(
            "/1.0/kb/accounts/{account_id}/auditLogsWithHistory",
            history_route(WithHistory::Account),
        )
        .route(
            "/1.0/kb/accounts/{account_id}/tags",
            tags::object_routes(ObjectKind::Account),
        )
        .route(
            "/1.0/kb/accounts/{account_id}/allTags",
            get(tags::get_all_account_tags),
        )
        .route(
            "/1.0/kb/accounts/{account_id}/customFields",
            custom_fields::object_routes(ObjectKind::Account),
        )
        .route(
            "/1.0/kb/accounts/{account_id}/allCustomFields",
            get(custom_fields::get_all_account_fields),
        )
        .route(
            "/1.0/kb/accounts/{account_id}/children",
            get(accounts::get_children_accounts),
        )
        .route(
            "/1.0/kb/accounts/{account_id}/emails",
            get(accounts::get_account_emails).post(accounts::add_account_email),
        )
        .route(
            "/1.0/kb/accounts/{account_id}/emails/{email}",
            delete(accounts::remove_account_email),
        )
        .route(
            "/1.0/kb/accounts/{account_id}/emails/{account_email_id}/auditLogsWithHistory",
            get(accounts::get_account_email_audit_logs_with_history),
        )
        .route("/1.0/kb/export/{account_id}", get(export::export_account))
        .route(
            "/1.0/kb/accounts/{account_id}/paymentMethods",
            post(payment_methods::create_payment_method).get(payment_methods::list_payment_methods),
        )
        .route(
            "/1.0/kb/accounts/{account_id}/paymentMethods/refresh",
            put(payment_methods::refresh_payment_methods),
        )
        .route(
            "/1.0/kb/accounts/{account_id}/paymentMethods/{payment_method_id}/setDefault",
            put(payment_methods::set_default_payment_method),
        )
        .route(
            "/1.0/kb/accounts/{account_id}/payments",
            post(payments::create_account_payment).get(payments::list_account_payments),
        )
        .route(
            "/1.0/kb/accounts/payments",
            post(payments::create_account_payment),
        )
        // PaymentMethodResource.
        .route(
            "/1.0/kb/paymentMethods",
            get(payment_methods::get_payment_method),
        )
        .route(
            "/1.0/kb/paymentMethods/pagination",
            get(payment_methods::list_payment_methods_page),
        )
        .route(
            "/1.0/kb/paymentMethods/search/{*search_key}",
            get(payment_methods::list_payment_methods_page),
        )
        .route(
            "/1.0/kb/paymentMethods/{payment_method_id}",
            get(payment_methods::get_payment_method).delete(payment_methods::delete_payment_method),
        )
        .route(
            "/1.0/kb/paymentMethods/{payment_method_id}/auditLogsWithHistory",
            history_route(WithHistory::PaymentMethod),
        )
        .route(
            "/1.0/kb/paymentMethods/{payment_method_id}/customFields",
            custom_fields::object_routes(ObjectKind::PaymentMethod),
        )
        // PaymentResource: a payment is read in `payments.rs`; capturing, completing and voiding
        // it (`payment_routes`) and the other operations on it are `payment_operations.rs`'s.
        .route(
            "/1.0/kb/payments",
            get(payments::get_payment).merge(payment_routes()),
        )
        .route("/1.0/kb/payments/pagination", get(payments::list_payments))
        .route(
            "/1.0/kb/payments/search/{*search_key}",
            get(payments::list_payments),
        )
        .route(
            "/1.0/kb/payments/{payment_id}",
            get(payments::get_payment).merge(payment_routes()),
        )
        // The Location Kill Bill gives a payment ends with a slash; clients follow it.
        .route(
            "/1.0/kb/payments/{payment_id}/",
            get(payments::get_payment).merge(payment_routes()),
        )
        .route(
            "/1.0/kb/payments/refunds",
            follow_up_route(FollowUp::Refund),
        )
        .route(
            "/1.0/kb/payments/{payment_id}/refunds",
            follow_up_route(FollowUp::Refund),
        )
        .route(
            "/1.0/kb/payments/{payment_id}/customFields",
            custom_fields::object_routes(ObjectKind::Payment),
        )
        .route(
            "/1.0/kb/payments/{payment_id}/tags",
            tags::object_routes(ObjectKind::Payment),
        )
        .route(
            "/1.0/kb/payments/combo",
            post(payment_operations::create_combo_payment),
        )
        .route(
            "/1.0/kb/payments/chargebacks",
            follow_up_route(FollowUp::Chargeback),
        )
        .route(
            "/1.0/kb/payments/chargebackReversals",
            follow_up_route(FollowUp::ChargebackReversal),
        )
        .route(
            "/1.0/kb/payments/{payment_id}/chargebacks",
            follow_up_route(FollowUp::Chargeback),
        )
        .route(
            "/1.0/kb/payments/{payment_id}/chargebackReversals",
            follow_up_route(FollowUp::ChargebackReversal),
        )
        .route(
            "/1.0/kb/payments/cancelScheduledPaymentTransaction",
            delete(payment_operations::cancel_scheduled),
        )
        // Kill Bill names this segment paymentTransactionId; the router needs one name per
        // position under /payments, so it is payment_id here.
        .route(
            "/1.0/kb/payments/{payment_id}/cancelScheduledPaymentTransaction",
            delete(payment_operations::cancel_scheduled),
        )
        .route(
            "/1.0/kb/payments/{payment_id}/auditLogsWithHistory",
            history_route(WithHistory::Payment),
        )
        .route(
            "/1.0/kb/payments/attempts/{payment_attempt_id}/auditLogsWithHistory",
            history_route(WithHistory::PaymentAttempt),
        )
        // TransactionResource.
        .route(
            "/1.0/kb/paymentTransactions",
            get(payment_transactions::get_payment_by_transaction),
        )
        .route(
            "/1.0/kb/paymentTransactions/{transaction_id}",
            get(payment_transactions::get_payment_by_transaction)
                .post(payment_transactions::notify_state_changed),
        )
        .route(
            "/1.0/kb/paymentTransactions/{transaction_id}/",
            get(payment_transactions::get_payment_by_transaction)
                .post(payment_transactions::notify_state_changed),
        )
        .route(
            "/1.0/kb/paymentTransactions/{transaction_id}/auditLogsWithHistory",
            history_route(WithHistory::Transaction),
        )
        .route(
            "/1.0/kb/paymentTransactions/{transaction_id}/customFields",
            custom_fields::object_routes(ObjectKind::Transaction),
        )
        .route(
            "/1.0/kb/paymentTransactions/{transaction_id}/tags",
            tags::object_routes(ObjectKind::Transaction),
        )
        // PaymentGatewayResource, and the simulated gateway's checkout page.
        .route(
            "/1.0/kb/paymentGateways/hosted/form",
            post(payment_gateways::build_combo_form_descriptor),
        )
        .route(
            "/1.0/kb/paymentGateways/hosted/form/{account_id}",
            post(payment_gateways::build_form_descriptor),
        )
        .route(
            "/1.0/kb/paymentGateways/notification/{name}",
            post(payment_gateways::process_notification),
        )
        .route(
            "/plugins/ferrobill-gateway/checkout",
            get(payment_gateways::checkout_page).post(payment_gateways::checkout_page),
        )
        // CustomFieldResource.
        .route(
            "/1.0/kb/customFields/pagination",
            get(custom_fields::list_fields),
        )
        .route(
            "/1.0/kb/customFields/search",
            get(custom_fields::search_fields_by_name),
        )
        .route(
            "/1.0/kb/customFields/search/{*search_key}",
            get(custom_fields::list_fields),
        )
        .route(
            "/1.0/kb/customFields/{custom_field_id}/auditLogsWithHistory",
            history_route(WithHistory::CustomField),
        )
        // TagResource.
        .route("/1.0/kb/tags/pagination", get(tags::list_tags))
        .route("/1.0/kb/tags/search/{*search_key}", get(tags::list_tags))
        .route(
            "/1.0/kb/tags/{tag_id}/auditLogsWithHistory",
            history_route(WithHistory::Tag),
        )
        // TagDefinitionResource.
        .route(
            "/1.0/kb/tagDefinitions",
            get(tags::get_tag_definitions).post(tags::create_tag_definition),
        )
        .route(
            "/1.0/kb/tagDefinitions/{tag_definition_id}",
            get(tags::get_tag_definition).delete(tags::delete_tag_definition),
        )
        .route(
            "/1.0/kb/tagDefinitions/{tag_definition_id}/auditLogsWithHistory",
            history_route(WithHistory::TagDefinition),
        )
        // AdminResource.
        .route(
            "/1.0/kb/admin/healthcheck",
            put(admin::put_in_rotation).delete(admin::put_out_of_rotation),
        )
        .route("/1.0/kb/admin/queues", get(admin::get_queue_entries))
        .route(
            "/1.0/kb/admin/payments/{payment_id}/transactions/{payment_transaction_id}",
            put(admin_payments::update_payment_transaction_state),
        )
        .route("/1.0/kb/admin/cache", delete(admin::clear_caches))
        .route(
            "/1.0/kb/admin/cache/accounts/{account_id}",
            delete(admin::clear_account_caches),
        )
        .route(
            "/1.0/kb/admin/cache/tenants",
            delete(admin::clear_tenant_caches),
        )
}
