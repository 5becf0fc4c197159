-- At most one active __EXTERNAL_PAYMENT__ method per account (Kill Bill's PaymentMethodProcessor
-- rule), kept by the database: the plugin is now called outside any transaction, so two
-- concurrent additions are no longer serialised by the account's row lock.
create unique index payment_methods_one_external_per_account on payment_methods (account_id)
    where plugin_name = '__EXTERNAL_PAYMENT__' and is_active;
