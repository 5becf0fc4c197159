-- One payment operation (authorize, capture or purchase: each is one transaction row) as
-- ferrobill issues it on the main pool (src/service/payments/mod.rs perform, SQL in
-- src/storage/payments.rs), one pgbench client standing for one account:
-- T1 takes the account's lease in account_locks and inserts the payment and its transaction
-- (each with history and audit rows); the plugin call happens between T1 and T2 and is not
-- replayed (the gateway's own rows live on the plugin pool); T2 records the outcome, moves
-- the payment's state, posts the bus event and gives the lease back. Rows go to
-- tenant_record_id -1; the bus entry to pgbench_bus_events (setup.sql).
-- The event JSON puts a blank after every key's colon: pgbench would read `:word` as one of
-- its variables even inside a string literal.
begin;
insert into account_locks (lock_name, owner, expires_at)
values ('pgbench-' || :client_id::text, 'pgbench:' || :client_id::text, now() + interval '120 seconds')
on conflict (lock_name) do update set owner = excluded.owner, expires_at = excluded.expires_at
    where account_locks.expires_at < now() or account_locks.owner = excluded.owner
returning owner;
with changed as (
    insert into payments (id, account_id, payment_method_id, external_key, state_name, last_success_state_name, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id)
    values (gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'pgbench-' || gen_random_uuid(),
            null, null, 'ferrobill-load', now(), 'ferrobill-load', now(), :client_id, -1)
    returning *
), history as (
    insert into payment_history (target_record_id, change_type, id, account_id, payment_method_id, external_key, state_name, last_success_state_name, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id)
    select record_id, 'INSERT', id, account_id, payment_method_id, external_key, state_name, last_success_state_name, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id from changed
    returning record_id
), audit as (
    insert into audit_log (id, target_record_id, table_name, change_type, created_date,
                           created_by, reason_code, comments, user_token, account_record_id,
                           tenant_record_id)
    select gen_random_uuid(), history.record_id, 'PAYMENT_HISTORY', 'INSERT', now(),
           'ferrobill-load', null, null, null, :client_id, -1
    from history
)
select * from changed \gset p_
with changed as (
    insert into payment_transactions (id, attempt_id, transaction_external_key, transaction_type, effective_date, transaction_status, amount, currency, processed_amount, processed_currency, payment_id, gateway_error_code, gateway_error_msg, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id)
    values (gen_random_uuid(), null, 'pgbench-' || gen_random_uuid(), 'PURCHASE', now(),
            'UNKNOWN', 10, 'USD', null, null, :p_id, null, null, 'ferrobill-load', now(),
            'ferrobill-load', now(), :client_id, -1)
    returning *
), history as (
    insert into payment_transaction_history (target_record_id, change_type, id, attempt_id, transaction_external_key, transaction_type, effective_date, transaction_status, amount, currency, processed_amount, processed_currency, payment_id, gateway_error_code, gateway_error_msg, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id)
    select record_id, 'INSERT', id, attempt_id, transaction_external_key, transaction_type, effective_date, transaction_status, amount, currency, processed_amount, processed_currency, payment_id, gateway_error_code, gateway_error_msg, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id from changed
    returning record_id
), audit as (
    insert into audit_log (id, target_record_id, table_name, change_type, created_date,
                           created_by, reason_code, comments, user_token, account_record_id,
                           tenant_record_id)
    select gen_random_uuid(), history.record_id, 'PAYMENT_TRANSACTION_HISTORY', 'INSERT', now(),
           'ferrobill-load', null, null, null, :client_id, -1
    from history
)
select * from changed \gset t_
commit;
begin;
with changed as (
    update payment_transactions set transaction_status = 'SUCCESS', processed_amount = 10,
           processed_currency = 'USD', gateway_error_code = null, gateway_error_msg = null,
           updated_by = 'ferrobill-load', updated_date = now()
    where record_id = :t_record_id
    returning *
), history as (
    insert into payment_transaction_history (target_record_id, change_type, id, attempt_id, transaction_external_key, transaction_type, effective_date, transaction_status, amount, currency, processed_amount, processed_currency, payment_id, gateway_error_code, gateway_error_msg, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id)
    select record_id, 'UPDATE', id, attempt_id, transaction_external_key, transaction_type, effective_date, transaction_status, amount, currency, processed_amount, processed_currency, payment_id, gateway_error_code, gateway_error_msg, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id from changed
    returning record_id
), audit as (
    insert into audit_log (id, target_record_id, table_name, change_type, created_date,
                           created_by, reason_code, comments, user_token, account_record_id,
                           tenant_record_id)
    select gen_random_uuid(), history.record_id, 'PAYMENT_TRANSACTION_HISTORY', 'UPDATE', now(),
           'ferrobill-load', null, null, null, :client_id, -1
    from history
)
select * from changed;
with changed as (
    update payments set state_name = 'PURCHASE_SUCCESS',
           last_success_state_name = coalesce('PURCHASE_SUCCESS', last_success_state_name),
           updated_by = 'ferrobill-load', updated_date = now()
    where record_id = :p_record_id
    returning *
), history as (
    insert into payment_history (target_record_id, change_type, id, account_id, payment_method_id, external_key, state_name, last_success_state_name, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id)
    select record_id, 'UPDATE', id, account_id, payment_method_id, external_key, state_name, last_success_state_name, created_by, created_date, updated_by, updated_date, account_record_id, tenant_record_id from changed
    returning record_id
), audit as (
    insert into audit_log (id, target_record_id, table_name, change_type, created_date,
                           created_by, reason_code, comments, user_token, account_record_id,
                           tenant_record_id)
    select gen_random_uuid(), history.record_id, 'PAYMENT_HISTORY', 'UPDATE', now(),
           'ferrobill-load', null, null, null, :client_id, -1
    from history
)
select * from changed;
with inserted as (
    insert into pgbench_bus_events (class_name, event_json, user_token, created_date,
                                    creating_owner, processing_state, error_count, search_key1,
                                    search_key2)
    values ('org.killbill.billing.payment.api.DefaultPaymentInfoEvent',
            '{"accountId": "' || :p_account_id::text || '","paymentId": "' || :p_id::text || '","paymentTransactionId": "' || :t_id::text || '","amount": 10,"currency": "USD","status": "SUCCESS","transactionType": "PURCHASE","effectiveDate": "2026-01-01T00:00:00.000Z","searchKey1": ' || :client_id::text || ',"searchKey2": -1,"userToken": null}',
            gen_random_uuid(), now(), 'pgbench', 'AVAILABLE', 0, :client_id, -1)
    returning record_id
)
select inserted.record_id from inserted;
delete from account_locks where lock_name = 'pgbench-' || :client_id::text and owner = 'pgbench:' || :client_id::text;
commit;
