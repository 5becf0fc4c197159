-- What each account lease says about its holder: the node (a lease of a node that stopped
-- heartbeating passes to the live nodes at once, and a node takes over its own stale leases:
-- those of requests that ended without reaching their second transaction) and the payment
-- transaction it protects (which the node taking over repairs).
alter table account_locks add column node text not null default '';
alter table account_locks add column transaction_id uuid;
alter table account_locks add column tenant_record_id bigint;
update account_locks set node = split_part(owner, ':', 1);
create index account_locks_node on account_locks (node);
