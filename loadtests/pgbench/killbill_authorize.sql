-- Kill Bill's own writes for one AUTHORIZE (PaymentProcessor through PaymentDao, the payment's
-- first transaction and its completion), replayed on ferrobill's tables with the columns Kill
-- Bill writes: 13 statements, each its own prepared statement (pgbench -M prepared), in 2
-- transactions, as Kill Bill's EntitySqlDao issues them (one insert per row, history and
-- audit rows after the row they describe):
--   T1: insert the payment (no state yet), its history row, its audit row; insert the
--       transaction (UNKNOWN), its history row, its audit row; commit;
--   (the plugin call happens here, outside any transaction, and is not replayed)
--   T2: update the transaction (SUCCESS), its history row, its audit row; update the payment's
--       state (AUTH_SUCCESS), its history row, its audit row; insert the bus event; commit.
-- Left out, as in ferrobill's own replays: Kill Bill's reads (the account, the payment method,
-- the rows it just wrote), its global account lock and the bus's dispatch afterwards. Rows go
-- to tenant_record_id -1, which no tenant has; the bus entry to pgbench_bus_events
-- (setup.sql), which no dispatcher reads. One pgbench transaction (tps) is one authorization.
-- The event JSON puts a blank after every key's colon: pgbench would read `:word` as one of
-- its variables even inside a string literal.
begin;
insert into payments (id, account_id, payment_method_id, external_key, state_name, last_success_state_name, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id)
values (gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'pgbench-' || gen_random_uuid(),
        null, null, 'ferrobill-load', now(), 'ferrobill-load', now(), :client_id, -1)
returning record_id, id, account_id, payment_method_id, external_key \gset p_
insert into payment_history (target_record_id, change_type, id, account_id, payment_method_id, external_key, state_name, last_success_state_name, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id)
values (:p_record_id, 'INSERT', :p_id, :p_account_id, :p_payment_method_id, :p_external_key,
        null, null, 'ferrobill-load', now(), 'ferrobill-load', now(), :client_id, -1)
returning record_id \gset h_
insert into audit_log (id, target_record_id, table_name, change_type, created_date, created_by, reason_code, comments, user_token, account_record_id, tenant_record_id)
values (gen_random_uuid(), :h_record_id, 'PAYMENT_HISTORY', 'INSERT', now(), 'ferrobill-load',
        null, null, null, :client_id, -1);
insert into payment_transactions (id, attempt_id, transaction_external_key, transaction_type, effective_date, transaction_status, amount, currency, processed_amount, processed_currency, payment_id, gateway_error_code, gateway_error_msg, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id)
values (gen_random_uuid(), null, 'pgbench-' || gen_random_uuid(), 'AUTHORIZE', now(), 'UNKNOWN',
        10, 'USD', null, null, :p_id, null, null, 'ferrobill-load', now(), 'ferrobill-load',
        now(), :client_id, -1)
returning record_id, id, transaction_external_key \gset t_
insert into payment_transaction_history (target_record_id, change_type, id, attempt_id, transaction_external_key, transaction_type, effective_date, transaction_status, amount, currency, processed_amount, processed_currency, payment_id, gateway_error_code, gateway_error_msg, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id)
values (:t_record_id, 'INSERT', :t_id, null, :t_transaction_external_key, 'AUTHORIZE', now(),
        'UNKNOWN', 10, 'USD', null, null, :p_id, null, null, 'ferrobill-load', now(),
        'ferrobill-load', now(), :client_id, -1)
returning record_id \gset h_
insert into audit_log (id, target_record_id, table_name, change_type, created_date, created_by, reason_code, comments, user_token, account_record_id, tenant_record_id)
values (gen_random_uuid(), :h_record_id, 'PAYMENT_TRANSACTION_HISTORY', 'INSERT', now(),
        'ferrobill-load', null, null, null, :client_id, -1);
commit;
begin;
update payment_transactions set transaction_status = 'SUCCESS', processed_amount = 10,
       processed_currency = 'USD', gateway_error_code = null, gateway_error_msg = null,
       updated_by = 'ferrobill-load', updated_date = now()
where id = :t_id;
insert into payment_transaction_history (target_record_id, change_type, id, attempt_id, transaction_external_key, transaction_type, effective_date, transaction_status, amount, currency, processed_amount, processed_currency, payment_id, gateway_error_code, gateway_error_msg, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id)
values (:t_record_id, 'UPDATE', :t_id, null, :t_transaction_external_key, 'AUTHORIZE', now(),
        'SUCCESS', 10, 'USD', 10, 'USD', :p_id, null, null, 'ferrobill-load', now(),
        'ferrobill-load', now(), :client_id, -1)
returning record_id \gset h_
insert into audit_log (id, target_record_id, table_name, change_type, created_date, created_by, reason_code, comments, user_token, account_record_id, tenant_record_id)
values (gen_random_uuid(), :h_record_id, 'PAYMENT_TRANSACTION_HISTORY', 'UPDATE', now(),
        'ferrobill-load', null, null, null, :client_id, -1);
update payments set state_name = 'AUTH_SUCCESS', last_success_state_name = 'AUTH_SUCCESS',
       updated_by = 'ferrobill-load', updated_date = now()
where id = :p_id;
insert into payment_history (target_record_id, change_type, id, account_id, payment_method_id, external_key, state_name, last_success_state_name, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id)
values (:p_record_id, 'UPDATE', :p_id, :p_account_id, :p_payment_method_id, :p_external_key,
        'AUTH_SUCCESS', 'AUTH_SUCCESS', 'ferrobill-load', now(), 'ferrobill-load', now(),
        :client_id, -1)
returning record_id \gset h_
insert into audit_log (id, target_record_id, table_name, change_type, created_date, created_by, reason_code, comments, user_token, account_record_id, tenant_record_id)
values (gen_random_uuid(), :h_record_id, 'PAYMENT_HISTORY', 'UPDATE', now(), 'ferrobill-load',
        null, null, null, :client_id, -1);
insert into pgbench_bus_events (class_name, event_json, user_token, created_date, creating_owner, processing_state, error_count, search_key1, search_key2)
values ('org.killbill.billing.payment.api.DefaultPaymentInfoEvent',
        '{"accountId": "' || :p_account_id::text || '","paymentId": "' || :p_id::text || '","paymentTransactionId": "' || :t_id::text || '","amount": 10,"currency": "USD","status": "SUCCESS","transactionType": "AUTHORIZE","effectiveDate": "2026-01-01T00:00:00.000Z","searchKey1": ' || :client_id::text || ',"searchKey2": -1,"userToken": null}',
        gen_random_uuid(), now(), 'pgbench', 'AVAILABLE', 0, :client_id, -1);
commit;
