-- One account creation as ferrobill issues it, in one transaction: the statement of
-- src/storage/accounts.rs insert_account (account, history and audit rows in one CTE), then
-- the bus post of src/bus/post.rs insert_entry (the live-table insert; the NOTIFY that wakes
-- other nodes is sent outside the transaction, coalesced, so it is not replayed). Rows go to
-- tenant_record_id -1, which no tenant has; the bus entry goes to pgbench_bus_events
-- (setup.sql). Not replayed: the tenant lookup (cached by the server) and the bus's own
-- dispatch of the event afterwards.
-- The event JSON puts a blank after every key's colon: pgbench would read `:word` as one of
-- its variables even inside a string literal.
begin;
with account as (
    insert into accounts (id, external_key, email, name, first_name_length, currency, billing_cycle_day_local, parent_account_id, is_payment_delegated_to_parent, payment_method_id, reference_time, time_zone, locale, address1, address2, company_name, city, state_or_province, country, postal_code, phone, notes, migrated, created_date, created_by, updated_date, updated_by, tenant_record_id)
    values (gen_random_uuid(), 'pgbench-' || gen_random_uuid(), 'load@example.invalid',
            'Load Test', null, 'USD', 0, null, false, null, now(), 'UTC', null, null, null,
            null, null, null, null, null, null, null, false, now(), 'ferrobill-load', now(),
            'ferrobill-load', -1)
    returning *
), history as (
    insert into account_history (target_record_id, change_type, id, external_key, email, name, first_name_length, currency, billing_cycle_day_local, parent_account_id, is_payment_delegated_to_parent, payment_method_id, reference_time, time_zone, locale, address1, address2, company_name, city, state_or_province, country, postal_code, phone, notes, migrated, created_date, created_by, updated_date, updated_by, tenant_record_id)
    select record_id, 'INSERT', id, external_key, email, name, first_name_length, currency, billing_cycle_day_local, parent_account_id, is_payment_delegated_to_parent, payment_method_id, reference_time, time_zone, locale, address1, address2, company_name, city, state_or_province, country, postal_code, phone, notes, migrated, created_date, created_by, updated_date, updated_by, tenant_record_id from account
    returning record_id, target_record_id
), audit as (
    insert into audit_log (id, target_record_id, table_name, change_type, created_date,
                           created_by, reason_code, comments, user_token, account_record_id,
                           tenant_record_id)
    select gen_random_uuid(), history.record_id, 'ACCOUNT_HISTORY', 'INSERT', now(),
           'ferrobill-load', null, null, null, history.target_record_id, -1
    from history
)
select * from account \gset a_
with inserted as (
    insert into pgbench_bus_events (class_name, event_json, user_token, created_date,
                                    creating_owner, processing_state, error_count, search_key1,
                                    search_key2)
    values ('org.killbill.billing.account.api.user.DefaultAccountCreationEvent',
            '{"id": "' || :a_id::text || '","data": {"externalKey": "' || :a_external_key::text || '","name": "Load Test","firstNameLength": null,"email": "load@example.invalid","billCycleDayLocal": 0,"currency": "USD","paymentMethodId": null,"referenceTime": "2026-01-01T00:00:00.000Z","timeZone": "UTC","locale": null,"address1": null,"address2": null,"companyName": null,"city": null,"stateOrProvince": null,"postalCode": null,"country": null,"phone": null,"notes": null,"isMigrated": false},"searchKey1": ' || :a_record_id::text || ',"searchKey2": -1,"userToken": null}',
            gen_random_uuid(), now(), 'pgbench', 'AVAILABLE', 0, :a_record_id, -1)
    returning record_id
)
select inserted.record_id from inserted;
commit;
