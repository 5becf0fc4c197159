-- Run after the scripts: removes every row they wrote (tenant_record_id -1 belongs to no
-- tenant) and the bus copy.
delete from audit_log where tenant_record_id = -1;
delete from account_history where tenant_record_id = -1;
delete from accounts where tenant_record_id = -1;
delete from payment_transaction_history where tenant_record_id = -1;
delete from payment_transactions where tenant_record_id = -1;
delete from payment_history where tenant_record_id = -1;
delete from payments where tenant_record_id = -1;
delete from account_locks where lock_name like 'pgbench-%';
drop table if exists pgbench_bus_events;
